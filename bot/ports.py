"""The ports the core depends on: the repository contract (:class:`Store`), the way out to
people (:class:`Notifier`, :class:`Reconciler`) and the clock. Adapters implement them:
``storage/`` the store, ``handlers/`` the notifiers; the core never imports an adapter.

The repository contract; every backend implements it.

Rules every backend keeps (the contract tests in ``tests/contract`` check them):

- Each mutating call is one atomic, durable write: when it returns, the change and the
  outbox items passed with it are stored together and survive a crash; when it raises,
  nothing of it is stored (one exception: ``save_outbox_item`` keeps the ``card_ref`` it was
  given when its outcome raises ``Conflict``, since that card was posted either way).
- Request numbers are allocated per workspace, never twice, also across processes sharing
  one store, and without gaps while creates succeed. PostgreSQL draws the number outside
  the create's transaction (so creates don't queue behind each other's COMMIT): a create
  that fails for good after its draw may leave its number unused. A repeated idempotency
  key never takes a number.
- ``update_request`` is optimistic: it stores the request only if the stored version
  equals ``request.version`` and raises :class:`bot.errors.Conflict` otherwise; the stored
  copy gets ``version + 1``.
- Idempotency keys and claims are unique per workspace: the first caller wins, a repeat
  changes nothing and reports that it was a repeat.
- Reads return copies; mutating a returned model never changes the store.
- ``build_outbox`` callbacks may read the store but must not write to it.
- Date ranges include their start and exclude their end (``created_since`` <= t < ``created_until``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.models import CardRef, InboxItem, Kudos, Message, OutboxItem, Person, Request, Team

Clock = Callable[[], datetime]
"""Where the time comes from: the real clock in a process, a simulated one in tests."""


@dataclass(frozen=True)
class DeliveryFacts:
    """What sending one outbox item needs from the store, read at once (see
    :meth:`Store.delivery_facts`)."""

    item: OutboxItem | None
    """The item as stored now (its lease and version tell whether it is still this sender's)."""
    person: Person | None
    """Its recipient."""
    cards: Mapping[tuple[str, str], CardRef]
    """(card key, platform) -> where that card was posted, for the keys and platforms asked."""


@runtime_checkable
class Store(Protocol):
    """Persistence for people, teams, requests, kudos, outbox, claims and small documents."""

    # --- people and teams -------------------------------------------------------------
    def get_person(self, workspace: str, person_id: str) -> Person | None:
        """The person with this stable id, or None."""
        ...

    def find_person(
        self,
        workspace: str,
        *,
        handle: str | None = None,
        email: str | None = None,
        slack_id: tuple[str, str] | None = None,
        teams_id: str | None = None,
    ) -> Person | None:
        """The person matching exactly one given key (handle and email compare case-insensitively;
        ``slack_id`` is ``(slack_team_id, user_id)``)."""
        ...

    def list_people(self, workspace: str) -> list[Person]:
        """Everyone in the workspace, in a stable order (by handle)."""
        ...

    def get_team(self, workspace: str, team_id: str) -> Team | None:
        """The team with this id, or None."""
        ...

    def list_teams(self, workspace: str) -> list[Team]:
        """All teams in the workspace, by name."""
        ...

    def save_org(self, people: Sequence[Person], teams: Sequence[Team] = ()) -> None:
        """Insert or replace (by id) these people and teams in one atomic write."""
        ...

    # --- requests -----------------------------------------------------------------------
    def create_request(
        self,
        request: Request,
        *,
        build_outbox: Callable[[Request], Sequence[OutboxItem]] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Allocate the next number in ``request.workspace`` and store the numbered request
        together with ``build_outbox(numbered_request)`` atomically (so messages can name the
        allocated ``R-<n>``). Returns ``(stored, True)``; when ``idempotency_key`` was used
        before, stores nothing and returns ``(the request created then, False)``."""
        ...

    def update_request(
        self,
        request: Request,
        *,
        outbox: Sequence[OutboxItem] = (),
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Store ``request`` if the stored version equals ``request.version`` (else raise
        ``Conflict``), with its outbox items, atomically. Returns ``(stored, True)``; a repeated
        ``idempotency_key`` stores nothing and returns ``(current stored request, False)``."""
        ...

    def get_request(self, workspace: str, number: int) -> Request | None:
        """The request ``R-<number>`` of this workspace, or None."""
        ...

    def find_requests(
        self,
        workspace: str,
        *,
        provider_id: str | None = None,
        requester_id: str | None = None,
        open_only: bool = False,
        parent: int | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Request]:
        """Requests matching every given filter, newest first."""
        ...

    def iter_requests(self, workspace: str) -> Iterator[Request]:
        """Every request of the workspace, oldest first (for metrics and exports)."""
        ...

    def was_seen(self, workspace: str, key: str) -> bool:
        """True when this idempotency key was already used by a write (a platform retry)."""
        ...

    # --- kudos ------------------------------------------------------------------------
    def add_kudos(
        self,
        kudos: Kudos,
        *,
        outbox: Sequence[OutboxItem] = (),
        idempotency_key: str | None = None,
    ) -> bool:
        """Store kudos with its outbox items atomically; False (and nothing stored) on a
        repeated idempotency key or an existing kudos id."""
        ...

    def find_kudos(
        self,
        workspace: str,
        *,
        giver_id: str | None = None,
        recipient_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Kudos]:
        """Kudos matching every given filter (``since`` inclusive, ``until`` exclusive), oldest first."""
        ...

    # --- claims, outbox, card references ----------------------------------------------
    def claim(self, workspace: str, key: str, *, at: datetime, outbox: Sequence[OutboxItem] = ()) -> bool:
        """Claim a unique key (e.g. ``nudge:R-7:2026-11-24``) and store the outbox items with it;
        True when this call claimed it, False (nothing stored) when it was claimed before."""
        ...

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        """Store outbox items on their own (keys already present are left untouched)."""
        ...

    def due_outbox(self, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose ``next_attempt_at`` is at or before ``now``, oldest first."""
        ...

    def lease_outbox(self, *, now: datetime, until: datetime, token: str, limit: int = 32) -> list[OutboxItem]:
        """Take up to ``limit`` due pending items (``next_attempt_at <= now``) for the caller until
        ``until``: each gets ``lease = token``, ``next_attempt_at = until``, ``attempts + 1``,
        ``version + 1`` and an unconfirmed ``last_error`` (see ``bot.delivery.UNCONFIRMED``).

        At most one item per lane (:attr:`OutboxItem.lane`) is out at a time, the lane's oldest
        due item, and none from a lane whose item is leased and not expired; lanes are taken
        by priority (:attr:`OutboxItem.priority`), then by when they were due. An item is
        leased to one caller at a time, also across processes; repeating a call with the same
        token after a lost answer returns what that token already holds instead of more."""
        ...

    def lease_outbox_facts(
        self,
        *,
        now: datetime,
        until: datetime,
        token: str,
        platforms: Sequence[str],
        limit: int = 32,
        bulk: int | None = None,
    ) -> list[DeliveryFacts]:
        """:meth:`lease_outbox`, with each leased item's :meth:`delivery_facts` read in the same
        go (its card and thread keys on ``platforms``; ``item`` is the leased item): what a
        dispatcher needs to send what it leased, in one round trip on PostgreSQL instead of
        one per item. With ``bulk``, at most that many of the items are bulk (priority 1): the
        lanes of the others are passed over as if they were busy."""
        ...

    def renew_outbox(self, leases: Sequence[tuple[str, str]], *, until: datetime) -> set[str]:
        """Extend the leases ``(key, token)`` that are still held (pending, same token) to
        ``until``, changing nothing else; returns the keys still held."""
        ...

    def get_outbox_item(self, key: str) -> OutboxItem | None:
        """The outbox item with this key, or None."""
        ...

    def list_outbox(self, workspace: str, *, state: str | None = None) -> list[OutboxItem]:
        """Outbox items of the workspace (optionally in one state), oldest first."""
        ...

    def count_outbox(self, workspace: str, state: str | None = None) -> int:
        """How many outbox items the workspace has (optionally in one state), without loading them."""
        ...

    def save_outbox_item(self, item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        """Store a delivery attempt's outcome if ``item.version`` matches (else ``Conflict``); a
        lease taken or renewed meanwhile by someone else makes the version (or token) differ.

        ``card_ref``: where the platform took the card this attempt posted, remembered in the
        same write (one round trip and one commit on PostgreSQL, where a send made two) like
        :meth:`save_card_ref`, and stored *whether or not the version matches*: the card exists
        on the platform, so its ref is kept even when the outcome raises ``Conflict`` (else the
        next update of that card would post a second one)."""
        ...

    def get_card_ref(self, workspace: str, card_key: str, platform: str) -> CardRef | None:
        """Where the card with this key was posted on the platform, if it was."""
        ...

    def save_card_ref(self, ref: CardRef) -> None:
        """Remember (or replace) where a card was posted."""
        ...

    def delivery_facts(self, item: OutboxItem, *, card_keys: Sequence[str], platforms: Sequence[str]) -> DeliveryFacts:
        """``item`` as stored now, its recipient, and the card refs of ``card_keys`` on
        ``platforms``: the reads before a send, in one go (one round trip on PostgreSQL, where
        a send made five)."""
        ...

    # --- inbox: acknowledged work not yet done -------------------------------------------
    def accept_inbox(self, item: InboxItem) -> bool:
        """Store a new pending item durably (held by ``item.owner`` until ``item.lease_until``);
        False, storing nothing, when ``(item.workspace, item.key)`` was accepted before."""
        ...

    def lease_inbox(
        self, *, now: datetime, until: datetime, owner: str, limit: int = 50, key: tuple[str, str] | None = None
    ) -> list[InboxItem]:
        """Take up to ``limit`` pending items whose lease ran out (``lease_until <= now``), oldest
        first, for ``owner`` until ``until`` (attempts + 1); with ``key`` = ``(workspace, key)``
        only that item. An item is leased to one caller at a time, also across processes."""
        ...

    def finish_inbox(self, workspace: str, key: str, *, owner: str, at: datetime, error: str | None = None) -> bool:
        """Mark the item ``done`` (or ``failed`` with ``error``) and drop its payload, if
        ``owner`` still holds it; False when it doesn't (then someone else took it over)."""
        ...

    def release_inbox(self, workspace: str, key: str, *, owner: str, at: datetime) -> bool:
        """Hand a pending item ``owner`` holds back before running it (a replica shutting down):
        its lease ends at ``at`` and nobody holds it, so any replica's :meth:`lease_inbox` takes
        it at once (attempts unchanged); False when ``owner`` doesn't hold it."""
        ...

    def oldest_pending(self, workspace: str) -> tuple[datetime | None, datetime | None]:
        """When the oldest pending inbox item was received and the oldest pending outbox item was
        queued (None where nothing is pending), without loading the items: for an operator's
        "how late is the oldest" alerts."""
        ...

    def count_inbox(self, workspace: str, *, state: str = "pending") -> int:
        """How many items of the workspace are in ``state``."""
        ...

    def get_inbox_item(self, workspace: str, key: str) -> InboxItem | None:
        """The item with this key, or None."""
        ...

    # --- housekeeping ----------------------------------------------------------------------
    def prune(self, workspace: str, *, before: datetime, keep_requests: Collection[int] = ()) -> dict[str, int]:
        """Delete what is kept only for a while, dated before ``before``: ``outbox`` items sent
        (created before), ``inbox`` items done (received before), ``claims`` (made before)
        except those naming a request of ``keep_requests`` (``...:R-<n>:...``), and
        ``idempotency`` keys (recorded before; keys stored undated, by older versions, stay).
        Never anything pending, leased or failed, nor card references. Returns how many of
        each kind went."""
        ...

    # --- small documents (settings, conversation references, pulse, audit) ---------------
    def put_doc(self, kind: str, workspace: str, key: str, doc: dict[str, Any]) -> None:
        """Insert or replace a small JSON document."""
        ...

    def get_doc(self, kind: str, workspace: str, key: str) -> dict[str, Any] | None:
        """A stored document, or None."""
        ...

    def get_docs(self, kind: str, workspace: str, keys: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of one kind among ``keys``, by key (keys without one are left
        out), read in one round trip."""
        ...

    def list_docs(self, kind: str, workspace: str) -> list[tuple[str, dict[str, Any]]]:
        """All ``(key, doc)`` of one kind in the workspace, by key."""
        ...

    def delete_doc(self, kind: str, workspace: str, key: str) -> bool:
        """Remove a document; True if it existed."""
        ...

    # --- whole-store copy (``servechain db migrate``) -----------------------------------------
    def export_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored record as ``(kind, JSON document)`` in the backend-neutral shapes named in
        ``storage.migrate.KINDS``, for copying one store into another."""
        ...

    def import_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Store the records of one kind that are not stored yet (matched by their key) in one
        atomic write and return how many were new; a counter only ever rises."""
        ...

    def replace_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert or replace (by key) records of one kind in one atomic write (used to rewrite or
        anonymise what the typed methods can't, e.g. by ``servechain forget``); returns how many."""
        ...

    def delete_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Delete the records with these records' keys in one atomic write; returns how many existed."""
        ...

    def ping(self) -> None:
        """Return quickly (within about a second) when the store can be written now; else raise
        ``StorageError`` saying why. For health checks."""
        ...

    def close(self) -> None:
        """Release files, locks and connections."""
        ...


# --- the way out to people -------------------------------------------------------------
class DeliveryError(Exception):
    """A platform refused or failed a send; ``permanent`` ones are not retried."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None, unconfirmed: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.unconfirmed = unconfirmed
        """True when the platform may have taken the message anyway (e.g. it timed out)."""


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


@runtime_checkable
class Reconciler(Protocol):
    """Optionally, a notifier that can tell whether an unconfirmed earlier send went through."""

    def find_sent(
        self, message: Message, person: Person, *, thread_ref: str | None, since: datetime | None = None
    ) -> str | None:
        """The platform's reference of ``message`` (by ``message.key``) if an earlier attempt
        posted it, else None. ``since`` is when the outbox item was created (no attempt posted
        before it), so the search can cover exactly that window. Raise DeliveryError when the
        platform can't be asked now."""
        ...


# --- what the core reports about itself -------------------------------------------------
class Telemetry(Protocol):
    """Where the core reports the work it ran, for an operator's metrics; ``handlers`` implements
    it (Prometheus), the core only calls it. :data:`NO_TELEMETRY` reports nowhere."""

    def work_finished(self, *, platform: str, kind: str, outcome: str, seconds: float) -> None:
        """Acknowledged work (an inbox item) ran: ``outcome`` is ``done``, ``retry`` or ``failed``;
        ``seconds`` from its acknowledgement to now."""
        ...

    def platform_call(self, *, platform: str, method: str, outcome: str) -> None:
        """A front end called its platform's API (``method``: ``views.open``, ``response_url``,
        ``send_activity``...): ``outcome`` is ``ok``, ``rate_limited`` (429), ``retry`` (a fault
        the client tries again) or ``failed``."""
        ...

    def request_received(self, *, platform: str, kind: str) -> None:
        """A request came in from a platform (``kind``: command, click, form, event, message, other)."""
        ...

    def request_answered(self, *, platform: str, kind: str, acked: bool, seconds: float) -> None:
        """That request was answered, with a success (``acked``) or not, ``seconds`` after it came."""
        ...

    def message_sent(self, *, platform: str, seconds: float) -> None:
        """An outbox message reached its platform, ``seconds`` after the change that queued it."""
        ...


class NoTelemetry:
    """Telemetry that reports nowhere (the default)."""

    def work_finished(self, *, platform: str, kind: str, outcome: str, seconds: float) -> None:
        """Ignore it."""

    def platform_call(self, *, platform: str, method: str, outcome: str) -> None:
        """Ignore it."""

    def request_received(self, *, platform: str, kind: str) -> None:
        """Ignore it."""

    def request_answered(self, *, platform: str, kind: str, acked: bool, seconds: float) -> None:
        """Ignore it."""

    def message_sent(self, *, platform: str, seconds: float) -> None:
        """Ignore it."""


NO_TELEMETRY: Telemetry = NoTelemetry()
