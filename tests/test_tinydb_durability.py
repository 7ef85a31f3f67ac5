"""Durability of the embedded store on real files: reopen, compaction, crashes, two writers."""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tinydb

from bot.errors import Conflict, StorageError
from bot.models import CardRef, Status
from storage import _journal as files
from storage.tinydb_store import TinyDBStore
from tests.contract.factories import NOW, at, kudos, outbox_item, person, request, team

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys
from datetime import UTC, datetime
from bot.models import Request
from storage.tinydb_store import TinyDBStore

path, mode = sys.argv[1], sys.argv[5]
count, claims, compact_lines = (int(arg) for arg in sys.argv[2:5])
store = TinyDBStore(path, compact_lines=compact_lines, compaction=mode)
now = datetime.now(UTC)
for i in range(count):
    stored, _ = store.create_request(
        Request(requester_id="P-w", provider_id=f"P-{i % 7}", text="x" * 2500, created_at=now)
    )
    print("R", stored.number, flush=True)
    if i < claims:
        print("C", i, int(store.claim("default", f"key-{i}", at=now)), flush=True)
store.close()
"""
"""A writer process: ``count`` creates (each printed once acknowledged) and ``claims`` claims."""


def _start_writer(
    path: Path, count: int, *, claims: int = 0, compact_lines: int = 20_000, mode: str = "inline"
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(count), str(claims), str(compact_lines), mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _numbers(store: TinyDBStore, workspace: str = "default") -> list[int]:
    return [r.number for r in store.iter_requests(workspace)]


def _fill(store: TinyDBStore) -> None:
    """One of every kind of record, some of them changed after they were written."""
    people = [person("alice", slack_ids={"T1": "U-A"}), person("bob", teams_id="aad-bob")]
    store.save_org(people, [team("T-fin", "Finance")])
    first, _ = store.create_request(request(), build_outbox=lambda r: [outbox_item(f"card:{r.ref}")])
    store.update_request(first.model_copy(update={"status": Status.DONE}), idempotency_key="done-1")
    for i in range(5):
        store.create_request(request(provider=f"P-{i}", workspace="acme" if i % 2 else "default"))
    store.add_kudos(kudos("k1"), outbox=[outbox_item("kudos:k1")])
    store.claim("default", "nudge:R-2", at=NOW)
    item = store.get_outbox_item("card:R-1")
    assert item is not None
    store.save_outbox_item(item.model_copy(update={"state": "sent"}))
    store.save_card_ref(CardRef(card_key="R-1", platform="slack", ref="C1/1.1"))
    store.put_doc("settings", "default", "main", {"tz": "UTC"})
    store.put_doc("settings", "default", "gone", {"x": 1})
    store.delete_doc("settings", "default", "gone")


def _check_filled(store: TinyDBStore) -> None:
    assert _numbers(store) == [1, 2, 3, 4]
    assert _numbers(store, "acme") == [1, 2]
    assert store.get_request("default", 1).status == Status.DONE  # type: ignore[union-attr]
    assert store.get_request("default", 1).version == 1  # type: ignore[union-attr]
    assert store.find_person("default", slack_id=("T1", "U-A")).handle == "alice"  # type: ignore[union-attr]
    assert store.find_person("default", teams_id="aad-bob").handle == "bob"  # type: ignore[union-attr]
    assert [t.name for t in store.list_teams("default")] == ["Finance"]
    assert [k.id for k in store.find_kudos("default", recipient_id="P-bob")] == ["k1"]
    assert store.claim("default", "nudge:R-2", at=NOW) is False
    assert store.get_outbox_item("card:R-1").state == "sent"  # type: ignore[union-attr]
    assert [i.key for i in store.due_outbox(now=at(1))] == ["kudos:k1"]
    assert store.get_card_ref("default", "R-1", "slack").ref == "C1/1.1"  # type: ignore[union-attr]
    assert store.list_docs("settings", "default") == [("main", {"tz": "UTC"})]
    assert store.update_request(request(), idempotency_key="done-1")[1] is False
    assert store.create_request(request())[0].number == 5


# --- reopening and compaction -------------------------------------------------------------------


def test_reopened_store_sees_everything_written(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)

    with TinyDBStore(path, compaction="off") as store:
        _check_filled(store)


def test_reopened_store_sees_everything_after_compactions(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compact_lines=3, compaction="inline") as store:
        _fill(store)
        assert store._journal_gen > 3  # several compactions ran during the writes

    with TinyDBStore(path) as store:
        _check_filled(store)
    meta = tinydb.TinyDB(path, access_mode="r").table("meta").all()[0]
    assert meta["generation"] > 3


def test_background_compaction_in_a_child_process_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compact_lines=20, compaction="process") as store:
        for _ in range(60):
            store.create_request(request())
        store._wait_for_compactor(timeout=30)
        store.create_request(request())
        assert store._journal_gen > 1
        assert store._journal_lines < 60
        assert _numbers(store) == list(range(1, 62))

    with TinyDBStore(path) as store:
        assert _numbers(store) == list(range(1, 62))


def test_second_handle_follows_compactions_it_did_not_see(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    writer = TinyDBStore(path, compaction="off")
    reader = TinyDBStore(path, compaction="off")
    try:
        writer.create_request(request())
        assert _numbers(reader) == [1]
        writer.create_request(request())
        writer.compact()  # one generation: the reader switches journals without reloading
        assert _numbers(reader) == [1, 2]
        writer.create_request(request())
        writer.compact()
        writer.create_request(request())
        writer.compact()  # two generations at once: the reader reloads the snapshot
        writer.create_request(request())
        assert _numbers(reader) == [1, 2, 3, 4, 5]
        assert reader.create_request(request())[0].number == 6
        assert _numbers(writer) == [1, 2, 3, 4, 5, 6]
    finally:
        writer.close()
        reader.close()


def test_crash_between_the_two_renames_of_a_compaction_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.json"
    real_replace = os.replace

    def replace_snapshot_only(src: str, dst: str) -> None:
        if dst.endswith(".journal"):
            raise OSError(errno.EIO, "simulated crash before the journal rename")
        real_replace(src, dst)

    with TinyDBStore(path, compaction="off") as store:
        for _ in range(5):
            store.create_request(request())
        monkeypatch.setattr(files.os, "replace", replace_snapshot_only)
        with pytest.raises(StorageError):
            store.compact()
        monkeypatch.setattr(files.os, "replace", real_replace)
        store.create_request(request())  # appended to the old journal after the new snapshot

    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1, 2, 3, 4, 5, 6]
        store.create_request(request())
        assert store.compact() is True
    with TinyDBStore(path) as store:
        assert _numbers(store) == list(range(1, 8))


# --- torn and corrupt journals ----------------------------------------------------------------------


def test_torn_last_line_is_ignored_and_cut_off_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.create_request(request())
    journal = Path(str(path) + ".journal")
    with journal.open("ab") as handle:
        handle.write(b'{"ops":[["put","requests",{"workspace":"default","numb')

    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1]
        assert store.create_request(request())[0].number == 2
    assert b'"numb\n' not in journal.read_bytes()
    assert b"numb{" not in journal.read_bytes()
    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1, 2]


def test_every_acknowledged_write_is_one_fsynced_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_sync = files.sync_data
    synced: list[int] = []

    def counting_sync(fd: int) -> None:
        synced.append(fd)
        real_sync(fd)

    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        journal = Path(store.path + ".journal")
        monkeypatch.setattr(files, "sync_data", counting_sync)
        before = journal.stat().st_size
        store.create_request(request(), build_outbox=lambda r: [outbox_item("a"), outbox_item("b")])
        store.claim("default", "k", at=NOW)
        store.claim("default", "k", at=NOW)  # a repeat writes nothing
        store.get_request("default", 1)

        assert len(synced) == 2
        assert journal.read_bytes()[before:].count(b"\n") == 2


def _blocked_first_sync(
    monkeypatch: pytest.MonkeyPatch, store: TinyDBStore, waiting: int
) -> tuple[list[int], threading.Event]:
    """Make the first sync wait until ``waiting`` more writes are queued behind it; the list
    records every sync."""
    real_sync = files.sync_data
    synced: list[int] = []
    first = threading.Event()

    def slow_sync(fd: int) -> None:
        if not first.is_set():
            first.set()
            for _ in range(400):  # at most 2 s
                if len(getattr(store, "_queue", ())) >= waiting:
                    break
                threading.Event().wait(0.005)
        synced.append(fd)
        real_sync(fd)

    monkeypatch.setattr(files, "sync_data", slow_sync)
    return synced, first


def test_writes_waiting_for_a_sync_share_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        journal = Path(store.path + ".journal")
        before = journal.read_bytes().count(b"\n")
        synced, first = _blocked_first_sync(monkeypatch, store, waiting=19)
        numbers: list[int] = []

        def create() -> None:
            numbers.append(store.create_request(request())[0].number)

        threads = [threading.Thread(target=create) for _ in range(20)]
        threads[0].start()
        assert first.wait(10)
        for thread in threads[1:]:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert sorted(numbers) == list(range(1, 21))
        assert len(synced) == 2  # the first write's sync, then one for the 19 queued behind it
        assert journal.read_bytes().count(b"\n") - before == 20  # still one line per write
    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == list(range(1, 21))


def test_a_write_returns_only_once_its_line_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        synced: list[int] = []
        returned: list[int] = []
        release = threading.Event()
        real_sync = files.sync_data

        def held_sync(fd: int) -> None:
            assert release.wait(10)
            synced.append(fd)
            real_sync(fd)

        monkeypatch.setattr(files, "sync_data", held_sync)
        threads = [
            threading.Thread(target=lambda: returned.append(store.create_request(request())[0].number))
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        threading.Event().wait(0.2)
        assert returned == []
        release.set()
        for thread in threads:
            thread.join(10)
        assert sorted(returned) == [1, 2, 3, 4, 5]


def test_a_refused_write_in_a_shared_sync_fails_only_its_own_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        stored, _ = store.create_request(request())
        synced, first = _blocked_first_sync(monkeypatch, store, waiting=3)
        outcomes: dict[str, object] = {}

        def run(name: str, job: object) -> None:
            try:
                outcomes[name] = job()  # type: ignore[operator]
            except Exception as error:
                outcomes[name] = error

        jobs = {
            "first": lambda: store.claim("default", "first", at=NOW),
            "claim": lambda: store.claim("default", "k", at=NOW),
            "again": lambda: store.claim("default", "k", at=NOW),
            "a": lambda: store.update_request(stored.model_copy(update={"text": "a"}))[0].text,
            "b": lambda: store.update_request(stored.model_copy(update={"text": "b"}))[0].text,
        }
        threads = {name: threading.Thread(target=run, args=(name, job)) for name, job in jobs.items()}
        threads["first"].start()
        assert first.wait(10)
        for name in ("claim", "again", "a", "b"):
            threads[name].start()
        for thread in threads.values():
            thread.join(30)

        assert outcomes["first"] is True
        assert len(synced) == 2  # the four queued writes shared one sync
        assert sorted([outcomes["claim"], outcomes["again"]]) == [False, True]  # claimed once
        updates = [outcomes["a"], outcomes["b"]]
        assert sum(isinstance(outcome, Conflict) for outcome in updates) == 1  # the second saw the first's version
        winner = next(outcome for outcome in updates if isinstance(outcome, str))
        assert store.get_request("default", stored.number).text == winner


@pytest.mark.parametrize("sync_fails", [False, True])
def test_reads_go_on_during_a_sync_and_a_failed_sync_is_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync_fails: bool
) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        store.create_request(request())
        syncing, release = threading.Event(), threading.Event()
        real_sync = files.sync_data

        def held_sync(fd: int) -> None:
            syncing.set()
            assert release.wait(10)
            if sync_fails:
                raise OSError(errno.EIO, "I/O error")
            real_sync(fd)

        monkeypatch.setattr(files, "sync_data", held_sync)
        outcomes: dict[str, object] = {}

        def create() -> None:
            try:
                outcomes["create"] = store.create_request(request())[0].number
            except StorageError as error:
                outcomes["create"] = error

        writer = threading.Thread(target=create)
        writer.start()
        assert syncing.wait(10)
        assert store.get_request("default", 1) is not None  # not held up behind the sync
        assert "create" not in outcomes  # the write is not acknowledged before its sync
        release.set()
        writer.join(10)
        monkeypatch.undo()

        if sync_fails:
            assert isinstance(outcomes["create"], StorageError)
            assert store.get_request("default", 2) is None  # the state no longer holds it
            assert store.create_request(request())[0].number == 2
        else:
            assert outcomes["create"] == 2
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        assert _numbers(store) == [1, 2]


def test_failed_append_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.create_request(request())

        def disk_full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(files, "sync_data", disk_full)
        with pytest.raises(StorageError, match="journal"):
            store.create_request(request(), idempotency_key="k")
        monkeypatch.undo()
        assert _numbers(store) == [1]
        assert store.create_request(request(), idempotency_key="k")[0].number == 2
    with TinyDBStore(path, compaction="off") as store:
        assert _numbers(store) == [1, 2]


def test_corrupt_journal_line_followed_by_more_lines_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        for _ in range(3):
            store.create_request(request())
    journal = Path(str(path) + ".journal")
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"garbage" + lines[2][7:]
    journal.write_bytes(b"\n".join(lines))

    with pytest.raises(StorageError, match=str(journal)):
        TinyDBStore(path)


def test_corrupt_snapshot_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text('{"requests": {"1": ')

    with pytest.raises(StorageError, match=str(path)):
        TinyDBStore(path)


def test_unreadable_snapshot_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.mkdir()

    with pytest.raises(StorageError, match=str(path)):
        TinyDBStore(path)


def test_foreign_tinydb_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with tinydb.TinyDB(path) as db:
        db.table("shopping").insert({"item": "milk"})
    before = path.read_bytes()

    with pytest.raises(StorageError, match=str(path)):
        TinyDBStore(path)
    assert path.read_bytes() == before


def test_empty_tinydb_file_becomes_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    tinydb.TinyDB(path).close()

    with TinyDBStore(path) as store:
        assert store.create_request(request())[0].number == 1


def test_missing_snapshot_beside_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.create_request(request())
    path.unlink()

    with pytest.raises(StorageError, match="restore the snapshot"):
        TinyDBStore(path)


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "db.json")
    store.close()
    store.close()

    with pytest.raises(StorageError, match="closed"):
        store.get_request("default", 1)


# --- real processes ---------------------------------------------------------------------------------


def test_killed_writer_loses_no_acknowledged_request(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    acknowledged: list[int] = []
    for round_ in range(3):
        writer = _start_writer(path, 100_000, compact_lines=25)
        assert writer.stdout is not None
        for line in writer.stdout:
            acknowledged.append(int(line.split()[1]))
            if len(acknowledged) >= 40 * (round_ + 1):
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()

        with TinyDBStore(path, compaction="off") as store:
            stored = _numbers(store)
        assert set(acknowledged) <= set(stored)
        assert stored == list(range(1, len(stored) + 1))


def _fork_writer(path: str) -> None:
    store = _INHERITED[path]
    for _ in range(40):
        store.create_request(request())


_INHERITED: dict[str, TinyDBStore] = {}


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_store_opened_before_a_fork_still_excludes_across_the_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "db.json")
    _INHERITED[path] = TinyDBStore(path, compaction="off")
    try:
        context = multiprocessing.get_context("fork")
        children = [context.Process(target=_fork_writer, args=(path,)) for _ in range(3)]
        for child in children:
            child.start()
        _fork_writer(path)
        for child in children:
            child.join(30)
            assert child.exitcode == 0
        assert _numbers(_INHERITED[path]) == list(range(1, 161))
    finally:
        _INHERITED.pop(path).close()


def test_two_writer_processes_never_lose_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    count, claims = 300, 100
    writers = [
        _start_writer(path, count, claims=claims, compact_lines=120, mode=mode) for mode in ("process", "inline")
    ]
    outputs = [writer.communicate(timeout=60)[0] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0]

    created: list[int] = []
    wins: Counter[str] = Counter()
    for output in outputs:
        for line in output.splitlines():
            fields = line.split()
            if fields[0] == "R":
                created.append(int(fields[1]))
            else:
                wins[f"key-{fields[1]}"] += int(fields[2])
    assert sorted(created) == list(range(1, 2 * count + 1))
    assert wins == Counter({f"key-{i}": 1 for i in range(claims)})

    with TinyDBStore(path) as store:
        assert _numbers(store) == list(range(1, 2 * count + 1))
        assert all(store.claim("default", f"key-{i}", at=datetime.now(UTC)) is False for i in range(claims))
        store.compact()
    with tinydb.TinyDB(path, access_mode="r") as db:
        assert len(db.table("requests")) == 2 * count
        assert len(db.table("claims")) == claims
        assert db.table("counters").all() == [{"workspace": "default", "last": 2 * count}]
