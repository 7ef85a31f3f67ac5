"""Outbox delivery: send queued messages through per-platform notifiers, retrying faults.

Delivery is at-least-once: an item is leased (its next attempt pushed into the future)
before it is sent, so a second worker skips it, and a crashed worker's lease runs out.
Cards are updated in place through stored card references, so a resend edits the same
card instead of posting a duplicate.

The one gap at-least-once leaves is a *new* post whose outcome was never recorded (the
process died after the platform accepted it, or the platform timed out). Leasing marks the
item :data:`UNCONFIRMED`; the next attempt at such an item first asks the notifier whether
the post went through (:class:`Reconciler`, e.g. Slack looks the message key up in the
conversation's message metadata) and records that post instead of posting again.

Faults are retried with exponential backoff and jitter (or the platform's Retry-After) for at
least :data:`RETRY_WINDOW`, so a long platform outage delays messages but does not lose them;
permanent refusals are recorded with their reason and the requester is told.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import Conflict
from bot.models import CardRef, Message, OutboxItem, Person
from bot.ports import DeliveryError, Notifier, Reconciler, Store

__all__ = ["DeliveryError", "DeliveryReport", "Notifier", "Reconciler", "deliver_due", "private_reply"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
RETRY_WINDOW = timedelta(hours=6)
"""A failing item is given up only after MAX_ATTEMPTS attempts *and* this long since it was queued."""
LEASE = timedelta(seconds=60)
BASE_BACKOFF = 2.0
MAX_BACKOFF = 15 * 60.0
UNREACHABLE_WINDOW = timedelta(days=7)
"""How long a message waits for a recipient who hasn't connected any platform yet."""
UNREACHABLE_RETRY = timedelta(minutes=10)
"""How often such a message checks whether they have connected."""
MIN_WAIT = 1.0
"""No retry sooner than this, even when a platform says ``Retry-After: 0``."""
UNCONFIRMED = "unconfirmed: "
"""Prefix of ``last_error`` while it is unknown whether the platform took the last send."""


@dataclass
class DeliveryReport:
    """Counts from one pass over the outbox."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0


def private_reply(recipient: Person, text: str, *, card: Message | None = None) -> Message:
    """A reply for one person as a DM through the outbox, for when it can't (or must not) be
    given where they asked: a failed ephemeral answer, or a question asked in a channel."""
    key = f"{recipient.workspace}:reply:{uuid.uuid4().hex}"
    if card is not None:
        return card.model_copy(update={"key": key, "recipient_id": recipient.id, "card_key": None, "thread_key": None})
    return Message(
        key=key, workspace=recipient.workspace, recipient_id=recipient.id, kind="text", title="servechain", text=text
    )


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
        unsure = is_unconfirmed(item)
        leased = item.model_copy(
            update={
                "attempts": item.attempts + 1,
                "next_attempt_at": now + LEASE,
                "last_error": f"{UNCONFIRMED}attempt {item.attempts + 1} was sending",
            }
        )
        try:
            leased = store.save_outbox_item(leased)
        except Conflict:
            report.skipped += 1
            continue
        try:
            _deliver_one(store, notifiers, leased, now, rng, report, unsure=unsure)
        except Exception as error:  # a bug must not stop the rest of the outbox; retried like a fault
            log.exception("delivery of %s failed unexpectedly", leased.key)
            _retry(store, leased, DeliveryError(f"unexpected error ({type(error).__name__})"), now, rng, report, True)
    return report


def is_unconfirmed(item: OutboxItem) -> bool:
    """True when the item's last send may have reached the platform without being recorded."""
    return item.state == "pending" and (item.last_error or "").startswith(UNCONFIRMED)


def _deliver_one(
    store: Store,
    notifiers: Sequence[Notifier],
    item: OutboxItem,
    now: datetime,
    rng: random.Random,
    report: DeliveryReport,
    *,
    unsure: bool,
) -> None:
    message = item.message
    person = store.get_person(item.workspace, message.recipient_id)
    notifier = _pick(notifiers, person) if person else None
    if person is None or notifier is None:
        _unreachable(store, item, person, now, report)
        return
    posted = store.get_card_ref(item.workspace, message.card_key, notifier.platform) if message.card_key else None
    if posted is not None and message.revision is not None and posted.revision > message.revision:
        superseded = {"state": "sent", "platform": notifier.platform, "platform_ref": posted.ref}
        _save(store, item.model_copy(update={**superseded, "last_error": "superseded by a newer card"}))
        report.skipped += 1
        return
    card_ref = posted.ref if posted else None
    thread_ref = _ref(store, item.workspace, message.thread_key, notifier.platform)
    try:
        ref: str | None = None
        if unsure and card_ref is None and isinstance(notifier, Reconciler):
            ref = notifier.find_sent(message, person, thread_ref=thread_ref, since=item.created_at)
            if ref is not None:
                log.info("%s was already posted by an unrecorded attempt; recording it", item.key)
            unsure = False  # we looked: it is there (recorded below) or it is not (post it now)
        if ref is None:
            ref = notifier.send(message, person, card_ref=card_ref, thread_ref=thread_ref)
    except DeliveryError as error:
        if error.permanent:
            _fail(store, item, error.reason, now)
            report.failed += 1
        else:
            _retry(store, item, error, now, rng, report, unsure or error.unconfirmed, platform=notifier.platform)
        return
    if message.card_key and ref:
        store.save_card_ref(
            CardRef(
                workspace=item.workspace,
                card_key=message.card_key,
                platform=notifier.platform,
                ref=ref,
                revision=message.revision or 0,
            )
        )
    _save(
        store,
        item.model_copy(
            update={"state": "sent", "platform": notifier.platform, "platform_ref": ref, "last_error": None}
        ),
    )
    report.sent += 1


def _retry(
    store: Store,
    item: OutboxItem,
    error: DeliveryError,
    now: datetime,
    rng: random.Random,
    report: DeliveryReport,
    unconfirmed: bool,
    *,
    platform: str = "?",
) -> None:
    """Schedule the next attempt, or give up once the item has been failing for long enough."""
    if item.attempts >= MAX_ATTEMPTS and now - item.created_at >= RETRY_WINDOW:
        _fail(store, item, error.reason, now)
        report.failed += 1
        return
    wait = error.retry_after if error.retry_after is not None else backoff(item.attempts, rng)
    wait = max(wait, MIN_WAIT)
    log.warning("delivery of %s to %s failed (%s); retrying in %.0fs", item.key, platform, error.reason, wait)
    reason = f"{UNCONFIRMED}{error.reason}" if unconfirmed else error.reason
    _save(store, item.model_copy(update={"next_attempt_at": now + timedelta(seconds=wait), "last_error": reason}))
    report.retried += 1


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


def _unreachable(store: Store, item: OutboxItem, person: Person | None, now: datetime, report: DeliveryReport) -> None:
    """Nobody can reach the recipient yet (they never used servechain on a connected platform):
    wait for them to connect, telling the requester once, and give up only after a week."""
    who = person.handle if person else "someone"
    if person is None or now - item.created_at >= UNREACHABLE_WINDOW:
        _fail(store, item, f"{who} can't be reached on any connected platform", now)
        report.failed += 1
        return
    if item.attempts <= 1:
        _tell_requester(
            store,
            item,
            now,
            "waiting",
            f"{person.name} hasn't connected servechain on Slack or Teams yet; they'll get {{ref}} as soon as they do.",
        )
    reason = f"waiting for {who} to connect servechain on Slack or Teams"
    _save(store, item.model_copy(update={"next_attempt_at": now + UNREACHABLE_RETRY, "last_error": reason}))
    report.retried += 1


def _fail(store: Store, item: OutboxItem, reason: str, now: datetime) -> None:
    """Record a permanent failure and tell the requester, so nothing is lost silently."""
    log.error("delivery of %s failed for good: %s", item.key, reason)
    _save(store, item.model_copy(update={"state": "failed", "last_error": reason}))
    recipient = store.get_person(item.workspace, item.message.recipient_id)
    who = recipient.name if recipient else "Someone"
    _tell_requester(store, item, now, "failed", f"{who} could not be notified about {{ref}}: {reason}")


def _tell_requester(store: Store, item: OutboxItem, now: datetime, what: str, text: str) -> None:
    """Tell the requester (once per item and ``what``) that a provider's message is stuck.

    Only messages to the people serving the request concern the requester; escalations to
    managers and notes to others stay internal."""
    message = item.message
    if message.request is None or message.kind == "text":
        return
    request = store.get_request(item.workspace, message.request)
    if request is None or message.recipient_id not in request.provider_history():
        return
    notice = Message(
        key=f"{item.key}:{what}",
        workspace=item.workspace,
        recipient_id=request.requester_id,
        kind="text",
        title=request.ref,
        text=text.format(ref=request.ref),
        request=request.number,
    )
    store.enqueue(
        [OutboxItem(key=notice.key, workspace=notice.workspace, message=notice, created_at=now, next_attempt_at=now)]
    )
