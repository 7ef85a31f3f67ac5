"""The embedded store: a TinyDB snapshot file plus an fsync'd append-only journal.

Plain TinyDB rewrites the whole file on every write (quadratic inserts, see FINDINGS.md), so
the TinyDB file at ``path`` is only a periodically rewritten snapshot. Every write is one
JSON line appended to ``path + ".journal"`` with ``write`` + ``fdatasync`` while holding an
exclusive ``flock`` on ``path + ".lock"`` (writes queued in one process meanwhile share the
next ``write`` + ``fdatasync``: group commit, see :meth:`TinyDBStore._write`); every process
keeps the indexes and open work in memory (requests stay in the snapshot file until read,
closed ones and other finished records are packed to bytes: see :class:`_State`) and, before
each call, replays the lines other processes appended.
Checks (versions, numbering, idempotency keys, claims) run against that caught-up state
under the exclusive lock, so they hold across processes. Compaction (a new snapshot and
journal generation) runs in a child process so writers never wait for a full rewrite.
The file layout and its crash rules are described in :mod:`storage._journal`.

Damage (a complete journal line failing its checksum) stops the store from opening with
:class:`StoreDamaged`, one line naming the file, the byte and the repair command. A running
process notices damage in two ways: lines other processes append are checked as it catches
up under the lock (damage there makes every call raise :class:`StoreDamaged`, since the
state is incomplete and writing on would risk reusing a request number); and the bytes it
has already applied are re-verified by :meth:`TinyDBStore.health` (at most every
``verify_interval`` seconds), which ``/healthz`` shows. Damage in bytes already applied does
not stop the process: its memory holds the intact state, so it keeps serving, but the next
start refuses until ``servechain db repair``. The store never compacts at open (that needs
room for a whole snapshot); it compacts after writes, once the journal is long and
``shutil.disk_usage`` shows room, and keeps running on the journal when a compaction fails.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import fcntl
import functools
import gc
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from bot.delivery import lease_note
from bot.errors import Conflict, StorageError
from bot.models import BULK_KINDS, CardRef, InboxItem, Kudos, OutboxItem, Person, Request, Status, Team, lane_of
from bot.ports import DeliveryFacts
from storage import _journal as files
from storage._journal import Doc, FormatError, JournalDamaged, Key, Op
from storage.retention import claim_request, last_change

log = logging.getLogger(__name__)

T = TypeVar("T")

_OPEN = frozenset(status.value for status in Status if status.is_open)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

CompactionMode = Literal["process", "inline", "off"]

_SKIPPED_RETRY_S = 2.0
"""Wait before trying again when another process was already compacting."""
_FAILED_RETRY_S = 60.0
"""Wait before trying again after a compaction failed (the writes themselves are durable)."""

IndexSpec = dict[str, Callable[[Doc], tuple[Hashable, ...]]]


@dataclass(frozen=True)
class EmbeddedLimits:
    """How far the embedded store is tested (``benchmarks/storage_bench.py``; README): at
    100,000 requests it opens in under a second and a process stays under 250 MB."""

    requests: int = 100_000
    people: int = 5_000
    file_mb: int = 120
    """Snapshot plus journal on disk."""


TESTED_LIMITS = EmbeddedLimits()

_warned_beyond_limits: set[str] = set()
"""Stores (by path) this process has already warned about, so start-up warns once."""


class StoreDamaged(StorageError):
    """The store's journal holds damaged records; the message names the file, the first
    damaged byte and the command that repairs it."""

    def __init__(self, db: str, damaged: JournalDamaged) -> None:
        first = damaged.damage[0]
        more = f" and {len(damaged.damage) - 1} more damaged record(s)" if len(damaged.damage) > 1 else ""
        super().__init__(
            f"{damaged.journal} is damaged at byte {first.offset} ({first.problem}){more}. "
            f"See `servechain db check --db {db}`; `servechain db repair --db {db}` keeps every intact "
            "record and moves the damaged bytes aside."
        )
        self.db = db
        self.journal = damaged.journal
        self.damage = damaged.damage


def _micros(value: datetime | str) -> int:
    """Exact integer microseconds since the epoch of an aware datetime or ISO string."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return (when - _EPOCH) // _MICROSECOND


@functools.lru_cache(maxsize=1 << 16)
def _micros_of_text(value: str) -> int:
    """:func:`_micros` of an ISO string, remembered: each put and replacement of a pending outbox
    item orders it in its lane by ``created_at`` (:attr:`_State.lanes`), under the store's lock."""
    return _micros(value)


def _is_open(doc: Doc) -> bool:
    return doc["status"] in _OPEN


_INDEX_SPECS: dict[str, IndexSpec] = {
    "people": {
        "ws": lambda d: (d["workspace"],),
        "handle": lambda d: ((d["workspace"], d["handle"].lower()),),
        "email": lambda d: ((d["workspace"], d["email"].lower()),) if d.get("email") else (),
        "slack": lambda d: tuple((d["workspace"], team, user) for team, user in d["slack_ids"].items()),
        "teams": lambda d: ((d["workspace"], d["teams_id"]),) if d.get("teams_id") else (),
    },
    "teams": {"ws": lambda d: (d["workspace"],)},
    "requests": {
        "ws": lambda d: (d["workspace"],),
        "provider": lambda d: ((d["workspace"], d["provider_id"]),),
        "requester": lambda d: ((d["workspace"], d["requester_id"]),),
        "open": lambda d: (d["workspace"],) if _is_open(d) else (),
        "open_provider": lambda d: ((d["workspace"], d["provider_id"]),) if _is_open(d) else (),
        "open_requester": lambda d: ((d["workspace"], d["requester_id"]),) if _is_open(d) else (),
        "parent": lambda d: ((d["workspace"], d["parent"]),) if d.get("parent") is not None else (),
    },
    "kudos": {
        "ws": lambda d: (d["workspace"],),
        "giver": lambda d: ((d["workspace"], d["giver_id"]),),
        "recipient": lambda d: tuple((d["workspace"], r) for r in dict.fromkeys(d["recipient_ids"])),
    },
    "outbox": {
        "ws": lambda d: (d["workspace"],),
        "ws_state": lambda d: ((d["workspace"], d["state"]),),
    },
    "docs": {"kind_ws": lambda d: ((d["kind"], d["workspace"]),)},
    "inbox": {
        "ws_state": lambda d: ((d["workspace"], d["state"]),),
        "pending": lambda d: ("pending",) if d["state"] == "pending" else (),
    },
}
"""Secondary indexes per kind: name -> function giving the index keys of a document."""

_REQUEST_INDEX_FIELDS = ("workspace", "provider_id", "requester_id", "status", "parent")
"""The fields :meth:`_State._index_requests` reads; its indexes are those of ``_INDEX_SPECS``."""

_ORDERED_KINDS = frozenset({"kudos", "outbox"})
"""Kinds whose first-insertion order breaks ties between equal timestamps."""


class _Snapshot:
    """An open snapshot file that compact records point into (closed with its state)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, offset: int, length: int) -> bytes:
        if self.fd < 0:
            raise StorageError("this record's snapshot was closed (the store was reloaded or closed)")
        return files.pread_all(self.fd, length, offset)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


class _Stub(Mapping[str, Any]):
    """A record kept compact: the fields its indexes and filters read, plus its JSON body as
    bytes (``body``) or as a span of the snapshot file (``source``, ``offset``, ``length``).

    A read-only mapping of the whole record: the indexed fields answer at once, any other
    field decodes the body (the last one decoded is kept, so ``model_validate(stub)`` or
    ``{**stub}`` decode once). Code written for plain documents reads it unchanged.
    """

    __slots__ = ("body", "indexed", "length", "names", "offset", "source")

    _recent: tuple[_Stub | None, Doc] = (None, {})
    """The stub decoded last and its document (one entry, replaced as a whole)."""

    def __init__(
        self,
        names: dict[str, int],
        values: Sequence[Any],
        body: bytes | None,
        source: _Snapshot | None = None,
        offset: int = -1,
        length: int = 0,
    ) -> None:
        self.names = names
        self.indexed = values
        self.body = body
        self.source = source
        self.offset = offset
        self.length = length

    def raw(self) -> bytes:
        """The record's JSON bytes; an open request's are kept once read (the hot set: "open
        requests of X" read them again and again; at most ~22 MB at 100,000 requests, 30% open)."""
        if self.body is not None:
            return self.body
        assert self.source is not None
        data = self.source.read(self.offset, self.length)
        at = self.names.get("status")
        if at is not None and self.indexed[at] in _OPEN:
            self.body = data
        return data

    def doc(self) -> Doc:
        """The whole record as a new (or recently decoded) document."""
        recent = _Stub._recent
        if recent[0] is self:
            return recent[1]
        doc: Doc = json.loads(self.raw())
        _Stub._recent = (self, doc)
        return doc

    def __getitem__(self, name: str) -> Any:
        at = self.names.get(name)
        return self.doc()[name] if at is None else self.indexed[at]

    def get(self, name: str, default: Any = None) -> Any:
        at = self.names.get(name)
        return self.doc().get(name, default) if at is None else self.indexed[at]

    def __iter__(self) -> Iterator[str]:
        return iter(self.doc())

    def __len__(self) -> int:
        return len(self.doc())


def _pack_when(kind: str) -> Callable[[Doc], bool]:
    if kind == "requests":
        return lambda d: not _is_open(d)
    if kind == "outbox":
        return lambda d: d["state"] == "sent"
    return lambda d: d["state"] == "done"


_COMPACT_FIELDS: dict[str, tuple[str, ...]] = {
    **files.LAZY_FIELDS,
    "outbox": ("workspace", "key", "state", "next_attempt_at", "created_at", "version"),
    "inbox": ("workspace", "key", "state", "lease_until", "received_at", "owner", "version"),
}
_COMPACT: dict[str, tuple[dict[str, int], Callable[[Doc], bool]]] = {
    kind: ({name: at for at, name in enumerate(fields)}, _pack_when(kind)) for kind, fields in _COMPACT_FIELDS.items()
}
"""Kinds kept compact, their stubs' fields, and which documents to pack: closed requests,
sent outbox items and done inbox items (rarely read again), while open work stays a dict."""

_DECODED_CACHE = 256
"""Decoded compact records kept per process (reads of one record in a row hit it)."""

FREEZE_RECORDS = 10_000
"""From this many loaded records on, a load ends with :func:`gc.freeze` (see :meth:`TinyDBStore._install`)."""


class _State:
    """The whole store in memory: JSON documents per kind plus secondary indexes.

    Documents are never mutated in place (a put replaces the dict), so readers may hold
    references to them outside the lock. Records of :data:`storage._journal.LAZY_FIELDS`
    kinds are loaded from the snapshot as :class:`_Stub` s pointing into it (the state owns
    ``snapshot_fd``, a descriptor of that file, which stays readable after a compaction
    renames a new snapshot over it, until the next reload); closed requests, sent outbox
    items and done inbox items written later are packed to bytes (:meth:`_pack`).
    """

    def __init__(
        self, tables: files.Tables, lazy: dict[str, files.LazyTable] | None = None, snapshot_fd: int = -1
    ) -> None:
        self.tables: dict[str, dict[Key, Any]] = files.empty_tables()
        self.index: dict[str, dict[str, dict[Hashable, dict[Key, None]]]] = {
            kind: {name: {} for name in spec} for kind, spec in _INDEX_SPECS.items()
        }
        self.seq: dict[str, dict[Key, int]] = {kind: {} for kind in _ORDERED_KINDS}
        self.next_seq = 0
        self.pending: list[tuple[int, int, str]] = []
        """Pending outbox items as sorted ``(next_attempt_at µs, seq, key)``."""
        self.lanes: dict[str, list[tuple[int, int, int, str]]] = {}
        """Pending outbox items per lane (``workspace/recipient``) as sorted ``(created_at µs,
        seq, next_attempt_at µs, key)``: a lease looks at each lane's first due item only."""
        self.lane_leases: dict[str, dict[str, int]] = {}
        """Per lane, its pending items holding a lease: key -> ``next_attempt_at`` µs (lease end)."""
        self.tokens: dict[str, dict[str, None]] = {}
        """Per lease token, the keys of the pending items it holds."""
        self.snapshot_fd = snapshot_fd
        self.source = _Snapshot(snapshot_fd)
        self.decoded: dict[int, tuple[_Stub, Doc]] = {}
        """A few decoded stubs by ``id(stub)`` (a stub is replaced, never changed, on a put)."""
        for kind, table in tables.items():
            for doc in table.values():
                self.put(kind, doc)
        for kind, lazy_table in (lazy or {}).items():
            self._load_stubs(kind, lazy_table)

    def _load_stubs(self, kind: str, lazy: files.LazyTable) -> None:
        names = {name: at for at, name in enumerate(lazy.fields)}
        table = self.tables[kind]
        rows = zip(*(lazy.columns[name] for name in lazy.fields), strict=True)
        stubs = [
            _Stub(names, values, None, self.source, offset, length)
            for values, offset, length in zip(rows, lazy.offsets, lazy.lengths, strict=True)
        ]
        keys = zip(*(lazy.columns[name] for name in files.KEY_FIELDS[kind]), strict=True)
        if not table and kind == "requests" and set(_REQUEST_INDEX_FIELDS) <= set(names):
            table.update(zip(keys, stubs, strict=True))
            self._index_requests(table, names)
            return
        for key, stub in zip(keys, stubs, strict=True):
            old = table.get(key)
            if old is not None:
                self._unindex(kind, key, old)
            table[key] = stub
            self._index(kind, key, stub)  # type: ignore[arg-type] # a stub reads like its document

    def _index_requests(self, table: dict[Key, _Stub], names: dict[str, int]) -> None:
        """Build the request indexes of a freshly loaded table in one pass: what
        ``_INDEX_SPECS["requests"]`` gives per record, without a call per index and record
        (3x faster at open; ``test_bulk_request_index_matches_the_per_record_one`` holds them equal)."""
        index = self.index["requests"]
        ws_index, provider, requester, parent_index = (
            index["ws"],
            index["provider"],
            index["requester"],
            index["parent"],
        )
        open_ws, open_provider, open_requester = index["open"], index["open_provider"], index["open_requester"]
        at_ws, at_provider, at_requester = names["workspace"], names["provider_id"], names["requester_id"]
        at_status, at_parent = names["status"], names["parent"]
        for key, stub in table.items():
            values = stub.indexed
            ws = values[at_ws]
            by_provider = (ws, values[at_provider])
            by_requester = (ws, values[at_requester])
            bucket = ws_index.get(ws)
            if bucket is None:
                bucket = ws_index[ws] = {}
            bucket[key] = None
            provider.setdefault(by_provider, {})[key] = None
            requester.setdefault(by_requester, {})[key] = None
            if values[at_status] in _OPEN:
                open_ws.setdefault(ws, {})[key] = None
                open_provider.setdefault(by_provider, {})[key] = None
                open_requester.setdefault(by_requester, {})[key] = None
            if values[at_parent] is not None:
                parent_index.setdefault((ws, values[at_parent]), {})[key] = None

    def close(self) -> None:
        """Release the snapshot descriptor (stubs pointing into it can no longer be read)."""
        self.source.close()
        self.snapshot_fd = -1

    def raw(self, kind: str, key: Key) -> Doc | bytes | None:
        """The record as a document or as its JSON bytes (a compact one), or None."""
        found = self.tables[kind].get(key)
        return found.raw() if type(found) is _Stub else found

    def get(self, kind: str, key: Key) -> Doc | None:
        """The record as a document (decoding a compact one), or None."""
        found = self.tables[kind].get(key)
        if type(found) is not _Stub:
            return found  # type: ignore[no-any-return]
        cached = self.decoded.get(id(found))
        if cached is not None and cached[0] is found:
            return cached[1]
        doc: Doc = json.loads(found.raw())
        if len(self.decoded) >= _DECODED_CACHE:
            self.decoded.pop(next(iter(self.decoded)))
        self.decoded[id(found)] = (found, doc)
        return doc

    def _pack(self, kind: str, doc: Doc) -> Any:
        """A record :data:`_COMPACT` packs (a closed request, a sent outbox item, a done inbox
        item) becomes a stub holding its JSON bytes; anything else stays a document."""
        compact = _COMPACT.get(kind)
        if compact is None or not compact[1](doc):
            return doc
        names = compact[0]
        body = json.dumps(doc, separators=(",", ":"), default=files.json_default).encode("utf-8")
        return _Stub(names, [doc.get(name) for name in names], body)

    def lookup(self, kind: str, name: str, key: Hashable) -> dict[Key, None]:
        """Primary keys under one index key (empty when none); do not mutate."""
        return self.index[kind][name].get(key, {})

    def put(self, kind: str, doc: Doc) -> None:
        """Insert or replace one document and maintain the indexes."""
        key = files.key_of(kind, doc)
        table = self.tables[kind]
        old = table.get(key)
        if old is not None:
            self._unindex(kind, key, old)
        elif kind in _ORDERED_KINDS:
            self.seq[kind][key] = self.next_seq
            self.next_seq += 1
        table[key] = self._pack(kind, doc)
        self._index(kind, key, doc)

    def delete(self, kind: str, key: Key) -> None:
        """Remove one document if present."""
        old = self.tables[kind].pop(key, None)
        if old is not None:
            self._unindex(kind, key, old)
            if kind in _ORDERED_KINDS:
                self.seq[kind].pop(key, None)

    def apply(self, ops: list[Op]) -> None:
        """Apply one journal transaction."""
        for op in ops:
            if op[0] == "put":
                self.put(op[1], op[2])
            elif op[0] == "del":
                self.delete(op[1], tuple(op[2]))
            else:
                raise ValueError(f"unknown operation {op[0]!r}")

    def _index(self, kind: str, key: Key, doc: Doc) -> None:
        for name, keys_of in _INDEX_SPECS.get(kind, {}).items():
            buckets = self.index[kind][name]
            for index_key in keys_of(doc):
                buckets.setdefault(index_key, {})[key] = None
        if kind == "outbox" and doc["state"] == "pending":
            due, seq = _micros(doc["next_attempt_at"]), self.seq["outbox"][key]
            bisect.insort(self.pending, (due, seq, key[0]))
            lane = _lane_of(doc)
            bisect.insort(self.lanes.setdefault(lane, []), (_micros_of_text(doc["created_at"]), seq, due, key[0]))
            token = doc.get("lease")
            if token:
                self.lane_leases.setdefault(lane, {})[key[0]] = due
                self.tokens.setdefault(token, {})[key[0]] = None

    def _unindex(self, kind: str, key: Key, doc: Doc) -> None:
        for name, keys_of in _INDEX_SPECS.get(kind, {}).items():
            buckets = self.index[kind][name]
            for index_key in keys_of(doc):
                bucket = buckets.get(index_key)
                if bucket is not None:
                    bucket.pop(key, None)
                    if not bucket:
                        del buckets[index_key]
        if kind == "outbox" and doc["state"] == "pending":
            due, seq = _micros(doc["next_attempt_at"]), self.seq["outbox"][key]
            _remove_sorted(self.pending, (due, seq, key[0]))
            lane = _lane_of(doc)
            entries = self.lanes.get(lane)
            if entries is not None:
                _remove_sorted(entries, (_micros_of_text(doc["created_at"]), seq, due, key[0]))
                if not entries:
                    del self.lanes[lane]
            token = doc.get("lease")
            if token:
                _drop(self.lane_leases, lane, key[0])
                _drop(self.tokens, token, key[0])


def _held_in_due_order(state: _State, keys: dict[str, None]) -> list[Doc]:
    """The pending outbox documents of ``keys`` in :attr:`_State.pending` order."""
    table, seq = state.tables["outbox"], state.seq["outbox"]
    docs = [table[(key,)] for key in keys]
    docs.sort(key=lambda doc: (_micros(doc["next_attempt_at"]), seq[(doc["key"],)]))
    return docs


def _lane_of(doc: Doc) -> str:
    """An outbox document's lane, as :attr:`bot.models.OutboxItem.lane`."""
    message = doc["message"]
    return lane_of(
        doc["workspace"], message["recipient_id"], message["kind"], message.get("card_key"), message.get("thread_key")
    )


def _remove_sorted(entries: list[Any], entry: Any) -> None:
    """Remove ``entry`` from the sorted list ``entries`` if it is there."""
    at = bisect.bisect_left(entries, entry)
    if at < len(entries) and entries[at] == entry:
        del entries[at]


def _drop(buckets: dict[str, dict[str, Any]], bucket: str, key: str) -> None:
    """Remove ``key`` from ``buckets[bucket]``, and the bucket once empty."""
    found = buckets.get(bucket)
    if found is not None:
        found.pop(key, None)
        if not found:
            del buckets[bucket]


@dataclass(eq=False)
class _Ticket:
    """One write waiting for the next group commit (see :meth:`TinyDBStore._write`)."""

    plan: Callable[[_State], tuple[list[Op], Any]]
    result: Any = None
    error: BaseException | None = None
    lead: bool = False
    """Its writer commits the queue (set under the queue lock)."""
    finished: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    """Set once the write is finished, or when its writer is handed the lead."""


class TinyDBStore:
    """:class:`bot.ports.Store` on a TinyDB snapshot file plus a durable journal.

    Safe for several threads (one re-entrant mutex) and several processes (``flock``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        compact_lines: int = 20_000,
        compact_bytes: int = 32 << 20,
        open_compact_lines: int | None = None,
        compaction: CompactionMode = "process",
        verify_interval: float = 30.0,
    ) -> None:
        """Open (creating if missing) the store at ``path``; raises :class:`StoreDamaged` when
        its journal holds damaged records.

        The journal is compacted after a write once it passes ``compact_lines`` lines or
        ``compact_bytes`` bytes, or (after the first write) when it held at least
        ``open_compact_lines`` lines at open (default ``compact_lines // 20``); never during
        the open itself, so a full disk cannot stop a restart. ``compaction`` runs it in a
        child process (default), in the calling thread (``"inline"``), or never automatically
        (``"off"``). :meth:`health` re-verifies the journal at most every ``verify_interval`` s.
        """
        self._paths = files.Paths(os.path.abspath(os.fspath(path)))
        self._compact_lines = compact_lines
        self._compact_bytes = compact_bytes
        self._compaction: CompactionMode = compaction
        self._mutex = threading.RLock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._leading = False
        """Some writer is committing the queue (see :meth:`_write`)."""
        self._synced = threading.Condition(self._mutex)
        """Notified when a group commit's sync ends (see :meth:`_write`)."""
        self._syncing = False
        """A group commit's sync runs now, with the mutex let go (see :meth:`_append`)."""
        self._pid = os.getpid()
        self._lock_depth = 0
        self._writing = False
        self._closed = False
        self._compactor: subprocess.Popen[bytes] | None = None
        self._compact_retry_at = 0.0
        self._compact_due = False
        self._compaction_problem: str | None = None
        self._compaction_cause: str | None = None
        self._verify_interval = verify_interval
        self._verified_at = float("-inf")
        self._damage: list[files.Damage] = []
        self._torn_logged: tuple[tuple[int, int], int] | None = None
        self._lock_fd = -1
        self._journal_fd = -1
        self._journal_id: tuple[int, int] = (0, 0)
        self._journal_gen = 0
        self._journal_offset = 0
        self._journal_start = 0
        self._journal_lines = 0
        self._state = _State({})
        with self._io(self._paths.db):
            self._lock_fd = files.open_lock(self._paths.lock)
        try:
            with self._io(self._paths.db):
                with files.flocked(self._lock_fd, exclusive=True):
                    files.initialize(self._paths)
                    files.remove_stale_temps(self._paths)
                    snapshot, journal_fd = self._open_pair()
                self._install(snapshot, journal_fd)
            with self._mutex, self._file_lock(exclusive=False):
                self._catch_up(exclusive=False)
            threshold = max(1, compact_lines // 20) if open_compact_lines is None else open_compact_lines
            self._compact_due = compaction != "off" and self._journal_lines >= threshold
        except BaseException:
            self._release_fds()
            raise
        if self._paths.db not in _warned_beyond_limits:
            beyond = self.beyond_tested_limits()
            if beyond is not None:
                _warned_beyond_limits.add(self._paths.db)
                log.warning("%s", beyond)

    def beyond_tested_limits(self, limits: EmbeddedLimits | None = None) -> str | None:
        """What of the tested limits this store passes and how to move to PostgreSQL, in one
        message, or None when it is within them; for ``servechain doctor`` and start-up."""
        limits = limits or TESTED_LIMITS
        with self._mutex:
            requests = len(self._state.tables["requests"])
            people = len(self._state.tables["people"])
        size = 0
        for name in (self._paths.db, self._paths.journal):
            with contextlib.suppress(OSError):
                size += os.stat(name).st_size
        found = []
        if requests > limits.requests:
            found.append(f"{requests:,} requests (tested up to {limits.requests:,})")
        if people > limits.people:
            found.append(f"{people:,} people (tested up to {limits.people:,})")
        if size > limits.file_mb * 1_000_000:
            found.append(f"{size / 1e6:,.0f} MB on disk (tested up to {limits.file_mb:,} MB)")
        if not found:
            return None
        return (
            f"The embedded store {self._paths.db} holds {' and '.join(found)}: beyond that, opening it takes "
            "longer and more memory. Move to PostgreSQL with "
            f"`servechain db migrate --from {self._paths.db} --to postgresql://...`, "
            "then set SERVECHAIN_DB to that URL."
        )

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The TinyDB snapshot file."""
        return self._paths.db

    def __repr__(self) -> str:
        return f"TinyDBStore({self._paths.db!r})"

    def __enter__(self) -> TinyDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _io(self, name: str) -> Iterator[None]:
        """Turn file-system and format errors into :class:`StorageError` naming the file."""
        try:
            yield
        except JournalDamaged as exc:
            self._damage = exc.damage
            raise StoreDamaged(self._paths.db, exc) from None
        except FormatError as exc:
            raise StorageError(str(exc)) from exc
        except OSError as exc:
            where = exc.filename or name
            raise StorageError(f"storage file {where}: {exc.strerror or exc}") from exc

    def _open_pair(self) -> tuple[Any, int]:
        """Open the snapshot and journal as a consistent pair; call holding the lock."""
        snapshot = open(self._paths.db, "rb")  # noqa: SIM115 - closed by _install
        try:
            journal_fd = os.open(self._paths.journal, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except BaseException:
            snapshot.close()
            raise
        return snapshot, journal_fd

    def _install(self, snapshot: Any, journal_fd: int) -> None:
        """Load state from an opened snapshot and journal (the journal is replayed later)."""
        snapshot_fd = -1
        try:
            with snapshot, files.paused_gc():
                meta, tables, lazy = files.open_snapshot(snapshot.fileno(), self._paths.db)
                if lazy:
                    snapshot_fd = os.dup(snapshot.fileno())
            if meta is None:
                raise FormatError(f"{self._paths.db} is empty")
            stat = os.fstat(journal_fd)
            head = files.pread_all(journal_fd, min(stat.st_size, 1 << 16))
            header = files.parse_header(head, self._paths.journal)
            start = files.replay_start(meta, header, self._paths, stat.st_size)
            with files.paused_gc():
                state = _State(tables, lazy, snapshot_fd)
        except BaseException:
            os.close(journal_fd)
            if snapshot_fd >= 0:
                os.close(snapshot_fd)
            raise
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
        self._state.close()
        self._state = state
        if sum(map(len, state.tables.values())) >= FREEZE_RECORDS:
            # The load ran with the collector paused, so its objects (a few per record, a
            # million references at 100,000 requests) all sit in the youngest generation: the
            # next collections would each walk them (70-200 ms pauses in the first thousand
            # calls, and on every full collection later). They live as long as the store, and
            # hold no reference cycles (refcounting frees them on a reload): freeze them, with
            # whatever else the process holds by now, out of the cyclic collector's reach.
            gc.freeze()
        self._journal_fd = journal_fd
        self._journal_id = (stat.st_dev, stat.st_ino)
        self._journal_gen = header.generation
        self._journal_offset = self._journal_start = start
        self._journal_lines = 0

    def _enter(self) -> None:
        """Refuse use after close; after a fork, take a lock file handle of our own."""
        if self._closed:
            raise StorageError(f"store {self._paths.db} is closed")
        if self._pid != os.getpid():
            # flock belongs to the open file description, which a fork shares: get our own.
            self._pid = os.getpid()
            self._mutex = threading.RLock()
            self._queue_lock = threading.Lock()
            self._queue = []
            self._leading = False
            self._synced = threading.Condition(self._mutex)
            self._syncing = False
            self._lock_depth = 0
            self._writing = False
            self._compactor = None
            inherited = self._lock_fd
            with self._io(self._paths.lock):
                self._lock_fd = files.open_lock(self._paths.lock)
            with contextlib.suppress(OSError):
                os.close(inherited)  # the parent's descriptor stays open (and locked) in the parent

    @contextlib.contextmanager
    def _file_lock(self, *, exclusive: bool) -> Iterator[bool]:
        """Hold the file lock; yields True for the outermost holder (who must catch up)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield False
            finally:
                self._lock_depth -= 1
            return
        with self._io(self._paths.lock):
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        self._lock_depth = 1
        try:
            yield True
        finally:
            self._lock_depth = 0
            with self._io(self._paths.lock):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _catch_up(self, *, exclusive: bool) -> None:
        """Apply lines other processes appended; follow a compaction to the new journal."""
        with self._io(self._paths.journal):
            try:
                self._read_journal(exclusive=exclusive, current=True)
            except JournalDamaged:
                stat = os.stat(self._paths.journal)
                if (stat.st_dev, stat.st_ino) == self._journal_id:
                    raise
                # `db repair` replaced the damaged journal: start again from its snapshot.
                snapshot, journal_fd = self._open_pair()
                self._install(snapshot, journal_fd)
                self._damage = []
                self._read_journal(exclusive=exclusive, current=True)
                return
            stat = os.stat(self._paths.journal)
            if (stat.st_dev, stat.st_ino) != self._journal_id:
                self._switch_journal(exclusive=exclusive)

    def _read_journal(self, *, exclusive: bool, current: bool) -> None:
        size = os.fstat(self._journal_fd).st_size
        if size <= self._journal_offset:
            return
        data = files.pread_all(self._journal_fd, size - self._journal_offset, self._journal_offset)
        txns, end = files.parse_transactions(data, self._journal_offset, self._paths.journal)
        try:
            for ops in txns:
                self._state.apply(ops)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise FormatError(f"{self._paths.journal} has a malformed operation: {exc!r}") from None
        self._journal_offset = end
        self._journal_lines += len(txns)
        if end < size:
            # A writer died mid-append (no newline): it had not synced, so never acknowledged.
            if self._torn_logged != (self._journal_id, end):
                self._torn_logged = (self._journal_id, end)
                log.warning(
                    "dropping a torn write at byte %d of %s (%d bytes without a newline; never acknowledged)",
                    end,
                    self._paths.journal,
                    size - end,
                )
            if exclusive and current:
                os.ftruncate(self._journal_fd, end)
                files.sync_data(self._journal_fd)

    def _switch_journal(self, *, exclusive: bool) -> None:
        """Move to a journal written by a compaction (old one fully read), or reload."""
        fd = os.open(self._paths.journal, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            stat = os.fstat(fd)
            header = files.parse_header(files.pread_all(fd, min(stat.st_size, 1 << 16)), self._paths.journal)
        except BaseException:
            os.close(fd)
            raise
        if header.prev_generation == self._journal_gen and header.prev_end == self._journal_offset:
            os.close(self._journal_fd)
            self._journal_fd = fd
            self._journal_id = (stat.st_dev, stat.st_ino)
            self._journal_gen = header.generation
            self._journal_start = header.length
            self._journal_offset = header.length + header.carried_bytes
            self._journal_lines = header.carried_lines
        else:
            # We missed a whole generation: start again from the snapshot.
            os.close(fd)
            snapshot, journal_fd = self._open_pair()
            self._install(snapshot, journal_fd)
        self._read_journal(exclusive=exclusive, current=True)

    def _read(self, query: Callable[[_State], T]) -> T:
        """Run ``query`` on the caught-up state under a shared lock.

        While a group commit's sync runs, the state already holds its lines, and a read in
        this process may see them before they are on disk (other processes see them only
        after: the exclusive file lock is held through the sync). That keeps every promise:
        no write is acknowledged before its sync, and whatever a reader does outside the store
        because of what it saw (a send is leased by a write first) goes through a write of its
        own, appended after those lines, so its sync covers them. Only a power cut during that
        sync could take back something a read had shown; making every read wait for the sync
        in flight cost each of them a whole sync (5-50 ms here), about ten per command."""
        self._enter()
        with self._mutex, self._file_lock(exclusive=False) as outermost:
            if outermost:
                self._catch_up(exclusive=False)
            return query(self._state)

    def _write(self, plan: Callable[[_State], tuple[list[Op], T]]) -> T:
        """Plan a transaction on the caught-up state under the exclusive lock and append it.

        ``plan`` returns the operations (none: nothing to store) and the call's result; it
        may raise to store nothing.

        Group commit: a writer queues its plan; one writer at a time leads: it runs every
        plan queued by then, one after the other on the state the earlier ones left, appends
        all their lines with one ``write`` and one ``fdatasync``, then hands the lead to the
        first writer that queued meanwhile. A call still returns only once its own line is on
        disk, but writers that arrive while a sync runs share the next one instead of each
        waiting for a sync of its own (at about 5 ms a sync, one sync per write capped a
        process near 200 writes a second), and each waits on its own event, so a sync's end
        does not hand the mutex round every waiting thread. The mutex is let go during the
        sync, so reads go on meanwhile (see :meth:`_read`); the exclusive file lock is kept,
        so other processes never see lines that are not on disk yet.
        """
        self._enter()
        if self._mutex._is_owned():  # type: ignore[attr-defined]  # called from inside a read or a plan
            if self._writing:
                raise RuntimeError("store writes cannot be nested (e.g. called from build_outbox)")
            if self._lock_depth:
                raise RuntimeError("store writes cannot run inside a read")
        ticket = _Ticket(plan)
        with self._queue_lock:
            self._queue.append(ticket)
            if not self._leading:
                self._leading = ticket.lead = True
        if not ticket.lead:
            ticket.wake.wait()  # until a leader has run it, or hands the lead to it
        if not ticket.finished:
            self._lead()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result  # type: ignore[return-value]

    def _lead(self) -> None:
        """Commit everything queued (this thread's own write among it), then hand the lead to
        the first write queued meanwhile, or give it up when none is."""
        with self._mutex:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            try:
                self._commit(batch)
            finally:
                for queued in batch:
                    queued.finished = True
                    queued.wake.set()
                with self._queue_lock:
                    if self._queue:
                        following = self._queue[0]
                        following.lead = True
                        following.wake.set()
                    else:
                        self._leading = False
            self._maybe_compact()

    def _commit(self, batch: list[_Ticket]) -> None:
        """Run the plans of ``batch`` and store their lines with one sync; call holding the mutex
        (let go during the sync). A plan that raises fails its own call only; a failed append
        fails every call of the batch (a later plan may have read an earlier one's changes),
        and the state is read again from the files (it held those changes)."""
        applied = False
        try:
            with self._file_lock(exclusive=True):
                self._catch_up(exclusive=True)
                lines: list[bytes] = []
                self._writing = True
                try:
                    for ticket in batch:
                        try:
                            ops, ticket.result = ticket.plan(self._state)
                        except BaseException as error:  # handed to its caller, who may catch it
                            ticket.error = error
                            continue
                        if ops:
                            lines.append(files.encode_record(ops))
                            applied = True
                            self._state.apply(ops)
                finally:
                    self._writing = False
                if lines:
                    applied = False  # from here on _append puts the state right itself
                    self._append(lines)
        except BaseException as error:
            for ticket in batch:
                if ticket.error is None:
                    ticket.error = error
            if applied:  # the state holds changes that were never written
                self._reload()
            if not isinstance(error, Exception):
                raise

    def _append(self, lines: list[bytes]) -> None:
        """Append transactions durably: one write, then one sync with the mutex let go (the
        caller holds the exclusive file lock throughout). On failure cut the file back, read
        the state again (it held the lines) and raise."""
        start = self._journal_offset
        data = b"".join(lines)
        try:
            files.write_all(self._journal_fd, data)
        except OSError as exc:
            self._undo_append(start)
            raise StorageError(f"could not write journal {self._paths.journal}: {exc.strerror or exc}") from exc
        self._journal_offset = start + len(data)
        self._journal_lines += len(lines)
        self._syncing = True
        self._mutex.release()  # readers (and writers queueing for the next sync) go on meanwhile
        try:
            files.sync_data(self._journal_fd)
        except OSError as exc:
            failure: OSError | None = exc
        else:
            failure = None
        finally:
            self._mutex.acquire()
        try:
            if failure is not None:
                self._journal_offset = start
                self._journal_lines -= len(lines)
                self._undo_append(start)
                raise StorageError(
                    f"could not write journal {self._paths.journal}: {failure.strerror or failure}"
                ) from failure
        finally:
            self._syncing = False
            self._synced.notify_all()

    def _undo_append(self, start: int) -> None:
        """Cut the journal back to ``start`` and reload the state (it held the lines cut)."""
        with contextlib.suppress(OSError):
            os.ftruncate(self._journal_fd, start)
        self._reload()

    def _wait_for_sync(self) -> None:
        """Wait (holding the mutex) until no group commit's sync is running, before work that
        takes the file lock through another descriptor or closes the journal."""
        while self._syncing:
            self._synced.wait()

    def _reload(self) -> None:
        """Read the state from the files again (after a failed append left changes in memory)."""
        try:
            with self._io(self._paths.db), self._file_lock(exclusive=False):
                snapshot, journal_fd = self._open_pair()
                self._install(snapshot, journal_fd)
                self._catch_up(exclusive=False)
        except Exception:
            log.exception("reading %s again after a failed write failed; closing the store", self._paths.db)
            self._closed = True

    # --- compaction -------------------------------------------------------------------------

    def compact(self) -> bool:
        """Write a new snapshot and journal generation now; False if another process was
        compacting (its result is just as good)."""
        self._enter()
        with self._mutex:
            self._wait_for_sync()
            self._wait_for_compactor(timeout=None)
            with self._io(self._paths.db):
                done = files.compact(self._paths.db)
            with self._file_lock(exclusive=False):
                self._catch_up(exclusive=False)
            return done

    def _maybe_compact(self) -> None:
        """Start a compaction when the journal has grown past the thresholds."""
        self._reap_compactor()
        if self._compaction == "off" or self._compactor is not None:
            return
        due = self._compact_due or self._journal_lines >= self._compact_lines
        if not due and self._journal_offset < self._compact_bytes:
            return
        if time.monotonic() < self._compact_retry_at:
            return
        try:
            free, needed = files.compaction_room(self._paths)
        except OSError as exc:
            free, needed = 0, 1
            self._compaction_failed(f"cannot see the free space: {exc.strerror or exc}")
        if free < needed:
            self._compaction_failed(f"{free} bytes free, a new snapshot needs about {needed}", cause="room")
            return
        if self._compaction == "inline":
            try:
                done = self.compact()
            except StorageError as exc:
                # The write itself is durable; compaction is retried later.
                self._compaction_failed(str(exc))
                return
            if done:
                self._compaction_succeeded()
            else:
                self._compact_retry_at = time.monotonic() + _SKIPPED_RETRY_S
            return
        self._start_compactor()

    def _compaction_failed(self, reason: str, *, cause: str = "failed") -> None:
        """Keep running on the journal, retry later; log once per cause (no room, or failing)."""
        if self._compaction_cause != cause:
            self._compaction_cause = cause
            log.warning(
                "compaction of %s postponed (%s); writes go on to the journal, will retry", self._paths.db, reason
            )
        self._compaction_problem = reason
        self._compact_retry_at = time.monotonic() + _FAILED_RETRY_S

    def _compaction_succeeded(self) -> None:
        if self._compaction_problem is not None:
            log.info("compaction of %s works again", self._paths.db)
        self._compaction_problem = self._compaction_cause = None
        self._compact_due = False

    def _start_compactor(self) -> None:
        """Run a compaction in a child process (``python storage/_journal.py DB``)."""
        if self._compactor is not None:
            return
        try:
            # -P: do not put storage/ itself on sys.path (its modules must not shadow stdlib ones).
            self._compactor = subprocess.Popen(
                [sys.executable, "-P", files.__file__, self._paths.db],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                close_fds=True,
            )
        except OSError as exc:
            self._compaction_failed(f"could not start the compactor: {exc}")

    def _reap_compactor(self) -> None:
        if self._compactor is not None and self._compactor.poll() is not None:
            self._finish_compactor()

    def _wait_for_compactor(self, timeout: float | None) -> None:
        if self._compactor is None:
            return
        try:
            self._compactor.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("compactor of %s still running; leaving it to finish", self._paths.db)
            self._compactor = None
            return
        self._finish_compactor()

    def _finish_compactor(self) -> None:
        process = self._compactor
        self._compactor = None
        if process is None:
            return
        _, stderr = process.communicate()
        if process.returncode == files.EXIT_SKIPPED:
            self._compact_retry_at = time.monotonic() + _SKIPPED_RETRY_S
        elif process.returncode != 0:
            self._compaction_failed(
                f"compactor exited with {process.returncode}: {stderr.decode(errors='replace').strip()}"
            )
        else:
            self._compaction_succeeded()

    def health(self) -> dict[str, Any]:
        """The store's condition for ``/healthz``: damage found (re-verifying the journal's
        checksums at most every ``verify_interval`` seconds) and whether compaction is held up.

        Never raises: a fault is reported in the result.
        """
        result: dict[str, Any] = {"backend": "tinydb"}
        try:
            self._enter()
            with self._mutex:
                self._wait_for_sync()
                if time.monotonic() - self._verified_at >= self._verify_interval:
                    self._verify()
        except StorageError as exc:
            if not isinstance(exc, StoreDamaged):
                result["error"] = str(exc)
        result["damaged"] = bool(self._damage)
        result["damage"] = [
            {"file": self._paths.journal, "byte": damage.offset, "problem": damage.problem}
            for damage in self._damage[:10]
        ]
        result["journal_lines"] = self._journal_lines
        if self._compaction_problem is not None:
            result["compaction_postponed"] = self._compaction_problem
        return result

    def _verify(self) -> None:
        """Catch up, then re-check the checksums of the journal bytes already applied."""
        with self._file_lock(exclusive=False), self._io(self._paths.journal):
            self._catch_up(exclusive=False)
            data = files.pread_all(self._journal_fd, self._journal_offset - self._journal_start, self._journal_start)
        known = self._damage
        self._damage = files.scan_journal(data, self._journal_start, parse=False).damage
        self._verified_at = time.monotonic()
        if self._damage and self._damage != known:
            first = self._damage[0]
            log.error(
                "%s is damaged at byte %d (%s), in records this process has already applied: it keeps serving, "
                "but the next start refuses until `servechain db repair --db %s`",
                self._paths.journal,
                first.offset,
                first.problem,
                self._paths.db,
            )

    def close(self) -> None:
        """Wait briefly for a running compaction and release the journal and lock files."""
        with self._mutex:
            if self._closed:
                return
            self._wait_for_sync()
            self._closed = True
            if self._pid == os.getpid():
                self._wait_for_compactor(timeout=60)
            self._release_fds()

    def _release_fds(self) -> None:
        self._state.close()
        for fd in (self._journal_fd, self._lock_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._journal_fd = self._lock_fd = -1

    def _bulk_load(self, requests: Sequence[Request], *, batch: int = 2_000) -> list[int]:
        """Number and store many requests in a few large transactions (imports, benchmarks).

        Each batch is one durable journal line; returns the allocated numbers.
        """
        numbers: list[int] = []
        for start in range(0, len(requests), batch):
            chunk = requests[start : start + batch]

            def plan(state: _State, chunk: Sequence[Request] = chunk) -> tuple[list[Op], list[int]]:
                ops: list[Op] = []
                last: dict[str, int] = {}
                allocated = []
                for request in chunk:
                    ws = request.workspace
                    number = last.get(ws, self._last_number(state, ws)) + 1
                    last[ws] = number
                    doc = request.model_dump(mode="json")
                    doc["number"] = number
                    doc["version"] = 0
                    ops.append(["put", "requests", doc])
                    allocated.append(number)
                ops.extend(["put", "counters", {"workspace": ws, "last": n}] for ws, n in last.items())
                return ops, allocated

            numbers.extend(self._write(plan))
        return numbers

    # --- people and teams -------------------------------------------------------------------

    def get_person(self, workspace: str, person_id: str) -> Person | None:
        """The person with this stable id, or None."""
        doc = self._read(lambda s: s.tables["people"].get((workspace, person_id)))
        return None if doc is None else Person.model_validate(doc)

    def find_person(
        self,
        workspace: str,
        *,
        handle: str | None = None,
        email: str | None = None,
        slack_id: tuple[str, str] | None = None,
        teams_id: str | None = None,
    ) -> Person | None:
        """The person matching the given key(s) (all of them when several are given); handle
        (a leading ``@`` ignored) and email compare case-insensitively."""
        probes: list[tuple[str, Hashable]] = []
        if handle is not None:
            probes.append(("handle", (workspace, handle.lstrip("@").lower())))
        if email is not None:
            probes.append(("email", (workspace, email.lower())))
        if slack_id is not None:
            probes.append(("slack", (workspace, slack_id[0], slack_id[1])))
        if teams_id is not None:
            probes.append(("teams", (workspace, teams_id)))
        if not probes:
            return None

        def query(state: _State) -> Doc | None:
            matches: set[Key] | None = None
            for name, key in probes:
                found = set(state.lookup("people", name, key))
                matches = found if matches is None else matches & found
            if not matches:
                return None
            return state.tables["people"][min(matches)]

        doc = self._read(query)
        return None if doc is None else Person.model_validate(doc)

    def list_people(self, workspace: str) -> list[Person]:
        """Everyone in the workspace, by handle (case-insensitively), then id."""

        def query(state: _State) -> list[Doc]:
            table = state.tables["people"]
            return [table[key] for key in state.lookup("people", "ws", workspace)]

        docs = self._read(query)
        docs.sort(key=lambda d: (d["handle"].lower(), d["handle"], d["id"]))
        return [Person.model_validate(doc) for doc in docs]

    def get_team(self, workspace: str, team_id: str) -> Team | None:
        """The team with this id, or None."""
        doc = self._read(lambda s: s.tables["teams"].get((workspace, team_id)))
        return None if doc is None else Team.model_validate(doc)

    def list_teams(self, workspace: str) -> list[Team]:
        """All teams in the workspace, by name (case-insensitively), then id."""

        def query(state: _State) -> list[Doc]:
            table = state.tables["teams"]
            return [table[key] for key in state.lookup("teams", "ws", workspace)]

        docs = self._read(query)
        docs.sort(key=lambda d: (d["name"].lower(), d["name"], d["id"]))
        return [Team.model_validate(doc) for doc in docs]

    def save_org(self, people: Sequence[Person], teams: Sequence[Team] = ()) -> None:
        """Insert or replace (by id) these people and teams in one atomic write."""
        ops: list[Op] = [["put", "people", p.model_dump(mode="json")] for p in people]
        ops += [["put", "teams", t.model_dump(mode="json")] for t in teams]
        if ops:
            self._write(lambda state: (ops, None))

    # --- requests ---------------------------------------------------------------------------

    @staticmethod
    def _last_number(state: _State, workspace: str) -> int:
        counter = state.tables["counters"].get((workspace,))
        return 0 if counter is None else int(counter["last"])

    @staticmethod
    def _new_outbox(state: _State, items: Iterable[OutboxItem], ops: list[Op]) -> None:
        """Add puts for the outbox items whose keys are not stored yet (first one wins)."""
        seen: set[str] = set()
        table = state.tables["outbox"]
        for item in items:
            if item.key in seen or (item.key,) in table:
                continue
            seen.add(item.key)
            ops.append(["put", "outbox", item.model_dump(mode="json")])

    def create_request(
        self,
        request: Request,
        *,
        build_outbox: Callable[[Request], Sequence[OutboxItem]] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Number and store ``request`` (as version 0) with ``build_outbox(numbered)`` in one
        journal line.

        A repeated ``idempotency_key`` stores nothing and returns the request created then.
        """
        ws = request.workspace

        def plan(state: _State) -> tuple[list[Op], tuple[Doc, bool]]:
            if idempotency_key is not None:
                seen = state.tables["idempotency"].get((ws, idempotency_key))
                if seen is not None:
                    return [], (self._idempotent_request(state, seen, idempotency_key), False)
            number = self._last_number(state, ws) + 1
            doc = request.model_dump(mode="json")
            doc["number"] = number
            doc["version"] = 0
            ops: list[Op] = [
                ["put", "requests", doc],
                ["put", "counters", {"workspace": ws, "last": number}],
            ]
            if build_outbox is not None:
                self._new_outbox(state, build_outbox(Request.model_validate(doc)), ops)
            if idempotency_key is not None:
                ops.append(
                    [
                        "put",
                        "idempotency",
                        _idem(ws, idempotency_key, "create_request", request.created_at, number=number),
                    ]
                )
            return ops, (doc, True)

        doc, created = self._write(plan)
        return Request.model_validate(doc), created

    @staticmethod
    def _idempotent_request(state: _State, seen: Doc, key: str) -> Doc:
        number = seen.get("number")
        doc = None if number is None else state.get("requests", (seen["workspace"], number))
        if doc is None:
            raise StorageError(f"idempotency key {key!r} was used by {seen.get('op')} and points at no request")
        return doc

    def update_request(
        self,
        request: Request,
        *,
        outbox: Sequence[OutboxItem] = (),
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Store ``request`` as version + 1 if the stored version matches (else ``Conflict``)."""
        ws, number = request.workspace, request.number

        def plan(state: _State) -> tuple[list[Op], tuple[Doc, bool]]:
            if idempotency_key is not None:
                seen = state.tables["idempotency"].get((ws, idempotency_key))
                if seen is not None:
                    return [], (self._idempotent_request(state, seen, idempotency_key), False)
            current = state.tables["requests"].get((ws, number))
            if current is None:
                raise Conflict(f"R-{number} does not exist in workspace {ws}")
            if current["version"] != request.version:
                raise Conflict(
                    f"R-{number} was changed meanwhile (stored version {current['version']}, "
                    f"update based on version {request.version})"
                )
            doc = request.model_dump(mode="json")
            doc["version"] = request.version + 1
            ops: list[Op] = [["put", "requests", doc]]
            self._new_outbox(state, outbox, ops)
            if idempotency_key is not None:
                ops.append(
                    [
                        "put",
                        "idempotency",
                        _idem(ws, idempotency_key, "update_request", last_change(request), number=number),
                    ]
                )
            return ops, (doc, True)

        doc, stored = self._write(plan)
        return Request.model_validate(doc), stored

    def was_seen(self, workspace: str, key: str) -> bool:
        """True when the idempotency key was used before."""
        return self._read(lambda state: (workspace, key) in state.tables["idempotency"])

    def get_request(self, workspace: str, number: int) -> Request | None:
        """The request ``R-<number>`` of this workspace, or None."""
        raw = self._read(lambda s: s.raw("requests", (workspace, number)))
        return None if raw is None else _load(Request, raw)

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
        """Requests matching every filter (``created_since`` inclusive, ``created_until``
        exclusive), newest first; starts from the smallest matching index."""
        since = None if created_since is None else _micros(created_since)
        until = None if created_until is None else _micros(created_until)
        if limit is not None and limit <= 0:
            return []

        def matches(doc: Doc) -> bool:
            if provider_id is not None and doc["provider_id"] != provider_id:
                return False
            if requester_id is not None and doc["requester_id"] != requester_id:
                return False
            if open_only and not _is_open(doc):
                return False
            if parent is not None and doc.get("parent") != parent:
                return False
            if since is not None or until is not None:
                created = _micros(doc["created_at"])
                if since is not None and created < since:
                    return False
                if until is not None and created >= until:
                    return False
            return True

        def query(state: _State) -> list[Doc | bytes]:
            candidates: list[dict[Key, None]] = []
            if provider_id is not None:
                name = "open_provider" if open_only else "provider"
                candidates.append(state.lookup("requests", name, (workspace, provider_id)))
            if requester_id is not None:
                name = "open_requester" if open_only else "requester"
                candidates.append(state.lookup("requests", name, (workspace, requester_id)))
            if parent is not None:
                candidates.append(state.lookup("requests", "parent", (workspace, parent)))
            if open_only:
                candidates.append(state.lookup("requests", "open", workspace))
            candidates.append(state.lookup("requests", "ws", workspace))
            smallest = min(candidates, key=len)
            table = state.tables["requests"]
            found: list[Doc | bytes] = []
            for key in sorted(smallest, key=lambda k: k[1], reverse=True):
                if matches(table[key]):  # a whole document or a compact stub's fields
                    found.append(_raw(table[key]))
                    if limit is not None and len(found) >= limit:
                        break
            return found

        return [_load(Request, raw) for raw in self._read(query)]

    def iter_requests(self, workspace: str) -> Iterator[Request]:
        """Every request of the workspace, oldest first, as of the call (no lock held while
        the caller iterates)."""

        def query(state: _State) -> tuple[list[Any], int]:
            table = state.tables["requests"]
            keys = sorted(state.lookup("requests", "ws", workspace), key=lambda k: k[1])
            return [table[key] for key in keys], _dup(state.snapshot_fd)

        entries, fd = self._read(query)
        return (_load(Request, raw) for raw in _bodies(entries, fd))

    # --- kudos ------------------------------------------------------------------------------

    def add_kudos(
        self,
        kudos: Kudos,
        *,
        outbox: Sequence[OutboxItem] = (),
        idempotency_key: str | None = None,
    ) -> bool:
        """Store kudos with its outbox items atomically; False on a repeated key or id."""
        ws = kudos.workspace

        def plan(state: _State) -> tuple[list[Op], bool]:
            if idempotency_key is not None and (ws, idempotency_key) in state.tables["idempotency"]:
                return [], False
            if (ws, kudos.id) in state.tables["kudos"]:
                return [], False
            ops: list[Op] = [["put", "kudos", kudos.model_dump(mode="json")]]
            self._new_outbox(state, outbox, ops)
            if idempotency_key is not None:
                ops.append(["put", "idempotency", _idem(ws, idempotency_key, "add_kudos", kudos.at, kudos_id=kudos.id)])
            return ops, True

        return self._write(plan)

    def find_kudos(
        self,
        workspace: str,
        *,
        giver_id: str | None = None,
        recipient_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Kudos]:
        """Kudos matching every filter (``since`` inclusive, ``until`` exclusive), oldest first."""
        lo = None if since is None else _micros(since)
        hi = None if until is None else _micros(until)

        def query(state: _State) -> list[tuple[int, int, Doc]]:
            candidates = [state.lookup("kudos", "ws", workspace)]
            if giver_id is not None:
                candidates.append(state.lookup("kudos", "giver", (workspace, giver_id)))
            if recipient_id is not None:
                candidates.append(state.lookup("kudos", "recipient", (workspace, recipient_id)))
            table, seq = state.tables["kudos"], state.seq["kudos"]
            found = []
            for key in min(candidates, key=len):
                doc = table[key]
                if giver_id is not None and doc["giver_id"] != giver_id:
                    continue
                if recipient_id is not None and recipient_id not in doc["recipient_ids"]:
                    continue
                at = _micros(doc["at"])
                if (lo is not None and at < lo) or (hi is not None and at >= hi):
                    continue
                found.append((at, seq[key], doc))
            return found

        found = self._read(query)
        found.sort(key=lambda item: (item[0], item[1]))
        return [Kudos.model_validate(doc) for _, _, doc in found]

    # --- claims, outbox, card references ----------------------------------------------------

    def claim(self, workspace: str, key: str, *, at: datetime, outbox: Sequence[OutboxItem] = ()) -> bool:
        """Claim a unique key with its outbox items; False (nothing stored) if claimed before."""
        _micros(at)

        def plan(state: _State) -> tuple[list[Op], bool]:
            if (workspace, key) in state.tables["claims"]:
                return [], False
            ops: list[Op] = [["put", "claims", {"workspace": workspace, "key": key, "at": at.isoformat()}]]
            self._new_outbox(state, outbox, ops)
            return ops, True

        return self._write(plan)

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        """Store outbox items on their own; keys already present are left untouched."""

        def plan(state: _State) -> tuple[list[Op], None]:
            ops: list[Op] = []
            self._new_outbox(state, items, ops)
            return ops, None

        if items:
            self._write(plan)

    def due_outbox(self, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose ``next_attempt_at`` is at or before ``now``, oldest first."""
        cutoff = _micros(now)

        def query(state: _State) -> list[Doc]:
            found: list[Doc] = []
            table = state.tables["outbox"]
            for due, _, key in state.pending:
                if due > cutoff or len(found) >= limit:
                    break
                found.append(table[(key,)])
            return found

        return [OutboxItem.model_validate(doc) for doc in self._read(query)]

    def lease_outbox(self, *, now: datetime, until: datetime, token: str, limit: int = 32) -> list[OutboxItem]:
        return [OutboxItem.model_validate(doc) for doc, _, _ in self._lease(now, until, token, limit, limit, ())]

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
        """The lease and each item's facts, read from the state the lease wrote, under its lock."""
        return [
            DeliveryFacts(
                item=OutboxItem.model_validate(doc),
                person=None if person is None else Person.model_validate(person),
                cards={(c["card_key"], c["platform"]): CardRef.model_validate(c) for c in cards},
            )
            for doc, person, cards in self._lease(now, until, token, limit, limit if bulk is None else bulk, platforms)
        ]

    def _lease(
        self, now: datetime, until: datetime, token: str, limit: int, bulk: int, platforms: Sequence[str]
    ) -> list[tuple[Doc, Doc | None, list[Doc]]]:
        """One write under the file lock (so processes sharing the file never take one item
        twice): the oldest due item of each free lane, by priority, then by when it was due.

        It looks at each lane's leases and its first due item only (:attr:`_State.lanes`,
        ``lane_leases`` and ``tokens``, kept with ``pending``), not at every pending item: a
        full scan under the lock slowed the one leasing thread as the backlog grew."""
        cutoff = _micros(now)
        until_text = until.isoformat()
        _micros(until)

        def facts(state: _State, docs: list[Doc]) -> list[tuple[Doc, Doc | None, list[Doc]]]:
            people, refs = state.tables["people"], state.tables["card_refs"]
            found = []
            for doc in docs:
                workspace, message = doc["workspace"], doc["message"]
                keys = [k for k in (message.get("card_key"), message.get("thread_key")) if k]
                cards = [refs[(workspace, k, p)] for k in keys for p in platforms if (workspace, k, p) in refs]
                found.append((doc, people.get((workspace, message["recipient_id"])) if platforms else None, cards))
            return found

        def plan(state: _State) -> tuple[list[Op], list[tuple[Doc, Doc | None, list[Doc]]]]:
            table = state.tables["outbox"]
            held = state.tokens.get(token)
            if held:  # a repeated call after a lost answer: what the token holds, not more
                return [], facts(state, _held_in_due_order(state, held))
            free: list[tuple[int, int, int, Doc]] = []
            leases = state.lane_leases
            for lane, entries in state.lanes.items():
                leased = leases.get(lane)
                if leased and any(end > cutoff for end in leased.values()):
                    continue  # one item of a lane in flight at a time
                for _, seq, due, key in entries:  # oldest first: the first due one is the head
                    if due <= cutoff:
                        doc = table[(key,)]
                        free.append((1 if doc["message"]["kind"] in BULK_KINDS else 0, due, seq, doc))
                        break
            free.sort(key=lambda f: f[:3])
            urgent = [f for f in free if f[0] == 0]
            free = (urgent + [f for f in free if f[0] != 0][: max(bulk, 0)])[:limit]
            taken = [
                {
                    **doc,
                    "lease": token,
                    "next_attempt_at": until_text,
                    "attempts": doc["attempts"] + 1,
                    "last_error": lease_note(doc["attempts"] + 1, doc.get("last_error")),
                    "version": doc["version"] + 1,
                }
                for *_, doc in free[:limit]
            ]
            return [["put", "outbox", doc] for doc in taken], facts(state, taken)

        leased: list[tuple[Doc, Doc | None, list[Doc]]] = self._write(plan)
        return leased

    def renew_outbox(self, leases: Sequence[tuple[str, str]], *, until: datetime) -> set[str]:
        """Extend the leases still held in one write (the version stays: a renewal is no change)."""
        _micros(until)

        def plan(state: _State) -> tuple[list[Op], set[str]]:
            table = state.tables["outbox"]
            renewed = [
                {**doc, "next_attempt_at": until.isoformat()}
                for key, token in leases
                if (doc := table.get((key,))) is not None and doc["state"] == "pending" and doc.get("lease") == token
            ]
            return [["put", "outbox", doc] for doc in renewed], {doc["key"] for doc in renewed}

        return self._write(plan) if leases else set()

    def get_outbox_item(self, key: str) -> OutboxItem | None:
        """The outbox item with this key, or None."""
        raw = self._read(lambda s: s.raw("outbox", (key,)))
        return None if raw is None else _load(OutboxItem, raw)

    def list_outbox(self, workspace: str, *, state: str | None = None) -> list[OutboxItem]:
        """Outbox items of the workspace (optionally in one state), oldest first."""

        def query(s: _State) -> list[Doc | bytes]:
            keys = (
                s.lookup("outbox", "ws", workspace)
                if state is None
                else s.lookup("outbox", "ws_state", (workspace, state))
            )
            table, seq = s.tables["outbox"], s.seq["outbox"]
            found = [(_micros(table[k]["created_at"]), seq[k], k) for k in keys]
            found.sort(key=lambda item: (item[0], item[1]))
            return [_raw(table[k]) for _, _, k in found]

        return [_load(OutboxItem, raw) for raw in self._read(query)]

    def count_outbox(self, workspace: str, state: str | None = None) -> int:
        """How many outbox items the workspace has (in ``state``), from the index alone."""
        return self._read(
            lambda s: len(
                s.lookup("outbox", "ws", workspace)
                if state is None
                else s.lookup("outbox", "ws_state", (workspace, state))
            )
        )

    def ping(self) -> None:
        """Raise StorageError unless the store is open, readable and its journal writable."""
        self._read(lambda s: None)
        if not os.access(self._paths.journal, os.W_OK):
            raise StorageError(f"store {self._paths.db} can't be written (its journal is read-only)")

    def save_outbox_item(self, item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        """Store a delivery outcome as version + 1 if ``item.version`` matches (else ``Conflict``),
        and ``card_ref`` (as :meth:`save_card_ref` would) in the same journal line, kept even
        when the version does not match: the plan stores the ref and answers the conflict,
        which is raised once the line is on disk."""

        def plan(state: _State) -> tuple[list[Op], Doc | Conflict]:
            ops = [] if card_ref is None else [["put", "card_refs", _card_ref_doc(state, card_ref)]]
            current = state.tables["outbox"].get((item.key,))
            if current is None:
                return ops, Conflict(f"outbox item {item.key} does not exist")
            if current["version"] != item.version:
                return ops, Conflict(
                    f"outbox item {item.key} was changed meanwhile (stored version "
                    f"{current['version']}, update based on version {item.version})"
                )
            doc = item.model_dump(mode="json")
            doc["version"] = item.version + 1
            return [*ops, ["put", "outbox", doc]], doc

        outcome = self._write(plan)
        if isinstance(outcome, Conflict):
            raise outcome
        return OutboxItem.model_validate(outcome)

    def accept_inbox(self, item: InboxItem) -> bool:
        """Store a new pending item unless its key was accepted before."""
        doc = item.model_dump(mode="json")
        _micros(item.lease_until)

        def plan(state: _State) -> tuple[list[Op], bool]:
            if (item.workspace, item.key) in state.tables["inbox"]:
                return [], False
            return [["put", "inbox", doc]], True

        return self._write(plan)

    def lease_inbox(
        self, *, now: datetime, until: datetime, owner: str, limit: int = 50, key: tuple[str, str] | None = None
    ) -> list[InboxItem]:
        """Take pending items whose lease ran out, oldest first, in one write."""
        cutoff = _micros(now)

        def plan(state: _State) -> tuple[list[Op], list[Doc]]:
            table = state.tables["inbox"]
            keys = [key] if key is not None else list(state.lookup("inbox", "pending", "pending"))
            due = [
                doc
                for k in keys
                if (doc := table.get(k)) is not None
                and doc["state"] == "pending"
                and _micros(doc["lease_until"]) <= cutoff
            ]
            due.sort(key=lambda d: (_micros(d["received_at"]), d["key"]))
            taken = [
                {
                    **doc,
                    "lease_until": until.isoformat(),
                    "owner": owner,
                    "attempts": doc["attempts"] + 1,
                    "version": doc["version"] + 1,
                }
                for doc in due[:limit]
            ]
            return [["put", "inbox", doc] for doc in taken], taken

        return [InboxItem.model_validate(doc) for doc in self._write(plan)]

    def finish_inbox(self, workspace: str, key: str, *, owner: str, at: datetime, error: str | None = None) -> bool:
        """Mark the item done (or failed) and drop its payload, if ``owner`` still holds it."""
        _micros(at)

        def plan(state: _State) -> tuple[list[Op], bool]:
            doc = state.tables["inbox"].get((workspace, key))
            if doc is None or doc["owner"] != owner or doc["state"] != "pending":
                return [], False
            done = {
                **doc,
                "state": "failed" if error else "done",
                "payload": {},
                "finished_at": at.isoformat(),
                "last_error": error,
                "version": doc["version"] + 1,
            }
            return [["put", "inbox", done]], True

        return self._write(plan)

    def release_inbox(self, workspace: str, key: str, *, owner: str, at: datetime) -> bool:
        """End ``owner``'s lease of a pending item now, so anyone may take it."""
        _micros(at)

        def plan(state: _State) -> tuple[list[Op], bool]:
            doc = state.tables["inbox"].get((workspace, key))
            if doc is None or doc["owner"] != owner or doc["state"] != "pending":
                return [], False
            released = {**doc, "owner": "", "lease_until": at.isoformat(), "version": doc["version"] + 1}
            return [["put", "inbox", released]], True

        return self._write(plan)

    def prune(self, workspace: str, *, before: datetime, keep_requests: Collection[int] = ()) -> dict[str, int]:
        """One write deleting sent outbox items, done inbox items, claims and dated idempotency
        keys older than ``before`` (see the contract); pending, leased and failed items stay."""
        cutoff = _micros(before)
        keep = set(keep_requests)

        def old(table: dict[Any, Any], keys: Iterable[Any], field: str) -> list[Any]:
            return [k for k in keys if field in table[k] and _micros(table[k][field]) < cutoff]

        def plan(state: _State) -> tuple[list[Op], dict[str, int]]:
            outbox, inbox = state.tables["outbox"], state.tables["inbox"]
            claims, idempotency = state.tables["claims"], state.tables["idempotency"]
            gone = {
                "outbox": old(outbox, state.lookup("outbox", "ws_state", (workspace, "sent")), "created_at"),
                "inbox": old(inbox, state.lookup("inbox", "ws_state", (workspace, "done")), "received_at"),
                "claims": [
                    k
                    for k in old(claims, [k for k in claims if k[0] == workspace], "at")
                    if claim_request(k[1]) not in keep
                ],
                "idempotency": old(idempotency, [k for k in idempotency if k[0] == workspace], "at"),
            }
            ops: list[Op] = [["del", kind, list(key)] for kind, keys in gone.items() for key in keys]
            return ops, {kind: len(keys) for kind, keys in gone.items()}

        return self._write(plan)

    def oldest_pending(self, workspace: str) -> tuple[datetime | None, datetime | None]:
        """Scans only the pending indexes (pending work is small and kept as plain documents)."""

        def query(state: _State) -> tuple[int | None, int | None]:
            inbox, outbox = state.tables["inbox"], state.tables["outbox"]
            received = [
                _micros(inbox[k]["received_at"]) for k in state.lookup("inbox", "ws_state", (workspace, "pending"))
            ]
            queued = [
                _micros(outbox[k]["created_at"]) for k in state.lookup("outbox", "ws_state", (workspace, "pending"))
            ]
            return min(received, default=None), min(queued, default=None)

        first_in, first_out = self._read(query)
        return _from_micros(first_in), _from_micros(first_out)

    def count_inbox(self, workspace: str, *, state: str = "pending") -> int:
        """How many items of the workspace are in ``state``."""
        return self._read(lambda s: len(s.lookup("inbox", "ws_state", (workspace, state))))

    def get_inbox_item(self, workspace: str, key: str) -> InboxItem | None:
        """The item with this key, or None."""
        raw = self._read(lambda s: s.raw("inbox", (workspace, key)))
        return None if raw is None else _load(InboxItem, raw)

    def get_card_ref(self, workspace: str, card_key: str, platform: str) -> CardRef | None:
        """Where the card with this key was posted on the platform, if it was."""
        doc = self._read(lambda s: s.tables["card_refs"].get((workspace, card_key, platform)))
        return None if doc is None else CardRef.model_validate(doc)

    def delivery_facts(self, item: OutboxItem, *, card_keys: Sequence[str], platforms: Sequence[str]) -> DeliveryFacts:
        """One read of the in-memory state (the reads before a send, under one lock)."""
        workspace = item.workspace

        def query(s: _State) -> tuple[Doc | bytes | None, Doc | None, list[Doc]]:
            refs = s.tables["card_refs"]
            found = [refs[(workspace, k, p)] for k in card_keys for p in platforms if (workspace, k, p) in refs]
            return s.raw("outbox", (item.key,)), s.tables["people"].get((workspace, item.message.recipient_id)), found

        raw, person, cards = self._read(query)
        return DeliveryFacts(
            item=None if raw is None else _load(OutboxItem, raw),
            person=None if person is None else Person.model_validate(person),
            cards={(c["card_key"], c["platform"]): CardRef.model_validate(c) for c in cards},
        )

    def save_card_ref(self, ref: CardRef) -> None:
        """Remember (or replace) where a card was posted; its revision never goes down."""
        self._write(lambda state: ([["put", "card_refs", _card_ref_doc(state, ref)]], None))

    # --- small documents --------------------------------------------------------------------

    def put_doc(self, kind: str, workspace: str, key: str, doc: dict[str, Any]) -> None:
        """Insert or replace a small JSON document (stored as a JSON copy; like the Postgres
        backend, values JSON cannot hold are stored as ``str(value)``)."""
        record = {"kind": kind, "workspace": workspace, "key": key, "doc": json.loads(json.dumps(doc, default=str))}
        ops: list[Op] = [["put", "docs", record]]
        self._write(lambda state: (ops, None))

    def get_doc(self, kind: str, workspace: str, key: str) -> dict[str, Any] | None:
        """A copy of a stored document, or None."""
        record = self._read(lambda s: s.tables["docs"].get((kind, workspace, key)))
        return None if record is None else copy.deepcopy(record["doc"])

    def get_docs(self, kind: str, workspace: str, keys: Collection[str]) -> dict[str, dict[str, Any]]:
        """Copies of the stored documents among ``keys``, by key (one read of the state)."""
        if not keys:
            return {}

        def query(state: _State) -> list[Doc]:
            table = state.tables["docs"]
            return [record for key in set(keys) if (record := table.get((kind, workspace, key))) is not None]

        return {r["key"]: copy.deepcopy(r["doc"]) for r in self._read(query)}

    def list_docs(self, kind: str, workspace: str) -> list[tuple[str, dict[str, Any]]]:
        """All ``(key, doc)`` of one kind in the workspace, by key."""

        def query(state: _State) -> list[Doc]:
            table = state.tables["docs"]
            return [table[k] for k in state.lookup("docs", "kind_ws", (kind, workspace))]

        records = sorted(self._read(query), key=lambda r: r["key"])
        return [(r["key"], copy.deepcopy(r["doc"])) for r in records]

    def delete_doc(self, kind: str, workspace: str, key: str) -> bool:
        """Remove a document; True if it existed."""

        def plan(state: _State) -> tuple[list[Op], bool]:
            if (kind, workspace, key) not in state.tables["docs"]:
                return [], False
            return [["del", "docs", [kind, workspace, key]]], True

        return self._write(plan)

    # --- whole-store copy -----------------------------------------------------------------------

    def export_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every record as ``(kind, document)``; the table shapes are the neutral format."""
        tables, fd = self._read(
            lambda state: ({kind: list(state.tables[kind].values()) for kind in files.KINDS}, _dup(state.snapshot_fd))
        )
        try:
            for kind in files.KINDS:
                for raw in _bodies(tables[kind], os.dup(fd) if fd >= 0 else -1):
                    yield kind, json.loads(raw) if isinstance(raw, bytes) else copy.deepcopy(raw)
        finally:
            if fd >= 0:
                os.close(fd)

    def import_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Store the records not stored yet in one journal line; counters only rise."""
        if kind not in files.KEY_FIELDS:
            raise ValueError(f"unknown record kind {kind!r}")

        def plan(state: _State) -> tuple[list[Op], int]:
            table = state.tables[kind]
            ops: list[Op] = []
            seen: set[Key] = set()
            for doc in docs:
                key = files.key_of(kind, doc)
                stored = table.get(key)
                if key in seen or (stored is not None and (kind != "counters" or stored["last"] >= doc["last"])):
                    continue
                seen.add(key)
                ops.append(["put", kind, copy.deepcopy(doc)])
            return ops, len(ops)

        return self._write(plan)

    def replace_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert or replace (by key) these records in one journal line."""
        if kind not in files.KEY_FIELDS:
            raise ValueError(f"unknown record kind {kind!r}")
        ops: list[Op] = [["put", kind, copy.deepcopy(doc)] for doc in docs]
        return self._write(lambda _state: (ops, len(ops)))

    def delete_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Delete the records with these keys in one journal line."""
        if kind not in files.KEY_FIELDS:
            raise ValueError(f"unknown record kind {kind!r}")

        def plan(state: _State) -> tuple[list[Op], int]:
            keys = dict.fromkeys(files.key_of(kind, doc) for doc in docs)
            present = [key for key in keys if key in state.tables[kind]]
            return [["del", kind, list(key)] for key in present], len(present)

        return self._write(plan)


def _card_ref_doc(state: _State, ref: CardRef) -> Doc:
    """``ref`` as stored, its revision never lower than the one stored for its card."""
    doc = ref.model_dump(mode="json")
    stored = state.tables["card_refs"].get((ref.workspace, ref.card_key, ref.platform))
    if stored is not None:
        doc["revision"] = max(doc["revision"], stored.get("revision", 0))
    return doc


def _idem(workspace: str, key: str, op: str, at: datetime, **ref: Any) -> Doc:
    """The idempotency record: which call used the key, when, and what it produced."""
    return {"workspace": workspace, "key": key, "op": op, "at": at.isoformat(), **ref}


M = TypeVar("M", bound=BaseModel)


def _load(model: type[M], raw: Doc | bytes) -> M:
    """Validate a stored record: a document, or a compact record's JSON bytes (parsed and
    validated in one pass by pydantic-core, without building a dict first)."""
    return model.model_validate_json(raw) if isinstance(raw, bytes) else model.model_validate(raw)


def _raw(entry: Any) -> Doc | bytes:
    """A stored entry as a document, or a compact record's JSON bytes."""
    return entry.raw() if type(entry) is _Stub else entry  # type: ignore[no-any-return]


def _dup(fd: int) -> int:
    """A descriptor of our own for the snapshot (-1 when there is none)."""
    return os.dup(fd) if fd >= 0 else -1


def _bodies(entries: Sequence[Any], fd: int) -> Iterator[Doc | bytes]:
    """Documents and compact records' bytes, read from ``fd`` (closed at the end) as the
    caller iterates, so a large read never holds every record at once."""
    try:
        for entry in entries:
            if type(entry) is not _Stub:
                yield entry
            elif entry.body is not None:
                yield entry.body
            else:
                yield files.pread_all(fd, entry.length, entry.offset)
    finally:
        if fd >= 0:
            os.close(fd)


def _from_micros(value: int | None) -> datetime | None:
    """The UTC time ``value`` microseconds after the epoch, or None."""
    return None if value is None else _EPOCH + timedelta(microseconds=value)
