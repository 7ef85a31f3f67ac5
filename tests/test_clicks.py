"""``bot.clicks.run_click``: the one entry every front end calls for a button or a form, on a
real embedded store."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.clicks import UNKNOWN_BUTTON, Click, ClickResult, outbox_card_ref, run_click
from bot.dispatch import run_request
from bot.errors import DomainError, InvalidCommand, NotFound
from bot.models import ActionId, CardRef, EventKind, Person, Status
from bot.ports import Store
from bot.pulse import week_code
from bot.requests import ActionInput, make_rating
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW
from tests.test_pulse import FRIDAY, WEEK, _ask_everyone


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _ask(store: Store) -> None:
    reply = run_request(
        store=store, actor=_person(store, "alice"), text="@bob need the Q3 numbers", now=NOW, hours=DEFAULT_HOURS
    )
    assert reply.text.startswith("Sent R-1")


def _click(store: Store, who: str, action: str, minutes: int = 1, **kw: object) -> ClickResult:
    click = Click(platform="test", actor=_person(store, who), action=action, request=kw.pop("request", 1), **kw)  # type: ignore[arg-type]
    return run_click(store=store, click=click, now=NOW + timedelta(minutes=minutes), hours=DEFAULT_HOURS)


def _actions(result: ClickResult) -> list[ActionId]:
    assert result.card is not None
    return [a.id for a in result.card.actions]


def test_a_request_action_replies_queues_both_cards_and_returns_the_clickers_card(org_store: Store) -> None:
    _ask(org_store)
    pending = len(org_store.list_outbox("default", state="pending"))
    result = _click(org_store, "bob", "acknowledge")
    assert result.reply == "You acknowledged R-1."
    assert result.card is not None and result.card.kind == "provider_card" and result.card.recipient_id == "P-bob"
    assert ActionId.ACKNOWLEDGE not in _actions(result) and ActionId.START in _actions(result)
    assert result.card in result.queued, "the clicker's card goes through the outbox like everyone else's"
    assert {m.recipient_id for m in result.queued} == {"P-alice", "P-bob"}
    assert len(org_store.list_outbox("default", state="pending")) == pending + len(result.queued)
    assert result.request is not None and result.request.status == Status.ACKNOWLEDGED
    assert result.heading == "R-1" and not result.repeated


def test_a_hand_off_takes_the_person_from_the_form(org_store: Store) -> None:
    _ask(org_store)
    inputs = ActionInput(to=_person(org_store, "carol"), note="carol owns the sheet")
    result = _click(org_store, "bob", ActionId.HANDOFF, inputs=inputs)
    assert result.request is not None and result.request.provider_id == "P-carol"
    assert result.card is not None and result.card.recipient_id == "P-bob", "bob's own card, without his buttons"
    assert result.card.actions == []


def test_a_submitted_rating_turns_into_a_note(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", "done")
    result = _click(org_store, "alice", "rate", 2, inputs=ActionInput(rating=make_rating("5", {}, None)))
    assert result.reply == "Thanks for rating R-1."
    assert (result.card, result.heading) == (None, "R-1")


def test_a_follow_up_button_says_whether_the_requester_is_satisfied(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", "done")
    _click(org_store, "alice", "rate", 2, inputs=ActionInput(rating=make_rating("1", {}, "late")))
    _click(org_store, "bob", "recover", 3, inputs=ActionInput(note="I'll send a summary"))
    result = _click(org_store, "alice", "follow_up", 4, value="yes")
    assert result.reply == "Thanks for letting us know."
    assert result.request is not None and result.request.events[-1].kind == EventKind.FOLLOWED_UP
    assert result.request.events[-1].satisfied is True


def test_nudge_buttons_answer_with_a_note_and_queue_nothing(org_store: Store) -> None:
    _ask(org_store)
    snoozed = _click(org_store, "bob", "snooze", value="1h")
    assert snoozed.reply.startswith("Snoozed R-1 until")
    assert (snoozed.card, snoozed.heading, snoozed.queued, snoozed.request) == (None, "R-1", [], None)
    muted = _click(org_store, "bob", "mute")
    assert muted.reply.startswith("Nudges muted.")


def test_thanks_from_a_finished_request_queue_kudos_and_show_the_requesters_card(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", "done")
    result = _click(org_store, "alice", "thank", 2, fields={"message": "great numbers"}, key="k-thanks")
    assert "Bob" in result.reply and result.queued
    assert result.card is not None and result.card.kind == "requester_card" and result.card.recipient_id == "P-alice"
    [kudos] = org_store.find_kudos("default", giver_id="P-alice")
    assert kudos.recipient_ids == ["P-bob"] and kudos.request_number == 1
    with pytest.raises(InvalidCommand, match=r"You already thanked Bob for R-1\."):  # a retry, too
        _click(org_store, "alice", "thank", 3, fields={"message": "great numbers"}, key="k-thanks")
    assert len(org_store.find_kudos("default", giver_id="P-alice")) == 1


@pytest.mark.parametrize("week", ["code", "value"])
def test_a_pulse_answer_names_its_week_by_code_or_by_value(org_store: Store, week: str) -> None:
    _ask_everyone(org_store)
    where = {"request": week_code(WEEK)} if week == "code" else {"request": 0, "value": WEEK}
    click = Click(
        platform="test",
        actor=_person(org_store, "bob"),
        action=ActionId.PULSE,
        fields={"manager_support": "4", "service": "5"},
        **where,  # type: ignore[arg-type]
    )
    result = run_click(store=org_store, click=click, now=FRIDAY, hours=DEFAULT_HOURS)
    assert result.reply.startswith("Thanks!")
    assert (result.card, result.heading, result.queued) == (None, f"Weekly pulse · {WEEK}", [])


def test_a_click_by_someone_outside_the_request_is_not_found_and_changes_nothing(org_store: Store) -> None:
    _ask(org_store)
    outbox = len(org_store.list_outbox("default"))
    with pytest.raises(NotFound, match=r"I can.t find R-1\."):
        _click(org_store, "erin", "acknowledge")
    with pytest.raises(DomainError):
        _click(org_store, "alice", "acknowledge")  # the requester can see it but not acknowledge it
    request = org_store.get_request("default", 1)
    assert request is not None and request.status == Status.OPEN
    assert len(org_store.list_outbox("default")) == outbox


def test_an_unknown_button_is_refused_kindly(org_store: Store) -> None:
    _ask(org_store)
    with pytest.raises(InvalidCommand, match=re.escape(UNKNOWN_BUTTON)):
        _click(org_store, "bob", "frobnicate")


def test_a_retried_click_changes_nothing_twice_and_still_shows_the_card(org_store: Store) -> None:
    _ask(org_store)
    first = _click(org_store, "bob", "acknowledge", key="teams:chat:activity-7")
    outbox = len(org_store.list_outbox("default"))
    again = _click(org_store, "bob", "acknowledge", 2, key="teams:chat:activity-7")
    assert again.repeated and again.reply == "That was already done for R-1."
    assert again.queued == []
    assert _actions(again) == _actions(first), "the retry answers with the same card"
    request = org_store.get_request("default", 1)
    assert request is not None and [e.kind for e in request.events].count(EventKind.ACKNOWLEDGED) == 1
    assert len(org_store.list_outbox("default")) == outbox


def test_the_outbox_owns_the_posted_copy_of_a_card_the_click_queued(org_store: Store) -> None:
    _ask(org_store)
    first = _click(org_store, "bob", "acknowledge", key="k-1")
    assert first.card is not None and first.card.card_key is not None
    assert outbox_card_ref(org_store, first, "teams") is None, "not posted yet: nothing to leave alone"
    org_store.save_card_ref(
        CardRef(workspace="default", card_key=first.card.card_key, platform="teams", ref="posted", revision=1)
    )
    assert outbox_card_ref(org_store, first, "teams") == "posted"
    assert outbox_card_ref(org_store, first, "slack") is None
    again = _click(org_store, "bob", "acknowledge", 2, key="k-1")
    assert outbox_card_ref(org_store, again, "teams") is None, "a retry queues nothing: the front end may redraw"
