"""One scheduler for nudges, follow-ups and digests: a loop over the store, no timer library.

Each job computes what is due at ``now`` from stored state alone and claims every send with
a unique key (``nudge:unacked:R-7:e0``, ``escalate:R-7:e0``, ``digest:<manager>:<iso week>``)
in the same atomic write as its outbox messages. Nothing about past runs is kept in memory,
so a restarted scheduler catches up on what it missed exactly once, and replicas sharing a
store never send the same thing twice: the second claim of a key is refused.

Jobs are built from a :class:`JobRegistry`, so later features (the weekly digest) add a job
with one ``register`` call in :func:`default_registry`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.models import Message
from bot.ports import Store
from bot.requests import outbox_items
from bot.workhours import DEFAULT_HOURS, WorkingHours, zone

if TYPE_CHECKING:
    from bot.digest import DigestSettings
    from bot.nudges import NudgeSettings
    from bot.pulse import PulseSettings

log = logging.getLogger(__name__)

__all__ = [
    "Job",
    "JobContext",
    "JobRegistry",
    "JobReport",
    "RunReport",
    "Scheduler",
    "claim_and_send",
    "default_registry",
    "iso_week",
    "run_forever",
]


@dataclass
class JobReport:
    """What one job did in one run: messages queued, keys claimed (key -> recipient id), keys
    found already claimed (by an earlier run or another replica), suppressed (claimed, not sent:
    muted) and held back (not yet: quiet hours, snoozes)."""

    name: str
    sent: list[Message] = field(default_factory=list)
    claimed: dict[str, str] = field(default_factory=dict)
    already: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def claim_and_send(store: Store, workspace: str, key: str, messages: Sequence[Message], now: datetime) -> bool:
    """Claim ``key`` and queue ``messages`` in the same atomic write; False if it was claimed before."""
    return store.claim(workspace, key, at=now, outbox=outbox_items(messages, now))


class Job(Protocol):
    """A periodic job: claims and queues whatever is due at ``now``; must be idempotent."""

    name: str

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Do what is due at ``now``."""
        ...


@dataclass(frozen=True)
class JobContext:
    """What job factories may use: the settings, read once at start-up (None: the defaults)."""

    nudges: NudgeSettings | None = None
    hours: WorkingHours = DEFAULT_HOURS
    pulse: PulseSettings | None = None
    digest: DigestSettings | None = None


JobFactory = Callable[[JobContext], Job]


class JobRegistry:
    """Named job factories; the entry point builds the scheduler's jobs from it."""

    def __init__(self) -> None:
        self._factories: dict[str, JobFactory] = {}

    def register(self, name: str, factory: JobFactory) -> None:
        """Add a job; names are unique."""
        if name in self._factories:
            raise ValueError(f"a job called {name!r} is already registered")
        self._factories[name] = factory

    @property
    def names(self) -> list[str]:
        """Registered job names, in registration order."""
        return list(self._factories)

    def build(self, context: JobContext, only: Sequence[str] | None = None) -> list[Job]:
        """The jobs (all, or those named in ``only``), in registration order."""
        unknown = set(only or ()) - set(self._factories)
        if unknown:
            raise ValueError(f"unknown jobs: {', '.join(sorted(unknown))}")
        return [factory(context) for name, factory in self._factories.items() if only is None or name in only]


def default_registry() -> JobRegistry:
    """A fresh registry with servechain's jobs: nudges, the weekly pulse and the manager digest."""
    # the jobs build on this module's JobReport and claim_and_send, so they are imported here
    from bot.digest import DEFAULT_DIGEST, DigestJob
    from bot.nudges import DEFAULT_NUDGES, NudgeJob
    from bot.pulse import DEFAULT_PULSE, PulseJob

    registry = JobRegistry()
    registry.register("nudges", lambda ctx: NudgeJob(settings=ctx.nudges or DEFAULT_NUDGES, hours=ctx.hours))
    registry.register("pulse", lambda ctx: PulseJob(settings=ctx.pulse or DEFAULT_PULSE, hours=ctx.hours))
    registry.register(
        "digest",
        lambda ctx: DigestJob(settings=ctx.digest or DEFAULT_DIGEST, pulse=ctx.pulse or DEFAULT_PULSE, hours=ctx.hours),
    )
    return registry


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


def iso_week(moment: datetime, tz: str | None = "UTC") -> str:
    """``2026-W48``: the ISO week of ``moment`` in ``tz``, for keys like ``digest:<manager>:<week>``."""
    year, week, _day = moment.astimezone(zone(tz)).isocalendar()
    return f"{year}-W{week:02d}"
