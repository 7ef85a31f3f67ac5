"""App Home: my open requests, my queue, my responsiveness this month, kudos received and given
(what is on it is decided by :func:`bot.home.home`, which the console's ``home`` also shows).

Published with ``views.publish`` when someone opens the tab, and again after a change
touches them, but only for people who have opened it once (the rest see it fresh when
they do), so a busy day does not turn into a storm of publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from bot.home import LISTED, TEAM_PREVIEW, HomeItem, home
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE
from bot.models import Person
from bot.ports import Store
from bot.team_view import GROUPS, TeamView
from bot.workhours import WorkingHours
from handlers.slack.render import MAX_VIEW_BLOCKS, Block, buttons, clip, context, fit, header, plain, section
from handlers.slack.views import NEW_REQUEST

log = logging.getLogger(__name__)

SEEN_DOC = "slack_home_seen"
"""Document kind marking that a Slack user has opened the App Home (key: user id)."""


def _line(item: HomeItem) -> str:
    due = f" · due {item.due}" if item.due else ""
    due += f" · ⚠️ *{item.overdue}*" if item.overdue else ""
    request = item.request
    return (
        f"*{request.ref}* {fit(item.direction, 120)} · {request.status.label}{due}\n{fit(clip(request.text, 200), 600)}"
    )


def _team_blocks(view: TeamView | None, workspace: str) -> list[Block]:
    """For managers: what is stuck on their team (``/request team``), a few requests per group, each
    with the manager's Nudge / Reassign / Extend buttons as on the ``/request team`` card."""
    if view is None:
        return []
    blocks: list[Block] = [header("What is stuck on your team")]
    for index, group in enumerate(GROUPS):
        items = view.groups[group]
        blocks.append(section(f"*{group.capitalize()} ({len(items)})*" + ("" if items else "\nnothing")))
        for number, item in enumerate(items[:TEAM_PREVIEW]):
            blocks.append(section(fit(item.line, 300)))
            if item.buttons:
                blocks.append(buttons(item.buttons, workspace, block_id=f"team-{index}-{number}"))
        if len(items) > TEAM_PREVIEW:
            blocks.append(context(f"…and {len(items) - TEAM_PREVIEW} more"))
    blocks.append(context("/request team lists them all with what you can do about each."))
    return blocks


def _listing(title: str, items: list[HomeItem], empty: str) -> list[Block]:
    blocks: list[Block] = [header(title)]
    if not items:
        return [*blocks, context(empty)]
    blocks += [section(_line(item)) for item in items[:LISTED]]
    if len(items) > LISTED:
        blocks.append(context(f"…and {len(items) - LISTED} more. Try /request list or /request queue."))
    return blocks


def _recovery_blocks(lines: list[str]) -> list[Block]:
    """Service recoveries waiting on the person's (next) plan; nothing when there are none."""
    if not lines:
        return []
    shown = [section(fit(line, 600)) for line in lines[:LISTED]]
    return [header(f"Service recovery waiting on you ({len(lines)})"), *shown]


def home_view(
    *,
    store: Store,
    person: Person,
    now: datetime,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    hours: WorkingHours,
) -> dict[str, Any]:
    """The App Home view for ``person`` at ``now``: :func:`bot.home.home` drawn as Block Kit."""
    shown = home(store=store, person=person, now=now, allowance=allowance, hours=hours)
    summary, tally = shown.summary, shown.kudos
    new_button = {
        "type": "actions",
        "block_id": "home_actions",
        "elements": [
            {"type": "button", "action_id": NEW_REQUEST, "text": plain("New request", 75), "style": "primary"}
        ],
    }
    blocks: list[Block] = [new_button]
    blocks += _listing("Waiting on you", shown.waiting_on_you, "Nothing is waiting on you. Nice!")
    blocks += _recovery_blocks(shown.recoveries)
    blocks += _listing("Your open requests", shown.your_requests, "You have no open requests.")
    blocks += [
        header("Your responsiveness this month"),
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*Median time to acknowledge*\n{shown.median_to_acknowledge}",
                },
                {"type": "mrkdwn", "text": f"*Promises kept*\n{shown.promises_kept}"},
                {"type": "mrkdwn", "text": f"*Requests received*\n{summary.received}"},
                {"type": "mrkdwn", "text": f"*Still open*\n{summary.open_now}"},
                {"type": "mrkdwn", "text": f"*Still waiting for your first answer*\n{summary.waiting_to_acknowledge}"},
            ],
        },
        *_team_blocks(shown.team, person.workspace),
        header(f"Kudos received ({len(tally.received)})"),
    ]
    if not tally.received:
        blocks.append(context("No kudos yet. Give some with /kudos @name what they did."))
    elif tally.received_today:
        blocks.append(context(f"{tally.received_today} of them today."))
    for giver, message in shown.kudos_received:
        blocks.append(section(f"*{fit(giver, 100)}*: {fit(clip(message, 300), 900)}"))
    blocks.append(header(f"Kudos given ({len(tally.given)})"))
    blocks.append(
        context(
            f"{tally.given_today} today; you can give {tally.left_today} more. "
            "/kudos top shows this week's leaderboard."
        )
    )
    for names, message in shown.kudos_given:
        blocks.append(section(f"To *{fit(names, 200)}*: {fit(clip(message, 300), 900)}"))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


class HomePublisher:
    """Publishes App Home views; remembers who has opened theirs."""

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        kudos_allowance: int = DEFAULT_KUDOS_ALLOWANCE,
        hours: WorkingHours,
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
