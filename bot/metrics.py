"""Responsiveness figures read from request logs, in working time.

For a person (both as provider and as customer), a team (with its sub-teams) or a link
between two teams (requester's team -> provider's team), over a window of creation
times. The exact definitions are in ``docs/metrics.md``; keep the two in step.

Everything here is pure over what the store returns: loading is one pass
(:meth:`OrgMetrics.load`), the figures are then computed from per-request facts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from bot.errors import InvalidCommand
from bot.models import NEEDS, Event, EventKind, Person, Rating, Request, Status, Team
from bot.ports import Store
from bot.promises import promised_due, renegotiations
from bot.workhours import WorkingHours, working_time

NO_TEAM = ""
"""Team id used for people without a team (shown as "(no team)")."""

DEFAULT_WINDOW = timedelta(days=30)

_FIRST_RESPONSE = (EventKind.ACKNOWLEDGED, EventKind.STARTED, EventKind.DONE, EventKind.DECLINED)
_RESOLUTION = (EventKind.DONE, EventKind.DECLINED)
_HAND_OFF = (EventKind.HANDED_OFF, EventKind.REASSIGNED)
_WINDOW_RE = re.compile(r"\s*(\d{1,4})\s*(h|d|w)?\s*", re.IGNORECASE)
_WINDOW_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


# --------------------------------------------------------------------------- per request


@dataclass(frozen=True)
class RequestFacts:
    """What one request contributes to the figures (see docs/metrics.md for each definition)."""

    number: int
    requester_id: str
    provider_id: str
    requester_team: str
    provider_team: str
    created_at: datetime
    is_open: bool
    external: bool
    time_to_acknowledge: timedelta | None
    time_to_resolve: timedelta | None
    waited_to_acknowledge: timedelta | None
    """Open without a first response: how long the requester has waited so far, until now. A
    censored duration: the real one is at least this long."""
    waited_to_resolve: timedelta | None
    """Open: the wait so far, until now (censored)."""
    promise_kept: bool | None
    declined: bool
    alternative_offered: bool
    hand_offs: int
    closed_once: bool
    reopened: bool
    rating: Rating | None
    complaints: tuple[str, ...] = ()
    """Which complaints this request carries (:func:`complaints`), for ``bot.patterns``."""
    tags: tuple[str, ...] = ()
    comment: str = ""
    """The requester's words with a complaint: the poor rating's comment or the unsatisfied follow-up."""
    renegotiations: int = 0
    """Times an agreed due date was moved by a later agreement (:func:`bot.promises.renegotiations`)."""


def _tz(people: Mapping[str, Person], person_id: str) -> str:
    person = people.get(person_id)
    return person.tz if person else "UTC"


def _hours(people: Mapping[str, Person], person_id: str, hours: WorkingHours) -> WorkingHours:
    """``hours`` in the person's own calendar (their country's public holidays)."""
    return hours.for_person(people.get(person_id))


def _first(request: Request, kinds: Sequence[EventKind]) -> Event | None:
    return next((e for e in request.events if e.kind in kinds), None)


def time_to_acknowledge(
    request: Request,
    *,
    people: Mapping[str, Person] | None = None,
    hours: WorkingHours,
) -> timedelta | None:
    """Working time from creation to the first acknowledgement, start, finish or decline, in the
    working hours of the person who gave that first response; None while nobody has."""
    first = _first(request, _FIRST_RESPONSE)
    if first is None:
        return None
    return working_time(
        request.created_at,
        first.at,
        tz=_tz(people or {}, first.actor_id),
        hours=_hours(people or {}, first.actor_id, hours),
    )


def time_to_resolve(
    request: Request,
    *,
    people: Mapping[str, Person] | None = None,
    hours: WorkingHours,
) -> timedelta | None:
    """Working time from creation to the closing done/decline, in the closer's working hours;
    None unless the request is done or declined now."""
    if request.status not in (Status.DONE, Status.DECLINED):
        return None
    closing = request.last(*_RESOLUTION)
    if closing is None:
        return None
    return working_time(
        request.created_at,
        closing.at,
        tz=_tz(people or {}, closing.actor_id),
        hours=_hours(people or {}, closing.actor_id, hours),
    )


def _waited(request: Request, *, people: Mapping[str, Person], now: datetime, hours: WorkingHours) -> timedelta | None:
    """The censored wait of an open request: until now, in the current provider's working hours
    (zone and holidays). None once it is closed: a withdrawn (cancelled) request is nobody's wait
    any more and is left out."""
    if not request.status.is_open:
        return None
    provider = request.provider_id
    return working_time(request.created_at, now, tz=_tz(people, provider), hours=_hours(people, provider, hours))


def promise_kept(request: Request, now: datetime | None = None) -> bool | None:
    """Whether a due time was met: True when done by it; False when done late, or (given ``now``)
    still open after it; None without a due time, while it may still be met, or when declined
    or cancelled. The due time is the last one agreed before it passed (``bot.promises``)."""
    due_at = promised_due(request)
    if due_at is None:
        return None
    if request.status == Status.DONE:
        done = request.last(EventKind.DONE)
        return done is not None and done.at <= due_at
    if request.status.is_open and now is not None and now > due_at:
        return False
    return None


POOR_RATING = 2
"""A rating at or below this is poor (it also starts service recovery)."""
DECLINED_UNRESOLVED = "declined, no alternative taken up"
COMPLAINT_KINDS = ("poor rating", "still not satisfied", "escalation", DECLINED_UNRESOLVED, "missed promise")


def complaints(
    request: Request, *, to_acknowledge: timedelta | None, waited: timedelta | None, kept: bool | None
) -> tuple[str, ...]:
    """The complaints one request carries (docs/metrics.md, "Complaint patterns"): its latest rating is
    poor; the requester said "still not satisfied" after recovery; it was escalated (the scheduler's
    escalation job recorded an ``escalated`` event: what was done, not a wait re-inferred here with
    today's thresholds); it is declined now and the requester took up no alternative (none was
    offered, or they didn't accept it; asking the named person instead or asking again leaves it
    declined no more); its promise was missed (:func:`promise_kept` is False). ``to_acknowledge`` and ``waited`` are
    kept for callers; escalations no longer depend on them."""
    found: list[str] = []
    rating = last_rating(request)
    if rating is not None and rating.score <= POOR_RATING:
        found.append("poor rating")
    if any(e.kind == EventKind.FOLLOWED_UP and e.satisfied is False for e in request.events):
        found.append("still not satisfied")
    if escalated(request):
        found.append("escalation")
    if request.status == Status.DECLINED and not _alternative_taken(request):
        found.append(DECLINED_UNRESOLVED)
    if kept is False:
        found.append("missed promise")
    return tuple(found)


def escalated(request: Request) -> bool:
    """True when the escalation job told the provider's manager about this request (at any time)."""
    return any(e.kind == EventKind.ESCALATED for e in request.events)


def _alternative_taken(request: Request) -> bool:
    """True when the requester accepted the alternative of the request's latest decline."""
    for event in reversed(request.events):
        if event.kind == EventKind.ALTERNATIVE_ACCEPTED:
            return True
        if event.kind == EventKind.DECLINED:
            return False
    return False


def _complaint_comment(request: Request) -> str:
    rating = last_rating(request)
    words = [rating.comment] if rating is not None and rating.score <= POOR_RATING and rating.comment else []
    words += [e.note for e in request.events if e.kind == EventKind.FOLLOWED_UP and e.satisfied is False and e.note]
    return " ".join(words)


def last_rating(request: Request) -> Rating | None:
    """The latest rating the requester gave, also if the request was reopened after it."""
    event = request.last(EventKind.RATED)
    return event.rating if event else None


def request_facts(
    request: Request,
    *,
    people: Mapping[str, Person],
    now: datetime,
    hours: WorkingHours,
) -> RequestFacts:
    """The facts of one request, its people's teams as they are now."""

    def team_of(person_id: str) -> str:
        person = people.get(person_id)
        return (person.team_id or NO_TEAM) if person else NO_TEAM

    declines = [e for e in request.events if e.kind == EventKind.DECLINED]
    to_acknowledge = time_to_acknowledge(request, people=people, hours=hours)
    to_resolve = time_to_resolve(request, people=people, hours=hours)
    waited = _waited(request, people=people, now=now, hours=hours)  # None unless open
    waited_ack = None if to_acknowledge is not None else waited
    kept = promise_kept(request, now)
    found = complaints(request, to_acknowledge=to_acknowledge, waited=waited_ack, kept=kept)
    return RequestFacts(
        number=request.number,
        requester_id=request.requester_id,
        provider_id=request.provider_id,
        requester_team=team_of(request.requester_id),
        provider_team=team_of(request.provider_id),
        created_at=request.created_at,
        is_open=request.status.is_open,
        external=request.external,
        time_to_acknowledge=to_acknowledge,
        time_to_resolve=to_resolve,
        waited_to_acknowledge=waited_ack,
        waited_to_resolve=None if to_resolve is not None else waited,
        promise_kept=kept,
        declined=bool(declines),
        alternative_offered=any(e.offers_alternative for e in declines),
        hand_offs=sum(1 for e in request.events if e.kind in _HAND_OFF),
        closed_once=any(e.kind in _RESOLUTION for e in request.events),
        reopened=any(e.kind == EventKind.REOPENED for e in request.events),
        rating=last_rating(request),
        complaints=found,
        tags=tuple(request.tags),
        comment=_complaint_comment(request) if found else "",
        renegotiations=renegotiations(request),
    )


# --------------------------------------------------------------------------- aggregates


def percentile(values: Sequence[timedelta], fraction: float) -> timedelta | None:
    """Nearest-rank percentile: the value at rank ceil(fraction * n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value; the mean of the two middle values for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


_EPSILON = 1e-9


def kaplan_meier(observed: Sequence[timedelta], censored: Sequence[timedelta]) -> list[tuple[timedelta, float]]:
    """The Kaplan-Meier survival curve of durations, as ``(time, share still waiting after it)`` at
    each observed time. ``censored`` are waits that have not ended (yet): they count as at risk up
    to their length and are then dropped; at a tie an observed end comes first (the usual rule)."""
    ends: dict[timedelta, int] = {}
    for value in observed:
        ends[value] = ends.get(value, 0) + 1
    drops: dict[timedelta, int] = {}
    for value in censored:
        drops[value] = drops.get(value, 0) + 1
    at_risk = len(observed) + len(censored)
    surviving = 1.0
    curve: list[tuple[timedelta, float]] = []
    for time in sorted(set(ends) | set(drops)):
        ended = ends.get(time, 0)
        if ended:
            surviving *= 1 - ended / at_risk
            curve.append((time, surviving))
        at_risk -= ended + drops.get(time, 0)
    return curve


def survival_quantile(
    observed: Sequence[timedelta], censored: Sequence[timedelta], fraction: float, *, midpoint: bool = False
) -> timedelta | None:
    """The time by which ``fraction`` of the waits have ended, by the Kaplan-Meier estimate: the
    first observed time where the share still waiting falls to ``1 - fraction`` or below. None
    when it never does (too many still waiting: the answer is beyond the longest wait so far).
    With ``midpoint``, a curve that sits exactly on ``1 - fraction`` takes the midpoint to the next
    observed time (so without censoring the median is the classic one: the mean of the middle pair)."""
    return _curve_quantile(kaplan_meier(observed, censored), fraction, midpoint=midpoint)


def _curve_quantile(curve: Sequence[tuple[timedelta, float]], fraction: float, *, midpoint: bool) -> timedelta | None:
    target = 1 - fraction
    for index, (time, surviving) in enumerate(curve):
        if surviving <= target + _EPSILON:
            if midpoint and abs(surviving - target) <= _EPSILON and index + 1 < len(curve):
                return (time + curve[index + 1][0]) / 2
            return time
    return None


@dataclass(frozen=True)
class Durations:
    """Censored durations of one figure: ``observed`` ended, ``censored`` have lasted at least this
    long (``waiting`` of them are still open now)."""

    observed: tuple[timedelta, ...] = ()
    censored: tuple[timedelta, ...] = ()
    waiting: int = 0

    @cached_property
    def _curve(self) -> list[tuple[timedelta, float]]:
        return kaplan_meier(self.observed, self.censored)

    @property
    def median(self) -> timedelta | None:
        """Kaplan-Meier median; None with no evidence or when half are still waiting."""
        if not self.censored:  # the same answer, by sorting (the common case, and faster)
            return median(self.observed)
        return _curve_quantile(self._curve, 0.5, midpoint=True)

    @property
    def p90(self) -> timedelta | None:
        """Kaplan-Meier 90th percentile (nearest rank without censoring); None when not reached."""
        if not self.censored:
            return percentile(self.observed, 0.9)
        return _curve_quantile(self._curve, 0.9, midpoint=False)

    @property
    def longest(self) -> timedelta | None:
        """The longest duration seen, ended or not: a quantile not reached is beyond it."""
        return max((*self.observed, *self.censored), default=None)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Figures:
    """Responsiveness figures over a set of requests (docs/metrics.md defines each)."""

    volume: int = 0
    open: int = 0
    external: int = 0
    acknowledged: int = 0
    median_time_to_acknowledge: timedelta | None = None
    p90_time_to_acknowledge: timedelta | None = None
    resolved: int = 0
    median_time_to_resolve: timedelta | None = None
    p90_time_to_resolve: timedelta | None = None
    promises_kept: int = 0
    promises_total: int = 0
    renegotiations: int = 0
    """Agreed due dates moved by a later agreement of both sides, over all the requests (decided
    or not): shown beside promises kept, never counted as broken ones."""
    declined: int = 0
    declined_with_alternative: int = 0
    handed_off: int = 0
    hand_offs: int = 0
    closed: int = 0
    reopened: int = 0
    rated: int = 0
    average_rating: float | None = None
    needs: dict[str, float] = field(default_factory=dict)
    needs_counts: dict[str, int] = field(default_factory=dict)
    waiting_to_acknowledge: int = 0
    """Open requests nobody has responded to yet (censored in the estimate, always shown)."""
    waiting_to_resolve: int = 0
    """Open requests (not done or declined yet)."""
    longest_wait_to_acknowledge: timedelta | None = None
    """When a percentile is not reached: the longest wait so far, which it is beyond."""
    longest_wait_to_resolve: timedelta | None = None

    @property
    def promise_rate(self) -> float | None:
        """Share of promises kept, of those decided."""
        return _ratio(self.promises_kept, self.promises_total)

    @property
    def decline_rate(self) -> float | None:
        """Share of requests declined at least once."""
        return _ratio(self.declined, self.volume)

    @property
    def alternative_rate(self) -> float | None:
        """Share of declined requests where an alternative was offered."""
        return _ratio(self.declined_with_alternative, self.declined)

    @property
    def reopen_rate(self) -> float | None:
        """Share of closed (done or declined at least once) requests that were reopened."""
        return _ratio(self.reopened, self.closed)


def figures(facts: Iterable[RequestFacts]) -> Figures:
    """Aggregate per-request facts into figures."""
    rows = list(facts)
    acks = [f.time_to_acknowledge for f in rows if f.time_to_acknowledge is not None]
    resolves = [f.time_to_resolve for f in rows if f.time_to_resolve is not None]
    acknowledge = Durations(
        tuple(acks),
        tuple(f.waited_to_acknowledge for f in rows if f.waited_to_acknowledge is not None),
        sum(1 for f in rows if f.is_open and f.time_to_acknowledge is None),
    )
    resolve = Durations(
        tuple(resolves),
        tuple(f.waited_to_resolve for f in rows if f.waited_to_resolve is not None),
        sum(1 for f in rows if f.is_open),
    )
    promises = [f.promise_kept for f in rows if f.promise_kept is not None]
    ratings = [f.rating for f in rows if f.rating is not None]
    needs: dict[str, float] = {}
    needs_counts: dict[str, int] = {}
    for need in NEEDS:
        scores = [r.needs[need] for r in ratings if need in r.needs]
        if scores:
            needs[need] = sum(scores) / len(scores)
            needs_counts[need] = len(scores)
    return Figures(
        volume=len(rows),
        open=sum(f.is_open for f in rows),
        external=sum(f.external for f in rows),
        acknowledged=len(acks),
        median_time_to_acknowledge=acknowledge.median,
        p90_time_to_acknowledge=acknowledge.p90,
        resolved=len(resolves),
        median_time_to_resolve=resolve.median,
        p90_time_to_resolve=resolve.p90,
        waiting_to_acknowledge=acknowledge.waiting,
        waiting_to_resolve=resolve.waiting,
        longest_wait_to_acknowledge=acknowledge.longest,
        longest_wait_to_resolve=resolve.longest,
        promises_kept=sum(promises),
        promises_total=len(promises),
        renegotiations=sum(f.renegotiations for f in rows),
        declined=sum(f.declined for f in rows),
        declined_with_alternative=sum(f.alternative_offered for f in rows),
        handed_off=sum(f.hand_offs > 0 for f in rows),
        hand_offs=sum(f.hand_offs for f in rows),
        closed=sum(f.closed_once for f in rows),
        reopened=sum(f.reopened for f in rows),
        rated=len(ratings),
        average_rating=sum(r.score for r in ratings) / len(ratings) if ratings else None,
        needs=needs,
        needs_counts=needs_counts,
    )


@dataclass(frozen=True)
class TwoSided:
    """Figures for a person or team on both sides: serving others and being served."""

    as_provider: Figures
    as_customer: Figures


@dataclass(frozen=True)
class OrgMetrics:
    """The facts of every request created in ``[since, until)``, with the org they refer to."""

    workspace: str
    since: datetime
    until: datetime
    now: datetime
    people: Mapping[str, Person]
    teams: Mapping[str, Team]
    facts: Sequence[RequestFacts]

    @classmethod
    def load(
        cls,
        *,
        store: Store,
        workspace: str,
        since: datetime,
        until: datetime,
        now: datetime,
        hours: WorkingHours,
    ) -> OrgMetrics:
        """Read the org and the window's requests once."""
        people = {p.id: p for p in store.list_people(workspace)}
        teams = {t.id: t for t in store.list_teams(workspace)}
        requests = store.find_requests(workspace, created_since=since, created_until=until)
        facts = sorted(
            (request_facts(r, people=people, now=now, hours=hours) for r in requests), key=lambda f: f.number
        )
        return cls(workspace, since, until, now, people, teams, facts)

    def _select(self, keep: Callable[[RequestFacts], bool]) -> Figures:
        return figures(f for f in self.facts if keep(f))

    def person(self, person_id: str) -> TwoSided:
        """A person as provider (requests they hold now) and as customer (requests they sent)."""
        return TwoSided(
            as_provider=self._select(lambda f: f.provider_id == person_id),
            as_customer=self._select(lambda f: f.requester_id == person_id),
        )

    def team_ids(self, team_id: str) -> frozenset[str]:
        """The team and every team below it (cycle-safe)."""
        found = {team_id}
        grew = True
        while grew:
            grew = False
            for team in self.teams.values():
                if team.parent_id in found and team.id not in found:
                    found.add(team.id)
                    grew = True
        return frozenset(found)

    def team(self, team_id: str) -> TwoSided:
        """A team with its sub-teams: requests to its members, and requests its members sent."""
        ids = self.team_ids(team_id)
        return TwoSided(
            as_provider=self._select(lambda f: f.provider_team in ids),
            as_customer=self._select(lambda f: f.requester_team in ids),
        )

    def link(self, from_team: str, to_team: str) -> Figures:
        """Requests from members of ``from_team`` to members of ``to_team`` (exact teams)."""
        return self._select(lambda f: f.requester_team == from_team and f.provider_team == to_team)

    def links(self) -> dict[tuple[str, str], Figures]:
        """Figures for every (requester team, provider team) pair that has requests."""
        pairs = sorted({(f.requester_team, f.provider_team) for f in self.facts})
        return {pair: self.link(*pair) for pair in pairs}

    def team_name(self, team_id: str) -> str:
        """A team's display name; "(no team)" for people without one."""
        if team_id == NO_TEAM:
            return "(no team)"
        team = self.teams.get(team_id)
        return team.name if team else team_id


def parse_window(text: str) -> timedelta:
    """``30d``, ``2w``, ``12h`` or a bare number of days, as a timedelta."""
    match = _WINDOW_RE.fullmatch(text or "")
    if not match or int(match.group(1)) == 0:
        raise InvalidCommand(f"I don't understand the window {text!r}; try 30d, 2w or 12h.")
    unit = (match.group(2) or "d").lower()
    return int(match.group(1)) * _WINDOW_UNITS[unit]


# --------------------------------------------------------------------------- conveniences


def person_stats(
    *,
    store: Store,
    workspace: str,
    person_id: str,
    since: datetime,
    until: datetime,
    now: datetime,
    hours: WorkingHours,
) -> TwoSided:
    """Both sides of one person over the window."""
    org = OrgMetrics.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)
    return org.person(person_id)


def team_stats(
    *,
    store: Store,
    workspace: str,
    team_id: str,
    since: datetime,
    until: datetime,
    now: datetime,
    hours: WorkingHours,
) -> TwoSided:
    """Both sides of one team (with its sub-teams) over the window."""
    org = OrgMetrics.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)
    return org.team(team_id)


def link_stats(
    *,
    store: Store,
    workspace: str,
    from_team: str,
    to_team: str,
    since: datetime,
    until: datetime,
    now: datetime,
    hours: WorkingHours,
) -> Figures:
    """Requests from one team to another over the window."""
    org = OrgMetrics.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)
    return org.link(from_team, to_team)


@dataclass(frozen=True)
class ProviderSummary:
    """How one person served others in a window: the App Home figures."""

    received: int
    open_now: int
    median_time_to_acknowledge: timedelta | None
    promises_kept: int
    promises_total: int
    p90_time_to_acknowledge: timedelta | None = None
    average_rating: float | None = None
    waiting_to_acknowledge: int = 0
    longest_wait_to_acknowledge: timedelta | None = None


def provider_summary(
    *,
    store: Store,
    workspace: str,
    person_id: str,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    hours: WorkingHours,
) -> ProviderSummary:
    """Requests ``person_id`` holds that were created in ``[since, until)`` and how they answered
    them; times in working hours (``now`` defaults to ``until``)."""
    received = store.find_requests(workspace, provider_id=person_id, created_since=since, created_until=until)
    people: dict[str, Person] = {}
    for person_id_ in {e.actor_id for r in received for e in r.events} | {person_id}:
        person = store.get_person(workspace, person_id_)
        if person is not None:
            people[person.id] = person
    summary = figures(request_facts(r, people=people, now=now or until, hours=hours) for r in received)
    return ProviderSummary(
        received=summary.volume,
        open_now=summary.open,
        median_time_to_acknowledge=summary.median_time_to_acknowledge,
        promises_kept=summary.promises_kept,
        promises_total=summary.promises_total,
        p90_time_to_acknowledge=summary.p90_time_to_acknowledge,
        average_rating=summary.average_rating,
        waiting_to_acknowledge=summary.waiting_to_acknowledge,
        longest_wait_to_acknowledge=summary.longest_wait_to_acknowledge,
    )
