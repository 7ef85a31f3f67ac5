"""The weekly manager digest: morale, service to staff, the team's service to other teams,
overdue items and one suggested action, with an 8-week chart.

Every manager gets it by DM on Monday at 09:00 in their own time zone (or, after an outage,
during their working hours in the next two days), about the ISO week that just ended there; the scheduler
claims ``digest:<manager id>:<week>`` with the message, so it goes out once per manager and
week across replicas and restarts. The outbox and the notifiers decide whether it reaches
them in Slack or Teams; the chart travels as data (:class:`bot.models.Chart`) and is drawn
when it is sent, and the text reads the same without it.

Who is what (``docs/metrics.md`` has the request figures' definitions):

- A manager's **team** is everyone in the teams they manage (``Team.manager_id``, exact
  teams) plus everyone whose nearest manager they are (``Directory.managers_of``), without
  the manager themselves. Anyone with a team is a manager.
- **Department heads** (someone below them manages a team, or a team they manage has
  sub-teams) also get a roll-up: one line per team one level down, each counting everything
  below it (a CEO sees departments, a department head sees its teams).
- Weeks are the manager's local ISO weeks; a request belongs to the week it was created in.

Everything is computed from one :class:`OrgSnapshot` (one read of people, teams, the weeks'
requests, kudos and pulse answers), sliced per manager, so a scheduler pass that sends a
thousand people's digests reads the store a handful of times, not once per manager.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot import cards
from bot.access import can_view
from bot.chain import SLOW
from bot.claims import JobReport, claim_and_send
from bot.errors import InvalidCommand, NotFound
from bot.metrics import Figures, OrgMetrics, RequestFacts, figures
from bot.models import Chart, ChartPanel, ChartSeries, Kudos, Message, Person, Request, Section, Team
from bot.people import Directory
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseIndex, PulseSettings, PulseSummary, pulse_team
from bot.stats import format_duration
from bot.weeks import Weeks, iso_week, last_week, shift_week, week_end, week_start
from bot.workhours import DEFAULT_HOURS, WorkingHours, is_working_time, zone

log = logging.getLogger(__name__)

DigestFormat = Literal["md", "png"]
FORMATS: tuple[DigestFormat, ...] = ("md", "png")


class DigestSettings(BaseModel):
    """When the digest goes out and how far back its trends look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Send the weekly manager digest at all.")
    weekday: int = Field(default=0, ge=0, le=6, description="Local weekday it is sent, Monday=0.")
    send_time: time = Field(default=time(9, 0), description="Local time it is sent from (then in working hours).")
    catch_up_hours: float = Field(
        default=48, gt=0, description="Hours after the send time a missed digest (an outage) is still sent."
    )
    weeks: int = Field(default=8, ge=2, le=26, description="Weeks the trends and the chart cover.")
    overdue_listed: int = Field(default=5, ge=1, le=20, description="Overdue requests named before '…and N more'.")


DEFAULT_DIGEST = DigestSettings()


# --------------------------------------------------------------------------- the one read


class SnapshotDirectory(Directory):
    """A :class:`Directory` over people and teams already read: no store round trips."""

    def __init__(self, store: Store, workspace: str, people: Mapping[str, Person], teams: Mapping[str, Team]) -> None:
        super().__init__(store, workspace)
        self._snapshot_people = people
        self._snapshot_teams = teams

    def get(self, person_id: str) -> Person | None:
        return self._snapshot_people.get(person_id)

    def team(self, team_id: str | None) -> Team | None:
        return self._snapshot_teams.get(team_id) if team_id else None


def _counts(person: Person) -> bool:
    return person.active and not person.is_bot


@dataclass
class OrgSnapshot:
    """Everything the digests of one run need, read once: the org, the facts of every request
    created in ``[since, until)``, open overdue requests, kudos of the same span and every pulse
    answer; plus indexes for slicing per manager."""

    workspace: str
    now: datetime
    since: datetime
    until: datetime
    people: dict[str, Person]
    teams: dict[str, Team]
    facts: list[RequestFacts]
    overdue: list[Request]
    kudos: list[Kudos]
    pulse: PulseIndex
    directory: Directory
    by_provider: dict[str, list[RequestFacts]] = field(default_factory=dict)
    by_provider_team: dict[str, list[RequestFacts]] = field(default_factory=dict)
    received: dict[str, list[datetime]] = field(default_factory=dict)
    given: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)
    managed: dict[str, list[str]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        *,
        store: Store,
        workspace: str,
        since: datetime,
        until: datetime,
        now: datetime,
        hours: WorkingHours = DEFAULT_HOURS,
    ) -> OrgSnapshot:
        """One pass over the store: six reads, whatever the number of managers."""
        org = OrgMetrics.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)
        people, teams = dict(org.people), dict(org.teams)
        facts = sorted(org.facts, key=lambda f: f.created_at)
        overdue = [r for r in store.find_requests(workspace, open_only=True) if r.due_at is not None and r.due_at < now]
        kudos = store.find_kudos(workspace, since=since, until=until)
        weeks = {iso_week(since + timedelta(days=d)) for d in range((until - since).days + 1)}
        pulse = PulseIndex.load(store=store, workspace=workspace, people=people.values(), teams=teams, weeks=weeks)
        directory = SnapshotDirectory(store, workspace, people, teams)
        snapshot = cls(workspace, now, since, until, people, teams, facts, overdue, kudos, pulse, directory)
        snapshot._index()
        return snapshot

    def _index(self) -> None:
        by_provider: dict[str, list[RequestFacts]] = defaultdict(list)
        by_team: dict[str, list[RequestFacts]] = defaultdict(list)
        for fact in self.facts:
            by_provider[fact.provider_id].append(fact)
            by_team[fact.provider_team].append(fact)
        self.by_provider, self.by_provider_team = dict(by_provider), dict(by_team)
        received: dict[str, list[datetime]] = defaultdict(list)
        given: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
        for kudos in self.kudos:
            given[kudos.giver_id].append((kudos.at, len(kudos.recipient_ids)))
            for recipient in kudos.recipient_ids:
                received[recipient].append(kudos.at)
        self.received, self.given = dict(received), dict(given)
        self.chains = {pid: self.directory.managers_of(pid) for pid in self.people}
        managed: dict[str, list[str]] = defaultdict(list)
        children: dict[str, list[str]] = defaultdict(list)
        for team in sorted(self.teams.values(), key=lambda t: t.name.lower()):
            if team.manager_id:
                managed[team.manager_id].append(team.id)
            if team.parent_id and team.parent_id != team.id:
                children[team.parent_id].append(team.id)
        self.managed, self.children = dict(managed), dict(children)

    # ----------------------------------------------------------------------- who is who

    def team_members(self, team_ids: Iterable[str]) -> set[str]:
        """Active people whose team is one of ``team_ids`` (exact teams)."""
        wanted = set(team_ids)
        return {p.id for p in self.people.values() if _counts(p) and p.team_id in wanted}

    def members(self, manager_id: str) -> set[str]:
        """The manager's team: people in the teams they manage and their direct reports."""
        direct = {pid for pid, chain in self.chains.items() if chain[:1] == [manager_id]}
        found = direct | self.team_members(self.managed.get(manager_id, []))
        return {pid for pid in found if pid != manager_id and _counts(self.people[pid])}

    def managers(self) -> list[Person]:
        """Everyone with a team (see :meth:`members`), by name."""
        heads = {chain[0] for chain in self.chains.values() if chain} | set(self.managed)
        found = [self.people[m] for m in heads if m in self.people and _counts(self.people[m])]
        return sorted((m for m in found if self.members(m.id)), key=lambda p: (p.name.lower(), p.id))

    def rollup_teams(self, manager_id: str) -> list[str]:
        """The teams one level below the manager, each standing for itself and everything below
        it: sub-teams of the teams they manage, and teams their direct reports manage; by name."""
        own = set(self.managed.get(manager_id, []))
        below = {child for team in own for child in self.children.get(team, []) if child not in own}
        direct = {pid for pid, chain in self.chains.items() if chain[:1] == [manager_id]}
        below.update(t for pid in direct for t in self.managed.get(pid, []) if t not in own)
        # a team below another listed team is already counted in that team's row
        listed = {t for t in below if not (self.ancestors(t) & below)}
        return sorted(listed, key=lambda t: (self.teams[t].name.lower(), t))

    def ancestors(self, team_id: str) -> set[str]:
        """The teams above ``team_id`` (cycle-safe)."""
        found: set[str] = set()
        team = self.teams.get(team_id)
        while team is not None and team.parent_id and team.parent_id not in found and team.parent_id != team_id:
            found.add(team.parent_id)
            team = self.teams.get(team.parent_id)
        return found

    def subtree(self, team_id: str) -> set[str]:
        """``team_id`` and every team below it (cycle-safe)."""
        found = {team_id}
        stack = [team_id]
        while stack:
            for child in self.children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def team_name(self, team_id: str) -> str:
        """A team's display name."""
        team = self.teams.get(team_id)
        return team.name if team else "(no team)"


# --------------------------------------------------------------------------- one digest


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
    """Ranked like the chain's team map: by median time to acknowledge, then p90, then volume."""
    measured = [link for link in links if link.figures.median_time_to_acknowledge is not None]
    if not measured:
        return None, None

    def key(link: Link) -> tuple[timedelta, timedelta, int]:
        figs = link.figures
        zero = timedelta(0)
        return (figs.median_time_to_acknowledge or zero, figs.p90_time_to_acknowledge or zero, figs.volume)

    slowest = max(measured, key=key)
    fastest = min(measured, key=lambda link: (key(link)[0], key(link)[1], -link.figures.volume))
    return slowest, (fastest if fastest is not slowest else None)


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
            OverdueItem(r.ref, snapshot.directory.name(r.provider_id), r.due_at, r.text)
            for r in overdue[: settings.overdue_listed]
            if r.due_at is not None
        ],
        overdue_total=len(overdue),
        rollup=rollup,
        pulse_settings=pulse_settings,
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


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}/5"


def _with_suggestion(digest: Digest) -> Digest:
    """One next step in plain words: the first rule that applies, most pressing first."""
    pulse = digest.pulse[-1]
    week = digest.this_week
    staff_wait = digest.to_staff.median_time_to_acknowledge
    others_wait = digest.to_others.median_time_to_acknowledge
    slow_link = digest.slowest.figures.median_time_to_acknowledge if digest.slowest else None
    settings = digest.pulse_settings
    if digest.overdue:
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
            f"Your team felt less supported than you would want ({_score(pulse.manager_support)}): "
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
            f"Your team felt poorly served by other teams ({_score(pulse.service)}): ask which team let them "
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


# --------------------------------------------------------------------------- text


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _trend(values: Sequence[float | None], weeks: int) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    first, last = known[0], known[-1]
    if abs(last - first) < 0.25:
        return f"steady over {weeks} weeks"
    return f"{'up' if last > first else 'down'} from {first:.1f} over {weeks} weeks"


def _service_line(figs: Figures) -> str:
    if figs.volume == 0:
        return "none"
    parts = [f"{_plural(figs.volume, 'request')}"]
    if figs.median_time_to_acknowledge is None:
        parts.append("none acknowledged yet")
    else:
        parts.append(f"median {format_duration(figs.median_time_to_acknowledge)} to acknowledge")
    if figs.median_time_to_resolve is not None:
        parts.append(f"{format_duration(figs.median_time_to_resolve)} to resolve")
    if figs.promises_total:
        parts.append(f"promises kept {figs.promises_kept} of {figs.promises_total}")
    if figs.average_rating is not None:
        parts.append(f"rating {figs.average_rating:.1f}/5")
    return " · ".join(parts)


def _link_line(label: str, link: Link) -> str:
    figs = link.figures
    return (
        f"{label}: {link.source} → {link.target}, "
        f"median {format_duration(figs.median_time_to_acknowledge)} to acknowledge "
        f"({_plural(figs.volume, 'request')})"
    )


@dataclass(frozen=True)
class _Rendered:
    title: str
    summary: str
    sections: list[Section]


def _pulse_lines(digest: Digest) -> list[str]:
    pulse = digest.pulse[-1]
    settings = digest.pulse_settings
    if not pulse.shown:
        return [
            f"Pulse: not enough answers to keep them anonymous ({pulse.answered} of {pulse.asked} answered; "
            f"figures show from {settings.min_answers} answers in a team of at least {settings.min_team_size})."
        ]
    lines = [
        f"Pulse ({pulse.counted} of {pulse.asked} answered): felt supported by you {_score(pulse.manager_support)}"
        f" · served by other teams {_score(pulse.service)}"
    ]
    trend = _trend([p.manager_support for p in digest.pulse], len(digest.pulse))
    if trend:
        lines[0] += f" · support {trend}"
    if pulse.hidden_teams:
        lines.append(f"({_plural(pulse.hidden_teams, 'team')} left out: too few answers to keep them anonymous.)")
    lines += [f"“{comment}”" for comment in pulse.comments[:5]]
    return lines


def render(digest: Digest) -> _Rendered:
    """The digest's title, one-line summary and sections (shared by the message and markdown)."""
    tz = digest.manager.tz
    start = digest.weeks.start.astimezone(zone(tz))
    end = (digest.weeks.end - timedelta(days=1)).astimezone(zone(tz))
    span = f"{start:%a %d %b} – {end:%a %d %b %Y}"
    so_far = "" if digest.complete else " (so far)"
    teams = ", ".join(digest.team_names) or "your team"
    title = f"Weekly digest · {teams} · {digest.week}{so_far}"
    summary = (
        f"{span}: how your team of {digest.team_size} felt, how you served your staff, "
        "how your team served others, and one thing to try."
    )
    kudos_line = (
        f"Kudos: your team received {digest.kudos_received[-1]} and gave {digest.kudos_given[-1]} this week "
        f"({len(digest.weeks.names)}-week average received: {statistics.fmean(digest.kudos_received):.1f})."
    )
    rating = digest.ratings[-1]
    rating_line = (
        f"Ratings of your team's work: {rating:.1f}/5 from {_plural(digest.rated, 'rating')} this week"
        if rating is not None
        else "Ratings of your team's work: none this week"
    )
    rating_trend = _trend(digest.ratings, len(digest.ratings))
    rating_line += f" ({rating_trend})." if rating_trend else "."
    morale = Section(title="Morale", lines=[kudos_line, *_pulse_lines(digest), rating_line])

    weeks = len(digest.weeks.names)
    staff = Section(
        title=f"Service to your staff (last {weeks} weeks)",
        lines=[
            f"Your staff asked you: {_service_line(digest.to_staff)}.",
            f"Everyone else asked you: {_service_line(digest.to_others)}.",
        ],
    )

    week = digest.this_week
    service_lines = [f"Requests from other teams this week: {_service_line(week)}."]
    if week.volume:
        service_lines[0] = service_lines[0][:-1] + f" ({week.open} still open)."
    volumes = [f.volume for f in digest.service]
    service_lines.append(f"Volume over {weeks} weeks: " + ", ".join(str(v) for v in volumes) + ".")
    if digest.slowest is not None:
        service_lines.append(_link_line("Slowest link", digest.slowest) + ".")
    if digest.fastest is not None:
        service_lines.append(_link_line("Fastest link", digest.fastest) + ".")
    service = Section(title="Your team's service to other teams", lines=service_lines)

    if digest.overdue:
        overdue_lines = [
            f"{item.ref} held by {item.holder}, due {cards.when(item.due_at, tz)}: {_preview(item.text)}"
            for item in digest.overdue
        ]
        if digest.overdue_total > len(digest.overdue):
            overdue_lines.append(f"…and {digest.overdue_total - len(digest.overdue)} more.")
    else:
        overdue_lines = ["Nothing overdue. Nice!"]
    overdue = Section(title=f"Open and overdue ({digest.overdue_total})", lines=overdue_lines)

    sections = [morale, staff, service, overdue]
    if digest.rollup:
        sections.append(Section(title="Your teams at a glance", lines=[_rollup_line(row) for row in digest.rollup]))
    sections.append(Section(title="Suggested action", lines=[digest.suggestion]))
    return _Rendered(title, summary, sections)


def _preview(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"“{text}”" if len(text) <= limit else f"“{text[: limit - 1]}…”"


def _rollup_line(row: RollupRow) -> str:
    figs = row.served
    pulse = (
        f"pulse {_score(row.pulse.manager_support)} / {_score(row.pulse.service)}"
        if row.pulse.shown
        else "pulse: too few answers"
    )
    promises = f"promises {figs.promises_kept}/{figs.promises_total}" if figs.promises_total else "no promises due"
    return (
        f"{row.team} ({row.manager}): {_plural(figs.volume, 'request')} · median "
        f"{format_duration(figs.median_time_to_acknowledge)} to acknowledge · {promises} · {pulse} · "
        f"{row.kudos_received} kudos"
    )


def digest_chart(digest: Digest) -> Chart:
    """The 8-week trends as a neutral chart (drawn by ``bot.charts`` when sent)."""
    labels = [name.split("-")[1] for name in digest.weeks.names]
    hours = [
        None if f.median_time_to_acknowledge is None else round(f.median_time_to_acknowledge.total_seconds() / 3600, 2)
        for f in digest.service
    ]
    weeks = len(labels)
    return Chart(
        title=f"{', '.join(digest.team_names) or digest.manager.name} · {weeks} weeks to {digest.week}",
        labels=labels,
        panels=[
            ChartPanel(
                title="Pulse and ratings",
                unit="1-5",
                y_min=1,
                y_max=5,
                series=[
                    ChartSeries(label="Supported by manager", values=[p.manager_support for p in digest.pulse]),
                    ChartSeries(label="Served by other teams", values=[p.service for p in digest.pulse]),
                    ChartSeries(label="Rating of the team's work", values=list(digest.ratings)),
                ],
            ),
            ChartPanel(
                title="Kudos",
                y_min=0,
                series=[
                    ChartSeries(label="Received", values=[float(v) for v in digest.kudos_received]),
                    ChartSeries(label="Given", values=[float(v) for v in digest.kudos_given]),
                ],
            ),
            ChartPanel(
                title="Requests from other teams",
                y_min=0,
                series=[ChartSeries(label="Requests", values=[float(f.volume) for f in digest.service])],
            ),
            ChartPanel(
                title="Median time to acknowledge",
                unit="working hours",
                y_min=0,
                series=[ChartSeries(label="Median", values=hours)],
            ),
        ],
        alt_text=(
            f"{weeks}-week trends: pulse, ratings, kudos received and given, requests from other teams and "
            "the median time to acknowledge them. The same figures are in the text."
        ),
    )


def digest_message(digest: Digest) -> Message:
    """The neutral DM: title, summary, one section per part, and the chart."""
    rendered = render(digest)
    manager = digest.manager
    return Message(
        key=f"{manager.workspace}:digest:{manager.id}:{digest.week}",
        workspace=manager.workspace,
        recipient_id=manager.id,
        kind="digest",
        title=rendered.title,
        text=rendered.summary,
        sections=rendered.sections,
        chart=digest_chart(digest),
    )


def digest_markdown(digest: Digest) -> str:
    """The digest as Markdown (``servechain digest --format md``)."""
    rendered = render(digest)
    lines = [f"# {rendered.title}", "", rendered.summary]
    for section in rendered.sections:
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {line}" for line in section.lines]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- entry points


def snapshot_for(
    *, store: Store, workspace: str, weeks: Iterable[str], count: int, now: datetime, hours: WorkingHours
) -> OrgSnapshot:
    """The snapshot covering ``count`` weeks up to each of ``weeks`` in every time zone."""
    names = list(weeks)
    since = min(week_start(shift_week(w, 1 - count)) for w in names) - timedelta(days=1)
    until = max(week_end(w) for w in names) + timedelta(days=1)
    return OrgSnapshot.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)


def manager_digest(
    *,
    store: Store,
    manager: Person,
    week: str,
    now: datetime,
    hours: WorkingHours = DEFAULT_HOURS,
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


def digest_preview(
    *,
    store: Store,
    manager: Person,
    text: str,
    now: datetime,
    hours: WorkingHours = DEFAULT_HOURS,
    settings: DigestSettings = DEFAULT_DIGEST,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
) -> Message:
    """``/digest [last|now|2026-W47]``: the digest as a message for the manager's eyes only
    (last completed week by default; ``now`` is this week so far)."""
    word = text.strip().lower()
    if word in ("", "last", "last week"):
        week = last_week(now, manager.tz)
    elif word in ("now", "this week", "current"):
        week = iso_week(now, manager.tz)
    elif word in ("help", "?"):
        raise InvalidCommand(DIGEST_USAGE)
    else:
        week = word.upper()
    digest = manager_digest(
        store=store,
        manager=manager,
        week=week,
        now=now,
        hours=hours,
        settings=settings,
        pulse_settings=pulse_settings,
    )
    return digest_message(digest)


DIGEST_USAGE = """\
Usage:
• /digest — your team's digest for last week, as it comes on Monday (only you see it)
• /digest now — this week so far
• /digest 2026-W45 — an earlier week"""


# --------------------------------------------------------------------------- the job


def send_at(now: datetime, tz: str | None, settings: DigestSettings = DEFAULT_DIGEST) -> datetime:
    """When this week's digest is due for someone in ``tz``."""
    local = now.astimezone(zone(tz))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday + timedelta(days=settings.weekday), settings.send_time, tzinfo=zone(tz))


def digest_key(manager_id: str, week: str) -> str:
    """The claim key of one manager's digest about one week."""
    return f"digest:{manager_id}:{week}"


@dataclass
class DigestJob:
    """Sends each manager their digest about last week, from Monday 09:00 their time."""

    settings: DigestSettings = DEFAULT_DIGEST
    pulse: PulseSettings = DEFAULT_PULSE
    hours: WorkingHours = DEFAULT_HOURS
    name: str = "digest"
    # Claims are permanent; remembering the ones seen spares a full read on every pass.
    _known_claimed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def due(self, *, store: Store, workspace: str, now: datetime, report: JobReport) -> list[tuple[Person, str]]:
        """Managers whose digest may go out at ``now`` and was not seen claimed, with its week."""
        people = {p.id: p for p in store.list_people(workspace)}
        teams = {t.id: t for t in store.list_teams(workspace)}
        directory = SnapshotDirectory(store, workspace, people, teams)
        heads = {t.manager_id for t in teams.values() if t.manager_id}
        heads |= {chain[0] for p in people.values() if _counts(p) and (chain := directory.managers_of(p.id))}
        found = []
        for manager_id in sorted(heads):
            manager = people.get(manager_id)
            if manager is None or not _counts(manager):
                continue
            week = last_week(now, manager.tz)
            key = digest_key(manager.id, week)
            due_from = send_at(now, manager.tz, self.settings)
            late = now >= due_from + timedelta(hours=self.settings.catch_up_hours)
            if (workspace, key) in self._known_claimed or now < due_from or late:
                continue
            if not is_working_time(now, tz=manager.tz, hours=self.hours):
                report.held.append(key)
                continue
            found.append((manager, week))
        return found

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Build and claim every digest due at ``now`` from one snapshot of the org."""
        report = JobReport(self.name)
        if not self.settings.enabled:
            return report
        due = self.due(store=store, workspace=workspace, now=now, report=report)
        if not due:
            return report
        snapshot = snapshot_for(
            store=store,
            workspace=workspace,
            weeks={week for _m, week in due},
            count=self.settings.weeks,
            now=now,
            hours=self.hours,
        )
        for manager, week in due:
            key = digest_key(manager.id, week)
            if snapshot.members(manager.id):
                digest = build_digest(snapshot, manager, week, settings=self.settings, pulse_settings=self.pulse)
                message = digest_message(digest)
                if claim_and_send(store, workspace, key, [message], now):
                    report.sent.append(message)
                    report.claimed[key] = manager.id
                else:
                    report.already.append(key)
            self._known_claimed.add((workspace, key))
        return report
