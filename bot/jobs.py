"""The scheduled jobs servechain runs and how they are built from the settings.

A new scheduled report is a class with ``name`` and ``run(*, store, workspace, now)`` (see
:class:`bot.claims.Job`) registered with one ``register`` call in :func:`default_registry`;
the scheduler loop (:mod:`bot.scheduler`) knows nothing about any particular job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.claims import Job
from bot.digest import DEFAULT_DIGEST, DigestJob, DigestSettings
from bot.housekeeping import DEFAULT_RETENTION_DAYS, PruneJob
from bot.nudges import DEFAULT_NUDGES, NudgeJob, NudgeSettings
from bot.orgsync import DirectorySource, OrgSyncJob
from bot.overdue import OVERDUE_CARDS_JOB, OverdueCardsJob
from bot.pulse import DEFAULT_PULSE, PulseJob, PulseSettings
from bot.workhours import WorkingHours

__all__ = ["JobContext", "JobFactory", "JobRegistry", "default_registry"]


@dataclass(frozen=True, kw_only=True)
class JobContext:
    """What job factories may use: the settings, read once at start-up (None: the defaults;
    ``hours`` has none, so no job counts time in a week the deployment didn't set)."""

    hours: WorkingHours
    nudges: NudgeSettings | None = None
    pulse: PulseSettings | None = None
    digest: DigestSettings | None = None
    directory: DirectorySource | None = None
    """Where the daily org sync reads the org (None: no sync)."""
    org_file: Path | None = None
    org_sync_hour: int = 6
    retention_days: int = DEFAULT_RETENTION_DAYS
    """Days kept before the daily prune (0: never prune)."""


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
    """A fresh registry with servechain's jobs: nudges, the overdue card refresh, the weekly pulse,
    the manager digest, the daily org sync (idle unless a directory is configured) and the daily prune."""
    registry = JobRegistry()
    registry.register("nudges", lambda ctx: NudgeJob(settings=ctx.nudges or DEFAULT_NUDGES, hours=ctx.hours))
    registry.register(OVERDUE_CARDS_JOB, lambda ctx: OverdueCardsJob(hours=ctx.hours))
    registry.register("pulse", lambda ctx: PulseJob(settings=ctx.pulse or DEFAULT_PULSE, hours=ctx.hours))
    registry.register(
        "digest",
        lambda ctx: DigestJob(settings=ctx.digest or DEFAULT_DIGEST, pulse=ctx.pulse or DEFAULT_PULSE, hours=ctx.hours),
    )
    registry.register(
        "org-sync", lambda ctx: OrgSyncJob(directory=ctx.directory, org_file=ctx.org_file, hour=ctx.org_sync_hour)
    )
    registry.register(
        "prune",
        lambda ctx: PruneJob(
            retention_days=ctx.retention_days, lookback_days=(ctx.nudges or DEFAULT_NUDGES).lookback_days
        ),
    )
    return registry
