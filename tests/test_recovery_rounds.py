"""Service recovery runs until the requester is satisfied or a manager closes it (issue 12,
item 5): the poor-rating card shows the scored needs, "not yet" starts another round, and after
two unsuccessful rounds the provider's manager gets the whole thread and may close it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clicks import Click, run_click
from bot.dispatch import run_request
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed
from bot.models import ActionId, EventKind, Person, Rating
from bot.nudges import due_for_request
from bot.people import Directory
from bot.ports import Store
from bot.recovery import recovery
from bot.requests import ActionInput, Outcome, act, create_request
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _act(store: Store, who: str, action: ActionId, minutes: int, **inputs: object) -> Outcome:
    return act(
        store=store,
        directory=Directory(store, "default"),
        workspace="default",
        number=1,
        action=action,
        actor=_person(store, who),
        now=NOW + timedelta(minutes=minutes),
        hours=DEFAULT_HOURS,
        inputs=ActionInput(**inputs),  # type: ignore[arg-type]
    )


def _poorly_rated(store: Store) -> Outcome:
    create_request(
        store=store,
        directory=Directory(store, "default"),
        requester=_person(store, "alice"),
        provider=_person(store, "bob"),
        text="need the Q3 numbers",
        now=NOW,
    )
    _act(store, "bob", ActionId.DONE, 5)
    rating = Rating(score=1, needs={"information": 1, "empathy": 2, "fairness": 4}, comment="no word for a week")
    return _act(store, "alice", ActionId.RATE, 10, rating=rating)


def _queue(store: Store, who: str) -> str:
    return run_request(
        store=store, actor=_person(store, who), text="queue", now=NOW + timedelta(hours=1), hours=DEFAULT_HOURS
    ).text


def test_the_poor_rating_card_shows_the_scored_needs_and_the_comment(org_store: Store) -> None:
    rated = _poorly_rated(org_store)
    card = next(m for m in rated.messages if m.kind == "recovery_prompt")
    assert card.recipient_id == "P-bob" and card.title == "Alice rated R-1 1/5"
    assert [(f.label, f.value) for f in card.facts] == [
        ("Overall", "1/5"),
        ("Empathy", "2/5"),
        ("Fairness", "4/5"),
        ("Information", "1/5"),
    ]
    assert card.text.startswith('They said: "no word for a week".')
    assert [(a.id, a.label) for a in card.actions] == [(ActionId.RECOVER, "Here's what we'll do")]
    assert "R-1 ← alice rated it 1/5" in _queue(org_store, "bob")


def test_rounds_go_on_until_the_manager_is_brought_in_and_closes_it(org_store: Store) -> None:
    _poorly_rated(org_store)
    _act(org_store, "bob", ActionId.RECOVER, 20, note="weekly updates from now on")
    first = _act(org_store, "alice", ActionId.FOLLOW_UP, 30, satisfied=False, note="still nothing this week")
    assert not any(m.recipient_id == "P-dave" for m in first.messages)
    again = next(m for m in first.messages if m.kind == "recovery_prompt")
    assert again.title == "Alice is still not satisfied with R-1 (round 2)"
    assert 'Your last plan didn\'t settle it: "still nothing this week"' in again.text
    assert ("Information", "1/5") in [(f.label, f.value) for f in again.facts]
    assert [a.label for a in again.actions] == ["Propose another plan"]
    assert "R-1 ← alice is still not satisfied (round 2)" in _queue(org_store, "bob")
    with pytest.raises(InvalidTransition, match="only after 2 unsuccessful rounds"):
        _act(org_store, "dave", ActionId.CLOSE_RECOVERY, 31, note="enough")

    planned = _act(org_store, "bob", ActionId.RECOVER, 40, note="a call every Monday")
    prompt = next(m for m in planned.messages if m.kind == "follow_up_prompt")
    assert prompt.title == "Bob proposes another plan for R-1 (round 2)"
    assert [a.value for a in prompt.actions] == ["yes:2", "no:2"]
    assert "R-1" not in _queue(org_store, "bob"), "waiting on alice now, not on bob"

    second = _act(org_store, "alice", ActionId.FOLLOW_UP, 50, satisfied=False, note="calls are not numbers")
    manager = next(m for m in second.messages if m.recipient_id == "P-dave")
    assert manager.kind == "recovery_prompt" and manager.card_key == "default:R-1:recovery:P-dave"
    assert "still not satisfied after 2 rounds" in manager.text
    assert any("alice rated it 1/5" in line for line in manager.history)
    assert any('"calls are not numbers"' in line for line in manager.history), "the whole thread"
    assert [(a.id, a.inputs) for a in manager.actions] == [(ActionId.CLOSE_RECOVERY, ["note"])]
    third = next(m for m in second.messages if m.kind == "recovery_prompt" and m.recipient_id == "P-bob")
    assert "(round 3)" in third.title and "Dave has been brought in" in third.text

    with pytest.raises(NotAllowed, match="Only bob's manager"):
        _act(org_store, "bob", ActionId.CLOSE_RECOVERY, 55, note="done")
    with pytest.raises(NotAllowed, match="Only bob's manager"):
        _act(org_store, "alice", ActionId.CLOSE_RECOVERY, 55, note="done")
    with pytest.raises(InvalidCommand, match="why you are closing it"):
        _act(org_store, "dave", ActionId.CLOSE_RECOVERY, 55)
    closed = _act(org_store, "dave", ActionId.CLOSE_RECOVERY, 60, note="we agreed a monthly report in person")
    assert closed.request.events[-1].kind == EventKind.RECOVERY_CLOSED
    told = {m.recipient_id: m.text for m in closed.messages if m.kind == "update"}
    assert set(told) == {"P-alice", "P-bob"}
    assert 'dave closed the service recovery: "we agreed a monthly report in person"' in told["P-alice"]
    updated = next(m for m in closed.messages if m.recipient_id == "P-dave")
    assert updated.card_key == manager.card_key and updated.actions == []
    assert recovery(closed.request).state == "closed"  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition, match="closed by a manager"):
        _act(org_store, "bob", ActionId.RECOVER, 70, note="one more idea")
    with pytest.raises(InvalidTransition, match="no service recovery open"):
        _act(org_store, "dave", ActionId.CLOSE_RECOVERY, 70, note="again")
    assert _queue(org_store, "bob") == "Your queue is empty. Nice!"


def test_a_satisfied_requester_ends_the_recovery(org_store: Store) -> None:
    _poorly_rated(org_store)
    _act(org_store, "bob", ActionId.RECOVER, 20, note="weekly updates")
    _act(org_store, "alice", ActionId.FOLLOW_UP, 30, satisfied=False)
    _act(org_store, "bob", ActionId.RECOVER, 40, note="daily updates")
    done = _act(org_store, "alice", ActionId.FOLLOW_UP, 50, satisfied=True)
    assert recovery(done.request).state == "satisfied"  # type: ignore[union-attr]
    assert not any(m.recipient_id == "P-dave" for m in done.messages)
    with pytest.raises(InvalidTransition, match="R-1 is settled: alice said they are satisfied now"):
        _act(org_store, "bob", ActionId.RECOVER, 60, note="and more")


def test_a_follow_up_button_from_an_earlier_round_is_refused(org_store: Store) -> None:
    _poorly_rated(org_store)
    _act(org_store, "bob", ActionId.RECOVER, 20, note="weekly updates")
    _act(org_store, "alice", ActionId.FOLLOW_UP, 30, satisfied=False)
    _act(org_store, "bob", ActionId.RECOVER, 40, note="daily updates")

    def click(value: str) -> None:
        run_click(
            store=org_store,
            click=Click(
                platform="console", actor=_person(org_store, "alice"), action="follow_up", request=1, value=value
            ),
            now=NOW + timedelta(minutes=45),
            hours=DEFAULT_HOURS,
        )

    with pytest.raises(InvalidTransition, match="earlier plan"):
        click("yes:1")
    click("yes:2")
    assert recovery(org_store.get_request("default", 1)).state == "satisfied"  # type: ignore[arg-type, union-attr]


def test_a_provider_who_leaves_not_yet_unanswered_is_reminded(org_store: Store) -> None:
    _poorly_rated(org_store)
    _act(org_store, "bob", ActionId.RECOVER, 20, note="weekly updates")
    answered = _act(org_store, "alice", ActionId.FOLLOW_UP, 30, satisfied=False)
    later = NOW + timedelta(days=4)
    due = due_for_request(answered.request, directory=Directory(org_store, "default"), now=later, hours=DEFAULT_HOURS)
    assert [(d.kind, d.recipient_id) for d in due] == [("recovery", "P-bob")]
    assert "still not satisfied and is waiting for another plan" in due[0].line
