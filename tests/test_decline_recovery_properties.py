"""Property tests of the decline choices and the service-recovery rounds: no sequence of declines,
"Ask ... instead", "Accept the alternative", "Ask again", ratings, plans, answers and closings,
by anyone, lets someone act out of turn or leaves the log incoherent (issue 12, items 4 and 5)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.errors import DomainError
from bot.models import ActionId, Event, EventKind, Person, Rating, Request, Status
from bot.recovery import MANAGER_AFTER_ROUNDS, recovery
from bot.requests import ActionInput, alternative_taken, apply_action, last_decline, status_after
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW
from tests.test_lifecycle_properties import HANDLES, PEOPLE, MemoryDirectory

OTHER = Request(number=2, requester_id="P-erin", provider_id="P-bob", text="the board pack", created_at=NOW)


class _Requests:
    """Just enough of a store for a decline that names another request (R-2 exists)."""

    def get_request(self, workspace: str, number: int) -> Request | None:
        return OTHER if number == 2 else None


class Directory(MemoryDirectory):
    def __init__(self) -> None:
        super().__init__()
        self.store = _Requests()  # type: ignore[assignment]


ACTIONS = [
    ActionId.ACKNOWLEDGE,
    ActionId.DONE,
    ActionId.DECLINE,
    ActionId.ASK_INSTEAD,
    ActionId.ACCEPT_ALTERNATIVE,
    ActionId.ASK_AGAIN,
    ActionId.REOPEN,
    ActionId.HANDOFF,
    ActionId.RATE,
    ActionId.RECOVER,
    ActionId.FOLLOW_UP,
    ActionId.CLOSE_RECOVERY,
]
WHO = ["requester"] * 4 + ["provider"] * 4 + ["manager"] * 2 + HANDLES
"""Mostly the parties (so long sequences get somewhere), sometimes anyone."""

step = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTIONS),
        "who": st.sampled_from(WHO),
        "note": st.sampled_from([None, "a note", "a note", ""]),
        "to": st.sampled_from([None, *HANDLES]),
        "alternative_to": st.sampled_from([None, None, *HANDLES]),
        "alternative_request": st.sampled_from([None, None, 1, 2, 99]),
        "alternative": st.sampled_from([None, "the wiki"]),
        "no_alternative": st.sampled_from([None, None, "nobody does these"]),
        "score": st.one_of(st.none(), st.integers(1, 5), st.integers(1, 2)),
        "satisfied": st.one_of(st.none(), st.booleans()),
        "decline": st.one_of(st.none(), st.integers(0, 12)),
        "round": st.one_of(st.none(), st.integers(1, 4)),
        "minutes": st.integers(0, 60 * 24),
    }
)


def _actor(who: str, request: Request, directory: Directory) -> Person:
    by_handle = {p.handle: p for p in PEOPLE}
    match who:
        case "requester":
            return directory.require(request.requester_id)
        case "provider":
            return directory.require(request.provider_id)
        case "manager":
            return directory.require(directory.manager_of(request.provider_id) or "P-grace")
    return by_handle[who]


def _check_turn(before: Request, after: Request, action: ActionId, actor: Person, directory: Directory) -> None:
    """What a successful step may have been, given the state before it."""
    event = after.events[-1]
    found = recovery(before)
    if action == ActionId.DECLINE:
        assert event.offers_alternative != bool(event.no_alternative), "an alternative or why none, not both"
        assert event.alternative_id not in (before.requester_id, before.provider_id)
    if action in (ActionId.ASK_INSTEAD, ActionId.ACCEPT_ALTERNATIVE, ActionId.ASK_AGAIN):
        assert actor.id == before.requester_id and before.status == Status.DECLINED
        assert not alternative_taken(before)
        declined = last_decline(before)
        assert declined is not None
        if action == ActionId.ASK_INSTEAD:
            assert after.provider_id == declined[1].alternative_id != before.requester_id
            assert event.kind == EventKind.HANDED_OFF and event.from_id == before.provider_id
        if action == ActionId.ACCEPT_ALTERNATIVE:
            assert declined[1].alternative or declined[1].alternative_request
            assert after.status == Status.DECLINED and alternative_taken(after)
    if action == ActionId.RECOVER:
        assert actor.id == before.provider_id and found is not None and found.state == "awaiting_plan"
    if action == ActionId.FOLLOW_UP:
        assert actor.id == before.requester_id and found is not None and found.state == "awaiting_answer"
    if action == ActionId.CLOSE_RECOVERY:
        assert directory.manages(actor.id, before.provider_id)
        assert found is not None and found.is_open and found.failed >= MANAGER_AFTER_ROUNDS


def _check_recovery(request: Request) -> None:
    found = recovery(request)
    if found is None:
        return
    assert found.rating.score <= 2
    assert found.failed <= found.plans <= found.failed + 1
    assert found.is_open == (found.state in ("awaiting_plan", "awaiting_answer"))
    if found.state == "closed":
        assert found.failed >= MANAGER_AFTER_ROUNDS
    tail = request.events[found.last_index + 1 :]
    recovery_kinds = (EventKind.RECOVERY_PLANNED, EventKind.FOLLOWED_UP, EventKind.RECOVERY_CLOSED)
    assert not any(e.kind in recovery_kinds for e in tail), "nothing after a finished recovery"


_LIKELY: dict[Status, list[ActionId]] = {
    Status.OPEN: [ActionId.ACKNOWLEDGE, ActionId.DONE, ActionId.DECLINE],
    Status.ACKNOWLEDGED: [ActionId.DONE, ActionId.DECLINE, ActionId.HANDOFF],
    Status.IN_PROGRESS: [ActionId.DONE, ActionId.DECLINE],
    Status.DECLINED: [ActionId.ASK_INSTEAD, ActionId.ACCEPT_ALTERNATIVE, ActionId.ASK_AGAIN, ActionId.RATE],
    Status.DONE: [ActionId.RATE, ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.CLOSE_RECOVERY],
    Status.CANCELLED: [ActionId.REOPEN],
}
"""Steps that move the story on from each state, drawn half the time so runs get deep (several
recovery rounds, a manager's close) while the other half tries anything, by anyone."""


_ROLE = {
    ActionId.ACKNOWLEDGE: "provider",
    ActionId.DONE: "provider",
    ActionId.DECLINE: "provider",
    ActionId.HANDOFF: "provider",
    ActionId.RECOVER: "provider",
    ActionId.CLOSE_RECOVERY: "manager",
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_decline_choices_and_recovery_rounds_never_act_out_of_turn(data: st.DataObject) -> None:
    directory = Directory()
    by_handle = {p.handle: p for p in PEOPLE}
    request = Request(number=1, requester_id="P-alice", provider_id="P-bob", text="need numbers", created_at=NOW)
    request.events.append(Event(kind=EventKind.CREATED, at=NOW, actor_id="P-alice", to_id="P-bob"))
    clock = NOW
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        s = data.draw(step)
        if data.draw(st.booleans(), label="along the story"):
            s["action"] = data.draw(st.sampled_from(_LIKELY[request.status]))
            s["who"] = _ROLE.get(s["action"], "requester")
            s["satisfied"] = data.draw(st.sampled_from([False, False, True]))
            s["score"] = data.draw(st.sampled_from([1, 2, 2, 4]))
            s["note"] = "a note"
        clock += timedelta(minutes=s["minutes"])
        action: ActionId = s["action"]
        actor = _actor(s["who"], request, directory)
        inputs = ActionInput(
            note=s["note"],
            to=by_handle[s["to"]] if s["to"] else None,
            alternative_to=by_handle[s["alternative_to"]] if s["alternative_to"] else None,
            alternative_request=s["alternative_request"],
            alternative=s["alternative"],
            no_alternative=s["no_alternative"],
            rating=Rating(score=s["score"]) if s["score"] else None,
            satisfied=s["satisfied"],
            decline=s["decline"],
            round=s["round"],
        )
        before = request
        try:
            request = apply_action(
                request, action, actor=actor, directory=directory, now=clock, inputs=inputs, hours=DEFAULT_HOURS
            )
        except DomainError as error:
            assert error.message and error.message[0].isupper(), error.message
            assert request is before
            continue
        assert request.events[:-1] == before.events, "the log is append-only"
        assert request.status == status_after(request.events)
        assert request.provider_id != request.requester_id
        _check_turn(before, request, action, actor, directory)
        _check_recovery(request)
        event(f"applied {action.value}")


def test_the_property_reaches_the_manager_closing_a_recovery() -> None:
    """The strategy can get there: a hand-written run of the deepest path it must explore."""
    directory = Directory()
    request = Request(number=1, requester_id="P-alice", provider_id="P-bob", text="x", created_at=NOW)
    request.events.append(Event(kind=EventKind.CREATED, at=NOW, actor_id="P-alice", to_id="P-bob"))
    path = [
        (ActionId.DONE, "provider", ActionInput()),
        (ActionId.RATE, "requester", ActionInput(rating=Rating(score=1))),
        (ActionId.RECOVER, "provider", ActionInput(note="a")),
        (ActionId.FOLLOW_UP, "requester", ActionInput(satisfied=False)),
        (ActionId.RECOVER, "provider", ActionInput(note="b")),
        (ActionId.FOLLOW_UP, "requester", ActionInput(satisfied=False, round=2)),
        (ActionId.CLOSE_RECOVERY, "manager", ActionInput(note="settled")),
    ]
    for action, who, inputs in path:
        before = request
        request = apply_action(
            request,
            action,
            actor=_actor(who, request, directory),
            directory=directory,
            now=NOW,
            inputs=inputs,
            hours=DEFAULT_HOURS,
        )
        _check_turn(before, request, action, _actor(who, before, directory), directory)
        _check_recovery(request)
    assert recovery(request).state == "closed"  # type: ignore[union-attr]
