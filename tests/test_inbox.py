"""The inbox runner: accepted work runs once, a crash between the acknowledgement and the work
is picked up by the next process, a failing handler is retried and then given up loudly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.inbox import ACCEPT_LEASE, MAX_ATTEMPTS, RETRY_LEASE, InboxRunner
from bot.models import InboxItem
from bot.ports import Store


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def runner(store: Store, clock: Clock, ran: list[str], *, fail: int = 0) -> InboxRunner:
    failures = {"left": fail}

    def handle(item: InboxItem) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("the Web API is down")
        ran.append(item.payload["text"])

    return InboxRunner(store=store, clock=clock, handlers={"test.command": handle})


def accept(r: InboxRunner, key: str = "k1", text: str = "hello") -> InboxItem | None:
    return r.accept(workspace="default", key=key, platform="test", kind="test.command", payload={"text": text})


def test_accepted_work_runs_once_and_is_marked_done(store: Store) -> None:
    clock, ran = Clock(), []
    r = runner(store, clock, ran)
    item = accept(r)
    assert item is not None
    assert r.run(item) is True
    assert ran == ["hello"]
    assert store.get_inbox_item("default", "k1").state == "done"  # type: ignore[union-attr]
    clock.now += timedelta(hours=1)
    assert r.recover() == 0 and ran == ["hello"]


def test_a_redelivered_command_is_not_accepted_twice(store: Store) -> None:
    r = runner(store, Clock(), [])
    assert accept(r) is not None
    assert accept(r) is None


def test_work_acknowledged_by_a_process_that_died_is_run_by_the_next_one(store: Store) -> None:
    clock, ran = Clock(), []
    dead = runner(store, clock, ran)
    accept(dead, "k1", "first")
    accept(dead, "k2", "second")  # acknowledged, then the process died before running them

    survivor = runner(store, clock, ran)
    assert survivor.recover() == 0, "the dead process's lease still holds"
    clock.now += ACCEPT_LEASE
    assert survivor.recover() == 2
    assert ran == ["first", "second"]
    assert survivor.recover() == 0
    assert store.count_inbox("default") == 0


def test_a_failing_handler_is_retried_after_its_lease(store: Store) -> None:
    clock, ran = Clock(), []
    r = runner(store, clock, ran, fail=1)
    item = accept(r)
    assert item is not None
    assert r.run(item) is False
    assert store.count_inbox("default") == 1
    clock.now += ACCEPT_LEASE
    assert r.recover() == 1
    assert ran == ["hello"] and store.count_inbox("default") == 0


def test_a_handler_that_keeps_failing_is_given_up_with_its_reason(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock, ran = Clock(), []
    r = runner(store, clock, ran, fail=100)
    item = accept(r)
    assert item is not None
    r.run(item)
    clock.now += ACCEPT_LEASE
    for _ in range(MAX_ATTEMPTS):
        r.recover()
        clock.now += RETRY_LEASE
    failed = store.get_inbox_item("default", "k1")
    assert failed is not None and failed.state == "failed"
    assert "the Web API is down" in (failed.last_error or "")
    assert "gave up" in caplog.text
    assert ran == []


def test_an_unknown_kind_is_refused_before_the_acknowledgement(store: Store) -> None:
    r = runner(store, Clock(), [])
    with pytest.raises(ValueError, match="no inbox handler"):
        r.accept(workspace="default", key="k", platform="test", kind="nope", payload={})
    assert store.count_inbox("default") == 0
