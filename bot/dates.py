"""Due-date phrases ("by friday", "in 3 days", "dec 3rd 2pm") resolved in the requester's time zone.

Everything here is pure: the current instant is always passed in as ``now`` and
the requester's IANA time zone as ``tz``. Results are aware datetimes in UTC.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.workhours import WorkingHours

__all__ = ["DEFAULT_DUE_TIME", "DueDateError", "DueSearch", "find_due", "parse_due", "split_due"]

DEFAULT_DUE_TIME: time = time(17, 0)
"""Local time of day used when a phrase names a day but no time (end of the working day)."""

_HINT = "Try 'by friday', 'by 2026-12-01' or 'in 3 days'."
# A due clause is short; longer tails of free text are never parsed as one.
_MAX_CLAUSE_CHARS = 80
_MAX_WORKING_DAY_SEARCH = 3660
_MAX_ECHO_CHARS = 60


class DueDateError(ValueError):
    """A due-date phrase that cannot be understood or lies in the past; the message is user-facing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- vocabulary

_WEEKDAYS: dict[str, int] = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2, "weds": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}  # fmt: skip

_MONTHS: dict[str, int] = {
    "january": 1, "jan": 1,
    "february": 2, "feb": 2,
    "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "may": 5,
    "june": 6, "jun": 6,
    "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip

_NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip

_UNITS: dict[str, str] = {
    "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "wk": "weeks", "wks": "weeks", "week": "weeks", "weeks": "weeks",
    "working day": "working_days", "working days": "working_days",
    "business day": "working_days", "business days": "working_days",
    "workday": "working_days", "workdays": "working_days",
}  # fmt: skip

_TODAY_WORDS = frozenset({"today", "eod", "end of day", "end of the day", "tonight", "cob"})
_TOMORROW_WORDS = frozenset({"tomorrow", "tmrw", "tmr"})
_END_OF_WEEK_WORDS = frozenset({"end of week", "end of the week", "end of this week", "eow"})

_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_WORD_COUNT_ALT = "|".join(_NUMBER_WORDS)

_ORD = r"(?:st|nd|rd|th)?"
_ISO_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_MONTH_DAY_RE = re.compile(rf"({_MONTH_ALT}) ([0-9]{{1,2}}){_ORD}(?: ([0-9]{{4}}))?")
_DAY_MONTH_RE = re.compile(rf"(?:the )?([0-9]{{1,2}}){_ORD} (?:of )?({_MONTH_ALT})(?: ([0-9]{{4}}))?")
_TIME_12_RE = re.compile(r"([0-9]{1,2})(?:[:.]([0-9]{2}))? ?(am|pm|a\.m\.|p\.m\.|a\.m|p\.m)")
_TIME_24_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_RELATIVE_RE = re.compile(rf"in (?:([0-9]{{1,6}}) ?|({_WORD_COUNT_ALT}) )({_UNIT_ALT})(?: (.+))?")
_AM_PM_DOT_RE = re.compile(r"[0-9]\s?[ap]\.m\.$", re.IGNORECASE)
_LEADING_BY_RE = re.compile(r"^by(?:\s+|$)", re.IGNORECASE)
_CLAUSE_START_RE = re.compile(r"(?<!\S)(?:by|in)(?=\s)", re.IGNORECASE)


# --------------------------------------------------------------------------- syntax


@dataclass(frozen=True)
class _TimeOfDay:
    hour: int
    minute: int
    next_day: bool = False  # "midnight" = the end of the named day


@dataclass(frozen=True)
class _Today:
    pass


@dataclass(frozen=True)
class _Tomorrow:
    pass


@dataclass(frozen=True)
class _Weekday:
    weekday: int
    following_week: bool


@dataclass(frozen=True)
class _CalendarDate:
    year: int | None
    month: int
    day: int
    text: str


@dataclass(frozen=True)
class _NextWeek:
    pass


@dataclass(frozen=True)
class _EndOfWeek:
    following_week: bool


_DateSpec = _Today | _Tomorrow | _Weekday | _CalendarDate | _NextWeek | _EndOfWeek


@dataclass(frozen=True)
class _Absolute:
    day: _DateSpec | None  # None: a bare time of day
    time: _TimeOfDay | None


@dataclass(frozen=True)
class _Relative:
    amount: int
    unit: str
    time: _TimeOfDay | None


_Phrase = _Absolute | _Relative


def _normalize(phrase: str) -> str:
    """Lower-case, collapse whitespace and commas, drop a trailing period."""
    text = phrase.replace(",", " ").lower()
    text = " ".join(text.split())
    while text.endswith(".") and not _AM_PM_DOT_RE.search(text):  # keep the dot of "p.m."
        text = text[:-1].rstrip()
    return text


def _parse_time(text: str) -> _TimeOfDay | None:
    """Parse "3pm", "3:30 pm", "15:00", "noon", "midnight", optionally after "at"."""
    text = text.removeprefix("at ")
    if text in ("noon", "midday"):
        return _TimeOfDay(12, 0)
    if text == "midnight":
        return _TimeOfDay(0, 0, next_day=True)
    m = _TIME_12_RE.fullmatch(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return None
        hour %= 12
        if m.group(3).startswith("p"):
            hour += 12
        return _TimeOfDay(hour, minute)
    m = _TIME_24_RE.fullmatch(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            return None
        return _TimeOfDay(hour, minute)
    return None


def _parse_day(text: str) -> _DateSpec | None:
    """Parse the day part of a phrase ("friday", "next fri", "dec 3rd 2026", "2026-12-01")."""
    if text in _TODAY_WORDS:
        return _Today()
    if text in _TOMORROW_WORDS:
        return _Tomorrow()
    if text == "next week":
        return _NextWeek()
    if text in _END_OF_WEEK_WORDS:
        return _EndOfWeek(following_week=False)
    if text == "end of next week":
        return _EndOfWeek(following_week=True)
    words = text.split(" ")
    if len(words) == 1 and text in _WEEKDAYS:
        return _Weekday(_WEEKDAYS[text], following_week=False)
    if len(words) == 2 and words[1] in _WEEKDAYS and words[0] in ("next", "this", "on"):
        return _Weekday(_WEEKDAYS[words[1]], following_week=words[0] == "next")
    m = _ISO_RE.fullmatch(text)
    if m:
        month, day = int(m.group(2)), int(m.group(3))
        if 1 <= month <= 12 and 1 <= day <= 31:
            return _CalendarDate(int(m.group(1)), month, day, text)
        return None
    m = _MONTH_DAY_RE.fullmatch(text)
    if m:
        month, day, year_text = _MONTHS[m.group(1)], int(m.group(2)), m.group(3)
    else:
        m = _DAY_MONTH_RE.fullmatch(text)
        if not m:
            return None
        day, month, year_text = int(m.group(1)), _MONTHS[m.group(2)], m.group(3)
    if not 1 <= day <= 31:
        return None
    return _CalendarDate(int(year_text) if year_text else None, month, day, text)


def _parse_absolute(text: str) -> _Absolute | None:
    """Parse "<day>", "<time>", "<day> [at] <time>" or "<time> [on] <day>"."""
    day = _parse_day(text)
    if day is not None:
        return _Absolute(day, None)
    tod = _parse_time(text)
    if tod is not None:
        return _Absolute(None, tod)
    words = text.split(" ")
    if len(words) > 8:
        return None
    for cut in range(1, len(words)):
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        day, tod = _parse_day(head), _parse_time(tail)
        if day is not None and tod is not None:
            return _Absolute(day, tod)
        tail = tail.removeprefix("on ")
        tod, day = _parse_time(head), _parse_day(tail)
        if day is not None and tod is not None:
            return _Absolute(day, tod)
    return None


def _parse_phrase(normalized: str) -> _Phrase | None:
    """Parse a normalized phrase, with or without its leading "by"/"in"; None if not a due date."""
    if len(normalized) > _MAX_CLAUSE_CHARS:
        return None
    if normalized.startswith("in "):
        m = _RELATIVE_RE.fullmatch(normalized)
        if not m:
            return None
        amount = int(m.group(1)) if m.group(1) else _NUMBER_WORDS[m.group(2)]
        unit = _UNITS[m.group(3)]
        tod: _TimeOfDay | None = None
        if m.group(4) is not None:
            if unit in ("minutes", "hours"):
                return None
            tod = _parse_time(m.group(4))
            if tod is None:
                return None
        return _Relative(amount, unit, tod)
    normalized = normalized.removeprefix("by ")
    return _parse_absolute(normalized)


# --------------------------------------------------------------------------- evaluation


def _load_zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or DueDateError for an unknown one."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise DueDateError(f"I don't know the time zone {_echo(str(tz))!r}.") from None


def _echo(text: str) -> str:
    """Shorten user text quoted back in a message."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ECHO_CHARS else text[: _MAX_ECHO_CHARS - 1] + "…"


def _wall_clock(day: date, tod: _TimeOfDay | None) -> datetime:
    """The naive local datetime for ``day`` at ``tod`` (default 17:00; "midnight" ends the day)."""
    if tod is None:
        return datetime.combine(day, DEFAULT_DUE_TIME)
    if tod.next_day:
        day = day + timedelta(days=1)
    return datetime.combine(day, time(tod.hour, tod.minute))


def _at(day: date, tod: _TimeOfDay | None, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time on ``day``; DST handled by zoneinfo (fold=0)."""
    return _wall_clock(day, tod).replace(tzinfo=zone).astimezone(UTC)


def _add_working_days(start: date, amount: int, hours: WorkingHours) -> date:
    """``start`` plus ``amount`` of the days ``hours`` works on (its weekdays, the org's holidays
    and the requester's public holidays)."""
    day = start
    for _ in range(_MAX_WORKING_DAY_SEARCH):
        if amount <= 0:
            return day
        day += timedelta(days=1)
        if hours.works_on(day):
            amount -= 1
    raise OverflowError("no working days ahead")


def _in_the_past(local: datetime) -> DueDateError:
    return DueDateError(f"The due date {local.date().isoformat()} {local:%H:%M} is in the past.")


def _invalid_date(spec: _CalendarDate) -> DueDateError:
    return DueDateError(f"{_echo(spec.text)} is not a valid date. {_HINT}")


def _resolve_calendar(spec: _CalendarDate, tod: _TimeOfDay | None, now: datetime, zone: ZoneInfo) -> datetime:
    today = now.astimezone(zone).date()
    if spec.year is not None:
        try:
            day = date(spec.year, spec.month, spec.day)
        except ValueError:
            raise _invalid_date(spec) from None
        if day < today:  # reported before converting: far-past years may not convert to UTC
            raise _in_the_past(_wall_clock(day, tod))
        return _at(day, tod, zone)
    for year in range(today.year, today.year + 9):  # 9 years always contains a Feb 29
        try:
            candidate = _at(date(year, spec.month, spec.day), tod, zone)
        except ValueError:
            continue
        if candidate > now:
            return candidate
    raise _invalid_date(spec)


def _resolve(phrase: _Phrase, now: datetime, zone: ZoneInfo, hours: WorkingHours) -> datetime:
    """The UTC instant a parsed phrase denotes for a requester in ``zone`` at ``now``."""
    today = now.astimezone(zone).date()
    if isinstance(phrase, _Relative):
        if phrase.unit == "minutes":
            return now + timedelta(minutes=phrase.amount)
        if phrase.unit == "hours":
            return now + timedelta(hours=phrase.amount)
        if phrase.unit == "days":
            return _at(today + timedelta(days=phrase.amount), phrase.time, zone)
        if phrase.unit == "weeks":
            return _at(today + timedelta(weeks=phrase.amount), phrase.time, zone)
        return _at(_add_working_days(today, phrase.amount, hours), phrase.time, zone)
    spec, tod = phrase.day, phrase.time
    if spec is None:  # bare time: today, or tomorrow once it has passed
        candidate = _at(today, tod, zone)
        return candidate if candidate > now else _at(today + timedelta(days=1), tod, zone)
    if isinstance(spec, _Today):
        return _at(today, tod, zone)
    if isinstance(spec, _Tomorrow):
        return _at(today + timedelta(days=1), tod, zone)
    if isinstance(spec, _Weekday):
        ahead = (spec.weekday - today.weekday()) % 7
        if spec.following_week:
            return _at(today + timedelta(days=ahead + 7), tod, zone)
        candidate = _at(today + timedelta(days=ahead), tod, zone)
        return candidate if candidate > now else _at(today + timedelta(days=ahead + 7), tod, zone)
    if isinstance(spec, _NextWeek):
        return _at(today + timedelta(days=7 - today.weekday()), tod, zone)
    if isinstance(spec, _EndOfWeek):
        friday = today + timedelta(days=4 - today.weekday())
        if spec.following_week:
            return _at(friday + timedelta(days=7), tod, zone)
        candidate = _at(friday, tod, zone)
        return candidate if candidate > now else _at(friday + timedelta(days=7), tod, zone)
    return _resolve_calendar(spec, tod, now, zone)


# --------------------------------------------------------------------------- public API


def parse_due(phrase: str, *, now: datetime, tz: str, hours: WorkingHours) -> datetime:
    """Resolve a due phrase ("by friday 3pm", "in 3 days", "dec 3") to an aware UTC datetime after ``now``.

    "in N working days" counts the days ``hours`` works on (pass the requester's calendar:
    ``settings.working_hours.for_person(requester)``)."""
    zone = _load_zone(tz)
    if now.tzinfo is None:  # documented as aware UTC; never consult the host's local zone
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    normalized = _normalize(phrase)
    parsed = _parse_phrase(normalized)
    if parsed is None:
        shown = _LEADING_BY_RE.sub("", phrase.strip())
        raise DueDateError(f"I couldn't understand the due date {_echo(shown)!r}. {_HINT}")
    try:
        due = _resolve(parsed, now, zone, hours)
    except OverflowError:
        raise DueDateError("That due date is too far in the future.") from None
    if due <= now:
        raise _in_the_past(due.astimezone(zone))
    return due


def split_due(text: str) -> tuple[str, str | None]:
    """Split a trailing " by <when>" / " in <n> <unit>" clause off free text: (stripped rest, clause or None)."""
    stripped = text.strip()
    starts = [m.start() for m in _CLAUSE_START_RE.finditer(stripped, max(0, len(stripped) - _MAX_CLAUSE_CHARS - 1))]
    for start in reversed(starts):
        if start > 0 and not stripped[start - 1].isspace():
            continue  # finditer(pos=...) cannot see the character before pos
        clause = stripped[start:]
        if _parse_phrase(_normalize(clause)) is not None:
            while clause.endswith(".") and not _AM_PM_DOT_RE.search(clause):
                clause = clause[:-1].rstrip()
            return stripped[:start].rstrip(), clause
    return stripped, None


# --------------------------------------------------------------------------- a due phrase anywhere

_MAX_CLAUSE_WORDS = 8
_EDGE_PUNCT = ",;:.!?)"
_DATE_WORDS = (*_WEEKDAYS, *_MONTHS, *_TODAY_WORDS, *_TOMORROW_WORDS, "noon", "midnight", "midday", "next", "eow")
_DAYISH_RE = re.compile(r"[0-9]|day$|days$|day's$")
_UNIT_WORD_RE = re.compile(
    r"(?:min|mins|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?|months?|years?|yrs?|fortnights?|working|business|workdays?)"
)
_NUMBERISH_RE = re.compile(r"[-+−]?[0-9][0-9,._]*|a|an|few|couple|several|some|" + _WORD_COUNT_ALT)


@dataclass(frozen=True)
class DueSearch:
    """What :func:`find_due` found in free text.

    ``text`` is the text without the due clause; ``clause`` the due clause taken out of it (it
    parses as a due phrase; :func:`parse_due` still decides whether it is in the future);
    ``unreadable`` a ``by``/``in`` phrase that looks like a date but can't be read. It stays in
    ``text``, and the requester must be told. Nothing else is ever removed from the text.
    """

    text: str
    clause: str | None = None
    unreadable: str | None = None


def _clean_word(word: str) -> str:
    return word.strip(_EDGE_PUNCT + "\"'").lower()


def _looks_like_a_date(keyword: str, following: list[str]) -> int:
    """How many of ``following`` belong to a date-looking phrase after ``by``/``in`` (0: none)."""
    words = [_clean_word(w) for w in following[:3]]
    if not words or not words[0]:
        return 0
    if keyword == "in":
        if not _NUMBERISH_RE.fullmatch(words[0]):
            return 0
        for index, word in enumerate(words[1:], start=2):
            if _UNIT_WORD_RE.fullmatch(word):
                return index
        return 0
    first = words[0]
    if first in ("next", "this", "end", "the") and len(words) > 1:
        inner = _looks_like_a_date("by", following[1:])
        return inner + 1 if inner else (1 if first == "next" else 0)
    if _DAYISH_RE.search(first) or first in _DATE_WORDS:
        return 1
    if len(first) >= 3 and difflib.get_close_matches(first, _DATE_WORDS, n=1, cutoff=0.75):
        return 1
    return 0


def _splice(left: str, right: str) -> str:
    """Join the text around a removed clause: one space, or none before punctuation."""
    left, right = left.rstrip(), right.lstrip()
    if not left:
        return right.lstrip(",;: ").lstrip()
    if not right:
        return left.rstrip(",;:")
    if right[0] in ",;:.!?)":
        return left + right
    return f"{left} {right}"


def find_due(text: str) -> DueSearch:
    """Find a due clause anywhere in ``text`` (pure, never raises).

    A trailing clause wins (``... by friday``); otherwise the first ``by``/``in`` phrase that
    reads as a date, as long as it reads (``by friday, split by region`` takes ``by friday``).
    When none reads but one looks like a date (``by blursday``, ``in -3 days``), it is reported
    as ``unreadable`` and left in the text.
    """
    stripped = text.strip()
    head, clause = split_due(stripped)
    if clause is not None:
        return DueSearch(head, clause)
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", stripped)]
    unreadable: str | None = None
    for index, (start, end) in enumerate(tokens):
        keyword = stripped[start:end].lower()
        if keyword not in ("by", "in"):
            continue
        best: int | None = None
        for last in range(index + 1, min(len(tokens), index + _MAX_CLAUSE_WORDS + 1)):
            candidate = stripped[start : tokens[last][1]].rstrip(_EDGE_PUNCT)
            if _parse_phrase(_normalize(candidate)) is not None:
                best = last
        if best is not None:
            candidate_end = tokens[best][1]
            clause = stripped[start:candidate_end]
            trimmed = clause.rstrip(_EDGE_PUNCT) if not _AM_PM_DOT_RE.search(clause) else clause
            candidate_end = start + len(trimmed)
            return DueSearch(_splice(stripped[:start], stripped[candidate_end:]), trimmed)
        if unreadable is None:
            taken = _looks_like_a_date(keyword, [stripped[s:e] for s, e in tokens[index + 1 :]])
            if taken:
                phrase_end = tokens[index + taken][1]
                unreadable = stripped[start:phrase_end].rstrip(_EDGE_PUNCT)
    return DueSearch(stripped, None, unreadable)
