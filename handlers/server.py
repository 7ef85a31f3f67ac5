"""`servechain serve`: the aiohttp app every server mode runs: the front ends' routes and ``/healthz``.

HTTP mode serves ``POST /slack/events`` (when Slack is configured), ``POST /api/messages``
(when Teams is), ``GET /healthz`` (liveness), ``GET /readyz`` (readiness) and, in ``serve``,
``GET /metrics`` (Prometheus). On SIGTERM (or SIGINT) :func:`serve` drains: ``/readyz`` answers
503 first, ``SHUTDOWN_DRAIN_SECONDS`` later it stops listening, waits up to
``SHUTDOWN_GRACE_SECONDS`` for requests in flight and acknowledged work, and exits 0.

Socket Mode (``--socket``) is the same process with Slack
over its websocket instead of ``/slack/events``: the same runtime (delivery worker, scheduler)
and the same ``/healthz`` on ``PORT``/``HOST``. The runtime itself is :mod:`handlers.runtime`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time

from aiohttp import web

from bot import charts
from bot.dburl import mask_db
from bot.errors import StorageError
from bot.ports import NO_TELEMETRY, Clock, Store
from bot.scheduler import RunReport
from bot.settings import Settings
from handlers import delivery_process
from handlers.charts import ChartDrawer
from handlers.frontend import FrontEnd
from handlers.observability import (
    CONTENT_TYPE,
    InstrumentedNotifier,
    InstrumentedStore,
    Metrics,
    Readiness,
    metrics_middleware,
    quiet_startup_noise,
)
from handlers.runtime import ConfigError, Runtime, StartError, utcnow
from storage import open_store

log = logging.getLogger(__name__)

RUNTIME_KEY = web.AppKey("servechain_runtime", Runtime)
DASHBOARD_KEY = web.AppKey("servechain_dashboard", str)
"""What the start-up line says about ``/dashboard``: where it is served, or that it is off and why."""
READINESS_KEY = web.AppKey("servechain_readiness", Readiness)
METRICS_KEY = web.AppKey("servechain_metrics", Metrics)
GRACE_KEY = web.AppKey("servechain_grace_seconds", list)
"""``[seconds]`` the runtime may take to stop, set when a shutdown starts (a list: the app is frozen by then)."""

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
    body = {"ok": True, "frontends": runtime.frontend_names, "outbox_pending": pending, "store": store_health}
    delivery = getattr(runtime.worker, "health", None)  # a delivery process: its pid and restarts
    if callable(delivery):
        body["delivery"] = delivery()
    return web.json_response(body)


def _unready_reasons(runtime: Runtime) -> list[str]:
    """Why this replica can't serve now (empty: it can): the store can't be written, or its
    schema is behind this version's migrations."""
    reasons: list[str] = []
    try:
        runtime.store.ping()
    except Exception as error:
        log.warning("readiness: store unavailable: %s", error)
        return ["store unavailable"]
    store = getattr(runtime.store, "wrapped", runtime.store)
    if type(store).__name__ == "PostgresStore":
        from storage.postgres import migrations, schema_version

        latest = max((version for version, _name, _sql in migrations()), default=0)
        with store.pool.connection(timeout=HEALTH_TIMEOUT) as conn:  # type: ignore[union-attr]
            current = schema_version(conn)
        if current < latest:
            reasons.append(f"schema at migration {current}, this version needs {latest} (run servechain db upgrade)")
    return reasons


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when this replica should get traffic: not shutting down, front ends
    configured and started, the store writable and its schema current (answered within a second)."""
    runtime = request.app[RUNTIME_KEY]
    readiness = request.app[READINESS_KEY]
    metrics = request.app.get(METRICS_KEY)
    reasons: list[str] = []
    if readiness.draining:
        reasons.append("shutting down")
    elif not runtime.frontends:
        reasons.append("no front end configured")
    else:
        try:
            reasons = await asyncio.wait_for(asyncio.to_thread(_unready_reasons, runtime), HEALTH_TIMEOUT)
        except TimeoutError:
            reasons = ["store did not answer in time"]
        except Exception as error:
            log.warning("readiness: %s", error)
            reasons = ["store unavailable"]
    if metrics is not None:
        metrics.ready.set(0 if reasons else 1)
    if reasons:
        return web.json_response({"ready": False, "reasons": reasons}, status=503)
    return web.json_response({"ready": True, "frontends": runtime.frontend_names})


async def metrics_endpoint(request: web.Request) -> web.Response:
    """The Prometheus text exposition (queue depths read from the store, within a second)."""
    metrics = request.app[METRICS_KEY]
    try:
        body = await asyncio.wait_for(asyncio.to_thread(metrics.render), HEALTH_TIMEOUT * 2)
    except TimeoutError:
        return web.Response(status=503, text="metrics: the store did not answer in time\n")
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def instrument(runtime: Runtime, metrics: Metrics, raw_store: Store) -> None:
    """Wire ``metrics`` into a runtime built on an :class:`InstrumentedStore` over ``raw_store``:
    count deliveries, see the inbox, the queues and the scheduler's passes."""
    runtime.notifiers[:] = [InstrumentedNotifier(n, metrics) for n in runtime.notifiers]
    runtime.inbox.telemetry = metrics
    metrics.watch_queues(raw_store, runtime.workspace, runtime.clock)
    metrics.info.labels(",".join(runtime.frontend_names), type(raw_store).__name__).set(1)
    scheduler_thread = runtime.scheduler_thread
    report_on = scheduler_thread._on_report

    def on_report(report: RunReport) -> None:
        seconds = max(0.0, (runtime.clock() - report.now).total_seconds())
        metrics.scheduler_pass(jobs=[job.name for job in report.jobs], errors=report.errors, seconds=seconds)
        report_on(report)

    scheduler_thread._on_report = on_report  # type: ignore[method-assign]


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
    settings: Settings,
    store: Store,
    *,
    clock: Clock = utcnow,
    deliver: bool = True,
    socket: bool = False,
    metrics: Metrics | None = None,
) -> web.Application:
    """The aiohttp application with the runtime and every configured front end mounted. With
    ``deliver`` the runtime starts with the app (worker, scheduler, Socket Mode); without it the
    caller drives delivery (tests). The front ends are closed with the app either way. With
    ``metrics`` (``serve`` passes one) everything is measured and ``GET /metrics`` serves it."""
    measured = InstrumentedStore(store, metrics) if metrics is not None else store
    runtime = Runtime(
        settings=settings,
        store=measured,  # type: ignore[arg-type]
        clock=clock,
        telemetry=metrics if metrics is not None else NO_TELEMETRY,
    )
    for frontend in configured_frontends(runtime, socket=socket):
        runtime.attach(frontend)
    if metrics is not None:
        instrument(runtime, metrics, store)
    app = web.Application(
        client_max_size=1024 * 1024, middlewares=[metrics_middleware(metrics)] if metrics is not None else []
    )
    app[RUNTIME_KEY] = runtime
    app[READINESS_KEY] = Readiness()
    app[GRACE_KEY] = [30.0]
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics is not None:
        app[METRICS_KEY] = metrics
        app.router.add_get("/metrics", metrics_endpoint)
    for frontend in runtime.frontends:
        frontend.mount(app)
    mount_dashboard(app, runtime)

    async def start(_app: web.Application) -> None:
        await asyncio.to_thread(runtime.start)

    async def stop(app: web.Application) -> None:
        await asyncio.to_thread(stop_within, runtime, app[GRACE_KEY][0])

    if deliver:
        app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


DASHBOARD_OFF = (
    "off; to serve it behind sign-in set DASHBOARD_SESSION_SECRET and "
    "DASHBOARD_SLACK_CLIENT_ID/DASHBOARD_SLACK_CLIENT_SECRET (Sign in with Slack) and/or "
    "DASHBOARD_ENTRA_TENANT_ID/DASHBOARD_ENTRA_CLIENT_ID/DASHBOARD_ENTRA_CLIENT_SECRET (Microsoft Entra ID); "
    "to look at it locally without sign-in: servechain dashboard --as <handle>"
)


def mount_dashboard(app: web.Application, runtime: Runtime) -> bool:
    """Serve the dashboard at ``/dashboard`` behind OpenID Connect sign-in
    (:class:`handlers.dashboard.oidc.OidcAuth`) when its settings are complete; otherwise leave
    ``/dashboard`` a 404. Either way ``app[DASHBOARD_KEY]`` says which, for the one start-up line
    (with what to set when it is off); a half-done configuration is also a warning, since that is
    a mistake to fix rather than a choice. True when mounted."""
    from handlers.dashboard import mount
    from handlers.dashboard.oidc import OidcAuth, sign_in_configured

    settings = runtime.settings
    problem = sign_in_configured(settings)
    if problem is not None:
        started = settings.dashboard_session_secret.get_secret_value() or any(
            (settings.dashboard_slack_client_id, settings.dashboard_entra_client_id)
        )
        if started:
            log.warning("dashboard: /dashboard is off: %s", problem)
            app[DASHBOARD_KEY] = f"off: {problem}"
        else:
            app[DASHBOARD_KEY] = DASHBOARD_OFF
        return False
    auth = OidcAuth(runtime.store, settings, clock=runtime.clock)
    mount(
        app,
        store=runtime.store,
        workspace=runtime.workspace,
        auth=auth,
        clock=runtime.clock,
        hours=settings.working_hours,
        pulse_settings=settings.pulse,
    )

    async def close_sign_in(_app: web.Application) -> None:
        await auth.close()

    app.on_cleanup.append(close_sign_in)
    app[DASHBOARD_KEY] = f"at /dashboard behind sign-in ({', '.join(auth.providers)})"
    return True


def stop_within(runtime: Runtime, seconds: float) -> bool:
    """Stop the runtime (front ends finish the work they acknowledged, then the inbox, scheduler
    and delivery threads end their passes), waiting at most ``seconds``; False when time ran out
    (what is left is taken over by another replica, or this one's next life, when its leases run out)."""
    stopper = threading.Thread(target=runtime.stop, name="servechain-stop", daemon=True)
    stopper.start()
    stopper.join(max(0.1, seconds))
    if stopper.is_alive():
        log.warning("shutdown: work still running after %.0f s; leaving it to the other replicas", seconds)
        return False
    return True


async def run_until_stopped(app: web.Application, *, host: str, port: int, drain: float, grace: float) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then shut down in order: readiness false, ``drain``
    seconds later stop listening, wait up to ``grace`` for requests in flight and the runtime."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=grace)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        app[READINESS_KEY].drain()
        started = time.monotonic()
        log.info("shutting down: /readyz answers 503; still accepting requests for %.1f s", drain)
        stopping.clear()
        with contextlib.suppress(TimeoutError):  # a second signal cuts the drain short
            await asyncio.wait_for(stopping.wait(), drain)
        log.info("shutting down: no longer accepting requests; finishing work (up to %.0f s)", grace)
        app[GRACE_KEY][0] = max(1.0, grace - (time.monotonic() - started - drain))
    finally:
        await runner.cleanup()  # stops listening, waits for requests in flight, then stops the runtime
    log.info("stopped")


def serve(
    settings: Settings,
    store: Store,
    *,
    socket: bool = False,
    port: int | None = None,
    host: str | None = None,
    metrics: Metrics | None = None,
) -> int:
    """Run the server on ``store`` until SIGTERM or SIGINT, with metrics; returns the exit code
    (0 after a graceful shutdown)."""
    metrics = metrics or Metrics()
    try:
        app = build_web_app(settings, store, socket=socket, metrics=metrics)
    except ConfigError as error:
        log.error("%s", error)
        print(f"servechain: {error}")
        return 2
    runtime = app[RUNTIME_KEY]
    drawer = ChartDrawer()  # digests' charts: drawn aside, at a lower priority (handlers/charts.py)
    charts.draw_with(drawer.png)
    if delivery_process.wanted(settings):
        runtime.worker = delivery_process.DeliveryProcess(runtime, metrics=metrics, socket=socket)
    try:
        runtime.start()  # before serving, so a Socket Mode that can't connect says so and exits
    except StartError as error:
        print(f"servechain: {error}")
        return 1
    bind_port = settings.port if port is None else port
    bind_host = host or settings.host
    log.info(
        "front ends on: %s%s; store: %s; %s on %s:%s; dashboard %s",
        ", ".join(runtime.frontend_names),
        " (Slack over Socket Mode)" if socket else "",
        mask_db(settings.servechain_db),
        "health endpoint" if socket and not settings.teams_enabled else "listening",
        bind_host,
        bind_port,
        app.get(DASHBOARD_KEY, "off"),
    )
    try:
        asyncio.run(
            run_until_stopped(
                app,
                host=bind_host,
                port=bind_port,
                drain=settings.shutdown_drain_seconds,
                grace=settings.shutdown_grace_seconds,
            )
        )
    finally:
        stop_within(runtime, settings.shutdown_grace_seconds)
        charts.draw_with(None)
        drawer.close()
    return 0


def main(settings: Settings, *, socket: bool = False, port: int | None = None, host: str | None = None) -> int:
    """``servechain serve``: open the store, serve until interrupted; returns the exit code."""
    from handlers.redaction import mask_secrets_in_logs

    mask_secrets_in_logs(settings)
    quiet_startup_noise()
    try:
        # With a delivery process the server's pool serves commands only (see POOL_SIZE there).
        pool = delivery_process.SERVER_POOL_SIZE if delivery_process.wanted(settings) else None
        store = open_store(settings.servechain_db, pool_size=pool)
    except StorageError as error:
        print(f"servechain: can't open the store {mask_db(settings.servechain_db)}: {error}", file=sys.stderr)
        return 1
    try:
        return serve(settings, store, socket=socket, port=port, host=host)
    finally:
        store.close()
