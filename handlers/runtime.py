"""The one runtime of a servechain process: settings, store, clock, the front ends' notifiers,
the delivery worker and the scheduler, with ``start()`` and ``stop()``.

HTTP mode and Socket Mode (:mod:`handlers.server`) and the console (:mod:`handlers.console`)
all build this object and attach their front ends to it (:meth:`Runtime.attach`); nothing
else assembles a worker or a scheduler. The front ends import this module, never the server.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.delivery import DeliveryReport, Dispatcher, deliver_due
from bot.inbox import InboxRunner, new_owner
from bot.jobs import JobContext, default_registry
from bot.ports import NO_TELEMETRY, Clock, Notifier, Store, Telemetry
from bot.ratelimit import PLATFORM_RULES, RateLimiter, shared_by
from bot.scheduler import RunReport, Scheduler, run_forever
from bot.settings import Settings
from handlers.directory import directory_from_settings
from handlers.frontend import FrontEnd

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The real clock (the only place a server process reads it)."""
    return datetime.now(UTC)


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and what to set."""


class StartError(Exception):
    """A front end could not start (e.g. Socket Mode could not connect); the message says why."""


class Delivery(Protocol):
    """What sends the outbox for a server: :class:`DeliveryWorker` (threads in this process) or
    :class:`handlers.delivery_process.DeliveryProcess` (a process of its own)."""

    def start(self) -> None:
        """Start sending (idempotent)."""
        ...

    def kick(self) -> None:
        """Something was queued: send it as soon as possible."""
        ...

    def stop(self) -> None:
        """Stop; sends in flight finish."""
        ...


class DeliveryWorker:
    """Background thread that delivers due outbox items through a :class:`bot.delivery.Dispatcher`
    (``DELIVERY_CONCURRENCY`` sends at once, within the platforms' rate limits); ``kick()`` wakes
    it at once."""

    def __init__(self, runtime: Runtime, *, interval: float = 1.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dispatcher: Dispatcher | None = None

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._dispatcher = Dispatcher(
                store=self.runtime.store,
                notifiers=self.runtime.notifiers,
                clock=self.runtime.clock,
                concurrency=self.runtime.settings.delivery_concurrency,
                limiter=self.runtime.limiter,
                telemetry=self.runtime.telemetry,
            )
            self._thread = threading.Thread(target=self._run, name="servechain-delivery", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        """Deliver as soon as possible (after a command queued messages)."""
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.wake()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for the sends in flight to end."""
        self._stop.set()
        self.kick()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> None:
        """Delivery passes until nothing more is due now (for a front end driving delivery itself)."""
        while True:
            report = self.runtime.deliver_due()
            if report.sent + report.retried + report.failed == 0 or self._stop.is_set():
                return

    def _run(self) -> None:
        dispatcher = self._dispatcher
        assert dispatcher is not None
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    dispatcher.drain(stop=self._stop)
                except Exception:
                    log.exception("delivery pass failed; will retry")
                self._wake.wait(self.interval)
        finally:
            dispatcher.close()


class SchedulerThread:
    """Runs the runtime's scheduler (nudges, pulse, digests) every ``SCHEDULER_INTERVAL`` seconds.

    Every replica may run one: each send is claimed in storage first, so none goes out twice."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _on_report(self, report: RunReport) -> None:
        if report.sent:
            self.runtime.kick()

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=run_forever,
                kwargs={
                    "scheduler": self.runtime.scheduler,
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


class InboxThread:
    """Takes over acknowledged work whose holder's lease ran out (a process that died after the
    acknowledgement, or a stuck one) and runs it; see :mod:`bot.inbox`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.interval = min(2.0, runtime.settings.inbox_lease_seconds / 4)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop (idempotent); the first pass runs at once, so a restart finishes
        what its previous life acknowledged as soon as those leases run out."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="servechain-inbox", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.runtime.inbox.recover() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("inbox pass failed; will retry")
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class Runtime:
    """What the front ends of one process share, and the background work they need.

    With ``background`` (servers) :meth:`start` runs the delivery worker and the scheduler in
    threads; without it (the console) the front end drives both itself, at its own clock, with
    :meth:`deliver_due` and :meth:`run_scheduler`."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock = utcnow,
        background: bool = True,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.background = background
        self.telemetry = telemetry
        """Where front ends report the platform calls they make (metrics in ``serve``)."""
        self.frontends: list[FrontEnd] = []
        self.notifiers: list[Notifier] = []
        context = JobContext(
            nudges=settings.nudges,
            hours=settings.working_hours,
            pulse=settings.pulse,
            digest=settings.digest,
            directory=directory_from_settings(settings, settings.org_sync, telemetry=telemetry)
            if settings.org_sync
            else None,
            org_file=Path(settings.org_sync_file) if settings.org_sync_file else None,
            org_sync_hour=settings.org_sync_hour,
            retention_days=settings.retention_days,
        )
        self.scheduler = Scheduler(
            store=store, jobs=default_registry().build(context), workspace=settings.servechain_workspace
        )
        self.inbox = InboxRunner(
            store=store,
            clock=clock,
            accept_lease=timedelta(seconds=settings.inbox_lease_seconds),
            owner=new_owner(settings.servechain_replica or socket.gethostname()),
        )
        """Front ends store acknowledged work here and register a handler per kind."""
        self.limiter = (
            RateLimiter(shared_by(PLATFORM_RULES, settings.delivery_replicas))
            if settings.delivery_rate_limits
            else None
        )
        """Slack's and Teams' published limits, shared by every send of this process (its share of the
        workspace and tenant budgets when ``DELIVERY_REPLICAS`` replicas send at once)."""
        self.worker: Delivery | None = DeliveryWorker(self)
        """What sends the outbox (the server may put a delivery process in its place)."""
        self.scheduler_thread = SchedulerThread(self)
        self.inbox_thread = InboxThread(self)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def workspace(self) -> str:
        """The workspace every record of this process belongs to."""
        return self.settings.servechain_workspace

    @property
    def frontend_names(self) -> list[str]:
        """The attached front ends' names, e.g. ``["slack", "teams"]``."""
        return [frontend.name for frontend in self.frontends]

    def attach(self, frontend: FrontEnd) -> None:
        """Add a front end: its notifier joins delivery; :meth:`start` and :meth:`stop` include it."""
        self.frontends.append(frontend)
        self.notifiers.append(frontend.notifier)

    def kick(self) -> None:
        """Wake the delivery worker, if one runs."""
        if self.worker is not None:
            self.worker.kick()

    def deliver_due(self, *, limit: int = 100, concurrency: int | None = None) -> DeliveryReport:
        """One delivery pass over what is due at the runtime's clock, through every notifier,
        ``DELIVERY_CONCURRENCY`` at a time (the console and tests drive delivery this way; the
        rate limiter, on a real clock, is left to the background worker)."""
        return deliver_due(
            store=self.store,
            notifiers=self.notifiers,
            now=self.clock(),
            limit=limit,
            concurrency=concurrency or self.settings.delivery_concurrency,
        )

    def run_scheduler(self) -> RunReport:
        """One scheduler pass at the runtime's clock (the console's ``tick``)."""
        return self.scheduler.run_due(self.clock())

    def start(self) -> None:
        """Start the front ends' own loops, and the worker and the scheduler when in the background
        (idempotent). A front end that can't start stops what was started and raises StartError."""
        with self._lock:
            if self._started:
                return
            self._started = True
        try:
            for frontend in self.frontends:
                frontend.start()
        except Exception:
            self.stop()
            raise
        if self.background:
            if self.worker is not None:
                self.worker.start()
            self.scheduler_thread.start()
            self.inbox_thread.start()
            # What a server holds by now (modules, the app, the store) lives as long as the
            # process: keep it out of the cyclic collector's full passes, which otherwise walk it
            # all every so often (30-100 ms pauses in the middle of a request; with it frozen,
            # under 5 ms in benchmarks/storage_bench.py). stop() hands it back.
            gc.freeze()

    def stop(self) -> None:
        """Hand back acknowledged work not yet started (another replica takes it at once), close
        the front ends (no new work comes in; what runs finishes), then stop the scheduler and
        the worker (idempotent)."""
        with self._lock:
            frontends = [] if self._closed else list(reversed(self.frontends))
            self._closed = True
        if self.background:
            self.inbox.close()
        for frontend in frontends:
            try:
                frontend.close()
            except Exception:
                log.exception("closing the %s front end failed", frontend.name)
        self.inbox_thread.stop()
        self.scheduler_thread.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.background and self._started:
            gc.unfreeze()


__all__ = [
    "ConfigError",
    "Delivery",
    "DeliveryWorker",
    "InboxThread",
    "Runtime",
    "SchedulerThread",
    "StartError",
    "utcnow",
]
