"""Kudos: thanking coworkers within a daily allowance, thanks for a finished request, the
leaderboard, and the tallies App Home shows.

Kudos are public by design: a typed ``/kudos`` is announced in the conversation it was typed
in (the front end posts :attr:`KudosOutcome.announcement` there) and each recipient gets a DM
through the outbox. Announcements and DMs carry the kudos text only, never a request's text,
so thanking someone for a request reveals nothing about it beyond its number.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bot.access import can_view
from bot.cards import finished_by
from bot.commands import _hashtags as hashtags
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.models import Kudos, Message, Person, Status, Team
from bot.people import Directory
from bot.ports import Store
from bot.requests import outbox_items
from bot.workhours import zone

DEFAULT_KUDOS_ALLOWANCE = 5
"""Kudos one person may give per local day (``Settings.kudos_daily_allowance``)."""
LEADERBOARD_SIZE = 10
MAX_KUDOS_TEXT = 1000

Period = Literal["week", "month", "all"]


@dataclass
class KudosOutcome:
    """What giving kudos did: the reply for the giver, the DMs queued, and the public post for
    the conversation the kudos were given in (None when there is none, e.g. a 1:1 chat)."""

    text: str
    kudos: Kudos | None = None
    messages: list[Message] = field(default_factory=list)
    announcement: Message | None = None
    repeated: bool = False


def local_day_start(now: datetime, tz: str | None) -> datetime:
    """Midnight of ``now``'s local day in ``tz`` (when the daily allowance resets)."""
    return now.astimezone(zone(tz)).replace(hour=0, minute=0, second=0, microsecond=0)


def used_today(store: Store, giver: Person, now: datetime) -> int:
    """How many kudos (one per recipient) ``giver`` has given since their local midnight."""
    start = local_day_start(now, giver.tz)
    given = store.find_kudos(giver.workspace, giver_id=giver.id, since=start, until=start + timedelta(days=1))
    return sum(len(k.recipient_ids) for k in given)


def _names(people: Iterable[Person]) -> str:
    names = [p.name for p in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def give_kudos(
    *,
    store: Store,
    directory: Directory,
    giver: Person,
    recipients: list[Person],
    message: str,
    values: list[str],
    now: datetime,
    channel: str | None = None,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    request_number: int | None = None,
    idempotency_key: str | None = None,
) -> KudosOutcome:
    """Thank people: store the kudos and DM each recipient, within the giver's daily allowance.

    No kudos to yourself or to bots; the allowance counts one per recipient and resets at the
    giver's local midnight. ``channel`` is where it was typed (announced there)."""
    unique = list({p.id: p for p in recipients}.values())
    if any(p.id == giver.id for p in unique):
        raise InvalidCommand("Kudos are for others. You can't give kudos to yourself.")
    bots = [p.handle for p in unique if p.is_bot]
    if bots:
        raise InvalidCommand(f"{', '.join(bots)} is a bot; kudos are for people.")
    text = message.strip()
    if not text:
        raise InvalidCommand("Say what they did, so they know what the thanks are for.", field="message")
    if len(text) > MAX_KUDOS_TEXT:
        raise InvalidCommand(f"That message is {len(text)} characters; the limit is {MAX_KUDOS_TEXT}.", field="message")
    used = used_today(store, giver, now)
    if used + len(unique) > allowance:
        left = max(allowance - used, 0)
        raise InvalidCommand(
            f"You've used {used} of your {allowance} kudos for today"
            + (f" and have {left} left." if left else ".")
            + " Your allowance resets at midnight."
        )
    kudos = Kudos(
        id="K-" + uuid.uuid4().hex[:12],
        workspace=giver.workspace,
        giver_id=giver.id,
        recipient_ids=[p.id for p in unique],
        message=text,
        values=values,
        at=now,
        request_number=request_number,
        channel=channel,
    )
    for_request = f" for R-{request_number}" if request_number is not None else ""
    messages = [
        Message(
            key=f"{kudos.workspace}:{kudos.id}:kudos:{p.id}",
            workspace=kudos.workspace,
            recipient_id=p.id,
            kind="kudos",
            title=f"Kudos from {giver.name}{for_request}!",
            text=text,
        )
        for p in unique
    ]
    if not store.add_kudos(kudos, outbox=outbox_items(messages, now), idempotency_key=idempotency_key):
        return KudosOutcome("Those kudos were already given.", repeated=True)
    announcement = None
    if channel is not None:
        announcement = Message(
            key=f"{kudos.workspace}:{kudos.id}:announcement",
            workspace=kudos.workspace,
            recipient_id=giver.id,
            kind="kudos",
            title=f"{giver.name} gave kudos to {_names(unique)}",
            text=text,
        )
    names = ", ".join(p.name for p in unique)
    return KudosOutcome(
        f"Kudos sent to {names}. ({used + len(unique)}/{allowance} today)",
        kudos=kudos,
        messages=messages,
        announcement=announcement,
    )


def thank_for_request(
    *,
    store: Store,
    directory: Directory,
    actor: Person,
    number: int,
    message: str | None,
    now: datetime,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    idempotency_key: str | None = None,
) -> KudosOutcome:
    """The "Thank <provider>" button on a finished request's card: kudos from its requester to
    whoever marked it done, once per request, within the daily allowance."""
    request = store.get_request(actor.workspace, number)
    if request is None or not can_view(request, actor, directory):
        raise NotFound(f"I can't find R-{number}.")
    if actor.id != request.requester_id:
        raise NotAllowed(f"Only {directory.handle(request.requester_id)} can say thanks for {request.ref}.")
    if request.status != Status.DONE:
        raise InvalidTransition(f"{request.ref} isn't done, so there is nothing to thank for yet.")
    provider = directory.require(finished_by(request) or request.provider_id)
    if provider.id == actor.id:
        raise InvalidCommand("Kudos are for others. You can't give kudos to yourself.")
    earlier = store.find_kudos(actor.workspace, giver_id=actor.id, recipient_id=provider.id)
    if any(k.request_number == number for k in earlier):
        raise InvalidCommand(f"You already thanked {provider.name} for {request.ref}.")
    text = (message or "").strip()
    return give_kudos(
        store=store,
        directory=directory,
        giver=actor,
        recipients=[provider],
        message=text,
        values=hashtags(text),
        now=now,
        allowance=allowance,
        request_number=number,
        idempotency_key=idempotency_key,
    )


# --------------------------------------------------------------------------- leaderboard


@dataclass(frozen=True)
class LeaderRow:
    """One place on the leaderboard (people with the same count share a rank)."""

    rank: int
    person_id: str
    name: str
    team: str
    received: int
    top_values: tuple[str, ...] = ()


def period_start(period: Period, now: datetime, tz: str | None) -> datetime | None:
    """Start of ``period`` in ``tz``: Monday 00:00 this week, the 1st of this month, or None (all)."""
    today = local_day_start(now, tz)
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    return None


def team_scope(teams: Mapping[str, Team], name: str) -> tuple[Team, frozenset[str]]:
    """The team called ``name`` (or with that id) and the ids of it and every team below it."""
    wanted = name.strip().lower()
    team = next((t for t in teams.values() if t.id.lower() == wanted or t.name.lower() == wanted), None)
    if team is None:
        known = ", ".join(sorted(t.name for t in teams.values())) or "none yet"
        raise NotFound(f"I don't know a team called {name.strip()!r}. Teams: {known}.")
    found = {team.id}
    grew = True
    while grew:
        grew = False
        for other in teams.values():
            if other.parent_id in found and other.id not in found:
                found.add(other.id)
                grew = True
    return team, frozenset(found)


def leaderboard(
    *,
    store: Store,
    workspace: str,
    period: Period,
    now: datetime,
    tz: str | None,
    team: str | None = None,
    size: int = LEADERBOARD_SIZE,
) -> list[LeaderRow]:
    """The people who received the most kudos in ``period`` (one per kudos), optionally only
    members of ``team`` and its sub-teams; ties share a rank, then by name."""
    people = {p.id: p for p in store.list_people(workspace)}
    teams = {t.id: t for t in store.list_teams(workspace)}
    scope = team_scope(teams, team)[1] if team else None
    counts: Counter[str] = Counter()
    values: dict[str, Counter[str]] = {}
    for kudos in store.find_kudos(workspace, since=period_start(period, now, tz)):
        for recipient in kudos.recipient_ids:
            person = people.get(recipient)
            if scope is not None and (person is None or person.team_id not in scope):
                continue
            counts[recipient] += 1
            values.setdefault(recipient, Counter()).update(kudos.values)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], people[item[0]].name if item[0] in people else ""))
    rows: list[LeaderRow] = []
    for index, (person_id, received) in enumerate(ordered[:size]):
        rank = rows[-1].rank if rows and rows[-1].received == received else index + 1
        person = people.get(person_id)
        team_obj = teams.get(person.team_id or "") if person else None
        rows.append(
            LeaderRow(
                rank=rank,
                person_id=person_id,
                name=person.name if person else "someone",
                team=team_obj.name if team_obj else "",
                received=received,
                top_values=tuple(v for v, _n in values[person_id].most_common(2)),
            )
        )
    return rows


_PERIOD_WORDS: dict[str, str] = {"week": "this week", "month": "this month", "all": "of all time"}


def leaderboard_text(
    *,
    store: Store,
    workspace: str,
    period: Period,
    now: datetime,
    tz: str | None,
    team: str | None = None,
    size: int = LEADERBOARD_SIZE,
) -> str:
    """``/kudos top [week|month|all] [team]`` as text."""
    teams = {t.id: t for t in store.list_teams(workspace)}
    scope_name = team_scope(teams, team)[0].name if team else None
    rows = leaderboard(store=store, workspace=workspace, period=period, now=now, tz=tz, team=team, size=size)
    title = f"Kudos leaderboard {_PERIOD_WORDS[period]}" + (f" · {scope_name}" if scope_name else "")
    if not rows:
        return f"{title}\nNo kudos yet. Be the first: /kudos @name what they did"
    lines = [title]
    for row in rows:
        team_part = f" ({row.team})" if row.team else ""
        tags = f" · {' '.join('#' + v for v in row.top_values)}" if row.top_values else ""
        lines.append(f"{row.rank}. {row.name}{team_part} · {row.received} kudos{tags}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- tallies


@dataclass(frozen=True)
class KudosTally:
    """A person's kudos for App Home: received and given (ever and today), and what is left today."""

    received: list[Kudos]
    given: list[Kudos]
    received_today: int
    given_today: int
    left_today: int


def kudos_tally(*, store: Store, person: Person, now: datetime, allowance: int = DEFAULT_KUDOS_ALLOWANCE) -> KudosTally:
    """Kudos ``person`` received and gave (oldest first), with today's counts in their time zone."""
    received = store.find_kudos(person.workspace, recipient_id=person.id)
    given = store.find_kudos(person.workspace, giver_id=person.id)
    start = local_day_start(now, person.tz)
    given_today = sum(len(k.recipient_ids) for k in given if start <= k.at < start + timedelta(days=1))
    return KudosTally(
        received=received,
        given=given,
        received_today=sum(1 for k in received if start <= k.at < start + timedelta(days=1)),
        given_today=given_today,
        left_today=max(allowance - given_today, 0),
    )
