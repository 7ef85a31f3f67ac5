"""The request lifecycle: transitions, who may do each, and the messages each one queues."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.models import ActionId, EventKind, Rating, Status
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, Outcome, act, create_request, status_after
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW


def _person(store: Store, handle: str):  # type: ignore[no-untyped-def]
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _create(store: Store, text: str = "need the Q3 numbers", **kw: object) -> Outcome:
    directory = Directory(store, "default")
    return create_request(
        store=store,
        directory=directory,
        requester=_person(store, "alice"),
        provider=_person(store, kw.pop("provider", "bob")),  # type: ignore[arg-type]
        text=text,
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def _act(store: Store, who: str, action: ActionId, number: int = 1, minutes: int = 5, **inputs: object) -> Outcome:
    if "to" in inputs:
        inputs["to"] = _person(store, str(inputs["to"]))
    return act(
        store=store,
        directory=Directory(store, "default"),
        workspace="default",
        number=number,
        action=action,
        actor=_person(store, who),
        now=NOW + timedelta(minutes=minutes),
        hours=DEFAULT_HOURS,
        inputs=ActionInput(**inputs),  # type: ignore[arg-type]
    )


def test_create_numbers_requests_and_queues_provider_and_requester_cards(org_store: Store) -> None:
    first = _create(org_store)
    second = _create(org_store, "and the Q4 forecast")
    assert (first.request.ref, second.request.ref) == ("R-1", "R-2")
    kinds = {(m.kind, m.recipient_id) for m in first.messages}
    assert kinds == {("provider_card", "P-bob"), ("requester_card", "P-alice")}
    card = next(m for m in first.messages if m.kind == "provider_card")
    assert [a.id for a in card.actions] == [
        ActionId.ACKNOWLEDGE,
        ActionId.START,
        ActionId.DONE,
        ActionId.DECLINE,
        ActionId.HANDOFF,
        ActionId.PROPOSE_DUE,
    ]
    assert card.title == "R-1 from Alice"
    pending = {item.key for item in org_store.list_outbox("default", state="pending")}
    assert {m.key for m in first.messages} <= pending
    assert first.reply.startswith("Sent R-1 to Bob")


def test_create_refuses_self_bots_and_past_due_dates(org_store: Store) -> None:
    with pytest.raises(InvalidCommand, match="yourself"):
        _create(org_store, provider="alice")
    with pytest.raises(InvalidCommand, match="bot"):
        _create(org_store, provider="robot")
    with pytest.raises(InvalidCommand, match="past"):
        _create(org_store, due_at=NOW - timedelta(hours=1))
    with pytest.raises(InvalidCommand, match="description"):
        _create(org_store, "   ")
    assert org_store.get_request("default", 1) is None


def test_create_with_same_idempotency_key_stores_one_request(org_store: Store) -> None:
    first = _create(org_store, idempotency_key="trigger-1")
    again = _create(org_store, idempotency_key="trigger-1")
    assert again.repeated and again.request.number == first.request.number
    assert len(org_store.find_requests("default")) == 1


def test_only_the_provider_can_acknowledge(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(NotAllowed, match=r"^Only bob can acknowledge R-1\.$"):
        _act(org_store, "alice", ActionId.ACKNOWLEDGE)


def test_someone_unrelated_cannot_even_see_the_request(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(NotFound, match="R-1"):
        _act(org_store, "erin", ActionId.ACKNOWLEDGE)


def test_acknowledge_twice_says_it_is_already_acknowledged(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.ACKNOWLEDGE)
    with pytest.raises(InvalidTransition, match="already acknowledged"):
        _act(org_store, "bob", ActionId.ACKNOWLEDGE)
    stored = org_store.get_request("default", 1)
    assert stored is not None
    assert [e.kind for e in stored.events] == [EventKind.CREATED, EventKind.ACKNOWLEDGED]


def test_decline_requires_a_reason_and_keeps_the_alternative(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(InvalidCommand, match="reason"):
        _act(org_store, "bob", ActionId.DECLINE)
    outcome = _act(org_store, "bob", ActionId.DECLINE, note="not our data", alternative="ask data eng")
    assert outcome.request.status == Status.DECLINED
    event = outcome.request.events[-1]
    assert (event.note, event.alternative) == ("not our data", "ask data eng")
    note = next(m for m in outcome.messages if m.kind == "update" and m.recipient_id == "P-alice")
    assert "ask data eng" in note.text


def test_hand_off_moves_the_request_with_its_history(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.ACKNOWLEDGE)
    with pytest.raises(InvalidCommand, match="context note"):
        _act(org_store, "bob", ActionId.HANDOFF, to="carol")
    with pytest.raises(InvalidCommand, match="came from alice"):
        _act(org_store, "bob", ActionId.HANDOFF, to="alice", note="x")
    outcome = _act(org_store, "bob", ActionId.HANDOFF, to="carol", note="the sheet is in the Q3 folder")
    request = outcome.request
    assert request.provider_id == "P-carol" and request.status == Status.OPEN
    assert request.provider_history() == ["P-bob", "P-carol"]
    new_card = next(m for m in outcome.messages if m.kind == "provider_card" and m.recipient_id == "P-carol")
    assert any("the sheet is in the Q3 folder" in line for line in new_card.history)
    assert any("alice asked bob" in line for line in new_card.history)
    assert new_card.text == "need the Q3 numbers"
    old_card = next(m for m in outcome.messages if m.kind == "provider_card" and m.recipient_id == "P-bob")
    assert old_card.actions == [] and "now with Carol" in old_card.title
    with pytest.raises(NotAllowed, match="Only carol can acknowledge R-1"):
        _act(org_store, "bob", ActionId.ACKNOWLEDGE)
    # the previous provider may still look at it
    _act(org_store, "bob", ActionId.COMMENT, note="ping me if stuck")


def test_only_the_providers_manager_chain_may_reassign(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(NotAllowed, match="Only bob's manager can reassign R-1"):
        _act(org_store, "alice", ActionId.REASSIGN, to="carol")
    with pytest.raises(NotFound):  # another team's manager can't even see it
        _act(org_store, "frank", ActionId.REASSIGN, to="carol")
    outcome = _act(org_store, "grace", ActionId.REASSIGN, to="carol", note="carol has capacity")
    assert outcome.request.provider_id == "P-carol"
    assert outcome.request.events[-1].kind == EventKind.REASSIGNED


def test_requester_cancels_and_reopens_within_fourteen_days(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(NotAllowed, match="Only alice can cancel"):
        _act(org_store, "bob", ActionId.CANCEL)
    _act(org_store, "alice", ActionId.CANCEL)
    with pytest.raises(InvalidTransition, match="was cancelled"):
        _act(org_store, "bob", ActionId.DONE)
    reopened = _act(org_store, "alice", ActionId.REOPEN, minutes=60 * 24 * 13)
    assert reopened.request.status == Status.OPEN
    _act(org_store, "bob", ActionId.DONE, minutes=60 * 24 * 13 + 5)
    with pytest.raises(InvalidTransition, match="more than 14 days"):
        _act(org_store, "alice", ActionId.REOPEN, minutes=60 * 24 * 28)


def test_done_prompts_for_a_rating_and_rating_twice_is_refused(org_store: Store) -> None:
    _create(org_store)
    done = _act(org_store, "bob", ActionId.DONE, note="sent by email")
    prompt = next(m for m in done.messages if m.kind == "rating_prompt")
    assert prompt.recipient_id == "P-alice" and prompt.actions[0].id == ActionId.RATE
    with pytest.raises(NotAllowed, match="Only alice can rate"):
        _act(org_store, "bob", ActionId.RATE, rating=Rating(score=5))
    rated = _act(org_store, "alice", ActionId.RATE, rating=Rating(score=5, needs={"friendliness": 5}))
    assert rated.request.rating == Rating(score=5, needs={"friendliness": 5})
    assert not any(m.kind == "recovery_prompt" for m in rated.messages)
    with pytest.raises(InvalidTransition, match="already rated"):
        _act(org_store, "alice", ActionId.RATE, rating=Rating(score=4))


def test_poor_rating_starts_service_recovery_and_not_yet_starts_another_round(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.DONE)
    with pytest.raises(InvalidTransition, match="no poor rating"):
        _act(org_store, "bob", ActionId.RECOVER, note="x")
    rated = _act(org_store, "alice", ActionId.RATE, rating=Rating(score=2, comment="too slow"))
    recovery = next(m for m in rated.messages if m.kind == "recovery_prompt")
    assert recovery.recipient_id == "P-bob" and "too slow" in recovery.text
    with pytest.raises(InvalidTransition, match="no follow-up waiting"):
        _act(org_store, "alice", ActionId.FOLLOW_UP, satisfied=True)
    with pytest.raises(InvalidCommand, match="what you will do"):
        _act(org_store, "bob", ActionId.RECOVER)
    planned = _act(org_store, "bob", ActionId.RECOVER, note="I'll send a weekly update")
    follow_up = next(m for m in planned.messages if m.kind == "follow_up_prompt")
    assert follow_up.recipient_id == "P-alice" and "weekly update" in follow_up.text
    with pytest.raises(InvalidTransition, match="already answered"):
        _act(org_store, "bob", ActionId.RECOVER, note="again")
    answered = _act(org_store, "alice", ActionId.FOLLOW_UP, satisfied=False, note="still waiting")
    assert not any(m.recipient_id == "P-dave" for m in answered.messages), "the manager comes in after round 2"
    again = next(m for m in answered.messages if m.kind == "recovery_prompt")
    assert again.recipient_id == "P-bob" and "still waiting" in again.text and "(round 2)" in again.title
    with pytest.raises(InvalidTransition, match="no follow-up waiting"):
        _act(org_store, "alice", ActionId.FOLLOW_UP, satisfied=True)


def test_rating_validates_scores_and_needs() -> None:
    with pytest.raises(ValueError):
        Rating(score=6)
    with pytest.raises(ValueError, match="unknown need"):
        Rating(score=3, needs={"speed": 3})
    with pytest.raises(ValueError, match="1-5"):
        Rating(score=3, needs={"empathy": 0})


def test_status_is_always_the_replay_of_the_log(org_store: Store) -> None:
    _create(org_store)
    for who, action, extra in [
        ("bob", ActionId.ACKNOWLEDGE, {}),
        ("bob", ActionId.START, {}),
        ("bob", ActionId.HANDOFF, {"to": "carol", "note": "yours"}),
        ("carol", ActionId.DONE, {}),
        ("alice", ActionId.REOPEN, {}),
        ("carol", ActionId.DECLINE, {"note": "can't", "no_alternative": "nobody else has access"}),
    ]:
        outcome = _act(org_store, who, action, **extra)
        assert outcome.request.status == status_after(outcome.request.events)
    stored = org_store.get_request("default", 1)
    assert stored is not None and stored.status == Status.DECLINED


def test_parent_request_must_exist_and_be_visible(org_store: Store) -> None:
    with pytest.raises(NotFound, match="R-9"):
        _create(org_store, parent=9)
    _create(org_store)
    child = _create(org_store, "part of it", provider="carol", parent=1)
    assert child.request.parent == 1


def test_texts_over_the_limit_are_refused_with_the_limit_named(org_store: Store) -> None:
    with pytest.raises(InvalidCommand, match="3000"):
        _create(org_store, "x" * 3001)
    _create(org_store)
    with pytest.raises(InvalidCommand, match="3000"):
        _act(org_store, "bob", ActionId.DECLINE, note="y" * 3001)


def test_unicode_and_emoji_round_trip(org_store: Store) -> None:
    text = "Zahlen für Q3 🚀 — 数字 <@U123>"
    _create(org_store, text)
    stored = org_store.get_request("default", 1)
    assert stored is not None and stored.text == text


def test_a_retried_click_with_the_same_key_is_reported_as_repeated_not_as_an_error(org_store: Store) -> None:
    _create(org_store)
    directory = Directory(org_store, "default")
    bob = directory.require("P-bob")
    first = act(
        store=org_store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.ACKNOWLEDGE,
        actor=bob,
        now=NOW,
        idempotency_key="slack:1700000000.1:U1",
        hours=DEFAULT_HOURS,
    )
    retry = act(
        store=org_store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.ACKNOWLEDGE,
        actor=bob,
        now=NOW,
        idempotency_key="slack:1700000000.1:U1",
        hours=DEFAULT_HOURS,
    )
    assert not first.repeated and retry.repeated and retry.messages == []
    stored = org_store.get_request("default", 1)
    assert stored is not None and len(stored.events) == 2


def test_domain_errors_name_the_form_field_they_are_about(org_store: Store) -> None:
    with pytest.raises(InvalidCommand) as no_text:
        _create(org_store, " ")
    assert no_text.value.field == "text"
    with pytest.raises(InvalidCommand) as to_self:
        _create(org_store, provider="alice")
    assert to_self.value.field == "provider"
    _create(org_store)
    with pytest.raises(InvalidCommand) as no_reason:
        _act(org_store, "bob", ActionId.DECLINE)
    assert no_reason.value.field == "note"
    with pytest.raises(InvalidCommand) as no_one:
        _act(org_store, "bob", ActionId.HANDOFF, note="x")
    assert no_one.value.field == "to"
