"""`servechain serve`: the aiohttp app every server mode runs: the front ends' routes and ``/healthz``.

HTTP mode serves ``POST /slack/events`` (when Slack is configured), ``POST /api/messages``
(when Teams is) and ``GET /healthz``. Socket Mode (``--socket``) is the same process with Slack
over its websocket instead of ``/slack/events``: the same runtime (delivery worker, scheduler)
and the same ``/healthz`` on ``PORT``/``HOST``. The runtime itself is :mod:`handlers.runtime`.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from bot.dburl import mask_db
from bot.errors import StorageError
from bot.ports import Clock, Store
from bot.settings import Settings
from handlers.frontend import FrontEnd
from handlers.runtime import ConfigError, Runtime, StartError, utcnow
from storage import open_store

log = logging.getLogger(__name__)

RUNTIME_KEY = web.AppKey("servechain_runtime", Runtime)

NO_FRONT_END = (
    "No chat front end is configured. Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, "
    "and/or MICROSOFT_APP_ID (or SERVECHAIN_TEAMS=1 for local development without auth) for Teams."
)


HEALTH_TIMEOUT = 1.0
"""Seconds ``/healthz`` waits for the store before answering 503."""


def _store_health(runtime: Runtime) -> int:
    """Raise unless the store can be written now; the number of pending outbox items."""
    runtime.store.ping()
    return runtime.store.count_outbox(runtime.workspace, "pending")


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: the store can be written (answered within a second) and which
    front ends are on."""
    runtime = request.app[RUNTIME_KEY]
    try:
        pending = await asyncio.wait_for(asyncio.to_thread(_store_health, runtime), HEALTH_TIMEOUT)
    except Exception as error:  # a storage fault or a slow store makes us unready, with the reason
        reason = "store did not answer in time" if isinstance(error, TimeoutError) else str(error)
        log.warning("health check: store unavailable: %s", reason)
        return web.json_response({"ok": False, "error": "store unavailable"}, status=503)
    health = getattr(runtime.store, "health", None)  # the embedded store reports damage found
    store_health = await asyncio.to_thread(health) if callable(health) else None
    return web.json_response(
        {"ok": True, "frontends": runtime.frontend_names, "outbox_pending": pending, "store": store_health}
    )


def configured_frontends(runtime: Runtime, *, socket: bool = False) -> list[FrontEnd]:
    """The front ends the settings turn on (Slack over Socket Mode with ``socket``); ConfigError
    naming what to set when none is, or one is misconfigured."""
    settings = runtime.settings
    frontends: list[FrontEnd] = []
    if socket or settings.slack_enabled:
        from handlers.slack import SlackFrontEnd

        frontends.append(SlackFrontEnd.for_runtime(runtime, socket=socket))
    if settings.teams_enabled:
        from handlers.teams import TeamsFrontEnd

        frontends.append(TeamsFrontEnd(runtime))
    if not frontends:
        raise ConfigError(NO_FRONT_END)
    return frontends


def build_web_app(
    settings: Settings, store: Store, *, clock: Clock = utcnow, deliver: bool = True, socket: bool = False
) -> web.Application:
    """The aiohttp application with the runtime and every configured front end mounted. With
    ``deliver`` the runtime starts with the app (worker, scheduler, Socket Mode); without it the
    caller drives delivery (tests). The front ends are closed with the app either way."""
    runtime = Runtime(settings=settings, store=store, clock=clock)
    for frontend in configured_frontends(runtime, socket=socket):
        runtime.attach(frontend)
    app = web.Application(client_max_size=1024 * 1024)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/healthz", healthz)
    for frontend in runtime.frontends:
        frontend.mount(app)

    async def start(_app: web.Application) -> None:
        await asyncio.to_thread(runtime.start)

    async def stop(_app: web.Application) -> None:
        await asyncio.to_thread(runtime.stop)

    if deliver:
        app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def serve(
    settings: Settings, store: Store, *, socket: bool = False, port: int | None = None, host: str | None = None
) -> int:
    """Run the server on ``store`` until interrupted; returns the process exit code."""
    try:
        app = build_web_app(settings, store, socket=socket)
    except ConfigError as error:
        log.error("%s", error)
        print(f"servechain: {error}")
        return 2
    runtime = app[RUNTIME_KEY]
    try:
        runtime.start()  # before serving, so a Socket Mode that can't connect says so and exits
    except StartError as error:
        print(f"servechain: {error}")
        return 1
    bind_port = settings.port if port is None else port
    bind_host = host or settings.host
    log.info(
        "front ends on: %s%s; store: %s; %s on %s:%s",
        ", ".join(runtime.frontend_names),
        " (Slack over Socket Mode)" if socket else "",
        mask_db(settings.servechain_db),
        "health endpoint" if socket and not settings.teams_enabled else "listening",
        bind_host,
        bind_port,
    )
    try:
        web.run_app(app, host=bind_host, port=bind_port, print=None, access_log=None)
    finally:
        runtime.stop()
    return 0


def main(settings: Settings, *, socket: bool = False, port: int | None = None, host: str | None = None) -> int:
    """``servechain serve``: open the store, serve until interrupted; returns the exit code."""
    from handlers.redaction import mask_secrets_in_logs

    mask_secrets_in_logs(settings)
    try:
        store = open_store(settings.servechain_db)
    except StorageError as error:
        print(f"servechain: can't open the store {mask_db(settings.servechain_db)}: {error}", file=sys.stderr)
        return 1
    try:
        return serve(settings, store, socket=socket, port=port, host=host)
    finally:
        store.close()
