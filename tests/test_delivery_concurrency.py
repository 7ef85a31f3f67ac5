"""Concurrent delivery drills (``bot.delivery.Dispatcher``), on both backends, on a real clock:

- many messages, a slow platform, a lease shorter than the slowest send, two dispatchers
  (two processes' worth of store handles) with 16 sends in flight each: every message is sent
  exactly once, and each conversation's messages in the order they were queued;
- the same drill with lease renewal switched off must catch double sends (proof that the drill
  can see the defect it guards against);
- people's cards go ahead of a crowd of digests due at the same moment.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.delivery import Dispatcher
from bot.models import Message, OutboxItem, Person
from bot.ports import Store
from tests.contract.factories import person
from tests.pg import postgres_url

pytestmark = pytest.mark.timeout(120)

Opener = Callable[[], Store]


@pytest.fixture(params=["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles on one fresh store of the backend (each handle: one process's worth)."""
    opened: list[Store] = []

    def open_one() -> Store:
        if request.param == "tinydb":
            from storage.tinydb_store import TinyDBStore

            handle: Store = TinyDBStore(tmp_path / "drill.json")
        else:
            from storage.postgres import PostgresStore

            handle = PostgresStore(postgres_url(), max_size=20)
            if not opened:
                handle.reset()  # type: ignore[attr-defined]
        opened.append(handle)
        return handle

    yield open_one
    for handle in opened:
        handle.close()


class SlowPlatform:
    """Records every send; each takes a random 0.2-1.5 s (some longer than the drill's lease)."""

    platform = "slack"

    def __init__(self, seed: int = 7) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
        with self._lock:
            pause = self._rng.uniform(0.2, 1.5)
        time.sleep(pause)
        with self._lock:
            self.sent.append((message.recipient_id, message.key))
        return f"ref-{message.key}"


def _now() -> datetime:
    return datetime.now(UTC)


def _queue(store: Store, *, lanes: int, per_lane: int, kind: str = "text") -> list[str]:
    people = [person(f"p{n}") for n in range(lanes)]
    store.save_org(people)
    start = _now() - timedelta(seconds=5)
    items, keys = [], []
    for round_ in range(per_lane):
        for n, who in enumerate(people):
            key = f"{kind}-{who.handle}-{round_}"
            created = start + timedelta(milliseconds=round_ * lanes + n)
            message = Message(key=key, recipient_id=who.id, kind=kind, title=key)  # type: ignore[arg-type]
            items.append(OutboxItem(key=key, message=message, created_at=created, next_attempt_at=created))
            keys.append(key)
    store.enqueue(items)
    return keys


def _run_replicas(open_store: Opener, platform: SlowPlatform, *, replicas: int, lease: float) -> None:
    first = open_store()
    _queue(first, lanes=24, per_lane=4)
    handles = [first, *(open_store() for _ in range(replicas - 1))]
    dispatchers = [
        Dispatcher(store=h, notifiers=[platform], clock=_now, concurrency=16, lease=timedelta(seconds=lease))
        for h in handles
    ]
    deadline = time.monotonic() + 60

    def work(dispatcher: Dispatcher) -> None:
        while first.count_outbox("default", "pending") and time.monotonic() < deadline:
            dispatcher.drain()
            time.sleep(0.02)

    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for dispatcher in dispatchers:
        dispatcher.close()


def _in_queue_order(sent: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Per recipient, the keys in the order they were sent, where that differs from queue order."""
    by_lane: dict[str, list[str]] = defaultdict(list)
    for recipient, key in sent:
        by_lane[recipient].append(key)
    return {r: keys for r, keys in by_lane.items() if keys != sorted(keys, key=lambda k: int(k.rsplit("-", 1)[1]))}


@pytest.mark.slow
def test_slow_sends_with_a_short_lease_on_two_replicas_go_once_each_and_in_order(open_store: Opener) -> None:
    platform = SlowPlatform()

    _run_replicas(open_store, platform, replicas=2, lease=1.0)

    twice = {key: n for key, n in Counter(key for _, key in platform.sent).items() if n > 1}
    assert not twice, f"sent more than once: {twice}"
    assert len(platform.sent) == 96, "every message was sent"
    assert not _in_queue_order(platform.sent), "each conversation's messages go in the order they were queued"
    store = open_store()
    assert store.count_outbox("default", "pending") == 0 and store.count_outbox("default", "sent") == 96


@pytest.mark.slow
def test_the_drill_catches_double_sends_when_leases_are_not_renewed(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deliberately broken dispatcher (no lease renewal): slow sends outlive their leases, the
    other replica takes them over mid-send, and the drill above would see them twice."""
    monkeypatch.setattr(Dispatcher, "_renew_if_due", lambda self: None)
    platform = SlowPlatform()

    _run_replicas(open_store, platform, replicas=2, lease=1.0)

    twice = {key: n for key, n in Counter(key for _, key in platform.sent).items() if n > 1}
    assert twice, "without renewal some slow sends must have gone out twice"


def test_a_persons_card_goes_ahead_of_105_digests_due_at_once(open_store: Opener) -> None:
    store = open_store()
    _queue(store, lanes=105, per_lane=1, kind="digest")
    card_for = person("zed")
    store.save_org([card_for])
    queued = _now()
    card = Message(key="card-zed", recipient_id=card_for.id, kind="provider_card", title="R-1")
    store.enqueue([OutboxItem(key="card-zed", message=card, created_at=queued, next_attempt_at=queued)])

    class Recording:
        platform = "slack"

        def __init__(self) -> None:
            self.sent: list[str] = []

        def can_reach(self, person: Person) -> bool:
            return True

        def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
            self.sent.append(message.key)
            return "ref"

    platform = Recording()
    with Dispatcher(store=store, notifiers=[platform], clock=_now, concurrency=1) as dispatcher:
        dispatcher.drain()

    assert platform.sent[0] == "card-zed" and len(platform.sent) == 106


def test_slow_digests_hold_a_quarter_of_the_slots_and_cards_keep_going(open_store: Opener) -> None:
    """A digest holds its slot while its chart is drawn and uploaded. However many are due,
    they take at most a quarter of the slots, so a card queued meanwhile goes out at once
    (with every slot to digests, cards waited 26 s in benchmarks/delivery_bench.py --digests)."""
    store = open_store()
    _queue(store, lanes=20, per_lane=1, kind="digest")
    zed = person("zed")
    store.save_org([zed])
    release = threading.Event()

    class SlowCharts:
        platform = "slack"

        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.sent: list[str] = []
            self.digests_at_once = 0
            self._digests_now = 0

        def can_reach(self, person: Person) -> bool:
            return True

        def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
            if message.kind == "digest":
                with self.lock:
                    self._digests_now += 1
                    self.digests_at_once = max(self.digests_at_once, self._digests_now)
                release.wait(30)
                with self.lock:
                    self._digests_now -= 1
            with self.lock:
                self.sent.append(message.key)
            return "ref"

    platform = SlowCharts()
    with Dispatcher(store=store, notifiers=[platform], clock=_now, concurrency=8) as dispatcher:
        draining = threading.Thread(target=dispatcher.drain)
        draining.start()
        try:
            deadline = time.monotonic() + 10
            while platform._digests_now < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            queued = _now()
            card = Message(key="card-zed", recipient_id=zed.id, kind="provider_card", title="R-1")
            store.enqueue([OutboxItem(key="card-zed", message=card, created_at=queued, next_attempt_at=queued)])
            dispatcher.wake()
            deadline = time.monotonic() + 10
            while "card-zed" not in platform.sent and time.monotonic() < deadline:
                time.sleep(0.01)
            assert "card-zed" in platform.sent, "the card waited for the digests' slots"
            assert dispatcher.in_flight == 2  # the digests: a quarter of the 8 slots
        finally:
            release.set()
            draining.join(60)

    assert platform.digests_at_once == 2
    assert sorted(platform.sent) == sorted([*(f"digest-p{n}-0" for n in range(20)), "card-zed"])
