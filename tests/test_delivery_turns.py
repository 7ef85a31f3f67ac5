"""Sends waiting for their rate-limit turn hold no send slot (``bot.delivery.Dispatcher``), on a
simulated clock that moves only when the dispatcher lets time pass (nothing timed here):

- with two slots and two conversations whose next turn is 3 s ahead, a third conversation's
  message still goes at once, and the waiting ones go at their turn, each lane in order;
- a waiting item's lease is renewed, so a second dispatcher with short leases never takes it
  over (and without renewal the drill sees it taken);
- a stop while an item waits hands it back to the store, due at its turn: nothing is lost and
  nothing is sent twice; also as a server stops (the dispatcher waiting on its condition, woken).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.delivery import Dispatcher
from bot.models import Message, OutboxItem, Person
from bot.ratelimit import RateLimiter
from storage.tinydb_store import TinyDBStore
from tests.contract.factories import person
from tests.test_ratelimit import SimClock as RateLimitClock

START = datetime(2026, 11, 30, 9, tzinfo=UTC)


class SimClock(RateLimitClock):
    """Monotonic seconds that move only when the dispatcher lets time pass."""

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)

    def wall(self) -> datetime:
        """The dispatcher's clock: the same simulated time as a datetime."""
        return START + timedelta(seconds=self())


class Slack:
    """Records who sent what at which simulated second."""

    platform = "slack"

    def __init__(self, clock: SimClock, sent: list[tuple[str, float, str]], name: str = "first") -> None:
        self.clock = clock
        self.sent = sent
        self.name = name
        self._lock = threading.Lock()

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
        with self._lock:
            self.sent.append((message.key, self.clock(), self.name))
        return f"ref-{message.key}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TinyDBStore]:
    handle = TinyDBStore(tmp_path / "turns.json")
    yield handle
    handle.close()


def _queue(store: TinyDBStore, keys: list[str]) -> None:
    """Queue ``<handle>-<n>`` keys to ``P-<handle>``, due in the order given (all due at START)."""
    store.save_org([person(handle) for handle in sorted({key.split("-")[0] for key in keys})])
    items = []
    for n, key in enumerate(keys):
        at = START - timedelta(milliseconds=len(keys) - n)
        message = Message(key=key, recipient_id=f"P-{key.split('-')[0]}", kind="text", title=key)
        items.append(OutboxItem(key=key, message=message, created_at=at, next_attempt_at=at))
    store.enqueue(items)


def _fill_burst(limiter: RateLimiter, *handles: str) -> None:
    """Spend each DM's Slack burst (3 posts) now, so its next post's turn is 3 s ahead."""
    for handle in handles:
        for _ in range(3):
            limiter.reserve(platform="slack", scope="default", conversation=f"default/P-{handle}", op="post")


def _dispatcher(
    store: TinyDBStore,
    clock: SimClock,
    sent: list[tuple[str, float, str]],
    *,
    limiter: RateLimiter | None,
    sleep: Callable[[float], None],
    concurrency: int = 2,
    lease: float = 60.0,
    name: str = "first",
) -> Dispatcher:
    return Dispatcher(
        store=store,
        notifiers=[Slack(clock, sent, name)],
        clock=clock.wall,
        concurrency=concurrency,
        lease=timedelta(seconds=lease),
        limiter=limiter,
        sleep=sleep,
    )


def test_a_send_waiting_for_its_turn_leaves_its_slot_to_another_conversation(store: TinyDBStore) -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    _fill_burst(limiter, "alice", "carol")
    _queue(store, ["alice-0", "carol-0", "bob-0", "alice-1"])
    sent: list[tuple[str, float, str]] = []
    in_flight: list[int] = []

    def sleep(seconds: float) -> None:
        in_flight.append(dispatcher.in_flight)
        clock.advance(seconds)

    with _dispatcher(store, clock, sent, limiter=limiter, sleep=sleep) as dispatcher:
        report = dispatcher.drain()

    at = {key: second for key, second, _ in sent}
    assert at["bob-0"] == 0.0, "bob's message did not wait behind the two DMs out of turn"
    assert at["alice-0"] == at["carol-0"] == 3.0 and at["alice-1"] == 3.0
    assert [key for key, _, _ in sent if key.startswith("alice")] == ["alice-0", "alice-1"]
    assert in_flight and set(in_flight) == {0}, "time passed with every slot free"
    assert report.sent == 4 and report.skipped == 0
    assert store.count_outbox("default", "sent") == 4


def test_each_lane_keeps_its_order_while_its_sends_wait_for_their_turns(store: TinyDBStore) -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    _queue(store, [f"{who}-{n}" for n in range(7) for who in ("alice", "bob")] + ["carol-0"])
    sent: list[tuple[str, float, str]] = []
    counts: list[tuple[int, int]] = []

    def sleep(seconds: float) -> None:
        counts.append((dispatcher.in_flight, dispatcher.waiting))
        clock.advance(seconds)

    with _dispatcher(store, clock, sent, limiter=limiter, sleep=sleep, concurrency=3) as dispatcher:
        dispatcher.drain()

    for who in ("alice", "bob"):
        lane = [(key, second) for key, second, _ in sent if key.startswith(who)]
        assert [key for key, _ in lane] == [f"{who}-{n}" for n in range(7)]
        assert [second for _, second in lane] == [0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 6.0]
    assert [second for key, second, _ in sent if key == "carol-0"] == [0.0]
    assert counts == [(0, 2), (0, 2)], "the sends out of turn were counted as waiting, not in flight"


@pytest.mark.parametrize("renewed", [True, False])
def test_a_waiting_sends_lease_is_renewed_so_another_dispatcher_never_takes_it(
    store: TinyDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renewed: bool
) -> None:
    """Leases of 1.5 s, a turn 3 s ahead: the second dispatcher (another handle on the store, as
    another process) looks for due items each time the first lets time pass. Without renewal
    (the control) it takes the waiting item over, which shows the drill can see that."""
    if not renewed:
        monkeypatch.setattr(Dispatcher, "_renew_if_due", lambda self: None)
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    _fill_burst(limiter, "alice")
    _queue(store, ["alice-0", "bob-0"])
    sent: list[tuple[str, float, str]] = []
    other_store = TinyDBStore(tmp_path / "turns.json")
    other = _dispatcher(other_store, clock, sent, limiter=None, sleep=clock.advance, lease=1.5, name="second")

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        other.drain()

    try:
        with _dispatcher(store, clock, sent, limiter=limiter, sleep=sleep, lease=1.5) as dispatcher:
            dispatcher.drain()
    finally:
        other.close()
        other_store.close()

    keys = [key for key, _, _ in sent]
    assert sorted(keys) == ["alice-0", "bob-0"], "each sent once"
    if renewed:
        assert ("alice-0", 3.0, "first") in sent, "sent at its turn by the dispatcher that booked it"
    else:
        assert [who for key, _, who in sent if key == "alice-0"] == ["second"]


def test_stopping_while_a_send_waits_hands_it_back_due_at_its_turn(store: TinyDBStore) -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    _fill_burst(limiter, "alice")
    _queue(store, ["alice-0", "alice-1", "bob-0"])
    sent: list[tuple[str, float, str]] = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:  # the process is told to stop a second into the wait
        clock.advance(1.0)
        stop.set()

    with _dispatcher(store, clock, sent, limiter=limiter, sleep=sleep) as dispatcher:
        report = dispatcher.drain(stop=stop)
        assert dispatcher.waiting == 0 and dispatcher.in_flight == 0

    assert [key for key, _, _ in sent] == ["bob-0"]
    assert report.sent == 1 and report.skipped == 1
    handed_back = store.get_outbox_item("alice-0")
    assert handed_back is not None and handed_back.state == "pending" and handed_back.lease is None
    assert handed_back.next_attempt_at == START + timedelta(seconds=3), "due at the turn it had booked"
    assert handed_back.attempts == 0, "the attempt that never sent does not count"

    clock.advance(2.0)
    with _dispatcher(store, clock, sent, limiter=limiter, sleep=clock.advance) as dispatcher:
        dispatcher.drain()

    assert [key for key, _, _ in sent] == ["bob-0", "alice-0", "alice-1"], "nothing lost, nothing twice"
    assert store.count_outbox("default", "sent") == 3


@pytest.mark.timeout(60)
def test_a_server_stopping_while_a_send_waits_wakes_and_hands_it_back(store: TinyDBStore) -> None:
    """As :class:`handlers.runtime.DeliveryWorker` stops: no simulated sleep, the dispatcher
    waits on its condition for the turn (which never comes: the limiter's clock stands still)
    until the stop and the wake-up that goes with it."""
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    _fill_burst(limiter, "alice")
    _queue(store, ["alice-0"])
    sent: list[tuple[str, float, str]] = []
    stop = threading.Event()
    dispatcher = Dispatcher(store=store, notifiers=[Slack(clock, sent)], clock=clock.wall, limiter=limiter)
    reports = []
    worker = threading.Thread(target=lambda: reports.append(dispatcher.drain(stop=stop)))
    worker.start()
    while dispatcher.waiting == 0 and worker.is_alive():
        time.sleep(0.01)

    stop.set()
    dispatcher.wake()
    worker.join()
    dispatcher.close()

    assert sent == [] and reports[0].skipped == 1
    handed_back = store.get_outbox_item("alice-0")
    assert handed_back is not None and handed_back.lease is None
    assert handed_back.next_attempt_at == START + timedelta(seconds=3)
