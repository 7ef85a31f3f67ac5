"""Due-date phrases: parse_due and split_due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dates import DEFAULT_DUE_TIME, DueDateError, parse_due, split_due
from bot.workhours import DEFAULT_HOURS

# Tuesday 2026-11-24, 10:00 UTC.
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def utc(month: int, day: int, hour: int = 17, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def due(phrase: str, *, now: datetime = NOW, tz: str = "UTC") -> datetime:
    return parse_due(phrase, now=now, tz=tz, hours=DEFAULT_HOURS)


def test_fixed_now_is_a_tuesday() -> None:
    assert NOW.strftime("%A") == "Tuesday"


# --------------------------------------------------------------------------- weekdays


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("friday", utc(11, 27)),
        ("fri", utc(11, 27)),
        ("by friday", utc(11, 27)),
        ("By Friday.", utc(11, 27)),
        ("  FRIDAY  ", utc(11, 27)),
        ("wednesday", utc(11, 25)),
        ("wed", utc(11, 25)),
        ("thursday", utc(11, 26)),
        ("thu", utc(11, 26)),
        ("saturday", utc(11, 28)),
        ("sat", utc(11, 28)),
        ("sunday", utc(11, 29)),
        ("sun", utc(11, 29)),
        ("monday", utc(11, 30)),
        ("mon", utc(11, 30)),
        ("tuesday", utc(11, 24)),
        ("tue", utc(11, 24)),
    ],
)
def test_weekday_means_the_next_such_day_on_or_after_today(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


def test_by_friday_on_friday_morning_means_today() -> None:
    friday_morning = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert due("by friday", now=friday_morning) == utc(11, 27)


def test_by_friday_on_friday_afternoon_means_next_week() -> None:
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert due("by friday", now=friday_evening) == utc(12, 4)


def test_weekday_with_a_time_already_past_today_means_next_week() -> None:
    assert due("tuesday 9am") == utc(12, 1, 9)
    assert due("tuesday 11am") == utc(11, 24, 11)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("next friday", utc(12, 4)),
        ("next wednesday", utc(12, 2)),
        ("next tuesday", utc(12, 1)),
        ("next monday", utc(12, 7)),
        ("by next fri", utc(12, 4)),
    ],
)
def test_next_weekday_is_at_least_seven_days_away(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


@given(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), st.integers(0, 6 * 24))
@settings(max_examples=100, deadline=None)
def test_next_weekday_lands_seven_to_thirteen_days_ahead(day: str, hours_later: int) -> None:
    now = NOW + timedelta(hours=hours_later)
    result = due(f"next {day}", now=now)
    assert 7 <= (result.date() - now.date()).days <= 13
    assert result.strftime("%a").lower() == day


# --------------------------------------------------------------------------- relative days


@pytest.mark.parametrize("phrase", ["today", "eod", "EOD", "end of day", "tonight", "by today"])
def test_today_words_mean_today_at_the_default_time(phrase: str) -> None:
    assert due(phrase) == utc(11, 24)


@pytest.mark.parametrize("phrase", ["tomorrow", "tmrw", "by tomorrow", "Tomorrow."])
def test_tomorrow_words_mean_tomorrow_at_the_default_time(phrase: str) -> None:
    assert due(phrase) == utc(11, 25)


def test_today_after_the_end_of_the_working_day_is_in_the_past() -> None:
    evening = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    with pytest.raises(DueDateError, match="The due date 2026-11-24 17:00 is in the past"):
        due("eod", now=evening)


def test_default_time_of_day_is_five_pm_local() -> None:
    assert (DEFAULT_DUE_TIME.hour, DEFAULT_DUE_TIME.minute) == (17, 0)
    assert due("tomorrow", tz="Europe/Berlin") == utc(11, 25, 16)  # 17:00 CET


def test_next_week_means_monday_of_next_week() -> None:
    assert due("next week") == utc(11, 30)


@pytest.mark.parametrize("phrase", ["end of week", "eow", "end of the week"])
def test_end_of_week_means_friday_of_this_week(phrase: str) -> None:
    assert due(phrase) == utc(11, 27)


def test_end_of_week_on_saturday_means_next_friday() -> None:
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert due("eow", now=saturday) == utc(12, 4)


def test_end_of_week_on_friday_evening_means_next_friday() -> None:
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert due("end of week", now=friday_evening) == utc(12, 4)


# --------------------------------------------------------------------------- calendar dates


@pytest.mark.parametrize(
    "phrase",
    ["dec 3", "december 3", "3 dec", "3 december", "dec 3rd", "Dec 3rd.", "3rd december", "the 3rd of december"],
)
def test_day_and_month_mean_that_date_at_the_default_time(phrase: str) -> None:
    assert due(phrase) == utc(12, 3)


def test_iso_date_means_that_date_at_the_default_time() -> None:
    assert due("2026-12-01") == utc(12, 1)
    assert due("by 2026-12-01") == utc(12, 1)


def test_day_and_month_already_past_this_year_means_next_year() -> None:
    assert due("nov 1") == utc(11, 1, year=2027)
    assert due("24 nov") == utc(11, 24)  # today, 17:00 is still ahead


def test_day_and_month_with_explicit_year() -> None:
    assert due("dec 3 2026") == utc(12, 3)
    assert due("dec 3, 2027") == utc(12, 3, year=2027)
    assert due("3 december 2027") == utc(12, 3, year=2027)


@pytest.mark.parametrize("phrase", ["2026-01-01", "nov 1 2026", "by 2025-12-01"])
def test_explicit_date_in_the_past_is_an_error(phrase: str) -> None:
    with pytest.raises(DueDateError, match="is in the past"):
        due(phrase)


def test_past_date_message_names_the_local_due_date() -> None:
    with pytest.raises(DueDateError) as info:
        due("2026-01-01")
    assert str(info.value) == "The due date 2026-01-01 17:00 is in the past."


@pytest.mark.parametrize("phrase", ["2026-02-30", "feb 30", "31 april", "2026-02-29"])
def test_impossible_date_is_an_error(phrase: str) -> None:
    with pytest.raises(DueDateError, match="not a valid date"):
        due(phrase)


def test_feb_29_without_year_means_the_next_leap_day() -> None:
    assert due("feb 29") == utc(2, 29, year=2028)


# --------------------------------------------------------------------------- in N units


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("in 30 minutes", NOW + timedelta(minutes=30)),
        ("in 1 minute", NOW + timedelta(minutes=1)),
        ("in 5 min", NOW + timedelta(minutes=5)),
        ("in 5 mins", NOW + timedelta(minutes=5)),
        ("in 2 hours", NOW + timedelta(hours=2)),
        ("in 1 hour", NOW + timedelta(hours=1)),
        ("in 2 hrs", NOW + timedelta(hours=2)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("in an hour", NOW + timedelta(hours=1)),
        ("In 3 Hours.", NOW + timedelta(hours=3)),
    ],
)
def test_minutes_and_hours_are_exact_offsets_from_now(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("in 3 days", utc(11, 27)),
        ("in 1 day", utc(11, 25)),
        ("in a day", utc(11, 25)),
        ("in 3d", utc(11, 27)),
        ("in 3 d", utc(11, 27)),
        ("in 1 week", utc(12, 1)),
        ("in a week", utc(12, 1)),
        ("in 2 weeks", utc(12, 8)),
        ("in 2w", utc(12, 8)),
        ("in two days", utc(11, 26)),
        ("in 3 days at 9am", utc(11, 27, 9)),
    ],
)
def test_days_and_weeks_land_on_that_date_at_the_default_time(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("in 1 working day", utc(11, 25)),
        ("in 3 working days", utc(11, 27)),
        ("in 4 working days", utc(11, 30)),  # Fri -> skips Sat/Sun
        ("in 5 working days", utc(12, 1)),
        ("in 10 working days", utc(12, 8)),
        ("in 1 business day", utc(11, 25)),
    ],
)
def test_working_days_skip_weekends(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


@given(st.integers(0, 13), st.integers(1, 40))
@settings(max_examples=100, deadline=None)
def test_working_days_match_counting_weekdays_one_by_one(start_offset: int, amount: int) -> None:
    now = NOW + timedelta(days=start_offset)
    expected = now.date()
    left = amount
    while left:
        expected += timedelta(days=1)
        if expected.weekday() < 5:
            left -= 1
    assert due(f"in {amount} working days", now=now) == datetime.combine(expected, DEFAULT_DUE_TIME, UTC)


def test_one_working_day_from_the_weekend_is_monday() -> None:
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert due("in 1 working day", now=saturday) == utc(11, 30)


def test_in_zero_minutes_is_in_the_past() -> None:
    with pytest.raises(DueDateError, match="in the past"):
        due("in 0 minutes")


# --------------------------------------------------------------------------- time of day


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("friday 3pm", utc(11, 27, 15)),
        ("friday 3 pm", utc(11, 27, 15)),
        ("friday at 15:00", utc(11, 27, 15)),
        ("friday at 3:30pm", utc(11, 27, 15, 30)),
        ("friday 5 p.m.", utc(11, 27, 17)),
        ("3pm friday", utc(11, 27, 15)),
        ("3pm on friday", utc(11, 27, 15)),
        ("2026-12-01 09:30", utc(12, 1, 9, 30)),
        ("dec 3 at 9am", utc(12, 3, 9)),
        ("tomorrow noon", utc(11, 25, 12)),
        ("tomorrow at noon", utc(11, 25, 12)),
        ("today 5:30pm", utc(11, 24, 17, 30)),
        ("eod 6pm", utc(11, 24, 18)),
        ("friday midnight", utc(11, 28, 0)),
        ("12am tomorrow", utc(11, 25, 0)),
        ("tomorrow 12pm", utc(11, 25, 12)),
    ],
)
def test_time_of_day_after_a_date(phrase: str, expected: datetime) -> None:
    assert due(phrase) == expected


def test_bare_time_means_today_at_that_time() -> None:
    assert due("3pm") == utc(11, 24, 15)
    assert due("by 15:00") == utc(11, 24, 15)
    assert due("at 10:30") == utc(11, 24, 10, 30)


def test_bare_time_already_past_means_tomorrow() -> None:
    assert due("9am") == utc(11, 25, 9)
    assert due("10:00") == utc(11, 25, 10)  # exactly now is not in the future


def test_explicit_today_at_a_past_time_is_an_error() -> None:
    with pytest.raises(DueDateError, match="2026-11-24 09:00 is in the past"):
        due("today 9am")


@pytest.mark.parametrize("phrase", ["friday 25:00", "friday 13pm", "friday 3:75pm", "friday 0am"])
def test_impossible_time_of_day_is_not_understood(phrase: str) -> None:
    with pytest.raises(DueDateError, match="couldn't understand"):
        due(phrase)


# --------------------------------------------------------------------------- time zones and DST


def test_requesters_in_different_time_zones_get_different_instants_for_by_friday() -> None:
    los_angeles = due("by friday", tz="America/Los_Angeles")  # Fri 17:00 PST = Sat 01:00 UTC
    tokyo = due("by friday", tz="Asia/Tokyo")  # Fri 17:00 JST = Fri 08:00 UTC
    assert los_angeles == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert tokyo == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_today_is_the_requesters_local_today() -> None:
    # 10:00 UTC is already 19:00 on Tuesday in Tokyo: "today" (17:00) has passed there.
    with pytest.raises(DueDateError, match="in the past"):
        due("today", tz="Asia/Tokyo")
    # ... and it is still 02:00 on Tuesday in Los Angeles.
    assert due("today", tz="America/Los_Angeles") == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_weekday_is_counted_from_the_requesters_local_date() -> None:
    # 23:30 UTC Tuesday is already Wednesday 08:30 in Tokyo, so "wednesday" is today there.
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert due("wednesday", now=late, tz="Asia/Tokyo") == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert due("wednesday", now=late, tz="UTC") == utc(11, 25)


def test_results_are_aware_utc() -> None:
    result = due("friday 3pm", tz="Asia/Kolkata")
    assert result.tzinfo is UTC
    assert result == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_days_across_the_autumn_dst_change_keep_local_wall_clock_time() -> None:
    friday = datetime(2026, 10, 23, 8, 0, tzinfo=UTC)  # Berlin CEST (UTC+2); clocks go back on Oct 25
    assert due("in 3 days", now=friday, tz="Europe/Berlin") == datetime(2026, 10, 26, 16, 0, tzinfo=UTC)
    assert due("monday", now=friday, tz="Europe/Berlin") == datetime(2026, 10, 26, 16, 0, tzinfo=UTC)
    assert due("friday", now=friday, tz="Europe/Berlin") == datetime(2026, 10, 23, 15, 0, tzinfo=UTC)


def test_hours_across_the_dst_change_are_exact_elapsed_time() -> None:
    friday = datetime(2026, 10, 23, 8, 0, tzinfo=UTC)
    assert due("in 72 hours", now=friday, tz="Europe/Berlin") == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_days_across_the_spring_dst_change_keep_local_wall_clock_time() -> None:
    friday = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # Los Angeles PST; clocks go forward on Mar 8
    assert due("friday", now=friday, tz="America/Los_Angeles") == datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert due("monday", now=friday, tz="America/Los_Angeles") == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)


def test_time_in_the_spring_forward_gap_does_not_crash() -> None:
    before = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # 02:30 does not exist in New York on 2026-03-08; zoneinfo reads it with the pre-transition offset.
    assert due("2026-03-08 02:30", now=before, tz="America/New_York") == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_ambiguous_time_in_the_autumn_overlap_uses_the_first_occurrence() -> None:
    before = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    # 01:30 happens twice in New York on 2026-11-01; the first one is EDT (UTC-4).
    assert due("2026-11-01 01:30", now=before, tz="America/New_York") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", "../etc/passwd", "not a zone", "America"])
def test_unknown_time_zone_is_a_due_date_error(tz: str) -> None:
    with pytest.raises(DueDateError, match="time zone"):
        due("friday", tz=tz)


def test_naive_now_is_read_as_utc_not_host_local_time() -> None:
    assert due("friday", now=NOW.replace(tzinfo=None)) == utc(11, 27)


# --------------------------------------------------------------------------- not understood


def test_unknown_phrase_explains_what_works() -> None:
    with pytest.raises(DueDateError) as info:
        due("blursday")
    assert str(info.value) == (
        "I couldn't understand the due date 'blursday'. Try 'by friday', 'by 2026-12-01' or 'in 3 days'."
    )


def test_unknown_phrase_after_by_quotes_the_phrase_without_by() -> None:
    with pytest.raises(DueDateError, match="'the way'"):
        due("by the way")


@pytest.mark.parametrize(
    "phrase", ["", "by", "in", "in 3 boxes", "next", "in 3 months", "friday friday", "3", "by 5", "the way"]
)
def test_non_dates_are_not_understood(phrase: str) -> None:
    with pytest.raises(DueDateError, match="couldn't understand"):
        due(phrase)


def test_due_date_error_is_a_value_error() -> None:
    assert issubclass(DueDateError, ValueError)


@pytest.mark.parametrize("phrase", ["9999-12-31", "in 999999 weeks", "0001-01-01"])
def test_out_of_range_dates_are_due_date_errors(phrase: str) -> None:
    with pytest.raises(DueDateError):
        due(phrase, tz="America/Los_Angeles")


def test_long_phrase_is_quoted_shortened() -> None:
    with pytest.raises(DueDateError) as info:
        due("blursday " * 1000)
    assert len(str(info.value)) < 200


@given(st.text(max_size=60), st.sampled_from(["UTC", "Asia/Tokyo", "America/Los_Angeles", "Nowhere/Land"]))
@settings(max_examples=200, deadline=None)
def test_parse_due_returns_a_future_utc_instant_or_raises_due_date_error(phrase: str, tz: str) -> None:
    try:
        result = due(phrase, tz=tz)
    except DueDateError as error:
        assert str(error)
    else:
        assert result.tzinfo is UTC
        assert result > NOW


PHRASES = st.one_of(
    st.sampled_from(["friday", "next mon", "tomorrow", "eod", "next week", "eow", "dec 3", "3 march", "2027-06-01"]),
    st.builds("in {} {}".format, st.integers(1, 500), st.sampled_from(["minutes", "hours", "days", "weeks"])),
)
TIMES = st.sampled_from(["", " 9am", " at 15:00", " noon", " 11:45pm"])


@given(PHRASES, TIMES, st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)))
@settings(max_examples=200, deadline=None)
def test_supported_phrases_are_in_the_future_or_report_the_past(phrase: str, time_of_day: str, now: datetime) -> None:
    aware_now = now.replace(tzinfo=UTC)
    if phrase.startswith("in "):
        exact_offset = phrase.endswith(("minutes", "hours"))
        full = phrase if exact_offset else phrase + time_of_day
    else:
        full = f"by {phrase}{time_of_day}"
    try:
        result = due(full, now=aware_now, tz="Europe/Berlin")
    except DueDateError as error:
        assert "in the past" in str(error)
    else:
        assert result > aware_now


# --------------------------------------------------------------------------- split_due


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("send the numbers by friday", ("send the numbers", "by friday")),
        ("send the numbers BY Friday", ("send the numbers", "BY Friday")),
        ("send the numbers by friday 3pm.", ("send the numbers", "by friday 3pm")),
        ("deliver the deck in 3 days", ("deliver the deck", "in 3 days")),
        ("ping me in an hour", ("ping me", "in an hour")),
        ("by friday", ("", "by friday")),
        ("  review pls by 2026-12-01  ", ("review pls", "by 2026-12-01")),
        ("signed off by alice by friday", ("signed off by alice", "by friday")),
        ("finish in 2 days by 5pm", ("finish in 2 days", "by 5pm")),
        ("a list\nby\nfriday", ("a list", "by\nfriday")),
        ("call me by tomorrow at noon", ("call me", "by tomorrow at noon")),
        ("done by dec 3rd, 2027", ("done", "by dec 3rd, 2027")),
        ("done by feb 30", ("done", "by feb 30")),
    ],
)
def test_split_due_takes_a_trailing_due_clause(text: str, expected: tuple[str, str | None]) -> None:
    assert split_due(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "need help by the way",
        "put it in 3 boxes",
        "standby friday",
        "written by friday the cat",
        "pay by card",
        "in the office",
        "by friday we need x",
        "send it by blursday",
        "",
    ],
)
def test_split_due_leaves_text_without_a_due_clause_alone(text: str) -> None:
    assert split_due(text) == (text.strip(), None)


@given(st.text(max_size=80), st.sampled_from(["by friday", "in 3 days", "by tomorrow 3pm", "BY Dec 3", "in 2h"]))
@settings(max_examples=200, deadline=None)
def test_split_due_finds_an_appended_clause_after_any_text(text: str, clause: str) -> None:
    assert split_due(f"{text} {clause}") == (text.strip(), clause)


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_split_due_never_raises_and_only_removes_a_suffix(text: str) -> None:
    rest, clause = split_due(text)
    if clause is None:
        assert rest == text.strip()
    else:
        assert text.strip().startswith(rest)
        assert clause.lower().startswith(("by", "in"))
        assert clause in text


def test_split_due_is_fast_on_huge_text() -> None:
    text = "by in " * 200_000 + "by friday"
    assert split_due(text)[1] == "by friday"
