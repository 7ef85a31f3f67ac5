"""PostgreSQL faults against a real ``servechain serve``: backends terminated under steady Slack
traffic, a database that refuses connections, start-up against a missing database."""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from bot.errors import Conflict, StorageError
from bot.models import CardRef, InboxItem, OutboxItem, Request
from storage.postgres import PostgresStore
from tests.contract import factories
from tests.contract.factories import NOW, outbox_item
from tests.drills import posts_per_key, seed_linked_org, top_level_cards
from tests.fakes.slack_api import FakeSlackApi
from tests.pgserve import Serve, admin_connection, clean_env, free_port, own_database, servechain
from tests.slack.conftest import TEAM, USERS

pytestmark = [pytest.mark.postgres]

BOT_TOKEN = "xoxb-churn-token-not-real"
SIGNING_SECRET = "churn-signing-secret-not-real"
PASSWORD = "Churn-pw-not-real-7Q"


def _fake() -> FakeSlackApi:
    fake = FakeSlackApi(team_id=TEAM).start()
    for user_id, (name, email, tz) in USERS.items():
        fake.add_user(user_id, name, email=email, tz=tz)
    return fake


def _serve_env(url: str, fake: FakeSlackApi) -> dict[str, str]:
    return clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        SERVECHAIN_DB=url,
        # every command goes from alice to bob, 10 a second: Slack's ~1/s per conversation would
        # stretch the drill by minutes; the storm, not the platform's limits, is what it tests
        DELIVERY_RATE_LIMITS="false",
        SERVECHAIN_LOG_LEVEL=os.environ.get("CHURN_LOG_LEVEL", "INFO"),
    )


def _terminate(admin: psycopg.Connection[Any], dbname: str, *, one: bool = False) -> int:
    """Terminate the server's backends for ``dbname`` (just one, at random, with ``one``)."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)
    ).fetchall()
    pids = [pid for (pid,) in rows]
    if one and pids:
        pids = [random.choice(pids)]
    return sum(bool(admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]) for pid in pids)  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_terminating_100_backends_under_10_commands_a_second_fails_no_command_and_doubles_no_dm(
    tmp_path: Path,
) -> None:
    with own_database(PASSWORD) as url:
        seeded = PostgresStore(url)
        seed_linked_org(seeded)
        seeded.close()  # the storm is for the server; the test reads with a fresh store afterwards
        fake = _fake()
        server = Serve(_serve_env(url, fake), cwd=tmp_path, log=tmp_path / "serve.log")
        dbname = url.rsplit("/", 1)[1]
        terminated, sent, statuses = 0, 0, []
        stop = threading.Event()

        def killer() -> None:
            nonlocal terminated
            with admin_connection(url) as admin:
                while terminated < 100 and not stop.is_set():  # one backend every 100 ms
                    terminated += _terminate(admin, dbname, one=True)
                    time.sleep(0.1)

        try:
            storm = threading.Thread(target=killer)
            storm.start()
            started = time.monotonic()
            while storm.is_alive() or sent < 100:  # a steady 10 commands a second while the storm lasts
                statuses.append(
                    server.command(
                        fake,
                        "U0ALICE",
                        f"<@U0BOB|bob> figures for batch {sent}",
                        f"churn.{sent}",
                        secret=SIGNING_SECRET,
                    )
                )
                sent += 1
                time.sleep(max(0.0, started + sent / 10 - time.monotonic()))
                assert time.monotonic() - started < 120, f"only {terminated} backends terminated in 2 minutes"
            stop.set()
            storm.join()
            assert terminated >= 100

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replies = [c for c in fake.calls("response_url") if str(c.params.get("_name", "")).startswith("cmd-")]
                done = len({c.params["_name"] for c in replies}) >= sent
                if done and server.health()[1].get("outbox_pending") == 0:
                    break
                time.sleep(0.2)
            failed = [
                c.params.get("text", "")
                for c in fake.calls("response_url")
                if "couldn't save" in str(c.params.get("text", "")) or "error id" in str(c.params.get("text", ""))
            ]
            seeded = PostgresStore(url)
            stored = seeded.find_requests("default")
            twice = {key: n for key, n in posts_per_key(fake).items() if n > 1}
            cards = {card: n for card, n in top_level_cards(fake, seeded).items() if n > 1}
            print(
                f"\nchurn drill: {sent} commands, {terminated} backends terminated, {len(failed)} failed, "
                f"{len(stored)} stored, {sum(posts_per_key(fake).values())} DMs, {len(twice) + len(cards)} doubled"
            )
            assert statuses == [200] * sent
            assert failed == [], f"{len(failed)} of {sent} commands failed: {failed[:3]}"
            assert len(stored) == sent
            assert not twice and not cards, f"duplicate DMs: {twice or cards}"
            status, body, _took = server.health()
            assert status == 200 and body["ok"] and body["outbox_pending"] == 0
        finally:
            stop.set()
            server.stop()
            fake.stop()
            seeded.close()


def test_healthz_stays_up_when_backends_are_terminated_and_answers_within_a_second_when_refused(
    tmp_path: Path,
) -> None:
    with own_database(PASSWORD) as url:
        fake = _fake()
        server = Serve(_serve_env(url, fake), cwd=tmp_path, log=tmp_path / "serve.log")
        dbname = url.rsplit("/", 1)[1]
        try:
            status, body, took = server.health()
            assert status == 200 and body["ok"] is True and body["outbox_pending"] == 0
            with admin_connection(url) as admin:
                for _round in range(3):  # the pool's connections die; the database is up
                    assert _terminate(admin, dbname) >= 1
                    status, body, took = server.health()
                    assert status == 200, f"/healthz said {body} while the database is up"
                    assert took < 1.5, f"/healthz took {took:.1f}s"  # its own 1 s budget, plus a busy machine
                # the database stops taking connections
                admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))
                try:
                    # Until none is left: a connection the pool was opening when the database
                    # stopped taking them appears only once its start-up is over.
                    while _terminate(admin, dbname) or _terminate(admin, dbname):
                        time.sleep(0.05)
                    for _probe in range(3):
                        status, body, took = server.health()
                        assert status == 503 and body == {"ok": False, "error": "store unavailable"}
                        assert took < 1.5, f"/healthz took {took:.1f}s"
                finally:
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(dbname))
                    )
            deadline = time.monotonic() + 15
            while server.health()[0] != 200:
                assert time.monotonic() < deadline, "/healthz did not recover with the database"
                time.sleep(0.2)
        finally:
            server.stop()
            fake.stop()


def test_starting_on_a_missing_database_prints_one_line_without_the_password(tmp_path: Path) -> None:
    with own_database(PASSWORD) as url:
        missing = url.rsplit("/", 1)[0] + "/no_such_servechain_db"
        env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SERVECHAIN_DB=missing)
        for args in (("serve", "--port", str(free_port())), ("db", "upgrade"), ("stats",)):
            result = servechain(*args, env=env, cwd=tmp_path)
            output = result.stdout + result.stderr
            assert result.returncode != 0, args
            assert "Traceback" not in output, output
            assert PASSWORD not in output
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(lines) == 1, lines
            assert 'database "no_such_servechain_db" does not exist' in lines[0]
            assert "***@" in lines[0]


def test_starting_when_postgres_refuses_connections_prints_one_line_quickly(tmp_path: Path) -> None:
    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:{free_port()}/servechain"
    env = clean_env(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SERVECHAIN_DB=url)
    started = time.monotonic()
    result = servechain("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert time.monotonic() - started < 15
    assert "Traceback" not in output and PASSWORD not in output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "refused" in lines[0] and "someone:***@127.0.0.1" in lines[0]
    assert list(tmp_path.iterdir()) == []


def _dies_while_writing(store: PostgresStore, admin: psycopg.Connection[Any], dbname: str, times: int) -> list[int]:
    """Terminate the store's backends while its next ``times`` creates are inside their
    transaction (the number drawn, the rows queued, nothing committed); returns the numbers
    each attempt wrote."""
    calls: list[int] = []
    real = store._write_request

    def write(conn: psycopg.Connection[Any], request: Request, *, insert: bool) -> None:
        calls.append(request.number)
        if len(calls) <= times:
            assert _terminate(admin, dbname) >= 1
        real(conn, request, insert=insert)

    store._write_request = write  # type: ignore[method-assign]
    return calls


def test_a_write_whose_connection_dies_before_commit_is_retried_once_and_stored_once() -> None:
    """The server rolls back a transaction whose connection dies, so running it again is safe
    even without an idempotency key: the request is stored once, with the number it drew."""
    with own_database(PASSWORD) as url, admin_connection(url) as admin:
        store = PostgresStore(url)
        dbname = url.rsplit("/", 1)[1]
        built: list[int] = []

        def build(numbered: Request) -> list[OutboxItem]:
            built.append(numbered.number)
            return [outbox_item(f"card:{numbered.number}")]

        try:
            calls = _dies_while_writing(store, admin, dbname, times=1)
            stored, created = store.create_request(factories.request(), build_outbox=build)
            assert created and stored.number == 1
            assert calls == [1, 1], "run twice: the first attempt was rolled back"
            assert built == [1], "the cards are drawn once, before the transaction"
            assert [r.number for r in store.find_requests("default")] == [1]
            assert store.count_outbox("default") == 1
            _terminate(admin, dbname)  # idle connections die too: the next calls still work
            assert store.get_request("default", 1) is not None
            assert store.create_request(factories.request())[0].number == 2
        finally:
            store.close()


def test_a_lost_connection_is_retried_only_once() -> None:
    with own_database(PASSWORD) as url, admin_connection(url) as admin:
        store = PostgresStore(url)
        dbname = url.rsplit("/", 1)[1]
        try:
            calls = _dies_while_writing(store, admin, dbname, times=2)  # every attempt loses its connection
            with pytest.raises(StorageError) as failed:
                store.create_request(factories.request())
            assert calls == [1, 1]
            assert PASSWORD not in str(failed.value) and "***@" in str(failed.value)
            assert PASSWORD not in repr(store) and "***@" in repr(store)
            assert store.find_requests("default") == []
        finally:
            store.close()


class _LosesOneAnswer:
    """The store's pool, but the next transaction's COMMIT answer is lost after the server
    committed (what a backend terminated at that moment looks like to the client)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    @contextlib.contextmanager
    def connection(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self.pool.connection(*args, **kwargs) as conn:
            yield conn
        if self.armed:
            self.armed = False
            raise psycopg.OperationalError("server closed the connection unexpectedly")


def test_a_batch_lease_whose_commit_answer_is_lost_is_retried_without_leasing_more() -> None:
    """The retry after an unanswered COMMIT finds the rows already carrying its token and returns
    them: nothing is left leased to nobody for a minute, nothing is leased twice."""
    with own_database(PASSWORD) as url:
        store = PostgresStore(url)
        try:
            now = datetime.now(UTC)
            store.enqueue(
                [outbox_item(f"m{n}", message=factories.message(f"m{n}", recipient=f"P-{n}")) for n in range(50)]
            )
            lossy = _LosesOneAnswer(store.pool)
            store.pool = lossy  # type: ignore[assignment]
            lossy.armed = True

            taken = store.lease_outbox(now=now, until=now + timedelta(seconds=60), token="t1", limit=32)

            assert not lossy.armed, "the answer was lost once"
            leased = [i for i in store.list_outbox("default", state="pending") if i.lease is not None]
            assert len(taken) == 32 and sorted(i.key for i in leased) == sorted(i.key for i in taken)
            assert all(i.lease == "t1" and i.attempts == 1 for i in leased)
        finally:
            store.close()


def slash_command(key: str, *, lease_until: datetime = NOW) -> InboxItem:
    """A Slack slash command accepted into the inbox by ``replica-a`` at ``NOW``."""
    return InboxItem(
        key=key,
        platform="slack",
        kind="slack.command",
        payload={"text": "@bob the Q3 numbers"},
        received_at=NOW,
        owner="replica-a",
        lease_until=lease_until,
    )


def _answer_lost_once(monkeypatch: pytest.MonkeyPatch, statement: str) -> list[int]:
    """The next statement starting with ``statement`` runs (autocommit: it is done) but its
    answer is lost, as when a backend dies at that moment; returns a list that gets a 1 then."""
    real = psycopg.Connection.execute
    lost: list[int] = []

    def answer_lost_once(self: psycopg.Connection[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        cursor = real(self, query, *args, **kwargs)
        if not lost and str(query).startswith(statement):
            lost.append(1)
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return cursor

    monkeypatch.setattr(psycopg.Connection, "execute", answer_lost_once)
    return lost


def test_an_inbox_item_whose_commit_answer_is_lost_is_accepted_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The COMMIT reached the server but its answer did not come back: the item is stored, so
    telling the person "nothing was done" would be wrong (a takeover runs it later). The retry
    finds the row it wrote itself and says accepted; a second accept of the key still says no."""
    with own_database(PASSWORD) as url:
        store = PostgresStore(url)
        item = slash_command("slack:cmd:T1:lost-commit")
        try:
            lost = _answer_lost_once(monkeypatch, "INSERT INTO inbox")
            assert store.accept_inbox(item) is True
            assert lost == [1]
            monkeypatch.undo()
            assert store.accept_inbox(item) is False
            assert store.accept_inbox(item.model_copy(update={"owner": "replica-b"})) is False
            assert store.count_inbox("default") == 1
        finally:
            store.close()


def test_an_outbox_outcome_whose_answer_is_lost_is_its_own_write_not_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The outcome's UPDATE ran (autocommit) but its answer was lost: the retry's version check
    fails on this call's own write, which must read as done, while a write by anyone else
    still raises Conflict."""
    with own_database(PASSWORD) as url:
        store = PostgresStore(url)
        try:
            store.enqueue([outbox_item("m1"), outbox_item("m2")])
            first = store.get_outbox_item("m1")
            assert first is not None
            lost = _answer_lost_once(monkeypatch, "UPDATE outbox SET state")
            saved = store.save_outbox_item(first.model_copy(update={"state": "sent", "platform_ref": "ts-1"}))
            monkeypatch.undo()
            assert lost == [1]
            assert store.get_outbox_item("m1") == saved and saved.state == "sent"

            second = store.get_outbox_item("m2")
            assert second is not None
            store.save_outbox_item(second.model_copy(update={"last_error": "someone else"}))
            with pytest.raises(Conflict):
                store.save_outbox_item(second.model_copy(update={"state": "sent"}))
        finally:
            store.close()


def test_an_outcome_with_its_card_ref_whose_answer_is_lost_is_its_own_write_not_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one statement storing a send's outcome and its card ref ran (autocommit) but its
    answer was lost: the retry upserts the ref again (no change) and finds its own outcome,
    so the send reads as recorded, not as taken over by someone else."""
    with own_database(PASSWORD) as url:
        store = PostgresStore(url)
        try:
            card = outbox_item("card:R-1", message=factories.message("card:R-1", card_key="R-1", revision=2))
            store.enqueue([card])
            first = store.get_outbox_item("card:R-1")
            assert first is not None
            ref = CardRef(card_key="R-1", platform="slack", ref="D1:1.1", revision=2)
            lost = _answer_lost_once(monkeypatch, "WITH card AS (INSERT INTO card_refs")
            saved = store.save_outbox_item(
                first.model_copy(update={"state": "sent", "platform_ref": "D1:1.1"}), card_ref=ref
            )
            monkeypatch.undo()
            assert lost == [1]
            assert store.get_outbox_item("card:R-1") == saved and saved.state == "sent"
            assert store.get_card_ref("default", "R-1", "slack") == ref
        finally:
            store.close()


def test_an_inbox_finish_whose_answer_is_lost_is_its_own_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The finish ran (autocommit) but its answer was lost: the retry finds the item done by
    this owner at this time and says finished; another owner's finish still says no."""
    with own_database(PASSWORD) as url:
        store = PostgresStore(url)
        item = slash_command("slack:cmd:T1:lost-finish", lease_until=NOW + timedelta(seconds=20))
        try:
            assert store.accept_inbox(item) is True
            lost = _answer_lost_once(monkeypatch, "UPDATE inbox SET state")
            assert store.finish_inbox("default", item.key, owner="replica-a", at=NOW) is True
            monkeypatch.undo()
            assert lost == [1]
            stored = store.get_inbox_item("default", item.key)
            assert stored is not None and stored.state == "done"
            assert store.finish_inbox("default", item.key, owner="replica-b", at=NOW) is False
        finally:
            store.close()
