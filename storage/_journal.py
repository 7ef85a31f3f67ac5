"""File layer of the TinyDB store: the snapshot (a TinyDB JSON file), the journal, locks.

Files for a store at ``DB``:

- ``DB``: a TinyDB database (one table per record kind plus a ``meta`` table holding the
  snapshot's generation). Only ever replaced whole: temp file, fsync, rename, fsync dir.
  The ``meta`` table comes last and holds a layout (where each request lies, the fields its
  indexes need, a CRC32 of the file) so a process opens it without parsing the requests
  (:func:`write_snapshot`, :func:`open_snapshot`); any TinyDB reader still reads it.
- ``DB.journal``: JSON lines. The first line is a header naming the journal's generation;
  every further line is one atomic transaction ``{"c":"<crc32>","ops":[...]}`` appended with
  a single ``write`` + ``fdatasync`` under an exclusive lock. ``c`` is the CRC32 (8 hex
  digits) of the line's bytes after the fixed 16-byte prefix ``{"c":"xxxxxxxx",``; lines of
  journals written before checksums (``{"ops":[...]}``) are still read.
  The tail rule: bytes after the last newline are a torn append of a writer that died
  (it had not fsync'd, so it was never acknowledged): dropped, logged once, and cut off by
  the next writer. A complete line (newline present) that fails its checksum or does not
  parse is *damage*, wherever it is: reported with its byte offset, never skipped silently
  (:class:`JournalDamaged`); ``servechain db repair`` moves it aside.
- ``DB.lock``: ``flock`` target; shared for reads, exclusive for appends and for the
  short commit step of a compaction. Never deleted.
- ``DB.compact.lock``: held by the one compaction that may run at a time.

Compaction writes the state at journal offset X to a new snapshot *without* holding the
lock, then, holding it briefly, writes a new journal (header + the lines appended after X)
and renames the snapshot and then the journal into place. The snapshot records
``base_generation``/``base_offset`` so a crash between the two renames is recovered by
replaying the old journal from X; the new journal's header records ``prev_generation`` and
``prev_end`` so live processes switch to it without reloading the snapshot.

This module imports only the standard library and tinydb so the compactor can run as
``python storage/_journal.py DB`` in a child process (no app import, no shared GIL).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import glob
import json
import os
import re
import secrets
import shutil
import string
import sys
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

FORMAT = 1
"""Version of the on-disk layout, stored in the snapshot meta table and journal header."""

META_TABLE = "meta"
KINDS: tuple[str, ...] = (
    "people",
    "teams",
    "requests",
    "counters",
    "kudos",
    "outbox",
    "claims",
    "idempotency",
    "card_refs",
    "docs",
    "inbox",
)
"""Record kinds; each is one TinyDB table in the snapshot."""

KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "people": ("workspace", "id"),
    "teams": ("workspace", "id"),
    "requests": ("workspace", "number"),
    "counters": ("workspace",),
    "kudos": ("workspace", "id"),
    "outbox": ("key",),
    "claims": ("workspace", "key"),
    "idempotency": ("workspace", "key"),
    "card_refs": ("workspace", "card_key", "platform"),
    "docs": ("kind", "workspace", "key"),
    "inbox": ("workspace", "key"),
}
"""The fields of each kind's documents that form its primary key."""

Doc = dict[str, Any]
Key = tuple[Any, ...]
Op = list[Any]
"""``["put", kind, doc]`` or ``["del", kind, [key fields...]]``."""
Tables = dict[str, dict[Key, Doc]]

EXIT_SKIPPED = 3
"""Exit status of the compactor child when another compaction was running or won the race."""

_HEADER_TAG = "servechain_journal"
_PREAD_CHUNK = 1 << 30


class FormatError(ValueError):
    """A store file is corrupt or not a servechain store; the message names the file."""


@dataclass(frozen=True)
class Damage:
    """One complete journal line that fails its checksum or does not parse."""

    offset: int
    """Byte offset of the line in the journal file."""
    problem: str
    data: bytes = field(repr=False)
    """The line's bytes, its newline included."""


class JournalDamaged(FormatError):
    """Complete journal lines that fail their checksum: damage, not a torn write."""

    def __init__(self, journal: str, damage: list[Damage]) -> None:
        first = damage[0]
        more = f" (and {len(damage) - 1} more damaged line(s))" if len(damage) > 1 else ""
        super().__init__(f"{journal} is damaged at byte {first.offset}: {first.problem}{more}")
        self.journal = journal
        self.damage = damage


def key_of(kind: str, doc: Doc) -> Key:
    """The primary key of a document of ``kind``."""
    return tuple(doc[field] for field in KEY_FIELDS[kind])


def empty_tables() -> Tables:
    """One empty table per kind."""
    return {kind: {} for kind in KINDS}


@dataclass(frozen=True)
class Paths:
    """The files that make up one store."""

    db: str

    @property
    def journal(self) -> str:
        return self.db + ".journal"

    @property
    def lock(self) -> str:
        return self.db + ".lock"

    @property
    def compact_lock(self) -> str:
        return self.db + ".compact.lock"

    @property
    def directory(self) -> str:
        return os.path.dirname(self.db) or "."


@dataclass(frozen=True)
class Header:
    """The first line of a journal: its generation and where it continues the previous one."""

    generation: int
    prev_generation: int | None
    prev_end: int | None
    carried_bytes: int
    carried_lines: int
    length: int


# --- low-level file helpers ---------------------------------------------------------------


def open_lock(path: str) -> int:
    """Open (creating) a lock file; the fd is not inherited by child processes."""
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextlib.contextmanager
def flocked(fd: int, exclusive: bool) -> Iterator[None]:
    """Hold an ``flock`` on ``fd`` for the duration of the block."""
    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def sync_data(fd: int) -> None:
    """Flush file data (and the size) to disk; fdatasync where the OS has it."""
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def fsync_dir(directory: str) -> None:
    """Make renames in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(target: str) -> str:
    """A unique temp file name beside ``target`` that records the creating pid."""
    return f"{target}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def pread_all(fd: int, size: int, offset: int = 0) -> bytes:
    """Read exactly ``size`` bytes at ``offset`` (fewer only at end of file)."""
    parts: list[bytes] = []
    while size > 0:
        chunk = os.pread(fd, min(size, _PREAD_CHUNK), offset)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_temp_file(target: str, data: bytes) -> str:
    """Write ``data`` to a new fsync'd temp file beside ``target``; returns its name."""
    tmp = temp_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def remove_stale_temps(paths: Paths) -> None:
    """Delete temp files left by processes that died mid-compaction (their pid is gone)."""
    for name in glob.glob(glob.escape(paths.db) + "*.tmp-*-*"):
        try:
            pid = int(name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic dicts
    (it would otherwise rescan them over and over: ~40% of a large load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- snapshot (a TinyDB file) -------------------------------------------------------------


LAZY_FIELDS: dict[str, tuple[str, ...]] = {
    "requests": ("workspace", "number", "provider_id", "requester_id", "status", "parent", "created_at", "version"),
}
"""Kinds whose documents a process keeps compact (index fields in memory, body in the file)
and the fields it indexes and filters them by; the snapshot's layout lists them per record."""

_STRING_FIELDS = frozenset({"workspace", "provider_id", "requester_id", "status"})
"""Layout fields stored as indexes into the layout's string table (few distinct values)."""

_TRAILER = re.compile(rb',"meta_at":"(\d{16})"\}\}\}\s*\Z')
_VERIFY_CHUNK = 1 << 20


@dataclass(frozen=True)
class LazyTable:
    """Where each record of one kind lies in the snapshot, with its layout fields."""

    fields: tuple[str, ...]
    offsets: list[int]
    lengths: list[int]
    columns: dict[str, list[Any]]
    """One list of values per field, in record order."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record left unparsed in an open snapshot file, with its layout fields."""

    fd: int
    offset: int
    length: int
    fields: tuple[str, ...]
    values: tuple[Any, ...]

    def body(self) -> bytes:
        return pread_all(self.fd, self.length, self.offset)


def load_snapshot_records(fd: int, name: str) -> tuple[Doc | None, dict[str, dict[Key, Any]]]:
    """Like :func:`read_snapshot`, but the records of lazy kinds come back as
    :class:`RawRecord` s reading from ``fd`` (keep it open while they are used)."""
    meta, tables, lazy = open_snapshot(fd, name)
    records: dict[str, dict[Key, Any]] = dict(tables)
    for kind, lazy_table in lazy.items():
        table = records[kind]
        rows = zip(*(lazy_table.columns[field_name] for field_name in lazy_table.fields), strict=True)
        keys = zip(*(lazy_table.columns[field_name] for field_name in KEY_FIELDS[kind]), strict=True)
        for key, values, offset, length in zip(keys, rows, lazy_table.offsets, lazy_table.lengths, strict=True):
            table[key] = RawRecord(fd, offset, length, lazy_table.fields, values)
    return meta, records


def write_snapshot(target: str, tables: Mapping[str, Mapping[Key, Any]], meta: Doc) -> str:
    """Write ``tables`` as a TinyDB database to an fsync'd temp file beside ``target``.

    The file is a plain TinyDB JSON file (one table per kind, documents numbered from 1)
    whose ``meta`` table comes last and also holds a *layout*: the byte span of every small
    table, the offset and layout fields of every record of a :data:`LAZY_FIELDS` kind, and a
    CRC32 of the bytes before the meta document. It ends with ``"meta_at":"<16 digits>"}}}``
    so a process finds the layout without parsing the file (:func:`open_snapshot`).
    Returns the temp file's name; the caller renames it into place.
    """
    tmp = temp_name(target)
    try:
        with open(tmp, "xb") as out:
            crc = 0
            pos = 0

            def emit(data: bytes) -> None:
                nonlocal crc, pos
                out.write(data)
                crc = zlib.crc32(data, crc)
                pos += len(data)

            spans: dict[str, list[int]] = {}
            rows: dict[str, dict[str, list[Any]]] = {}
            strings: dict[str, int] = {}
            emit(b"{")
            for number, kind in enumerate(KINDS):
                emit(b'%s"%s":' % (b"," if number else b"", kind.encode()))
                start = pos
                emit(b"{")
                fields = LAZY_FIELDS.get(kind)
                columns: dict[str, list[Any]] = {name: [] for name in ("offset", "length", *(fields or ()))}
                for doc_id, doc in enumerate(tables.get(kind, {}).values(), 1):
                    if isinstance(doc, RawRecord):
                        body = doc.body()
                        known = dict(zip(doc.fields, doc.values, strict=True))
                        if fields is not None and not set(fields) <= set(known):
                            known = json.loads(body)  # laid out by a version with other fields
                    else:
                        body = json.dumps(doc, separators=(",", ":")).encode("ascii")
                        known = doc
                    emit(b'%s"%d":' % (b"," if doc_id > 1 else b"", doc_id))
                    if fields is not None:
                        columns["offset"].append(pos)
                        columns["length"].append(len(body))
                        for name in fields:
                            value: Any = known.get(name)
                            if name in _STRING_FIELDS:
                                value = strings.setdefault(value, len(strings))
                            columns[name].append(value)
                    emit(body)
                emit(b"}")
                if fields is None:
                    spans[kind] = [start, pos]
                else:
                    rows[kind] = columns
            emit(b',"meta":{"1":')
            layout = {
                "fields": {kind: list(LAZY_FIELDS[kind]) for kind in rows},
                "strings": list(strings),
                "columns": rows,
                "spans": spans,
                "crc": f"{crc:08x}",
            }
            body = json.dumps({**meta, "layout": layout}, separators=(",", ":")).encode("ascii")
            out.write(body[:-1] + b',"meta_at":"%016d"}}}' % pos)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def open_snapshot(fd: int, name: str) -> tuple[Doc | None, Tables, dict[str, LazyTable]]:
    """Load a snapshot without parsing the records of :data:`LAZY_FIELDS` kinds.

    Reads the layout at the end of the file, checks the CRC32 of everything before it in
    1 MiB steps (damage is found at open, as with a full parse), parses only the small
    tables, and returns the lazy kinds' records as offsets into the file (read them with
    ``pread`` on ``fd``). A snapshot without a layout (written by an older version or by
    another TinyDB tool) is parsed whole, as before.
    """
    size = os.fstat(fd).st_size
    tail = os.pread(fd, min(size, 64), max(0, size - 64))
    found = _TRAILER.search(tail)
    if found is None:
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            meta, tables = read_snapshot(handle, name)
        return meta, tables, {}
    meta_at = int(found[1])
    try:
        meta = json.loads(pread_all(fd, size - meta_at, meta_at).rstrip()[:-2])
        if meta.get("format") != FORMAT or not isinstance(meta.get("generation"), int):
            raise FormatError(f"{name}: unsupported store format {meta.get('format')!r}")
        layout = meta.pop("layout")
        meta.pop("meta_at", None)
        crc, offset = 0, 0
        while offset < meta_at:
            chunk = os.pread(fd, min(_VERIFY_CHUNK, meta_at - offset), offset)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            offset += len(chunk)
        if f"{crc:08x}" != layout["crc"]:
            raise FormatError(f"{name} is damaged: its checksum does not match (restore it from a backup)")
        unknown = sorted((set(layout["spans"]) | set(layout["columns"])) - set(KINDS))
        if unknown:
            raise FormatError(f"{name} has tables this version does not know: {', '.join(unknown)}")
        tables = empty_tables()
        for kind, (start, end) in layout["spans"].items():
            rows = json.loads(pread_all(fd, end - start, start))
            table = tables[kind]
            for doc_id in sorted(rows, key=int):
                doc = rows[doc_id]
                table[key_of(kind, doc)] = doc
        strings = [sys.intern(text) if isinstance(text, str) else text for text in layout["strings"]]
        lazy: dict[str, LazyTable] = {}
        for kind, columns in layout["columns"].items():
            fields = tuple(layout["fields"][kind])
            for field_name in _STRING_FIELDS.intersection(fields):
                columns[field_name] = list(map(strings.__getitem__, columns[field_name]))
            lazy[kind] = LazyTable(fields, columns.pop("offset"), columns.pop("length"), columns)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{name} has a malformed layout: {exc!r}") from None
    return meta, tables, lazy


def read_snapshot(handle: IO[bytes], name: str) -> tuple[Doc | None, Tables]:
    """Parse a snapshot; ``(None, {})`` for an empty file or an empty TinyDB database."""
    raw = handle.read()
    if not raw.strip():
        return None, empty_tables()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{name} is not a readable TinyDB JSON file: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise FormatError(f"{name} is not a TinyDB database (expected an object of tables)")
    if not any(data.values()):
        return None, empty_tables()
    meta_table = data.get(META_TABLE)
    if not meta_table:
        raise FormatError(f"{name} is a TinyDB file but not a servechain store (no 'meta' table)")
    unknown = sorted(set(data) - {META_TABLE, *KINDS})
    if unknown:
        raise FormatError(f"{name} has tables this version does not know: {', '.join(unknown)}")
    try:
        meta = dict(next(iter(meta_table.values())))
        meta.pop("layout", None)
        meta.pop("meta_at", None)
        if meta.get("format") != FORMAT or not isinstance(meta.get("generation"), int):
            raise FormatError(f"{name}: unsupported store format {meta.get('format')!r}")
        tables = empty_tables()
        for kind in KINDS:
            rows = data.get(kind, {})
            table = tables[kind]
            for doc_id in sorted(rows, key=int):
                doc = rows[doc_id]
                table[key_of(kind, doc)] = doc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{name} has a malformed record: {exc!r}") from None
    return meta, tables


def snapshot_meta(generation: int, base_generation: int | None, base_offset: int | None) -> Doc:
    """The meta document of a snapshot."""
    return {
        "format": FORMAT,
        "generation": generation,
        "base_generation": base_generation,
        "base_offset": base_offset,
    }


# --- journal -------------------------------------------------------------------------------


def encode_line(obj: Any) -> bytes:
    """One journal line: compact JSON (never containing a newline) plus ``\\n``."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def encode_header(
    generation: int,
    prev_generation: int | None = None,
    prev_end: int | None = None,
    carried_bytes: int = 0,
    carried_lines: int = 0,
) -> bytes:
    """The header line of a journal of ``generation``."""
    return encode_line(
        {
            _HEADER_TAG: FORMAT,
            "generation": generation,
            "prev_generation": prev_generation,
            "prev_end": prev_end,
            "carried_bytes": carried_bytes,
            "carried_lines": carried_lines,
        }
    )


def parse_header(data: bytes, name: str) -> Header:
    """Parse the header line at the start of ``data``."""
    end = data.find(b"\n")
    if end < 0:
        raise FormatError(f"{name} has no complete journal header")
    try:
        obj = json.loads(data[:end])
        if obj.get(_HEADER_TAG) != FORMAT:
            raise FormatError(f"{name} is not a servechain journal (format {obj.get(_HEADER_TAG)!r})")
        return Header(
            generation=int(obj["generation"]),
            prev_generation=obj.get("prev_generation"),
            prev_end=obj.get("prev_end"),
            carried_bytes=int(obj.get("carried_bytes", 0)),
            carried_lines=int(obj.get("carried_lines", 0)),
            length=end + 1,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{name} has an unreadable journal header: {exc!r}") from None


_CRC_PREFIX = b'{"c":"'
_CRC_PREFIX_LEN = 16
"""``{"c":"xxxxxxxx",``: the checksum covers the line's bytes after it."""
_HEX = frozenset(string.hexdigits.encode())


def json_default(value: Any) -> Any:
    """Write a read-only mapping (a compact record put back unchanged) as its document."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_record(ops: list[Op]) -> bytes:
    """One checksummed journal line holding one transaction (valid JSON plus ``\n``)."""
    text = json.dumps(ops, ensure_ascii=False, separators=(",", ":"), default=json_default)
    body = b'"ops":' + text.encode("utf-8") + b"}"
    return b'{"c":"%08x",' % zlib.crc32(body) + body + b"\n"


def decode_record(line: bytes) -> list[Op]:
    """The operations of one journal line (without its newline); ValueError says what is wrong."""
    if line.startswith(_CRC_PREFIX):
        digits = line[len(_CRC_PREFIX) : _CRC_PREFIX_LEN - 2]
        if (
            len(line) < _CRC_PREFIX_LEN
            or line[_CRC_PREFIX_LEN - 2 : _CRC_PREFIX_LEN] != b'",'
            or not (len(digits) == 8 and set(digits) <= _HEX)
        ):
            raise ValueError("malformed checksum")
        if zlib.crc32(line[_CRC_PREFIX_LEN:]) != int(digits, 16):
            raise ValueError("checksum mismatch")
        expected_keys = {"c", "ops"}
    else:
        expected_keys = {"ops"}  # a line written before checksums
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("unreadable record (not JSON)") from None
    if not isinstance(obj, dict) or set(obj) != expected_keys:
        raise ValueError("not a journal record")
    ops = obj["ops"]
    if not isinstance(ops, list) or not all(isinstance(op, list) for op in ops):
        raise ValueError("ops is not a list of operations")
    return ops


@dataclass
class Scan:
    """What a journal's bytes from some offset hold."""

    records: list[tuple[int, list[Op]]]
    """``(offset, ops)`` of every intact line, in order."""
    damage: list[Damage]
    end: int
    """File offset just after the last complete line (intact or damaged)."""
    torn: int
    """Bytes after ``end``: a torn append, never acknowledged."""


def verify_record(line: bytes) -> None:
    """Check one line (without its newline) like :func:`decode_record`, but a checksummed
    line only by its checksum (no JSON parse: fast enough for periodic re-verification)."""
    if line.startswith(_CRC_PREFIX) and line[_CRC_PREFIX_LEN - 2 : _CRC_PREFIX_LEN] == b'",':
        digits = line[len(_CRC_PREFIX) : _CRC_PREFIX_LEN - 2]
        if len(digits) == 8 and set(digits) <= _HEX:
            if zlib.crc32(line[_CRC_PREFIX_LEN:]) != int(digits, 16):
                raise ValueError("checksum mismatch")
            return
    decode_record(line)


def scan_journal(data: bytes, base: int, *, parse: bool = True) -> Scan:
    """Sort ``data`` (read from file offset ``base``) into intact lines, damage and a torn tail
    (``parse=False``: only find damage, records come back without their operations)."""
    records: list[tuple[int, list[Op]]] = []
    damage: list[Damage] = []
    pos = 0
    size = len(data)
    while pos < size:
        newline = data.find(b"\n", pos)
        if newline < 0:
            break
        try:
            if parse:
                records.append((base + pos, decode_record(data[pos:newline])))
            else:
                verify_record(data[pos:newline])
        except ValueError as exc:
            damage.append(Damage(base + pos, str(exc), data[pos : newline + 1]))
        pos = newline + 1
    if pos < size and data.startswith(_CRC_PREFIX, pos):
        with contextlib.suppress(ValueError):
            # A whole checksummed record plus one byte where its newline belongs: a torn
            # write never ends like that (a writer writes the record and newline at once).
            decode_record(data[pos : size - 1])
            damage.append(Damage(base + pos, "the record's newline is damaged", data[pos:size]))
            pos = size
    return Scan(records, damage, base + pos, size - pos)


def parse_transactions(data: bytes, base: int, name: str) -> tuple[list[list[Op]], int]:
    """Complete transactions in ``data`` (read from file offset ``base``).

    Returns them and the file offset just after the last complete line; a torn tail (no
    newline) is left out. Any damaged complete line raises :class:`JournalDamaged`.
    """
    scan = scan_journal(data, base)
    if scan.damage:
        raise JournalDamaged(name, scan.damage)
    return [ops for _, ops in scan.records], scan.end


def apply_ops(tables: Tables, ops: list[Op], name: str) -> None:
    """Apply one transaction to raw tables (used by the compactor)."""
    try:
        for op in ops:
            action, kind = op[0], op[1]
            table = tables[kind]
            if action == "put":
                doc = op[2]
                table[key_of(kind, doc)] = doc
            elif action == "del":
                table.pop(tuple(op[2]), None)
            else:
                raise ValueError(f"unknown operation {action!r}")
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise FormatError(f"{name} has a malformed operation: {exc!r}") from None


def replay_start(meta: Doc, header: Header, paths: Paths, size: int) -> int:
    """Offset in the journal from which to replay on top of the snapshot ``meta``."""
    if header.generation == meta["generation"]:
        return header.length
    if header.generation == meta.get("base_generation"):
        offset = meta.get("base_offset")
        if isinstance(offset, int) and header.length <= offset <= size:
            return offset
    raise FormatError(
        f"{paths.journal} (generation {header.generation}) does not belong to snapshot "
        f"{paths.db} (generation {meta['generation']})"
    )


# --- creating and compacting -----------------------------------------------------------------


COMPACTION_MARGIN = 64 << 10
"""Free bytes a compaction wants beyond the size of the snapshot and journal it rewrites."""


def compaction_room(paths: Paths) -> tuple[int, int]:
    """``(free, needed)`` bytes on the store's file system for a compaction: the new snapshot
    holds at most what the old snapshot and journal hold, and both stay until the renames."""
    free = shutil.disk_usage(paths.directory).free
    needed = COMPACTION_MARGIN
    for name in (paths.db, paths.journal):
        with contextlib.suppress(OSError):
            needed += os.stat(name).st_size
    return free, needed


def initialize(paths: Paths) -> None:
    """Create a missing snapshot and/or journal. Call holding the exclusive lock."""
    db_exists = os.path.exists(paths.db)
    journal_exists = os.path.exists(paths.journal)
    if db_exists and journal_exists:
        return
    meta: Doc | None = None
    if db_exists:
        with open(paths.db, "rb") as handle:
            meta, _ = read_snapshot(handle, paths.db)
    if meta is None:
        if journal_exists:
            raise FormatError(
                f"{paths.db} is missing or empty but its journal {paths.journal} exists; "
                "restore the snapshot or move the journal away"
            )
        tmp = write_snapshot(paths.db, empty_tables(), snapshot_meta(1, None, None))
        os.replace(tmp, paths.db)
        fsync_dir(paths.directory)
        generation = 1
    else:
        generation = meta["generation"]
    tmp = write_temp_file(paths.journal, encode_header(generation))
    os.replace(tmp, paths.journal)
    fsync_dir(paths.directory)


def compact(db: str) -> bool:
    """Write a new snapshot and journal generation for the store at ``db``.

    Returns False when another compaction is running or won the race. Safe to run while
    other processes read and write the store; only the final renames hold the lock.
    """
    paths = Paths(os.path.abspath(db))
    compact_fd = open_lock(paths.compact_lock)
    try:
        try:
            fcntl.flock(compact_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        lock_fd = open_lock(paths.lock)
        try:
            with paused_gc():
                return _compact(paths, lock_fd)
        finally:
            os.close(lock_fd)
    finally:
        os.close(compact_fd)


def _compact(paths: Paths, lock_fd: int) -> bool:
    with flocked(lock_fd, exclusive=False):
        snapshot = open(paths.db, "rb")  # noqa: SIM115 - closed below, opened under the lock
        journal_fd = os.open(paths.journal, os.O_RDONLY | os.O_CLOEXEC)
        journal_stat = os.fstat(journal_fd)
    try:
        # Records left in the old snapshot are copied byte for byte (it stays open until the
        # new one is written): the compactor never parses them, so it needs little memory.
        meta, tables = load_snapshot_records(snapshot.fileno(), paths.db)
        if meta is None:
            raise FormatError(f"{paths.db} is empty")
        data = pread_all(journal_fd, journal_stat.st_size)
        header = parse_header(data, paths.journal)
        start = replay_start(meta, header, paths, len(data))
        txns, end = parse_transactions(data[start:], start, paths.journal)
        for ops in txns:
            apply_ops(tables, ops, paths.journal)
        del data, txns
        generation = max(meta["generation"], header.generation) + 1
        snapshot_tmp: str | None = write_snapshot(paths.db, tables, snapshot_meta(generation, header.generation, end))
        del tables
        snapshot.close()
        try:
            with flocked(lock_fd, exclusive=True):
                current = os.stat(paths.journal)
                if (current.st_dev, current.st_ino) != (journal_stat.st_dev, journal_stat.st_ino):
                    return False
                size = os.fstat(journal_fd).st_size
                tail = pread_all(journal_fd, size - end, end)
                tail_txns, tail_end = parse_transactions(tail, end, paths.journal)
                carried = tail[: tail_end - end]
                journal_tmp = write_temp_file(
                    paths.journal,
                    encode_header(generation, header.generation, tail_end, len(carried), len(tail_txns)) + carried,
                )
                assert snapshot_tmp is not None
                os.replace(snapshot_tmp, paths.db)
                snapshot_tmp = None
                os.replace(journal_tmp, paths.journal)
                fsync_dir(paths.directory)
                return True
        finally:
            if snapshot_tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(snapshot_tmp)
    finally:
        snapshot.close()
        os.close(journal_fd)


def main(argv: list[str]) -> int:
    """Entry point of the compactor child process: ``_journal.py DB``."""
    if len(argv) != 1:
        print("usage: _journal.py DB", file=sys.stderr)
        return 2
    try:
        done = compact(argv[0])
    except Exception as exc:  # reported to the parent through stderr
        print(f"compaction of {argv[0]} failed: {exc!r}", file=sys.stderr)
        return 1
    return 0 if done else EXIT_SKIPPED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
