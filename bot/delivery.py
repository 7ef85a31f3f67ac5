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

import heapq
import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import Conflict
from bot.models import CardRef, Message, OutboxItem, Person
from bot.ports import NO_TELEMETRY, Clock, DeliveryError, DeliveryFacts, Notifier, Reconciler, Store, Telemetry
from bot.ratelimit import RateLimiter

__all__ = [
    "DeliveryError",
    "DeliveryReport",
    "Dispatcher",
    "Notifier",
    "Reconciler",
    "deliver_due",
    "private_reply",
]

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
RETRY_AFTER_JITTER = 0.1
"""A retry after a platform's ``Retry-After`` waits up to this share longer (at most 5 s more)."""
BULK_SHARE = 0.25
"""The share of a dispatcher's slots bulk sends (digests, pulse invitations, nudges) may hold at
once. A digest holds its slot while its chart is drawn (aside, at a low priority) and
uploaded: 105 of them at 09:00 took every free slot, and cards queued behind them for 26 s
(``benchmarks/delivery_bench.py --digests``)."""
GATHER = 0.025
"""Seconds a dispatcher waits for more sends to end before leasing again (see ``Dispatcher._gather``)."""
MIN_WAIT = 1.0
"""No retry sooner than this, even when a platform says ``Retry-After: 0``."""
UNCONFIRMED = "unconfirmed: "
"""Prefix of ``last_error`` while it is unknown whether the platform took the last send."""
UNSURE = " after an unconfirmed attempt"
"""Suffix of a lease's ``last_error`` when the attempt before may have posted (see :func:`lease_note`)."""


@dataclass
class DeliveryReport:
    """Counts from one pass over the outbox."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: DeliveryReport) -> None:
        """Count ``other``'s outcomes in this report too."""
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped


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


def lease_note(attempt: int, previous: str | None) -> str:
    """The ``last_error`` of an item while attempt ``attempt`` sends it (set by the store's
    lease): unconfirmed until the outcome is recorded, and marked :data:`UNSURE` when the
    attempt before it was unconfirmed too, so this one looks before it posts."""
    unsure = UNSURE if (previous or "").startswith(UNCONFIRMED) else ""
    return f"{UNCONFIRMED}attempt {attempt} was sending{unsure}"


def deliver_due(
    *,
    store: Store,
    notifiers: Sequence[Notifier],
    now: datetime,
    limit: int = 100,
    rng: random.Random | None = None,
    concurrency: int = 1,
    limiter: RateLimiter | None = None,
) -> DeliveryReport:
    """Deliver what is due at ``now`` (up to ``limit`` sends), ``concurrency`` at a time, and
    record each outcome in storage; returns when nothing more is due and every send ended."""
    with Dispatcher(
        store=store, notifiers=notifiers, clock=lambda: now, concurrency=concurrency, rng=rng, limiter=limiter
    ) as dispatcher:
        return dispatcher.drain(limit=limit)


@dataclass(frozen=True)
class _Plan:
    """Where a leased item goes, worked out before it books its turn with the rate limiter: it
    holds while the item waits, since its lane (the recipient's DM, where its card and thread
    live) stays leased, so nothing else can post or update there meanwhile."""

    person: Person
    notifier: Notifier
    card_ref: str | None
    thread_ref: str | None


@dataclass(order=True)
class _Turn:
    """A leased send waiting for its booked turn (``due``, on the rate limiter's clock)."""

    due: float
    order: int
    item: OutboxItem = field(compare=False)
    plan: _Plan = field(compare=False)


class Dispatcher:
    """Sends due outbox items, up to ``concurrency`` at once, keeping each lane in order.

    A thread pool rather than asyncio: the store (TinyDB's file lock, psycopg's pool) and both
    notifiers (slack_sdk's ``WebClient``, the Teams connector run to completion per send) are
    synchronous, and a send spends nearly all its time waiting on the network with the GIL
    released, so threads give the concurrency without rewriting the ports as coroutines.

    A send whose turn the rate limiter booked in the future (a burst into one DM: Slack allows
    about one message a second there) gives its slot back while it waits: it is kept, still
    leased and booked, in a heap of turns that the dispatcher loop serves first, before it
    leases anything new. The loop already wakes for every ended send and every lease renewal and
    is the one place that hands out slots, so it needs no thread of its own per waiting send
    (a timer each would cost the threads this saves); sleeping in the slot let a few busy DMs
    fill all the slots while everyone else's cards waited. A turn further off than the limiter's
    horizon is not booked: the item goes back to the store for then.

    What keeps a message from being sent twice while concurrency is on:

    - the store leases each item to one caller (``Store.lease_outbox``: a token, a version
      bump, and one in-flight item per lane), also across processes;
    - this dispatcher never hands out a key it already holds (sending or waiting), even if a
      store were to return one;
    - leases of items held (sending or waiting for their turn) are renewed every third of the
      lease, so neither a slow send nor a wait outlives its lease; a worker re-reads the item
      (again after a wait) and sends only if it still carries its token, unchanged, with time
      left on the lease;
    - the outcome is saved with a compare-and-set on the version the lease gave it;
    - on stop, sends waiting for their turn go back to the store, due at their turn (see
      :meth:`drain`), instead of being sent from a process on its way out.
    """

    def __init__(
        self,
        *,
        store: Store,
        notifiers: Sequence[Notifier],
        clock: Clock,
        concurrency: int = 32,
        lease: timedelta = LEASE,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        """Told each delivery's latency, from the change that queued it (metrics in ``serve``)."""
        self.notifiers = notifiers
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.bulk_limit = max(1, int(self.concurrency * BULK_SHARE))
        self.lease = lease
        self.rng = rng or random.Random()
        self.limiter = limiter
        self.sleep = sleep
        """How time passes when nothing but a booked turn is left to wait for: a simulated
        clock's in tests. None (servers): wait on the dispatcher's condition, so a new item, an
        ended send or a stop wakes it sooner."""
        self._pool: ThreadPoolExecutor | None = None
        self._changed = threading.Condition()
        self._in_flight: dict[str, str] = {}
        """Key → lease token of every item a worker of this dispatcher is sending (one slot each)."""
        self._bulk: set[str] = set()
        """The bulk sends among ``_in_flight`` (at most :attr:`bulk_limit` are leased at once)."""
        self._waiting: dict[str, str] = {}
        """Key → lease token of every item waiting for its booked turn (no slot; see ``_turns``)."""
        self._turns: list[_Turn] = []
        self._order = itertools.count()
        self._changes = 0
        """Counts ended sends and wake-ups, so the loop never waits for one that came meanwhile."""
        self._held_until: dict[str, datetime] = {}
        self._lost: set[str] = set()
        self._renewed_at = time.monotonic()
        self._renewed_on = clock()
        self._report = DeliveryReport()
        self._fatal: BaseException | None = None

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the sends in flight and stop the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def wake(self) -> None:
        """Look for due items now (something was queued)."""
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    @property
    def in_flight(self) -> int:
        """How many sends are under way (each holding a slot)."""
        with self._changed:
            return len(self._in_flight)

    @property
    def waiting(self) -> int:
        """How many leased sends wait for their booked turn (holding no slot)."""
        with self._changed:
            return len(self._waiting)

    def drain(self, *, limit: int | None = None, stop: threading.Event | None = None) -> DeliveryReport:
        """Lease and send until nothing is due, in flight or waiting for its turn (or ``limit``
        items were taken, or ``stop`` is set: then the sends in flight end, and those waiting for
        their turn go back to the store due at it); returns what happened meanwhile."""
        taken = 0
        while True:
            stopping = stop is not None and stop.is_set()
            if stopping:
                self._hand_back_waiting()
            resumed = 0 if stopping else self._resume_due()
            with self._changed:
                free = self.concurrency - len(self._in_flight)
                changes = self._changes
            want = free if limit is None else min(free, limit - taken)
            started = self._start(want) if want > 0 and not stopping else 0
            taken += started
            nap = 0.0
            with self._changed:
                done = not self._in_flight and not self._turns and not started and not resumed
                if done and self._changes == changes:  # (a send that ended meanwhile may have freed its lane)
                    break
                stopped = stop is not None and stop.is_set()
                idle = not started and not resumed and not (stopped and self._turns)
                if idle and self._changes == changes:
                    nap = self._idle()
                elif idle:  # a send ended (or a wake-up came) while leasing: don't wait for another
                    self._gather()
            if nap > 0 and self.sleep is not None:
                self.sleep(nap)
            if self._fatal is not None:
                fatal, self._fatal = self._fatal, None
                raise fatal
            self._renew_if_due()
        with self._changed:
            report, self._report = self._report, DeliveryReport()
        return report

    def _idle(self) -> float:
        """Wait (holding the lock) for a send to end, a wake-up, or the next booked turn; returns
        how long to let pass outside the lock instead when only a turn is left to wait for and
        :attr:`sleep` lets time pass (a simulated clock)."""
        timeout = self._renew_every()
        if self._turns and len(self._in_flight) < self.concurrency:
            timeout = min(timeout, max(self._turns[0].due - self._limiter_clock(), 0.0))
            if self.sleep is not None and not self._in_flight:
                return timeout
        self._changed.wait(timeout)
        self._gather()
        return 0.0

    def _gather(self) -> None:
        """After a send ended, wait a moment for more to end (up to half the slots free), so one
        lease (one store write) refills several slots instead of one each. Call holding the lock."""
        deadline = time.monotonic() + GATHER
        while self._in_flight and self.concurrency - len(self._in_flight) < self.concurrency // 2:
            left = deadline - time.monotonic()
            if left <= 0 or self._fatal is not None:
                return
            self._changed.wait(left)

    def _renew_every(self) -> float:
        return max(self.lease.total_seconds() / 3, 0.01)

    def _limiter_clock(self) -> float:
        return self.limiter.clock() if self.limiter is not None else time.monotonic()

    def _start(self, want: int) -> int:
        token = uuid.uuid4().hex
        now = self.clock()
        with self._changed:
            bulk = max(self.bulk_limit - len(self._bulk), 0)
        leased = self.store.lease_outbox_facts(
            now=now,
            until=now + self.lease,
            token=token,
            limit=want,
            bulk=bulk,
            platforms=[n.platform for n in self.notifiers],
        )
        started = 0
        for facts in leased:
            item = facts.item
            assert item is not None  # a leased item is there
            with self._changed:
                if item.key in self._in_flight or item.key in self._waiting:  # never twice
                    log.error("outbox item %s was leased again while held here; not sending it twice", item.key)
                    continue
                self._in_flight[item.key] = token
                if item.priority:
                    self._bulk.add(item.key)
                self._held_until[item.key] = item.next_attempt_at
            self._submit(item, None, facts)
            started += 1
        return started

    def _submit(self, item: OutboxItem, turn: _Turn | None, facts: DeliveryFacts | None = None) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="servechain-send")
        self._pool.submit(self._send, item, turn, facts)

    def _resume_due(self) -> int:
        """Give the sends whose booked turn has come a slot each (as many as are free); they go
        before anything new is leased."""
        with self._changed:
            if not self._turns:
                return 0
            now = self._limiter_clock()
            due = []
            while self._turns and self._turns[0].due <= now and len(self._in_flight) < self.concurrency:
                turn = heapq.heappop(self._turns)
                self._in_flight[turn.item.key] = self._waiting.pop(turn.item.key)
                if turn.item.priority:
                    self._bulk.add(turn.item.key)
                due.append(turn)
        for turn in due:
            self._submit(turn.item, turn)
        return len(due)

    def _hand_back_waiting(self) -> None:
        """Put every send still waiting for its turn back in the store, due at that turn and the
        attempt not counted, so a stopping process neither sends late nor leaves the item leased
        until its lease runs out (the compare-and-set leaves an item someone else took alone)."""
        with self._changed:
            turns, self._turns = self._turns, []
            for turn in turns:
                self._waiting.pop(turn.item.key, None)
        for turn in turns:
            report = DeliveryReport()
            wait = max(turn.due - self._limiter_clock(), 0.0)
            try:
                self._put_back(turn.item, wait, turn.plan.notifier.platform, report)
            except Exception:  # the store is down: the lease runs out and the item is retried
                log.exception("handing back outbox item %s failed; its lease runs out", turn.item.key)
            with self._changed:
                self._held_until.pop(turn.item.key, None)
                self._lost.discard(turn.item.key)
                self._report.add(report)

    def _renew_if_due(self) -> None:
        """Renew the leases held, every third of the lease on the real clock or on the
        dispatcher's (the one leases are written in, which a test may move faster)."""
        every = self._renew_every()
        on_clock = (self.clock() - self._renewed_on).total_seconds()
        if time.monotonic() - self._renewed_at < every and on_clock < every:
            return
        self._renewed_at = time.monotonic()
        self._renewed_on = self.clock()
        with self._changed:
            held = [*self._in_flight.items(), *self._waiting.items()]
        if not held:
            return
        until = self.clock() + self.lease
        try:
            kept = self.store.renew_outbox(held, until=until)
        except Exception:  # the store is down: each worker's own check stops it from sending late
            log.exception("renewing %d outbox leases failed", len(held))
            return
        with self._changed:
            for key, _token in held:
                if key in kept:
                    self._held_until[key] = until
                elif key in self._in_flight or key in self._waiting:
                    self._lost.add(key)

    def _still_ours(self, item: OutboxItem, facts: DeliveryFacts | None = None) -> bool:
        """The lease is ours, unexpired and unchanged in the store (checked just before sending;
        with ``facts``, against the copy read with them)."""
        with self._changed:
            if item.key in self._lost or self.clock() >= self._held_until.get(item.key, item.next_attempt_at):
                return False
        current = facts.item if facts is not None else self.store.get_outbox_item(item.key)
        return current is not None and current.lease == item.lease and current.version == item.version

    def _send(self, item: OutboxItem, turn: _Turn | None, leased: DeliveryFacts | None = None) -> None:
        """Send a leased item: book its turn first (``turn`` None) and wait for it without the
        slot when it is ahead, or send it now that its booked ``turn`` has come. ``leased``:
        the facts read with the lease (no read of its own then; within a lane nothing else is
        sent meanwhile, so its card refs are still the latest)."""
        report = DeliveryReport()
        parked: _Turn | None = None
        try:
            facts = (leased or _facts(self.store, self.notifiers, item)) if turn is None else None
            if not self._still_ours(item, facts):
                log.warning("the lease of outbox item %s ran out before it was sent; leaving it", item.key)
                report.skipped += 1
                return
            now = self.clock()
            try:
                plan = turn.plan if turn is not None else _plan(self.store, self.notifiers, item, now, report, facts)
                if plan is None:
                    return
                if turn is None:
                    wait = self._book(item, plan, report)
                    if wait is None:
                        return
                    if wait > 0:
                        parked = _Turn(self._limiter_clock() + wait, next(self._order), item, plan)
                        return
                _send_planned(
                    self.store, item, plan, now, self.rng, report, unsure=was_unsure(item), limiter=self.limiter
                )
                if report.sent:
                    self._sent(plan.notifier.platform, item)
            except Exception as error:  # a bug must not stop the rest of the outbox; retried like a fault
                log.exception("delivery of %s failed unexpectedly", item.key)
                unexpected = DeliveryError(f"unexpected error ({type(error).__name__})")
                _retry(self.store, item, unexpected, now, self.rng, report, True)
        except Exception:
            log.exception("recording the delivery of %s failed; its lease runs out and it is retried", item.key)
        except BaseException as death:  # e.g. a drill's simulated crash: the caller of drain() sees it
            self._fatal = death
            raise
        finally:
            with self._changed:
                token = self._in_flight.pop(item.key, None)
                self._bulk.discard(item.key)
                if parked is not None and token is not None:  # still leased, booked, and renewed
                    self._waiting[item.key] = token
                    heapq.heappush(self._turns, parked)
                else:
                    self._held_until.pop(item.key, None)
                    self._lost.discard(item.key)
                self._report.add(report)
                self._changes += 1
                self._changed.notify_all()

    def _sent(self, platform: str, item: OutboxItem) -> None:
        try:
            self.telemetry.message_sent(platform=platform, seconds=(self.clock() - item.created_at).total_seconds())
        except Exception:  # the message went out; metrics never fail a delivery
            log.exception("telemetry failed")

    def _book(self, item: OutboxItem, plan: _Plan, report: DeliveryReport) -> float | None:
        """Book the send's turn with the platform's rate limits: seconds until it (0: now), or
        None when it is beyond the limiter's horizon and the item went back to the store for then."""
        if self.limiter is None:
            return 0.0
        op = "update" if plan.card_ref else "post"
        platform = plan.notifier.platform
        wait = self.limiter.reserve(platform=platform, scope=item.workspace, conversation=item.conversation, op=op)
        if wait <= self.limiter.horizon:
            return max(wait, 0.0)
        self._put_back(item, wait, platform, report)
        return None

    def _put_back(self, item: OutboxItem, wait: float, platform: str, report: DeliveryReport) -> None:
        """Return a leased item unsent, due in ``wait`` seconds; the attempt does not count, and
        an unsure one stays unsure (it still looks before it posts)."""
        later = self.clock() + timedelta(seconds=wait)
        note = item.last_error if was_unsure(item) else f"waiting {wait:.0f}s for {platform}'s rate limit"
        update = {"next_attempt_at": later, "attempts": item.attempts - 1, "last_error": note}
        _save(self.store, item.model_copy(update=update))
        report.skipped += 1


def is_unconfirmed(item: OutboxItem) -> bool:
    """True when the item's last send may have reached the platform without being recorded."""
    return item.state == "pending" and (item.last_error or "").startswith(UNCONFIRMED)


def was_unsure(leased: OutboxItem) -> bool:
    """True when the attempt before this lease may have reached the platform unrecorded (see
    :func:`lease_note`): look before posting again."""
    return (leased.last_error or "").endswith(UNSURE)


def _facts(store: Store, notifiers: Sequence[Notifier], item: OutboxItem) -> DeliveryFacts:
    """The store's side of a send (the item, its recipient, its card's and thread's refs) in one read."""
    message = item.message
    keys = [key for key in (message.card_key, message.thread_key) if key]
    return store.delivery_facts(item, card_keys=keys, platforms=[n.platform for n in notifiers])


def _plan(
    store: Store,
    notifiers: Sequence[Notifier],
    item: OutboxItem,
    now: datetime,
    report: DeliveryReport,
    facts: DeliveryFacts | None = None,
) -> _Plan | None:
    """Who gets the item, through which notifier, and the card and thread it belongs to; None
    when it was settled without a send (nobody can reach the recipient yet, or a newer revision
    of its card is posted already)."""
    message = item.message
    facts = facts or _facts(store, notifiers, item)
    person = facts.person
    notifier = _pick(notifiers, person) if person else None
    if person is None or notifier is None:
        _unreachable(store, item, person, now, report)
        return None
    posted = facts.cards.get((message.card_key, notifier.platform)) if message.card_key else None
    if posted is not None and message.revision is not None and posted.revision > message.revision:
        superseded = {"state": "sent", "platform": notifier.platform, "platform_ref": posted.ref}
        _save(store, item.model_copy(update={**superseded, "last_error": "superseded by a newer card"}))
        report.skipped += 1
        return None
    card_ref = posted.ref if posted else None
    thread = facts.cards.get((message.thread_key, notifier.platform)) if message.thread_key else None
    return _Plan(person=person, notifier=notifier, card_ref=card_ref, thread_ref=thread.ref if thread else None)


def _send_planned(
    store: Store,
    item: OutboxItem,
    plan: _Plan,
    now: datetime,
    rng: random.Random,
    report: DeliveryReport,
    *,
    unsure: bool,
    limiter: RateLimiter | None = None,
) -> None:
    """Send (or, when unsure, first look for) the item as planned and record the outcome."""
    message, person, notifier = item.message, plan.person, plan.notifier
    card_ref, thread_ref = plan.card_ref, plan.thread_ref
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
        if limiter is not None and error.retry_after is not None:  # the whole conversation waits
            limiter.pause(platform=notifier.platform, key=item.conversation, seconds=error.retry_after)
        if error.permanent:
            _fail(store, item, error.reason, now)
            report.failed += 1
        else:
            _retry(store, item, error, now, rng, report, unsure or error.unconfirmed, platform=notifier.platform)
        return
    posted = None
    if message.card_key and ref:  # kept even if the outcome conflicts: else the next update posts a second card
        posted = CardRef(
            workspace=item.workspace,
            card_key=message.card_key,
            platform=notifier.platform,
            ref=ref,
            revision=message.revision or 0,
        )
    sent = {"state": "sent", "platform": notifier.platform, "platform_ref": ref, "last_error": None}
    _save(store, item.model_copy(update=sent), card_ref=posted)
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
    if error.retry_after is not None:  # what the platform asked, plus up to 10% jitter so retries don't bunch
        wait = error.retry_after + rng.uniform(0, min(error.retry_after * RETRY_AFTER_JITTER, 5.0))
    else:
        wait = backoff(item.attempts, rng)
    wait = max(wait, MIN_WAIT)
    log.warning("delivery of %s to %s failed (%s); retrying in %.0fs", item.key, platform, error.reason, wait)
    reason = f"{UNCONFIRMED}{error.reason}" if unconfirmed else error.reason
    _save(store, item.model_copy(update={"next_attempt_at": now + timedelta(seconds=wait), "last_error": reason}))
    report.retried += 1


def _save(store: Store, item: OutboxItem, *, card_ref: CardRef | None = None) -> None:
    """Record an outcome (which ends the lease) with a compare-and-set on the leased version,
    and with ``card_ref`` where the send's card was posted (stored even when the CAS fails)."""
    try:
        store.save_outbox_item(item.model_copy(update={"lease": None}), card_ref=card_ref)
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
