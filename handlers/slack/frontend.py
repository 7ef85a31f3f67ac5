"""The Slack front end of one ``serve`` process: settings checked, clients, deps, the Bolt
app, the notifier, and either the aiohttp endpoint that feeds Bolt (HTTP mode) or the Socket
Mode connection (``servechain serve --socket``). It has the :class:`handlers.frontend.FrontEnd`
shape, so the runtime runs it like any other front end.

The endpoint verifies the signature itself first (so a forged request gets 401 whatever its
body), rejects unreadable payloads with 400, refuses Slack teams this workspace does not serve
(see :class:`bot.access.WorkspaceGate`: ``SLACK_TEAM_IDS``, else the one team ``auth.test`` names
for our bot token) and payloads naming no team, then runs Bolt's synchronous ``dispatch`` in a thread
and returns its ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.access import HOME_DOC, WorkspaceGate, org_ids
from bot.inbox import InboxRunner
from bot.models import Message, Person
from bot.ports import NO_TELEMETRY, Store, Telemetry
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.work import BackgroundWork
from handlers.runtime import ConfigError, StartError
from handlers.slack.app import build_bolt_app
from handlers.slack.clients import delivery_client, interactive_client
from handlers.slack.deps import SlackDeps, lane_of_item
from handlers.slack.home import HomePublisher, HomeRefresher
from handlers.slack.identity import SlackIdentity
from handlers.slack.listeners import inbox_handlers
from handlers.slack.notifier import SlackNotifier
from handlers.slack.payloads import MalformedPayload, check, is_command, is_handshake, team_of
from handlers.slack.render import fallback_text, message_blocks
from handlers.slack.transport import http_pool

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from handlers.runtime import Runtime

log = logging.getLogger(__name__)

FOREIGN_TEAM = (
    "servechain here serves another Slack workspace, so nothing was done. "
    "An admin can add this workspace's team id to SLACK_TEAM_IDS."
)

HOME_UNKNOWN = (
    "servechain couldn't check with Slack which workspace it serves, so nothing was done. Please try again in a minute."
)


EVENTS_PATH = "/slack/events"

LISTENER_THREADS = 16
"""Threads that run Bolt's listeners (they ack, and make the few calls a form needs first)."""

SOCKET_MODE_NEEDS = "Socket Mode needs SLACK_APP_TOKEN set to an app-level token (xapp-...) with connections:write."


class SlackConfigError(ConfigError, ValueError):
    """A Slack setting is missing or malformed; the message names it."""


def checked_settings(settings: Settings, *, socket: bool = False) -> tuple[str, str | None, str]:
    """``(bot token, signing secret, api url)``, or a SlackConfigError naming the bad setting."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if socket and not app_token.startswith("xapp-"):
        raise SlackConfigError(SOCKET_MODE_NEEDS)
    if not token.startswith("xox"):
        raise SlackConfigError("SLACK_BOT_TOKEN must be a Slack bot token (xoxb-...).")
    if not socket and not secret.strip():
        raise SlackConfigError("SLACK_SIGNING_SECRET must be set to the app's signing secret.")
    url = settings.slack_api_url
    if not url.startswith(("https://", "http://")):
        raise SlackConfigError(f"SLACK_API_URL must be an http(s) URL, not {url[:60]!r}.")
    return token, secret or None, url


def delivery_notifier(settings: Settings, store: Store, *, socket: bool = False) -> SlackNotifier:
    """The Slack notifier alone, for a delivery process beside ``serve``'s (``DELIVERY_PROCESS``),
    where no event ever arrives to say which team is served: the team is ``SLACK_TEAM_IDS``'s
    first, else the home the serving process recorded in the store (``auth.test`` on the bot
    token, :class:`bot.access.WorkspaceGate`), looked up until found."""
    token, _secret, url = checked_settings(settings, socket=socket)
    configured = org_ids(settings.slack_team_ids)
    known: list[str] = configured[:1]

    def team_id() -> str | None:
        if not known:
            doc = store.get_doc(HOME_DOC, settings.servechain_workspace, "slack")
            if doc and doc.get("org_id"):
                known.append(str(doc["org_id"]))
        return known[0] if known else None

    return SlackNotifier(delivery_client(url, token, pool=http_pool(settings.delivery_concurrency)), team_id=team_id)


class SlackFrontEnd:
    """Everything Slack needs in one process; ``handle`` is the ``POST /slack/events`` route, or
    in Socket Mode :meth:`start` connects and Slack sends the same payloads over the socket."""

    name = "slack"

    @classmethod
    def for_runtime(cls, runtime: Runtime, *, socket: bool = False) -> SlackFrontEnd:
        """The Slack front end of ``runtime`` (HTTP mode, or Socket Mode with ``socket``)."""
        return cls(
            runtime.settings,
            runtime.store,
            clock=runtime.clock,
            kick=runtime.kick,
            socket=socket,
            inbox=runtime.inbox,
            telemetry=runtime.telemetry,
            limiter=runtime.limiter,
        )

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
        socket: bool = False,
        inbox: InboxRunner | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        limiter: RateLimiter | None = None,
    ) -> None:
        token, secret, url = checked_settings(settings, socket=socket)
        workspace = settings.servechain_workspace
        self.work = BackgroundWork(settings.work_concurrency, name="slack-work")
        work = self.work
        self.homes = HomeRefresher(
            HomePublisher(
                store, workspace, kudos_allowance=settings.kudos_daily_allowance, hours=settings.working_hours
            ),
            clock=clock,
            limiter=limiter,
            busy=lambda: work.busy,
        )
        self.deps = SlackDeps(
            store=store,
            workspace=workspace,
            clock=clock,
            kick=kick,
            identity=SlackIdentity(store, workspace),
            homes=self.homes,
            work=self.work,
            kudos_allowance=settings.kudos_daily_allowance,
            hours=settings.working_hours,
            nudges=settings.nudges,
            digest=settings.digest,
            pulse=settings.pulse,
            person_figures=settings.person_figures,
            inbox=inbox or InboxRunner(store=store, clock=clock),
        )
        assert self.deps.inbox is not None
        # One pool of keep-alive connections for every Web API call and response_url reply of
        # this process, sized for every thread that may call at once.
        self.pool = http_pool(settings.delivery_concurrency + settings.work_concurrency + LISTENER_THREADS)
        interactive = interactive_client(url, token=token, telemetry=telemetry, pool=self.pool)
        handlers = inbox_handlers(self.deps, interactive)
        self.deps.inbox.handlers.update(handlers)
        # Work taken over after a crash runs in this pool too, in its person's lane, so it keeps
        # its order with what that person types next.
        self.deps.inbox.lanes.update(dict.fromkeys(handlers, lane_of_item))
        self.deps.inbox.work = self.work
        web_api = delivery_client(url, token, pool=self.pool)
        self.gate = WorkspaceGate(
            store,
            workspace,
            platform="slack",
            allowed=org_ids(settings.slack_team_ids),
            home=lambda: own_team(interactive),
        )
        self._listeners = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack-ack")
        self.bolt: App = build_bolt_app(
            bot_token=token,
            signing_secret=secret,
            api_url=url,
            deps=self.deps,
            executor=self._listeners,
            admit=self.gate.admits,
            refusal=FOREIGN_TEAM,
            telemetry=telemetry,
            pool=self.pool,
        )
        self.notifier = SlackNotifier(web_api, team_id=self.deps.team_id)
        self._verifier = SignatureVerifier(secret) if secret else None
        self.socket = socket
        self._app_token = settings.slack_app_token.get_secret_value() if socket and settings.slack_app_token else ""
        self._socket_handler: SocketModeHandler | None = None
        self.telemetry = telemetry

    # ------------------------------------------------------------------ the FrontEnd shape

    def who(self, user_id: str) -> Person | None:
        """The person linked to this Slack user id in the team served (any team if none seen yet)."""
        store, workspace = self.deps.store, self.deps.workspace
        team = self.deps.team_id()
        if team:
            return store.find_person(workspace, slack_id=(team, user_id))
        return next((p for p in store.list_people(workspace) if user_id in p.slack_ids.values()), None)

    def render(self, message: Message, recipient: Person) -> dict[str, Any]:
        """The ``chat.postMessage`` fields (Block Kit and its fallback text) for ``message``."""
        return {"text": fallback_text(message), "blocks": message_blocks(message)}

    def mount(self, app: web.Application) -> None:
        """``POST /slack/events`` in HTTP mode; in Socket Mode no route (events come over the socket)."""
        app[SLACK_KEY] = self
        if not self.socket:
            app.router.add_post(EVENTS_PATH, self.handle)

    def start(self) -> None:
        """In Socket Mode, open the connection (``apps.connections.open``, then the websocket)
        with slack_sdk's built-in client; it reconnects by itself. Nothing to do in HTTP mode."""
        if not self.socket or self._socket_handler is not None:
            return
        self._socket_handler = counted_socket_mode_handler(self.bolt, self._app_token, self.telemetry)
        try:
            self._socket_handler.connect()
        except Exception as error:
            log.error("Socket Mode could not connect: %s", error)
            raise StartError(
                f"Socket Mode could not connect to Slack ({_reason(error)}). Check SLACK_APP_TOKEN (an app-level "
                "token, xapp-..., with connections:write) and that Socket Mode is on in the app's settings."
            ) from None
        log.info("Slack Socket Mode connected")

    @property
    def connected(self) -> bool | None:
        """In Socket Mode, whether the socket is open now; None in HTTP mode."""
        if not self.socket:
            return None
        return self._socket_handler is not None and self._socket_handler.client.is_connected()

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: slash commands, interactivity and events."""
        raw = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        if self._verifier is None or not self._signed(raw, headers):
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            body = raw.decode("utf-8")
            check(body, headers.get("content-type", ""))
        except (UnicodeDecodeError, MalformedPayload) as error:
            log.warning("rejected a malformed Slack request: %s", error)
            return web.json_response({"error": f"malformed payload: {error}"}, status=400)
        content_type = headers.get("content-type", "")
        team = team_of(body, content_type)
        if not is_handshake(body, content_type) and not await self._admits(team):
            home = ", ".join(sorted(self.gate.allowed)) or self.gate.known_home
            log.warning(
                "refused a request from Slack team %s: this deployment serves %s; "
                "to serve another workspace too, list every team id in SLACK_TEAM_IDS",
                team or "(none named)",
                home or "no team yet (auth.test on the bot token failed; it is asked again shortly)",
            )
            if is_command(body, content_type):
                text = FOREIGN_TEAM if home else HOME_UNKNOWN
                return web.json_response({"response_type": "ephemeral", "text": text})
            return web.Response(status=200)
        bolt_request = BoltRequest(body=body, query=request.query_string, headers=_multi(request))
        response = await asyncio.to_thread(self.bolt.dispatch, bolt_request)
        return web.Response(
            status=response.status,
            body=response.body.encode("utf-8") if isinstance(response.body, str) else response.body,
            headers=response.first_headers_without_set_cookie(),
        )

    async def _admits(self, team: str | None) -> bool:
        """The gate's answer, on the loop when it needs no I/O (almost always), else in a thread
        (a hop costs milliseconds when the process is busy)."""
        now = self.gate.admits_now(team)
        return now if now is not None else await asyncio.to_thread(self.gate.admits, team)

    def _signed(self, raw: bytes, headers: dict[str, str]) -> bool:
        assert self._verifier is not None
        try:
            return self._verifier.is_valid_request(raw, headers)
        except ValueError:  # a timestamp that is not a number
            return False

    def close(self) -> None:
        """Close the Socket Mode connection (if any), let queued work finish, stop the thread pools,
        close the kept-alive connections."""
        if self._socket_handler is not None:
            self._socket_handler.close()
            self._socket_handler = None
        self._listeners.shutdown(wait=True)
        self.work.close()
        self.homes.close()
        self.pool.clear()


SLACK_KEY = web.AppKey("servechain_slack", SlackFrontEnd)
"""Where the running Slack front end is kept on the aiohttp app (tests reach it here)."""


def _reason(error: Exception) -> str:
    """Slack's error code (``invalid_auth``) when there is one, else the error's own words."""
    response = getattr(error, "response", None)
    code = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(code) if code else str(error) or type(error).__name__


SOCKET_KINDS = {"slash_commands": "command", "events_api": "event"}
INTERACTIVE_KINDS = {"block_actions": "click", "view_submission": "form", "view_closed": "form"}
"""The request kinds counted, in the words of HTTP mode's metrics (``handlers.observability``)."""


def socket_request_kind(request_type: str, payload: dict[str, Any]) -> str:
    """The low-cardinality kind of a Socket Mode request (command, click, form, event, other)."""
    if request_type == "interactive":
        return INTERACTIVE_KINDS.get(str(payload.get("type", "")), "other")
    return SOCKET_KINDS.get(request_type, "other")


def counted_socket_mode_handler(app: App, app_token: str, telemetry: Telemetry) -> SocketModeHandler:
    """slack_bolt's built-in Socket Mode handler, counting each request it answers to ``telemetry``
    as HTTP mode counts ``POST /slack/events`` (received; acked when Bolt answered 2xx, else failed;
    and the time to the answer)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
    from slack_sdk.socket_mode.builtin import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest

    class CountedSocketModeHandler(SocketModeHandler):
        def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
            started = time.time()
            payload = req.payload if isinstance(req.payload, dict) else {}
            kind = socket_request_kind(req.type, payload)
            _report(telemetry.request_received, platform="slack", kind=kind)
            status = 500
            try:
                response = run_bolt_app(self.app, req)
                status = response.status
                send_response(client, req, response, started)
            finally:
                _report(
                    telemetry.request_answered,
                    platform="slack",
                    kind=kind,
                    acked=status < 400,
                    seconds=time.time() - started,
                )

    return CountedSocketModeHandler(app, app_token)


def _report(report: Callable[..., None], **fields: Any) -> None:
    try:
        report(**fields)
    except Exception:  # metrics never fail a request
        log.exception("telemetry failed")


def own_team(client: WebClient) -> str | None:
    """The Slack team our bot token belongs to (``auth.test``): the one workspace we serve when
    ``SLACK_TEAM_IDS`` is not set."""
    team = client.auth_test().get("team_id")
    return str(team) if team else None


def _multi(request: web.Request) -> dict[str, Any]:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return headers
