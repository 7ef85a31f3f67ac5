"""Complaint patterns: what keeps going wrong for a team, a person or a team link, and whether it is
getting better. ``docs/metrics.md`` ("Complaint patterns") defines what a complaint is and how
comments are grouped into themes; the per-request facts come from :mod:`bot.metrics`.

Only requesters' own words on their requests are read (poor-rating comments, "still not satisfied"
notes). Anonymous pulse comments are never used here, so they can't be joined to people.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import NotAllowed, NotFound
from bot.metrics import COMPLAINT_KINDS, DEFAULT_WINDOW, NO_TEAM, POOR_RATING, OrgMetrics, RequestFacts
from bot.models import NEEDS, Person
from bot.people import Directory
from bot.ports import Store
from bot.workhours import WorkingHours

MIN_THEME = 2
"""A theme must recur: a word shared by at least this many complaint comments."""
_WORD = re.compile(r"[a-z][a-z']+")
_STOP_WORDS = """a about after again all also an and any are as at be been but by can could did do does don't for from
    get got had has have he her him his how i i'm if in into is it it's its just me more my no not now of on
    one or our out please she so still than that the their them then there they this to too up us very was
    we were what when which who why will with would you your"""
_STOP = frozenset(_STOP_WORDS.split())


def _stem(word: str) -> str:
    """A crude stem so "late", "later" and "lateness" meet: strip a few English endings."""
    for ending in ("ness", "ing", "ed", "er", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def comment_words(text: str) -> set[str]:
    """The content words of a comment, stemmed, without stop words."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


@dataclass(frozen=True)
class Theme:
    """Comments that share a word: the word, how many, and the requests."""

    word: str
    count: int
    refs: tuple[str, ...]


def themes(comments: Sequence[tuple[str, str]], minimum: int = MIN_THEME) -> list[Theme]:
    """Group ``(ref, comment)`` pairs by recurring words, greedily: take the word shared by the most
    comments not yet grouped, make it a theme, repeat while a word is shared by ``minimum`` or more.
    Ties go to the alphabetically first word, so the result is stable."""
    words = {ref: comment_words(text) for ref, text in comments if text.strip()}
    left = dict(words)
    found: list[Theme] = []
    while True:
        counts = Counter(w for ws in left.values() for w in ws)
        best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if not best or best[0][1] < minimum:
            return found
        word, count = best[0]
        refs = tuple(sorted(ref for ref, ws in left.items() if word in ws))
        found.append(Theme(word, count, refs))
        for ref in refs:
            del left[ref]


@dataclass(frozen=True)
class Patterns:
    """Complaints about one scope in a window, grouped, and the previous window's count."""

    scope: str
    since: datetime
    until: datetime
    requests: int
    complaints: int
    previous: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_need: dict[str, int] = field(default_factory=dict)
    by_tag: dict[str, int] = field(default_factory=dict)
    by_counterpart: dict[str, int] = field(default_factory=dict)
    themes: list[Theme] = field(default_factory=list)

    @property
    def trend(self) -> str:
        """``up from 3``, ``down from 5``, ``same as before (2)``."""
        if self.complaints == self.previous:
            return f"same as the previous window ({self.previous})"
        return f"{'up' if self.complaints > self.previous else 'down'} from {self.previous} in the previous window"


def _counted(values: Sequence[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items(), key=lambda item: (-item[1], item[0])))


def patterns_of(
    current: Sequence[RequestFacts],
    previous: Sequence[RequestFacts],
    *,
    scope: str,
    since: datetime,
    until: datetime,
    counterpart: Callable[[RequestFacts], str],
) -> Patterns:
    """Group the complaints of ``current`` (requests served by the scope); ``previous`` only counts."""
    hit = [f for f in current if f.complaints]
    low_needs = [
        need
        for f in hit
        if f.rating is not None
        for need in NEEDS
        if need in f.rating.needs and f.rating.needs[need] <= POOR_RATING
    ]
    return Patterns(
        scope=scope,
        since=since,
        until=until,
        requests=len(current),
        complaints=len(hit),
        previous=sum(1 for f in previous if f.complaints),
        by_kind={k: v for k in COMPLAINT_KINDS if (v := sum(k in f.complaints for f in hit))},
        by_need=_counted(low_needs),
        by_tag=_counted([t for f in hit for t in f.tags]),
        by_counterpart=_counted([counterpart(f) for f in hit]),
        themes=themes([(f"R-{f.number}", f.comment) for f in hit]),
    )


def _select(org: OrgMetrics, target: str | None, person: Person | None) -> tuple[str, Callable[[RequestFacts], bool]]:
    """The scope's name and which requests it served."""
    if person is not None:
        return f"{person.name} (@{person.handle})", lambda f: f.provider_id == person.id
    if not target:
        return "whole organisation", lambda f: True
    for arrow in ("->", "→", ":"):
        if arrow in target:
            source, target_team = (org_team(org, part) for part in target.split(arrow, 1))
            return (
                f"{org.team_name(source)} → {org.team_name(target_team)}",
                lambda f, a=source, b=target_team: f.requester_team == a and f.provider_team == b,  # type: ignore[misc]
            )
    name = target.strip()
    found = next((p for p in org.people.values() if p.handle == name.lstrip("@").lower()), None)
    if name.startswith("@") or (found is not None and _find_team(org, name) is None):
        if found is None:
            raise NotFound(f"I don't know anyone called {name}.")
        return _select(org, None, found)
    ids = org.team_ids(org_team(org, name))
    return f"{org.team_name(org_team(org, name))} (team)", lambda f: f.provider_team in ids


def _find_team(org: OrgMetrics, name: str) -> str | None:
    wanted = name.strip().lower()
    if wanted in ("(no team)", "none"):
        return NO_TEAM
    return next((t.id for t in org.teams.values() if wanted in (t.id.lower(), t.name.lower())), None)


def org_team(org: OrgMetrics, name: str) -> str:
    """A team id by name or id; NotFound otherwise."""
    found = _find_team(org, name)
    if found is None:
        raise NotFound(f"I don't know a team called {name.strip()!r}.")
    return found


def scope_patterns(
    current: OrgMetrics, previous: OrgMetrics, *, target: str | None = None, person: Person | None = None
) -> Patterns:
    """Patterns for ``/request patterns [team|@person|team->team|team:team]`` over two loaded windows."""
    scope, keep = _select(current, target, person)

    def counterpart(f: RequestFacts) -> str:
        return current.team_name(f.requester_team)

    return patterns_of(
        [f for f in current.facts if keep(f)],
        [f for f in previous.facts if keep(f)],
        scope=scope,
        since=current.since,
        until=current.until,
        counterpart=counterpart,
    )


def _top(counts: dict[str, int], limit: int = 5) -> str:
    return " · ".join(f"{name} {count}" for name, count in list(counts.items())[:limit]) or "none"


def patterns_lines(patterns: Patterns, *, refs: bool = True) -> list[str]:
    """The patterns as lines (the digest section, and the body of :func:`patterns_text`); without
    ``refs`` the themes name no requests (chat and digest readers may not see every request)."""
    if not patterns.complaints:
        return [f"No complaints in {patterns.requests} requests ({patterns.trend})."]
    lines = [
        f"Complaints: {patterns.complaints} of {patterns.requests} requests ({patterns.trend}).",
        f"By kind: {_top(patterns.by_kind)}.",
        f"Needs scored low (1-{POOR_RATING}): {_top(patterns.by_need)}.",
        f"By tag: {_top(patterns.by_tag)}.",
        f"From teams: {_top(patterns.by_counterpart)}.",
    ]
    if patterns.themes:
        lines.append(
            "Recurring in comments: "
            + "; ".join(
                f"“{t.word}…” {t.count}" + (f" ({', '.join(t.refs[:4])})" if refs else "") for t in patterns.themes[:5]
            )
            + "."
        )
    else:
        lines.append("Recurring in comments: nothing said twice.")
    return lines


def patterns_text(patterns: Patterns, *, tz_label: str = "UTC", refs: bool = True) -> str:
    """The whole report for ``/request patterns`` and ``servechain patterns``."""
    header = (
        f"Complaint patterns · {patterns.scope} · requests created {patterns.since:%a %d %b %Y} – "
        f"{patterns.until:%a %d %b %Y} ({tz_label})"
    )
    return "\n".join([header, *patterns_lines(patterns, refs=refs)])


def request_patterns(
    *,
    store: Store,
    directory: Directory,
    viewer: Person,
    now: datetime,
    person: Person | None = None,
    scope: str | None = None,
    window_length: timedelta = DEFAULT_WINDOW,
    hours: WorkingHours,
) -> str:
    """``/request patterns``: anyone may see their own; other people, teams and links are for
    managers (someone reports to them). Themes name no requests in chat."""
    if person is None and not scope:
        person = viewer
    if person is not None and person.id != viewer.id and not directory.manages(viewer.id, person.id):
        raise NotAllowed("Complaint patterns of other people are for their managers.")
    if person is None and not any(
        directory.manages(viewer.id, p.id) for p in store.list_people(viewer.workspace) if p.id != viewer.id
    ):
        raise NotAllowed("Complaint patterns of teams are for managers; try /request patterns for your own.")
    workspace = viewer.workspace
    current = OrgMetrics.load(
        store=store, workspace=workspace, since=now - window_length, until=now, now=now, hours=hours
    )
    previous = OrgMetrics.load(
        store=store, workspace=workspace, since=now - 2 * window_length, until=now - window_length, now=now, hours=hours
    )
    return patterns_text(scope_patterns(current, previous, target=scope, person=person), refs=False)
