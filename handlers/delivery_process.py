"""Delivery in a process of its own beside ``servechain serve`` (``DELIVERY_PROCESS``).

Python runs one thread at a time per process. At 100 commands a second on PostgreSQL one
``serve`` needs about 1.1 cores of Python (acks, commands and 64 sends in flight), so the
acks and the sends queued for the one lock (benchmarks/delivery_bench.py; the figures are in
docs/operations.md, "Delivery in a process of its own"). With this on, ``serve`` starts a
second process that only sends the outbox; the first keeps the HTTP routes, the commands, the
scheduler, the inbox and App Home refreshes. Each has a core.

Why a process of our own making rather than ``concurrent.futures.ProcessPoolExecutor`` or a
second ``serve``: the delivery process must live as long as the server, be started again when
it dies, be woken within milliseconds when a command queues a card, and report its counts to the
server's ``/metrics``. A pool runs tasks, not a loop; a second replica would also run commands
and the scheduler, and two of them need twice PostgreSQL's connections. The outbox already
makes sending safe from any number of processes (leases, compare-and-set, Slack's message
metadata), so nothing here has to guard against sending twice.

- **Waking.** The server writes one byte into a pipe after each change that queued messages
  (:meth:`DeliveryProcess.kick`, a non-blocking write: a full pipe means the process is awake
  already); the delivery process wakes its dispatcher at each. Without a byte it still looks
  every second, as the in-process worker does.
- **Stopping.** SIGTERM from the server: the dispatcher stops as the in-process worker does
  (sends in flight finish, sends waiting for their turn go back to the outbox). The process
  also ends when the server dies: Linux kills it with its parent (``PR_SET_PDEATHSIG``), and
  elsewhere the pipe's end-of-file stops it. Whatever it held goes back when its leases run
  out, as after any crash.
- **Dying.** The server starts another at once, then after 1, 2, 4 ... 30 seconds while it keeps
  dying, and logs each exit as an error; ``/healthz`` shows the process and its restarts.
- **Priority.** It runs at a lower priority (``nice`` +:data:`NICENESS`): when the machine
  is short of CPU, acks and commands go first.
- **Metrics.** The delivery process counts what it does (sends, platform calls, store
  operations) in its own :class:`handlers.observability.Metrics` and sends the counts to the
  server every second; ``/metrics`` adds them in (:meth:`Metrics.absorb`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from bot.dburl import is_postgres
from bot.settings import Settings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from bot.ports import Notifier, Store
    from handlers.observability import Metrics
    from handlers.runtime import Runtime

log = logging.getLogger(__name__)

REPORT_EVERY = 1.0
"""Seconds between the delivery process's metric reports."""

STOP_GRACE = 8.0
"""Seconds the delivery process gets to stop after SIGTERM (sends in flight finish) before it is killed."""

RESTART_BACKOFF = (1.0, 30.0)
"""First and longest wait before starting another delivery process after one died."""

POOL_SIZE = 16
"""PostgreSQL connections the delivery process may open: each of its 64 sends holds one for a
statement at a time, never while the platform answers; it needs no quick ones (acks, request
numbers and ``/healthz`` are the server's), so it keeps one."""

NICENESS = 2
"""How much less CPU the delivery process asks for than the server when both want it: acks
have a deadline (Slack gives three seconds, people watch for them); a card a few milliseconds
later is not noticed. On a saturated machine (``benchmarks/delivery_bench.py``, one replica on
PostgreSQL at 100 commands/s, 88% busy) ack p99 went from 110-132 ms to 74-96 ms with card
p99 1.35-2.10 s (was 1.28-1.65 s); at 5 acks were faster still but 105 digests' charts,
drawn in this process, then held cards back for 27 s."""

SERVER_POOL_SIZE = 24
"""The server's own pool beside a delivery process (32 without one): commands only. A replica
then peaks at 24 + 4 quick + 16 + 1 = 45 connections, so two fit in PostgreSQL's default
``max_connections`` of 100 (two at 32 + 4 + 16 + 4 did not: the benchmark ran out)."""


def wanted(settings: Settings) -> bool:
    """Whether ``DELIVERY_PROCESS`` asks for a delivery process with this store (auto: PostgreSQL only)."""
    if settings.delivery_process == "auto":
        return is_postgres(settings.servechain_db)
    return settings.delivery_process == "on"


class DeliveryProcess:
    """The server's side: start, wake, watch, restart and stop the delivery process. It takes
    the place of :class:`handlers.runtime.DeliveryWorker` in the runtime (same ``start``,
    ``kick``, ``stop``)."""

    def __init__(self, runtime: Runtime, *, metrics: Metrics | None = None, socket: bool = False) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.socket = socket
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._process: BaseProcess | None = None
        self._wake: Connection | None = None
        self._wake_lock = threading.Lock()
        self._up = threading.Event()

    @property
    def pid(self) -> int | None:
        """The running delivery process's id (None between lives)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` shows: the process's id (null while it is being started again) and restarts."""
        return {"process": self.pid, "restarts": self.restarts}

    def start(self, *, wait_up: float = 30.0) -> None:
        """Start the delivery process and watch it (idempotent); waits up to ``wait_up`` seconds
        for it to be sending, so a ``serve`` that answers is one that delivers."""
        if self._supervisor is not None:
            return
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="servechain-delivery-process", daemon=True)
        self._supervisor.start()
        if not self._up.wait(wait_up):
            log.warning("the delivery process has not started after %.0f s; still trying", wait_up)

    def kick(self) -> None:
        """Wake the delivery process (never blocks: a full pipe means it is awake already)."""
        with self._wake_lock, contextlib.suppress(BlockingIOError, OSError):
            if self._wake is not None:
                os.write(self._wake.fileno(), b"k")

    def stop(self, timeout: float = STOP_GRACE + 2.0) -> None:
        """Ask the delivery process to stop (SIGTERM), kill it if it hasn't within
        :data:`STOP_GRACE`, and stop watching it."""
        self._stop.set()
        process = self._process
        if process is not None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            self._supervisor = None

    # -------------------------------------------------------------- the watching thread

    def _supervise(self) -> None:
        backoff = RESTART_BACKOFF[0]
        generation = 0
        while not self._stop.is_set():
            generation += 1
            started = time.monotonic()
            try:
                process, reports = self._spawn()
            except Exception:
                log.exception("couldn't start the delivery process; trying again in %.0f s", backoff)
            else:
                self._watch(process, reports, generation)
                if self._stop.is_set():
                    break
                self.restarts += 1
                log.error(
                    "the delivery process (pid %s) exited with code %s; starting another in %.0f s",
                    process.pid,
                    process.exitcode,
                    backoff if time.monotonic() - started < 60 else RESTART_BACKOFF[0],
                )
                if time.monotonic() - started >= 60:  # it ran a while: a crash, not a crash loop
                    backoff = RESTART_BACKOFF[0]
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, RESTART_BACKOFF[1])
        self._swap_wake(None)
        self._process = None

    def _spawn(self) -> tuple[BaseProcess, Connection]:
        wake_read, wake_write = self._context.Pipe(duplex=False)
        report_read, report_write = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=child_main,
            args=(self.runtime.settings, wake_read, report_write, _log_setup(), self.socket, os.getpid()),
            name="servechain-delivery",
            daemon=False,
        )
        process.start()
        wake_read.close()  # the child's ends: closed here so each side sees the other's end-of-file
        report_write.close()
        os.set_blocking(wake_write.fileno(), False)
        self._swap_wake(wake_write)
        self._process = process
        log.info("delivery runs in a process of its own (pid %s)", process.pid)
        return process, report_read

    def _swap_wake(self, new: Connection | None) -> None:
        """Kicks go to ``new`` from now on; the previous pipe is closed (under the lock, so a kick
        never writes to a descriptor number reused since)."""
        with self._wake_lock:
            old, self._wake = self._wake, new
            if old is not None:
                old.close()

    def _watch(self, process: BaseProcess, reports: Connection, generation: int) -> None:
        """Take the process's reports until it exits; on stop, kill it after :data:`STOP_GRACE`."""
        deadline: float | None = None
        try:
            while True:
                if self._stop.is_set() and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE
                    process.terminate()  # SIGTERM (again, if stop() sent it already): stop in order
                if deadline is not None and time.monotonic() > deadline and process.is_alive():
                    log.warning("the delivery process did not stop within %.0f s; killing it", STOP_GRACE)
                    process.kill()
                ready = wait([process.sentinel, reports], timeout=0.5)
                if reports in ready:
                    try:
                        kind, body = reports.recv()
                    except (EOFError, OSError):
                        reports.close()
                        process.join()
                        return
                    if kind == "up":
                        self._up.set()
                    elif kind == "counts" and self.metrics is not None:
                        self.metrics.absorb(("delivery", generation), body)
                elif process.sentinel in ready:
                    process.join()
                    return
        finally:
            with contextlib.suppress(OSError):
                reports.close()


def _log_setup() -> dict[str, Any]:
    """How this process logs (level, JSON or text, the JSON lines' replica and workspace), for the child."""
    from handlers.observability import JsonFormatter

    root = logging.getLogger()
    json_formatter = next(
        (h.formatter for h in root.handlers if isinstance(h.formatter, JsonFormatter)),
        None,
    )
    return {
        "level": root.level,
        "json": json_formatter is not None,
        "replica": getattr(json_formatter, "replica", ""),
        "workspace": getattr(json_formatter, "workspace", ""),
    }


def _die_with_parent(parent: int) -> None:
    """Have Linux kill this process when the server dies (as one process would have died
    whole); elsewhere the wake pipe's end-of-file stops it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the server died before that took effect
        os._exit(0)


def delivery_notifiers(settings: Settings, store: Store, *, socket: bool, telemetry: Any) -> list[Notifier]:
    """The configured front ends' notifiers, without their routes or loops."""
    notifiers: list[Notifier] = []
    if socket or settings.slack_enabled:
        from handlers.slack import delivery_notifier as slack_notifier

        notifiers.append(slack_notifier(settings, store, socket=socket))
    if settings.teams_enabled:
        from handlers.teams import delivery_notifier as teams_notifier

        notifiers.append(teams_notifier(settings, store, telemetry))
    return notifiers


def child_main(
    settings: Settings, wake: Connection, report: Connection, logs: dict[str, Any], socket: bool, parent: int
) -> None:
    """The delivery process: open the store, send the outbox until SIGTERM or the server's end."""
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us in order
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.basicConfig(
        level=logs["level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from handlers.observability import InstrumentedNotifier, InstrumentedStore, JsonFormatter, Metrics
    from handlers.redaction import mask_secrets_in_logs

    if logs["json"]:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter(replica=logs["replica"], workspace=logs["workspace"]))
    mask_secrets_in_logs(settings)
    from handlers.runtime import DeliveryWorker, Runtime

    store = _open_store(settings.servechain_db)
    metrics = Metrics()
    measured = InstrumentedStore(store, metrics)
    runtime = Runtime(settings=settings, store=measured, telemetry=metrics)  # type: ignore[arg-type]
    runtime.notifiers[:] = [
        InstrumentedNotifier(notifier, metrics)
        for notifier in delivery_notifiers(settings, measured, socket=socket, telemetry=metrics)  # type: ignore[arg-type]
    ]
    worker = runtime.worker
    assert isinstance(worker, DeliveryWorker)
    lock = threading.Lock()

    def send(kind: str, body: object) -> None:
        with lock, contextlib.suppress(OSError, ValueError):
            report.send((kind, body))

    def woken() -> None:
        while not stop.is_set():
            try:
                data = os.read(wake.fileno(), 4096)
            except OSError:
                data = b""
            if not data:  # the server is gone
                stop.set()
                return
            worker.kick()

    def reporting() -> None:
        while not stop.wait(REPORT_EVERY):
            send("counts", metrics.counts())

    from bot import charts
    from handlers.charts import ChartDrawer

    drawer = ChartDrawer()  # digests' charts: drawn aside, at a lower priority than even this process
    charts.draw_with(drawer.png)
    worker.start()
    threading.Thread(target=woken, name="servechain-delivery-wake", daemon=True).start()
    threading.Thread(target=reporting, name="servechain-delivery-report", daemon=True).start()
    send("up", os.getpid())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        worker.stop(timeout=STOP_GRACE - 1.0)
        drawer.close()
        send("counts", metrics.counts())
        store.close()
        report.close()


def _open_store(url: str) -> Store:
    """The store for the delivery process: on PostgreSQL a smaller pool (:data:`POOL_SIZE`) and no
    migrations (the server applied them before starting it)."""
    if is_postgres(url):
        from storage.postgres import PostgresStore

        return PostgresStore(url.strip(), max_size=POOL_SIZE, quick_size=1, auto_upgrade=False)
    from storage import open_store

    return open_store(url)


__all__ = ["DeliveryProcess", "child_main", "delivery_notifiers", "wanted"]
