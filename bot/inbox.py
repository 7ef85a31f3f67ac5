"""The inbox: what a front end acknowledged is stored first and run from the store.

A platform that got "received" for a command or a click does not send it again (Slack
never retries a slash command that got 200), so the work behind an acknowledgement must
survive the process. A front end calls :meth:`InboxRunner.accept` *before* it acknowledges:
one durable write holding the raw payload, its idempotency key and a short lease owned by
this process. It then runs the item at once (:meth:`InboxRunner.run`, the fast path). If the
process dies in between, the lease runs out and :meth:`InboxRunner.recover` (called by every
replica's runtime every few seconds) takes the item over and runs it, once: the store leases
an item to one caller at a time, and the handlers' own writes carry the platform's
idempotency key, so an item taken over after its work was stored but before it was marked
done answers again without doing the work twice.

A process shutting down (:meth:`InboxRunner.close`) finishes the items it is running and
hands back the ones it holds but has not started (:meth:`Store.release_inbox`), so another
replica takes them at once instead of when their lease runs out.

Recovery runs the items it took in the front end's work pool (:class:`bot.work.BackgroundWork`,
set as :attr:`InboxRunner.work`), in each item's lane (the person who typed or clicked), so
hundreds of items left by a crash run many at once while one person's still run in the order
they came, behind that person's live work. It takes at most half the pool's threads at a time
and waits for them before taking more, so live commands always find threads free. An item that
waited past its lease before it started is not run: whoever took it over runs it.

A handler that raises leaves the item pending; it is retried when its lease runs out
(:data:`RETRY_LEASE`), and after :data:`MAX_ATTEMPTS` it is marked failed with the reason (handlers tell the person
themselves when their work fails in a way a person can fix).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from bot.models import InboxItem
from bot.ports import NO_TELEMETRY, Clock, Store, Telemetry
from bot.work import BackgroundWork

log = logging.getLogger(__name__)

Handler = Callable[[InboxItem], None]
"""Runs one item (parses its payload, does the work, answers the person)."""
LaneOf = Callable[[InboxItem], str | None]
"""The lane of an item: whose work it is (None: no order to keep with anything else)."""

ACCEPT_LEASE = timedelta(seconds=20)
"""How long the accepting process holds a new item before another may take it over."""
RETRY_LEASE = timedelta(minutes=2)
"""The lease of a taken-over item, so a handler that keeps failing is retried this often."""
MAX_ATTEMPTS = 5


def new_owner(replica: str = "") -> str:
    """A name for this process's leases: the replica's name (if any) plus a random part, so
    a restarted process never mistakes the leases of its previous life for its own."""
    return f"{replica or 'servechain'}/{uuid.uuid4().hex[:12]}"


@dataclass
class InboxRunner:
    """Accepts acknowledged work durably and runs it exactly once (see the module docstring)."""

    store: Store
    clock: Clock
    handlers: dict[str, Handler] = field(default_factory=dict)
    """Kind -> handler; front ends add theirs when they are attached."""
    owner: str = field(default_factory=new_owner)
    accept_lease: timedelta = ACCEPT_LEASE
    telemetry: Telemetry = NO_TELEMETRY
    """Told how each run ended (metrics)."""
    work: BackgroundWork | None = None
    """The pool live items run in (the front end's); :meth:`recover` runs what it takes there,
    at most half its threads at once. None: one at a time in the caller's thread."""
    lanes: dict[str, LaneOf] = field(default_factory=dict)
    """Kind -> the lane of an item, the same the front end gives live work of that kind."""
    _closing: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called: items not yet started are handed back."""
        return self._closing.is_set()

    def close(self) -> None:
        """Stop starting items: from now on :meth:`run` hands each item it is given back to the
        store for another replica (the ones already running finish)."""
        self._closing.set()

    def accept(
        self, *, workspace: str, key: str, platform: str, kind: str, payload: dict[str, Any]
    ) -> InboxItem | None:
        """Store the item durably, held by this process; None when the key was accepted
        before (a redelivery: acknowledge it and do nothing). Raises when the store can't take
        it, so the front end answers with an error instead of acknowledging."""
        if kind not in self.handlers:
            raise ValueError(f"no inbox handler for {kind!r}")
        now = self.clock()
        item = InboxItem(
            workspace=workspace,
            key=key,
            platform=platform,
            kind=kind,
            payload=payload,
            received_at=now,
            owner=self.owner,
            lease_until=now + self.accept_lease,
        )
        return item if self.store.accept_inbox(item) else None

    def repeat(self, *, workspace: str, key: str, platform: str, kind: str, payload: dict[str, Any]) -> None:
        """Answer a redelivery of work accepted before (perhaps by another replica, perhaps still
        running there): run its handler on the payload without a record of its own. The
        handlers' writes carry the same idempotency key, so the core does nothing twice and
        answers "already done"; the person learns what happened to their first attempt."""
        now = self.clock()
        item = InboxItem(
            workspace=workspace,
            key=key,
            platform=platform,
            kind=kind,
            payload=payload,
            received_at=now,
            owner=self.owner,
            lease_until=now,
        )
        self.handlers[kind](item)

    def run(self, item: InboxItem) -> bool:
        """Run an item this process holds; True when it was finished (done or failed). After
        :meth:`close` the item is handed back instead (False); one whose lease ran out while it
        waited for a thread is not run (False), since another runner (or this process's own
        recovery) may have taken it over by now."""
        if self.closing:
            self.release(item)
            return False
        if self.clock() >= item.lease_until:
            log.warning("inbox item %s waited past its lease; whoever takes it over runs it", item.key)
            return False
        handler = self.handlers.get(item.kind)
        if handler is None:
            return self._finish(item, f"no handler for {item.kind!r}")
        try:
            handler(item)
        except Exception as error:
            error_id = uuid.uuid4().hex[:8]
            log.exception(
                "inbox item %s (%s) failed, attempt %d [error %s]", item.key, item.kind, item.attempts, error_id
            )
            if item.attempts + 1 >= MAX_ATTEMPTS:
                self._report(item, "failed")
                return self._finish(item, f"{type(error).__name__}: {error} [error {error_id}]")
            self._report(item, "retry")
            return False
        self._report(item, "done")
        return self._finish(item, None)

    def _report(self, item: InboxItem, outcome: str) -> None:
        seconds = max(0.0, (self.clock() - item.received_at).total_seconds())
        try:
            self.telemetry.work_finished(platform=item.platform, kind=item.kind, outcome=outcome, seconds=seconds)
        except Exception:  # metrics never stop the work
            log.exception("telemetry failed")

    def recover(self, *, limit: int = 20) -> int:
        """Take over up to ``limit`` items whose holder's lease ran out (a crashed or stuck
        process) and run them, in :attr:`work` when there is one (then at most half its
        threads' worth); returns how many were taken once they all ended. Call it from a
        thread of its own, never from a job of :attr:`work`, which it waits for."""
        if self.closing:
            return 0
        work = self.work
        if work is not None:
            limit = min(limit, max(1, work.workers // 2))
        now = self.clock()
        taken = self.store.lease_inbox(now=now, until=now + RETRY_LEASE, owner=self.owner, limit=limit)
        for item in taken:
            log.info("taking over inbox item %s (%s), attempt %d", item.key, item.kind, item.attempts)
        if work is None:
            for item in taken:
                self.run(item)
        else:
            self._run_in(work, taken)
        return len(taken)

    def _run_in(self, work: BackgroundWork, items: list[InboxItem]) -> None:
        """Run ``items`` in ``work``, each in its lane (so one person's keep the order they were
        leased in, oldest first), and wait until every one has ended, however it ended."""
        left = len(items)
        ended = threading.Condition()

        def run(item: InboxItem) -> None:
            nonlocal left
            try:
                self.run(item)
            finally:
                with ended:
                    left -= 1
                    ended.notify_all()

        for item in items:
            work.submit(partial(run, item), what=f"taking over inbox item {item.key}", lane=self._lane(item))
        with ended:
            ended.wait_for(lambda: left == 0)

    def _lane(self, item: InboxItem) -> str | None:
        lane_of = self.lanes.get(item.kind)
        return lane_of(item) if lane_of is not None else None

    def release(self, item: InboxItem) -> None:
        """Hand an item this process holds back, unstarted, for any replica to take at once
        (if that write fails, its lease running out hands it over all the same)."""
        try:
            released = self.store.release_inbox(item.workspace, item.key, owner=self.owner, at=self.clock())
        except Exception as error:
            log.warning("could not hand back inbox item %s; its lease will run out: %s", item.key, error)
            return
        if released:
            log.info("shutting down: handed back inbox item %s (%s) for another replica", item.key, item.kind)

    def _finish(self, item: InboxItem, error: str | None) -> bool:
        finished = self.store.finish_inbox(item.workspace, item.key, owner=self.owner, at=self.clock(), error=error)
        if not finished:
            log.warning("inbox item %s was taken over by another process before it was finished here", item.key)
        elif error:
            log.error("inbox item %s (%s) gave up: %s", item.key, item.kind, error)
        return finished
