"""Recovery after a crash runs the items it takes over many at once, in the live path's work
pool: other people's items run together, one person's keep their inbox order, a failing item
stops nothing, and an item runs once even with two runners taking over."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.inbox import ACCEPT_LEASE, RETRY_LEASE, Handler, InboxRunner
from bot.models import InboxItem
from bot.ports import Store
from bot.work import BackgroundWork

KIND = "test.command"
WAIT = 30.0
"""Seconds a test waits for something that happens at once when the code is right (a fail-safe)."""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def person_of(item: InboxItem) -> str | None:
    return str(item.payload["user"])


@pytest.fixture
def work() -> Iterator[BackgroundWork]:
    pool = BackgroundWork(workers=16)
    yield pool
    pool.close()


def runner(store: Store, clock: Clock, handle: Handler, work: BackgroundWork | None) -> InboxRunner:
    return InboxRunner(store=store, clock=clock, handlers={KIND: handle}, work=work, lanes={KIND: person_of})


def left_by_a_crash(store: Store, clock: Clock, items: list[tuple[str, str]]) -> None:
    """``(key, user)`` items accepted one second apart by a process that died, their leases run out."""
    dead = InboxRunner(store=store, clock=clock, handlers={KIND: lambda item: None})
    for key, user in items:
        dead.accept(workspace="default", key=key, platform="test", kind=KIND, payload={"user": user, "key": key})
        clock.now += timedelta(seconds=1)
    clock.now += ACCEPT_LEASE


def test_taken_over_items_of_different_people_run_at_once(store: Store, work: BackgroundWork) -> None:
    clock = Clock()
    people = [f"U{n}" for n in range(6)]
    left_by_a_crash(store, clock, [(f"k{n}", user) for n, user in enumerate(people)])
    together = threading.Barrier(len(people), timeout=WAIT)  # passes only once every item has started
    ran: list[str] = []

    def handle(item: InboxItem) -> None:
        together.wait()
        ran.append(item.key)

    assert runner(store, clock, handle, work).recover() == len(people)

    assert sorted(ran) == [f"k{n}" for n in range(6)], "every item waited for the others: all ran together"
    assert store.count_inbox("default") == 0


def test_one_persons_items_keep_their_inbox_order_while_others_run(store: Store, work: BackgroundWork) -> None:
    clock = Clock()
    mine = [f"a{n}" for n in range(5)]
    left_by_a_crash(store, clock, [("a0", "U1"), ("b0", "U2"), *[(k, "U1") for k in mine[1:]], ("b1", "U2")])
    others_done = threading.Event()
    lock = threading.Lock()
    ran: list[str] = []
    running: Counter[str] = Counter()
    overlapped: list[str] = []

    def handle(item: InboxItem) -> None:
        user = person_of(item) or ""
        with lock:
            running[user] += 1
            if running[user] > 1:
                overlapped.append(item.key)
        if item.key == "a0":  # free threads would take U1's next items now, were it not for the lane
            assert others_done.wait(WAIT)
        with lock:
            ran.append(item.key)
            running[user] -= 1
            if {"b0", "b1"} <= set(ran):
                others_done.set()

    assert runner(store, clock, handle, work).recover() == 7

    assert [k for k in ran if k.startswith("a")] == mine
    assert ran.index("b1") < ran.index("a0"), "U2's items did not wait behind U1's"
    assert overlapped == []


def test_a_failing_item_does_not_stop_the_others(store: Store, work: BackgroundWork) -> None:
    clock = Clock()
    left_by_a_crash(store, clock, [("a0", "U1"), ("a1", "U1"), ("b0", "U2")])
    ran: list[str] = []

    def handle(item: InboxItem) -> None:
        if item.key == "a0":
            raise RuntimeError("the Web API is down")
        ran.append(item.key)

    assert runner(store, clock, handle, work).recover() == 3

    assert sorted(ran) == ["a1", "b0"]
    failed = store.get_inbox_item("default", "a0")
    assert failed is not None and failed.state == "pending" and failed.attempts == 1  # retried after its lease


def test_two_runners_taking_over_at_once_run_each_item_once(store: Store, work: BackgroundWork) -> None:
    clock = Clock()
    left_by_a_crash(store, clock, [(f"k{n}", f"U{n % 5}") for n in range(40)])
    lock = threading.Lock()
    ran: Counter[str] = Counter()

    def handle(item: InboxItem) -> None:
        with lock:
            ran[item.key] += 1

    other_work = BackgroundWork(workers=16)
    runners = [runner(store, clock, handle, work), runner(store, clock, handle, other_work)]

    def drain(r: InboxRunner) -> None:
        while r.recover():
            pass

    threads = [threading.Thread(target=drain, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    other_work.close()

    assert ran == Counter({f"k{n}": 1 for n in range(40)})
    assert store.count_inbox("default") == 0


def test_an_item_that_waited_past_its_lease_is_left_to_whoever_took_it_over(store: Store) -> None:
    """U1's items wait in U1's lane behind U1's live command; their lease runs out meanwhile
    and another replica takes them over and runs them: this runner must not run them again."""
    clock = Clock()
    left_by_a_crash(store, clock, [("a0", "U1"), ("a1", "U1")])
    queued = threading.Event()

    class Watched(BackgroundWork):
        def submit(self, job: Callable[[], object], *, what: str, lane: str | None = None) -> None:
            super().submit(job, what=what, lane=lane)
            if what.endswith("a1"):
                queued.set()

    work = Watched(workers=16)
    lock = threading.Lock()
    ran: list[tuple[str, str]] = []

    def handler(name: str) -> Handler:
        def handle(item: InboxItem) -> None:
            with lock:
                ran.append((name, item.key))

        return handle

    live_started, live_may_end = threading.Event(), threading.Event()

    def live_command() -> None:
        live_started.set()
        assert live_may_end.wait(WAIT)

    work.submit(live_command, what="U1's live command", lane="U1")
    assert live_started.wait(WAIT)
    stuck = runner(store, clock, handler("stuck"), work)
    recovering = threading.Thread(target=stuck.recover)
    recovering.start()
    assert queued.wait(WAIT), "the stuck runner leased both and queued them in U1's lane"

    clock.now += RETRY_LEASE
    other = runner(store, clock, handler("other"), None)
    assert other.recover() == 2
    live_may_end.set()
    recovering.join(WAIT)
    work.close()

    assert ran == [("other", "a0"), ("other", "a1")]
    assert store.count_inbox("default") == 0


def test_recovery_takes_at_most_half_the_pool_at_a_time(store: Store) -> None:
    """Live commands always find threads free: a pass takes half the pool's worth of items and
    waits for them before the next takes more."""
    clock = Clock()
    left_by_a_crash(store, clock, [(f"k{n}", f"U{n}") for n in range(10)])
    small = BackgroundWork(workers=4)
    r = runner(store, clock, lambda item: None, small)

    assert [r.recover(), r.recover()] == [2, 2]
    small.close()
    assert store.count_inbox("default") == 6
