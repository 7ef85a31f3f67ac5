"""Working-hours arithmetic: how much of a span fell inside someone's local working hours.

Every response time servechain reports, and every nudge deadline, counts working time
only: a request sent Friday 17:55 and acknowledged Monday 09:05 took 10 working minutes.
Working hours are the organisation's (one :class:`WorkingHours`), read in each person's
own IANA time zone; holidays are local dates: the organisation's own list plus the public
holidays of the person's country (and region), from the ``holidays`` library
(:meth:`WorkingHours.for_person`). All functions are pure and take aware datetimes;
results are aware UTC datetimes or timedeltas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as public_holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_HOURS",
    "Place",
    "WorkingHours",
    "add_working_time",
    "check_place",
    "is_working_time",
    "next_working_time",
    "public_holidays_of",
    "working_periods",
    "working_time",
    "zone",
]

_SEARCH_DAYS = 3660
"""How far (in days) ``add_working_time`` looks ahead before giving up on an empty calendar."""


class Place(Protocol):
    """Where someone works, for their public holidays (a :class:`bot.models.Person` is one)."""

    @property
    def country(self) -> str | None: ...

    @property
    def region(self) -> str | None: ...


def check_place(country: str | None, region: str | None) -> str | None:
    """A sentence saying what is wrong with a country/region pair, or None when the holidays
    library knows it (country: ISO 3166 alpha-2 like US; region: its subdivision like NY)."""
    if country is None:
        return None if region is None else f"region '{region}' needs a country"
    supported = public_holidays.list_supported_countries()
    if country not in supported:
        return f"unknown country '{country}'; use an ISO 3166 code like US, JP or DE"
    regions = supported[country]
    if region is not None and region not in regions:
        if not regions:
            return f"{country} has no regions in the holidays calendar; leave the region empty"
        listed = ", ".join(regions[:8]) + (", ..." if len(regions) > 8 else "")
        return f"unknown region '{region}' of {country}; use one of {listed}"
    return None


@lru_cache(maxsize=256)
def public_holidays_of(country: str, region: str | None, year: int) -> frozenset[date]:
    """The public holidays of a country (and region) in one year; empty for an unknown place
    (a stored place is checked when it is imported, so this only guards old data)."""
    try:
        calendar = public_holidays.country_holidays(country, subdiv=region, years=year)
    except NotImplementedError:
        return frozenset()
    return frozenset(calendar.keys())


class WorkingHours(BaseModel):
    """The working week: daily hours, working weekdays (Monday=0), the organisation's own holidays
    and, when a country is set, that country's (and region's) public holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time = Field(default=time(9, 0), description="Local start of the working day.")
    end: time = Field(default=time(18, 0), description="Local end of the working day (after start).")
    weekdays: frozenset[int] = Field(
        default=frozenset({0, 1, 2, 3, 4}), description="Working weekdays, Monday=0 ... Sunday=6."
    )
    holidays: frozenset[date] = Field(
        default=frozenset(), description="Local dates nobody works, e.g. 2026-12-25 (each person's own calendar day)."
    )
    country: str | None = Field(
        default=None,
        description="ISO 3166 country whose public holidays count, e.g. US; the org default, replaced per "
        "person by their own country (see for_person).",
    )
    region: str | None = Field(default=None, description="Subdivision of the country, e.g. NY for New York.")

    @model_validator(mode="after")
    def _check(self) -> WorkingHours:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are local wall-clock times without a time zone")
        if self.start >= self.end:
            raise ValueError("the working day must end after it starts")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must name at least one day, Monday=0 ... Sunday=6")
        problem = check_place(self.country, self.region)
        if problem:
            raise ValueError(problem)
        return self

    def for_person(self, person: Place | None) -> WorkingHours:
        """These hours in ``person``'s calendar: their country's public holidays (the org default
        country when they have none) on top of the org's own list."""
        if person is None or person.country is None:
            return self
        if (person.country, person.region) == (self.country, self.region):
            return self
        return self.model_copy(update={"country": person.country, "region": person.region})

    def is_holiday(self, day: date) -> bool:
        """True when ``day`` is one of the org's holidays or a public holiday of the country."""
        if day in self.holidays:
            return True
        return self.country is not None and day in public_holidays_of(self.country, self.region, day.year)

    @property
    def day_length(self) -> timedelta:
        """Length of one working day, e.g. 9 hours."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def works_on(self, day: date) -> bool:
        """True when ``day`` (a local date) is a working day."""
        return day.weekday() in self.weekdays and not self.is_holiday(day)


DEFAULT_HOURS = WorkingHours()
"""09:00-18:00, Monday to Friday, no holidays: what ``WORKING_HOURS`` means when unset. Running code
never falls back to it (every function that counts working time takes ``hours``, passed down from
``Settings.working_hours``); ruff bans it outside tests and benchmarks."""


@lru_cache(maxsize=512)
def zone(tz: str | None) -> ZoneInfo:
    """The ZoneInfo for an IANA name; UTC for a missing or unknown one (a person's tz is best effort)."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return ZoneInfo("UTC")


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working-hours arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _day_period(day: date, hours: WorkingHours, where: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The working period of one local day as UTC instants, or None on a day off."""
    if not hours.works_on(day):
        return None
    opens = datetime.combine(day, hours.start, tzinfo=where).astimezone(UTC)
    closes = datetime.combine(day, hours.end, tzinfo=where).astimezone(UTC)
    return (opens, closes) if opens < closes else None


def working_periods(
    start: datetime, end: datetime, *, tz: str | None, hours: WorkingHours
) -> Iterator[tuple[datetime, datetime]]:
    """The working periods inside ``[start, end)`` as UTC ``(from, to)`` pairs, in order."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return
    where = zone(tz)
    day = start.astimezone(where).date()
    last = end.astimezone(where).date()
    while day <= last:
        period = _day_period(day, hours, where)
        if period is not None:
            lo, hi = max(period[0], start), min(period[1], end)
            if lo < hi:
                yield lo, hi
        day += timedelta(days=1)


def working_time(start: datetime, end: datetime, *, tz: str | None, hours: WorkingHours) -> timedelta:
    """Working time between two instants in the local working hours of ``tz``; zero when ``end <= start``."""
    return sum((hi - lo for lo, hi in working_periods(start, end, tz=tz, hours=hours)), timedelta(0))


def add_working_time(start: datetime, amount: timedelta, *, tz: str | None, hours: WorkingHours) -> datetime:
    """The first instant by which ``amount`` of working time has passed since ``start`` (UTC).

    ``working_time(start, add_working_time(start, x)) == x`` for every ``x >= 0``."""
    start = _utc(start)
    if amount < timedelta(0):
        raise ValueError("amount must not be negative")
    if amount == timedelta(0):
        return start
    where = zone(tz)
    day = start.astimezone(where).date()
    remaining = amount
    for _ in range(_SEARCH_DAYS):
        period = _day_period(day, hours, where)
        if period is not None and period[1] > start:
            lo = max(period[0], start)
            available = period[1] - lo
            if remaining <= available:
                return lo + remaining
            remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"no working time within {_SEARCH_DAYS} days of {start.isoformat()}")


def is_working_time(moment: datetime, *, tz: str | None, hours: WorkingHours) -> bool:
    """True when ``moment`` falls inside the local working hours of ``tz`` (start inclusive, end exclusive)."""
    moment = _utc(moment)
    where = zone(tz)
    period = _day_period(moment.astimezone(where).date(), hours, where)
    return period is not None and period[0] <= moment < period[1]


def next_working_time(moment: datetime, *, tz: str | None, hours: WorkingHours) -> datetime:
    """``moment`` itself during working hours, else the start of the next working period (UTC)."""
    moment = _utc(moment)
    if is_working_time(moment, tz=tz, hours=hours):
        return moment
    where = zone(tz)
    day = moment.astimezone(where).date()
    for _ in range(_SEARCH_DAYS):
        period = _day_period(day, hours, where)
        if period is not None and period[0] >= moment:
            return period[0]
        day += timedelta(days=1)
    raise ValueError(f"no working time within {_SEARCH_DAYS} days of {moment.isoformat()}")
