"""Slack front end on slack-bolt: ``add_routes`` for ``servechain serve`` (HTTP) and
``run_socket_mode`` for ``servechain serve --socket``."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.ports import Store
from bot.settings import Settings
from handlers.server import ConfigError, DeliveryWorker, Runtime
from handlers.slack.frontend import SlackConfigError, SlackFrontEnd

log = logging.getLogger(__name__)

SLACK_KEY = web.AppKey("servechain_slack", SlackFrontEnd)
"""Where the running Slack front end is kept on the aiohttp app (tests reach it here)."""

EVENTS_PATH = "/slack/events"


def add_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve ``POST /slack/events`` and deliver the outbox to Slack users."""
    try:
        frontend = SlackFrontEnd(runtime.settings, runtime.store, clock=runtime.clock, kick=runtime.kick)
    except SlackConfigError as error:
        raise ConfigError(str(error)) from None
    app[SLACK_KEY] = frontend
    app.router.add_post(EVENTS_PATH, frontend.handle)
    runtime.notifiers.append(frontend.notifier)

    async def close(_app: web.Application) -> None:
        frontend.close()

    app.on_cleanup.append(close)


def run_socket_mode(settings: Settings, store: Store) -> int:
    """Serve Slack over Socket Mode (needs SLACK_APP_TOKEN); returns the exit code."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    if not app_token.startswith("xapp-"):
        message = "Socket Mode needs SLACK_APP_TOKEN set to an app-level token (xapp-...) with connections:write."
        log.error("%s", message)
        print(f"servechain: {message}")
        return 2
    runtime = Runtime(settings=settings, store=store)
    runtime.worker = DeliveryWorker(runtime)
    try:
        frontend = SlackFrontEnd(settings, store, clock=runtime.clock, kick=runtime.kick, socket=True)
    except SlackConfigError as error:
        log.error("%s", error)
        print(f"servechain: {error}")
        return 2
    runtime.notifiers.append(frontend.notifier)
    runtime.frontends.append("slack")
    runtime.worker.start()
    log.info("front ends on: slack (Socket Mode)")
    try:
        SocketModeHandler(frontend.bolt, app_token).start()
    finally:
        runtime.worker.stop()
        frontend.close()
    return 0


__all__ = ["EVENTS_PATH", "SLACK_KEY", "SlackFrontEnd", "add_routes", "run_socket_mode"]
