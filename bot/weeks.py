"""ISO weeks in a person's time zone: naming, bounds and shifting, shared by the pulse, the
digest and the scheduled jobs' claim keys (``digest:<manager>:2026-W48``)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.errors import InvalidCommand
from bot.metrics import RequestFacts
from bot.workhours import zone

__all__ = ["Weeks", "iso_week", "last_week", "shift_week", "week_end", "week_start"]


def iso_week(moment: datetime, tz: str | None = "UTC") -> str:
    """``2026-W48``: the ISO week of ``moment`` in ``tz``, for keys like ``digest:<manager>:<week>``."""
    year, week, _day = moment.astimezone(zone(tz)).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str, tz: str | None = "UTC") -> datetime:
    """Monday 00:00 of ISO week ``2026-W47`` in ``tz``; InvalidCommand for a malformed week."""
    try:
        year_text, number_text = week.upper().split("-W")
        monday = date.fromisocalendar(int(year_text), int(number_text), 1)
    except ValueError:
        raise InvalidCommand(f"{week!r} is not an ISO week; write it like 2026-W47.") from None
    return datetime.combine(monday, time(0), tzinfo=zone(tz))


def week_end(week: str, tz: str | None = "UTC") -> datetime:
    """The Monday 00:00 after ISO week ``week`` in ``tz``."""
    start = week_start(week, tz)
    return datetime.combine(start.date() + timedelta(days=7), time(0), tzinfo=start.tzinfo)


def shift_week(week: str, weeks: int) -> str:
    """The ISO week ``weeks`` after (or, negative, before) ``week``."""
    return iso_week(week_start(week) + timedelta(weeks=weeks, hours=12))


def last_week(now: datetime, tz: str | None) -> str:
    """The ISO week that ended most recently in ``tz`` (what Monday's digest is about)."""
    return shift_week(iso_week(now, tz), -1)


@dataclass(frozen=True)
class Weeks:
    """The weeks a digest covers in the manager's zone, oldest first; the last is its week."""

    names: list[str]
    starts: list[datetime]
    end: datetime

    @classmethod
    def ending(cls, week: str, count: int, tz: str | None) -> Weeks:
        names = [shift_week(week, offset) for offset in range(1 - count, 1)]
        return cls(names, [week_start(name, tz) for name in names], week_end(week, tz))

    @property
    def week(self) -> str:
        return self.names[-1]

    @property
    def start(self) -> datetime:
        """Start of the digest's own week."""
        return self.starts[-1]

    def index(self, moment: datetime) -> int | None:
        """Which week ``moment`` falls in, or None when outside them all."""
        if moment < self.starts[0] or moment >= self.end:
            return None
        return bisect.bisect_right(self.starts, moment) - 1

    def split(self, facts: Iterable[RequestFacts]) -> list[list[RequestFacts]]:
        """Facts per week by creation time (outside the weeks: dropped)."""
        buckets: list[list[RequestFacts]] = [[] for _ in self.names]
        for fact in facts:
            index = self.index(fact.created_at)
            if index is not None:
                buckets[index].append(fact)
        return buckets
