"""The embedded store keeps requests compact: loaded from the snapshot's layout without
parsing their bodies, closed ones packed to bytes, and every read the same as before."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import tinydb

from bot.errors import StorageError
from bot.models import InboxItem, Request, Status
from storage import _journal as files
from storage import tinydb_store
from storage.tinydb_store import _INDEX_SPECS, EmbeddedLimits, TinyDBStore, _State, _Stub
from tests.contract.factories import NOW, outbox_item, person, request

ROOT = Path(__file__).resolve().parents[1]


def _fill(store: TinyDBStore, count: int = 30) -> list[Request]:
    """``count`` requests over three providers and two workspaces; every third one closed,
    one a sub-request."""
    stored = []
    for i in range(count):
        ws = "acme" if i % 5 == 4 else "default"
        made, _ = store.create_request(
            request(provider=f"P-{i % 3}", workspace=ws, text=f"Request {i} ✓", created_at=NOW + timedelta(minutes=i))
        )
        if i % 3 == 0:
            made, _ = store.update_request(made.model_copy(update={"status": Status.DONE}))
        stored.append(made)
    child, _ = store.create_request(request(provider="P-9", parent=1))
    stored.append(child)
    return stored


def _reads(store: TinyDBStore) -> dict[str, object]:
    """Everything the store answers about requests, as plain data."""
    out: dict[str, object] = {}
    for ws in ("default", "acme"):
        out[f"iter {ws}"] = [r.model_dump() for r in store.iter_requests(ws)]
        for provider in ("P-0", "P-1", "P-2", "P-9"):
            for open_only in (False, True):
                found = store.find_requests(ws, provider_id=provider, open_only=open_only)
                out[f"find {ws} {provider} {open_only}"] = [r.model_dump() for r in found]
        out[f"open {ws}"] = [r.number for r in store.find_requests(ws, open_only=True)]
        out[f"since {ws}"] = [r.number for r in store.find_requests(ws, created_since=NOW + timedelta(minutes=10))]
        out[f"limit {ws}"] = [r.number for r in store.find_requests(ws, requester_id="P-alice", limit=4)]
    out["parent"] = [r.number for r in store.find_requests("default", parent=1)]
    out["get"] = [store.get_request("default", n) for n in range(1, 30)]
    out["export"] = sorted(repr(record) for record in store.export_records())
    return out


def test_closed_requests_are_held_as_bytes_and_read_back_the_same(tmp_path: Path) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        stored = _fill(store)
        table = store._state.tables["requests"]
        closed = [r for r in stored if not r.status.is_open]
        assert closed and all(isinstance(table[(r.workspace, r.number)], _Stub) for r in closed)
        assert all(isinstance(table[(r.workspace, r.number)], dict) for r in stored if r.status.is_open)
        for made in stored:
            assert store.get_request(made.workspace, made.number) == made


def test_a_compacted_store_reopens_with_requests_left_in_the_file_and_answers_alike(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        before = _reads(store)
        assert store.compact()

    with TinyDBStore(path, compaction="off") as store:
        table = store._state.tables["requests"]
        assert all(isinstance(entry, _Stub) and entry.body is None for entry in table.values())
        assert _reads(store) == before
        # Writes on top of requests that live in the file: versions, numbering, reopening.
        first = store.get_request("default", 2)
        assert first is not None
        updated, _ = store.update_request(first.model_copy(update={"status": Status.CANCELLED}))
        assert updated.version == first.version + 1
        assert store.create_request(request())[0].number == 26
        assert [r.number for r in store.find_requests("default", provider_id="P-1", open_only=True)][-1] != 2


def test_an_open_request_is_read_from_the_file_once_and_a_closed_one_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        before = _reads(store)
        assert store.compact()

    with TinyDBStore(path, compaction="off") as store:
        reads: list[int] = []
        real = tinydb_store._Snapshot.read

        def counted(snapshot: tinydb_store._Snapshot, offset: int, length: int) -> bytes:
            reads.append(offset)
            return real(snapshot, offset, length)

        monkeypatch.setattr(tinydb_store._Snapshot, "read", counted)
        open_ones = [r.number for r in store.find_requests("default", open_only=True)]
        assert len(reads) == len(open_ones) > 0
        assert [r.number for r in store.find_requests("default", open_only=True)] == open_ones
        assert len(reads) == len(open_ones), "the open requests' bytes were kept"
        closed = [r["number"] for r in before["iter default"] if r["status"] == Status.DONE]  # type: ignore[attr-defined]
        store.get_request("default", closed[0])
        store.get_request("default", closed[0])
        assert len(reads) == len(open_ones) + 2, "a closed request stays in the file"
        assert _reads(store) == before


def test_the_snapshot_stays_a_tinydb_file_holding_every_record(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        stored = _fill(store)
        assert store.compact()

    db = tinydb.TinyDB(path, access_mode="r")
    rows = db.table("requests").all()
    assert sorted((r["workspace"], r["number"]) for r in rows) == sorted((r.workspace, r.number) for r in stored)
    assert db.table("meta").all()[0]["format"] == files.FORMAT
    db.close()


def test_a_snapshot_written_by_tinydb_itself_still_opens(tmp_path: Path) -> None:
    """A snapshot without a layout (an older version's, or another tool's) is parsed whole."""
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        assert store.compact()
        before = _reads(store)
    data = tinydb.TinyDB(path, access_mode="r").storage.read()
    assert data is not None
    data["meta"]["1"].pop("layout")
    data["meta"]["1"].pop("meta_at")
    path.unlink()
    with tinydb.TinyDB(path) as db:  # TinyDB's own writer: meta first, no layout
        db.storage.write(data)

    with TinyDBStore(path, compaction="off") as store:
        assert _reads(store) == before


def test_a_damaged_request_in_the_snapshot_stops_the_open_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        assert store.compact()
    data = bytearray(path.read_bytes())
    at = data.index(b"Request 7")
    data[at : at + 9] = b"Request X"  # same length: still valid JSON, only the checksum tells
    path.write_bytes(bytes(data))

    with pytest.raises(StorageError, match=f"{path}.*damaged"):
        TinyDBStore(path)


def test_bulk_request_index_matches_the_per_record_one(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store, count=60)
        assert store.compact()
    fd = os.open(path, os.O_RDONLY)
    try:
        _meta, tables, lazy = files.open_snapshot(fd, str(path))
        assert set(lazy) == {"requests"}
        bulk = _State(tables, lazy, -1)
        one_by_one = _State(tables)
        names = {name: at for at, name in enumerate(lazy["requests"].fields)}
        for key, entry in bulk.tables["requests"].items():
            one_by_one.tables["requests"][key] = entry
            one_by_one._index("requests", key, _Stub(names, entry.indexed, None))  # type: ignore[arg-type]
    finally:
        os.close(fd)
    assert set(_INDEX_SPECS["requests"]) == set(bulk.index["requests"])
    assert bulk.index["requests"] == one_by_one.index["requests"]


def test_iterating_requests_survives_a_reload_of_the_snapshot(tmp_path: Path) -> None:
    """iter_requests reads bodies as the caller iterates, from a descriptor of its own."""
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        assert store.compact()
    with TinyDBStore(path, compaction="off") as store:
        expected = [r.number for r in store.iter_requests("default")]
        iterator = store.iter_requests("default")
        first = next(iterator)
        snapshot, journal_fd = store._open_pair()
        store._install(snapshot, journal_fd)  # what a reload after `db repair` does
        assert [first.number, *(r.number for r in iterator)] == expected


def test_the_compactor_child_reads_and_writes_the_layout(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store)
        before = _reads(store)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(2):  # the second run reads the layout the first one wrote
        done = subprocess.run([sys.executable, "-P", files.__file__, str(path)], env=env, check=False)
        assert done.returncode == 0
    with TinyDBStore(path, compaction="off") as store:
        assert _reads(store) == before


# --- tested limits ----------------------------------------------------------------------------


def test_a_store_within_its_tested_limits_says_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        _fill(store, count=5)
    with caplog.at_level(logging.WARNING), TinyDBStore(tmp_path / "db.json") as store:
        assert store.beyond_tested_limits() is None
    assert not [r for r in caplog.records if "tested up to" in r.getMessage()]


def test_a_store_past_its_tested_limits_warns_once_at_start_up_and_names_db_migrate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        _fill(store, count=12)
        store.save_org([person(f"p{i}") for i in range(4)])
    monkeypatch.setattr(tinydb_store, "TESTED_LIMITS", EmbeddedLimits(requests=10, people=3, file_mb=1))

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            TinyDBStore(path).close()
    warnings = [r.getMessage() for r in caplog.records if "tested up to" in r.getMessage()]
    assert len(warnings) == 1
    assert "13 requests (tested up to 10) and 4 people (tested up to 3)" in warnings[0]
    assert f"servechain db migrate --from {path} --to postgresql://" in warnings[0]

    with TinyDBStore(path) as store:
        small = store.beyond_tested_limits(EmbeddedLimits(requests=10**6, people=10**6, file_mb=0))
        assert small is not None and "MB on disk (tested up to 0 MB)" in small


# --- sent outbox items and done inbox items -------------------------------------------------------


def test_sent_outbox_items_and_done_inbox_items_are_packed_and_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    with TinyDBStore(path, compaction="off") as store:
        store.enqueue([outbox_item("card:1"), outbox_item("card:2", created_at=NOW + timedelta(minutes=1))])
        first = store.get_outbox_item("card:1")
        assert first is not None
        sent = store.save_outbox_item(first.model_copy(update={"state": "sent", "platform_ref": "C1/1.1"}))
        inbox = InboxItem(
            key="slack:cmd:1",
            platform="slack",
            kind="slack.command",
            payload={"text": "hi"},
            received_at=NOW,
            owner="a",
            lease_until=NOW + timedelta(minutes=1),
        )
        store.accept_inbox(inbox)
        assert store.finish_inbox("default", "slack:cmd:1", owner="a", at=NOW)
        done = store.get_inbox_item("default", "slack:cmd:1")

        outbox, inbox_table = store._state.tables["outbox"], store._state.tables["inbox"]
        assert type(outbox[("card:1",)]) is _Stub and type(outbox[("card:2",)]) is dict
        assert type(inbox_table[("default", "slack:cmd:1")]) is _Stub
        assert store.get_outbox_item("card:1") == sent
        assert [i.key for i in store.list_outbox("default")] == ["card:1", "card:2"]
        assert [i.key for i in store.list_outbox("default", state="sent")] == ["card:1"]
        assert [i.key for i in store.due_outbox(now=NOW + timedelta(hours=1))] == ["card:2"]
        assert store.count_outbox("default", "sent") == 1 and store.count_inbox("default", state="done") == 1
        # A sent item changes again (a card edited later): version check and indexes hold.
        again = store.save_outbox_item(sent.model_copy(update={"state": "pending"}))
        assert again.version == sent.version + 1 and type(outbox[("card:1",)]) is dict
        exported = dict(((kind, doc.get("key")), doc) for kind, doc in store.export_records())

    with TinyDBStore(path, compaction="off") as store:
        assert store.get_inbox_item("default", "slack:cmd:1") == done
        assert dict(((kind, doc.get("key")), doc) for kind, doc in store.export_records()) == exported


def test_a_compact_record_reads_like_its_document(tmp_path: Path) -> None:
    """Code written for plain documents (index functions, ``{**doc}``, model_validate, a put of
    the record unchanged) works on a compact one."""
    with TinyDBStore(tmp_path / "db.json", compaction="off") as store:
        made, _ = store.create_request(request())
        closed, _ = store.update_request(made.model_copy(update={"status": Status.DONE}))
        stub = store._state.tables["requests"][("default", closed.number)]
        assert type(stub) is _Stub
        assert stub["text"] == "Please review the Q3 numbers" and stub["status"] == "done"
        assert stub.get("missing", "x") == "x" and "events" in stub
        assert {**stub} == closed.model_dump(mode="json") == dict(stub)
        assert Request.model_validate(stub) == closed
        assert store.replace_records("requests", [stub]) == 1  # type: ignore[list-item]
        assert store.get_request("default", closed.number) == closed
        ops = [["put", "requests", stub]]
        assert files.decode_record(files.encode_record(ops)[:-1]) == [["put", "requests", dict(stub)]]
