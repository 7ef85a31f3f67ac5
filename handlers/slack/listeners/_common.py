"""Small helpers shared by the listeners: idempotency keys and the people a change touched."""

from __future__ import annotations

from collections.abc import Iterable

from bot.models import Message, Person


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
