"""The inbox rules of :class:`bot.ports.Store`, on every backend: accepted once, leased to one
caller at a time, finished by its holder only, and a done item keeps no payload."""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.models import InboxItem
from bot.ports import Store
from tests.contract.conftest import StoreOpener
from tests.contract.factories import NOW


def item(key: str = "slack:cmd:T1:1", *, owner: str = "a", lease: float = 60, at_offset: float = 0) -> InboxItem:
    received = NOW + timedelta(seconds=at_offset)
    return InboxItem(
        key=key,
        platform="slack",
        kind="slack.command",
        payload={"text": "@bob need the Q3 numbers", "user_id": "U1"},
        received_at=received,
        owner=owner,
        lease_until=received + timedelta(seconds=lease),
    )


def test_an_item_is_accepted_once_per_key(store: Store) -> None:
    assert store.accept_inbox(item()) is True
    assert store.accept_inbox(item()) is False
    assert store.accept_inbox(item(owner="b")) is False
    assert store.count_inbox("default") == 1
    stored = store.get_inbox_item("default", "slack:cmd:T1:1")
    assert stored is not None and stored.owner == "a" and stored.payload["user_id"] == "U1"


def test_a_held_item_is_not_leased_until_its_lease_runs_out(store: Store) -> None:
    store.accept_inbox(item(lease=60))

    assert store.lease_inbox(now=NOW + timedelta(seconds=59), until=NOW + timedelta(seconds=200), owner="b") == []
    taken = store.lease_inbox(now=NOW + timedelta(seconds=60), until=NOW + timedelta(seconds=200), owner="b")

    assert [i.key for i in taken] == ["slack:cmd:T1:1"]
    assert taken[0].owner == "b" and taken[0].attempts == 1
    assert taken[0].lease_until == NOW + timedelta(seconds=200)
    assert store.lease_inbox(now=NOW + timedelta(seconds=61), until=NOW + timedelta(seconds=300), owner="c") == []


def test_lease_takes_oldest_first_up_to_the_limit_and_one_key_on_request(store: Store) -> None:
    for n in range(5):
        store.accept_inbox(item(f"k{n}", lease=0, at_offset=-n))

    first = store.lease_inbox(now=NOW, until=NOW + timedelta(minutes=5), owner="b", limit=2)
    assert [i.key for i in first] == ["k4", "k3"]
    one = store.lease_inbox(now=NOW, until=NOW + timedelta(minutes=5), owner="c", key=("default", "k0"))
    assert [i.key for i in one] == ["k0"]
    rest = store.lease_inbox(now=NOW, until=NOW + timedelta(minutes=5), owner="d")
    assert [i.key for i in rest] == ["k2", "k1"]


def test_only_the_holder_finishes_and_the_payload_is_dropped(store: Store) -> None:
    store.accept_inbox(item(owner="a", lease=0))
    store.lease_inbox(now=NOW, until=NOW + timedelta(minutes=5), owner="b")

    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="a", at=NOW) is False
    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="b", at=NOW) is True
    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="b", at=NOW) is False

    done = store.get_inbox_item("default", "slack:cmd:T1:1")
    assert done is not None and done.state == "done" and done.payload == {} and done.finished_at == NOW
    assert store.count_inbox("default") == 0 and store.count_inbox("default", state="done") == 1
    assert store.lease_inbox(now=NOW + timedelta(hours=1), until=NOW + timedelta(hours=2), owner="c") == []
    assert store.accept_inbox(item()) is False, "a done key is still known: a redelivery is not run again"


def test_a_failed_item_keeps_its_reason(store: Store) -> None:
    store.accept_inbox(item())
    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="a", at=NOW, error="boom") is True
    failed = store.get_inbox_item("default", "slack:cmd:T1:1")
    assert failed is not None and failed.state == "failed" and failed.last_error == "boom"


def test_concurrent_leases_from_two_handles_never_share_an_item(store: Store, open_store: StoreOpener) -> None:
    for n in range(40):
        store.accept_inbox(item(f"k{n:02}", lease=0))
    second = open_store()
    taken: dict[str, list[str]] = {"a": [], "b": []}

    def lease(handle: Store, owner: str) -> None:
        while got := handle.lease_inbox(now=NOW, until=NOW + timedelta(minutes=5), owner=owner, limit=3):
            taken[owner] += [i.key for i in got]

    threads = [threading.Thread(target=lease, args=(store, "a")), threading.Thread(target=lease, args=(second, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(taken["a"] + taken["b"]) == [f"k{n:02}" for n in range(40)]
    assert not set(taken["a"]) & set(taken["b"])


def test_oldest_pending_dates_the_oldest_waiting_inbox_and_outbox_items_only(store: Store) -> None:
    from tests.contract.factories import outbox_item

    assert store.oldest_pending("default") == (None, None)
    store.accept_inbox(item("k-new", at_offset=30))
    store.accept_inbox(item("k-old", at_offset=-30))
    store.accept_inbox(item("k-done", at_offset=-90))
    assert store.finish_inbox("default", "k-done", owner="a", at=NOW) is True
    store.enqueue([outbox_item("m-new", created_at=NOW + timedelta(minutes=5))])
    store.enqueue([outbox_item("m-old", created_at=NOW - timedelta(minutes=5))])
    store.enqueue([outbox_item("m-other", workspace="acme", created_at=NOW - timedelta(hours=5))])

    assert store.oldest_pending("default") == (NOW - timedelta(seconds=30), NOW - timedelta(minutes=5))
    assert store.oldest_pending("acme") == (None, NOW - timedelta(hours=5))


def test_a_released_item_is_taken_at_once_by_anyone_and_only_its_holder_releases(store: Store) -> None:
    store.accept_inbox(item(lease=60))
    assert store.release_inbox("default", "slack:cmd:T1:1", owner="b", at=NOW) is False  # not b's
    assert store.lease_inbox(now=NOW + timedelta(seconds=1), until=NOW + timedelta(seconds=90), owner="b") == []

    assert store.release_inbox("default", "slack:cmd:T1:1", owner="a", at=NOW + timedelta(seconds=1)) is True
    released = store.get_inbox_item("default", "slack:cmd:T1:1")
    assert released is not None and released.owner == "" and released.attempts == 0
    assert released.payload["user_id"] == "U1" and released.state == "pending"
    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="a", at=NOW) is False  # a let it go
    taken = store.lease_inbox(now=NOW + timedelta(seconds=1), until=NOW + timedelta(seconds=90), owner="b")
    assert [i.key for i in taken] == ["slack:cmd:T1:1"] and taken[0].owner == "b"
    assert store.release_inbox("default", "slack:cmd:T1:1", owner="a", at=NOW) is False
    assert store.finish_inbox("default", "slack:cmd:T1:1", owner="b", at=NOW + timedelta(seconds=2)) is True
    assert store.release_inbox("default", "slack:cmd:T1:1", owner="b", at=NOW) is False  # done: nothing to hand back
