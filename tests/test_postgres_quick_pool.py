"""The writes a person waits on (the ack's inbox write, a request's number) and the health
probe don't wait behind a main pool that sends and commands have filled at a busy hour."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from storage.postgres import PostgresStore
from tests.contract import factories
from tests.pgserve import postgres_url
from tests.test_postgres_resilience import slash_command

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url(), max_size=2)
    try:
        store.reset()
        yield store
    finally:
        store.close()


def test_acks_numbers_and_the_probe_go_through_while_every_main_connection_is_busy(store: PostgresStore) -> None:
    item = slash_command("slack:cmd:T1:busy-hour")
    with ExitStack() as busy:
        for _ in range(2):  # every connection of the main pool held, as by slow sends
            busy.enter_context(store.pool.connection())
        assert store.accept_inbox(item) is True  # waited 5 s and failed on the main pool
        assert store._draw("default") == 1
        store.ping()
    assert store.count_inbox("default") == 1
    assert store.create_request(factories.request())[0].number == 2
