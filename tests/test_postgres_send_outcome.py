"""On PostgreSQL a send records its outcome and where its card was posted in one round trip
and one commit: one autocommit statement, where it took two (the card ref, then the outcome),
each its own round trip and its own commit (a WAL flush), at 200 sends a second."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from bot.delivery import deliver_due
from bot.models import Message, Person
from storage.postgres import PostgresStore
from tests.contract.factories import at, message, outbox_item, person
from tests.pg import emptied_store

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def store() -> Iterator[PostgresStore]:
    with emptied_store() as emptied:
        yield emptied


@dataclass
class StoreCall:
    """One ``PostgresStore._run``: the store method that made it, whether it wrapped its work in
    a transaction (BEGIN and COMMIT, round trips of their own unless pipelined), and how many
    statements it executed (each its own round trip outside a pipeline)."""

    method: str
    transaction: bool
    statements: int


class Recorder:
    """Records every store call made after the notifier took the card."""

    platform = "slack"

    def __init__(self) -> None:
        self.sent = False
        self.calls: list[StoreCall] = []
        self._local = threading.local()

    def can_reach(self, target: Person) -> bool:
        return True

    def send(self, message: Message, target: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        self.sent = True
        return "D-bob:1700000000.1"

    def wrap_run(self, run: Callable[..., Any]) -> Callable[..., Any]:
        def counted(work: Callable[[psycopg.Connection[Any]], Any], **options: Any) -> Any:
            method = sys._getframe(1).f_code.co_name
            self._local.statements = 0
            try:
                return run(work, **options)
            finally:
                if self.sent:
                    self.calls.append(StoreCall(method, options.get("transaction", True), self._local.statements))

        return counted

    def wrap_execute(self, execute: Callable[..., Any]) -> Callable[..., Any]:
        def counted(conn: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
            self._local.statements = getattr(self._local, "statements", 0) + 1
            return execute(conn, *args, **kwargs)

        return counted


def test_a_sent_card_records_its_outcome_and_its_ref_in_one_statement(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_org([person("bob")])
    store.enqueue([outbox_item("card:R-1", message=message("card:R-1", card_key="R-1", revision=1))])
    recorder = Recorder()
    monkeypatch.setattr(store, "_run", recorder.wrap_run(store._run))
    monkeypatch.setattr(psycopg.Connection, "execute", recorder.wrap_execute(psycopg.Connection.execute))

    report = deliver_due(store=store, notifiers=[recorder], now=at(0), concurrency=1)

    assert report.sent == 1
    writes = [call for call in recorder.calls if call.method != "_lease"]  # (the next lease finds nothing)
    assert writes == [StoreCall("save_outbox_item", transaction=False, statements=1)], (
        "one autocommit statement: one round trip, one commit"
    )
    stored = store.get_outbox_item("card:R-1")
    assert stored is not None and stored.state == "sent" and stored.platform_ref == "D-bob:1700000000.1"
    card = store.get_card_ref("default", "R-1", "slack")
    assert card is not None and (card.ref, card.revision) == ("D-bob:1700000000.1", 1)


def test_the_reads_before_a_send_come_with_the_lease(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each send's recipient and card refs are read in the lease's round trip, not one read per
    item (at 100 commands a second that was two round trips a command)."""
    store.save_org([person("bob"), person("carol"), person("dave")])
    store.enqueue(
        [
            outbox_item(f"card:R-{n}", message=message(f"card:R-{n}", recipient=f"P-{who}", card_key=f"R-{n}"))
            for n, who in enumerate(("bob", "carol", "dave"), start=1)
        ]
    )
    recorder = Recorder()
    recorder.sent = True  # every call from the start
    monkeypatch.setattr(store, "_run", recorder.wrap_run(store._run))
    monkeypatch.setattr(psycopg.Connection, "execute", recorder.wrap_execute(psycopg.Connection.execute))

    report = deliver_due(store=store, notifiers=[recorder], now=at(0), concurrency=3)

    assert report.sent == 3
    methods = [call.method for call in recorder.calls]
    assert sorted(set(methods)) == ["_lease", "save_outbox_item"], methods
    assert methods.count("save_outbox_item") == 3
    lease = recorder.calls[0]
    assert (lease.method, lease.transaction, lease.statements) == ("_lease", False, 5), (
        "two index-scan settings, the held rows, the lease, and the recipients with their card refs: one pipeline"
    )
