"""Outbox delivery: send queued messages through per-platform notifiers, retrying faults.

Delivery is at-least-once: an item is leased (its next attempt pushed into the future)
before it is sent, so a second worker skips it, and a crashed worker's lease runs out.
Cards are updated in place through stored card references, so a resend edits the same
card instead of posting a duplicate.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.errors import Conflict
from bot.models import CardRef, Message, OutboxItem, Person
from storage.contract import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=60)
BASE_BACKOFF = 2.0
MAX_BACKOFF = 15 * 60.0


class DeliveryError(Exception):
    """A platform refused or failed a send; ``permanent`` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Notifier(Protocol):
    """A platform's way of reaching people (Slack, Teams, the console)."""

    platform: str

    def can_reach(self, person: Person) -> bool:
        """True when this platform knows how to message ``person``."""
        ...

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        """Post (or, with ``card_ref``, update) the message; return the platform's reference
        for the posted card so later updates can edit it. Raise DeliveryError on failure."""
        ...


@dataclass
class DeliveryReport:
    """Counts from one pass over the outbox."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential with full jitter."""
    ceiling = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _pick(notifiers: Sequence[Notifier], person: Person) -> Notifier | None:
    for notifier in notifiers:
        if notifier.can_reach(person):
            return notifier
    return None


def deliver_due(
    *,
    store: Store,
    notifiers: Sequence[Notifier],
    now: datetime,
    limit: int = 100,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Try every due outbox item once; record each outcome in storage."""
    rng = rng or random.Random()
    report = DeliveryReport()
    for item in store.due_outbox(now=now, limit=limit):
        leased = item.model_copy(update={"attempts": item.attempts + 1, "next_attempt_at": now + LEASE})
        try:
            leased = store.save_outbox_item(leased)
        except Conflict:
            report.skipped += 1
            continue
        _deliver_one(store, notifiers, leased, now, rng, report)
    return report


def _deliver_one(
    store: Store,
    notifiers: Sequence[Notifier],
    item: OutboxItem,
    now: datetime,
    rng: random.Random,
    report: DeliveryReport,
) -> None:
    message = item.message
    person = store.get_person(item.workspace, message.recipient_id)
    notifier = _pick(notifiers, person) if person else None
    if person is None or notifier is None:
        who = person.handle if person else "someone"
        _fail(store, item, f"{who} can't be reached on any connected platform", now)
        report.failed += 1
        return
    card_ref = _ref(store, item.workspace, message.card_key, notifier.platform)
    thread_ref = _ref(store, item.workspace, message.thread_key, notifier.platform)
    try:
        ref = notifier.send(message, person, card_ref=card_ref, thread_ref=thread_ref)
    except DeliveryError as error:
        if error.permanent or item.attempts >= MAX_ATTEMPTS:
            _fail(store, item, error.reason, now)
            report.failed += 1
        else:
            wait = error.retry_after if error.retry_after is not None else backoff(item.attempts, rng)
            log.warning(
                "delivery of %s to %s failed (%s); retrying in %.0fs", item.key, notifier.platform, error.reason, wait
            )
            _save(
                store,
                item.model_copy(update={"next_attempt_at": now + timedelta(seconds=wait), "last_error": error.reason}),
            )
            report.retried += 1
        return
    if message.card_key and ref:
        store.save_card_ref(
            CardRef(workspace=item.workspace, card_key=message.card_key, platform=notifier.platform, ref=ref)
        )
    _save(
        store,
        item.model_copy(
            update={"state": "sent", "platform": notifier.platform, "platform_ref": ref, "last_error": None}
        ),
    )
    report.sent += 1


def _ref(store: Store, workspace: str, card_key: str | None, platform: str) -> str | None:
    if not card_key:
        return None
    ref = store.get_card_ref(workspace, card_key, platform)
    return ref.ref if ref else None


def _save(store: Store, item: OutboxItem) -> None:
    try:
        store.save_outbox_item(item)
    except Conflict:
        log.warning("outbox item %s changed under us; leaving it to the other worker", item.key)


def _fail(store: Store, item: OutboxItem, reason: str, now: datetime) -> None:
    """Record a permanent failure and tell the requester, so nothing is lost silently."""
    log.error("delivery of %s failed for good: %s", item.key, reason)
    _save(store, item.model_copy(update={"state": "failed", "last_error": reason}))
    message = item.message
    if message.request is None or message.kind == "text":
        return
    request = store.get_request(item.workspace, message.request)
    if request is None or message.recipient_id not in request.provider_history():
        return  # only the people serving the request concern the requester; escalations stay internal
    recipient = store.get_person(item.workspace, message.recipient_id)
    who = recipient.name if recipient else "Someone"
    notice = Message(
        key=f"{item.key}:failed",
        workspace=item.workspace,
        recipient_id=request.requester_id,
        kind="text",
        title=request.ref,
        text=f"{who} could not be notified about {request.ref}: {reason}",
        request=request.number,
    )
    store.enqueue(
        [OutboxItem(key=notice.key, workspace=notice.workspace, message=notice, created_at=now, next_attempt_at=now)]
    )
