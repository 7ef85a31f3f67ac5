"""`servechain serve`: one aiohttp server for every chat front end, plus the delivery worker.

Routes: ``POST /slack/events`` (when Slack is configured), ``POST /api/messages`` (when
Teams is), ``GET /healthz``. Each front end adds its own routes and its notifier through
``add_routes(app, runtime)``; the delivery worker sends the outbox through all notifiers.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from bot.dburl import mask_db
from bot.delivery import Notifier, deliver_due
from bot.errors import StorageError
from bot.ports import Clock, Store
from bot.scheduler import JobContext, RunReport, Scheduler, default_registry, run_forever
from bot.settings import Settings
from storage import open_store

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The real clock (the only place ``serve`` reads it)."""
    return datetime.now(UTC)


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and what to set."""


class DeliveryWorker:
    """Background thread that delivers due outbox items; ``kick()`` wakes it at once."""

    def __init__(self, runtime: Runtime, *, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="servechain-delivery", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        """Deliver as soon as possible (after a command queued messages)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for the current pass to end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> None:
        """One delivery pass over everything due now."""
        runtime = self.runtime
        while True:
            report = deliver_due(store=runtime.store, notifiers=runtime.notifiers, now=runtime.clock())
            if report.sent + report.retried + report.failed == 0 or self._stop.is_set():
                return

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("delivery pass failed; will retry")
            self._wake.wait(self.interval)
            self._wake.clear()


class SchedulerThread:
    """Runs the scheduler (nudges, follow-ups, digests) every ``interval`` seconds in a thread.

    Every replica may run one: each send is claimed in storage first, so none goes out twice."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        context = JobContext(
            nudges=settings.nudges, hours=settings.working_hours, pulse=settings.pulse, digest=settings.digest
        )
        jobs = default_registry().build(context)
        self.runtime = runtime
        self.scheduler = Scheduler(store=runtime.store, jobs=jobs, workspace=settings.servechain_workspace)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _on_report(self, report: RunReport) -> None:
        if report.sent:
            self.runtime.kick()

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=run_forever,
                kwargs={
                    "scheduler": self.scheduler,
                    "clock": self.runtime.clock,
                    "stop": self._stop,
                    "interval": self.runtime.settings.scheduler_interval,
                    "on_report": self._on_report,
                },
                name="servechain-scheduler",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


@dataclass
class Runtime:
    """What the front ends share in one ``serve`` process."""

    settings: Settings
    store: Store
    clock: Clock = utcnow
    notifiers: list[Notifier] = field(default_factory=list)
    frontends: list[str] = field(default_factory=list)
    worker: DeliveryWorker | None = None

    def kick(self) -> None:
        """Wake the delivery worker, if one runs."""
        if self.worker is not None:
            self.worker.kick()


RUNTIME_KEY = web.AppKey("servechain_runtime", Runtime)


HEALTH_TIMEOUT = 1.0
"""Seconds ``/healthz`` waits for the store before answering 503."""


def _store_health(runtime: Runtime) -> int:
    """Raise unless the store can be written now; the number of pending outbox items."""
    runtime.store.ping()
    return runtime.store.count_outbox(runtime.settings.servechain_workspace, "pending")


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
    return web.json_response({"ok": True, "frontends": runtime.frontends, "outbox_pending": pending})


def build_web_app(settings: Settings, store: Store, *, clock: Clock = utcnow, deliver: bool = True) -> web.Application:
    """The aiohttp application with every configured front end's routes."""
    if not settings.slack_enabled and not settings.teams_enabled:
        raise ConfigError(
            "No chat front end is configured. Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, "
            "and/or MICROSOFT_APP_ID (or SERVECHAIN_TEAMS=1 for local development without auth) for Teams."
        )
    runtime = Runtime(settings=settings, store=store, clock=clock)
    app = web.Application(client_max_size=1024 * 1024)
    app[RUNTIME_KEY] = runtime
    app.router.add_get("/healthz", healthz)
    if settings.slack_enabled:
        from handlers.slack import add_routes as add_slack

        add_slack(app, runtime)
        runtime.frontends.append("slack")
    if settings.teams_enabled:
        from handlers.teams import add_routes as add_teams

        add_teams(app, runtime)
        runtime.frontends.append("teams")
    if deliver:
        worker = runtime.worker = DeliveryWorker(runtime)
        scheduler = SchedulerThread(runtime)

        async def start_worker(_app: web.Application) -> None:
            worker.start()
            scheduler.start()

        async def stop_worker(_app: web.Application) -> None:
            scheduler.stop()
            worker.stop()

        app.on_startup.append(start_worker)
        app.on_cleanup.append(stop_worker)
    return app


def main(settings: Settings, *, socket: bool = False, port: int | None = None, host: str | None = None) -> int:
    """Run the server until interrupted; returns the process exit code."""
    from handlers.redaction import mask_secrets_in_logs

    mask_secrets_in_logs(settings)
    try:
        store = open_store(settings.servechain_db)
    except StorageError as error:
        print(f"servechain: can't open the store {mask_db(settings.servechain_db)}: {error}", file=sys.stderr)
        return 1
    try:
        if socket:
            from handlers.slack import run_socket_mode

            return run_socket_mode(settings, store)
        try:
            app = build_web_app(settings, store)
        except ConfigError as error:
            log.error("%s", error)
            print(f"servechain: {error}")
            return 2
        runtime = app[RUNTIME_KEY]
        bind_port = settings.port if port is None else port
        bind_host = host or settings.host
        log.info(
            "front ends on: %s; store: %s; listening on %s:%s",
            ", ".join(runtime.frontends),
            mask_db(settings.servechain_db),
            bind_host,
            bind_port,
        )
        web.run_app(app, host=bind_host, port=bind_port, print=None, access_log=None)
        return 0
    finally:
        store.close()
