"""The one read behind every digest of a scheduler pass: people, teams, the weeks' request facts,
kudos and pulse answers, indexed for slicing per manager (who manages whom, roll-up teams)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.metrics import OrgMetrics, RequestFacts
from bot.models import Kudos, Person, Request, Team
from bot.people import Directory
from bot.ports import Store
from bot.pulse import PulseIndex
from bot.weeks import iso_week, shift_week, week_end, week_start
from bot.workhours import WorkingHours


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


def counts(person: Person) -> bool:
    """Whether someone counts in a team: active and not a bot."""
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
        hours: WorkingHours,
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
        return {p.id for p in self.people.values() if counts(p) and p.team_id in wanted}

    def members(self, manager_id: str) -> set[str]:
        """The manager's team: people in the teams they manage and their direct reports."""
        direct = {pid for pid, chain in self.chains.items() if chain[:1] == [manager_id]}
        found = direct | self.team_members(self.managed.get(manager_id, []))
        return {pid for pid in found if pid != manager_id and counts(self.people[pid])}

    def managers(self) -> list[Person]:
        """Everyone with a team (see :meth:`members`), by name."""
        heads = {chain[0] for chain in self.chains.values() if chain} | set(self.managed)
        found = [self.people[m] for m in heads if m in self.people and counts(self.people[m])]
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


def snapshot_for(
    *, store: Store, workspace: str, weeks: Iterable[str], count: int, now: datetime, hours: WorkingHours
) -> OrgSnapshot:
    """The snapshot covering ``count`` weeks up to each of ``weeks`` in every time zone."""
    names = list(weeks)
    since = min(week_start(shift_week(w, 1 - count)) for w in names) - timedelta(days=1)
    until = max(week_end(w) for w in names) + timedelta(days=1)
    return OrgSnapshot.load(store=store, workspace=workspace, since=since, until=until, now=now, hours=hours)
