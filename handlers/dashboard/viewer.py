"""Who is looking: the seam between the dashboard's pages and sign-in.

:class:`Authenticator` is structural (a ``typing.Protocol``): the OpenID Connect sign-in
(``handlers/dashboard/oidc.py``, ``OidcAuth``) implements it without importing this module, and
:class:`LocalAs` implements it for ``servechain dashboard --as <handle>`` (one fixed viewer, on
127.0.0.1 only). The pages never learn how someone signed in, only who they are.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from aiohttp import web

from bot.models import Person


@runtime_checkable
class Authenticator(Protocol):
    """How the dashboard learns who is asking, and guards what changes state."""

    sign_out_path: str
    """Where the pages' "Sign out" button posts (with the CSRF token); "" when nobody signs in or out."""

    def routes(self) -> list[web.RouteDef]:
        """Extra routes (sign-in page, /dashboard/auth/<provider>/start, .../callback, /dashboard/logout)."""
        ...

    async def viewer(self, request: web.Request) -> Person | None:
        """The signed-in Person for this request, or None (not signed in / forged / expired session)."""
        ...

    def csrf_token(self, request: web.Request) -> str:
        """A token to embed in forms/headers of pages rendered for this session."""
        ...

    def csrf_ok(self, request: web.Request, submitted: str | None) -> bool:
        """True when a state-changing request carries this session's token AND is same-origin."""
        ...

    def sign_in_url(self, request: web.Request) -> str:
        """Where an unauthenticated page request is redirected (e.g. /dashboard/sign-in?next=...)."""
        ...


def same_origin(request: web.Request) -> bool:
    """False for a request a browser marks as coming from another site: ``Sec-Fetch-Site`` other
    than same-origin/none, or an ``Origin`` (else ``Referer``) whose host is not this one."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None  # "null" is an opaque (sandboxed or cross-site redirected) origin
    return urlsplit(origin).netloc == request.host


class LocalAs:
    """Always the same viewer, without sign-in: ``servechain dashboard --as <handle>``, which
    listens on 127.0.0.1 only. State-changing requests still need the CSRF token (a random one
    per process) and the same origin, so another site open in the same browser can't post."""

    sign_out_path = ""

    def __init__(self, person: Person, *, token: str | None = None) -> None:
        self.person = person
        self._token = token or secrets.token_urlsafe(32)

    def routes(self) -> list[web.RouteDef]:
        return []

    async def viewer(self, request: web.Request) -> Person | None:
        return self.person

    def csrf_token(self, request: web.Request) -> str:
        return self._token

    def csrf_ok(self, request: web.Request, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(submitted or "", self._token) and same_origin(request)

    def sign_in_url(self, request: web.Request) -> str:
        return "/dashboard/"
