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
from typing import Any

from bot.models import InboxItem
from bot.ports import NO_TELEMETRY, Clock, Store, Telemetry

log = logging.getLogger(__name__)

Handler = Callable[[InboxItem], None]
"""Runs one item (parses its payload, does the work, answers the person)."""

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
        :meth:`close` the item is handed back instead (False)."""
        if self.closing:
            self.release(item)
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
        """Take over items whose holder's lease ran out (a crashed or stuck process) and run
        them; returns how many were taken."""
        now = self.clock()
        taken = self.store.lease_inbox(now=now, until=now + RETRY_LEASE, owner=self.owner, limit=limit)
        for item in taken:
            log.info("taking over inbox item %s (%s), attempt %d", item.key, item.kind, item.attempts)
            self.run(item)
        return len(taken)

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
