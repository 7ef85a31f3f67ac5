"""Working-hours arithmetic: only time inside the person's local working hours counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.workhours import (
    DEFAULT_HOURS,
    WorkingHours,
    add_working_time,
    is_working_time,
    next_working_time,
    working_time,
)

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
]


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


@pytest.mark.parametrize("tz", ZONES)
def test_friday_1755_to_monday_0905_is_ten_working_minutes(tz: str) -> None:
    sent = local(tz, 2026, 11, 27, 17, 55)
    acknowledged = local(tz, 2026, 11, 30, 9, 5)
    assert working_time(sent, acknowledged, tz=tz, hours=DEFAULT_HOURS) == timedelta(minutes=10)
    assert add_working_time(sent, timedelta(minutes=10), tz=tz, hours=DEFAULT_HOURS) == acknowledged


def test_the_same_instants_seen_from_another_time_zone_count_differently() -> None:
    sent = local("Europe/London", 2026, 11, 27, 17, 55)
    acknowledged = local("Europe/London", 2026, 11, 30, 9, 5)
    # In Tokyo those instants are Saturday 02:55 and Monday 18:05: all of Monday counts
    assert working_time(sent, acknowledged, tz="Asia/Tokyo", hours=DEFAULT_HOURS) == timedelta(hours=9)


@pytest.mark.parametrize(
    ("tz", "friday", "monday"),
    [
        ("Europe/London", (2026, 3, 27), (2026, 3, 30)),  # clocks go forward on Sunday 29 March
        ("Europe/London", (2026, 10, 23), (2026, 10, 26)),  # and back on Sunday 25 October
        ("America/New_York", (2026, 3, 6), (2026, 3, 9)),
        ("America/New_York", (2026, 10, 30), (2026, 11, 2)),
        ("Australia/Sydney", (2026, 10, 2), (2026, 10, 5)),
        ("Australia/Sydney", (2026, 4, 3), (2026, 4, 6)),
    ],
)
def test_dst_weekends_change_the_wall_time_but_not_the_working_time(
    tz: str, friday: tuple[int, int, int], monday: tuple[int, int, int]
) -> None:
    sent = local(tz, *friday, 17, 55)
    acknowledged = local(tz, *monday, 9, 5)
    wall = acknowledged.astimezone(UTC) - sent.astimezone(UTC)
    assert wall in (timedelta(hours=62, minutes=10), timedelta(hours=64, minutes=10))
    assert working_time(sent, acknowledged, tz=tz, hours=DEFAULT_HOURS) == timedelta(minutes=10)
    assert add_working_time(sent, timedelta(minutes=10), tz=tz, hours=DEFAULT_HOURS) == acknowledged.astimezone(UTC)


def test_a_working_day_that_crosses_a_dst_change_keeps_its_real_length() -> None:
    all_day = WorkingHours(start=time(0, 0), end=time(23, 59), weekdays=frozenset(range(7)))
    sunday = date(2026, 3, 29)  # London loses an hour at 01:00
    start = datetime.combine(sunday, time(0, 0), tzinfo=ZoneInfo("Europe/London"))
    end = datetime.combine(sunday, time(23, 59), tzinfo=ZoneInfo("Europe/London"))
    assert working_time(start, end, tz="Europe/London", hours=all_day) == timedelta(hours=22, minutes=59)


def test_holidays_are_skipped() -> None:
    hours = WorkingHours(holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    sent = local("Europe/London", 2026, 12, 24, 17, 0)
    answered = local("Europe/London", 2026, 12, 29, 10, 0)
    assert working_time(sent, answered, tz="Europe/London", hours=hours) == timedelta(hours=2)
    assert working_time(sent, answered, tz="Europe/London", hours=DEFAULT_HOURS) == timedelta(
        hours=20
    )  # without holidays
    assert add_working_time(sent, timedelta(hours=2), tz="Europe/London", hours=hours) == answered


def test_holidays_are_each_persons_local_dates() -> None:
    hours = WorkingHours(holidays=frozenset({date(2026, 12, 1)}))
    # Tuesday 1 December 09:00-18:00 in Tokyo is 00:00-09:00 UTC, in London 09:00-18:00 UTC
    start, end = datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert working_time(start, end, tz="Asia/Tokyo", hours=hours) == timedelta(0)
    assert working_time(start, end, tz="Asia/Tokyo", hours=DEFAULT_HOURS) == timedelta(hours=9)
    assert working_time(start, end, tz="Europe/London", hours=hours) == timedelta(0)
    assert working_time(start, end, tz="Europe/London", hours=DEFAULT_HOURS) == timedelta(hours=3)
    # in New York it is still Monday 30 November until 05:00 UTC on the 1st: Monday counts
    evening = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # Monday 15:00 New York
    assert working_time(evening, end, tz="America/New_York", hours=hours) == timedelta(hours=3)


def test_spans_of_many_weeks_count_45_hours_a_week() -> None:
    start = local("Europe/London", 2026, 1, 5, 9, 0)
    for weeks in (1, 4, 10, 52):
        assert working_time(
            start, start + timedelta(weeks=weeks), tz="Europe/London", hours=DEFAULT_HOURS
        ) == timedelta(hours=45 * weeks)
    # across the spring DST change: wall-clock 09:00 Monday to 09:00 Monday nine weeks on
    spring = local("Europe/London", 2026, 3, 2, 9, 0)
    later = local("Europe/London", 2026, 5, 4, 9, 0)
    assert working_time(spring, later, tz="Europe/London", hours=DEFAULT_HOURS) == timedelta(hours=45 * 9)
    # the earliest instant with that much working time behind it is the Friday evening before
    friday_close = local("Europe/London", 2026, 5, 1, 18, 0)
    assert add_working_time(
        spring, timedelta(hours=45 * 9), tz="Europe/London", hours=DEFAULT_HOURS
    ) == friday_close.astimezone(UTC)
    assert working_time(friday_close, later, tz="Europe/London", hours=DEFAULT_HOURS) == timedelta(0)


def test_parts_of_days_and_weekends() -> None:
    tz = "Europe/London"
    assert working_time(
        local(tz, 2026, 11, 24, 10, 0), local(tz, 2026, 11, 24, 12, 30), tz=tz, hours=DEFAULT_HOURS
    ) == timedelta(hours=2, minutes=30)
    assert working_time(
        local(tz, 2026, 11, 24, 7, 0), local(tz, 2026, 11, 24, 20, 0), tz=tz, hours=DEFAULT_HOURS
    ) == timedelta(hours=9)
    assert working_time(
        local(tz, 2026, 11, 28, 8, 0), local(tz, 2026, 11, 29, 20, 0), tz=tz, hours=DEFAULT_HOURS
    ) == timedelta(0)
    assert working_time(
        local(tz, 2026, 11, 24, 12, 0), local(tz, 2026, 11, 24, 10, 0), tz=tz, hours=DEFAULT_HOURS
    ) == timedelta(0)


def test_the_working_week_and_hours_are_configurable() -> None:
    sunday_to_thursday = WorkingHours(start=time(8), end=time(16), weekdays=frozenset({6, 0, 1, 2, 3}))
    tz = "Asia/Dubai"
    thursday_evening = local(tz, 2026, 11, 26, 15, 0)
    sunday_morning = local(tz, 2026, 11, 29, 9, 0)
    assert working_time(thursday_evening, sunday_morning, tz=tz, hours=sunday_to_thursday) == timedelta(hours=2)
    assert sunday_to_thursday.day_length == timedelta(hours=8)


def test_adding_working_time() -> None:
    tz = "Europe/London"
    friday = local(tz, 2026, 11, 27, 16, 0)
    assert add_working_time(friday, timedelta(0), tz=tz, hours=DEFAULT_HOURS) == friday
    assert add_working_time(friday, timedelta(hours=2), tz=tz, hours=DEFAULT_HOURS) == local(tz, 2026, 11, 27, 18, 0)
    assert add_working_time(friday, timedelta(hours=2, minutes=1), tz=tz, hours=DEFAULT_HOURS) == local(
        tz, 2026, 11, 30, 9, 1
    )
    saturday = local(tz, 2026, 11, 28, 12, 0)
    assert add_working_time(saturday, timedelta(hours=4), tz=tz, hours=DEFAULT_HOURS) == local(tz, 2026, 11, 30, 13, 0)
    with pytest.raises(ValueError, match="negative"):
        add_working_time(friday, timedelta(minutes=-1), tz=tz, hours=DEFAULT_HOURS)


def test_working_time_boundaries_and_the_next_working_moment() -> None:
    tz = "Asia/Tokyo"
    assert is_working_time(local(tz, 2026, 11, 24, 9, 0), tz=tz, hours=DEFAULT_HOURS)
    assert not is_working_time(local(tz, 2026, 11, 24, 18, 0), tz=tz, hours=DEFAULT_HOURS)
    assert not is_working_time(local(tz, 2026, 11, 28, 12, 0), tz=tz, hours=DEFAULT_HOURS)
    evening = local(tz, 2026, 11, 27, 18, 30)
    assert next_working_time(evening, tz=tz, hours=DEFAULT_HOURS) == local(tz, 2026, 11, 30, 9, 0)
    noon = local(tz, 2026, 11, 24, 12, 0)
    assert next_working_time(noon, tz=tz, hours=DEFAULT_HOURS) == noon


def test_unknown_time_zones_count_as_utc_and_naive_datetimes_are_refused() -> None:
    start, end = datetime(2026, 11, 24, 8, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert (
        working_time(start, end, tz="Mars/Olympus_Mons", hours=DEFAULT_HOURS)
        == working_time(start, end, tz="UTC", hours=DEFAULT_HOURS)
        == timedelta(hours=1)
    )
    assert working_time(start, end, tz=None, hours=DEFAULT_HOURS) == timedelta(hours=1)
    with pytest.raises(ValueError, match="aware"):
        working_time(datetime(2026, 11, 24, 8), end, tz="UTC", hours=DEFAULT_HOURS)


def test_working_hours_must_make_sense() -> None:
    with pytest.raises(ValidationError):
        WorkingHours(start=time(18), end=time(9))
    with pytest.raises(ValidationError):
        WorkingHours(weekdays=frozenset())
    with pytest.raises(ValidationError):
        WorkingHours(weekdays=frozenset({7}))
    parsed = WorkingHours.model_validate({"start": "08:30", "holidays": ["2026-12-25"]})
    assert parsed.start == time(8, 30) and date(2026, 12, 25) in parsed.holidays


# --------------------------------------------------------------------------- properties

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
zones = st.sampled_from(ZONES)
hour_sets = st.sampled_from(
    [
        DEFAULT_HOURS,
        WorkingHours(start=time(7, 30), end=time(15, 45), weekdays=frozenset({6, 0, 1, 2, 3})),
        WorkingHours(start=time(0, 0), end=time(23, 59), weekdays=frozenset(range(7))),
        WorkingHours(start=time(1, 30), end=time(2, 30)),  # inside DST transitions in some zones
        WorkingHours(holidays=frozenset({date(2026, 12, 25), date(2024, 2, 29)})),
    ]
)


@settings(max_examples=150, deadline=None)
@given(a=instants, b=instants, c=instants, tz=zones, hours=hour_sets)
def test_working_time_is_additive(a: datetime, b: datetime, c: datetime, tz: str, hours: WorkingHours) -> None:
    a, b, c = sorted((a, b, c))
    assert working_time(a, c, tz=tz, hours=hours) == working_time(a, b, tz=tz, hours=hours) + working_time(
        b, c, tz=tz, hours=hours
    )


@settings(max_examples=150, deadline=None)
@given(a=instants, b=instants, tz=zones, hours=hour_sets)
def test_working_time_is_never_negative_nor_more_than_wall_time(
    a: datetime, b: datetime, tz: str, hours: WorkingHours
) -> None:
    spent = working_time(a, b, tz=tz, hours=hours)
    assert timedelta(0) <= spent <= max(b - a, timedelta(0))


@settings(max_examples=150, deadline=None)
@given(
    a=instants,
    amount=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)),
    tz=zones,
    hours=hour_sets,
)
def test_adding_working_time_is_the_inverse_of_measuring_it(
    a: datetime, amount: timedelta, tz: str, hours: WorkingHours
) -> None:
    end = add_working_time(a, amount, tz=tz, hours=hours)
    assert working_time(a, end, tz=tz, hours=hours) == amount
    if amount > timedelta(0):  # the earliest such instant: it ends inside working time
        assert is_working_time(end - timedelta(microseconds=1), tz=tz, hours=hours)


@settings(max_examples=40, deadline=None)
@given(a=instants, minutes=st.integers(min_value=0, max_value=3 * 24 * 60), tz=zones, hours=hour_sets)
def test_working_time_matches_counting_minute_by_minute(
    a: datetime, minutes: int, tz: str, hours: WorkingHours
) -> None:
    start = a.replace(second=0, microsecond=0)
    counted = sum(is_working_time(start + timedelta(minutes=m), tz=tz, hours=hours) for m in range(minutes))
    # whole-minute working hours: every minute is either all in or all out
    assert working_time(start, start + timedelta(minutes=minutes), tz=tz, hours=hours) == timedelta(minutes=counted)
