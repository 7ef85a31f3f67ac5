"""The rules of :mod:`bot.ports`, checked on every backend (see ``conftest.py``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta, timezone

import pytest

from bot.errors import Conflict
from bot.models import CardRef, Fact, OutboxItem, Request, Status
from bot.ports import Store
from tests.contract.conftest import StoreOpener
from tests.contract.factories import NOW, at, kudos, outbox_item, person, request, team

# --- the protocol ------------------------------------------------------------------------------


def test_backend_implements_the_store_protocol(store: Store) -> None:
    assert isinstance(store, Store)


# --- numbering ---------------------------------------------------------------------------------


def test_request_numbers_start_at_one_per_workspace_without_gaps(store: Store) -> None:
    numbers = [store.create_request(request())[0].number for _ in range(5)]
    other = [store.create_request(request(workspace="acme"))[0].number for _ in range(3)]

    assert numbers == [1, 2, 3, 4, 5]
    assert other == [1, 2, 3]


def test_created_request_is_stored_numbered_at_version_zero(store: Store) -> None:
    stored, created = store.create_request(request(text="Need the VPN fixed"))

    assert created is True
    assert stored.number == 1
    assert stored.version == 0
    assert stored.text == "Need the VPN fixed"
    assert store.get_request("default", 1) == stored
    assert store.get_request("default", 2) is None


def test_two_handles_on_one_store_share_the_numbering(store: Store, open_store: StoreOpener) -> None:
    second = open_store()
    numbers = []
    for _ in range(3):
        numbers.append(store.create_request(request())[0].number)
        numbers.append(second.create_request(request())[0].number)

    assert numbers == [1, 2, 3, 4, 5, 6]
    assert store.get_request("default", 6) == second.get_request("default", 6)


def test_concurrent_creates_from_threads_get_distinct_gapless_numbers(store: Store) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            number = store.create_request(request())[0].number
            with lock:
                results.append(number)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == list(range(1, 61))


# --- idempotent create and its outbox -------------------------------------------------------------


def test_repeated_create_key_returns_the_first_request_and_stores_nothing(store: Store) -> None:
    calls: list[int] = []

    def build(numbered: Request) -> Sequence[OutboxItem]:
        calls.append(numbered.number)
        return [outbox_item(f"card:{numbered.ref}:{len(calls)}")]

    first, created = store.create_request(request(text="first"), build_outbox=build, idempotency_key="slack:evt-1")
    again, created_again = store.create_request(
        request(text="second"), build_outbox=build, idempotency_key="slack:evt-1"
    )

    assert created is True
    assert created_again is False
    assert again == first
    assert again.text == "first"
    assert calls == [1]
    assert [item.key for item in store.list_outbox("default")] == ["card:R-1:1"]
    assert store.create_request(request())[0].number == 2


def test_idempotency_keys_are_per_workspace(store: Store) -> None:
    first, _ = store.create_request(request(), idempotency_key="evt-1")
    other, created = store.create_request(request(workspace="acme"), idempotency_key="evt-1")

    assert created is True
    assert (first.workspace, other.workspace) == ("default", "acme")


def test_build_outbox_sees_the_number_and_its_items_are_stored_with_the_request(store: Store) -> None:
    store.create_request(request())
    seen: list[Request] = []

    def build(numbered: Request) -> Sequence[OutboxItem]:
        seen.append(numbered)
        return [
            outbox_item(f"provider-card:{numbered.ref}", created_at=at(0)),
            outbox_item(f"requester-card:{numbered.ref}", created_at=at(0), next_attempt_at=at(5)),
        ]

    stored, _ = store.create_request(request(), build_outbox=build)

    assert [r.number for r in seen] == [2]
    assert stored.number == 2
    assert [i.key for i in store.list_outbox("default")] == ["provider-card:R-2", "requester-card:R-2"]
    assert store.get_outbox_item("requester-card:R-2") == outbox_item(
        "requester-card:R-2", created_at=at(0), next_attempt_at=at(5)
    )


def test_failing_build_outbox_stores_nothing_and_keeps_the_number_free(store: Store) -> None:
    def build(numbered: Request) -> Sequence[OutboxItem]:
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        store.create_request(request(), build_outbox=build, idempotency_key="evt-9")

    assert store.get_request("default", 1) is None
    assert list(store.iter_requests("default")) == []
    assert store.list_outbox("default") == []
    stored, created = store.create_request(request(), idempotency_key="evt-9")
    assert (stored.number, created) == (1, True)


def test_build_outbox_may_read_the_store(store: Store) -> None:
    store.save_org([person("bob")])
    store.create_request(request())

    def build(numbered: Request) -> Sequence[OutboxItem]:
        provider = store.find_person("default", handle="bob")
        previous = store.get_request("default", numbered.number - 1)
        assert provider is not None and previous is not None
        return [outbox_item(f"card:{numbered.ref}:{provider.handle}:{previous.ref}")]

    store.create_request(request(), build_outbox=build)

    assert store.get_outbox_item("card:R-2:bob:R-1") is not None


def test_outbox_key_already_present_is_not_overwritten_by_a_later_write(store: Store) -> None:
    store.enqueue([outbox_item("digest:P-bob", state="sent")])

    store.create_request(request(), build_outbox=lambda r: [outbox_item("digest:P-bob"), outbox_item("card:1")])

    assert store.get_outbox_item("digest:P-bob").state == "sent"  # type: ignore[union-attr]
    assert store.get_outbox_item("card:1") is not None


# --- updates -----------------------------------------------------------------------------------------


def test_update_stores_the_next_version_and_returns_it(store: Store) -> None:
    stored, _ = store.create_request(request())

    updated, changed = store.update_request(stored.model_copy(update={"status": Status.ACKNOWLEDGED}))

    assert changed is True
    assert updated.version == 1
    assert updated.status == Status.ACKNOWLEDGED
    assert store.get_request("default", 1) == updated


def test_update_with_a_stale_version_raises_conflict_and_stores_nothing(store: Store) -> None:
    stored, _ = store.create_request(request())
    store.update_request(stored.model_copy(update={"status": Status.ACKNOWLEDGED}))

    with pytest.raises(Conflict):
        store.update_request(stored.model_copy(update={"status": Status.DONE}), outbox=[outbox_item("update:R-1")])

    current = store.get_request("default", 1)
    assert current is not None
    assert (current.version, current.status) == (1, Status.ACKNOWLEDGED)
    assert store.get_outbox_item("update:R-1") is None


def test_update_of_a_request_that_does_not_exist_raises_conflict(store: Store) -> None:
    with pytest.raises(Conflict):
        store.update_request(request().model_copy(update={"number": 7}))
    assert store.get_request("default", 7) is None


def test_update_outbox_items_are_stored_with_the_change(store: Store) -> None:
    stored, _ = store.create_request(request())

    store.update_request(stored.model_copy(update={"status": Status.DONE}), outbox=[outbox_item("rate:R-1")])

    item = store.get_outbox_item("rate:R-1")
    assert item is not None
    assert item.state == "pending"


def test_repeated_update_key_stores_nothing_and_returns_the_current_request(store: Store) -> None:
    stored, _ = store.create_request(request())
    change = stored.model_copy(update={"status": Status.IN_PROGRESS})

    first, changed = store.update_request(change, outbox=[outbox_item("u1")], idempotency_key="click-1")
    again, changed_again = store.update_request(change, outbox=[outbox_item("u2")], idempotency_key="click-1")

    assert changed is True
    assert changed_again is False
    assert again == first
    assert again.version == 1
    assert store.get_outbox_item("u2") is None


def test_update_that_conflicts_does_not_use_up_its_idempotency_key(store: Store) -> None:
    stored, _ = store.create_request(request())
    store.update_request(stored)

    with pytest.raises(Conflict):
        store.update_request(stored, idempotency_key="click-2")
    fresh = store.get_request("default", 1)
    assert fresh is not None
    updated, changed = store.update_request(fresh, idempotency_key="click-2")

    assert (updated.version, changed) == (2, True)


# --- finding requests -----------------------------------------------------------------------------------


def _seed(store: Store) -> None:
    """R-1..R-6 in ``default``: varied providers, requesters and states."""
    specs = [
        ("P-alice", "P-bob", Status.OPEN),
        ("P-alice", "P-carol", Status.DONE),
        ("P-erin", "P-bob", Status.DONE),
        ("P-erin", "P-bob", Status.IN_PROGRESS),
        ("P-alice", "P-bob", Status.CANCELLED),
        ("P-alice", "P-carol", Status.ACKNOWLEDGED),
    ]
    for number, (requester, provider, status) in enumerate(specs, start=1):
        stored, _ = store.create_request(request(requester, provider, created_at=at(number * 60)))
        if status != Status.OPEN:
            store.update_request(stored.model_copy(update={"status": status}))
        assert stored.number == number


def _numbers(found: Sequence[Request]) -> list[int]:
    return [r.number for r in found]


def test_find_requests_filters_by_provider_requester_and_open_newest_first(store: Store) -> None:
    _seed(store)

    assert _numbers(store.find_requests("default")) == [6, 5, 4, 3, 2, 1]
    assert _numbers(store.find_requests("default", provider_id="P-bob")) == [5, 4, 3, 1]
    assert _numbers(store.find_requests("default", provider_id="P-bob", open_only=True)) == [4, 1]
    assert _numbers(store.find_requests("default", requester_id="P-alice")) == [6, 5, 2, 1]
    assert _numbers(store.find_requests("default", requester_id="P-alice", open_only=True)) == [6, 1]
    assert _numbers(store.find_requests("default", open_only=True)) == [6, 4, 1]
    assert _numbers(store.find_requests("default", provider_id="P-bob", requester_id="P-erin")) == [4, 3]
    assert store.find_requests("default", provider_id="P-nobody") == []


def test_find_requests_follows_status_and_provider_changes(store: Store) -> None:
    stored, _ = store.create_request(request("P-alice", "P-bob"))
    assert _numbers(store.find_requests("default", provider_id="P-bob", open_only=True)) == [1]

    moved, _ = store.update_request(stored.model_copy(update={"provider_id": "P-carol"}))
    assert store.find_requests("default", provider_id="P-bob") == []
    assert _numbers(store.find_requests("default", provider_id="P-carol", open_only=True)) == [1]

    done, _ = store.update_request(moved.model_copy(update={"status": Status.DONE}))
    assert store.find_requests("default", provider_id="P-carol", open_only=True) == []
    assert store.find_requests("default", open_only=True) == []
    assert _numbers(store.find_requests("default", provider_id="P-carol")) == [1]

    store.update_request(done.model_copy(update={"status": Status.OPEN}))
    assert _numbers(store.find_requests("default", open_only=True)) == [1]


def test_find_requests_by_parent(store: Store) -> None:
    store.create_request(request())
    store.create_request(request(parent=1))
    store.create_request(request())
    store.create_request(request(parent=1))
    store.create_request(request(parent=3))

    assert _numbers(store.find_requests("default", parent=1)) == [4, 2]
    assert _numbers(store.find_requests("default", parent=3)) == [5]
    assert store.find_requests("default", parent=2) == []


def test_find_requests_created_range_includes_since_and_excludes_until(store: Store) -> None:
    _seed(store)  # R-n created at NOW + n hours

    found = store.find_requests("default", created_since=at(2 * 60), created_until=at(5 * 60))
    assert _numbers(found) == [4, 3, 2]
    assert _numbers(store.find_requests("default", created_since=at(5 * 60))) == [6, 5]
    assert _numbers(store.find_requests("default", created_until=at(2 * 60))) == [1]


def test_find_requests_created_range_compares_instants_across_time_zones(store: Store) -> None:
    tokyo = timezone(timedelta(hours=9))
    store.create_request(request(created_at=NOW.astimezone(tokyo)))
    store.create_request(request(created_at=at(30)))

    assert _numbers(store.find_requests("default", created_since=at(1))) == [2]
    assert _numbers(store.find_requests("default", created_until=at(1).astimezone(tokyo))) == [1]


def test_find_requests_limit_keeps_the_newest(store: Store) -> None:
    _seed(store)

    assert _numbers(store.find_requests("default", limit=2)) == [6, 5]
    assert _numbers(store.find_requests("default", provider_id="P-bob", limit=3)) == [5, 4, 3]
    assert _numbers(store.find_requests("default", open_only=True, limit=1)) == [6]


def test_iter_requests_yields_every_request_of_the_workspace_oldest_first(store: Store) -> None:
    _seed(store)
    store.create_request(request(workspace="acme"))

    assert [r.number for r in store.iter_requests("default")] == [1, 2, 3, 4, 5, 6]
    assert [r.workspace for r in store.iter_requests("acme")] == ["acme"]
    assert list(store.iter_requests("empty")) == []


# --- workspace isolation ----------------------------------------------------------------------------------


def test_workspaces_never_mix(store: Store) -> None:
    store.save_org([person("bob", workspace="default", name="Bob D"), person("bob", workspace="acme", name="Bob A")])
    store.create_request(request(workspace="default", text="default one"))
    store.create_request(request(workspace="acme", text="acme one"))
    store.put_doc("settings", "default", "main", {"tz": "UTC"})
    store.claim("default", "nudge:R-1", at=NOW)

    assert store.find_person("acme", handle="bob").name == "Bob A"  # type: ignore[union-attr]
    assert store.get_person("default", "P-bob").name == "Bob D"  # type: ignore[union-attr]
    assert store.get_request("acme", 1).text == "acme one"  # type: ignore[union-attr]
    assert [r.text for r in store.find_requests("default", provider_id="P-bob")] == ["default one"]
    assert [p.workspace for p in store.list_people("acme")] == ["acme"]
    assert store.get_doc("settings", "acme", "main") is None
    assert store.claim("acme", "nudge:R-1", at=NOW) is True
    assert store.find_requests("elsewhere") == []


# --- people and teams ------------------------------------------------------------------------------------


def test_find_person_by_handle_and_email_ignores_case(store: Store) -> None:
    store.save_org([person("Bob", email="Bob.Smith@Example.com"), person("carol")])

    assert store.find_person("default", handle="bob").id == "P-Bob"  # type: ignore[union-attr]
    assert store.find_person("default", handle="BOB").id == "P-Bob"  # type: ignore[union-attr]
    assert store.find_person("default", email="bob.smith@example.COM").id == "P-Bob"  # type: ignore[union-attr]
    assert store.find_person("default", handle="dave") is None
    assert store.find_person("default", email="nobody@example.com") is None


def test_find_person_by_slack_id_and_teams_id(store: Store) -> None:
    store.save_org(
        [
            person("bob", slack_ids={"T1": "U-BOB", "T2": "U-BOB-2"}, teams_id="aad-bob"),
            person("carol", slack_ids={"T1": "U-CAROL"}),
        ]
    )

    assert store.find_person("default", slack_id=("T1", "U-BOB")).id == "P-bob"  # type: ignore[union-attr]
    assert store.find_person("default", slack_id=("T2", "U-BOB-2")).id == "P-bob"  # type: ignore[union-attr]
    assert store.find_person("default", slack_id=("T1", "U-CAROL")).id == "P-carol"  # type: ignore[union-attr]
    assert store.find_person("default", slack_id=("T2", "U-BOB")) is None
    assert store.find_person("default", teams_id="aad-bob").id == "P-bob"  # type: ignore[union-attr]
    assert store.find_person("default", teams_id="aad-nobody") is None


def test_save_org_replaces_people_by_id_and_their_lookups(store: Store) -> None:
    store.save_org([person("bob", email="bob@old.example", teams_id="aad-1")])

    store.save_org([person("robert", id="P-bob", email="robert@new.example", teams_id="aad-2")])

    assert store.get_person("default", "P-bob").handle == "robert"  # type: ignore[union-attr]
    assert store.find_person("default", handle="bob") is None
    assert store.find_person("default", email="bob@old.example") is None
    assert store.find_person("default", teams_id="aad-1") is None
    assert store.find_person("default", handle="robert").id == "P-bob"  # type: ignore[union-attr]
    assert store.find_person("default", teams_id="aad-2").id == "P-bob"  # type: ignore[union-attr]
    assert len(store.list_people("default")) == 1


def test_list_people_is_ordered_by_handle(store: Store) -> None:
    store.save_org([person("dave"), person("alice"), person("carol"), person("bob")])

    assert [p.handle for p in store.list_people("default")] == ["alice", "bob", "carol", "dave"]
    assert store.list_people("acme") == []


def test_save_org_stores_teams_replaced_by_id_and_listed_by_name(store: Store) -> None:
    store.save_org([], [team("T-fin", "Finance"), team("T-sales", "Sales"), team("T-eng", "Engineering")])
    store.save_org([person("bob", team_id="T-fin")], [team("T-sales", "Account Management", manager_id="P-x")])

    assert [t.name for t in store.list_teams("default")] == ["Account Management", "Engineering", "Finance"]
    assert store.get_team("default", "T-sales").manager_id == "P-x"  # type: ignore[union-attr]
    assert store.get_team("default", "T-none") is None
    assert store.get_person("default", "P-bob").team_id == "T-fin"  # type: ignore[union-attr]


# --- kudos -------------------------------------------------------------------------------------------------


def test_kudos_are_found_by_giver_recipient_and_time_oldest_first(store: Store) -> None:
    assert store.add_kudos(kudos("k3", "P-carol", ("P-bob",), when=at(30)))
    assert store.add_kudos(kudos("k1", "P-alice", ("P-bob", "P-carol"), when=at(0)))
    assert store.add_kudos(kudos("k2", "P-alice", ("P-dave",), when=at(10)))
    assert store.add_kudos(kudos("k9", "P-alice", ("P-bob",), workspace="acme", when=at(0)))

    def ids(found: Sequence[object]) -> list[str]:
        return [k.id for k in found]  # type: ignore[attr-defined]

    assert ids(store.find_kudos("default")) == ["k1", "k2", "k3"]
    assert ids(store.find_kudos("default", giver_id="P-alice")) == ["k1", "k2"]
    assert ids(store.find_kudos("default", recipient_id="P-bob")) == ["k1", "k3"]
    assert ids(store.find_kudos("default", recipient_id="P-carol")) == ["k1"]
    assert ids(store.find_kudos("default", since=at(10))) == ["k2", "k3"]
    assert ids(store.find_kudos("default", until=at(10))) == ["k1"]
    assert ids(store.find_kudos("default", giver_id="P-alice", recipient_id="P-dave", since=at(5))) == ["k2"]
    assert ids(store.find_kudos("acme")) == ["k9"]


def test_repeated_kudos_id_or_key_stores_nothing(store: Store) -> None:
    assert store.add_kudos(kudos("k1"), outbox=[outbox_item("kudos:k1")], idempotency_key="evt-1") is True

    assert store.add_kudos(kudos("k1", message="again"), outbox=[outbox_item("kudos:k1:again")]) is False
    assert store.add_kudos(kudos("k2"), outbox=[outbox_item("kudos:k2")], idempotency_key="evt-1") is False

    assert [k.message for k in store.find_kudos("default")] == ["Thanks for the quick turnaround!"]
    assert store.get_outbox_item("kudos:k1") is not None
    assert store.get_outbox_item("kudos:k1:again") is None
    assert store.get_outbox_item("kudos:k2") is None


# --- claims --------------------------------------------------------------------------------------------------


def test_claim_first_caller_wins_per_workspace(store: Store) -> None:
    assert store.claim("default", "nudge:R-7:2026-11-24", at=NOW) is True
    assert store.claim("default", "nudge:R-7:2026-11-24", at=at(1)) is False
    assert store.claim("default", "nudge:R-7:2026-11-25", at=at(1)) is True
    assert store.claim("acme", "nudge:R-7:2026-11-24", at=NOW) is True


def test_claim_outbox_items_are_stored_only_by_the_winner(store: Store) -> None:
    assert store.claim("default", "digest:P-bob:2026-11-24", at=NOW, outbox=[outbox_item("digest-1")]) is True
    assert store.claim("default", "digest:P-bob:2026-11-24", at=NOW, outbox=[outbox_item("digest-2")]) is False

    assert store.get_outbox_item("digest-1") is not None
    assert store.get_outbox_item("digest-2") is None


def test_claims_from_two_handles_are_won_once(store: Store, open_store: StoreOpener) -> None:
    second = open_store()
    wins = [handle.claim("default", f"k{i % 5}", at=NOW) for i in range(10) for handle in (store, second)]

    assert wins.count(True) == 5


# --- outbox --------------------------------------------------------------------------------------------------


def test_enqueue_stores_new_items_and_leaves_existing_keys_untouched(store: Store) -> None:
    store.enqueue([outbox_item("a", attempts=3)])

    store.enqueue([outbox_item("a"), outbox_item("b")])

    assert store.get_outbox_item("a").attempts == 3  # type: ignore[union-attr]
    assert store.get_outbox_item("b") is not None
    assert store.get_outbox_item("c") is None


def test_due_outbox_returns_pending_due_items_oldest_first(store: Store) -> None:
    store.enqueue(
        [
            outbox_item("later", next_attempt_at=at(10)),
            outbox_item("second", next_attempt_at=at(2)),
            outbox_item("first", next_attempt_at=at(1)),
            outbox_item("sent", next_attempt_at=at(0), state="sent"),
            outbox_item("failed", next_attempt_at=at(0), state="failed"),
            outbox_item("acme", workspace="acme", next_attempt_at=at(3)),
            outbox_item("exactly-now", next_attempt_at=at(5)),
        ]
    )

    due = store.due_outbox(now=at(5))
    assert [i.key for i in due] == ["first", "second", "acme", "exactly-now"]
    assert [i.key for i in store.due_outbox(now=at(5), limit=2)] == ["first", "second"]
    assert store.due_outbox(now=at(0)) == []


def test_count_outbox_counts_per_workspace_and_state(store: Store) -> None:
    store.enqueue(
        [
            outbox_item("p1"),
            outbox_item("p2"),
            outbox_item("sent", state="sent"),
            outbox_item("failed", state="failed"),
            outbox_item("acme", workspace="acme"),
        ]
    )

    assert store.count_outbox("default", "pending") == 2
    assert store.count_outbox("default", "sent") == 1
    assert store.count_outbox("default") == 4
    assert store.count_outbox("acme", "pending") == 1
    assert store.count_outbox("nobody", "pending") == 0
    assert store.count_outbox("default", "pending") == len(store.list_outbox("default", state="pending"))


def test_ping_answers_when_the_store_can_be_written(store: Store) -> None:
    store.ping()  # raises StorageError when it can't


def test_due_outbox_orders_equal_times_by_insertion(store: Store) -> None:
    store.enqueue([outbox_item(key, next_attempt_at=at(1)) for key in ("m3", "m1", "m2")])

    assert [i.key for i in store.due_outbox(now=at(1))] == ["m3", "m1", "m2"]


def test_save_outbox_item_checks_the_version_and_stores_the_next_one(store: Store) -> None:
    store.enqueue([outbox_item("card:R-1")])
    item = store.get_outbox_item("card:R-1")
    assert item is not None

    sent = store.save_outbox_item(
        item.model_copy(update={"state": "sent", "attempts": 1, "platform": "slack", "platform_ref": "C1/123.4"})
    )

    assert sent.version == 1
    assert store.get_outbox_item("card:R-1") == sent
    assert store.due_outbox(now=at(60)) == []
    with pytest.raises(Conflict):
        store.save_outbox_item(item.model_copy(update={"state": "failed"}))
    assert store.get_outbox_item("card:R-1").state == "sent"  # type: ignore[union-attr]


def test_retried_outbox_item_becomes_due_at_its_new_time(store: Store) -> None:
    store.enqueue([outbox_item("m", next_attempt_at=at(0))])
    item = store.due_outbox(now=at(0))[0]

    store.save_outbox_item(item.model_copy(update={"attempts": 1, "next_attempt_at": at(5), "last_error": "503"}))

    assert store.due_outbox(now=at(4)) == []
    assert [(i.key, i.attempts, i.version) for i in store.due_outbox(now=at(5))] == [("m", 1, 1)]


def test_save_outbox_item_that_does_not_exist_raises_conflict(store: Store) -> None:
    with pytest.raises(Conflict):
        store.save_outbox_item(outbox_item("ghost"))
    assert store.get_outbox_item("ghost") is None


def test_list_outbox_by_workspace_and_state_oldest_first(store: Store) -> None:
    store.enqueue(
        [
            outbox_item("b", created_at=at(2)),
            outbox_item("a", created_at=at(1), state="sent"),
            outbox_item("c", created_at=at(3), state="failed"),
            outbox_item("x", workspace="acme", created_at=at(0)),
        ]
    )

    assert [i.key for i in store.list_outbox("default")] == ["a", "b", "c"]
    assert [i.key for i in store.list_outbox("default", state="pending")] == ["b"]
    assert [i.key for i in store.list_outbox("default", state="failed")] == ["c"]
    assert [i.key for i in store.list_outbox("acme")] == ["x"]


# --- card references -------------------------------------------------------------------------------------------


def test_card_refs_are_saved_replaced_and_kept_per_platform(store: Store) -> None:
    store.save_card_ref(CardRef(card_key="R-1", platform="slack", ref="C1/111.1"))
    store.save_card_ref(CardRef(card_key="R-1", platform="teams", ref="conv/1"))
    store.save_card_ref(CardRef(card_key="R-1", platform="slack", ref="C1/222.2"))

    assert store.get_card_ref("default", "R-1", "slack").ref == "C1/222.2"  # type: ignore[union-attr]
    assert store.get_card_ref("default", "R-1", "teams").ref == "conv/1"  # type: ignore[union-attr]
    assert store.get_card_ref("default", "R-2", "slack") is None
    assert store.get_card_ref("acme", "R-1", "slack") is None


# --- small documents -----------------------------------------------------------------------------------------


def test_docs_put_get_list_and_delete(store: Store) -> None:
    store.put_doc("settings", "default", "main", {"tz": "UTC", "nudges": {"hour": 9}})
    store.put_doc("convref", "default", "b", {"id": 2})
    store.put_doc("convref", "default", "a", {"id": 1})
    store.put_doc("convref", "default", "a", {"id": 11})
    store.put_doc("convref", "acme", "z", {"id": 99})

    assert store.get_doc("settings", "default", "main") == {"tz": "UTC", "nudges": {"hour": 9}}
    assert store.list_docs("convref", "default") == [("a", {"id": 11}), ("b", {"id": 2})]
    assert store.delete_doc("convref", "default", "a") is True
    assert store.delete_doc("convref", "default", "a") is False
    assert store.get_doc("convref", "default", "a") is None
    assert store.list_docs("convref", "default") == [("b", {"id": 2})]
    assert store.list_docs("convref", "acme") == [("z", {"id": 99})]
    assert store.list_docs("pulse", "default") == []


def test_get_docs_reads_the_stored_ones_among_many_keys_at_once(store: Store) -> None:
    store.put_doc("seen", "default", "P-1", {"n": 1})
    store.put_doc("seen", "default", "P-3", {"n": 3})
    store.put_doc("seen", "acme", "P-2", {"n": 2})
    store.put_doc("other", "default", "P-2", {"n": 0})

    assert store.get_docs("seen", "default", ["P-1", "P-2", "P-3", "P-4"]) == {"P-1": {"n": 1}, "P-3": {"n": 3}}
    assert store.get_docs("seen", "default", {"P-2"}) == {}
    assert store.get_docs("seen", "default", []) == {}
    store.get_docs("seen", "default", ["P-1"])["P-1"]["n"] = 5
    assert store.get_doc("seen", "default", "P-1") == {"n": 1}, "a copy is returned"


# --- copies ----------------------------------------------------------------------------------------------------


def test_mutating_returned_models_never_changes_the_store(store: Store) -> None:
    store.save_org([person("bob", slack_ids={"T1": "U1"})])
    created, _ = store.create_request(request(tags=["q3"]))
    store.enqueue([outbox_item("m")])
    store.add_kudos(kudos("k1"))
    store.put_doc("settings", "default", "main", {"list": [1, 2]})

    created.tags.append("mutated")
    created.events.clear()
    fetched = store.get_request("default", 1)
    assert fetched is not None
    fetched.tags.append("mutated")
    fetched.text = "mutated"
    store.find_requests("default")[0].events.clear()
    store.get_person("default", "P-bob").slack_ids["T9"] = "U9"  # type: ignore[union-attr]
    store.list_people("default")[0].slack_ids.clear()
    store.get_outbox_item("m").message.facts.append(Fact(label="x", value="y"))  # type: ignore[union-attr]
    store.find_kudos("default")[0].recipient_ids.append("P-x")
    store.get_doc("settings", "default", "main")["list"].append(3)  # type: ignore[index]
    store.list_docs("settings", "default")[0][1]["list"].append(4)

    again = store.get_request("default", 1)
    assert again is not None
    assert again.tags == ["q3"]
    assert again.text == "Please review the Q3 numbers"
    assert len(again.events) == 1
    assert store.get_person("default", "P-bob").slack_ids == {"T1": "U1"}  # type: ignore[union-attr]
    assert store.get_outbox_item("m").message.facts == []  # type: ignore[union-attr]
    assert store.find_kudos("default")[0].recipient_ids == ["P-bob"]
    assert store.get_doc("settings", "default", "main") == {"list": [1, 2]}


def test_mutating_inputs_after_a_write_never_changes_the_store(store: Store) -> None:
    draft = request(tags=["q3"])
    store.create_request(draft)
    bob = person("bob")
    store.save_org([bob])
    doc = {"list": [1]}
    store.put_doc("settings", "default", "main", doc)

    draft.tags.append("mutated")
    bob.name = "Mutated"
    doc["list"].append(2)

    assert store.get_request("default", 1).tags == ["q3"]  # type: ignore[union-attr]
    assert store.get_person("default", "P-bob").name == "Bob"  # type: ignore[union-attr]
    assert store.get_doc("settings", "default", "main") == {"list": [1]}


def test_was_seen_reports_keys_used_by_any_write(store: Store) -> None:
    from tests.contract import factories

    assert not store.was_seen("ws1", "k-create")
    stored, _ = store.create_request(factories.request(workspace="ws1"), idempotency_key="k-create")
    assert store.was_seen("ws1", "k-create")
    assert not store.was_seen("ws2", "k-create"), "keys are per workspace"
    store.update_request(stored, idempotency_key="k-update")
    assert store.was_seen("ws1", "k-update")


def test_replace_and_delete_records_rewrite_any_kind_atomically(store: Store) -> None:
    from bot.models import CardRef, Kudos
    from tests.contract import factories

    store.create_request(factories.request(workspace="ws1"))
    store.add_kudos(
        Kudos(id="K-1", workspace="ws1", giver_id="P-a", recipient_ids=["P-b"], message="thanks", at=factories.NOW)
    )
    store.save_card_ref(CardRef(workspace="ws1", card_key="c1", platform="slack", ref="D1:1"))
    kudos = next(doc for kind, doc in store.export_records() if kind == "kudos")
    assert store.replace_records("kudos", [{**kudos, "message": "[removed]"}]) == 1
    assert [k.message for k in store.find_kudos("ws1")] == ["[removed]"]
    request = next(doc for kind, doc in store.export_records() if kind == "requests")
    store.replace_records("requests", [{**request, "text": "[removed]"}])
    stored = store.get_request("ws1", 1)
    assert stored is not None and stored.text == "[removed]"
    card = {"workspace": "ws1", "card_key": "c1", "platform": "slack", "ref": "D1:1"}
    assert store.delete_records("card_refs", [card, card]) == 1
    assert store.get_card_ref("ws1", "c1", "slack") is None
    assert store.delete_records("card_refs", [card]) == 0
