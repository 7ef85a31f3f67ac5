"""Request numbers on PostgreSQL: drawn outside the create's transaction, so one slow create
never holds up the others, and still never handed out twice nor skipped by a repeated key."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bot.models import Request
from storage.postgres import PostgresStore
from tests.contract import factories
from tests.pg import emptied_store
from tests.pgserve import postgres_url

pytestmark = [pytest.mark.postgres]

WAIT = 20.0
"""Seconds a test waits for a thread that should finish at once (only a hang reaches it)."""


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with emptied_store() as emptied:
        yield emptied


class _HeldWrite:
    """Holds the first create that reaches its writes inside its open transaction (its key
    inserted and its number drawn, nothing committed) until :meth:`release`."""

    def __init__(self, store: PostgresStore) -> None:
        self.inside = threading.Event()
        self.go = threading.Event()
        self._real = store._write_request
        self._held = False
        store._write_request = self._write  # type: ignore[method-assign]

    def _write(self, conn: psycopg.Connection[Any], request: Request, *, insert: bool) -> None:
        if not self._held:
            self._held = True
            self.inside.set()
            assert self.go.wait(WAIT), "never released"
        self._real(conn, request, insert=insert)

    def release(self) -> None:
        self.go.set()


def _in_thread(work: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    return thread, out


def test_a_create_still_inside_its_transaction_does_not_hold_up_the_next(store: PostgresStore) -> None:
    """With the number drawn inside the transaction, the counter row stayed locked until COMMIT,
    so this second create waited for the first (and at 100 commands/s, every create for all
    those before it)."""
    held = _HeldWrite(store)
    first, first_out = _in_thread(lambda: store.create_request(factories.request(text="first"), idempotency_key="k1"))
    assert held.inside.wait(WAIT)
    try:
        second, second_out = _in_thread(
            lambda: store.create_request(factories.request(text="second"), idempotency_key="k2")
        )
        second.join(WAIT)
        assert not second.is_alive(), "the second create waited for the first one's COMMIT"
        assert first.is_alive()
    finally:
        held.release()
    first.join(WAIT)
    assert [r.number for r, _ in first_out] == [1] and [r.number for r, _ in second_out] == [2]
    assert sorted((r.number, r.text) for r in store.find_requests("default")) == [(1, "first"), (2, "second")]


def test_a_repeated_key_waits_for_the_first_create_and_draws_no_number(store: PostgresStore) -> None:
    """A retry of the same command at another replica while the first is still writing: it
    waits for the first create's COMMIT, returns that request, and leaves no gap."""
    held = _HeldWrite(store)
    first, first_out = _in_thread(lambda: store.create_request(factories.request(text="once"), idempotency_key="k"))
    assert held.inside.wait(WAIT)
    repeat, repeat_out = _in_thread(lambda: store.create_request(factories.request(text="once"), idempotency_key="k"))
    repeat.join(0.5)
    held.release()
    first.join(WAIT)
    repeat.join(WAIT)
    assert [(r.number, created) for r, created in first_out] == [(1, True)]
    assert [(r.number, created) for r, created in repeat_out] == [(1, False)]
    assert store.create_request(factories.request(text="next"))[0].number == 2, "the repeat drew no number"


def test_a_commit_whose_answer_is_lost_is_found_by_its_number_and_not_stored_twice(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an idempotency key: the COMMIT reached the server, its answer did not come back,
    and the retry, with the same number (drawn once, this call's alone), finds the request
    stored: created once, returned as created, and the next create gets the next number."""
    real = psycopg.Connection.transaction
    lost: list[int] = []

    @contextlib.contextmanager
    def answer_lost_once(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        with real(self, *args, **kwargs) as transaction:
            yield transaction
        if not lost:
            lost.append(1)
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(psycopg.Connection, "transaction", answer_lost_once)
    stored, created = store.create_request(factories.request(text="once"))
    monkeypatch.undo()

    assert lost == [1]
    assert (stored.number, stored.text, created) == (1, "once", True)
    assert [r.number for r in store.find_requests("default")] == [1]
    assert store.create_request(factories.request())[0].number == 2


def test_concurrent_creates_from_two_stores_share_one_gapless_numbering(store: PostgresStore) -> None:
    """Two handles (two replicas' pools) creating at once from many threads."""
    other = PostgresStore(postgres_url(), auto_upgrade=False)
    numbers: list[int] = []
    lock = threading.Lock()

    def creator(handle: PostgresStore, tag: str) -> None:
        for n in range(15):
            made, _ = handle.create_request(factories.request(text=f"{tag}{n}"), idempotency_key=f"{tag}{n}")
            with lock:
                numbers.append(made.number)

    try:
        threads = [
            threading.Thread(target=creator, args=(handle, f"{name}{t}-"))
            for name, handle in (("a", store), ("b", other))
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.close()
    assert sorted(numbers) == list(range(1, 121))
