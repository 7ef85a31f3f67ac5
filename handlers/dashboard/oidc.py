"""Dashboard sign-in with OpenID Connect: "Sign in with Slack" and Microsoft Entra ID.

:class:`OidcAuth` is the dashboard's ``Authenticator`` (``handlers/dashboard/viewer.py``; the
seam is structural, so this module does not import it). The authorization-code flow carries
PKCE (S256), ``state`` and ``nonce``; the ID token is checked (signature against the
provider's JWKS, ``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``azp``, ``at_hash``) and then
mapped to the Person the bot already knows: Slack by ``https://slack.com/user_id`` in a served
workspace (``SLACK_TEAM_IDS``, else the home the bot learned), Entra by ``oid`` (the Teams AAD
object id) in a served tenant, else by a *verified* email. Nobody else gets a session.

Libraries, and why: **Authlib** (the maintained Python OAuth/OpenID library) provides the
protocol pieces: the PKCE challenge (RFC 7636), random state/nonce/verifier, the authorization
URL, and the ID token's claim rules (``authlib.oidc.core.CodeIDToken``). The signature is
checked with **joserfc**, Authlib's own JOSE successor (``authlib.jose`` is deprecated since
Authlib 1.7), exactly as Authlib's OpenID client does it. Authlib's ready-made async client
is built on httpx; this server is aiohttp already, so the three HTTP calls (discovery, JWKS,
token endpoint) go through one aiohttp ``ClientSession`` with a timeout and a friendly answer
for each failure instead of a second HTTP stack. Sessions are **itsdangerous**-signed,
timestamped cookies (HttpOnly, SameSite=Lax, Secure and ``__Host-`` on https): any replica can
read them and nothing is kept server-side. A forged, tampered or expired cookie is simply not
a session. The sign-in's state, nonce and PKCE verifier ride in a second signed cookie for
ten minutes, so the callback may land on any replica.

Nothing here logs a secret, an authorization code or a token: failures log the provider and
the check that failed.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from bot.access import HOME_DOC, WorkspaceGate, org_ids
from bot.models import Person
from bot.ports import Store
from bot.settings import Settings

log = logging.getLogger(__name__)

SIGN_IN_PATH = "/dashboard/sign-in"
LOGOUT_PATH = "/dashboard/logout"
FLOW_SECONDS = 600
"""How long a started sign-in may take to come back from the provider."""
METADATA_SECONDS = 24 * 3600.0
"""How long discovery documents and signing keys are cached (an unknown key id refetches at once)."""
CLOCK_LEEWAY_SECONDS = 60
MULTI_TENANT = frozenset({"", "common", "organizations", "consumers"})
SLACK_USER = "https://slack.com/user_id"
SLACK_TEAM = "https://slack.com/team_id"
SIGNED_OUT_DOC = "dashboard_signed_out"
"""Document kind (key: person id): how many times the person signed out of the dashboard; a session
made before the last sign-out is void on every device."""
_SESSION_KEY = web.RequestKey("servechain.dashboard.session", dict)
"""This request's session as read from its cookie ({} for none), so it is checked once per request."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID provider as configured: where its discovery document is and our client."""

    name: str
    label: str
    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_extra: dict[str, str] = field(default_factory=dict)


def configured_providers(settings: Settings) -> dict[str, OidcProvider]:
    """The providers whose client id and secret are set (Slack first)."""
    providers: dict[str, OidcProvider] = {}
    slack_secret = settings.dashboard_slack_client_secret.get_secret_value()
    if settings.dashboard_slack_client_id and slack_secret:
        teams = org_ids(settings.slack_team_ids)
        providers["slack"] = OidcProvider(
            name="slack",
            label="Slack",
            discovery_url=settings.dashboard_slack_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_id=settings.dashboard_slack_client_id,
            client_secret=slack_secret,
            # One served workspace: Slack skips its workspace picker.
            authorize_extra={"team": teams[0]} if len(teams) == 1 else {},
        )
    entra_secret = settings.dashboard_entra_client_secret.get_secret_value()
    if settings.dashboard_entra_client_id and entra_secret:
        tenant = settings.dashboard_entra_tenant_id or "organizations"
        providers["entra"] = OidcProvider(
            name="entra",
            label="Microsoft",
            discovery_url=f"{settings.dashboard_entra_authority.rstrip('/')}/{tenant}/v2.0/.well-known/openid-configuration",
            client_id=settings.dashboard_entra_client_id,
            client_secret=entra_secret,
        )
    return providers


def sign_in_configured(settings: Settings) -> str | None:
    """None when dashboard sign-in can run, else one line saying what to set."""
    if not configured_providers(settings):
        return (
            "dashboard sign-in needs DASHBOARD_SLACK_CLIENT_ID and DASHBOARD_SLACK_CLIENT_SECRET, or "
            "DASHBOARD_ENTRA_CLIENT_ID and DASHBOARD_ENTRA_CLIENT_SECRET (with DASHBOARD_ENTRA_TENANT_ID)"
        )
    if len(settings.dashboard_session_secret.get_secret_value()) < 32:
        return "dashboard sign-in needs DASHBOARD_SESSION_SECRET of at least 32 random characters"
    return None


class SignInFailed(Exception):
    """A sign-in that ends on a friendly page, with no session. ``reason`` is for the log only
    (never a token, a code or a secret)."""

    def __init__(self, status: int, title: str, message: str, *, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.title = title
        self.message = message
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class _Cached:
    value: dict[str, Any]
    until: float


class OidcAuth:
    """The dashboard's sign-in: routes, the signed-in viewer, and CSRF protection.

    ``http_client`` is an aiohttp session to reach the providers (one is made, and closed by
    :meth:`close`, when none is given); ``clock`` is the time used for session ages and token
    expiry; ``timeout`` bounds each call to a provider.
    """

    sign_out_path = LOGOUT_PATH

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        http_client: aiohttp.ClientSession | None = None,
        clock: Callable[[], datetime] = _utcnow,
        timeout: float = 10.0,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        problem = sign_in_configured(settings)
        if problem:
            raise ValueError(problem)
        self.store = store
        self.settings = settings
        self.workspace = settings.servechain_workspace
        self.providers = configured_providers(settings)
        self._clock = clock
        self._monotonic = monotonic or (lambda: clock().timestamp())
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = http_client
        self._owns_http = http_client is None
        self._cache: dict[str, _Cached] = {}
        self._session_seconds = int(settings.dashboard_session_hours * 3600)
        secret = settings.dashboard_session_secret.get_secret_value()

        class _ClockSigner(TimestampSigner):
            """itsdangerous' timestamp signer, dated by our clock (so tests can age a session)."""

            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._sessions = URLSafeTimedSerializer(secret, salt="servechain.dashboard.session", signer=_ClockSigner)
        self._flows = URLSafeTimedSerializer(secret, salt="servechain.dashboard.sign-in", signer=_ClockSigner)
        self.slack_gate = WorkspaceGate(
            store,
            self.workspace,
            platform="slack",
            allowed=org_ids(settings.slack_team_ids),
            home=self._slack_home_recorded,
            monotonic=self._monotonic,
        )
        tenant = settings.dashboard_entra_tenant_id
        self.entra_tenants = frozenset(
            org_ids(f"{settings.teams_tenant_ids} {settings.microsoft_app_tenant_id}")
            + ([tenant] if tenant not in MULTI_TENANT else [])
        )
        if "entra" in self.providers and not self.entra_tenants:
            log.warning(
                "dashboard sign-in with Microsoft refuses every tenant: set DASHBOARD_ENTRA_TENANT_ID to your "
                "tenant id, or TEAMS_TENANT_IDS"
            )

    # --- the Authenticator seam ---------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The sign-in page, each provider's start and callback, and sign-out."""
        providers = "|".join(self.providers)
        return [
            web.get(SIGN_IN_PATH, self._sign_in_page),
            web.get(f"/dashboard/auth/{{provider:{providers}}}/start", self._start),
            web.get(f"/dashboard/auth/{{provider:{providers}}}/callback", self._callback),
            web.get(LOGOUT_PATH, self._logout_page),
            web.post(LOGOUT_PATH, self._logout),
        ]

    async def viewer(self, request: web.Request) -> Person | None:
        """The signed-in, still active Person, or None (no, forged, tampered or expired session)."""
        session = self._session_of(request)
        if session is None:
            return None
        person = await asyncio.to_thread(self._current, session)
        if person is None or not person.active or person.is_bot:
            return None
        return person

    def _current(self, session: dict[str, Any]) -> Person | None:
        """The session's person, unless they signed out since it was made."""
        person_id = str(session["p"])
        if session.get("g", 0) != self._generation(person_id):
            return None
        return self.store.get_person(self.workspace, person_id)

    def _generation(self, person_id: str) -> int:
        """How many times the person signed out; a session carries the count it was made at."""
        doc = self.store.get_doc(SIGNED_OUT_DOC, self.workspace, person_id)
        return int(doc.get("generation", 0)) if doc else 0

    def _sign_out_everywhere(self, person_id: str) -> None:
        generation = self._generation(person_id) + 1
        self.store.put_doc(SIGNED_OUT_DOC, self.workspace, person_id, {"generation": generation})

    def csrf_token(self, request: web.Request) -> str:
        """This session's CSRF token ("" without a session: there is nothing to protect)."""
        session = self._session_of(request)
        return str(session["c"]) if session else ""

    def csrf_ok(self, request: web.Request, submitted: str | None) -> bool:
        """True when ``submitted`` is this session's token and the request comes from our own origin."""
        session = self._session_of(request)
        if session is None or not submitted:
            return False
        if not hmac.compare_digest(submitted.encode(), str(session["c"]).encode()):
            return False
        return self._same_origin(request)

    def sign_in_url(self, request: web.Request) -> str:
        """The sign-in page, coming back to this page afterwards."""
        return f"{SIGN_IN_PATH}?{urlencode({'next': _safe_next(request.path_qs)})}"

    async def close(self) -> None:
        """Close the HTTP client this object made (not one it was given)."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    # --- sessions and origins -----------------------------------------------------------

    def _origin(self, request: web.Request) -> str:
        """Our public origin: ``DASHBOARD_URL``'s, else the request's own scheme and host."""
        if self.settings.dashboard_url:
            parts = urlsplit(self.settings.dashboard_url)
            return f"{parts.scheme}://{parts.netloc}".lower()
        return f"{request.scheme}://{request.host}".lower()

    def _secure(self, request: web.Request) -> bool:
        return self._origin(request).startswith("https://")

    def _cookie_name(self, request: web.Request, base: str) -> str:
        # __Host-: only ever sent back to this exact host, over https, path / (no subdomain can plant it).
        return f"__Host-{base}" if self._secure(request) else base

    def _set_cookie(self, response: web.StreamResponse, request: web.Request, base: str, value: str, age: int) -> None:
        response.set_cookie(
            self._cookie_name(request, base),
            value,
            max_age=age,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self._secure(request),
        )

    def _clear_cookie(self, response: web.StreamResponse, request: web.Request, base: str) -> None:
        response.del_cookie(self._cookie_name(request, base), path="/", secure=self._secure(request))

    def _session_of(self, request: web.Request) -> dict[str, Any] | None:
        if _SESSION_KEY in request:
            return request[_SESSION_KEY] or None
        session: dict[str, Any] | None = None
        raw = request.cookies.get(self._cookie_name(request, "servechain-session"))
        if raw:
            try:
                loaded = self._sessions.loads(raw, max_age=self._session_seconds)
            except BadSignature:  # forged, tampered with, signed with another secret, or expired
                loaded = None
            if isinstance(loaded, dict) and loaded.get("w") == self.workspace and loaded.get("p") and loaded.get("c"):
                session = loaded
        request[_SESSION_KEY] = session or {}
        return session

    def _same_origin(self, request: web.Request) -> bool:
        """Fetch metadata, then Origin, then Referer must name our origin; with none of them, no."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return False
        expected = self._origin(request)
        origin = request.headers.get("Origin")
        if origin:  # "null" (a sandboxed frame, a redirect from elsewhere) is never ours
            return origin.lower().rstrip("/") == expected
        referer = request.headers.get("Referer")
        if referer:
            parts = urlsplit(referer)
            return f"{parts.scheme}://{parts.netloc}".lower() == expected
        return False

    # --- pages --------------------------------------------------------------------------

    async def _sign_in_page(self, request: web.Request) -> web.StreamResponse:
        target = _safe_next(request.query.get("next", "/dashboard"))
        if self._session_of(request) is not None and await self.viewer(request) is not None:
            return _redirect(303, target)
        buttons = "".join(
            f'<a class="button" href="/dashboard/auth/{name}/start?{urlencode({"next": target})}">'
            f"Sign in with {html.escape(provider.label)}</a>"
            for name, provider in self.providers.items()
        )
        notice = ""
        if request.query.get("signed_out"):
            notice = '<p class="notice" role="status">You are signed out.</p>'
        return _page(
            200,
            "Sign in to servechain",
            f"{notice}<p>See your requests, your team's service and the chain map. "
            f"Sign in with the account you use for servechain in chat.</p>{buttons}",
        )

    async def _logout_page(self, request: web.Request) -> web.StreamResponse:
        if self._session_of(request) is None:
            return _redirect(303, SIGN_IN_PATH)
        token = html.escape(self.csrf_token(request))
        return _page(
            200,
            "Sign out",
            f'<form method="post" action="{LOGOUT_PATH}"><input type="hidden" name="csrf" value="{token}">'
            '<button class="button" type="submit">Sign out of the dashboard</button></form>',
        )

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        submitted = form.get("csrf") or request.headers.get("X-CSRF-Token")
        if self._session_of(request) is not None and not self.csrf_ok(
            request, submitted if isinstance(submitted, str) else None
        ):
            return _page(
                403,
                "That didn't come from this page",
                '<p>Sign out from <a href="/dashboard/logout">the dashboard\'s own page</a>.</p>',
            )
        session = self._session_of(request)
        if session is not None:
            # Every cookie of this person signed until now stops working, on every device (a copy included).
            await asyncio.to_thread(self._sign_out_everywhere, str(session["p"]))
            log.info("dashboard sign-out: %s", session["p"])
        response = _redirect(303, f"{SIGN_IN_PATH}?signed_out=1")
        self._clear_cookie(response, request, "servechain-session")
        return response

    # --- the flow -----------------------------------------------------------------------

    def _redirect_uri(self, request: web.Request, provider: str) -> str:
        base = self.settings.dashboard_url.rstrip("/") if self.settings.dashboard_url else self._origin(request)
        return f"{base}/dashboard/auth/{provider}/callback"

    async def _start(self, request: web.Request) -> web.StreamResponse:
        provider = self.providers[request.match_info["provider"]]
        try:
            metadata = await self._metadata(provider)
        except SignInFailed as failure:
            return self._failed(provider, failure)
        verifier = generate_token(64)
        state = generate_token(32)
        nonce = generate_token(32)
        params = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": self._redirect_uri(request, provider.name),
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            **provider.authorize_extra,
        }
        response = _redirect(302, add_params_to_uri(metadata["authorization_endpoint"], params))
        flow = {
            "p": provider.name,
            "s": state,
            "n": nonce,
            "v": verifier,
            "next": _safe_next(request.query.get("next")),
        }
        self._set_cookie(response, request, "servechain-sign-in", self._flows.dumps(flow), FLOW_SECONDS)
        log.info("dashboard sign-in with %s started", provider.name)
        return response

    def _flow_of(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.cookies.get(self._cookie_name(request, "servechain-sign-in"))
        if not raw:
            return None
        try:
            flow = self._flows.loads(raw, max_age=FLOW_SECONDS)
        except BadSignature:
            return None
        return flow if isinstance(flow, dict) else None

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        provider = self.providers[request.match_info["provider"]]
        try:
            response = await self._finish(request, provider)
        except SignInFailed as failure:
            response = self._failed(provider, failure)
        self._clear_cookie(response, request, "servechain-sign-in")
        return response

    async def _finish(self, request: web.Request, provider: OidcProvider) -> web.StreamResponse:
        query = request.query
        label = provider.label
        again = f"<a href='{SIGN_IN_PATH}'>Start again</a>"
        error = query.get("error")
        if error == "access_denied":
            raise SignInFailed(
                403,
                "Sign-in cancelled",
                f"You chose not to sign in with {label}, so you are not signed in. {again} whenever you like.",
                reason="the person declined at the provider (access_denied)",
            )
        if error:
            raise SignInFailed(
                502,
                f"{label} couldn't sign you in",
                f"{label} answered “{html.escape(error[:64])}”. {again}; if it keeps happening, tell "
                f"{self._contact()}.",
                reason=f"the provider answered error={error[:64]!r}",
            )
        flow = self._flow_of(request)
        if flow is None:
            raise SignInFailed(
                400,
                "This sign-in has expired",
                f"Sign-in has to finish within {FLOW_SECONDS // 60} minutes, in the browser it started in. {again}.",
                reason="no valid sign-in cookie (expired, tampered with, or another browser)",
            )
        state = query.get("state", "")
        if flow.get("p") != provider.name or not hmac.compare_digest(state.encode(), str(flow.get("s", "")).encode()):
            raise SignInFailed(
                400,
                "This sign-in didn't start here",
                f"The answer from {label} doesn't belong to the sign-in this browser started (an old tab, "
                f"or a link someone sent you). {again}.",
                reason="state mismatch",
            )
        code = query.get("code")
        if not code:
            raise SignInFailed(400, f"{label} sent no sign-in code", f"{again}.", reason="callback without a code")
        metadata = await self._metadata(provider)
        tokens = await self._exchange(
            provider, metadata, code, str(flow["v"]), self._redirect_uri(request, provider.name)
        )
        claims = await self._id_claims(provider, metadata, tokens, str(flow["n"]))
        person = await asyncio.to_thread(self._person_for, provider, claims)
        generation = await asyncio.to_thread(self._generation, person.id)
        session = {"p": person.id, "w": self.workspace, "c": generate_token(32), "g": generation, "via": provider.name}
        response = _redirect(303, _safe_next(flow.get("next")))
        self._set_cookie(response, request, "servechain-session", self._sessions.dumps(session), self._session_seconds)
        log.info("dashboard sign-in: %s with %s", person.handle, provider.name)
        return response

    def _failed(self, provider: OidcProvider, failure: SignInFailed) -> web.Response:
        log.warning("dashboard sign-in with %s refused: %s", provider.name, failure.reason)
        body = f"<p>{failure.message}</p>"
        if SIGN_IN_PATH not in failure.message:
            body += f'<p><a href="{SIGN_IN_PATH}">Back to sign-in</a></p>'
        response = _page(failure.status, failure.title, body)
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    def _contact(self) -> str:
        return html.escape(self.settings.dashboard_help_contact) or "whoever runs servechain in your organisation"

    # --- talking to the provider --------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _call(
        self, provider: OidcProvider, what: str, url: str, *, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One call to the provider: (status, JSON body); unreachable, slow, rate-limited, 5xx and
        non-JSON answers become :class:`SignInFailed`."""
        label = provider.label
        later = "Nothing was changed; try again in a minute."
        if urlsplit(url).scheme not in ("https", "http"):
            raise SignInFailed(502, f"{label} sign-in is misconfigured", later, reason=f"{what}: not an http(s) URL")
        try:
            method = "POST" if form is not None else "GET"
            async with self._client().request(
                method,
                url,
                data=form,
                timeout=self._timeout,
                allow_redirects=False,
                headers={"Accept": "application/json"},
            ) as answer:
                status = answer.status
                if status == 429:
                    wait = _retry_after(answer.headers.get("Retry-After"))
                    raise SignInFailed(
                        503,
                        f"Too many sign-ins with {label} right now",
                        f"{label} asked servechain to slow down. Try again in {wait} seconds.",
                        reason=f"{what}: 429, Retry-After {wait}",
                        retry_after=wait,
                    )
                if status >= 500:
                    raise SignInFailed(
                        502,
                        f"{label} had a problem",
                        f"{label} couldn't complete the sign-in ({status}). {later}",
                        reason=f"{what}: HTTP {status}",
                    )
                try:
                    body = await answer.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError as error:
            raise SignInFailed(
                504,
                f"{label} is taking too long",
                f"{label} didn't answer in time. {later}",
                reason=f"{what}: no answer within {self._timeout.total} s",
            ) from error
        except aiohttp.ClientError as error:
            raise SignInFailed(
                503,
                f"{label} can't be reached",
                f"servechain couldn't reach {label} to check your sign-in. {later}",
                reason=f"{what}: {type(error).__name__}",
            ) from error
        if not isinstance(body, dict):
            raise SignInFailed(
                502,
                f"{label} had a problem",
                f"{label} sent an answer servechain can't read. {later}",
                reason=f"{what}: HTTP {status}, not a JSON object",
            )
        return status, body

    async def _cached(self, key: str, load: Callable[[], Any], *, force: bool = False) -> dict[str, Any]:
        entry = self._cache.get(key)
        if entry is not None and not force and self._monotonic() < entry.until:
            return entry.value
        value: dict[str, Any] = await load()
        self._cache[key] = _Cached(value, self._monotonic() + METADATA_SECONDS)
        return value

    async def _metadata(self, provider: OidcProvider) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            status, body = await self._call(provider, "discovery", provider.discovery_url)
            needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
            if status != 200 or not all(isinstance(body.get(key), str) for key in needed):
                raise SignInFailed(
                    502,
                    f"{provider.label} sign-in is unavailable",
                    f"{provider.label}'s sign-in settings couldn't be read. Try again in a minute.",
                    reason=f"discovery: HTTP {status} or a field missing",
                )
            return body

        return await self._cached(f"discovery:{provider.name}", load)

    async def _jwks(self, provider: OidcProvider, metadata: dict[str, Any], *, force: bool = False) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            status, body = await self._call(provider, "signing keys", metadata["jwks_uri"])
            if status != 200 or not isinstance(body.get("keys"), list):
                raise SignInFailed(
                    503,
                    f"{provider.label} can't be reached",
                    f"servechain couldn't fetch {provider.label}'s signing keys to check your sign-in. "
                    "Try again in a minute.",
                    reason=f"signing keys: HTTP {status} or no keys",
                )
            return body

        return await self._cached(f"jwks:{provider.name}", load, force=force)

    async def _exchange(
        self, provider: OidcProvider, metadata: dict[str, Any], code: str, verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "code_verifier": verifier,
        }
        status, body = await self._call(provider, "token endpoint", metadata["token_endpoint"], form=form)
        # Slack answers 200 with {"ok": false, "error": ...}; Entra answers 400/401 with an OAuth error.
        error = body.get("error") if (status != 200 or body.get("ok") is False or "error" in body) else None
        if status == 200 and error is None and isinstance(body.get("id_token"), str):
            return body
        error_text = str(error or "no id_token")[:64]
        if error_text in ("invalid_client", "unauthorized_client", "bad_client_secret", "invalid_client_id"):
            log.error(
                "dashboard sign-in with %s: the provider refuses our client (%s); check DASHBOARD_%s_CLIENT_ID and "
                "DASHBOARD_%s_CLIENT_SECRET",
                provider.name,
                error_text,
                provider.name.upper(),
                provider.name.upper(),
            )
            raise SignInFailed(
                502,
                f"servechain's {provider.label} sign-in is misconfigured",
                f"{provider.label} doesn't accept servechain's credentials. Tell {self._contact()}.",
                reason=f"token endpoint: HTTP {status}, {error_text}",
            )
        raise SignInFailed(
            400,
            f"{provider.label} didn't accept this sign-in",
            f"The sign-in code was already used or has expired. <a href='{SIGN_IN_PATH}'>Start again</a>.",
            reason=f"token endpoint: HTTP {status}, {error_text}",
        )

    async def _id_claims(
        self, provider: OidcProvider, metadata: dict[str, Any], tokens: dict[str, Any], nonce: str
    ) -> dict[str, Any]:
        """The ID token's claims once its signature and claims pass (else :class:`SignInFailed`)."""
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        # Only asymmetric signatures: "none" and HMAC (keyed with our own client secret) are never accepted.
        algorithms = [alg for alg in advertised if isinstance(alg, str) and alg[:2] in ("RS", "PS", "ES")]
        raw = str(tokens["id_token"])
        try:
            try:
                keys: Any = await self._jwks(provider, metadata)
                token = jwt.decode(raw, KeySet.import_key_set(keys), algorithms=algorithms)
            except InvalidKeyIdError:  # keys rotated since we cached them
                keys = await self._jwks(provider, metadata, force=True)
                token = jwt.decode(raw, KeySet.import_key_set(keys), algorithms=algorithms)
            issuer = str(metadata["issuer"])
            if "{tenantid}" in issuer:  # Entra's multi-tenant discovery: the issuer names the token's tenant
                issuer = issuer.replace("{tenantid}", str(token.claims.get("tid", "")))
            claims = CodeIDToken(
                token.claims,
                token.header,
                {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": provider.client_id}},
                {"nonce": nonce, "client_id": provider.client_id, "access_token": tokens.get("access_token")},
            )
            claims.validate(now=int(self._clock().timestamp()), leeway=CLOCK_LEEWAY_SECONDS)
        except (JoseError, ValueError) as error:
            raise SignInFailed(
                400,
                "servechain couldn't verify this sign-in",
                f"The answer from {provider.label} didn't pass servechain's checks, so you are not signed in. "
                f"<a href='{SIGN_IN_PATH}'>Start again</a>; if it keeps happening, tell {self._contact()} "
                "(the server's log says which check failed).",
                reason=f"ID token refused: {type(error).__name__}: {_jose_reason(error)}",
            ) from error
        return dict(claims)

    # --- who signed in ------------------------------------------------------------------

    def _slack_home_recorded(self) -> str | None:
        """The Slack workspace the bot learned from its own token (recorded by the Slack front end)."""
        doc = self.store.get_doc(HOME_DOC, self.workspace, "slack")
        return str(doc["org_id"]) if doc and doc.get("org_id") else None

    def _person_for(self, provider: OidcProvider, claims: dict[str, Any]) -> Person:
        """The Person behind verified ``claims`` (else :class:`SignInFailed` saying who to ask)."""
        person: Person | None = None
        label = provider.label
        if provider.name == "slack":
            team, user = claims.get(SLACK_TEAM), claims.get(SLACK_USER)
            if not isinstance(team, str) or not self.slack_gate.admits(team):
                raise SignInFailed(
                    403,
                    "This Slack workspace isn't served here",
                    "You signed in to a Slack workspace this servechain doesn't serve. Sign in with the workspace "
                    f"your team uses servechain in, or ask {self._contact()}.",
                    reason=f"Slack workspace {team} not served (SLACK_TEAM_IDS, else the workspace the bot learned)",
                )
            if isinstance(user, str) and user:
                person = self.store.find_person(self.workspace, slack_id=(team, user))
            who = str(claims.get("email") or user or "someone")
        else:
            tenant, oid = claims.get("tid"), claims.get("oid")
            if not isinstance(tenant, str) or tenant not in self.entra_tenants:
                raise SignInFailed(
                    403,
                    "This Microsoft organisation isn't served here",
                    "You signed in with a Microsoft account from an organisation this servechain doesn't serve. "
                    f"Use your work account, or ask {self._contact()}.",
                    reason=f"Entra tenant {tenant} not served (DASHBOARD_ENTRA_TENANT_ID, TEAMS_TENANT_IDS)",
                )
            if isinstance(oid, str) and oid:
                person = self.store.find_person(self.workspace, teams_id=oid)
            who = str(claims.get("email") or claims.get("preferred_username") or "someone")
        email = claims.get("email")
        unverified = ""
        if person is None and isinstance(email, str) and email:
            if _email_verified(provider, claims):
                person = self.store.find_person(self.workspace, email=email)
            else:
                unverified = (
                    f" {label} doesn't say that {html.escape(email)} is verified, so servechain can't use it to "
                    "find you."
                )
        if person is None or person.is_bot:
            raise SignInFailed(
                403,
                "servechain doesn't know you yet",
                f"You signed in with {label} as {html.escape(who)}, but nobody in servechain's org is linked to "
                f"that account.{unverified} Ask {self._contact()} to add you to the org (the org file or the "
                "directory sync); once the bot knows you, sign in again.",
                reason="no person for this account" + (" (email not verified)" if unverified else ""),
            )
        if not person.active:
            raise SignInFailed(
                403,
                "Your servechain account is inactive",
                f"servechain has you as having left the organisation. If that's wrong, ask {self._contact()}.",
                reason=f"{person.handle} is inactive",
            )
        return person


def _email_verified(provider: OidcProvider, claims: dict[str, Any]) -> bool:
    """Only an email the provider vouches for finds a person: ``email_verified`` (Slack, and Entra
    when configured), or Entra's ``xms_edov`` (the email's domain is verified by the tenant)."""
    if claims.get("email_verified") in (True, "true"):
        return True
    return provider.name == "entra" and claims.get("xms_edov") in (True, "true", 1, "1")


def _jose_reason(error: Exception) -> str:
    """Which check failed, without the token: joserfc's messages name the claim, not its value."""
    return str(getattr(error, "description", "") or getattr(error, "error", "") or error)[:120]


def _retry_after(value: str | None) -> int:
    try:
        return max(1, min(3600, int(float(value or "")))) if value else 30
    except ValueError:
        return 30


def _safe_next(value: str | None) -> str:
    """A page of the dashboard to come back to: a local path under /dashboard, never elsewhere."""
    if not value or not value.startswith("/dashboard") or value.startswith("//") or "\\" in value:
        return "/dashboard"
    path = urlsplit(value).path
    if path.startswith(("/dashboard/auth/", SIGN_IN_PATH, LOGOUT_PATH)) or urlsplit(value).netloc:
        return "/dashboard"
    return value


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}
main{max-width:28rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}p{line-height:1.5}
.button{display:block;margin:.75rem 0;padding:.8rem 1rem;border-radius:8px;background:#1f4fd1;color:#fff;
text-align:center;text-decoration:none;font-weight:600;border:0;font-size:1rem;width:100%;box-sizing:border-box;cursor:pointer}
.button:focus{outline:3px solid #f5a623;outline-offset:2px}
.notice{background:#e8f3ea;padding:.6rem .8rem;border-radius:6px}
a{color:#1f4fd1}
@media (max-width:480px){main{margin:0;border-radius:0;min-height:100vh;box-shadow:none}}
"""


def _redirect(status: int, location: str) -> web.Response:
    response = web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})
    return response


def _page(status: int, title: str, body: str) -> web.Response:
    """A small self-contained page (no external script, style or font). ``body`` is trusted HTML
    built here; anything from outside is escaped before it gets in."""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request (a 404 in the console)
        f"<title>{html.escape(title if 'servechain' in title else f'{title} · servechain', quote=False)}</title>"
        f"<style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title, quote=False)}</h1>{body}</main></body></html>"
    )
    response = web.Response(status=status, text=text, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    # Nothing but its own inline style (and an empty icon): no script, no font, no frame, forms only to us.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return response
