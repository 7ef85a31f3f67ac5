"""``/request team``: what is stuck on a manager's team right now, grouped, with what the manager can
do about each. The manager's team is as in the digest: everyone in the teams they manage and everyone
whose nearest manager they are; the groups are defined in ``docs/metrics.md``.

Each open stuck request carries the manager's buttons: Reassign, Nudge (the provider, at most once a
day, recorded in its log) and, when it has a due date, Extend (a later date with a reason, put to the
requester through the date negotiation of :mod:`bot.promises`). The buttons run through
``bot.clicks.run_click`` like every other; who may press them is ``bot.access``'s call (the
provider's manager chain).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import cards
from bot.errors import NotAllowed
from bot.models import Action, ActionId, Event, EventKind, Message, Person, Request, Section
from bot.people import Directory
from bot.ports import Store
from bot.recovery import recovery
from bot.stats import format_duration
from bot.workhours import WorkingHours, working_time

GROUPS = ("overdue", "unacknowledged", "waiting on another team", "in recovery")
_RESPONSES = (EventKind.ACKNOWLEDGED, EventKind.STARTED, EventKind.DONE, EventKind.DECLINED)
_NEW_WAIT = (EventKind.CREATED, EventKind.HANDED_OFF, EventKind.REASSIGNED, EventKind.REOPENED)
_LISTED = 15
_BUTTONS = 8
"""How many stuck requests get their buttons on the card (three each; the rest are listed)."""


@dataclass(frozen=True)
class StuckItem:
    """One request on the team in one group, with the line to show and the manager's actions."""

    request: Request
    line: str
    actions: tuple[str, ...]
    """What the manager can do, in words (the text reply)."""
    buttons: tuple[Action, ...] = ()
    """The same as buttons (the card): none for a closed request."""


@dataclass
class TeamView:
    """The manager's team's stuck requests, by group (:data:`GROUPS`)."""

    manager: Person
    members: int
    groups: dict[str, list[StuckItem]] = field(default_factory=lambda: {g: [] for g in GROUPS})


def _received_at(request: Request) -> datetime:
    for event in reversed(request.events):
        if event.kind in _NEW_WAIT:
            return event.at
    return request.created_at


def _unanswered_since_received(request: Request) -> bool:
    received = _received_at(request)
    return not any(e.kind in _RESPONSES and e.at >= received for e in request.events)


def _escalation(request: Request) -> Event | None:
    """The scheduler's escalation of the current wait, as its job recorded it (``bot.nudges``)."""
    received = _received_at(request)
    found = request.last(EventKind.ESCALATED)
    return found if found is not None and found.at >= received else None


def _in_recovery(request: Request) -> bool:
    """Poorly rated and its service recovery is still running (``bot.recovery``): not satisfied,
    and not closed by a manager."""
    found = recovery(request)
    return found is not None and found.is_open


def team_view(
    *,
    store: Store,
    manager: Person,
    now: datetime,
    nudge_after: timedelta = timedelta(hours=4),
    hours: WorkingHours,
) -> TeamView:
    """The groups for ``manager``; NotAllowed for someone nobody reports to."""
    directory = Directory(store, manager.workspace)
    people = [p for p in store.list_people(manager.workspace) if p.id != manager.id and p.active and not p.is_bot]
    managed = {t.id for t in store.list_teams(manager.workspace) if t.manager_id == manager.id}
    members = {p.id: p for p in people if p.team_id in managed or directory.manager_of(p.id) == manager.id}
    if not members:
        raise NotAllowed(
            "/request team shows what is stuck on a manager's team, and nobody reports to you in servechain yet."
        )
    view = TeamView(manager=manager, members=len(members))
    tz = manager.tz
    held = [r for r in store.find_requests(manager.workspace, open_only=True) if r.provider_id in members]
    recent = store.find_requests(manager.workspace, created_since=now - timedelta(days=60))
    for request in recent:
        if request.provider_id in members and not request.status.is_open and _in_recovery(request):
            view.groups["in recovery"].append(_item(request, directory, "poorly rated, not yet put right", tz))
    for request in sorted(held, key=lambda r: (r.due_at is None, r.due_at or r.created_at, r.number)):
        holder = members[request.provider_id]
        if request.due_at is not None and request.due_at < now:
            view.groups["overdue"].append(
                _item(request, directory, f"overdue since {cards.when(request.due_at, tz)}", tz)
            )
            continue
        if _unanswered_since_received(request):
            waited = working_time(_received_at(request), now, tz=holder.tz, hours=hours.for_person(holder))
            if waited > nudge_after:
                why = f"unacknowledged for {format_duration(waited)} (working time)"
                escalation = _escalation(request)
                if escalation is not None:
                    why += f"; escalated to {directory.name(escalation.to_id or '')} {cards.when(escalation.at, tz)}"
                view.groups["unacknowledged"].append(_item(request, directory, why, tz))
                continue
        children = [
            c
            for c in store.find_requests(manager.workspace, parent=request.number)
            if c.status.is_open and c.provider_id not in members
        ]
        if children:
            names = ", ".join(f"{c.ref} with {directory.name(c.provider_id)}" for c in children[:3])
            view.groups["waiting on another team"].append(_item(request, directory, f"waiting on {names}", tz))
        elif _in_recovery(request):
            view.groups["in recovery"].append(_item(request, directory, "poorly rated, not yet put right", tz))
    return view


def _item(request: Request, directory: Directory, why: str, tz: str) -> StuckItem:
    holder = directory.name(request.provider_id)
    requester = directory.name(request.requester_id)
    line = f"{request.ref} held by {holder}, asked by {requester}: {why}"
    if not request.status.is_open:
        return StuckItem(request, line, (f"talk to {holder} about putting it right",))
    return StuckItem(request, line, *_manager_actions(request, holder, requester))


def _manager_actions(request: Request, holder: str, requester: str) -> tuple[tuple[str, ...], tuple[Action, ...]]:
    """The manager's moves on one open request, in words and as buttons."""
    n, ref = request.number, request.ref
    words = ["reassign", f"nudge {holder}"]
    buttons = [
        Action(id=ActionId.NUDGE, label=f"Nudge {ref}", request=n, style="primary"),
        Action(id=ActionId.REASSIGN, label=f"Reassign {ref}", request=n, inputs=["to", "note"]),
    ]
    if request.due_at is not None:
        words.append(f"extend the date if {requester} agrees")
        buttons.append(
            Action(
                id=ActionId.EXTEND_DUE,
                label=f"Extend {ref}",
                request=n,
                inputs=["due", "note"],
                value=request.due_at.isoformat(),  # an Extend made for another date is outdated
            )
        )
    return tuple(words), tuple(buttons)


def _people(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} people"


def team_view_text(view: TeamView) -> str:
    """The view as text (console, and the reply in Slack and Teams)."""
    lines = [f"What is stuck on your team ({_people(view.members)}) right now:"]
    for group in GROUPS:
        items = view.groups[group]
        lines.append(f"{group.capitalize()} ({len(items)}):")
        if not items:
            lines.append("  nothing")
        for item in items[:_LISTED]:
            lines.append(f"  {item.line}")
            lines.append(f"    you can: {' · '.join(item.actions)}")
        if len(items) > _LISTED:
            lines.append(f"  …and {len(items) - _LISTED} more.")
    return "\n".join(lines)


def team_view_card(view: TeamView, *, now: datetime) -> Message:
    """The view as a neutral card (Teams renders it as an Adaptive Card, Slack as blocks): per group
    a heading, then each of the first :data:`_BUTTONS` stuck requests with its own buttons (Nudge,
    Reassign, Extend), then the group's other requests as lines."""
    manager = view.manager
    budget = _BUTTONS
    sections: list[Section] = []
    for group in GROUPS:
        items = view.groups[group][:_LISTED]
        sections.append(
            Section(title=f"{group.capitalize()} ({len(view.groups[group])})", lines=[] if items else ["nothing"])
        )
        rest: list[str] = []
        for item in items:
            if item.buttons and budget > 0:
                budget -= 1
                sections.append(Section(title="", lines=[item.line], actions=list(item.buttons)))
            else:
                rest.append(f"{item.line} · you can: {' · '.join(item.actions)}")
        if len(view.groups[group]) > _LISTED:
            rest.append(f"…and {len(view.groups[group]) - _LISTED} more.")
        if rest:
            sections.append(Section(title="", lines=rest))
    return Message(
        key=f"{manager.workspace}:team-view:{manager.id}:{now.isoformat()}",
        workspace=manager.workspace,
        recipient_id=manager.id,
        kind="text",
        title=f"What is stuck on your team ({_people(view.members)})",
        text="Nudge tells the provider now (once a day); Extend asks the requester to accept a later date.",
        sections=sections,
    )
