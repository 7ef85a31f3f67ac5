"""The outbox lease on PostgreSQL stays cheap while sent messages pile up dead row versions
(each lease and outcome rewrites a row; autovacuum removes the dead ones at most once a
minute, and on a big table much later): it reads the index, not every dead row's page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import psycopg.conninfo
import pytest

from bot.models import CardRef, OutboxItem
from storage.postgres import PostgresStore
from tests.contract import factories
from tests.contract.factories import NOW
from tests.pgserve import postgres_url

pytestmark = [pytest.mark.postgres]

SENT = 3000


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    url = postgres_url()
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as conn:
        # The planner, left to itself, picks a bitmap or sequential scan for the lease once the
        # statistics say many rows are due (as they did in benchmarks/delivery_bench.py): make
        # random reads look dear, so it would here too.
        conn.execute(f'ALTER DATABASE "{database}" SET random_page_cost = 40')
    store = PostgresStore(url, max_size=1)  # one connection: its statistics are flushed on demand
    try:
        store.reset()
        with psycopg.connect(store.url, autocommit=True) as conn:  # no vacuum in the middle of the test
            conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        yield store
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE outbox RESET (autovacuum_enabled)")
            conn.execute(f'ALTER DATABASE "{database}" RESET random_page_cost')


def _item(key: str, recipient: str, **fields: Any) -> OutboxItem:
    return factories.outbox_item(key, message=factories.message(key, recipient=recipient), **fields)


def _buffers(store: PostgresStore, table: str = "outbox") -> int:
    """Buffers (pages) read from ``table`` and its indexes so far, as PostgreSQL counts them
    (the store's one connection sends its counts first: a backend otherwise does so when idle,
    at most once a second)."""
    store._run(lambda conn: conn.execute("SELECT pg_stat_force_next_flush()"), transaction=False)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row: Any = conn.execute(
            "SELECT coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0) + coalesce(idx_blks_hit, 0) "
            "+ coalesce(idx_blks_read, 0) FROM pg_statio_user_tables WHERE relname = %s",
            (table,),
        ).fetchone()
    return int(row[0])


def test_a_lease_after_thousands_of_sends_reads_a_few_pages_not_every_dead_row(store: PostgresStore) -> None:
    items = [_item(f"m-{n}", f"P-{n % 500}") for n in range(SENT)]
    store.enqueue(items)
    later = NOW + timedelta(seconds=1)
    sent = 0
    while sent < SENT:  # lease and send everything: each row leaves dead versions behind
        taken = store.lease_outbox(now=later, until=later + timedelta(minutes=2), token=f"t-{sent}", limit=100)
        assert taken
        for item in taken:
            store.save_outbox_item(item.model_copy(update={"state": "sent", "lease": None}))
        sent += len(taken)
        if sent == SENT - 300:  # statistics as autovacuum's analyze takes them mid-run: a few hundred due
            with psycopg.connect(store.url, autocommit=True) as conn:
                conn.execute("ANALYZE outbox")
    store.enqueue([_item("fresh", "P-new", created_at=later)])
    store.lease_outbox(now=later, until=later + timedelta(minutes=2), token="warm", limit=10)  # meets the dead once

    before = _buffers(store)
    store.lease_outbox(now=later, until=later + timedelta(minutes=2), token="again", limit=10)
    read = _buffers(store) - before
    # A bitmap scan visits every dead row's page again on each lease (hundreds of pages here);
    # an index scan marked them dead the first time and now reads the index.
    assert read < 200, f"one lease read {read} pages of the outbox"


def test_the_queues_are_vacuumed_after_10000_dead_rows_whatever_their_size() -> None:
    """Migration 6: by default autovacuum waits for a fifth of a table to be dead, and 30 days
    of sent messages make that hundreds of thousands of dead rows under the lease's scans."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        PostgresStore(postgres_url()).close()  # migrated
        rows = conn.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('outbox', 'inbox') AND relkind = 'r'"
        ).fetchall()
    assert {name: sorted(options or []) for name, options in rows} == {
        table: ["autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=10000"]
        for table in ("outbox", "inbox")
    }


def test_the_card_refs_read_with_a_lease_are_looked_up_by_key_not_scanned(store: PostgresStore) -> None:
    """The lease reads each item's card refs in its own round trip (``lease_outbox_facts``): by
    workspace, card key and platform, not every card of the workspace, also once the statement
    is prepared and planned generically with no statistics yet (a fresh database). A join on
    the card and thread keys scanned them all for each item: 177 ms a lease in the benchmark."""
    store.save_org([factories.person(f"p{n}") for n in range(3)])
    refs = [
        CardRef(workspace="default", card_key=f"R-{n}", platform="slack", ref=f"D:{n}.1", revision=0)
        for n in range(SENT)
    ]
    for ref in refs:
        store.save_card_ref(ref)
    # As PostgreSQL may plan a prepared statement (psycopg prepares one on its sixth run) with
    # the statistics it has, which in a fresh database are none:
    store._run(lambda conn: conn.execute("SET plan_cache_mode = force_generic_plan"), transaction=False)
    later = NOW + timedelta(seconds=1)
    for n in range(14):
        key = f"card:R-{n * 200}"
        store.enqueue(
            [factories.outbox_item(key, message=factories.message(key, recipient="P-p1", card_key=f"R-{n * 200}"))]
        )
        before = _buffers(store, "card_refs")
        leased = store.lease_outbox_facts(
            now=later, until=later + timedelta(minutes=2), token=f"t-{n}", platforms=["slack", "teams"]
        )
        read = _buffers(store, "card_refs") - before

        assert [dict(f.cards) for f in leased] == [{(f"R-{n * 200}", "slack"): refs[n * 200]}]
        assert leased[0].person == store.get_person("default", "P-p1")
        assert read < 10, f"lease {n + 1}: reading one item's card refs read {read} pages of card_refs"
        store.save_outbox_item(leased[0].item.model_copy(update={"state": "sent", "lease": None}))  # type: ignore[union-attr]
