"""What a person's home shows: their queue, service recoveries waiting on them, their open
requests, how they served others this month, what is stuck on their team (managers) and their kudos.

One function, :func:`home`, decides what is on it; the Slack App Home
(``handlers/slack/home.py``) draws it as Block Kit and the console's ``home`` command as text,
so both always show the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import cards
from bot.errors import NotAllowed
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE, KudosTally, kudos_tally
from bot.metrics import ProviderSummary, provider_summary
from bot.models import Person, Request
from bot.people import Directory
from bot.ports import Store
from bot.recovery import recoveries_waiting_on, recovery_line
from bot.team_view import TeamView, team_view
from bot.workhours import WorkingHours

LISTED = 15
"""Requests a home lists per list; the rest are counted (``/request list`` and ``queue`` show all)."""
TEAM_PREVIEW = 3
"""Stuck requests a manager's home shows per group (``/request team`` shows them all)."""
RECENT_KUDOS_RECEIVED = 5
RECENT_KUDOS_GIVEN = 3


@dataclass(frozen=True)
class HomeItem:
    """One open request as a home lists it, from the viewer's side."""

    request: Request
    direction: str
    """``to Bob Brennan`` (the viewer asked) or ``from Alice Adams`` (the viewer provides)."""
    due: str | None
    """The due date in the viewer's time zone, e.g. ``Fri 04 Dec 17:00``; None without one."""
    overdue: str | None
    """``overdue by 3 working h`` in the viewer's working hours, once the due date has passed."""


@dataclass(frozen=True)
class Home:
    """Everything one person's home shows at one moment."""

    person: Person
    waiting_on_you: list[HomeItem]
    """Open requests the person provides, soonest due first."""
    recoveries: list[str]
    """Service recoveries waiting on the person's (next) plan, one line each (``bot.recovery``)."""
    your_requests: list[HomeItem]
    """Open requests the person asked for."""
    summary: ProviderSummary
    """How they served others since the start of this month (their time zone)."""
    kudos: KudosTally
    kudos_received: list[tuple[str, str]]
    """(giver's name, message) of the latest kudos received, newest first."""
    kudos_given: list[tuple[str, str]]
    """(recipients' names, message) of the latest kudos given, newest first."""
    team: TeamView | None
    """What is stuck on their team, for managers; None for someone nobody reports to."""

    @property
    def median_to_acknowledge(self) -> str:
        """The Kaplan-Meier median (docs/metrics.md); "over X" while half or more still wait."""
        summary = self.summary
        if summary.median_time_to_acknowledge is None and summary.longest_wait_to_acknowledge is not None:
            return f"over {duration(summary.longest_wait_to_acknowledge)}"
        return duration(summary.median_time_to_acknowledge)

    @property
    def promises_kept(self) -> str:
        """``3 of 4``, or ``no due dates yet``."""
        summary = self.summary
        return f"{summary.promises_kept} of {summary.promises_total}" if summary.promises_total else "no due dates yet"


def duration(value: timedelta | None) -> str:
    """A wait for people: ``40 min``, ``3 h 15 min``, ``4 days``."""
    if value is None:
        return "no acknowledgements yet"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def month_start(now: datetime, tz: str) -> datetime:
    """Midnight on the first of ``now``'s month in ``tz``."""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _item(request: Request, directory: Directory, viewer: Person, now: datetime, hours: WorkingHours) -> HomeItem:
    mine = viewer.id == request.requester_id
    other = directory.name(request.provider_id if mine else request.requester_id)
    return HomeItem(
        request=request,
        direction=f"to {other}" if mine else f"from {other}",
        due=cards.when(request.due_at, viewer.tz) if request.due_at else None,
        overdue=cards.overdue(request, now, viewer, hours),
    )


def home(
    *,
    store: Store,
    person: Person,
    now: datetime,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    hours: WorkingHours,
) -> Home:
    """What ``person``'s home shows at ``now``."""
    directory = Directory(store, person.workspace)
    directory.remember(person)
    queue = store.find_requests(person.workspace, provider_id=person.id, open_only=True)
    queue.sort(key=lambda r: (r.due_at is None, r.due_at or r.created_at, r.number))
    mine = store.find_requests(person.workspace, requester_id=person.id, open_only=True)
    summary = provider_summary(
        store=store,
        workspace=person.workspace,
        person_id=person.id,
        since=month_start(now, person.tz),
        until=now,
        now=now,
        hours=hours,
    )
    tally = kudos_tally(store=store, person=person, now=now, allowance=allowance)
    try:
        team: TeamView | None = team_view(store=store, manager=person, now=now, hours=hours)
    except NotAllowed:
        team = None
    return Home(
        person=person,
        waiting_on_you=[_item(r, directory, person, now, hours) for r in queue],
        recoveries=[recovery_line(r, directory) for r in recoveries_waiting_on(store, person)],
        your_requests=[_item(r, directory, person, now, hours) for r in mine],
        summary=summary,
        kudos=tally,
        kudos_received=[
            (directory.name(k.giver_id), k.message) for k in reversed(tally.received[-RECENT_KUDOS_RECEIVED:])
        ],
        kudos_given=[
            (", ".join(directory.name(r) for r in k.recipient_ids), k.message)
            for k in reversed(tally.given[-RECENT_KUDOS_GIVEN:])
        ],
        team=team,
    )
