"""One manager's digest as figures: :class:`Digest` built from an :class:`OrgSnapshot`, and the one
suggested action those figures call for (``docs/metrics.md`` defines them)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import cards
from bot.access import can_view
from bot.chain import SLOW, acknowledge_estimate, slowest_first
from bot.digest.settings import DEFAULT_DIGEST, DigestSettings
from bot.digest.snapshot import OrgSnapshot, snapshot_for
from bot.errors import InvalidCommand, NotFound
from bot.metrics import Figures, RequestFacts, figures
from bot.models import Person
from bot.patterns import Patterns, patterns_of
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseSettings, PulseSummary, pulse_team
from bot.stats import format_duration
from bot.weeks import Weeks, week_start
from bot.workhours import WorkingHours


@dataclass(frozen=True)
class Link:
    """Requests from one team (``source``, a name) to the manager's team this week."""

    source: str
    target: str
    figures: Figures


@dataclass(frozen=True)
class RollupRow:
    """One team below a department head, with everything below it."""

    team: str
    manager: str
    served: Figures
    pulse: PulseSummary
    kudos_received: int


@dataclass(frozen=True)
class OverdueItem:
    """An open request held by someone on the team, past its due time."""

    ref: str
    holder: str
    due_at: datetime
    text: str
    holder_id: str = ""


@dataclass(frozen=True)
class Digest:
    """One manager's digest for one week: every figure, ready to render."""

    manager: Person
    weeks: Weeks
    complete: bool
    team_names: list[str]
    team_size: int
    kudos_received: list[int]
    kudos_given: list[int]
    pulse: list[PulseSummary]
    ratings: list[float | None]
    rated: int
    to_staff: Figures
    to_others: Figures
    service: list[Figures]
    slowest: Link | None
    fastest: Link | None
    overdue: list[OverdueItem]
    overdue_total: int
    rollup: list[RollupRow]
    pulse_settings: PulseSettings
    suggestion: str = ""
    staff_weeks: list[Figures] | None = None
    """The manager's service to their own staff per week (time to acknowledge, rating)."""
    served: Figures = field(default_factory=Figures)
    """Everything the team served in the digest's week (also for each other): the six needs."""
    patterns: Patterns | None = None
    """Complaints about the team's work this week, against the week before."""

    @property
    def week(self) -> str:
        return self.weeks.week

    @property
    def this_week(self) -> Figures:
        """The team's service to other teams in the digest's week."""
        return self.service[-1]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _links(snapshot: OrgSnapshot, facts: Iterable[RequestFacts]) -> list[Link]:
    grouped: dict[tuple[str, str], list[RequestFacts]] = defaultdict(list)
    for fact in facts:
        grouped[(fact.requester_team, fact.provider_team)].append(fact)
    return [
        Link(snapshot.team_name(source), snapshot.team_name(target), figures(rows))
        for (source, target), rows in sorted(grouped.items())
    ]


def _slowest_and_fastest(links: list[Link]) -> tuple[Link | None, Link | None]:
    """Ranked like the chain's team map (:func:`bot.chain.slowest_first`); the fastest must have a
    known median (a link whose requests still wait is never called fast)."""
    ranked = slowest_first(links, key=lambda link: link.figures)
    if not ranked:
        return None, None
    known = [link for link in ranked if link.figures.median_time_to_acknowledge is not None]
    fastest = known[-1] if known else None
    return ranked[0], (fastest if fastest is not ranked[0] else None)


def build_digest(
    snapshot: OrgSnapshot,
    manager: Person,
    week: str,
    *,
    settings: DigestSettings = DEFAULT_DIGEST,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
) -> Digest:
    """The digest of ``manager`` for ``week`` (an ISO week in their zone) from the snapshot."""
    weeks = Weeks.ending(week, settings.weeks, manager.tz)
    members = snapshot.members(manager.id)
    own_teams = snapshot.managed.get(manager.id, [])
    # answers count for teams (bot.pulse.pulse_team); without a team of their own, a manager's
    # units are the teams their people answer for
    pulse_units = own_teams or sorted({t for pid in members if (t := pulse_team(snapshot.people[pid], snapshot.teams))})
    team_names = [snapshot.team_name(t) for t in own_teams]

    kudos_received, kudos_given = [0] * len(weeks.names), [0] * len(weeks.names)
    for person_id in members:
        for at in snapshot.received.get(person_id, []):
            if (index := weeks.index(at)) is not None:
                kudos_received[index] += 1
        for at, count in snapshot.given.get(person_id, []):
            if (index := weeks.index(at)) is not None:
                kudos_given[index] += count

    served = [f for pid in members for f in snapshot.by_provider.get(pid, [])]
    served_weeks = weeks.split(served)
    ratings = [_mean([f.rating.score for f in rows if f.rating is not None]) for rows in served_weeks]
    insiders = members | {manager.id}
    for_others = weeks.split(f for f in served if f.requester_id not in insiders)
    mine = [f for f in snapshot.by_provider.get(manager.id, []) if weeks.index(f.created_at) is not None]
    slowest, fastest = _slowest_and_fastest(_links(snapshot, for_others[-1]))

    overdue = sorted(
        (
            r
            for r in snapshot.overdue
            if r.provider_id in insiders and can_view(r, manager, snapshot.directory) and r.due_at is not None
        ),
        key=lambda r: (r.due_at, r.number),
    )
    rollup = [_rollup_row(snapshot, team_id, weeks, pulse_settings) for team_id in snapshot.rollup_teams(manager.id)]
    digest = Digest(
        manager=manager,
        weeks=weeks,
        complete=snapshot.now >= weeks.end,
        team_names=team_names,
        team_size=len(members),
        kudos_received=kudos_received,
        kudos_given=kudos_given,
        pulse=[snapshot.pulse.summary(pulse_units, name, pulse_settings) for name in weeks.names],
        ratings=ratings,
        rated=sum(1 for f in served_weeks[-1] if f.rating is not None),
        to_staff=figures(f for f in mine if f.requester_id in members),
        to_others=figures(f for f in mine if f.requester_id not in members),
        service=[figures(rows) for rows in for_others],
        slowest=slowest,
        fastest=fastest,
        overdue=[
            OverdueItem(r.ref, snapshot.directory.name(r.provider_id), r.due_at, r.text, r.provider_id)
            for r in overdue[: settings.overdue_listed]
            if r.due_at is not None
        ],
        overdue_total=len(overdue),
        rollup=rollup,
        pulse_settings=pulse_settings,
        served=figures(served_weeks[-1]),
        patterns=patterns_of(
            served_weeks[-1],
            served_weeks[-2] if len(served_weeks) > 1 else [],
            scope=", ".join(team_names) or manager.name,
            since=weeks.start,
            until=weeks.end,
            counterpart=lambda f: snapshot.team_name(f.requester_team),
        ),
        staff_weeks=[
            figures(rows)
            for rows in weeks.split(f for f in snapshot.by_provider.get(manager.id, []) if f.requester_id in members)
        ],
    )
    return _with_suggestion(digest)


def _rollup_row(snapshot: OrgSnapshot, team_id: str, weeks: Weeks, pulse_settings: PulseSettings) -> RollupRow:
    team = snapshot.teams[team_id]
    subtree = snapshot.subtree(team_id)
    members = snapshot.team_members(subtree)
    last = len(weeks.names) - 1
    this_week = [f for t in subtree for f in snapshot.by_provider_team.get(t, []) if weeks.index(f.created_at) == last]
    received = sum(1 for pid in members for at in snapshot.received.get(pid, []) if weeks.index(at) == last)
    return RollupRow(
        team=team.name,
        manager=snapshot.directory.name(team.manager_id) if team.manager_id else "no manager",
        served=figures(this_week),
        pulse=snapshot.pulse.summary(sorted(subtree), weeks.week, pulse_settings),
        kudos_received=received,
    )


# --------------------------------------------------------------------------- the suggestion


def format_score(value: float | None) -> str:
    """A 1-5 mean as ``3.4/5``; ``-`` when there is none."""
    return "-" if value is None else f"{value:.1f}/5"


def _with_suggestion(digest: Digest) -> Digest:
    """One next step in plain words: the first rule that applies, most pressing first."""
    pulse = digest.pulse[-1]
    week = digest.this_week
    staff_wait = digest.to_staff.median_time_to_acknowledge
    others_wait = digest.to_others.median_time_to_acknowledge
    slow_link = acknowledge_estimate(digest.slowest.figures) if digest.slowest else None
    settings = digest.pulse_settings
    if digest.overdue and digest.overdue[0].holder_id == digest.manager.id:
        # never advise managers about themselves in the third person
        first = digest.overdue[0]
        more = digest.overdue_total - 1
        text = (
            f"{first.ref} is yours and overdue since {cards.when(first.due_at, digest.manager.tz)}"
            + (f" (and {more} more on your team {'is' if more == 1 else 'are'} overdue)" if more else "")
            + ": finish it or agree a new date with the requester."
        )
    elif digest.overdue:
        first = digest.overdue[0]
        more = digest.overdue_total - 1
        text = (
            f"Check in with {first.holder} about {first.ref}: it has been overdue since "
            f"{cards.when(first.due_at, digest.manager.tz)}"
            + (f" (and {more} more {'is' if more == 1 else 'are'} overdue)" if more else "")
            + ". Help them finish it or agree a new date with the requester."
        )
    elif pulse.manager_support is not None and pulse.manager_support < 3:
        text = (
            f"Your team felt less supported than you would want ({format_score(pulse.manager_support)}): "
            "ask each person in your next one-to-one what would help most."
        )
    elif staff_wait is not None and staff_wait > SLOW and (others_wait is None or staff_wait > 2 * others_wait):
        text = (
            f"Your own staff wait {format_duration(staff_wait)} for a first answer from you"
            + (f", everyone else {format_duration(others_wait)}" if others_wait is not None else "")
            + ": keep a daily slot for your team's requests."
        )
    elif week.promises_total >= 3 and (week.promise_rate or 0) < 0.8:
        text = (
            f"Your team kept {week.promises_kept} of {week.promises_total} promises to other teams: "
            "agree due dates you can keep, and say early when one will slip."
        )
    elif digest.slowest is not None and slow_link is not None and slow_link > SLOW:
        text = (
            f"Requests from {digest.slowest.source} wait {format_duration(slow_link)} for a first answer: "
            f"agree a response time with {digest.slowest.source}."
        )
    elif pulse.service is not None and pulse.service < 3:
        text = (
            f"Your team felt poorly served by other teams ({format_score(pulse.service)}): ask which team let them "
            "down and raise it with that team's manager."
        )
    elif digest.team_size and digest.kudos_received[-1] == 0:
        text = "Nobody on your team got kudos this week: thank someone for something specific with /kudos."
    elif not pulse.shown and pulse.asked and pulse.answered < settings.min_answers:
        text = (
            f"Only {pulse.answered} of {pulse.asked} answered the pulse: remind your team it is anonymous "
            "and takes a minute."
        )
    else:
        text = "Things look steady: tell your team what went well this week."
    return replace(digest, suggestion=text)


def manager_digest(
    *,
    store: Store,
    manager: Person,
    week: str,
    now: datetime,
    hours: WorkingHours,
    settings: DigestSettings = DEFAULT_DIGEST,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
) -> Digest:
    """One manager's digest for ``week``; NotFound for someone without a team. Reads the whole
    org once: fine for a preview or the CLI, not for a loop over managers."""
    week_start(week)  # validates the week
    if week_start(week, manager.tz) > now:
        raise InvalidCommand(f"{week} hasn't started yet.")
    snapshot = snapshot_for(
        store=store, workspace=manager.workspace, weeks=[week], count=settings.weeks, now=now, hours=hours
    )
    if not snapshot.members(manager.id):
        raise NotFound(
            f"The weekly digest is for managers, and nobody reports to {manager.name} in servechain yet "
            "(a team's manager or a person's manager is set in the org file)."
        )
    return build_digest(snapshot, manager, week, settings=settings, pulse_settings=pulse_settings)
