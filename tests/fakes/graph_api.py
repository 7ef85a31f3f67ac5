"""A fake Microsoft Graph (``GET /v1.0/users``) and Microsoft Entra token endpoint on 127.0.0.1.

Point ``GRAPH_API_URL`` at :attr:`FakeGraphApi.api_url` and ``GRAPH_LOGIN_URL`` at
:attr:`FakeGraphApi.login_url`. The token endpoint takes the client-credentials form and
answers like Entra (``invalid_client`` for a wrong secret); ``/users`` honours ``$select``,
``$expand=manager`` and ``$top`` and pages with ``@odata.nextLink``. Every request is
recorded; :meth:`FakeGraphApi.fail` makes the next calls of an endpoint fail (429 with
Retry-After, 5xx), optionally only after some calls succeed (a page failing midway).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from aiohttp import web

from tests.fakes.slack_api import ServerThread

TOKEN = "fake-graph-token"


@dataclass
class GraphCall:
    """One recorded request: ``token`` or ``users``."""

    endpoint: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    authorization: str | None
    status: int = 200


@dataclass
class GraphFailure:
    status: int
    code: str
    retry_after: int | None = None
    times: int = 1
    after: int = 0


@dataclass
class GraphUser:
    """A directory user; ``manager`` is another user's id."""

    id: str
    display_name: str
    mail: str | None = None
    department: str | None = None
    usage_location: str | None = None
    manager: str | None = None
    enabled: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def resource(self, select: list[str]) -> dict[str, Any]:
        nickname = (self.mail or self.id).split("@")[0]
        full = {
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.mail or f"{self.id}@contoso.example",
            "mailNickname": nickname,
            "department": self.department,
            "usageLocation": self.usage_location,
            "country": None,
            "accountEnabled": self.enabled,
            **self.extra,
        }
        return {key: value for key, value in full.items() if not select or key in select}


class FakeGraphApi:
    """The fake; use as a context manager."""

    def __init__(self, *, tenant: str = "contoso-tenant", client_id: str = "app-id", secret: str = "s3cret") -> None:
        self.tenant, self.client_id, self.secret = tenant, client_id, secret
        self.users: dict[str, GraphUser] = {}
        self._calls: list[GraphCall] = []
        self._failures: dict[str, list[GraphFailure]] = {"token": [], "users": []}
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/login/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/v1.0/users", self._users)
        self._server = ServerThread(app)

    def __enter__(self) -> FakeGraphApi:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def api_url(self) -> str:
        return f"{self._server.base}/v1.0/"

    @property
    def login_url(self) -> str:
        return f"{self._server.base}/login/"

    def add_user(self, user_id: str, name: str, **kwargs: Any) -> GraphUser:
        self.users[user_id] = GraphUser(user_id, name, **kwargs)
        return self.users[user_id]

    def fail(
        self, endpoint: str, status: int, code: str, *, retry_after: int | None = None, times: int = 1, after: int = 0
    ) -> None:
        """Fail the next ``times`` calls of ``endpoint`` (``token`` or ``users``) after ``after`` successes."""
        with self._lock:
            self._failures[endpoint].append(GraphFailure(status, code, retry_after, times, after))

    def calls(self, endpoint: str | None = None) -> list[GraphCall]:
        with self._lock:
            return [c for c in self._calls if endpoint is None or c.endpoint == endpoint]

    def _take_failure(self, endpoint: str) -> GraphFailure | None:
        with self._lock:
            queue = self._failures[endpoint]
            if not queue:
                return None
            failure = queue[0]
            if failure.after > 0:
                failure.after -= 1
                return None
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            return failure

    def _record(self, call: GraphCall) -> None:
        with self._lock:
            self._calls.append(call)

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(await request.text()).items()}
        call = GraphCall("token", request.path, dict(request.query), form, request.headers.get("Authorization"))
        failure = self._take_failure("token")
        if failure is not None:
            call.status = failure.status
            self._record(call)
            return web.json_response({"error": failure.code, "error_description": "injected"}, status=failure.status)
        if request.match_info["tenant"] != self.tenant:
            call.status = 400
            self._record(call)
            return web.json_response(
                {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."}, status=400
            )
        good = (
            form.get("grant_type") == "client_credentials"
            and form.get("scope") == "https://graph.microsoft.com/.default"
            and form.get("client_id") == self.client_id
            and form.get("client_secret") == self.secret
        )
        if not good:
            call.status = 401
            self._record(call)
            invalid: dict[str, Any] = {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x",
            }
            return web.json_response(invalid, status=401)
        self._record(call)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN})

    async def _users(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        call = GraphCall("users", request.path, query, {}, request.headers.get("Authorization"))
        failure = self._take_failure("users")
        if failure is not None:
            call.status = failure.status
            self._record(call)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            problem = {"error": {"code": failure.code, "message": "injected"}}
            return web.json_response(problem, status=failure.status, headers=headers)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            call.status = 401
            self._record(call)
            refused = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}
            return web.json_response(refused, status=401)
        self._record(call)
        select = [name for name in query.get("$select", "").split(",") if name]
        top = int(query.get("$top", "100"))
        skip = int(query.get("$skiptoken", "0"))
        everyone = sorted(self.users.values(), key=lambda u: u.id)
        page = everyone[skip : skip + top]
        value = []
        for user in page:
            item = user.resource(select)
            if query.get("$expand", "").startswith("manager") and user.manager in self.users:
                item["manager"] = {"@odata.type": "#microsoft.graph.user", "id": user.manager}
            value.append(item)
        body: dict[str, Any] = {"@odata.context": f"{self.api_url}$metadata#users", "value": value}
        if skip + top < len(everyone):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            body["@odata.nextLink"] = f"{self.api_url}users?{urlencode({**rest, '$skiptoken': skip + top})}"
        return web.json_response(body)
