"""``Store.delivery_facts`` on every backend: the reads before a send, in one call, the same
as the single reads they replace."""

from __future__ import annotations

from bot.models import CardRef
from bot.ports import Store
from tests.contract.factories import at, message, outbox_item, person


def _ref(card_key: str, platform: str, ref: str, revision: int = 0, *, workspace: str = "default") -> CardRef:
    return CardRef(workspace=workspace, card_key=card_key, platform=platform, ref=ref, revision=revision)


def test_the_facts_are_the_item_the_recipient_and_the_asked_card_refs(store: Store) -> None:
    store.save_org([person("bob"), person("carol")])
    item = outbox_item("card:R-1", message=message("card:R-1", recipient="P-bob", card_key="R-1", thread_key="T-1"))
    store.enqueue([item])
    for ref in (
        _ref("R-1", "slack", "C1:111.1", 3),
        _ref("R-1", "teams", "conv|act-1", 2),
        _ref("T-1", "slack", "C1:100.0"),
        _ref("R-2", "slack", "C1:222.2"),  # not asked for
        _ref("R-1", "slack", "elsewhere", workspace="acme"),  # another workspace
    ):
        store.save_card_ref(ref)
    leased = store.lease_outbox(now=at(0), until=at(5), token="t1")[0]

    facts = store.delivery_facts(leased, card_keys=["R-1", "T-1"], platforms=["slack"])

    assert facts.item == store.get_outbox_item("card:R-1") and facts.item is not None
    assert (facts.item.lease, facts.item.version) == (leased.lease, leased.version)
    assert facts.person == store.get_person("default", "P-bob")
    assert dict(facts.cards) == {
        ("R-1", "slack"): store.get_card_ref("default", "R-1", "slack"),
        ("T-1", "slack"): store.get_card_ref("default", "T-1", "slack"),
    }
    both = store.delivery_facts(leased, card_keys=["R-1"], platforms=["slack", "teams"])
    assert set(both.cards) == {("R-1", "slack"), ("R-1", "teams")}
    assert both.cards[("R-1", "teams")].revision == 2


def test_facts_of_a_gone_item_an_unknown_recipient_and_no_cards(store: Store) -> None:
    item = outbox_item("note:1", message=message("note:1", recipient="P-nobody"))

    facts = store.delivery_facts(item, card_keys=[], platforms=["slack", "teams"])

    assert (facts.item, facts.person, dict(facts.cards)) == (None, None, {})


def test_a_lease_with_facts_reads_what_delivery_facts_reads_for_each_item(store: Store) -> None:
    store.save_org([person("bob"), person("carol")])
    store.enqueue(
        [
            outbox_item("card:R-1", message=message("card:R-1", recipient="P-bob", card_key="R-1", thread_key="T-1")),
            outbox_item("card:R-2", message=message("card:R-2", recipient="P-carol", card_key="R-2")),
            outbox_item("note:1", message=message("note:1", recipient="P-nobody")),
        ]
    )
    for ref in (
        _ref("R-1", "slack", "C1:111.1", 3),
        _ref("R-1", "teams", "conv|act-1", 2),  # another platform than asked
        _ref("T-1", "slack", "C1:100.0"),
        _ref("R-2", "slack", "C2:222.2"),
        _ref("R-1", "slack", "elsewhere", workspace="acme"),  # another workspace
    ):
        store.save_card_ref(ref)

    leased = store.lease_outbox_facts(now=at(0), until=at(5), token="t1", platforms=["slack"])

    assert [f.item.key for f in leased if f.item] == ["card:R-1", "card:R-2", "note:1"]
    for facts in leased:
        assert facts.item is not None and facts.item.lease == "t1"
        message_ = facts.item.message
        keys = [k for k in (message_.card_key, message_.thread_key) if k]
        alone = store.delivery_facts(facts.item, card_keys=keys, platforms=["slack"])
        assert (facts.item, facts.person, dict(facts.cards)) == (alone.item, alone.person, dict(alone.cards))
    assert set(leased[0].cards) == {("R-1", "slack"), ("T-1", "slack")}
    assert leased[0].cards[("R-1", "slack")].revision == 3
    assert leased[2].person is None and dict(leased[2].cards) == {}

    again = store.lease_outbox_facts(now=at(0), until=at(5), token="t1", platforms=["slack"])  # a lost answer's retry

    assert [(f.item, f.person, dict(f.cards)) for f in again] == [(f.item, f.person, dict(f.cards)) for f in leased]
    assert store.lease_outbox_facts(now=at(0), until=at(5), token="t2", platforms=["slack"]) == []
