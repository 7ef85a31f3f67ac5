"""Small helpers shared by the listeners: idempotency keys, the people a change touched, and
running a neutral click with the app's settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.clicks import Click, ClickResult, run_click
from bot.models import Message, Person

if TYPE_CHECKING:
    from handlers.slack.deps import SlackDeps


def touched(actor: Person, messages: Iterable[Message]) -> set[str]:
    """Ids of the actor and of everyone a change sent a message to (their App Home changes)."""
    return {actor.id, *(m.recipient_id for m in messages)}


def command_key(team_id: str, trigger_id: str) -> str:
    """Idempotency key of a slash command (a retried delivery carries the same trigger id)."""
    return f"slack:cmd:{team_id}:{trigger_id}"


def click_key(team_id: str, user_id: str, action_ts: str) -> str:
    """Idempotency key of one button click."""
    return f"slack:click:{team_id}:{user_id}:{action_ts}"


def view_key(view_id: str) -> str:
    """Idempotency key of a modal submission (one modal is submitted successfully once)."""
    return f"slack:view:{view_id}"


def run(deps: SlackDeps, click: Click) -> ClickResult:
    """Run one neutral click (a button or a form's submit) against the core."""
    return run_click(
        store=deps.store,
        click=click,
        now=deps.clock(),
        nudges=deps.nudges,
        hours=deps.hours,
        kudos_allowance=deps.kudos_allowance,
    )
