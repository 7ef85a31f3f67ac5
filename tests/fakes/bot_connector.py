"""A local fake of the Bot Connector REST API (the ``serviceUrl`` side of Teams), for tests.

It listens on 127.0.0.1 on an ephemeral port and records every call: proactive sends
(``POST /v3/conversations/{id}/activities``), replies (``.../activities/{replyToId}``),
updates (``PUT .../activities/{activityId}``), member lookups
(``GET /v3/conversations/{id}/members/{userId}``) and 1:1 conversation creation
(``POST /v3/conversations``). Failures (403, 429 with ``Retry-After``, 5xx) can be injected
for the next matching calls, and every call can be made to take :attr:`FakeBotConnector.latency`
seconds (as a real connector call from a data centre takes 100-300 ms).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

CallKind = Literal["create", "send", "reply", "update", "member"]
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


@dataclass
class Call:
    """One request the fake received."""

    kind: CallKind
    method: str
    path: str
    conversation_id: str | None
    activity_id: str | None
    body: Any
    authorization: str | None
    status: int = 200
    response: Any = None
    at: float = 0.0
    """When it was answered (wall clock), e.g. for a benchmark's command-to-card latency."""

    @property
    def text(self) -> str | None:
        return self.body.get("text") if isinstance(self.body, dict) else None

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards this call carried."""
        if not isinstance(self.body, dict):
            return []
        return [a["content"] for a in self.body.get("attachments") or [] if a.get("contentType") == CARD_CONTENT_TYPE]


@dataclass
class Failure:
    """An injected failure for the next ``times`` calls of the given kinds."""

    status: int
    kinds: frozenset[str]
    times: int = 1
    retry_after: float | None = None
    conversation_id: str | None = None
    code: str = "BotNotInConversationRoster"


@dataclass
class FakeBotConnector:
    """The fake service; ``await start()`` then point activities' ``serviceUrl`` at ``url``."""

    calls: list[Call] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    url: str = ""
    latency: float = 0.0
    """Seconds every call waits before it is answered."""

    # --- set-up ---------------------------------------------------------------------------
    def add_member(
        self,
        user_id: str,
        *,
        name: str,
        aad_object_id: str | None = None,
        email: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """Someone the member lookup knows (a TeamsChannelAccount)."""
        self.members[user_id] = {
            "id": user_id,
            "name": name,
            "aadObjectId": aad_object_id,
            "email": email,
            "userPrincipalName": email,
            "givenName": name.split()[0] if name else None,
            "tenantId": tenant_id,
            "userRole": "user",
        }

    def fail_next(
        self,
        status: int,
        *,
        kinds: Iterable[str] = ("send", "reply", "update", "create"),
        times: int = 1,
        retry_after: float | None = None,
        conversation_id: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with ``status``."""
        self.failures.append(Failure(status, frozenset(kinds), times, retry_after, conversation_id=conversation_id))

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port; returns the base URL (used as ``serviceUrl``)."""
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- queries --------------------------------------------------------------------------
    def of(self, *kinds: CallKind, conversation_id: str | None = None, ok: bool = True) -> list[Call]:
        """Recorded calls of these kinds (successful ones unless ``ok=False``)."""
        return [
            c
            for c in self.calls
            if (not kinds or c.kind in kinds)
            and (conversation_id is None or c.conversation_id == conversation_id)
            and (not ok or c.status < 300)
        ]

    def all_cards(self) -> list[dict[str, Any]]:
        """Every Adaptive Card the bot sent, replied, or updated to."""
        return [card for call in self.calls for card in call.cards]

    # --- handlers -------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _failure(self, kind: CallKind, conversation_id: str | None) -> Failure | None:
        for failure in self.failures:
            if kind in failure.kinds and failure.conversation_id in (None, conversation_id) and failure.times > 0:
                failure.times -= 1
                if failure.times == 0:
                    self.failures.remove(failure)
                return failure
        return None

    async def _wait(self) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)

    async def _record(
        self, request: web.Request, kind: CallKind, ok: Any, *, conversation_id: str | None = None
    ) -> web.Response:
        body = await request.json() if request.can_read_body else None
        activity_id = request.match_info.get("activity")
        call = Call(
            kind=kind,
            method=request.method,
            path=request.path,
            conversation_id=conversation_id,
            activity_id=activity_id,
            body=body,
            authorization=request.headers.get("Authorization"),
        )
        self.calls.append(call)
        await self._wait()
        failure = self._failure(kind, conversation_id)
        if failure is not None:
            call.status, call.at = failure.status, time.time()
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            error = {"error": {"code": failure.code, "message": f"injected {failure.status}"}}
            return web.json_response(error, status=failure.status, headers=headers)
        call.response = ok(call) if callable(ok) else ok
        call.at = time.time()
        return web.json_response(call.response, status=200 if kind != "create" else 201)

    async def _create(self, request: web.Request) -> web.Response:
        def created(call: Call) -> dict[str, Any]:
            members = (call.body or {}).get("members") or [{}]
            conversation_id = f"a:personal-{members[0].get('id')}"
            call.conversation_id = conversation_id
            return {"id": conversation_id, "activityId": None, "serviceUrl": self.url}

        return await self._record(request, "create", created)

    async def _send(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        return await self._record(
            request, "send", lambda _c: {"id": self._next_id("sent")}, conversation_id=conversation
        )

    async def _reply(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        return await self._record(
            request, "reply", lambda _c: {"id": self._next_id("reply")}, conversation_id=conversation
        )

    async def _update(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        activity = request.match_info["activity"]
        return await self._record(request, "update", {"id": activity}, conversation_id=conversation)

    async def _member(self, request: web.Request) -> web.Response:
        conversation = request.match_info["conversation"]
        member = self.members.get(request.match_info["member"])
        call = Call(
            kind="member",
            method="GET",
            path=request.path,
            conversation_id=conversation,
            activity_id=None,
            body=None,
            authorization=request.headers.get("Authorization"),
        )
        self.calls.append(call)
        await self._wait()
        if member is None:
            call.status, call.at = 404, time.time()
            error = {"error": {"code": "MemberNotFoundInConversation", "message": "The member is not in the roster"}}
            return web.json_response(error, status=404)
        call.response, call.at = member, time.time()
        return web.json_response(member)
