"""The org from the company directory (Slack ``users.list``, Microsoft Graph ``/users``).

A :class:`DirectorySource` (a port; adapters live in ``handlers/directory/``) returns every
user of the directory or raises :class:`DirectoryError`; nothing is written until the whole
directory has been read. :func:`plan_sync` merges it with the stored org and an optional org
file (which adds what the directory lacks: teams, managers for Slack, countries), and
:func:`sync_org` saves the changes in one atomic write. A second run with the same directory
changes nothing; people who left are marked inactive and keep their history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from bot.claims import JobReport
from bot.errors import InvalidCommand
from bot.models import Person, Team
from bot.org import HANDLE_PATTERN, MAX_HANDLE, OrgFile, _cycles, load_org, new_team_id
from bot.people import new_person_id
from bot.ports import Store
from bot.workhours import check_place

__all__ = [
    "DirectoryError",
    "DirectorySource",
    "DirectoryUser",
    "OrgSyncError",
    "OrgSyncJob",
    "SyncReport",
    "plan_sync",
    "sync_org",
]

log = logging.getLogger(__name__)

SourceKind = Literal["slack", "graph"]


class DirectoryError(InvalidCommand):
    """The directory could not be read completely (bad token, a page that failed, rate limited
    for too long); the message says what to fix."""


class OrgSyncError(InvalidCommand):
    """The directory's data can't be saved as it is (e.g. a manager loop); nothing was changed."""


@dataclass(frozen=True)
class DirectoryUser:
    """One user as the directory knows them, in the directory's own terms."""

    key: str
    """The directory's id: a Slack user id, or a Microsoft Entra object id (also the Teams id)."""
    name: str
    email: str | None = None
    handle: str | None = None
    """A suggested handle for someone new (Slack ``name``, Graph ``mailNickname``)."""
    tz: str | None = None
    active: bool = True
    is_bot: bool = False
    department: str | None = None
    manager_key: str | None = None
    country: str | None = None
    region: str | None = None
    slack_team: str | None = None
    """The Slack workspace (team id) the user belongs to."""


class DirectorySource(Protocol):
    """Reads the whole directory; raises :class:`DirectoryError` with a readable message."""

    @property
    def kind(self) -> SourceKind:
        """Which directory this is: how people are matched to it (Slack user id or Entra object id)."""
        ...

    @property
    def label(self) -> str:
        """How messages name the directory, e.g. "Slack" or "Microsoft Graph"."""
        ...

    def fetch_users(self) -> list[DirectoryUser]:
        """Every user, across all pages."""
        ...


@dataclass
class SyncReport:
    """What a sync changed (or, in a dry run, would change), one readable line per change."""

    source: str
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    users_read: int = 0

    @property
    def changed(self) -> bool:
        """True when anything differs from the store."""
        return bool(self.created or self.updated or self.deactivated or self.teams)

    def lines(self) -> list[str]:
        """The changes, new people first."""
        return [*self.created, *self.updated, *self.deactivated, *self.teams]

    def summary(self) -> str:
        """One line: counts, or that nothing changed."""
        verb = "would change" if self.dry_run else "changed"
        if not self.changed:
            return f"{self.source}: {self.users_read} users read; nothing to change."
        return (
            f"{self.source}: {self.users_read} users read; {verb}: {len(self.created)} new, "
            f"{len(self.updated)} updated, {len(self.deactivated)} marked inactive, {len(self.teams)} teams."
        )


# --------------------------------------------------------------------------- merging


def _has_identity(person: Person, kind: SourceKind, slack_teams: set[str]) -> bool:
    if kind == "slack":
        return any(team in slack_teams for team in person.slack_ids)
    # A Teams channel user id ("29:...") is not an Entra object id: Graph can't know that person.
    return person.teams_id is not None and ":" not in person.teams_id


def _handle_from(user: DirectoryUser) -> str:
    for raw in (user.handle, (user.email or "").split("@")[0], user.name):
        text = re.sub(r"[^a-z0-9._-]+", ".", (raw or "").strip().lower())
        text = re.sub(r"^[._-]+|[._-]+$", "", text)[:MAX_HANDLE].rstrip("._-")
        if text and HANDLE_PATTERN.fullmatch(text):
            return text
    return "user." + re.sub(r"[^a-z0-9]", "", user.key.lower())[:40]


def _unique(handle: str, taken: set[str]) -> str:
    candidate, number = handle, 2
    while candidate in taken:
        suffix = f"-{number}"
        candidate = handle[: MAX_HANDLE - len(suffix)] + suffix
        number += 1
    return candidate


def _country(user: DirectoryUser) -> tuple[str | None, str | None]:
    """The directory's country and region when the holidays calendar knows them."""
    country = (user.country or "").strip().upper() or None
    region = (user.region or "").strip().upper() or None
    if country is None or check_place(country, None):
        return None, None
    return country, region if region and not check_place(country, region) else None


def _describe(before: Person, after: Person, handles: dict[str, str], team_names: dict[str, str]) -> list[str]:
    """The fields that differ, as ``field old -> new``."""

    def shown(name: str, value: object) -> str:
        if value is None or value == {}:
            return "none"
        if name == "manager_id":
            return handles.get(str(value), str(value))
        if name == "team_id":
            return team_names.get(str(value), str(value))
        return str(value)

    labels = {"manager_id": "manager", "team_id": "team", "slack_ids": "slack", "teams_id": "teams id"}
    changes = []
    for name in ("name", "email", "tz", "country", "region", "team_id", "manager_id", "slack_ids", "teams_id"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append(f"{labels.get(name, name)} {shown(name, old)} -> {shown(name, new)}")
    return changes


def plan_sync(
    *,
    kind: SourceKind,
    label: str,
    users: Sequence[DirectoryUser],
    existing_people: Sequence[Person],
    existing_teams: Sequence[Team],
    workspace: str,
    org: OrgFile | None = None,
) -> tuple[list[Person], list[Team], SyncReport]:
    """Merge the directory (and the org file) into the stored org. Pure: returns only the
    people and teams that change, and the report. Raises :class:`OrgSyncError` for a
    manager loop, naming the people in it."""
    report = SyncReport(source=label, users_read=len(users))
    humans = sorted((u for u in users if not u.is_bot and u.key != "USLACKBOT"), key=lambda u: u.key)
    slack_teams = {u.slack_team for u in users if u.slack_team}
    stored = {p.id: p for p in existing_people}
    result: dict[str, Person] = dict(stored)
    by_email = {p.email.lower(): p.id for p in existing_people if p.email}
    by_handle = {p.handle.lower(): p.id for p in existing_people}
    taken = set(by_handle)
    teams: dict[str, Team] = {t.id: t for t in existing_teams}
    team_by_name = {t.name.lower(): t.id for t in existing_teams}

    def team_for(name: str) -> str:
        key = name.strip().lower()
        if key not in team_by_name:
            team = Team(id=new_team_id(), workspace=workspace, name=name.strip())
            teams[team.id], team_by_name[key] = team, team.id
        return team_by_name[key]

    # The org file: its people by handle and email, to match them with directory users.
    file_people = list(org.people) if org else []
    file_by_email = {p.email.lower(): p for p in file_people if p.email}
    file_by_handle = {p.handle: p for p in file_people}
    file_team_names = {t.id: t.name for t in org.teams} if org else {}
    file_matched: dict[str, str] = {}  # org-file person id -> stored/new person id

    # 1. Directory users -> people (matched by directory id, then email, then handle).
    key_to_id: dict[str, str] = {}
    claimed: set[str] = set()
    by_identity: dict[tuple[str, str], str] = {}  # (slack team or "", directory key) -> person id
    for person in existing_people:
        for slack_team, user_id in person.slack_ids.items():
            by_identity[(slack_team, user_id)] = person.id
        if kind == "graph" and person.teams_id:
            by_identity[("", person.teams_id)] = person.id
    for user in humans:
        match = by_identity.get((user.slack_team or "" if kind == "slack" else "", user.key))
        if match is None and user.email and user.email.lower() in by_email:
            match = by_email[user.email.lower()]
        if match is not None and match in claimed:
            match = None
        entry = file_by_email.get((user.email or "").lower()) if user.email else None
        if match is None:
            handle_guess = entry.handle if entry else _handle_from(user)
            candidate = by_handle.get(handle_guess)
            if (
                candidate is not None
                and candidate not in claimed
                and not _has_identity(result[candidate], kind, slack_teams)
            ):
                match = candidate
        if match is not None:
            person = result[match]
        else:
            handle = _unique(entry.handle if entry else _handle_from(user), taken)
            person = Person(id=new_person_id(), workspace=workspace, handle=handle, name=user.name)
            by_handle[handle] = person.id
        taken.add(person.handle)
        claimed.add(person.id)
        if entry is None:
            entry = file_by_handle.get(person.handle)
        if entry is not None:
            file_matched[entry.id] = person.id
        country, region = _country(user)
        identity = (
            {"slack_ids": {**person.slack_ids, user.slack_team: user.key}}
            if kind == "slack" and user.slack_team
            else {"teams_id": user.key}
            if kind == "graph"
            else {}
        )
        update: dict[str, object] = {
            "name": user.name or person.name,
            "email": user.email or person.email,
            "tz": user.tz or (entry.tz if entry and entry.tz != "UTC" else None) or person.tz,
            "country": country or (entry.country if entry else None) or person.country,
            "region": (region if country else None) or (entry.region if entry else None) or person.region,
            "active": user.active,
            **identity,
        }
        if user.department:
            update["team_id"] = team_for(user.department)
        elif entry is not None and entry.team_id:
            update["team_id"] = team_for(file_team_names[entry.team_id])
        result[person.id] = person.model_copy(update=update)
        key_to_id[user.key] = person.id

    # 2. Org-file people the directory doesn't have: added or updated as `org import` would.
    for entry in file_people:
        if entry.id in file_matched:
            continue
        match = by_handle.get(entry.handle) or (by_email.get(entry.email.lower()) if entry.email else None)
        base = result[match] if match else entry.model_copy(update={"id": new_person_id(), "workspace": workspace})
        fields: dict[str, object] = {
            "name": entry.name,
            "email": entry.email or base.email,
            "tz": entry.tz,
            "country": entry.country or base.country,
            "region": entry.region or base.region,
        }
        if entry.team_id:
            fields["team_id"] = team_for(file_team_names[entry.team_id])
        result[base.id] = base.model_copy(update=fields)
        file_matched[entry.id] = base.id
        taken.add(base.handle)

    # 3. Managers: the directory's; else the org file's (Slack has none); else as stored.
    for user in humans:
        if user.manager_key and user.manager_key in key_to_id:
            person_id = key_to_id[user.key]
            result[person_id] = result[person_id].model_copy(update={"manager_id": key_to_id[user.manager_key]})
    managed_by_directory = {key_to_id[u.key] for u in humans if u.manager_key in key_to_id}
    for entry in file_people:
        person_id = file_matched[entry.id]
        if person_id in managed_by_directory:
            continue
        if entry.manager_id and entry.manager_id in file_matched:
            result[person_id] = result[person_id].model_copy(update={"manager_id": file_matched[entry.manager_id]})

    # 4. Teams from the org file: manager and parent.
    if org is not None:
        for team in org.teams:
            team_id = team_for(team.name)
            fields = {}
            if team.manager_id and team.manager_id in file_matched:
                fields["manager_id"] = file_matched[team.manager_id]
            if team.parent_id:
                fields["parent_id"] = team_for(file_team_names[team.parent_id])
            teams[team_id] = teams[team_id].model_copy(update=fields)

    # 5. People who left: known to this directory before, not in it any more.
    seen = set(key_to_id.values())
    for person in list(result.values()):
        gone = person.id in stored and person.id not in seen and person.active and not person.is_bot
        if gone and _has_identity(person, kind, slack_teams):
            result[person.id] = person.model_copy(update={"active": False})

    # 6. A manager loop is refused, with the names of the people in it.
    manager_of = {pid: p.manager_id for pid, p in result.items() if p.manager_id and p.manager_id in result}
    loops = _cycles(manager_of, {pid: 0 for pid in sorted(result, key=lambda i: result[i].handle)})
    if loops:
        described = [
            " -> ".join(f"{result[pid].name} ({result[pid].handle})" for pid in [*cycle, cycle[0]])
            for _line, cycle in loops
        ]
        raise OrgSyncError(
            f"{label}: the managers form a loop, so nothing was changed: "
            + "; ".join(described)
            + ". Fix the manager of one of them in the directory or the org file."
        )

    # 7. What changed.
    handles = {pid: p.handle for pid, p in result.items()}
    team_names = {tid: t.name for tid, t in teams.items()}
    people_out: list[Person] = []
    for pid, person in sorted(result.items(), key=lambda item: item[1].handle):
        before = stored.get(pid)
        if before == person:
            continue
        people_out.append(person)
        if before is None:
            where = f", {team_names[person.team_id]}" if person.team_id else ""
            email = f" <{person.email}>" if person.email else ""
            state = "" if person.active else " (inactive)"
            report.created.append(f"+ {person.handle}: {person.name}{email}{where}{state}")
        elif before.active and not person.active:
            report.deactivated.append(f"- {person.handle}: left; marked inactive (their history stays)")
        else:
            changes = _describe(before, person, handles, team_names)
            if before.active != person.active:
                changes.insert(0, "active again" if person.active else "marked inactive")
            report.updated.append(f"~ {person.handle}: " + ", ".join(changes or ["updated"]))
    old_teams = {t.id: t for t in existing_teams}
    teams_out = [t for tid, t in teams.items() if old_teams.get(tid) != t]
    for team in sorted(teams_out, key=lambda t: t.name.lower()):
        if team.id in old_teams:
            report.teams.append(f"~ team {team.name}: manager or parent changed")
        else:
            report.teams.append(f"+ team {team.name}")
    return people_out, teams_out, report


def sync_org(
    *,
    store: Store,
    workspace: str,
    directory: DirectorySource,
    org: OrgFile | None = None,
    dry_run: bool = False,
) -> SyncReport:
    """Read the whole directory, merge it and save every change in one atomic write (nothing
    when ``dry_run`` or when the directory fails or its data is refused)."""
    users = directory.fetch_users()
    people, teams, report = plan_sync(
        kind=directory.kind,
        label=directory.label,
        users=users,
        existing_people=store.list_people(workspace),
        existing_teams=store.list_teams(workspace),
        workspace=workspace,
        org=org,
    )
    report.dry_run = dry_run
    if not dry_run and (people or teams):
        store.save_org(people, teams)
    return report


# --------------------------------------------------------------------------- daily job

SYNC_DOC = "org_sync"
RETRY_AFTER_FAILURE = timedelta(hours=1)


@dataclass
class OrgSyncJob:
    """Syncs the org from the directory once a day, at ``hour`` UTC or later; after a failure
    it tries again an hour later. Idempotent, so two replicas running it change nothing twice."""

    directory: DirectorySource | None
    org_file: Path | None = None
    hour: int = 6
    name: str = "org-sync"

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Sync when today's sync is due."""
        report = JobReport(name=self.name)
        if self.directory is None or now.hour < self.hour:
            return report
        last = store.get_doc(SYNC_DOC, workspace, "last") or {}
        today = now.date().isoformat()
        if last.get("day") == today and (
            last.get("ok") or now < datetime.fromisoformat(last["at"]) + RETRY_AFTER_FAILURE
        ):
            return report
        doc: dict[str, object] = {"day": today, "at": now.isoformat()}
        try:
            org = load_org(self.org_file, workspace=workspace) if self.org_file else None
            result = sync_org(store=store, workspace=workspace, directory=self.directory, org=org)
        except InvalidCommand as error:
            log.warning("daily org sync failed, nothing was changed: %s", error.message)
            doc.update(ok=False, error=error.message)
        else:
            log.info("daily org sync: %s", result.summary())
            doc.update(ok=True, summary=result.summary())
        store.put_doc(SYNC_DOC, workspace, "last", doc)
        return report
