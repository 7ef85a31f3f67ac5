"""Charts drawn in worker processes of their own, at a lower CPU priority (:class:`ChartDrawer`).

A digest's chart (six panels, eight weeks) takes matplotlib about 0.3 CPU-s to draw, nearly
all of it holding the interpreter's lock. Drawn in the process that sends it, the 105 digests
of a Monday 09:00 (about 32 CPU-s) held that process's other sends back: provider cards p99
38.6 s in ``benchmarks/delivery_bench.py --digests`` on one PostgreSQL replica. A server
draws them instead in worker processes (``serve`` and its delivery process install one with
:func:`bot.charts.draw_with`):

- **Priority.** The workers run at ``nice`` +:data:`NICENESS`: on a busy machine they draw
  with what acks, commands and cards leave over. A digest is bulk work (it waits behind
  cards in the outbox already); a chart a few seconds later is not noticed.
- **Resources.** At most :data:`WORKERS` workers, started on the first chart; each leaves
  after :data:`IDLE` seconds without one (a worker with matplotlib loaded holds about 90 MB), so a server
  holds none between Mondays.
- **Faults.** A worker leaves within a second of its server's death, however it died. A
  chart that takes over :data:`TIMEOUT` seconds kills the workers; a worker that
  dies fails the charts it had. Either raises :class:`ChartError` and the next chart starts
  new workers. The notifiers treat a chart as a bonus: the message goes out without it.

Why loky rather than :class:`concurrent.futures.ProcessPoolExecutor`: its workers leave when
idle (the standard pool keeps them for the life of the process), it can kill a hung worker
(``shutdown(kill_workers=True)``; the standard pool only waits for it), and it starts them with
fork+exec, not fork, so no lock held by one of the server's threads is copied into a worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.charts import chart_png
from bot.models import Chart

log = logging.getLogger(__name__)

WORKERS = 2
"""Charts drawn at once (one per core on a small machine; more would only queue for the CPU)."""
NICENESS = 10
"""How much lower the workers' CPU priority is than the server's."""
IDLE = 120.0
"""Seconds a worker waits for another chart before it leaves."""
TIMEOUT = 60.0
"""Seconds a chart may take, queueing included, before the workers are killed and it is dropped."""
ORPHAN_CHECK = 1.0
"""How often a worker looks whether the process that started it is still there."""


class ChartError(Exception):
    """The chart was not drawn (it took too long, or its worker died)."""


def _start_worker(niceness: int, parent: int) -> None:
    """In each new worker: lower its priority, leave when the process that started it is gone
    (a server killed with SIGKILL would otherwise leave it waiting for work until its idle
    timeout), and load matplotlib before the first chart."""
    with contextlib.suppress(OSError):  # not allowed here: draw at the same priority rather than not at all
        os.nice(niceness)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK)
        os._exit(0)

    threading.Thread(target=watch, name="servechain-chart-parent", daemon=True).start()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401


class ChartDrawer:
    """Draws charts (:func:`bot.charts.chart_png`) in loky worker processes; see the module."""

    def __init__(
        self, *, workers: int = WORKERS, niceness: int = NICENESS, idle: float = IDLE, timeout: float = TIMEOUT
    ) -> None:
        self.workers, self.niceness, self.idle, self.timeout = workers, niceness, idle, timeout
        self._lock = threading.Lock()
        self._executor: Any = None
        self._closed = False

    def png(self, chart: Chart) -> bytes:
        """The chart as PNG bytes, drawn by a worker; :class:`ChartError` when it could not be."""
        from loky import BrokenProcessPool

        for _ in range(2):
            executor = self._running()
            try:
                future = executor.submit(chart_png, chart)
            except BrokenProcessPool:  # a worker died since the last chart: start new ones, once
                self._discard(executor)
                continue
            try:
                png: bytes = future.result(timeout=self.timeout)
            except FutureTimeout:
                self._discard(executor)
                raise ChartError(f"drawing the chart {chart.title!r} took over {self.timeout:g}s") from None
            except BrokenProcessPool as error:
                self._discard(executor)
                raise ChartError(f"the process drawing the chart {chart.title!r} died") from error
            return png
        raise ChartError("no process to draw charts could be started")

    def close(self) -> None:
        """Stop the workers (killing any still drawing); later charts raise :class:`ChartError`."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=True)

    def _running(self) -> Any:
        from loky import ProcessPoolExecutor

        with self._lock:
            if self._closed:
                raise ChartError("the chart drawer is closed")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    timeout=self.idle,
                    initializer=_start_worker,
                    initargs=(self.niceness, os.getpid()),
                )
            return self._executor

    def _discard(self, executor: Any) -> None:
        """Kill a pool that hung or broke; the next chart starts a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        log.error("chart workers stopped (a chart hung or a worker died); new ones start with the next chart")
        executor.shutdown(wait=False, kill_workers=True)
