"""Small builders of valid domain objects (aware UTC datetimes) for the contract tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.models import Event, EventKind, Kudos, Message, OutboxItem, Person, Request, Team

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
"""A fixed "now" (a Tuesday) every factory defaults to."""


def at(minutes: float = 0) -> datetime:
    """``NOW`` shifted by some minutes."""
    return NOW + timedelta(minutes=minutes)


def person(handle: str, *, workspace: str = "default", **fields: Any) -> Person:
    """A person whose id is ``P-<handle>`` and email ``<handle>@example.com`` unless given."""
    fields.setdefault("id", f"P-{handle}")
    fields.setdefault("name", handle.capitalize())
    fields.setdefault("email", f"{handle}@example.com")
    return Person(handle=handle, workspace=workspace, **fields)


def team(team_id: str, name: str, *, workspace: str = "default", **fields: Any) -> Team:
    """A team."""
    return Team(id=team_id, name=name, workspace=workspace, **fields)


def request(
    requester: str = "P-alice",
    provider: str = "P-bob",
    *,
    workspace: str = "default",
    text: str = "Please review the Q3 numbers",
    created_at: datetime = NOW,
    **fields: Any,
) -> Request:
    """An unnumbered request with its ``created`` event, as a service would build it."""
    event = Event(kind=EventKind.CREATED, at=created_at, actor_id=requester, to_id=provider)
    return Request(
        workspace=workspace,
        requester_id=requester,
        provider_id=provider,
        text=text,
        created_at=created_at,
        events=[event],
        **fields,
    )


def message(key: str, *, workspace: str = "default", recipient: str = "P-bob", **fields: Any) -> Message:
    """A plain text message."""
    fields.setdefault("kind", "text")
    fields.setdefault("title", f"message {key}")
    return Message(key=key, workspace=workspace, recipient_id=recipient, **fields)


def outbox_item(
    key: str,
    *,
    workspace: str = "default",
    created_at: datetime = NOW,
    next_attempt_at: datetime | None = None,
    **fields: Any,
) -> OutboxItem:
    """A pending outbox item carrying :func:`message` ``key``, due at ``created_at`` unless given."""
    msg = fields.pop("message", None) or message(key, workspace=workspace)
    return OutboxItem(
        key=key,
        workspace=workspace,
        message=msg,
        created_at=created_at,
        next_attempt_at=next_attempt_at or created_at,
        **fields,
    )


def kudos(
    kudos_id: str,
    giver: str = "P-alice",
    recipients: tuple[str, ...] = ("P-bob",),
    *,
    workspace: str = "default",
    when: datetime = NOW,
    **fields: Any,
) -> Kudos:
    """Kudos from ``giver`` to ``recipients``."""
    fields.setdefault("message", "Thanks for the quick turnaround!")
    return Kudos(id=kudos_id, workspace=workspace, giver_id=giver, recipient_ids=list(recipients), at=when, **fields)
