"""`servechain db migrate`: an embedded store copied into PostgreSQL, verified, re-runnable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.models import ActionId, Kudos, Rating
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, act, create_request
from bot.workhours import DEFAULT_HOURS
from storage.migrate import migrate
from storage.postgres import PostgresStore
from storage.tinydb_store import TinyDBStore
from tests.conftest import NOW, small_org
from tests.pg import postgres_url


def _fill(store: Store) -> None:
    people, teams = small_org()
    store.save_org(people, teams)
    directory = Directory(store, "default")
    alice, bob = directory.require("P-alice"), directory.require("P-bob")
    for n in range(5):
        create_request(
            store=store,
            directory=directory,
            requester=alice,
            provider=bob,
            text=f"task {n}",
            now=NOW,
            idempotency_key=f"t{n}",
        )
    act(
        store=store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.DONE,
        actor=bob,
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    act(
        store=store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.RATE,
        actor=alice,
        now=NOW + timedelta(minutes=1),
        inputs=ActionInput(rating=Rating(score=4)),
        idempotency_key="rate-1",
        hours=DEFAULT_HOURS,
    )
    store.add_kudos(
        Kudos(id="K-1", giver_id="P-alice", recipient_ids=["P-bob"], message="thanks", at=NOW), idempotency_key="k1"
    )
    store.claim("default", "nudge:R-2", at=NOW)
    store.put_doc("teams_conversation", "default", "P-bob", {"conversation": {"id": "a:1"}})


def test_migrate_copies_every_kind_and_a_rerun_copies_nothing(tmp_path: Path) -> None:
    source = TinyDBStore(tmp_path / "servechain.json")
    target = PostgresStore(postgres_url())
    target.reset()
    try:
        _fill(source)
        first = migrate(source, target)
        assert first.verified
        assert first.source == first.target
        assert first.copied["requests"] == 5 and first.copied["people"] == 8
        assert {"kudos", "claims", "idempotency", "docs", "outbox", "counters"} <= set(first.copied)
        again = migrate(source, target)
        assert again.verified and sum(again.copied.values()) == 0

        # the copy behaves like the original: numbering continues, idempotency keys still hold
        directory = Directory(target, "default")
        alice, bob = directory.require("P-alice"), directory.require("P-bob")
        repeat = create_request(
            store=target,
            directory=directory,
            requester=alice,
            provider=bob,
            text="task 0",
            now=NOW,
            idempotency_key="t0",
        )
        assert repeat.repeated and repeat.request.number == 1
        fresh = create_request(store=target, directory=directory, requester=alice, provider=bob, text="new", now=NOW)
        assert fresh.request.number == 6
        assert not target.add_kudos(
            Kudos(id="K-2", giver_id="P-alice", recipient_ids=["P-bob"], message="x", at=NOW), idempotency_key="k1"
        )
        assert not target.claim("default", "nudge:R-2", at=NOW)
        stored = target.get_request("default", 1)
        assert stored is not None and stored.rating is not None and stored.rating.score == 4
    finally:
        source.close()
        target.close()


def test_migrate_from_postgres_back_into_an_embedded_store(tmp_path: Path) -> None:
    source = PostgresStore(postgres_url())
    source.reset()
    target = TinyDBStore(tmp_path / "copy.json")
    try:
        _fill(source)
        report = migrate(source, target)
        assert report.verified and report.source == report.target
        assert [r.number for r in target.iter_requests("default")] == [1, 2, 3, 4, 5]
    finally:
        source.close()
        target.close()


def test_cli_upgrade_then_migrate_twice_reports_verified_counts(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = postgres_url()
    PostgresStore(url).reset()
    db = tmp_path / "servechain.json"
    source = TinyDBStore(db)
    _fill(source)
    source.close()
    cli = [sys.executable, "-m", "handlers.cli"]
    upgraded = subprocess.run([*cli, "db", "upgrade", "--db", url], capture_output=True, text=True, check=True)
    assert upgraded.stdout.strip() == "The schema is up to date." or upgraded.stdout.startswith("Applied ")
    first = subprocess.run([*cli, "db", "migrate", "--from", str(db), "--to", url], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "requests            5        5        5" in first.stdout and "counts verified" in first.stdout
    again = subprocess.run([*cli, "db", "migrate", "--from", str(db), "--to", url], capture_output=True, text=True)
    assert again.returncode == 0 and "Copied 0 new records" in again.stdout
    broken = subprocess.run(
        [*cli, "db", "migrate", "--from", str(db), "--to", "postgresql://postgres@127.0.0.1:1/none"],
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 1 and "Connection refused" in broken.stderr and "Traceback" not in broken.stderr
