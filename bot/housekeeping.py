"""Keeping the queues small: once a day, what is kept only for a while goes after
``RETENTION_DAYS`` (default 30).

What goes (:meth:`bot.ports.Store.prune`): outbox messages sent, inbox items done, claims and
idempotency keys older than the retention period. What never goes: anything pending, leased
or failed (an operator may still look at it), card references (a card of a request still open
is updated months later, through its reference), and the claims of a request a reminder may
still be about: every open request, and every request recent enough for the nudge job to look
at (its ``lookback_days``), so no reminder is ever sent twice because its claim was pruned.

One replica prunes per day: the job claims ``prune:<date>`` first (that claim is pruned in
turn, a retention period later).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.claims import JobReport
from bot.ports import Store

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30


def live_requests(store: Store, workspace: str, *, since: datetime) -> set[int]:
    """The requests whose claims must stay: every open one, and every one created since ``since``."""
    numbers = {r.number for r in store.find_requests(workspace, open_only=True)}
    numbers |= {r.number for r in store.find_requests(workspace, created_since=since)}
    return numbers


@dataclass
class PruneJob:
    """Prunes what is older than ``retention_days`` once a day (0: never)."""

    retention_days: int = DEFAULT_RETENTION_DAYS
    lookback_days: int = 60
    """How far back the nudge job looks at closed requests (their claims stay that long)."""
    name: str = "prune"
    _last_day: str = field(default="", repr=False, compare=False)
    """The day this process last pruned or saw pruned (spares a claim at every pass)."""

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Prune once per UTC day, in the first pass that wins the day's claim."""
        report = JobReport(self.name)
        if self.retention_days <= 0:
            return report
        day = f"{now.astimezone(UTC):%Y-%m-%d}"
        key = f"prune:{day}"
        if day == self._last_day:
            return report
        self._last_day = day
        if not store.claim(workspace, key, at=now):
            report.already.append(key)
            return report
        report.claimed[key] = ""
        before = now - timedelta(days=self.retention_days)
        keep = live_requests(store, workspace, since=now - timedelta(days=max(self.lookback_days, self.retention_days)))
        pruned = store.prune(workspace, before=before, keep_requests=keep)
        log.info(
            "pruned what is older than %d days: %s",
            self.retention_days,
            ", ".join(f"{count} {kind}" for kind, count in sorted(pruned.items())) or "nothing",
        )
        return report
