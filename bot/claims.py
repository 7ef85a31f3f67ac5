"""What every scheduled job builds on: claim a key together with its messages in one atomic
write, and report what a run did. Jobs import this, never the scheduler loop.

A job computes what is due at ``now`` from stored state alone and claims every send with a
unique key (``nudge:unacked:R-7:e0``, ``escalate:R-7:e0``, ``digest:<manager>:<iso week>``)
in the same write as its outbox messages, so replicas sharing a store and a restarted
scheduler never send the same thing twice: the second claim of a key is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.models import Message
from bot.ports import Store
from bot.requests import outbox_items

__all__ = ["Job", "JobReport", "claim_and_send"]


@dataclass
class JobReport:
    """What one job did in one run: messages queued, keys claimed (key -> recipient id), keys
    found already claimed (by an earlier run or another replica), suppressed (claimed, not sent:
    muted) and held back (not yet: quiet hours, snoozes)."""

    name: str
    sent: list[Message] = field(default_factory=list)
    claimed: dict[str, str] = field(default_factory=dict)
    already: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def claim_and_send(store: Store, workspace: str, key: str, messages: Sequence[Message], now: datetime) -> bool:
    """Claim ``key`` and queue ``messages`` in the same atomic write; False if it was claimed before."""
    return store.claim(workspace, key, at=now, outbox=outbox_items(messages, now))


class Job(Protocol):
    """A periodic job: claims and queues whatever is due at ``now``; must be idempotent."""

    name: str

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Do what is due at ``now``."""
        ...
