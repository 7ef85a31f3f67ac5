"""Microsoft Graph's directory: ``GET /v1.0/users`` with ``$select`` and ``$expand=manager``,
following ``@odata.nextLink``, with an app-only token from the Microsoft Entra token endpoint
(OAuth 2.0 client credentials). Needs the ``User.Read.All`` application permission.

Each call is counted to a :class:`bot.ports.Telemetry` (``serve``'s ``/metrics`` when the
scheduler syncs) as platform ``graph``, method ``token`` or ``users``, by outcome: ``ok``,
``rate_limited`` (429), ``retry`` (a 503/504 tried again) or ``failed``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import Request, urlopen

from bot.orgsync import DirectoryError, DirectoryUser
from bot.ports import NO_TELEMETRY, Telemetry
from handlers.directory.retry import DEFAULT_MAX_WAIT, count_call, retry_after, wait_or_give_up

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SELECT = "id,displayName,mail,userPrincipalName,mailNickname,department,usageLocation,country,accountEnabled"
PAGE_SIZE = 100
MAX_PAGES = 10_000
_RETRY_STATUSES = frozenset({429, 503, 504})


class GraphDirectory:
    """Reads every user of a Microsoft Entra tenant."""

    kind: Literal["graph"] = "graph"
    label = "Microsoft Graph"

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        api_url: str = "https://graph.microsoft.com/v1.0/",
        login_url: str = "https://login.microsoftonline.com/",
        page_size: int = PAGE_SIZE,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.tenant_id = tenant_id
        self._telemetry = telemetry
        self.client_id = client_id
        self._secret = client_secret
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.login_url = login_url if login_url.endswith("/") else login_url + "/"
        self.page_size = page_size
        self.max_wait = max_wait
        self._sleep = sleep
        self._timeout = timeout

    def fetch_users(self) -> list[DirectoryUser]:
        """Every user, page by page; any page that fails fails the whole read."""
        token = self._token()
        query = urlencode(
            {"$select": SELECT, "$expand": "manager($select=id)", "$top": str(self.page_size)}, safe="$,()="
        )
        url: str | None = f"{self.api_url}users?{query}"
        users: list[DirectoryUser] = []
        api = urlsplit(self.api_url)
        for page in range(1, MAX_PAGES + 1):
            assert url is not None
            data = self._get(url, token, page)
            users.extend(_user(item) for item in data.get("value") or [])
            url = data.get("@odata.nextLink")
            if not url:
                return users
            link = urlsplit(url)
            if (link.scheme, link.netloc) != (api.scheme, api.netloc):
                raise DirectoryError(
                    f"Microsoft Graph sent a next page on another host ({link.netloc}); refusing to send it the token. "
                    "Nothing was changed."
                )
        raise DirectoryError(f"Microsoft Graph returned more than {MAX_PAGES} pages of users; nothing was changed.")

    def _token(self) -> str:
        url = f"{self.login_url}{quote(self.tenant_id, safe='')}/oauth2/v2.0/token"
        form = urlencode(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "scope": GRAPH_SCOPE,
                "grant_type": "client_credentials",
            }
        ).encode()
        request = Request(url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            status, _headers, body = self._send(request)
        except OSError as error:
            self._count("token", "failed")
            raise DirectoryError(
                f"couldn't reach the Microsoft Entra token endpoint at {self.login_url} ({error}). Nothing was changed."
            ) from None
        token = body.get("access_token") if status == 200 else None
        got = isinstance(token, str) and bool(token)
        self._count("token", "ok" if got else "rate_limited" if status == 429 else "failed")
        if not isinstance(token, str) or not token:
            code = body.get("error") or f"HTTP {status}"
            detail = str(body.get("error_description") or "").split("\r\n")[0].split("\n")[0]
            raise DirectoryError(
                f"Microsoft Entra refused the app credentials ({code}{': ' + detail if detail else ''}): check "
                "GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET. Nothing was changed."
            )
        return token

    def _get(self, url: str, token: str, page: int) -> dict[str, Any]:
        attempt = 0
        while True:
            request = Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
            try:
                status, headers, body = self._send(request)
            except OSError as error:
                self._count("users", "failed")
                raise DirectoryError(
                    f"couldn't reach Microsoft Graph at {self.api_url} on page {page} of /users ({error}). "
                    "Nothing was changed."
                ) from None
            if status == 200:
                self._count("users", "ok")
                return body
            if status in _RETRY_STATUSES:
                attempt += 1
                limited = status == 429  # a rate limit either way; a 503/504 is retried or given up
                try:
                    wait_or_give_up(
                        label="Microsoft Graph",
                        what=f"/users (page {page})",
                        seconds=retry_after(headers),
                        attempt=attempt,
                        max_wait=self.max_wait,
                        sleep=self._sleep,
                    )
                except DirectoryError:
                    self._count("users", "rate_limited" if limited else "failed")
                    raise
                self._count("users", "rate_limited" if limited else "retry")
                continue
            self._count("users", "failed")
            problem: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
            code = problem.get("code") or f"HTTP {status}"
            if status == 401:
                hint = "the token was not accepted; check the app registration"
            elif status == 403:
                hint = "grant the app the User.Read.All application permission (with admin consent)"
            else:
                hint = "try again later"
            raise DirectoryError(
                f"Microsoft Graph refused /users on page {page} ({code}): {hint}. Nothing was changed."
            )

    def _count(self, method: str, outcome: str) -> None:
        count_call(self._telemetry, platform="graph", method=method, outcome=outcome)

    def _send(self, request: Request) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            with urlopen(request, timeout=self._timeout) as response:
                return response.status, dict(response.headers.items()), _json(response.read())
        except HTTPError as error:
            with error:
                return error.code, dict(error.headers.items()), _json(error.read())
        except URLError as error:
            raise OSError(str(error.reason)) from None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _user(item: dict[str, Any]) -> DirectoryUser:
    manager = item.get("manager") if isinstance(item.get("manager"), dict) else None
    usage, country = item.get("usageLocation"), item.get("country")
    place = usage or (country if isinstance(country, str) and len(country.strip()) == 2 else None)
    principal = item.get("userPrincipalName") or ""
    return DirectoryUser(
        key=str(item.get("id")),
        name=str(item.get("displayName") or item.get("mailNickname") or principal or item.get("id")).strip(),
        email=item.get("mail") or (principal if "@" in principal and "#EXT#" not in principal else None),
        handle=item.get("mailNickname") or principal.split("@")[0] or None,
        active=item.get("accountEnabled") is not False,
        department=(item.get("department") or "").strip() or None,
        manager_key=str(manager["id"]) if manager and manager.get("id") else None,
        country=place,
    )
