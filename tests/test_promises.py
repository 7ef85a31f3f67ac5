"""Negotiated promises (issue 12, item 2): proposals, counter-proposals, accepts, declines and
moves of an agreed date are events in the request's log; nobody acts out of turn."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clicks import Click, run_click
from bot.dispatch import run_request
from bot.errors import DomainError, InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.metrics import promise_kept
from bot.models import ActionId, Event, EventKind, Person, Request
from bot.ports import Store
from bot.promises import agreed_dates, due_replayed, pending_proposal, renegotiations
from bot.requests import ActionInput, apply_action
from bot.workhours import DEFAULT_HOURS
from handlers.console import Console
from tests.conftest import NOW, small_org
from tests.test_lifecycle_properties import MemoryDirectory

PEOPLE, _TEAMS = small_org()
BY_HANDLE = {p.handle: p for p in PEOPLE}


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _click(store: Store, who: str, action: ActionId, minutes: int, **inputs: object):  # type: ignore[no-untyped-def]
    value = inputs.pop("value", None)
    click = Click(
        platform="test",
        actor=_person(store, who),
        action=action,
        request=1,
        value=value,  # type: ignore[arg-type]
        inputs=ActionInput(**inputs),  # type: ignore[arg-type]
    )
    return run_click(store=store, click=click, now=NOW + timedelta(minutes=minutes), hours=DEFAULT_HOURS)


def _ask(store: Store, text: str = "@bob need the Q3 numbers by friday") -> Request:
    reply = run_request(store=store, actor=_person(store, "alice"), text=text, now=NOW, hours=DEFAULT_HOURS)
    assert reply.ok, reply.text
    assert reply.request is not None
    return reply.request


def _stored(store: Store) -> Request:
    request = store.get_request("default", 1)
    assert request is not None
    return request


# --------------------------------------------------------------------------- the service


def test_the_provider_proposes_another_date_and_the_requester_accepts_it(org_store: Store) -> None:
    asked = _ask(org_store).due_at
    result = _click(org_store, "bob", ActionId.PROPOSE_DUE, 1, due="thursday 3pm", note="the audit runs friday")
    assert result.reply.startswith("You proposed Thu 26 Nov 15:00 GMT for R-1; alice has been asked to accept it.")
    request = _stored(org_store)
    assert request.due_at == asked, "a proposal changes nothing until it is accepted"
    proposal = pending_proposal(request)
    assert proposal is not None and proposal.proposer_id == "P-bob"
    alice_card = next(m for m in result.queued if m.kind == "requester_card")
    assert [a.label for a in alice_card.actions] == [
        "Accept date",
        "Decline date",
        "Propose another date",
        "Cancel request",
    ]
    assert any(f.label == "Proposed" and "by Bob" in f.value for f in alice_card.facts)
    assert any(m.recipient_id == "P-alice" and "proposed a due date" in m.text for m in result.queued)
    bob_card = next(m for m in result.queued if m.kind == "provider_card")
    assert ActionId.PROPOSE_DUE not in [a.id for a in bob_card.actions], "bob waits for alice's answer"

    accept = next(a for a in alice_card.actions if a.id == ActionId.ACCEPT_DUE)
    result = _click(org_store, "alice", ActionId.ACCEPT_DUE, 2, value=accept.value)
    request = _stored(org_store)
    assert request.due_at == proposal.due_at and request.due_at is not None
    assert result.reply.startswith("Agreed: R-1 is due Thu 26 Nov 10:00 EST")
    assert request.events[-1].kind == EventKind.DUE_AGREED
    assert agreed_dates(request) == [(NOW + timedelta(minutes=2), proposal.due_at)]
    assert due_replayed(request) == request.due_at
    assert any(m.recipient_id == "P-bob" and "agreed the due date" in m.text for m in result.queued)


def test_acknowledging_accepts_the_requested_date_and_moving_it_needs_a_reason(org_store: Store) -> None:
    asked = _ask(org_store).due_at
    _click(org_store, "bob", ActionId.ACKNOWLEDGE, 1)
    assert agreed_dates(_stored(org_store)) == [(NOW + timedelta(minutes=1), asked)]
    with pytest.raises(InvalidCommand, match="reason for moving the agreed date") as info:
        _click(org_store, "bob", ActionId.PROPOSE_DUE, 2, due="next friday")
    assert info.value.field == "note"
    _click(org_store, "bob", ActionId.PROPOSE_DUE, 3, due="next friday", note="waiting on the auditors")
    result = _click(org_store, "alice", ActionId.DECLINE_DUE, 4, note="the board meets monday")
    request = _stored(org_store)
    assert request.due_at == asked and pending_proposal(request) is None
    assert result.reply.startswith("You declined the proposed date for R-1; it stays due Fri 27 Nov 17:00")
    _click(org_store, "alice", ActionId.PROPOSE_DUE, 5, due="next monday", note="the board moved")
    _click(org_store, "bob", ActionId.ACCEPT_DUE, 6)
    request = _stored(org_store)
    assert renegotiations(request) == 1
    assert [e.kind for e in request.events[-4:]] == [
        EventKind.DUE_PROPOSED,
        EventKind.DUE_DECLINED,
        EventKind.DUE_PROPOSED,
        EventKind.DUE_AGREED,
    ]
    kinds = [e.kind for e in request.events]
    assert kinds.count(EventKind.DUE_PROPOSED) == 2 and kinds.count(EventKind.DUE_AGREED) == 1


def test_a_counter_proposal_replaces_the_open_one_and_an_old_button_is_refused(org_store: Store) -> None:
    _ask(org_store)
    first = _click(org_store, "bob", ActionId.PROPOSE_DUE, 1, due="thursday")
    old_accept = next(
        a for m in first.queued if m.kind == "requester_card" for a in m.actions if a.id == ActionId.ACCEPT_DUE
    )
    _click(org_store, "alice", ActionId.PROPOSE_DUE, 2, due="wednesday 3pm")  # alice proposes back
    before = _stored(org_store)
    with pytest.raises(NotAllowed, match="You proposed that date; bob answers it"):
        _click(org_store, "alice", ActionId.ACCEPT_DUE, 3)
    with pytest.raises(InvalidTransition, match="already proposed a date"):
        _click(org_store, "alice", ActionId.PROPOSE_DUE, 3, due="tuesday 4pm")
    with pytest.raises(InvalidTransition, match="replaced by a newer one"):
        _click(org_store, "bob", ActionId.ACCEPT_DUE, 3, value=old_accept.value)
    assert _stored(org_store) == before, "refused answers change nothing"
    _click(org_store, "bob", ActionId.ACCEPT_DUE, 4)
    assert _stored(org_store).due_at == pending_proposal(before).due_at  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("who", "action", "inputs", "error", "message"),
    [
        ("alice", ActionId.ACCEPT_DUE, {}, InvalidTransition, "no date proposal waiting on R-1"),
        ("bob", ActionId.PROPOSE_DUE, {"due": "2026-01-05"}, InvalidCommand, "is in the past"),
        ("bob", ActionId.PROPOSE_DUE, {"due": "blursday"}, InvalidCommand, "couldn't understand"),
        ("bob", ActionId.PROPOSE_DUE, {}, InvalidCommand, "Please pick a due date"),
        ("dave", ActionId.PROPOSE_DUE, {"due": "friday"}, NotAllowed, "Only alice and bob can propose"),
        ("erin", ActionId.PROPOSE_DUE, {"due": "friday"}, NotFound, "can't find R-1"),
    ],
)
def test_bad_date_moves_are_refused_clearly_and_change_nothing(
    org_store: Store, who: str, action: ActionId, inputs: dict[str, str], error: type[DomainError], message: str
) -> None:
    _ask(org_store)
    before = _stored(org_store)
    with pytest.raises(error, match=message):
        _click(org_store, who, action, 1, **inputs)
    assert _stored(org_store) == before


def test_a_proposal_on_a_closed_request_is_refused(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", ActionId.PROPOSE_DUE, 1, due="thursday")
    _click(org_store, "alice", ActionId.CANCEL, 2)
    with pytest.raises(InvalidTransition, match="was cancelled"):
        _click(org_store, "bob", ActionId.PROPOSE_DUE, 3, due="monday")
    with pytest.raises(InvalidTransition, match="was cancelled"):
        _click(org_store, "alice", ActionId.ACCEPT_DUE, 3)


def test_a_hand_off_withdraws_the_open_proposal(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", ActionId.PROPOSE_DUE, 1, due="thursday")
    _click(org_store, "bob", ActionId.HANDOFF, 2, to=_person(org_store, "carol"), note="carol owns it")
    assert pending_proposal(_stored(org_store)) is None
    with pytest.raises(InvalidTransition, match="withdrawn or already answered"):
        _click(org_store, "alice", ActionId.ACCEPT_DUE, 3)


# --------------------------------------------------------------------------- the state machine

PHRASES = [None, "friday", "in 3 days", "in 4 days", "next monday 3pm", "2026-01-05", "blursday"]
ACTIONS = [
    ActionId.PROPOSE_DUE,
    ActionId.ACCEPT_DUE,
    ActionId.DECLINE_DUE,
    ActionId.PROPOSE_DUE,
    ActionId.ACCEPT_DUE,
    ActionId.SET_DUE,
    ActionId.ACKNOWLEDGE,
    ActionId.HANDOFF,
    ActionId.REASSIGN,
    ActionId.CANCEL,
    ActionId.DONE,
    ActionId.REOPEN,
]
step = st.tuples(
    st.sampled_from(ACTIONS),
    st.sampled_from(["alice", "bob", "alice", "bob", "carol", "dave", "erin"]),  # mostly the two parties
    st.sampled_from(PHRASES),
    st.sampled_from([None, "a reason", "a reason"]),
    st.sampled_from([None, "carol", "bob", "erin"]),
    st.sampled_from([None, None, None, 1, 2, 3, 4]),
    st.integers(1, 60 * 24),
)


def _parties_at(request: Request, index: int) -> tuple[str, str]:
    provider = request.provider_id
    for event in request.events[:index]:
        if event.kind in (EventKind.CREATED, EventKind.HANDED_OFF, EventKind.REASSIGNED) and event.to_id:
            provider = event.to_id
    return request.requester_id, provider


def _check_log(request: Request) -> None:
    assert request.due_at == due_replayed(request), "the due date is always the one the log leads to"
    for index, event in enumerate(request.events):
        before = request.model_copy(update={"events": request.events[:index]})
        parties = _parties_at(request, index)
        pending = pending_proposal(before)
        if event.kind == EventKind.DUE_PROPOSED:
            assert event.actor_id in parties, "only the two parties propose"
            assert pending is None or pending.proposer_id != event.actor_id, "nobody proposes twice in a row"
        if event.kind in (EventKind.DUE_AGREED, EventKind.DUE_DECLINED):
            assert pending is not None, "an answer always answers an open proposal"
            assert event.actor_id in parties and event.actor_id != pending.proposer_id, "nobody answers themselves"
            assert pending.proposer_id in parties, "a withdrawn proposal is never answered"
        if event.kind == EventKind.DUE_AGREED:
            assert pending is not None and event.due_at == pending.due_at
    agreed = agreed_dates(request)
    assert [at for at, _ in agreed] == sorted(at for at, _ in agreed), "one agreed-date history, in order"
    pending = pending_proposal(request)
    if pending is not None:
        assert request.status.is_open and pending.proposer_id in (request.requester_id, request.provider_id)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(step, max_size=25))
def test_no_sequence_of_moves_breaks_the_agreed_date_history_or_lets_anyone_act_out_of_turn(
    with_due: bool,
    steps: list[tuple],  # type: ignore[type-arg]
) -> None:
    directory = MemoryDirectory()
    due = NOW + timedelta(days=3) if with_due else None
    request = Request(
        number=1,
        requester_id="P-alice",
        provider_id="P-bob",
        text="need numbers",
        created_at=NOW,
        due_at=due,
        events=[Event(kind=EventKind.CREATED, at=NOW, actor_id="P-alice", to_id="P-bob", due_at=due)],
    )
    now: datetime = NOW
    for action, who, phrase, note, to, proposal, minutes in steps:
        now += timedelta(minutes=minutes)
        inputs = ActionInput(due=phrase, note=note, to=BY_HANDLE[to] if to else None, proposal=proposal)
        before = request
        try:
            request = apply_action(
                request, action, actor=BY_HANDLE[who], directory=directory, now=now, inputs=inputs, hours=DEFAULT_HOURS
            )
        except DomainError:
            assert request == before
            continue
        _check_log(request)


# --------------------------------------------------------------------------- the console


def test_the_console_negotiates_a_date_in_three_lines(org_store: Store) -> None:
    console = Console(store=org_store, out=io.StringIO(), clock=lambda: NOW)
    out = console.out
    assert isinstance(out, io.StringIO)
    for line in [
        "as alice",
        "/request @bob need the Q3 numbers by friday",
        "as bob",
        "click propose R-1 thursday 3pm -- the audit runs friday",
        "as alice",
        "show R-1",  # card updates are one line in the console; show prints the buttons' hints
        "click accept R-1",
    ]:
        assert console.handle_line(line) is True
    shown = out.getvalue()
    assert "Propose a date: click propose R-1 <when> [-- <reason>]" in shown
    assert "Accept date: click accept R-1" in shown
    assert "bob proposed a due date: Thu 26 Nov 10:00 EST" in shown  # as alice reads it, in New York
    assert "Agreed: R-1 is due" in shown
    request = org_store.get_request("default", 1)
    assert request is not None and request.events[-1].kind == EventKind.DUE_AGREED


# --------------------------------------------------------------------------- promise kept


def test_a_promise_is_measured_against_the_last_date_agreed_before_it_passed(org_store: Store) -> None:
    asked = _ask(org_store).due_at  # friday 17:00 New York
    assert asked is not None
    _click(org_store, "bob", ActionId.ACKNOWLEDGE, 1)
    _click(org_store, "bob", ActionId.PROPOSE_DUE, 2, due="next tuesday", note="the audit")
    _click(org_store, "alice", ActionId.ACCEPT_DUE, 3)  # moved in time: a renegotiation
    moved = _stored(org_store)
    assert moved.due_at is not None and moved.due_at > asked
    minutes_after_moved = int((moved.due_at - NOW).total_seconds() // 60) + 60
    # the moved date passes; agreeing yet another date afterwards doesn't mend the promise
    _click(org_store, "bob", ActionId.PROPOSE_DUE, minutes_after_moved, due="in 3 days", note="sorry")
    _click(org_store, "alice", ActionId.ACCEPT_DUE, minutes_after_moved + 1)
    _click(org_store, "bob", ActionId.DONE, minutes_after_moved + 2)
    request = _stored(org_store)
    assert renegotiations(request) == 2
    assert request.due_at is not None and request.due_at > moved.due_at
    assert promise_kept(request) is False, "done after the date in force when it passed"


def test_a_date_moved_in_time_and_met_is_a_kept_promise(org_store: Store) -> None:
    _ask(org_store)
    _click(org_store, "bob", ActionId.ACKNOWLEDGE, 1)
    _click(org_store, "bob", ActionId.PROPOSE_DUE, 2, due="next tuesday", note="the audit")
    _click(org_store, "alice", ActionId.ACCEPT_DUE, 3)
    _click(org_store, "bob", ActionId.DONE, 60 * 24 * 5)  # after friday, before next tuesday
    assert promise_kept(_stored(org_store)) is True
