"""A small Direct Line 3.0 emulator for the Web Chat end-to-end test, plus the static files Web Chat needs.

One aiohttp server on 127.0.0.1 (ephemeral port) plays both sides of the Bot Framework channel:

- the client side Web Chat talks to (``createDirectLine({ domain, webSocket: false })`` polls):
  ``POST /v3/directline/conversations``, ``POST /v3/directline/conversations/{id}/activities``
  (stored, echoed back to the client, and forwarded to the bot's ``/api/messages`` with
  ``serviceUrl`` pointing back here), ``GET /v3/directline/conversations/{id}/activities?watermark=``;
- the Bot Connector side the bot calls on ``serviceUrl``: sends and replies
  (``POST /v3/conversations/{id}/activities[/{replyToId}]``), updates (``PUT .../activities/{id}``:
  the activity is sent to the client again under the same id, which Web Chat replaces in place),
  member lookups (``GET /v3/conversations/{id}/members/{userId}``, answered from the people
  registered with :meth:`DirectLineEmulator.add_member`), and ``POST /v3/conversations`` (a 1:1
  chat for a proactive send: mapped to that user's existing Direct Line conversation, so the
  card shows up in their Web Chat);
- ``GET /`` (``index.html``) and ``GET /webchat.js`` (the bundle from the installed npm package:
  the network is closed, so no CDN).

Like the real service, the first message of a conversation is preceded by a ``conversationUpdate``
adding the bot and the user, which is how the bot learns about the 1:1 chat.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

log = logging.getLogger(__name__)

CHANNEL_ID = "webchat"
BOT = {"id": "servechain-bot", "name": "servechain", "role": "bot"}
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
HERE = Path(__file__).resolve().parent


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Conversation:
    """One Direct Line conversation: what the client will read, in order (updates appended again)."""

    id: str
    log: list[dict[str, Any]] = field(default_factory=list)
    user: dict[str, Any] | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> str:
        return f"{self.id}|{next(self.ids):07d}"

    def latest(self, activity_id: str) -> dict[str, Any] | None:
        return next((a for a in reversed(self.log) if a.get("id") == activity_id), None)


@dataclass
class BotCall:
    """One call the bot made on ``serviceUrl`` (for assertions and failure messages)."""

    method: str
    path: str
    status: int
    body: Any = None


class DirectLineEmulator:
    """Start with :meth:`start` (a background thread with its own loop); ``url`` is its base URL."""

    def __init__(self, *, bot_url: str, webchat_js: Path, page: Path = HERE / "webchat" / "index.html") -> None:
        self.bot_url = bot_url
        self.webchat_js = webchat_js
        self.page = page
        self.url = ""
        self.conversations: dict[str, Conversation] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.bot_calls: list[BotCall] = []
        self.forward_errors: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    # --- set-up -------------------------------------------------------------------------
    def add_member(self, user_id: str, *, name: str, email: str, aad_object_id: str) -> None:
        """Someone the member lookup knows (answered as a ``TeamsChannelAccount``)."""
        self.members[user_id] = {
            "id": user_id,
            "name": name,
            "aadObjectId": aad_object_id,
            "email": email,
            "userPrincipalName": email,
            "givenName": name.split()[0],
            "userRole": "user",
        }

    def start(self, timeout: float = 10.0) -> str:
        """Listen on 127.0.0.1 on a free port in a background thread; returns the base URL."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as error:  # reported to the caller below
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="directline-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the Direct Line emulator did not start")
        if failure:
            raise failure[0]
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/webchat.js", self._script)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_post("/v3/directline/conversations", self._dl_start)
        app.router.add_get("/v3/directline/conversations/{conversation}", self._dl_resume)
        app.router.add_post("/v3/directline/conversations/{conversation}/activities", self._dl_post)
        app.router.add_get("/v3/directline/conversations/{conversation}/activities", self._dl_get)
        app.router.add_post("/v3/directline/tokens/refresh", self._dl_refresh)
        app.router.add_post("/v3/conversations", self._bot_create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._bot_send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._bot_send)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._bot_update)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._bot_member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = ClientSession(timeout=ClientTimeout(total=30))

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- queries (thread-safe snapshots) --------------------------------------------------
    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """The newest version of every activity in a conversation, in first-seen order."""
        with self._lock:
            conversation = self.conversations[conversation_id]
            newest: dict[str, dict[str, Any]] = {}
            for activity in conversation.log:
                newest[activity["id"]] = copy.deepcopy(activity)
            return list(newest.values())

    def conversation_of(self, user_id: str) -> str | None:
        with self._lock:
            return next((c.id for c in self.conversations.values() if c.user and c.user.get("id") == user_id), None)

    def cards(self, user_id: str) -> list[dict[str, Any]]:
        """The newest version of every Adaptive Card shown to ``user_id``."""
        conversation_id = self.conversation_of(user_id)
        if conversation_id is None:
            return []
        return [
            attachment["content"]
            for activity in self.activities(conversation_id)
            for attachment in activity.get("attachments") or []
            if attachment.get("contentType") == CARD_CONTENT_TYPE
        ]

    # --- static files -----------------------------------------------------------------------
    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.page, headers={"Cache-Control": "no-store"})

    async def _no_icon(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _script(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.webchat_js, headers={"Content-Type": "text/javascript"})

    # --- the client side (Web Chat) ------------------------------------------------------------
    def _conversation(self, request: web.Request) -> Conversation:
        conversation = self.conversations.get(request.match_info["conversation"])
        if conversation is None:
            raise web.HTTPNotFound(text="no such conversation")
        return conversation

    def _describe(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "conversationId": conversation.id,
            "token": f"token-{conversation.id}",
            "expires_in": 3600,
            "referenceGrammarId": str(uuid.uuid4()),
        }

    async def _dl_start(self, _request: web.Request) -> web.Response:
        with self._lock:
            conversation = Conversation(id=f"dl-{uuid.uuid4().hex[:12]}")
            self.conversations[conversation.id] = conversation
        return web.json_response(self._describe(conversation), status=201)

    async def _dl_resume(self, request: web.Request) -> web.Response:
        return web.json_response(self._describe(self._conversation(request)))

    async def _dl_refresh(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return web.json_response({"token": token, "expires_in": 3600})

    async def _dl_get(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        try:
            watermark = int(request.query.get("watermark") or 0)
        except ValueError:
            watermark = 0
        with self._lock:
            activities = copy.deepcopy(conversation.log[watermark:])
            end = len(conversation.log)
        return web.json_response({"activities": activities, "watermark": str(end)})

    async def _dl_post(self, request: web.Request) -> web.Response:
        conversation = self._conversation(request)
        activity = await request.json()
        user = activity.get("from") or {}
        with self._lock:
            first = conversation.user is None
            if first:
                conversation.user = {"id": user.get("id"), "name": user.get("name")}
            activity.update(
                id=conversation.next_id(),
                timestamp=_timestamp(),
                channelId=CHANNEL_ID,
                serviceUrl=self.url,
                conversation={"id": conversation.id},
                recipient=dict(BOT),
            )
            conversation.log.append(copy.deepcopy(activity))
        if first:
            await self._forward(
                {
                    "type": "conversationUpdate",
                    "id": f"{conversation.id}|join",
                    "timestamp": _timestamp(),
                    "channelId": CHANNEL_ID,
                    "serviceUrl": self.url,
                    "conversation": {"id": conversation.id},
                    "from": {"id": user.get("id"), "name": user.get("name")},
                    "recipient": dict(BOT),
                    "membersAdded": [dict(BOT), {"id": user.get("id"), "name": user.get("name")}],
                }
            )
        await self._forward(activity)
        return web.json_response({"id": activity["id"]})

    async def _forward(self, activity: dict[str, Any]) -> None:
        """Deliver one activity to the bot, as the Direct Line service would (no auth: local bot)."""
        assert self._session is not None
        try:
            async with self._session.post(self.bot_url, json=activity) as response:
                if response.status >= 300:
                    self.forward_errors.append(f"{activity.get('type')} -> {response.status}: {await response.text()}")
        except Exception as error:  # recorded; the test reports it
            self.forward_errors.append(f"{activity.get('type')} -> {type(error).__name__}: {error}")

    # --- the Bot Connector side (the bot's serviceUrl) ------------------------------------------
    def _record(self, request: web.Request, status: int, body: Any) -> None:
        self.bot_calls.append(BotCall(request.method, request.path, status, body))

    async def _bot_send(self, request: web.Request) -> web.Response:
        body = await request.json()
        conversation = self.conversations.get(request.match_info["conversation"])
        if conversation is None:
            self._record(request, 404, body)
            return web.json_response({"error": {"code": "ConversationNotFound", "message": "no such"}}, status=404)
        with self._lock:
            activity = dict(body)
            activity.update(
                id=conversation.next_id(),
                timestamp=_timestamp(),
                channelId=CHANNEL_ID,
                conversation={"id": conversation.id},
                **{"from": {**dict(BOT), **(body.get("from") or {}), "role": "bot"}},
            )
            conversation.log.append(activity)
        self._record(request, 200, body)
        return web.json_response({"id": activity["id"]})

    async def _bot_update(self, request: web.Request) -> web.Response:
        body = await request.json()
        conversation = self.conversations.get(request.match_info["conversation"])
        activity_id = request.match_info["activity"]
        with self._lock:
            old = conversation.latest(activity_id) if conversation is not None else None
            if conversation is None or old is None:
                self._record(request, 404, body)
                return web.json_response({"error": {"code": "ActivityNotFound", "message": "no such"}}, status=404)
            updated = dict(body)
            updated.update(
                id=activity_id,
                timestamp=old["timestamp"],  # Web Chat orders by timestamp: the card stays where it was
                channelId=CHANNEL_ID,
                conversation={"id": conversation.id},
                **{"from": old["from"]},
            )
            conversation.log.append(updated)
        self._record(request, 200, body)
        return web.json_response({"id": activity_id})

    async def _bot_member(self, request: web.Request) -> web.Response:
        member = self.members.get(request.match_info["member"])
        self._record(request, 200 if member else 404, None)
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation", "message": "?"}}, status=404)
        return web.json_response(member)

    async def _bot_create(self, request: web.Request) -> web.Response:
        """A 1:1 chat with someone: their Direct Line conversation (matched by user or AAD id)."""
        body = await request.json()
        wanted = {m.get("id") for m in body.get("members") or [] if isinstance(m, dict)}
        known = {uid for uid, m in self.members.items() if uid in wanted or m.get("aadObjectId") in wanted}
        with self._lock:
            conversation = next(
                (c for c in self.conversations.values() if c.user and c.user.get("id") in known | wanted), None
            )
        if conversation is None:
            self._record(request, 404, body)
            return web.json_response({"error": {"code": "BadArgument", "message": "not connected"}}, status=404)
        self._record(request, 201, body)
        return web.json_response({"id": conversation.id, "serviceUrl": self.url}, status=201)
