"""A fake Slack Web API on 127.0.0.1 (an ephemeral port) for tests and benchmarks.

Point ``SLACK_API_URL`` at :attr:`FakeSlackApi.url`. It records every call (method, params,
token), answers like Slack for the methods servechain uses, validates Block Kit payloads
with ``slack_sdk.models`` (answering ``invalid_blocks`` like Slack would), serves
``response_url`` posts under :meth:`FakeSlackApi.response_url`, and fails on demand
(``ok: false`` errors, HTTP 429 with Retry-After, 5xx), or wholesale (:meth:`FakeSlackApi.outage`:
every call fails until :meth:`FakeSlackApi.recover`). ``conversations.history`` and
``conversations.replies`` answer from the messages posted, with their metadata.

It is also Slack's Socket Mode side: ``apps.connections.open`` (with an app-level ``xapp-``
token) hands out ``ws://127.0.0.1:<port>/link/?ticket=...``, where a websocket greets each
client with the ``hello`` envelope. :meth:`FakeSlackApi.socket_send` delivers an envelope
(``slash_commands``, ``interactive``, ``events_api``) to the connected client, and every ack
envelope the client sends back is recorded as a ``socket.ack`` call
(:meth:`FakeSlackApi.socket_ack` waits for one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import WSCloseCode, WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from handlers.slack.manifest import bot_scopes

MAX_MESSAGE_BLOCKS = 50
_JSON_PARAMS = ("blocks", "view", "attachments", "metadata")


class ServerThread:
    """Runs an aiohttp application on 127.0.0.1:0 in a thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-server", daemon=True)

    def start(self) -> ServerThread:
        """Start serving; returns once the port is bound."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving (runs the app's cleanup) and end the thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class Call:
    """One recorded Web API call or response_url post."""

    method: str
    params: dict[str, Any]
    token: str | None
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    """When it was answered (wall clock), e.g. for a benchmark's command-to-card latency."""


@dataclass
class Failure:
    """An injected failure for the next ``times`` calls of a method."""

    error: str
    status: int = 200
    retry_after: int | None = None
    times: int = 1
    after: int = 0
    """Calls of the method that still succeed before this failure starts (a page failing midway)."""
    only_for: str | None = None
    """Only calls to this user or channel (``users``, ``user`` or ``channel`` parameter) fail."""

    def applies(self, params: dict[str, Any]) -> bool:
        """True when this failure is meant for a call with these parameters."""
        targets = {str(params.get(name, "")) for name in ("users", "user", "channel")}
        return self.only_for is None or self.only_for in targets or f"D{self.only_for}" in targets


@dataclass
class FakeUser:
    """A Slack user ``users.info`` knows."""

    id: str
    name: str
    email: str | None = None
    tz: str = "Europe/London"
    is_bot: bool = False
    deleted: bool = False

    def payload(self, team_id: str) -> dict[str, Any]:
        """The ``user`` object of a users.info answer."""
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name.lower(),
            "real_name": self.name,
            "deleted": self.deleted,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "is_bot": self.is_bot,
            "profile": {"real_name": self.name, "display_name": self.name.split()[0], "email": self.email},
        }


def _text(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _limit_problems(raw: dict[str, Any]) -> list[str]:
    """Slack's documented limits, including those slack_sdk.models does not check."""
    problems: list[str] = []

    def over(what: str, value: str, limit: int) -> None:
        if len(value) > limit:
            problems.append(f"{what} is {len(value)} characters; the limit is {limit}")
        if what.endswith("plain text") and not value:
            problems.append(f"{what} is empty")

    kind = raw.get("type")
    over("block_id", str(raw.get("block_id", "")), 255)
    if kind == "header":
        over("header plain text", _text(raw.get("text")), 150)
    if kind == "section":
        over("section text", _text(raw.get("text")), 3000)
        fields = raw.get("fields") or []
        if len(fields) > 10:
            problems.append(f"{len(fields)} section fields; the limit is 10")
        for item in fields:
            over("section field", _text(item), 2000)
    if kind == "context" and len(raw.get("elements") or []) > 10:
        problems.append("more than 10 context elements")
    if kind == "actions":
        elements = raw.get("elements") or []
        if len(elements) > 25:
            problems.append("more than 25 elements in an actions block")
        ids = [e.get("action_id") for e in elements]
        if len(ids) != len(set(ids)):
            problems.append(f"duplicate action_id in one block: {ids}")
        for element in elements:
            over("action_id", str(element.get("action_id", "")), 255)
            if element.get("type") == "button":
                over("button plain text", _text(element.get("text")), 75)
                over("button value", str(element.get("value", "")), 2000)
    if kind == "input":
        over("input label plain text", _text(raw.get("label")), 2000)
        element = raw.get("element") or {}
        if element.get("type") == "plain_text_input":
            maximum = int(element.get("max_length", 3000))
            if maximum > 3000:
                problems.append("plain_text_input max_length over 3000")
            over("initial_value", str(element.get("initial_value", "")), maximum)
        for option in element.get("options") or []:
            over("option plain text", _text(option.get("text")), 75)
    return problems


def block_problems(blocks: Any, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Why Slack would refuse these blocks (empty when they are fine): each must parse with
    ``slack_sdk.models`` and keep to Slack's limits."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    problems = [f"{len(blocks)} blocks; the limit is {limit}"] if len(blocks) > limit else []
    for index, raw in enumerate(blocks):
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"block {index}: unknown type {raw.get('type')!r}")
                continue
            block.to_dict()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as error:
            problems.append(f"block {index}: {error}")
            continue
        problems += [f"block {index} ({raw.get('type')}): {p}" for p in _limit_problems(raw)]
    return problems


def view_problems(view: Any) -> list[str]:
    """Why Slack would refuse this view (empty when it is fine)."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as error:
        return [str(error)]
    return block_problems(view.get("blocks"), limit=100)


class FakeSlackApi:
    """The fake Web API; use as a context manager or call start()/stop()."""

    def __init__(self, *, team_id: str = "T0ACME", scopes: list[str] | None = None, latency: float = 0.0) -> None:
        self.team_id = team_id
        self.latency = latency
        """Seconds every call waits before it is answered (a real Web API call takes 0.1-0.3 s),
        unless :meth:`delay` set the method's own."""
        self.scopes: list[str] = scopes if scopes is not None else sorted(bot_scopes())
        """The bot token's scopes, sent in ``auth.test``'s ``x-oauth-scopes`` header like Slack does
        (default: exactly what the manifest asks for)."""
        self.users: dict[str, FakeUser] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        """Uploaded files by id: ``filename``, ``length``, ``data`` (bytes) and, once completed, ``shared``."""
        self._calls: list[Call] = []
        self._failures: dict[str, list[Failure]] = defaultdict(list)
        self._delays: dict[str, float] = {}
        self._late: dict[str, float] = {}
        self._outage: Failure | None = None
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._last_micros = 0
        self._peers: list[tuple[str, Any]] = []
        app = web.Application(middlewares=[self._note_peer])
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link/", self._socket_mode)
        app.on_shutdown.append(self._close_sockets)
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets = itertools.count(1)
        self._server = ServerThread(app)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlackApi:
        """Start serving on an ephemeral port."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> FakeSlackApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL for ``SLACK_API_URL``."""
        return f"{self._server.base}/api/"

    def response_url(self, name: str = "cmd") -> str:
        """A response_url for a payload; posts to it are recorded as method ``response_url``."""
        return f"{self._server.base}/response/{name}"

    # ------------------------------------------------------------------ test controls

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        email: str | None = None,
        tz: str = "Europe/London",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> None:
        """Make ``users.info`` and ``users.list`` know a user (``deleted``: deactivated)."""
        self.users[user_id] = FakeUser(user_id, name, email, tz, is_bot, deleted)

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
        only_for: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (after ``after`` more successes);
        with ``only_for``, only calls to that user or channel (deliveries run concurrently, so
        "the next call" alone would not say whose)."""
        with self._lock:
            self._failures[method].append(Failure(error, status, retry_after, times, after, only_for))

    def delay(self, method: str, seconds: float) -> None:
        """Make every call of ``method`` take at least ``seconds`` (a slow Slack)."""
        self._delays[method] = seconds

    def answer_late(self, method: str, seconds: float) -> None:
        """Do every call of ``method`` at once, but answer only after ``seconds``: the window in
        which Slack has posted a message and the caller does not know it yet."""
        self._late[method] = seconds

    def outage(self, error: str = "service_unavailable", *, status: int = 503, retry_after: int | None = None) -> None:
        """Fail every Web API call and response_url post until :meth:`recover`."""
        with self._lock:
            self._outage = Failure(error, status, retry_after)

    def recover(self) -> None:
        """End an :meth:`outage`."""
        with self._lock:
            self._outage = None

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls (of one method), oldest first."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls and connections (messages and views stay)."""
        with self._lock:
            self._calls.clear()
            self._peers.clear()

    def connections(self, method: str | None = None) -> int:
        """How many TCP connections carried calls (of ``method``; ``response_url`` for response_url
        posts): a client that keeps connections alive uses a few for many calls."""
        with self._lock:
            return len({peer for name, peer in self._peers if method is None or name == method})

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0) -> list[Call]:
        """Wait until ``predicate(all calls)`` holds; AssertionError on timeout."""
        with self._lock:
            if not self._lock.wait_for(lambda: predicate(self._calls), timeout):
                methods = [c.method for c in self._calls]
                raise AssertionError(f"timed out waiting for Slack calls; saw {methods}")
            return list(self._calls)

    def wait_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called at least ``count`` times; returns those calls."""
        self.wait_for(lambda calls: sum(c.method == method for c in calls) >= count, timeout)
        return self.calls(method)

    # ------------------------------------------------------------------ Socket Mode

    def socket_send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """Deliver one envelope (``slash_commands``, ``interactive``, ``events_api``) to the
        newest Socket Mode connection; returns its ``envelope_id``."""
        envelope_id = f"fake-envelope-{next(self._tickets)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        with self._lock:
            socket = self._sockets[-1] if self._sockets else None
        if socket is None:
            raise AssertionError("no Socket Mode client is connected")
        asyncio.run_coroutine_threadsafe(socket.send_str(json.dumps(envelope)), self._server.loop).result(timeout=5)
        return envelope_id

    def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the client's ack envelope of ``envelope_id``; returns it."""

        def acked(calls: list[Call]) -> bool:
            return any(c.method == "socket.ack" and c.params.get("envelope_id") == envelope_id for c in calls)

        self.wait_for(acked, timeout)
        return next(c.params for c in self.calls("socket.ack") if c.params.get("envelope_id") == envelope_id)

    def _connections_open(self, token: str) -> dict[str, Any]:
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        ticket = f"fake-ticket-{next(self._tickets)}"
        return {"ok": True, "url": f"ws://127.0.0.1:{self._server.port}/link/?ticket={ticket}&app_id=A0FAKE"}

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        with self._lock:
            self._sockets.append(socket)
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
            "connection_info": {"app_id": "A0FAKE"},
        }
        await socket.send_str(json.dumps(hello))
        self._record(Call("socket.hello", {"ticket": request.query.get("ticket")}, None))
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    envelope = json.loads(frame.data)
                except json.JSONDecodeError:
                    envelope = {"unreadable": frame.data}
                self._record(Call("socket.ack", envelope if isinstance(envelope, dict) else {}, None))
        finally:
            with self._lock:
                self._sockets.remove(socket)
        return socket

    async def _close_sockets(self, _app: web.Application) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for socket in sockets:
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    # ------------------------------------------------------------------ serving

    @web.middleware
    async def _note_peer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Note the client's address and port (one per TCP connection) for :meth:`connections`."""
        parts = request.path.strip("/").split("/")
        name = "response_url" if parts[0] == "response" else parts[-1]
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        with self._lock:
            self._peers.append((name, peer))
        return await handler(request)

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._lock.notify_all()

    def _take_failure(self, method: str, params: dict[str, Any] | None = None) -> Failure | None:
        with self._lock:
            if self._outage is not None:
                return self._outage
            queue = self._failures.get(method)
            if not queue:
                return None
            failure = queue[0]
            if not failure.applies(params or {}):
                return None
            if failure.after > 0:
                failure.after -= 1
                return None
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            return failure

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/json":
            data = json.loads(raw) if raw.strip() else {}
            return data if isinstance(data, dict) else {}
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        params.update({k: v for k, v in request.query.items()})
        for name in _JSON_PARAMS:
            if isinstance(params.get(name), str):
                with contextlib.suppress(json.JSONDecodeError):
                    params[name] = json.loads(params[name])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        if self._delays.get(method, self.latency):
            await asyncio.sleep(self._delays.get(method, self.latency))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        failure = self._take_failure(method, params)
        if failure is not None:
            answer = {"ok": False, "error": failure.error}
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            self._record(Call(method, params, token, failure.status, answer))
            return web.json_response(answer, status=failure.status, headers=headers)
        if not token:
            answer = {"ok": False, "error": "not_authed"}
        elif method == "apps.connections.open":
            answer = self._connections_open(token)
        else:
            answer = self._answer(method, params)
        self._record(Call(method, params, token, 200, answer))
        if method in self._late:
            await asyncio.sleep(self._late[method])
        headers = {"x-oauth-scopes": ",".join(self.scopes)} if token and token.startswith("xoxb-") else {}
        return web.json_response(answer, headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        params["_name"] = request.match_info["name"]
        if self._delays.get("response_url", self.latency):
            await asyncio.sleep(self._delays.get("response_url", self.latency))
        failure = self._take_failure("response_url")
        if failure is not None:  # a response_url has no ``ok: false``: it fails with an HTTP error
            status = failure.status if failure.status >= 400 else 503
            self._record(Call("response_url", params, None, status, {"error": failure.error}))
            return web.Response(status=status, text=failure.error)
        problems = block_problems(params["blocks"]) if "blocks" in params else []
        if problems:
            self._record(Call("response_url", params, None, 400, {"error": "invalid_blocks"}))
            return web.Response(status=400, text="invalid_blocks")
        self._record(Call("response_url", params, None, 200, {"ok": True}))
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        """Step two of ``files_upload_v2``: the bytes, posted to the URL step one handed out."""
        file_id = request.match_info["file_id"]
        data = await request.read()
        with self._lock:
            known = file_id in self.files
            if known:
                self.files[file_id]["data"] = data
        self._record(Call("file_upload", {"file_id": file_id, "bytes": len(data)}, None, 200 if known else 404))
        return web.Response(text="OK - uploaded" if known else "unknown file", status=200 if known else 404)

    def _history(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a channel (history) or one thread (replies), like Slack: newest
        first for history, oldest first for replies; only those between ``oldest`` (default 0)
        and ``latest`` (default now), the bounds themselves only with ``inclusive``; ``limit``
        per page (default 100, at most 999) and an opaque ``cursor`` for the next page
        (``response_metadata.next_cursor``, empty on the last); metadata only when asked for."""
        channel = str(params.get("channel", ""))
        parent = str(params.get("ts", ""))
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        oldest = float(params.get("oldest") or 0)
        latest = float(params["latest"]) if params.get("latest") else float("inf")
        with self._lock:
            found = []
            for (where, ts), posted in sorted(self.messages.items(), key=lambda item: float(item[0][1])):
                thread = posted.get("thread_ts")
                if where != channel:
                    continue
                if method == "conversations.history" and thread and thread != ts:
                    continue
                if method == "conversations.replies" and ts != parent and thread != parent:
                    continue
                moment = float(ts)
                if moment < oldest or moment > latest or (not inclusive and moment in (oldest, latest)):
                    continue
                message = {"type": "message", "ts": ts, "text": posted.get("text", ""), "bot_id": "BBOT"}
                if thread:
                    message["thread_ts"] = thread
                if with_metadata and posted.get("metadata"):
                    message["metadata"] = posted["metadata"]
                found.append(message)
        if method == "conversations.history":
            found.reverse()
        limit = min(int(params.get("limit") or 100), 999)
        cursor = str(params.get("cursor") or "")
        start = int(base64.urlsafe_b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        page = found[start : start + limit]
        more = start + limit < len(found)
        next_cursor = base64.urlsafe_b64encode(f"next:{start + limit}".encode()).decode() if more else ""
        return {"ok": True, "messages": page, "has_more": more, "response_metadata": {"next_cursor": next_cursor}}

    def posted_keys(self) -> list[str]:
        """The outbox key in the metadata of every message posted, in posting order."""
        with self._lock:
            ordered = sorted(self.messages.items(), key=lambda item: item[0][1])
            return [
                str(p["metadata"]["event_payload"]["key"])
                for _key, p in ordered
                if isinstance(p.get("metadata"), dict) and isinstance(p["metadata"].get("event_payload"), dict)
            ]

    def _next_ts(self) -> str:
        """A message timestamp like Slack's: the current Unix time in microseconds, unique and rising."""
        with self._lock:
            self._last_micros = max(time.time_ns() // 1000, self._last_micros + 1)
            micros = self._last_micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel(self, channel: str) -> str:
        return f"D{channel}" if channel.startswith(("U", "W")) else channel

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "servechain",
                    "team_id": self.team_id,
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                }
            case "users.info":
                user = self.users.get(str(params.get("user", "")))
                if user is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": user.payload(self.team_id)}
            case "users.list":  # cursor pages like Slack: the cursor is an opaque offset here
                members = sorted(self.users.values(), key=lambda u: u.id)
                start = int(base64.b64decode(str(params.get("cursor") or "") or b"MA==").decode() or 0)
                size = int(params.get("limit") or 0) or len(members) or 1
                page = members[start : start + size]
                more = start + size < len(members)
                cursor = base64.b64encode(str(start + size).encode()).decode() if more else ""
                return {
                    "ok": True,
                    "members": [user.payload(self.team_id) for user in page],
                    "response_metadata": {"next_cursor": cursor},
                }
            case "conversations.open":
                users = str(params.get("users", ""))
                if not users or users.split(",")[0] not in self.users:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "channel": {"id": self._channel(users.split(",")[0])}}
            case "chat.postMessage" | "chat.postEphemeral":
                problems = block_problems(params["blocks"]) if "blocks" in params else []
                if problems:
                    return {"ok": False, "error": "invalid_blocks", "errors": problems}
                if not params.get("text") and not params.get("blocks"):
                    return {"ok": False, "error": "no_text"}
                channel = self._channel(str(params.get("channel", "")))
                ts = self._next_ts()
                with self._lock:
                    self.messages[(channel, ts)] = dict(params)
                if method == "chat.postEphemeral":
                    return {"ok": True, "message_ts": ts}
                return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}
            case "conversations.history" | "conversations.replies":
                return self._history(method, params)
            case "chat.update":
                key = (str(params.get("channel")), str(params.get("ts")))
                problems = block_problems(params["blocks"]) if "blocks" in params else []
                if problems:
                    return {"ok": False, "error": "invalid_blocks", "errors": problems}
                with self._lock:
                    if key not in self.messages:
                        return {"ok": False, "error": "message_not_found"}
                    self.messages[key] = {**self.messages[key], **params}
                return {"ok": True, "channel": key[0], "ts": key[1], "text": params.get("text")}
            case "views.open" | "views.update" | "views.publish" | "views.push":
                view = params.get("view")
                problems = view_problems(view)
                if problems:
                    return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": problems}}
                view_id = f"V{next(self._ts):06d}"
                assert isinstance(view, dict)
                stored = {**view, "id": view_id}
                with self._lock:
                    self.views[view_id] = stored
                return {"ok": True, "view": stored}
            case "files.getUploadURLExternal":
                file_id = f"F{next(self._ts):08d}"
                with self._lock:
                    self.files[file_id] = {"filename": params.get("filename"), "length": int(params.get("length", 0))}
                return {"ok": True, "file_id": file_id, "upload_url": f"{self._server.base}/upload/{file_id}"}
            case "files.completeUploadExternal":
                files = json.loads(params.get("files") or "[]")
                with self._lock:
                    unknown = [f.get("id") for f in files if f.get("id") not in self.files]
                    if unknown or not files:
                        return {"ok": False, "error": "file_not_found"}
                    for item in files:
                        self.files[item["id"]].update(shared=params.get("channel_id"), title=item.get("title"))
                return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
            case _:
                return {"ok": False, "error": "unknown_method"}
