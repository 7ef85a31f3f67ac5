"""Who is who: a per-command view of the people and teams of one workspace."""

from __future__ import annotations

import hashlib
import re
import uuid

from bot.errors import NotFound
from bot.models import Person, Team
from bot.ports import Store

_HANDLE_CLEAN = re.compile(r"[^a-z0-9._-]+")


class Directory:
    """Read-through cache of people and teams for one workspace, for the length of a command."""

    def __init__(self, store: Store, workspace: str) -> None:
        self.store = store
        self.workspace = workspace
        self._people: dict[str, Person | None] = {}
        self._teams: dict[str, Team | None] = {}

    def get(self, person_id: str) -> Person | None:
        """The person with this id, or None."""
        if person_id not in self._people:
            self._people[person_id] = self.store.get_person(self.workspace, person_id)
        return self._people[person_id]

    def require(self, person_id: str) -> Person:
        """The person with this id; NotFound when they are gone."""
        person = self.get(person_id)
        if person is None:
            raise NotFound("I don't know that person any more.")
        return person

    def by_handle(self, handle: str) -> Person | None:
        """The person with this handle (case-insensitive, leading @ ignored), or None."""
        person = self.store.find_person(self.workspace, handle=handle.lstrip("@").lower())
        if person is not None:
            self._people[person.id] = person
        return person

    def remember(self, person: Person) -> None:
        """Cache a person the caller already loaded or created."""
        self._people[person.id] = person

    def handle(self, person_id: str) -> str:
        """A short name for messages: the handle, or a placeholder for an unknown id."""
        person = self.get(person_id)
        return person.handle if person else "someone"

    def name(self, person_id: str) -> str:
        """The display name, or a placeholder for an unknown id."""
        person = self.get(person_id)
        return person.name if person else "someone"

    def team(self, team_id: str | None) -> Team | None:
        """The team with this id, or None."""
        if team_id is None:
            return None
        if team_id not in self._teams:
            self._teams[team_id] = self.store.get_team(self.workspace, team_id)
        return self._teams[team_id]

    def managers_of(self, person_id: str) -> list[str]:
        """The chain of managers above a person, nearest first (cycle-safe).

        A person's manager is their own ``manager_id``, else their team's manager (unless
        they manage that team themselves, then the parent team's manager)."""
        chain: list[str] = []
        current = self.get(person_id)
        while current is not None:
            manager_id = current.manager_id or self._team_manager_for(current)
            if manager_id is None or manager_id in chain or manager_id == person_id:
                break
            chain.append(manager_id)
            current = self.get(manager_id)
        return chain

    def _team_manager_for(self, person: Person) -> str | None:
        team = self.team(person.team_id)
        seen: set[str] = set()
        while team is not None and team.id not in seen:
            seen.add(team.id)
            if team.manager_id and team.manager_id != person.id:
                return team.manager_id
            team = self.team(team.parent_id)
        return None

    def manager_of(self, person_id: str) -> str | None:
        """The nearest manager, or None."""
        chain = self.managers_of(person_id)
        return chain[0] if chain else None

    def manages(self, manager_id: str, person_id: str) -> bool:
        """True when ``manager_id`` is anywhere in ``person_id``'s manager chain."""
        return manager_id in self.managers_of(person_id)


def new_person_id() -> str:
    """A fresh stable person id."""
    return "P-" + uuid.uuid4().hex[:12]


def handle_from(name: str, email: str | None = None) -> str:
    """A readable handle from an email's local part or a display name."""
    source = email.split("@", 1)[0] if email else name
    handle = _HANDLE_CLEAN.sub(".", source.strip().lower()).strip("._-")
    return handle or "user"


def _stable_id(*parts: str) -> str:
    return "P-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:12]


def link_person(
    store: Store,
    workspace: str,
    *,
    name: str,
    email: str | None = None,
    tz: str | None = None,
    slack_id: tuple[str, str] | None = None,
    teams_id: str | None = None,
    is_bot: bool = False,
) -> Person:
    """The person behind a platform identity: found by that identity, else by email (and then
    linked to it, so one human keeps one history across Slack and Teams), else created.

    A created person's id is derived from the platform identity, so two concurrent first
    contacts of the same user store one person, not two."""
    if slack_id is None and teams_id is None:
        raise ValueError("link_person needs a platform identity")
    found = (
        store.find_person(workspace, slack_id=slack_id) if slack_id else store.find_person(workspace, teams_id=teams_id)
    )
    if found is not None:
        return found
    person = store.find_person(workspace, email=email) if email else None
    if person is None:
        base = handle_from(name, email)
        handle, n = base, 1
        while store.find_person(workspace, handle=handle) is not None:
            n += 1
            handle = f"{base}{n}"
        key = ("slack", *slack_id) if slack_id else ("teams", teams_id or "")
        person = Person(
            id=_stable_id(workspace, *key),
            workspace=workspace,
            handle=handle,
            name=name or handle,
            email=email,
            tz=tz or "UTC",
            is_bot=is_bot,
        )
    else:
        person = person.model_copy(deep=True)
    if slack_id:
        person.slack_ids[slack_id[0]] = slack_id[1]
    if teams_id:
        person.teams_id = teams_id
    if tz and person.tz == "UTC":
        person.tz = tz
    store.save_org([person])
    return person
