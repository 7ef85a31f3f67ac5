"""The scheduler loop: one pass runs every job against the store, no timer library.

Each job computes what is due at ``now`` from stored state alone and claims every send with a
unique key (:mod:`bot.claims`). Nothing about past runs is kept in memory, so a restarted
scheduler catches up on what it missed exactly once, and replicas sharing a store never send
the same thing twice. Which jobs exist, and how they are built from the settings, is
:mod:`bot.jobs`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.claims import Job, JobReport
from bot.models import Message
from bot.ports import Store

log = logging.getLogger(__name__)

__all__ = ["RunReport", "Scheduler", "run_forever"]


@dataclass
class RunReport:
    """What one pass of the scheduler did."""

    now: datetime
    jobs: list[JobReport] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def sent(self) -> list[Message]:
        """Every message queued in this pass."""
        return [message for job in self.jobs for message in job.sent]


class Scheduler:
    """Runs its jobs against one workspace of one store; holds no state between runs."""

    def __init__(self, *, store: Store, jobs: Sequence[Job], workspace: str) -> None:
        self.store = store
        self.jobs = list(jobs)
        self.workspace = workspace

    def run_due(self, now: datetime) -> RunReport:
        """Run every job for ``now``; a failing job is logged and does not stop the others."""
        report = RunReport(now)
        for job in self.jobs:
            try:
                report.jobs.append(job.run(store=self.store, workspace=self.workspace, now=now))
            except Exception as error:  # one broken job must not starve the others
                log.exception("scheduler job %s failed at %s", job.name, now.isoformat())
                report.errors[job.name] = f"{type(error).__name__}: {error}"
        return report


def run_forever(
    scheduler: Scheduler,
    *,
    clock: Callable[[], datetime],
    stop: threading.Event,
    interval: float = 60.0,
    on_report: Callable[[RunReport], None] | None = None,
) -> None:
    """Call ``run_due(clock())`` every ``interval`` seconds until ``stop`` is set (run it in a thread).
    ``on_report`` sees each pass, e.g. to wake the delivery worker when something was queued."""
    while not stop.is_set():
        try:
            report = scheduler.run_due(clock())
            if on_report is not None:
                on_report(report)
        except Exception:  # storage down: try again next tick
            log.exception("scheduler pass failed")
        stop.wait(interval)
