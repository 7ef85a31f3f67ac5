"""Drills for a damaged or full embedded store: checksummed journal records, the tail rule,
``servechain db check`` / ``db repair``, damage seen by a running process, and a full disk.

Run with ``-s`` to see each drill's figures."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tinydb
from aiohttp.test_utils import TestClient, TestServer

from bot.errors import StorageError
from bot.models import Request
from bot.settings import Settings
from handlers.server import build_web_app
from storage import _journal as files
from storage.repair import MIN_REQUEST_BYTES, check, number_floors, repair, restore_one_byte
from storage.tinydb_store import StoreDamaged, TinyDBStore
from tests.contract.factories import NOW, request
from tests.e2e.stack import environment, free_port, servechain, wait_until_healthy

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys
from datetime import UTC, datetime
from bot.models import Request
from storage.tinydb_store import TinyDBStore

store = TinyDBStore(sys.argv[1], compaction="off")
for i in range(int(sys.argv[2])):
    stored, _ = store.create_request(
        Request(requester_id="P-w", provider_id=f"P-{i % 7}", text=f"drill {i}", created_at=datetime.now(UTC))
    )
    print(stored.number, flush=True)
store.close()
"""


def _write_acknowledged(path: Path, count: int) -> list[int]:
    """Create ``count`` requests in a separate process; the numbers it was told were stored."""
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), str(count)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [int(line) for line in done.stdout.split()]


def _cli(*args: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*servechain(), *args], env=environment(db), capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _line_offsets(journal: Path) -> list[int]:
    """Byte offset of every record line (the header excluded)."""
    data = journal.read_bytes()
    offsets, pos = [], data.index(b"\n") + 1
    while pos < len(data):
        offsets.append(pos)
        pos = data.index(b"\n", pos) + 1
    return offsets


def _damage(journal: Path, at: int, data: bytes | None = None, *, xor: int = 0x20) -> None:
    """Overwrite bytes at ``at`` (or flip bits of one byte) in place, as a bad disk would."""
    with journal.open("r+b") as handle:
        handle.seek(at)
        if data is None:
            data = bytes([handle.read(1)[0] ^ xor])
            handle.seek(at)
        handle.write(data)


def _numbers(store: TinyDBStore) -> list[int]:
    return [r.number for r in store.iter_requests("default")]


# --- the record format and the tail rule -------------------------------------------------------


def test_every_record_carries_a_checksum_and_stays_json(tmp_path: Path) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        store.create_request(request())
    line = (tmp_path / "db.json.journal").read_bytes().split(b"\n")[1]
    record = json.loads(line)
    assert set(record) == {"c", "ops"}
    assert files.decode_record(line) == record["ops"]


def test_a_journal_written_before_checksums_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.create_request(request())
    journal = Path(f"{path}.journal")
    old_style = [
        files.encode_line({"ops": [["put", "requests", {**request().model_dump(mode="json"), "number": n}]]})
        for n in (2, 3)
    ]
    counter = files.encode_line({"ops": [["put", "counters", {"workspace": "default", "last": 3}]]})
    with journal.open("ab") as handle:
        handle.write(b"".join(old_style) + counter)

    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1, 2, 3]
        assert store.create_request(request())[0].number == 4
    assert check(str(path)).clean


def test_a_torn_last_write_is_dropped_with_one_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.create_request(request())
    with Path(f"{path}.journal").open("ab") as handle:
        handle.write(files.encode_record([["put", "claims", {"workspace": "default", "key": "k", "at": "x"}]])[:40])

    with caplog.at_level(logging.WARNING), TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1]
        store.get_request("default", 1)
        assert store.create_request(request())[0].number == 2
    torn = [r for r in caplog.records if "torn write" in r.getMessage()]
    assert len(torn) == 1
    assert "never acknowledged" in torn[0].getMessage()


def test_a_damaged_last_record_is_damage_not_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        for _ in range(3):
            store.create_request(request())
    journal = Path(f"{path}.journal")
    last = _line_offsets(journal)[-1]
    _damage(journal, last + 60)

    with pytest.raises(StoreDamaged, match=f"damaged at byte {last} .*servechain db repair --db"):
        TinyDBStore(path, compaction="off")


def test_a_last_record_whose_newline_is_damaged_is_not_taken_for_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        for _ in range(3):
            store.create_request(request())
    journal = Path(f"{path}.journal")
    _damage(journal, journal.stat().st_size - 1, b"\x00")

    with pytest.raises(StoreDamaged, match="newline is damaged"):
        TinyDBStore(path, compaction="off")
    assert repair(str(path), now=NOW).restored == 1
    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1, 2, 3]


def test_one_wrong_byte_anywhere_in_a_record_is_put_right() -> None:
    line = files.encode_record([["put", "requests", {**request().model_dump(mode="json"), "number": 7}]])
    for position in range(len(line) - 1):
        for change in (0x01, 0x80, 0x5A):
            damaged = bytearray(line)
            damaged[position] ^= change
            if damaged[position] == ord("\n"):
                continue  # splits the line in two: covered by the drill below
            assert restore_one_byte(bytes(damaged)) == line, (position, change)


def test_no_record_allocates_more_numbers_than_it_has_room_for() -> None:
    smallest = Request(workspace="", requester_id="", provider_id="", text="", created_at=NOW)
    op = ["put", "requests", smallest.model_dump(mode="json")]
    assert len(json.dumps(op, separators=(",", ":"))) > MIN_REQUEST_BYTES
    assert number_floors({"default": 10}, b"x" * (3 * MIN_REQUEST_BYTES)) == {"default": 13}
    assert number_floors({}, b'{"workspace":"acme","number":41') == {"acme": 41}


# --- drills: damage in the middle and at the tail, check and repair through the real CLI ---------


def test_drill_flipped_bytes_in_the_middle_and_at_the_tail_are_detected_and_repaired_losing_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.json"
    acknowledged = _write_acknowledged(db, 60)
    journal = Path(f"{db}.journal")
    offsets = _line_offsets(journal)
    middle, split, tail = offsets[29], offsets[40], offsets[-1]
    _damage(journal, middle + 100)
    _damage(journal, split + 50, b"\n")  # a byte turned into a newline: two unreadable lines
    _damage(journal, tail + 80)  # the newline is intact: damage, not a torn write

    checked = _cli("db", "check", db=db)
    assert checked.returncode == 1, checked.stderr
    reported = [line for line in checked.stdout.splitlines() if "byte" in line]
    assert [int(line.split(" byte ")[1].split(":")[0]) for line in reported] == [middle, split, split + 51, tail]

    started = _cli("serve", "--port", str(free_port()), db=db)
    assert started.returncode == 1
    assert "Traceback" not in started.stderr
    refusal = [line for line in started.stderr.splitlines() if line.startswith("servechain:")]
    assert len(refusal) == 1 and f"damaged at byte {middle}" in refusal[0] and "db repair" in refusal[0]

    repaired = _cli("db", "repair", db=db)
    assert repaired.returncode == 0, repaired.stderr
    aside = next(tmp_path.glob("db.json.journal.damaged-*"))
    with TinyDBStore(db, compaction="off") as store:
        stored = _numbers(store)
        next_number = store.create_request(request())[0].number
    assert stored == acknowledged == list(range(1, 61))
    assert next_number == 61
    assert _cli("db", "check", db=db).returncode == 0
    tinydb.TinyDB(db, access_mode="r").close()
    print(
        f"\ndrill flipped bytes: {len(acknowledged)} acknowledged, 4 damaged lines at {middle}, {split}, "
        f"{split + 51}, {tail}; repair kept {len(stored)} requests, {aside.stat().st_size} bytes moved aside to "
        f"{aside.name}, next number {next_number}\n{repaired.stdout.strip()}"
    )


def test_drill_unrecoverable_damage_at_the_tail_never_reuses_a_number(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    acknowledged = _write_acknowledged(db, 20)
    journal = Path(f"{db}.journal")
    tail = _line_offsets(journal)[-1]
    _damage(journal, tail + 30, b"#" * 12)  # too much for a one-byte fix; the newline is intact
    damaged_line = journal.read_bytes()[tail:]

    with pytest.raises(StoreDamaged):  # before: dropped silently, and R-20 was handed out again
        TinyDBStore(db, compaction="off")
    checked = _cli("db", "check", db=db)
    assert checked.returncode == 1
    assert f"byte {tail}: checksum mismatch" in checked.stdout

    repaired = _cli("db", "repair", db=db)
    assert repaired.returncode == 0, repaired.stderr
    assert "lost 1" in repaired.stdout
    aside = next(tmp_path.glob("db.json.journal.damaged-*"))
    assert aside.read_bytes() == damaged_line
    with TinyDBStore(db, compaction="off") as store:
        kept = _numbers(store)
        next_number = store.create_request(request())[0].number
    assert kept == acknowledged[:-1]
    assert next_number > max(acknowledged)
    print(
        f"\ndrill damaged tail: {len(acknowledged)} acknowledged, the last record ({aside.stat().st_size} bytes) "
        f"unrecoverable and moved aside; {len(kept)} kept; next number {next_number} "
        f"(highest ever acknowledged {max(acknowledged)})\n{repaired.stdout.strip()}"
    )


def test_check_and_repair_refuse_postgresql_clearly(tmp_path: Path) -> None:
    for command in ("check", "repair"):
        done = _cli("db", command, "--db", "postgresql://servechain:S3cret@127.0.0.1/nowhere", db=tmp_path / "x")
        assert done.returncode == 2
        assert "embedded TinyDB store only" in done.stderr
        assert "S3cret" not in done.stderr + done.stdout


def test_repair_refuses_an_unreadable_snapshot_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    with TinyDBStore(db, compaction="off") as store:
        store.create_request(request())
    db.write_text('{"requests": {"1": ')

    with pytest.raises(StorageError, match="restore the snapshot from a backup"):
        repair(str(db), now=NOW)
    assert db.read_text() == '{"requests": {"1": '
    assert not list(tmp_path.glob("*.damaged-*"))


# --- a running process -------------------------------------------------------------------------------


def test_a_running_process_reports_damage_in_records_it_already_applied_and_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off", verify_interval=0) as store:
        for _ in range(5):
            store.create_request(request())
        assert store.health()["damaged"] is False
        journal = Path(f"{path}.journal")
        second = _line_offsets(journal)[1]
        _damage(journal, second + 90)

        health = store.health()
        assert health["damaged"] is True
        assert health["damage"] == [{"file": str(journal), "byte": second, "problem": "checksum mismatch"}]
        assert store.create_request(request())[0].number == 6  # its memory holds the intact state

    with pytest.raises(StoreDamaged):
        TinyDBStore(path)
    assert repair(str(path), now=NOW).restored == 1
    with TinyDBStore(path) as store:
        assert _numbers(store) == [1, 2, 3, 4, 5, 6]


def test_damage_in_records_another_process_appended_stops_use_until_repaired(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    reader = TinyDBStore(path, compaction="off", verify_interval=0)
    try:
        reader.create_request(request())
        _write_acknowledged(path, 3)
        journal = Path(f"{path}.journal")
        _damage(journal, _line_offsets(journal)[2] + 90, b"####")

        with pytest.raises(StoreDamaged, match="db repair"):
            reader.create_request(request())  # would reuse the damaged record's number
        assert reader.health()["damaged"] is True

        done = repair(str(path), now=NOW)
        assert (done.kept, done.lost) == (3, 1)
        assert _numbers(reader) == [1, 2, 4]
        assert reader.create_request(request())[0].number > 4
        assert reader.health()["damaged"] is False
    finally:
        reader.close()


def test_healthz_shows_the_store_damage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith(("SLACK_", "MICROSOFT_", "SERVECHAIN_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SERVECHAIN_TEAMS", "1")
    path = tmp_path / "db.json"
    store = TinyDBStore(path, compaction="off", verify_interval=0)
    store.create_request(request())
    store.create_request(request())
    journal = Path(f"{path}.journal")
    first = _line_offsets(journal)[0]
    _damage(journal, first + 70)

    async def get_health() -> dict[str, object]:
        app = build_web_app(Settings(), store, deliver=False)
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/healthz")
            assert response.status == 200
            return dict(await response.json())

    try:
        body = asyncio.run(get_health())
    finally:
        store.close()
    assert body["ok"] is True
    assert body["store"]["damaged"] is True  # type: ignore[index]
    assert body["store"]["damage"][0]["byte"] == first  # type: ignore[index]


# --- a full disk -----------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own (root only), so filling it harms nothing else."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the file system to the last byte; returns the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 16, 1 << 12, 1 << 8, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_drill_full_disk_restart_succeeds_and_serves(
    small_disk: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = small_disk / "db.json"
    with TinyDBStore(db, compaction="off") as store:
        for i in range(1_100):
            store.create_request(request(text=f"request {i} " + "x" * 200))
    journal_bytes = Path(f"{db}.journal").stat().st_size
    filler = _fill(small_disk)
    os.truncate(filler, filler.stat().st_size - 300_000)
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize

    port = free_port()
    log = small_disk.parent / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*servechain(), "serve", "--port", str(port), "--host", "127.0.0.1"],
            env=environment(db),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        wait_until_healthy(port, server, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(15)
    assert health["ok"] is True and health["store"]["damaged"] is False

    with caplog.at_level(logging.WARNING), TinyDBStore(db, compaction="inline") as store:
        numbers = [store.create_request(request())[0].number for _ in range(20)]
        postponed = [r for r in caplog.records if "compaction" in r.getMessage() and "postponed" in r.getMessage()]
        assert numbers == list(range(1_101, 1_121))
        assert len(postponed) == 1 and "bytes free" in postponed[0].getMessage()
        assert store.health()["compaction_postponed"]

        # Room reported but the disk fills during the compaction itself: ENOSPC, logged once.
        monkeypatch.setattr(files, "compaction_room", lambda paths: (1 << 40, 0))
        caplog.clear()
        store._compact_retry_at = 0
        store.create_request(request())
        store._compact_retry_at = 0
        store.create_request(request())
        failed = [r for r in caplog.records if "postponed" in r.getMessage()]
        assert len(failed) == 1 and "No space left" in failed[0].getMessage()
        monkeypatch.undo()

        filler.unlink()
        store._compact_retry_at = 0
        store.create_request(request())
        assert store._journal_lines <= 1 and "compaction_postponed" not in store.health()
        assert _numbers(store) == list(range(1, 1_124))
    assert not list(small_disk.glob("*.tmp-*"))
    tinydb.TinyDB(db, access_mode="r").close()
    print(
        f"\ndrill full disk: journal {journal_bytes} bytes / 1,100 lines, {free} bytes free at restart; serve "
        f"answered /healthz {health['store']}; 22 writes while compaction was postponed (1 log line per cause); "
        f"compacted once room returned; 1,123 requests kept"
    )


def test_opening_writes_nothing_even_with_a_long_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        for _ in range(30):
            store.create_request(request())

    def no_room(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_snapshot", no_room)
    monkeypatch.setattr(files, "write_temp_file", no_room)
    started = time.monotonic()
    with TinyDBStore(path, open_compact_lines=10, compaction="inline") as store:
        assert _numbers(store) == list(range(1, 31))
    assert time.monotonic() - started < 5


def test_quick_verification_finds_the_same_damage_as_a_full_parse(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        for _ in range(6):
            store.create_request(request())
    journal = Path(f"{path}.journal")
    offsets = _line_offsets(journal)
    _damage(journal, offsets[1] + 3)  # inside the checksum's digits
    _damage(journal, offsets[3] + 1)  # the prefix: no longer looks checksummed
    _damage(journal, offsets[4] + 200)
    data = journal.read_bytes()

    full = files.scan_journal(data[offsets[0] :], offsets[0])
    quick = files.scan_journal(data[offsets[0] :], offsets[0], parse=False)
    assert [d.offset for d in quick.damage] == [d.offset for d in full.damage] == [offsets[1], offsets[3], offsets[4]]
