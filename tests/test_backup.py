"""``servechain db backup`` / ``db restore``: a consistent copy of the embedded store while the
bot runs, and a restore that refuses to overwrite a store unasked and verifies the counts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ports import Store
from storage import open_store
from storage.backup import BackupError, read_backup, restore_backup, write_backup
from storage.migrate import count
from tests.drills import SLACK_IDS, seed_linked_org
from tests.fakes.slack_api import FakeSlackApi
from tests.pgserve import Serve, clean_env, servechain
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, USERS

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def seeded(path: Path) -> Store:
    store = open_store(str(path))
    seed_linked_org(store)
    return store


def test_a_backup_restores_into_an_empty_store_with_the_same_counts(tmp_path: Path) -> None:
    source = seeded(tmp_path / "a.json")
    try:
        written = write_backup(source, tmp_path / "backup.jsonl", now=NOW)
        assert written.counts == count(source)
    finally:
        source.close()
    target = open_store(str(tmp_path / "b.json"))
    try:
        restored = restore_backup(tmp_path / "backup.jsonl", target, replace=False)
        assert restored.verified and restored.store == written.counts
    finally:
        target.close()


def test_a_backup_never_overwrites_a_file_and_postgres_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    existing = tmp_path / "backup.jsonl"
    existing.write_text("keep me")
    source = seeded(tmp_path / "a.json")
    try:
        with pytest.raises(BackupError, match="already exists"):
            write_backup(source, existing, now=NOW)
    finally:
        source.close()
    assert existing.read_text() == "keep me"
    assert list(tmp_path.glob("*.partial")) == []

    class PostgresStore:  # only the name matters: PostgreSQL has its own consistent tools
        pass

    with pytest.raises(BackupError, match="pg_dump"):
        write_backup(PostgresStore(), tmp_path / "pg.jsonl", now=NOW)  # type: ignore[arg-type]


def test_restore_refuses_a_store_holding_records_without_yes_and_replaces_it_with_yes(tmp_path: Path) -> None:
    live = seeded(tmp_path / "live.json")
    try:
        write_backup(live, tmp_path / "backup.jsonl", now=NOW)
        before = count(live)
    finally:
        live.close()
    env = clean_env(SERVECHAIN_DB=str(tmp_path / "live.json"))
    refused = servechain("db", "restore", str(tmp_path / "backup.jsonl"), env=env, cwd=ROOT)
    assert refused.returncode == 1
    assert "already holds" in refused.stderr and "--yes" in refused.stderr
    replaced = servechain("db", "restore", str(tmp_path / "backup.jsonl"), "--yes", env=env, cwd=ROOT)
    assert replaced.returncode == 0, replaced.stderr
    assert "counts verified" in replaced.stdout
    live = open_store(str(tmp_path / "live.json"))
    try:
        assert count(live) == before
    finally:
        live.close()


def test_a_cut_off_or_foreign_file_is_refused_before_anything_is_restored(tmp_path: Path) -> None:
    source = seeded(tmp_path / "a.json")
    try:
        write_backup(source, tmp_path / "backup.jsonl", now=NOW)
    finally:
        source.close()
    whole = (tmp_path / "backup.jsonl").read_text().splitlines()
    (tmp_path / "cut.jsonl").write_text("\n".join(whole[:-3]) + "\n")
    with pytest.raises(BackupError, match="incomplete"):
        read_backup(tmp_path / "cut.jsonl")
    (tmp_path / "other.json").write_text('{"_default": {}}\n')
    with pytest.raises(BackupError, match="not a servechain backup"):
        read_backup(tmp_path / "other.json")
    result = servechain(
        "db", "restore", str(tmp_path / "cut.jsonl"), env=clean_env(SERVECHAIN_DB=str(tmp_path / "b.json")), cwd=ROOT
    )
    assert result.returncode == 1 and "incomplete" in result.stderr
    if (tmp_path / "b.json").exists():
        untouched = open_store(str(tmp_path / "b.json"))
        try:
            assert sum(count(untouched).values()) == 0
        finally:
            untouched.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_backup_taken_during_a_burst_restores_every_command_acknowledged_before_it(tmp_path: Path) -> None:
    db = tmp_path / "servechain.json"
    seeded(db).close()
    with FakeSlackApi(team_id=TEAM) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        env = clean_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.url,
            SLACK_TEAM_IDS=TEAM,
            SERVECHAIN_DB=str(db),
            SERVECHAIN_LOG_LEVEL="WARNING",
            INBOX_LEASE_SECONDS="1",
        )
        server = Serve(env, cwd=ROOT, log=tmp_path / "serve.log")
        acked: dict[str, float] = {}  # text -> when its 200 arrived
        lock = threading.Lock()

        def send(index: int) -> None:
            text = f"burst {index:03d}"
            if server.command(fake, SLACK_IDS["alice"], f"@bob {text}", f"b-{index}", secret=SIGNING_SECRET) == 200:
                with lock:
                    acked[text] = time.monotonic()

        try:
            with ThreadPoolExecutor(8) as clients:
                burst = [clients.submit(send, index) for index in range(150)]
                while len(acked) < 40:
                    time.sleep(0.01)
                started = time.monotonic()
                with lock:
                    acked_before = {text for text, at in acked.items() if at < started}
                backup = servechain("db", "backup", str(tmp_path / "backup.jsonl"), env=env, cwd=ROOT)
                for future in burst:
                    future.result()
            assert backup.returncode == 0, backup.stderr
        finally:
            server.stop()
        print(f"\n{len(acked_before)} acknowledged when the backup started, {len(acked)} in all")

        # Restore into a new store (counts verified against the file), then let a server run
        # what was acknowledged but not yet done when the backup was taken.
        restored_db = tmp_path / "restored.json"
        env_restored = {**env, "SERVECHAIN_DB": str(restored_db)}
        restore = servechain("db", "restore", str(tmp_path / "backup.jsonl"), env=env_restored, cwd=ROOT)
        assert restore.returncode == 0, restore.stderr
        assert "counts verified" in restore.stdout
        header, _records = read_backup(tmp_path / "backup.jsonl")
        assert header.counts["inbox"] >= len(acked_before), "an acknowledged command is missing from the backup"
        server = Serve(env_restored, cwd=ROOT, log=tmp_path / "restored.log")
        try:
            check = open_store(str(restored_db))
            try:
                deadline = time.monotonic() + 60
                while check.count_inbox("default", state="pending") and time.monotonic() < deadline:
                    time.sleep(0.2)
                texts = Counter(r.text for r in check.iter_requests("default"))
            finally:
                check.close()
        finally:
            server.stop()
    assert acked_before <= set(texts), sorted(acked_before - set(texts))
    assert set(texts) <= set(acked), "the backup holds a command that was never acknowledged"
    assert max(texts.values()) == 1, "a command became two requests"
