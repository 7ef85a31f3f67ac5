"""Backups of a store as one file (``servechain db backup`` / ``db restore``).

A backup is a JSON-lines file: a header naming the format, the time and the count of records
per kind, then one ``{"kind": ..., "doc": ...}`` line per record in the backend-neutral shapes
:mod:`storage.migrate` copies. The records are read in one snapshot (the embedded store reads
every table under its file lock at once, so a backup taken while the bot runs holds exactly the
changes stored before it and none half-way), written to a temporary file, flushed to disk and
renamed into place, so a backup file is always whole.

Restoring verifies the file against its header, then loads it into a store. A store that holds
records is only overwritten when asked (``replace``): its records are deleted kind by kind and
the backup's loaded, except request-number counters, which only ever rise, so a number handed
out after the backup is never handed out again. PostgreSQL has its own consistent tools
(``pg_dump`` / ``pg_restore``); :func:`write_backup` refuses it and names them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.errors import StorageError
from bot.ports import Store
from storage.migrate import KINDS, count

FORMAT = "servechain-backup"
VERSION = 1
BATCH = 2_000

PG_TOOLS = (
    "PostgreSQL stores are backed up with PostgreSQL's own tools, consistent while the bot runs: "
    "pg_dump --format=custom --file=servechain.dump DBURL, restored with "
    "pg_restore --clean --if-exists --dbname=DBURL servechain.dump"
)


class BackupError(StorageError):
    """A backup can't be written or a file is not a whole servechain backup; the message says why."""


@dataclass
class BackupReport:
    """What a backup holds, and (after a restore) what the store holds."""

    path: str
    created_at: str
    counts: Counter[str] = field(default_factory=Counter)
    store: Counter[str] = field(default_factory=Counter)

    @property
    def verified(self) -> bool:
        """True when the store holds exactly the backup's records (counters: at least as many)."""
        return all(
            self.store[kind] >= number if kind == "counters" else self.store[kind] == number
            for kind, number in self.counts.items()
        )

    def lines(self) -> list[str]:
        """A per-kind table for people (with the store's column once restored)."""
        restored = bool(self.store)
        rows = [f"{'kind':<12} {'backup':>8}" + (f" {'store':>8}" if restored else "")]
        for kind in KINDS:
            if self.counts[kind] or self.store[kind]:
                row = f"{kind:<12} {self.counts[kind]:>8}"
                rows.append(row + (f" {self.store[kind]:>8}" if restored else ""))
        return rows


def write_backup(store: Store, path: str | Path, *, now: datetime) -> BackupReport:
    """Write every record of ``store`` (one snapshot) to a new file at ``path``."""
    if type(store).__name__ == "PostgresStore":
        raise BackupError(PG_TOOLS)
    target = Path(path)
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name (a backup never overwrites one)")
    records = list(store.export_records())  # the snapshot: everything is read before anything is written
    counts = Counter(kind for kind, _doc in records)
    created_at = now.isoformat()
    header = {"format": FORMAT, "version": VERSION, "created_at": created_at, "counts": dict(counts)}
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
    except OSError as error:
        raise BackupError(f"can't write a backup in {folder}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(header) + "\n")
            for kind, doc in records:
                out.write(json.dumps({"kind": kind, "doc": doc}, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, target)  # fails rather than replaces if the name was taken meanwhile
    except FileExistsError:
        raise BackupError(f"{target} already exists; choose a new file name") from None
    except OSError as error:
        raise BackupError(f"can't write {target}: {error.strerror or error}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return BackupReport(path=str(target), created_at=created_at, counts=counts)


def read_backup(path: str | Path) -> tuple[BackupReport, dict[str, list[dict[str, Any]]]]:
    """The backup's header and its records per kind; BackupError when the file is not a whole backup."""
    source = Path(path)
    try:
        lines = iter(source.read_text(encoding="utf-8").splitlines())
    except FileNotFoundError:
        raise BackupError(f"{source} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackupError(f"can't read {source}: {error}") from None
    header = _header(source, lines)
    records: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(lines, start=2):
        try:
            entry = json.loads(line)
            kind, doc = entry["kind"], entry["doc"]
        except (ValueError, KeyError, TypeError):
            raise BackupError(f"{source} line {number} is not a backup record (the file is damaged)") from None
        if kind not in KINDS or not isinstance(doc, dict):
            raise BackupError(f"{source} line {number} holds an unknown kind of record {kind!r}")
        records.setdefault(kind, []).append(doc)
    counts: Counter[str] = Counter({kind: len(docs) for kind, docs in records.items()})
    expected = Counter({str(k): int(v) for k, v in header["counts"].items() if v})
    if counts != expected:
        raise BackupError(
            f"{source} is incomplete: its header lists {sum(expected.values())} records, it holds "
            f"{sum(counts.values())} (was it cut off while copying?)"
        )
    return BackupReport(path=str(source), created_at=str(header["created_at"]), counts=counts), records


def _header(source: Path, lines: Iterator[str]) -> dict[str, Any]:
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT or not isinstance(header.get("counts"), dict):
        raise BackupError(f"{source} is not a servechain backup (made by `servechain db backup`)")
    if header.get("version") != VERSION:
        raise BackupError(
            f"{source} is a backup of format version {header.get('version')}; this version reads {VERSION}"
        )
    return header


def restore_backup(path: str | Path, store: Store, *, replace: bool) -> BackupReport:
    """Load the backup at ``path`` into ``store`` and count what the store then holds. A store
    holding records is refused (BackupError) unless ``replace``; then its records are replaced
    by the backup's (request-number counters only ever rise)."""
    report, records = read_backup(path)
    held = count(store)
    if sum(held.values()) and not replace:
        raise BackupError(
            f"the store already holds {sum(held.values())} records; restoring replaces them all. "
            "Stop every servechain process using it, then run again with --yes"
        )
    if held:
        existing: dict[str, list[dict[str, Any]]] = {}
        for kind, doc in store.export_records():
            if kind != "counters":
                existing.setdefault(kind, []).append(doc)
        for kind, docs in existing.items():
            for start in range(0, len(docs), BATCH):
                store.delete_records(kind, docs[start : start + BATCH])
    for kind in KINDS:
        docs = records.get(kind, [])
        for start in range(0, len(docs), BATCH):
            store.import_records(kind, docs[start : start + BATCH])
    report.store = count(store)
    return report
