"""The Slack front end of one ``serve`` process: settings checked, clients, deps, the Bolt
app, the notifier, and the aiohttp endpoint that feeds Bolt.

The endpoint verifies the signature itself first (so a forged request gets 401 whatever its
body), rejects unreadable payloads with 400, refuses Slack teams this workspace does not serve
(see :class:`bot.access.WorkspaceGate`: ``SLACK_TEAM_IDS``, else the one team ``auth.test`` names
for our bot token) and payloads naming no team, then runs Bolt's synchronous ``dispatch`` in a thread
and returns its ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from aiohttp import web
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.access import WorkspaceGate, org_ids
from bot.ports import Store
from bot.settings import Settings
from handlers.slack.app import build_bolt_app
from handlers.slack.clients import delivery_client
from handlers.slack.deps import BackgroundWork, SlackDeps
from handlers.slack.home import HomePublisher
from handlers.slack.identity import SlackIdentity
from handlers.slack.notifier import SlackNotifier
from handlers.slack.payloads import MalformedPayload, check, is_command, is_handshake, team_of

log = logging.getLogger(__name__)

FOREIGN_TEAM = (
    "servechain here serves another Slack workspace, so nothing was done. "
    "An admin can add this workspace's team id to SLACK_TEAM_IDS."
)

HOME_UNKNOWN = (
    "servechain couldn't check with Slack which workspace it serves, so nothing was done. Please try again in a minute."
)


class SlackConfigError(ValueError):
    """A Slack setting is missing or malformed; the message names it."""


def checked_settings(settings: Settings, *, socket: bool = False) -> tuple[str, str | None, str]:
    """``(bot token, signing secret, api url)``, or a SlackConfigError naming the bad setting."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    if not token.startswith("xox"):
        raise SlackConfigError("SLACK_BOT_TOKEN must be a Slack bot token (xoxb-...).")
    if not socket and not secret.strip():
        raise SlackConfigError("SLACK_SIGNING_SECRET must be set to the app's signing secret.")
    url = settings.slack_api_url
    if not url.startswith(("https://", "http://")):
        raise SlackConfigError(f"SLACK_API_URL must be an http(s) URL, not {url[:60]!r}.")
    return token, secret or None, url


class SlackFrontEnd:
    """Everything Slack needs in one process; ``handle`` is the ``POST /slack/events`` route."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
        socket: bool = False,
    ) -> None:
        token, secret, url = checked_settings(settings, socket=socket)
        workspace = settings.servechain_workspace
        self.work = BackgroundWork()
        self.deps = SlackDeps(
            store=store,
            workspace=workspace,
            clock=clock,
            kick=kick,
            identity=SlackIdentity(store, workspace),
            homes=HomePublisher(store, workspace, kudos_allowance=settings.kudos_daily_allowance),
            work=self.work,
            kudos_allowance=settings.kudos_daily_allowance,
            hours=settings.working_hours,
            nudges=settings.nudges,
            digest=settings.digest,
            pulse=settings.pulse,
        )
        web_api = delivery_client(url, token)
        self.gate = WorkspaceGate(
            store, workspace, platform="slack", allowed=org_ids(settings.slack_team_ids), home=lambda: own_team(web_api)
        )
        self._listeners = ThreadPoolExecutor(max_workers=16, thread_name_prefix="slack-ack")
        self.bolt: App = build_bolt_app(
            bot_token=token,
            signing_secret=secret,
            api_url=url,
            deps=self.deps,
            executor=self._listeners,
            admit=self.gate.admits,
            refusal=FOREIGN_TEAM,
        )
        self.notifier = SlackNotifier(web_api, team_id=self.deps.team_id)
        self._verifier = SignatureVerifier(secret) if secret else None

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
        if not is_handshake(body, content_type) and not await asyncio.to_thread(self.gate.admits, team):
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

    def _signed(self, raw: bytes, headers: dict[str, str]) -> bool:
        assert self._verifier is not None
        try:
            return self._verifier.is_valid_request(raw, headers)
        except ValueError:  # a timestamp that is not a number
            return False

    def close(self) -> None:
        """Let queued work finish and stop the thread pools."""
        self._listeners.shutdown(wait=True)
        self.work.close()


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
