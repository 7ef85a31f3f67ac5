"""The scheduled digest: each manager gets theirs by DM on Monday at 09:00 their time (or, after an
outage, in working hours within ``catch_up_hours``), claimed once per manager and week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.claims import JobReport, claim_and_send
from bot.digest.model import build_digest
from bot.digest.settings import DEFAULT_DIGEST, DigestSettings
from bot.digest.snapshot import SnapshotDirectory, counts, snapshot_for
from bot.digest.text import digest_message
from bot.models import Person
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.weeks import last_week
from bot.workhours import WorkingHours, is_working_time, zone


def send_at(now: datetime, tz: str | None, settings: DigestSettings = DEFAULT_DIGEST) -> datetime:
    """When this week's digest is due for someone in ``tz``."""
    local = now.astimezone(zone(tz))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday + timedelta(days=settings.weekday), settings.send_time, tzinfo=zone(tz))


def digest_key(manager_id: str, week: str) -> str:
    """The claim key of one manager's digest about one week."""
    return f"digest:{manager_id}:{week}"


@dataclass(kw_only=True)
class DigestJob:
    """Sends each manager their digest about last week, from Monday 09:00 their time."""

    settings: DigestSettings = DEFAULT_DIGEST
    pulse: PulseSettings = DEFAULT_PULSE
    hours: WorkingHours
    name: str = "digest"
    # Claims are permanent; remembering the ones seen spares a full read on every pass.
    _known_claimed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def due(self, *, store: Store, workspace: str, now: datetime, report: JobReport) -> list[tuple[Person, str]]:
        """Managers whose digest may go out at ``now`` and was not seen claimed, with its week."""
        people = {p.id: p for p in store.list_people(workspace)}
        teams = {t.id: t for t in store.list_teams(workspace)}
        directory = SnapshotDirectory(store, workspace, people, teams)
        heads = {t.manager_id for t in teams.values() if t.manager_id}
        heads |= {chain[0] for p in people.values() if counts(p) and (chain := directory.managers_of(p.id))}
        found = []
        for manager_id in sorted(heads):
            manager = people.get(manager_id)
            if manager is None or not counts(manager):
                continue
            week = last_week(now, manager.tz)
            key = digest_key(manager.id, week)
            due_from = send_at(now, manager.tz, self.settings)
            late = now >= due_from + timedelta(hours=self.settings.catch_up_hours)
            if (workspace, key) in self._known_claimed or now < due_from or late:
                continue
            if not is_working_time(now, tz=manager.tz, hours=self.hours.for_person(manager)):
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
