"""``/digest [last|now|2026-W47]``: a manager's digest on demand, for their eyes only."""

from __future__ import annotations

from datetime import datetime

from bot.digest.model import manager_digest
from bot.digest.settings import DEFAULT_DIGEST, DigestSettings
from bot.digest.text import digest_message
from bot.errors import InvalidCommand
from bot.models import Message, Person
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.weeks import iso_week, last_week
from bot.workhours import WorkingHours


def digest_preview(
    *,
    store: Store,
    manager: Person,
    text: str,
    now: datetime,
    hours: WorkingHours,
    settings: DigestSettings = DEFAULT_DIGEST,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
) -> Message:
    """``/digest [last|now|2026-W47]``: the digest as a message for the manager's eyes only
    (last completed week by default; ``now`` is this week so far)."""
    word = text.strip().lower()
    if word in ("", "last", "last week"):
        week = last_week(now, manager.tz)
    elif word in ("now", "this week", "current"):
        week = iso_week(now, manager.tz)
    elif word in ("help", "?"):
        raise InvalidCommand(DIGEST_USAGE)
    else:
        week = word.upper()
    digest = manager_digest(
        store=store,
        manager=manager,
        week=week,
        now=now,
        hours=hours,
        settings=settings,
        pulse_settings=pulse_settings,
    )
    return digest_message(digest)


DIGEST_USAGE = """\
Usage:
• /digest — your team's digest for last week, as it comes on Monday (only you see it)
• /digest now — this week so far
• /digest 2026-W45 — an earlier week"""
