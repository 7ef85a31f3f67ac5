"""``servechain db check`` and ``servechain db repair`` for the embedded (TinyDB) store.

``check`` reads the snapshot and the journal under a shared lock and lists every damaged
journal record (a complete line failing its checksum or not parsing) with its byte offset;
it changes nothing. ``repair`` takes the exclusive lock and the compaction lock, writes the
damaged bytes to ``DB.journal.damaged-<UTC timestamp>`` beside the store, then writes a new
snapshot holding the snapshot plus every intact journal record (in order) and a fresh
journal, the same crash-safe way a compaction does. A damaged record with a single wrong
byte is put right first (:func:`restore_one_byte`: exactly one one-byte change must satisfy
both its CRC32 and the JSON shape), so one flipped byte loses nothing. A torn tail (no newline: never
acknowledged) is dropped. Running processes reload from the new snapshot.

Request numbers are never reused. A damaged record that can't be restored may have allocated numbers (a create
stores the request and the workspace counter in one record), and its bytes can't be
trusted to say which. So repair raises each workspace's counter to at least
``counter just before the damaged record + len(damaged bytes) // MIN_REQUEST_BYTES`` (no
record can allocate more numbers than it has room for request documents) and to any larger
``"number"``/``"last"`` value still legible in the damaged bytes. This applies to every
workspace with a counter and every workspace name legible in the damaged bytes. The cost is
a gap in the numbering, never a number handed out twice. (Later intact records already
carry higher counters when the damaged one is not the last to allocate.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import string
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from bot.errors import StorageError
from storage import _journal as files

MIN_REQUEST_BYTES = 128
"""Fewer bytes than any stored request's ``["put","requests",{...}]`` operation takes."""

MAX_RESTORE_BYTES = 16 << 10
"""Longest damaged line :func:`restore_one_byte` tries to put right."""

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2
_HEX_DIGITS = frozenset(string.hexdigits.encode())

_NUMBER = re.compile(rb'"(?:number|last)":(\d{1,18})')
_WORKSPACE = re.compile(rb'"workspace":"((?:[^"\\\n]|\\.){1,200})"')


class RepairRefused(StorageError):
    """The store can't be repaired by this tool; the message says why and what to do."""


@dataclass(frozen=True)
class Problem:
    """One damaged spot: the file, the byte offset (None for the whole file) and what is wrong."""

    file: str
    byte: int | None
    what: str

    def line(self) -> str:
        where = self.file if self.byte is None else f"{self.file} byte {self.byte}"
        return f"{where}: {self.what}"


@dataclass
class CheckReport:
    """What ``check`` found."""

    db: str
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    torn_bytes: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass
class RepairReport:
    """What ``repair`` did."""

    db: str
    kept: int = 0
    damaged: list[files.Damage] = field(default_factory=list)
    aside: str | None = None
    torn_bytes: int = 0
    restored: int = 0
    """Damaged records put right (one byte was wrong; checksum and JSON confirm the fix)."""
    lost: int = 0
    """Damaged records that could not be put right (their bytes are in ``aside``)."""
    counters: dict[str, tuple[int, int]] = field(default_factory=dict)
    """workspace -> (counter the intact records give, counter written)."""

    @property
    def moved_bytes(self) -> int:
        return sum(len(damage.data) for damage in self.damaged)


@dataclass
class _Loaded:
    meta: files.Doc
    tables: files.Tables
    header: files.Header
    scan: files.Scan


def _load(paths: files.Paths, report: CheckReport) -> _Loaded | None:
    """Read the store (call holding the lock); problems go to ``report``, None if unreadable."""
    try:
        with open(paths.db, "rb") as handle:
            meta, tables = files.read_snapshot(handle, paths.db)
    except files.FormatError as exc:
        report.problems.append(Problem(paths.db, None, str(exc)))
        return None
    if meta is None:
        report.problems.append(Problem(paths.db, None, "the snapshot is empty"))
        return None
    with open(paths.journal, "rb") as handle:
        data = handle.read()
    try:
        header = files.parse_header(data, paths.journal)
        start = files.replay_start(meta, header, paths, len(data))
    except files.FormatError as exc:
        report.problems.append(Problem(paths.journal, 0, str(exc)))
        return None
    scan = files.scan_journal(data[start:], start)
    report.records = len(scan.records)
    report.torn_bytes = scan.torn
    for damage in scan.damage:
        fixable = "; one wrong byte, repair restores it" if restore_one_byte(damage.data) is not None else ""
        report.problems.append(
            Problem(paths.journal, damage.offset, f"{damage.problem} ({len(damage.data)} bytes{fixable})")
        )
    return _Loaded(meta, tables, header, scan)


def _paths(db: str) -> files.Paths:
    paths = files.Paths(os.path.abspath(db))
    if not os.path.isfile(paths.db) or not os.path.isfile(paths.journal):
        raise StorageError(f"there is no servechain store at {paths.db} (it needs {paths.db} and {paths.journal})")
    return paths


def check(db: str) -> CheckReport:
    """Every damaged record of the store at ``db``; changes nothing."""
    paths = _paths(db)
    report = CheckReport(paths.db)
    lock_fd = files.open_lock(paths.lock)
    try:
        with files.flocked(lock_fd, exclusive=False):
            _load(paths, report)
    finally:
        os.close(lock_fd)
    return report


def number_floors(counters: dict[str, int], damaged: bytes) -> dict[str, int]:
    """The lowest counter per workspace that can't reuse a number a damaged record may have
    allocated, given the counters just before it (see the module docstring)."""
    legible = [int(match) for match in _NUMBER.findall(damaged)]
    floor_over = max(legible, default=0)
    allocated_at_most = len(damaged) // MIN_REQUEST_BYTES
    workspaces = set(counters)
    for name in _WORKSPACE.findall(damaged):
        with contextlib.suppress(UnicodeDecodeError):
            workspaces.add(name.decode("utf-8"))
    return {ws: max(counters.get(ws, 0) + allocated_at_most, floor_over) for ws in workspaces}


def _raw_crc(register: int, data: bytes) -> int:
    """The CRC32 register after ``data`` without the initial and final inversion (linear)."""
    return zlib.crc32(data, register ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


def restore_one_byte(line: bytes) -> bytes | None:
    """``line`` (a damaged journal line) with one byte put right, when exactly one single-byte
    change makes it an intact record again; else None.

    CRC32 is affine, so changing byte ``p`` by ``d`` changes the checksum by the CRC register
    of ``d`` followed by the bytes after ``p`` as zeros; walking from the end finds every
    ``(p, d)`` matching the difference in one pass. A candidate must also parse as a record.
    """
    if len(line) > MAX_RESTORE_BYTES or len(line) < 18:
        return None
    if not line.endswith(b"\n"):
        body = line[:-1]  # its newline was damaged
        candidates = [body]
    else:
        body = line[:-1]
        candidates = []
        actual = zlib.crc32(body[16:])
        head = b'{"c":"%08x",' % actual
        if sum(a != b for a, b in zip(head, body[:16], strict=True)) == 1:
            candidates.append(head + body[16:])  # the damage is in the checksum or its prefix
        digits = body[6:14]
        if body[:6] == b'{"c":"' and body[14:16] == b'",' and set(digits) <= _HEX_DIGITS:
            rest = body[16:]
            syndrome = zlib.crc32(rest) ^ int(digits, 16)
            registers = [_raw_crc(0, bytes([1 << bit])) for bit in range(8)]
            effects = [0] * 256
            for position in range(len(rest) - 1, -1, -1):
                for change in range(1, 256):
                    low = change & -change
                    effects[change] = effects[change ^ low] ^ registers[low.bit_length() - 1]
                if syndrome in effects:
                    change = effects.index(syndrome)
                    fixed = bytes([rest[position] ^ change])
                    candidates.append(body[:16] + rest[:position] + fixed + rest[position + 1 :])
                registers = [_raw_crc(register, b"\0") for register in registers]
    intact = []
    for candidate in candidates:
        with contextlib.suppress(ValueError):
            files.decode_record(candidate)
            intact.append(candidate + b"\n")
    return intact[0] if len(intact) == 1 else None


def _restore(damage: list[files.Damage]) -> Iterator[tuple[int, list[bytes], files.Damage | None]]:
    """Per damaged spot: its offset, the records put right, and the damage left (or None).

    Two adjacent damaged lines are also tried together: a byte turned into a newline splits
    one record into two unreadable lines."""
    index = 0
    while index < len(damage):
        current = damage[index]
        restored = restore_one_byte(current.data)
        if restored is not None:
            yield current.offset, [restored], None
            index += 1
            continue
        following = damage[index + 1] if index + 1 < len(damage) else None
        if following is not None and current.offset + len(current.data) == following.offset:
            joined = restore_one_byte(current.data + following.data)
            if joined is not None:
                yield current.offset, [joined], None
                index += 2
                continue
        yield current.offset, [], current
        index += 1


def repair(db: str, *, now: datetime) -> RepairReport:
    """Move the damaged records of the store at ``db`` aside, keeping every intact one."""
    paths = _paths(db)
    result = RepairReport(paths.db)
    compact_fd = files.open_lock(paths.compact_lock)
    lock_fd = files.open_lock(paths.lock)
    try:
        try:
            fcntl.flock(compact_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RepairRefused(f"a compaction of {paths.db} is running; try again in a minute") from None
        with files.flocked(lock_fd, exclusive=True), files.paused_gc():
            found = CheckReport(paths.db)
            loaded = _load(paths, found)
            if loaded is None:
                raise RepairRefused(
                    f"{found.problems[0].line()}. This tool repairs journal records only: restore the "
                    "snapshot from a backup (or move the store away to start afresh)"
                )
            result.torn_bytes = found.torn_bytes
            if not loaded.scan.damage:
                return result
            _rewrite(paths, loaded, result, now)
    finally:
        os.close(lock_fd)
        os.close(compact_fd)
    return result


def _rewrite(paths: files.Paths, loaded: _Loaded, result: RepairReport, now: datetime) -> None:
    tables, scan = loaded.tables, loaded.scan
    counters = tables["counters"]
    floors: dict[str, int] = {}
    events: list[tuple[int, list[files.Op] | files.Damage]] = list(scan.records)
    for offset, restored, lost in _restore(scan.damage):
        events.extend((offset, files.decode_record(line[:-1])) for line in restored)
        result.restored += len(restored)
        if lost is not None:
            events.append((offset, lost))
    events.sort(key=lambda event: event[0])
    for _, event in events:
        if isinstance(event, files.Damage):
            current = {key[0]: int(doc["last"]) for key, doc in counters.items()}
            for ws, floor in number_floors(current, event.data).items():
                floors[ws] = max(floors.get(ws, 0), floor)
        else:
            files.apply_ops(tables, event, paths.journal)
    for ws, floor in sorted(floors.items()):
        stored = int(counters[(ws,)]["last"]) if (ws,) in counters else 0
        if floor > stored:
            counters[(ws,)] = {"workspace": ws, "last": floor}
        result.counters[ws] = (stored, max(stored, floor))
    result.kept = len(scan.records)
    result.damaged = scan.damage
    result.lost = len(events) - result.kept - result.restored

    aside = f"{paths.journal}.damaged-{now:%Y%m%dT%H%M%SZ}"
    suffix = 1
    while os.path.exists(aside):
        suffix += 1
        aside = f"{paths.journal}.damaged-{now:%Y%m%dT%H%M%SZ}-{suffix}"
    tmp = files.write_temp_file(aside, b"".join(d.data for d in scan.damage))
    os.replace(tmp, aside)
    files.fsync_dir(paths.directory)
    result.aside = aside

    generation = max(loaded.meta["generation"], loaded.header.generation) + 1
    # base_* lets a crash between the two renames replay only the (dropped) torn tail of the
    # old journal; prev_generation None makes running processes reload the new snapshot.
    meta = files.snapshot_meta(generation, loaded.header.generation, scan.end)
    snapshot_tmp: str | None = files.write_snapshot(paths.db, tables, meta)
    try:
        journal_tmp = files.write_temp_file(paths.journal, files.encode_header(generation))
        assert snapshot_tmp is not None
        os.replace(snapshot_tmp, paths.db)
        snapshot_tmp = None
        os.replace(journal_tmp, paths.journal)
        files.fsync_dir(paths.directory)
    finally:
        if snapshot_tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(snapshot_tmp)


def db_command(url: str, command: str, *, where: str, now: datetime, stdout: TextIO, stderr: TextIO) -> int:
    """Run ``servechain db check`` or ``db repair`` on ``url`` and print the outcome."""
    if url.startswith(("postgresql://", "postgres://")):
        print(
            f"servechain db {command} works on the embedded TinyDB store only; {where} is PostgreSQL, which "
            "checks its own pages (use pg_amcheck, and restore from a backup on damage).",
            file=stderr,
        )
        return EXIT_USAGE
    path = url.removeprefix("tinydb://").removeprefix("file://")
    try:
        if command == "check":
            report = check(path)
            for problem in report.problems:
                print(problem.line(), file=stdout)
            if report.torn_bytes:
                print(
                    f"note: {report.torn_bytes} bytes of a torn write at the end of the journal (never "
                    "acknowledged; dropped at the next write)",
                    file=stdout,
                )
            if not report.clean:
                print(
                    f"{len(report.problems)} damaged; {report.records} journal records intact. "
                    f"`servechain db repair --db {report.db}` restores what it can and moves the damaged bytes aside.",
                    file=stderr,
                )
                return EXIT_DAMAGED
            print(f"{report.db}: no damage ({report.records} journal records intact).", file=stdout)
            return EXIT_OK
        done = repair(path, now=now)
    except (StorageError, OSError) as error:
        detail = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        print(f"servechain: db {command} on {where} failed: {detail}", file=stderr)
        return EXIT_DAMAGED
    if not done.damaged:
        torn = f" (dropped nothing; {done.torn_bytes} torn bytes go at the next write)" if done.torn_bytes else ""
        print(f"{done.db}: no damage, nothing to repair{torn}.", file=stdout)
        return EXIT_OK
    for damage in done.damaged:
        print(f"moved aside: byte {damage.offset}, {len(damage.data)} bytes ({damage.problem})", file=stdout)
    for ws, (before, after) in done.counters.items():
        if after > before:
            print(f"workspace {ws}: request numbers continue above {after} (was {before}), none reused", file=stdout)
    print(
        f"Repaired {done.db}: kept {done.kept} intact journal records, restored {done.restored} damaged "
        f"one(s) (a single wrong byte each), lost {done.lost}; the damaged bytes ({done.moved_bytes}) are in "
        f"{done.aside}.",
        file=stdout,
    )
    return EXIT_OK
