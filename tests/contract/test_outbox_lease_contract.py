"""The outbox lease (``Store.lease_outbox`` / ``renew_outbox``) on every backend: one item per
lane in flight, each lane in order, people's messages before bulk, never one item to two
callers (threads or processes), and a repeated call with the same token takes nothing more."""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.delivery import UNCONFIRMED, UNSURE, was_unsure
from bot.errors import Conflict
from bot.ports import Store
from tests.contract.conftest import StoreOpener
from tests.contract.factories import at, message, outbox_item

LEASE_UNTIL = at(70)


def _item(key: str, recipient: str, created: int, *, kind: str = "text", due: int | None = None):  # type: ignore[no-untyped-def]
    return outbox_item(
        key,
        created_at=at(created),
        next_attempt_at=at(created if due is None else due),
        message=message(key, recipient=recipient, kind=kind),
    )


def test_a_lease_takes_the_oldest_due_item_of_each_lane_and_marks_it(store: Store) -> None:
    store.enqueue(
        [
            _item("bob-1", "P-bob", 1),
            _item("bob-2", "P-bob", 2),
            _item("carol-1", "P-carol", 3),
            _item("dave-later", "P-dave", 4, due=60),
        ]
    )

    taken = store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1", limit=10)

    assert [i.key for i in taken] == ["bob-1", "carol-1"]
    for item in taken:
        assert item.lease == "t1" and item.next_attempt_at == LEASE_UNTIL and item.attempts == 1
        assert item.version == 1 and item.last_error == f"{UNCONFIRMED}attempt 1 was sending"
        assert store.get_outbox_item(item.key) == item
    # bob's lane is busy until his first message is done: his second waits, in order
    assert store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t2") == []
    store.save_outbox_item(taken[0].model_copy(update={"state": "sent", "lease": None}))
    assert [i.key for i in store.lease_outbox(now=at(11), until=LEASE_UNTIL, token="t3")] == ["bob-2"]


def test_a_lane_whose_message_waits_for_a_retry_does_not_hold_up_the_next(store: Store) -> None:
    """Only a message in flight blocks its lane; one waiting out a fault (or poisoned) does not."""
    store.enqueue([_item("bob-1", "P-bob", 1, due=300), _item("bob-2", "P-bob", 2)])

    assert [i.key for i in store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1")] == ["bob-2"]


def test_people_waiting_go_before_bulk_work(store: Store) -> None:
    digests = [_item(f"digest-{n}", f"P-m{n}", n + 1, kind="digest") for n in range(5)]
    store.enqueue([*digests, _item("card", "P-bob", 9, kind="provider_card"), _item("nudge", "P-x", 0, kind="nudge")])

    taken = store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1", limit=3)

    assert [i.key for i in taken] == ["card", "nudge", "digest-0"]


def test_a_lease_can_cap_the_bulk_it_takes_and_still_take_every_person_waiting(store: Store) -> None:
    """A dispatcher keeps most of its slots for people: with ``bulk`` it takes at most that many
    bulk items (the rest stay due for the next lease), and every urgent one up to ``limit``."""
    digests = [_item(f"digest-{n}", f"P-m{n}", n + 1, kind="digest") for n in range(5)]
    cards = [_item(f"card-{n}", f"P-p{n}", n + 20, kind="provider_card") for n in range(3)]
    store.enqueue([*digests, *cards])

    first = store.lease_outbox_facts(now=at(30), until=LEASE_UNTIL, token="t1", platforms=["slack"], limit=10, bulk=2)
    assert [f.item.key for f in first if f.item] == ["card-0", "card-1", "card-2", "digest-0", "digest-1"]

    none = store.lease_outbox_facts(now=at(30), until=LEASE_UNTIL, token="t2", platforms=["slack"], limit=10, bulk=0)
    assert none == []  # only bulk is left, and none may be taken

    store.enqueue([_item("card-late", "P-late", 25, kind="provider_card")])
    late = store.lease_outbox_facts(now=at(30), until=LEASE_UNTIL, token="t3", platforms=["slack"], limit=2, bulk=0)
    assert [f.item.key for f in late if f.item] == ["card-late"]

    rest = store.lease_outbox_facts(now=at(30), until=LEASE_UNTIL, token="t4", platforms=["slack"], limit=10)
    assert [f.item.key for f in rest if f.item] == ["digest-2", "digest-3", "digest-4"]


def test_an_expired_lease_is_taken_over_and_the_old_holder_can_neither_renew_nor_save(store: Store) -> None:
    store.enqueue([_item("bob-1", "P-bob", 1)])
    [first] = store.lease_outbox(now=at(1), until=at(61), token="old", limit=1)
    assert store.renew_outbox([("bob-1", "old")], until=at(91)) == {"bob-1"}
    assert store.lease_outbox(now=at(80), until=at(140), token="new") == [], "a renewed lease holds"

    [again] = store.lease_outbox(now=at(95), until=at(155), token="new", limit=1)

    assert again.lease == "new" and again.attempts == 2 and was_unsure(again)
    assert again.last_error == f"{UNCONFIRMED}attempt 2 was sending{UNSURE}"
    assert store.renew_outbox([("bob-1", "old")], until=at(200)) == set()
    try:
        store.save_outbox_item(first.model_copy(update={"state": "sent", "lease": None}))
    except Conflict:
        pass
    else:
        raise AssertionError("the old holder's outcome must not overwrite the new lease")
    assert store.get_outbox_item("bob-1") == again


def test_repeating_a_lease_with_its_token_returns_what_it_holds_and_takes_no_more(store: Store) -> None:
    store.enqueue([_item(f"m{n}", f"P-{n}", n) for n in range(4)])
    first = store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1", limit=2)

    again = store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1", limit=2)

    assert [i.key for i in again] == [i.key for i in first] == ["m0", "m1"]
    assert [i.version for i in again] == [1, 1]


def test_threads_and_processes_leasing_at_once_never_share_an_item(store: Store, open_store: StoreOpener) -> None:
    store.enqueue([_item(f"m{n}", f"P-{n % 40}", n // 40) for n in range(120)])
    other = open_store()
    taken: list[str] = []
    lock = threading.Lock()

    def lease(handle: Store, name: str) -> None:
        for round_ in range(30):
            items = handle.lease_outbox(
                now=at(100), until=at(100) + timedelta(hours=1), token=f"{name}-{round_}", limit=3
            )
            with lock:
                taken.extend(i.key for i in items)
            for item in items:
                handle.save_outbox_item(item.model_copy(update={"state": "sent", "lease": None}))

    threads = [threading.Thread(target=lease, args=(h, f"w{n}")) for n, h in enumerate([store, other] * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(taken) == len(set(taken)) == 120
    assert store.count_outbox("default", "pending") == 0


def test_a_renewal_changes_nothing_but_the_lease_end(store: Store) -> None:
    store.enqueue([_item("bob-1", "P-bob", 1)])
    [item] = store.lease_outbox(now=at(1), until=at(61), token="t", limit=1)

    assert store.renew_outbox([("bob-1", "t"), ("nobody", "t")], until=at(121)) == {"bob-1"}

    renewed = store.get_outbox_item("bob-1")
    assert renewed == item.model_copy(update={"next_attempt_at": at(121)})
    store.save_outbox_item(renewed.model_copy(update={"state": "sent", "lease": None}))  # still the holder's version


def test_a_digest_in_flight_does_not_hold_up_its_recipients_cards(store: Store) -> None:
    """Bulk messages of no card have a lane beside the conversation's: a digest whose chart is
    being drawn and uploaded leaves bob's cards free to go. A nudge in a card's thread stays in
    the conversation's lane, behind the card."""
    threaded = outbox_item(
        "nudge-in-thread",
        created_at=at(3),
        next_attempt_at=at(3),
        message=message("nudge-in-thread", recipient="P-bob", kind="nudge", thread_key="R-1"),
    )
    store.enqueue(
        [_item("digest", "P-bob", 1, kind="digest"), _item("card-1", "P-bob", 2, kind="provider_card"), threaded]
    )

    first = store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t1", limit=10)
    assert [i.key for i in first] == ["card-1", "digest"]
    assert first[0].conversation == first[1].conversation == "default/P-bob" != first[1].lane
    assert store.lease_outbox(now=at(10), until=LEASE_UNTIL, token="t2") == []  # the nudge waits behind the card
    store.save_outbox_item(first[0].model_copy(update={"state": "sent", "lease": None}))
    assert [i.key for i in store.lease_outbox(now=at(11), until=LEASE_UNTIL, token="t3")] == ["nudge-in-thread"]
