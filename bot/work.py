"""A wide thread pool that keeps each person's work in order: what front ends run after the
acknowledgement, and what the inbox takes over after a crash (:mod:`bot.inbox`), share it."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


class BackgroundWork:
    """A thread pool of its own for everything after the ack, so acks never queue behind
    storage or Web API work in the web framework's executor; ``wait_idle`` lets tests and
    shutdown drain it.

    Most of a job's time is spent waiting on the network (the ``response_url`` answer, App Home
    publishes: 100-300 ms each against the real Web API) with the GIL released, so the pool is
    wide (``workers``, the ``WORK_CONCURRENCY`` setting); four threads capped a process at about
    25 commands a second. Jobs given the same ``lane`` (the person who typed or clicked) run one
    at a time in the order they were submitted, so one person's commands and clicks are never
    reordered by the width of the pool. Hand-written (a dict of queues over the executor) since
    ``concurrent.futures`` has no keyed ordering.
    """

    def __init__(self, workers: int = 32, *, name: str = "work") -> None:
        self.workers = workers
        """How many jobs run at once (the inbox's recovery takes at most half of them)."""
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pending = 0
        self._idle = threading.Condition()
        self._lanes: dict[str, deque[Callable[[], None]]] = {}
        """Lane -> jobs waiting behind the one of that lane now queued or running."""

    def submit(self, job: Callable[[], object], *, what: str, lane: str | None = None) -> None:
        """Run ``job`` soon (after the earlier jobs of ``lane``, if given); an exception it lets
        through is logged, never lost silently."""

        def run() -> None:
            try:
                job()
            except Exception:
                log.exception("background job failed: %s", what)
            finally:
                self._done(lane)

        with self._idle:
            self._pending += 1
            if lane is not None:
                waiting = self._lanes.get(lane)
                if waiting is not None:  # the lane is busy: run after the jobs ahead of it
                    waiting.append(run)
                    return
                self._lanes[lane] = deque()
        self._start(run)

    def _done(self, lane: str | None) -> None:
        following: Callable[[], None] | None = None
        with self._idle:
            self._pending -= 1
            if lane is not None:
                waiting = self._lanes[lane]
                if waiting:
                    following = waiting.popleft()
                else:
                    del self._lanes[lane]
            self._idle.notify_all()
        if following is not None:
            self._start(following)

    def _start(self, run: Callable[[], None]) -> None:
        try:
            self._pool.submit(run)
        except RuntimeError:  # shutting down: run it here rather than drop it (or never count it done)
            run()

    @property
    def busy(self) -> bool:
        """True while a job is queued or running (bulk work such as App Home refreshes waits)."""
        with self._idle:
            return self._pending > 0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted job has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Finish queued jobs and stop the threads."""
        with self._idle:  # jobs waiting in a lane are submitted only as the one ahead ends
            self._idle.wait_for(lambda: self._pending == 0)
        self._pool.shutdown(wait=True)
