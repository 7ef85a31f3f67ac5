"""App Home: my open requests, my queue, my responsiveness this month, kudos received and given.

Published with ``views.publish`` when someone opens the tab, and again after a change
touches them, but only for people who have opened it once (the rest see it fresh when
they do), so a busy day does not turn into a storm of publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot import cards
from bot.errors import NotAllowed
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE, kudos_tally
from bot.metrics import ProviderSummary, provider_summary
from bot.models import Person, Request
from bot.people import Directory
from bot.ports import Store
from bot.recovery import recoveries_waiting_on, recovery_line
from bot.team_view import GROUPS, team_view
from bot.workhours import DEFAULT_HOURS, WorkingHours
from handlers.slack.render import MAX_VIEW_BLOCKS, Block, clip, context, fit, header, plain, section
from handlers.slack.views import NEW_REQUEST

log = logging.getLogger(__name__)

SEEN_DOC = "slack_home_seen"
"""Document kind marking that a Slack user has opened the App Home (key: user id)."""
MAX_LISTED = 15


def _month_start(now: datetime, tz: str) -> datetime:
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "no acknowledgements yet"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def _line(request: Request, directory: Directory, viewer: Person, now: datetime, hours: WorkingHours) -> str:
    mine = viewer.id == request.requester_id
    other = directory.name(request.provider_id if mine else request.requester_id)
    direction = f"to {other}" if mine else f"from {other}"
    due = f" · due {cards.when(request.due_at, viewer.tz)}" if request.due_at else ""
    late = cards.overdue(request, now, viewer.tz, hours)
    due += f" · ⚠️ *{late}*" if late else ""
    return f"*{request.ref}* {fit(direction, 120)} · {request.status.label}{due}\n{fit(clip(request.text, 200), 600)}"


def _median(summary: ProviderSummary) -> str:
    """The Kaplan-Meier median (docs/metrics.md); "over X" while half or more still wait."""
    if summary.median_time_to_acknowledge is None and summary.longest_wait_to_acknowledge is not None:
        return f"over {_duration(summary.longest_wait_to_acknowledge)}"
    return _duration(summary.median_time_to_acknowledge)


def _team_blocks(store: Store, person: Person, now: datetime) -> list[Block]:
    """For managers: what is stuck on their team (``/request team``), a few lines per group."""
    try:
        view = team_view(store=store, manager=person, now=now)
    except NotAllowed:
        return []
    blocks: list[Block] = [header("What is stuck on your team")]
    for group in GROUPS:
        items = view.groups[group]
        lines = [fit(item.line, 300) for item in items[:3]] + (
            [f"…and {len(items) - 3} more"] if len(items) > 3 else []
        )
        blocks.append(section(f"*{group.capitalize()} ({len(items)})*\n" + ("\n".join(lines) or "nothing")))
    blocks.append(context("/request team lists them all with what you can do about each."))
    return blocks


def _listing(
    title: str,
    requests: list[Request],
    directory: Directory,
    viewer: Person,
    empty: str,
    now: datetime,
    hours: WorkingHours,
) -> list[Block]:
    blocks: list[Block] = [header(title)]
    if not requests:
        return [*blocks, context(empty)]
    blocks += [section(_line(r, directory, viewer, now, hours)) for r in requests[:MAX_LISTED]]
    if len(requests) > MAX_LISTED:
        blocks.append(context(f"…and {len(requests) - MAX_LISTED} more. Try /request list or /request queue."))
    return blocks


def _recovery_blocks(store: Store, person: Person, directory: Directory) -> list[Block]:
    """Service recoveries waiting on the person's (next) plan; nothing when there are none."""
    owed = recoveries_waiting_on(store, person)
    if not owed:
        return []
    lines = [section(fit(recovery_line(r, directory), 600)) for r in owed[:MAX_LISTED]]
    return [header(f"Service recovery waiting on you ({len(owed)})"), *lines]


def home_view(
    *,
    store: Store,
    person: Person,
    now: datetime,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    hours: WorkingHours = DEFAULT_HOURS,
) -> dict[str, Any]:
    """The App Home view for ``person`` at ``now``."""
    directory = Directory(store, person.workspace)
    directory.remember(person)
    queue = store.find_requests(person.workspace, provider_id=person.id, open_only=True)
    queue.sort(key=lambda r: (r.due_at is None, r.due_at or r.created_at, r.number))
    mine = store.find_requests(person.workspace, requester_id=person.id, open_only=True)
    since = _month_start(now, person.tz)
    summary = provider_summary(
        store=store, workspace=person.workspace, person_id=person.id, since=since, until=now, now=now
    )
    tally = kudos_tally(store=store, person=person, now=now, allowance=allowance)
    new_button = {
        "type": "actions",
        "block_id": "home_actions",
        "elements": [
            {"type": "button", "action_id": NEW_REQUEST, "text": plain("New request", 75), "style": "primary"}
        ],
    }
    blocks: list[Block] = [new_button]
    blocks += _listing("Waiting on you", queue, directory, person, "Nothing is waiting on you. Nice!", now, hours)
    blocks += _recovery_blocks(store, person, directory)
    blocks += _listing("Your open requests", mine, directory, person, "You have no open requests.", now, hours)
    kept = f"{summary.promises_kept} of {summary.promises_total}" if summary.promises_total else "no due dates yet"
    blocks += [
        header("Your responsiveness this month"),
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*Median time to acknowledge*\n{_median(summary)}",
                },
                {"type": "mrkdwn", "text": f"*Promises kept*\n{kept}"},
                {"type": "mrkdwn", "text": f"*Requests received*\n{summary.received}"},
                {"type": "mrkdwn", "text": f"*Still open*\n{summary.open_now}"},
                {"type": "mrkdwn", "text": f"*Still waiting for your first answer*\n{summary.waiting_to_acknowledge}"},
            ],
        },
        *_team_blocks(store, person, now),
        header(f"Kudos received ({len(tally.received)})"),
    ]
    if not tally.received:
        blocks.append(context("No kudos yet. Give some with /kudos @name what they did."))
    elif tally.received_today:
        blocks.append(context(f"{tally.received_today} of them today."))
    for item in reversed(tally.received[-5:]):
        giver = fit(directory.name(item.giver_id), 100)
        blocks.append(section(f"*{giver}*: {fit(clip(item.message, 300), 900)}"))
    blocks.append(header(f"Kudos given ({len(tally.given)})"))
    blocks.append(
        context(
            f"{tally.given_today} today; you can give {tally.left_today} more. "
            "/kudos top shows this week's leaderboard."
        )
    )
    for item in reversed(tally.given[-3:]):
        names = fit(", ".join(directory.name(r) for r in item.recipient_ids), 200)
        blocks.append(section(f"To *{names}*: {fit(clip(item.message, 300), 900)}"))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


class HomePublisher:
    """Publishes App Home views; remembers who has opened theirs."""

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        kudos_allowance: int = DEFAULT_KUDOS_ALLOWANCE,
        hours: WorkingHours = DEFAULT_HOURS,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.kudos_allowance = kudos_allowance
        self.hours = hours

    def opened(self, user_id: str) -> None:
        """Remember that ``user_id`` opened the App Home."""
        if self.store.get_doc(SEEN_DOC, self.workspace, user_id) is None:
            self.store.put_doc(SEEN_DOC, self.workspace, user_id, {"seen": True})

    def publish(self, client: WebClient, person: Person, user_id: str, now: datetime) -> None:
        """Build and publish ``person``'s home."""
        view = home_view(store=self.store, person=person, now=now, allowance=self.kudos_allowance, hours=self.hours)
        client.views_publish(user_id=user_id, view=view)

    def refresh(self, client: WebClient, people: Iterable[Person], team_id: str, now: datetime) -> None:
        """Republish the homes of these people, if they have opened theirs before."""
        for person in people:
            user_id = person.slack_ids.get(team_id)
            if user_id is None or self.store.get_doc(SEEN_DOC, self.workspace, user_id) is None:
                continue
            try:
                self.publish(client, person, user_id, now)
            except Exception:  # a stale home is not worth failing the command over
                log.warning("could not refresh the App Home of %s", person.handle, exc_info=True)
