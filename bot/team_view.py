"""``/request team``: what is stuck on a manager's team right now, grouped, with what the manager can
do about each. The manager's team is as in the digest: everyone in the teams they manage and everyone
whose nearest manager they are; the groups are defined in ``docs/metrics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import cards
from bot.errors import NotAllowed
from bot.metrics import POOR_RATING, last_rating
from bot.models import EventKind, Person, Request
from bot.people import Directory
from bot.ports import Store
from bot.stats import format_duration
from bot.workhours import DEFAULT_HOURS, WorkingHours, working_time

GROUPS = ("overdue", "unacknowledged", "waiting on another team", "in recovery")
_RESPONSES = (EventKind.ACKNOWLEDGED, EventKind.STARTED, EventKind.DONE, EventKind.DECLINED)
_NEW_WAIT = (EventKind.CREATED, EventKind.HANDED_OFF, EventKind.REASSIGNED, EventKind.REOPENED)
_LISTED = 15


@dataclass(frozen=True)
class StuckItem:
    """One request on the team in one group, with the line to show and the manager's actions."""

    request: Request
    line: str
    actions: tuple[str, ...]


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


def _in_recovery(request: Request) -> bool:
    """Poorly rated and the requester has not said they are satisfied since."""
    rated = request.last(EventKind.RATED)
    rating = last_rating(request)
    if rated is None or rating is None or rating.score > POOR_RATING:
        return False
    return not any(e.kind == EventKind.FOLLOWED_UP and e.satisfied and e.at >= rated.at for e in request.events)


def team_view(
    *,
    store: Store,
    manager: Person,
    now: datetime,
    nudge_after: timedelta = timedelta(hours=4),
    hours: WorkingHours = DEFAULT_HOURS,
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
                _item(request, directory, f"overdue since {cards.when(request.due_at, tz)}", tz, extend=True)
            )
            continue
        if _unanswered_since_received(request):
            waited = working_time(_received_at(request), now, tz=holder.tz, hours=hours)
            if waited > nudge_after:
                view.groups["unacknowledged"].append(
                    _item(request, directory, f"unacknowledged for {format_duration(waited)} (working time)", tz)
                )
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


def _item(request: Request, directory: Directory, why: str, tz: str, *, extend: bool = False) -> StuckItem:
    holder = directory.name(request.provider_id)
    line = f"{request.ref} held by {holder}, asked by {directory.name(request.requester_id)}: {why}"
    actions = [f"reassign: /request show {request.ref} (Reassign)", f"nudge {holder}"]
    if extend:
        actions.append(f"agree a new date with {directory.name(request.requester_id)}")
    return StuckItem(request, line, tuple(actions))


def team_view_text(view: TeamView) -> str:
    """The view as text (console, and the reply in Slack and Teams)."""
    lines = [f"What is stuck on your team ({view.members} people) right now:"]
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
