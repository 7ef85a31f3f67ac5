"""Options and control after a decline (issue 12, item 4): a decline names an alternative (a
person, another request, an option) or says why there is none, and the requester takes it up in
one step ("Ask @carol instead", "Accept the alternative") or asks again; declines are rated too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clicks import Click, run_click
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.metrics import DECLINED_UNRESOLVED, request_facts
from bot.models import ActionId, EventKind, Person, Rating, Status
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, Outcome, act, create_request
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _create(store: Store, text: str = "need the Q3 numbers") -> Outcome:
    return create_request(
        store=store,
        directory=Directory(store, "default"),
        requester=_person(store, "alice"),
        provider=_person(store, "bob"),
        text=text,
        now=NOW,
    )


def _act(store: Store, who: str, action: ActionId, number: int = 1, minutes: int = 5, **inputs: object) -> Outcome:
    for name in ("to", "alternative_to"):
        if name in inputs:
            inputs[name] = _person(store, str(inputs[name]))
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


def _click(store: Store, who: str, action: ActionId, value: str | None = None, minutes: int = 10, **inputs: object):  # type: ignore[no-untyped-def]
    return run_click(
        store=store,
        click=Click(
            platform="console",
            actor=_person(store, who),
            action=action.value,
            request=1,
            value=value,
            inputs=ActionInput(**inputs),  # type: ignore[arg-type]
        ),
        now=NOW + timedelta(minutes=minutes),
        hours=DEFAULT_HOURS,
    )


def _card(outcome: Outcome, kind: str, recipient: str):  # type: ignore[no-untyped-def]
    return next(m for m in outcome.messages if m.kind == kind and m.recipient_id == recipient)


def test_a_decline_must_offer_an_alternative_or_say_why_there_is_none(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(InvalidCommand, match="offer an alternative") as bare:
        _act(org_store, "bob", ActionId.DECLINE, note="not my area")
    assert bare.value.field == "alternative"
    with pytest.raises(InvalidCommand, match="keep one of the two"):
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative="the wiki", no_alternative="there is none")
    with pytest.raises(InvalidCommand, match="R-1 came from alice") as requester:
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="alice")
    assert requester.value.field == "alternative_to"
    with pytest.raises(InvalidCommand, match="You are the one declining"):
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="bob")
    with pytest.raises(InvalidCommand, match="You can't name robot"):
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="robot")
    with pytest.raises(NotFound, match="R-99") as unknown:
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_request=99)
    assert unknown.value.field == "alternative_request"
    with pytest.raises(InvalidCommand, match="R-1 itself"):
        _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_request=1)
    assert org_store.get_request("default", 1).status == Status.OPEN  # type: ignore[union-attr]
    declined = _act(org_store, "bob", ActionId.DECLINE, note="we stopped these", no_alternative="nobody does them")
    assert declined.reply == "You declined R-1; alice has been told why, and why there is no alternative."
    card = _card(declined, "requester_card", "P-alice")
    assert ("No alternative", "nobody does them") in [(f.label, f.value) for f in card.facts]
    assert [a.id for a in card.actions] == [ActionId.ASK_AGAIN]


def test_a_declined_request_is_rated_too(org_store: Store) -> None:
    _create(org_store)
    declined = _act(org_store, "bob", ActionId.DECLINE, note="not mine", alternative_to="carol")
    prompt = _card(declined, "rating_prompt", "P-alice")
    assert prompt.title == "How did Bob do on R-1 (declined)?"
    rated = _act(org_store, "alice", ActionId.RATE, minutes=9, rating=Rating(score=4, needs={"options": 5}))
    assert rated.request.rating == Rating(score=4, needs={"options": 5})


def test_ask_carol_instead_hands_it_to_her_with_the_full_history(org_store: Store) -> None:
    _create(org_store)
    declined = _act(org_store, "bob", ActionId.DECLINE, note="not my area", alternative_to="carol")
    card = _card(declined, "requester_card", "P-alice")
    assert [(a.id, a.label, a.value) for a in card.actions] == [
        (ActionId.ASK_INSTEAD, "Ask carol instead", "1"),
        (ActionId.ASK_AGAIN, "Ask again", None),
    ]
    assert ("Alternative", "carol") in [(f.label, f.value) for f in card.facts]
    asked = _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1")
    assert asked.reply == "You asked carol instead; R-1 is with them now, with its full history."
    request = asked.request
    assert (request.status, request.provider_id) == (Status.OPEN, "P-carol")
    handed = request.events[-1]
    assert (handed.kind, handed.actor_id, handed.from_id, handed.to_id) == (
        EventKind.HANDED_OFF,
        "P-alice",
        "P-bob",
        "P-carol",
    )
    carol = next(m for m in asked.queued if m.kind == "provider_card" and m.recipient_id == "P-carol")
    assert any('bob declined: "not my area" (alternative: carol)' in line for line in carol.history)
    assert "alice asked carol instead of bob" in carol.history[-1]
    notes = [m.text for m in asked.queued if m.kind == "update" and m.recipient_id == "P-carol"]
    assert notes == ["R-1 is yours now: alice asked carol instead of bob"]
    assert any(m.kind == "provider_card" and m.recipient_id == "P-bob" for m in asked.queued), "bob's card updates"
    assert [a.id for a in asked.card.actions] == [ActionId.SET_DUE, ActionId.CANCEL]  # type: ignore[union-attr]
    facts = request_facts(request, people={}, now=NOW + timedelta(hours=1), hours=DEFAULT_HOURS)
    assert DECLINED_UNRESOLVED not in facts.complaints and facts.hand_offs == 1
    with pytest.raises(InvalidTransition, match="still waiting to be acknowledged"):
        _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1", minutes=11)  # the stale button


def test_accept_the_alternative_resolves_it_once(org_store: Store) -> None:
    _create(org_store)
    _create(org_store, "the Q3 numbers for the board")
    declined = _act(
        org_store, "bob", ActionId.DECLINE, note="same as R-2", alternative_request=2, alternative="see the wiki"
    )
    card = _card(declined, "requester_card", "P-alice")
    assert [a.id for a in card.actions] == [ActionId.ACCEPT_ALTERNATIVE, ActionId.ASK_AGAIN]
    assert ("Alternative", 'R-2 · "see the wiki"') in [(f.label, f.value) for f in card.facts]
    assert DECLINED_UNRESOLVED in request_facts(declined.request, people={}, now=NOW, hours=DEFAULT_HOURS).complaints
    with pytest.raises(NotAllowed, match="Only alice"):
        _click(org_store, "bob", ActionId.ACCEPT_ALTERNATIVE, value="1")
    with pytest.raises(NotFound, match="R-1"):
        _click(org_store, "erin", ActionId.ACCEPT_ALTERNATIVE, value="1")
    with pytest.raises(InvalidTransition, match="named nobody else"):
        _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1")
    taken = _click(org_store, "alice", ActionId.ACCEPT_ALTERNATIVE, value="1")
    assert taken.reply == "You took up the alternative; R-1 is resolved by it."
    request = taken.request
    assert request.status == Status.DECLINED and request.events[-1].kind == EventKind.ALTERNATIVE_ACCEPTED
    mine = next(m for m in taken.queued if m.kind == "requester_card")
    assert mine.title == "R-1 to Bob: declined, resolved by the alternative"
    assert ("Alternative", 'R-2 · "see the wiki" (taken up: resolved by it)') in [
        (f.label, f.value) for f in mine.facts
    ]
    assert [a.id for a in mine.actions] == []
    assert DECLINED_UNRESOLVED not in request_facts(request, people={}, now=NOW, hours=DEFAULT_HOURS).complaints
    with pytest.raises(InvalidTransition, match="already accepted the alternative"):
        _click(org_store, "alice", ActionId.ACCEPT_ALTERNATIVE, value="1", minutes=12)
    with pytest.raises(InvalidTransition, match="already accepted the alternative"):
        _click(org_store, "alice", ActionId.ASK_AGAIN, note="please", minutes=12)


def test_accepting_an_alternative_on_a_request_that_is_not_declined_is_refused(org_store: Store) -> None:
    _create(org_store)
    with pytest.raises(
        InvalidTransition, match="still waiting to be acknowledged, so you can't accept the alternative"
    ):
        _click(org_store, "alice", ActionId.ACCEPT_ALTERNATIVE, value="1")
    _act(org_store, "bob", ActionId.DONE)
    with pytest.raises(InvalidTransition, match="already done"):
        _click(org_store, "alice", ActionId.ACCEPT_ALTERNATIVE, value="1")


def test_ask_again_needs_a_note_and_reopens_it_for_the_same_provider(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.DECLINE, note="too busy", alternative="next month")
    with pytest.raises(InvalidCommand, match="a note for bob"):
        _click(org_store, "alice", ActionId.ASK_AGAIN)
    again = _click(org_store, "alice", ActionId.ASK_AGAIN, note="it is only ten minutes")
    assert again.reply == "You asked bob again; R-1 is open again with your note."
    assert (again.request.status, again.request.provider_id) == (Status.OPEN, "P-bob")  # type: ignore[union-attr]
    assert any(
        m.recipient_id == "P-bob" and "it is only ten minutes" in m.text for m in again.queued if m.kind == "update"
    )


def test_a_button_from_an_older_decline_is_refused(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="carol")
    _act(org_store, "alice", ActionId.ASK_AGAIN, minutes=6, note="please")
    second = _act(org_store, "bob", ActionId.DECLINE, minutes=7, note="still no", alternative_to="dave")
    index = len(second.request.events) - 1
    with pytest.raises(InvalidTransition, match="older decline"):
        _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1")  # carol's button from the first decline
    asked = _click(org_store, "alice", ActionId.ASK_INSTEAD, value=str(index))
    assert asked.request.provider_id == "P-dave"  # type: ignore[union-attr]


def test_ask_instead_when_the_named_person_left_says_so_and_changes_nothing(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="carol")
    org_store.save_org([_person(org_store, "carol").model_copy(update={"active": False})])
    with pytest.raises(InvalidCommand, match="You can't ask carol: they can't take requests any more"):
        _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1")
    request = org_store.get_request("default", 1)
    assert request is not None and (request.status, request.provider_id) == (Status.DECLINED, "P-bob")


def test_ask_instead_after_the_reopen_window_is_refused(org_store: Store) -> None:
    _create(org_store)
    _act(org_store, "bob", ActionId.DECLINE, note="no", alternative_to="carol")
    with pytest.raises(InvalidTransition, match="more than 14 days ago"):
        _click(org_store, "alice", ActionId.ASK_INSTEAD, value="1", minutes=15 * 24 * 60)
