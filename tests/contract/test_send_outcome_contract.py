"""``Store.save_outbox_item(item, card_ref=...)`` on every backend: a send's outcome and where
its card was posted in one write, the ref kept even when the outcome's compare-and-set fails
(the card is on the platform either way; forgetting it would post a second card)."""

from __future__ import annotations

import pytest

from bot.delivery import deliver_due
from bot.errors import Conflict
from bot.models import CardRef, Message, OutboxItem, Person
from bot.ports import Store
from tests.contract.factories import at, message, outbox_item, person


def _card(key: str = "card:R-1", revision: int = 2) -> OutboxItem:
    return outbox_item(key, message=message(key, card_key="R-1", revision=revision))


def _ref(ref: str = "C1:111.1", revision: int = 2) -> CardRef:
    return CardRef(card_key="R-1", platform="slack", ref=ref, revision=revision)


def _leased(store: Store, item: OutboxItem) -> OutboxItem:
    store.enqueue([item])
    [leased] = store.lease_outbox(now=at(0), until=at(1), token="t1")
    return leased


def _sent(leased: OutboxItem, ref: str = "C1:111.1") -> OutboxItem:
    return leased.model_copy(update={"state": "sent", "platform": "slack", "platform_ref": ref, "lease": None})


def test_the_outcome_and_the_card_ref_are_stored_together(store: Store) -> None:
    leased = _leased(store, _card())

    saved = store.save_outbox_item(_sent(leased), card_ref=_ref())

    assert saved.version == leased.version + 1 and saved.state == "sent"
    assert store.get_outbox_item("card:R-1") == saved
    assert store.get_card_ref("default", "R-1", "slack") == _ref()


def test_an_outcome_that_conflicts_raises_but_keeps_the_card_ref(store: Store) -> None:
    leased = _leased(store, _card())
    meanwhile = store.save_outbox_item(leased.model_copy(update={"lease": "t2"}))  # someone else took it

    with pytest.raises(Conflict):
        store.save_outbox_item(_sent(leased), card_ref=_ref())

    assert store.get_outbox_item("card:R-1") == meanwhile, "the outcome is not stored"
    assert store.get_card_ref("default", "R-1", "slack") == _ref(), "the posted card is remembered"


def test_an_outcome_for_a_gone_item_raises_but_keeps_the_card_ref(store: Store) -> None:
    with pytest.raises(Conflict):
        store.save_outbox_item(_sent(_card()), card_ref=_ref())

    assert store.get_outbox_item("card:R-1") is None
    assert store.get_card_ref("default", "R-1", "slack") == _ref()


def test_the_card_ref_saved_with_an_outcome_never_lowers_its_revision(store: Store) -> None:
    store.save_card_ref(_ref("C1:111.1", revision=5))
    leased = _leased(store, _card(revision=3))

    store.save_outbox_item(_sent(leased, "C1:111.1"), card_ref=_ref("C1:111.1", revision=3))

    stored = store.get_card_ref("default", "R-1", "slack")
    assert stored is not None and stored.revision == 5


def test_an_outcome_without_a_card_ref_leaves_the_card_refs_alone(store: Store) -> None:
    store.save_card_ref(_ref())
    leased = _leased(store, _card())

    store.save_outbox_item(_sent(leased, "elsewhere"))

    assert store.get_card_ref("default", "R-1", "slack") == _ref()


class TakenOverMidSend:
    """Posts the card, but while it does another worker takes the item (its lease ran out)."""

    platform = "slack"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.refs: list[str] = []

    def can_reach(self, target: Person) -> bool:
        return True

    def send(self, message: Message, target: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        current = self.store.get_outbox_item(message.key)
        assert current is not None
        self.store.save_outbox_item(current.model_copy(update={"lease": "another-worker"}))
        self.refs.append(f"D-bob:{len(self.refs) + 1}")
        return card_ref or self.refs[-1]


def test_a_send_whose_lease_was_taken_over_still_records_where_its_card_is(store: Store) -> None:
    store.save_org([person("bob")])
    store.enqueue([_card()])
    notifier = TakenOverMidSend(store)

    deliver_due(store=store, notifiers=[notifier], now=at(0))

    assert notifier.refs == ["D-bob:1"]
    stored = store.get_outbox_item("card:R-1")
    assert stored is not None and stored.state == "pending" and stored.lease == "another-worker"
    assert store.get_card_ref("default", "R-1", "slack") == _ref("D-bob:1"), "the next update edits this card"
