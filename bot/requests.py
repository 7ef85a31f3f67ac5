"""Request lifecycle: allowed transitions and the services that apply them (who may take each
action is decided in :mod:`bot.access`).

Every change appends one event to the request's log and stores it together with the
messages it causes (the outbox) in one write. Services take their dependencies and
``now`` as keyword arguments and never read the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot import access, cards, workhours
from bot.access import can_view
from bot.dates import DueDateError, parse_due
from bot.errors import Conflict, InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.models import (
    MAX_TEXT,
    NEEDS,
    ActionId,
    Event,
    EventKind,
    Message,
    OutboxItem,
    Person,
    Priority,
    Rating,
    Request,
    Status,
)
from bot.people import Directory
from bot.ports import Store
from bot.promises import agreed_dates, pending_proposal
from bot.recovery import MANAGER_AFTER_ROUNDS, POOR_RATING, recovery
from bot.workhours import WorkingHours

__all__ = [
    "POOR_RATING",
    "ActionInput",
    "Outcome",
    "act",
    "apply_action",
    "can_view",
    "check_allowed",
    "create_request",
    "make_rating",
    "outbox_items",
    "status_after",
]

REOPEN_WINDOW = timedelta(days=14)
"""How long after closing a requester may reopen, or take up a decline's alternative (fixed;
there is no setting for it)."""

_OPEN = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS})
_CLOSED_DONE_OR_DECLINED = frozenset({Status.DONE, Status.DECLINED})

# action -> (event kind, states it may start from, state it leads to (None: unchanged));
# who may take each action is decided in bot.access.
_TRANSITIONS: dict[ActionId, tuple[EventKind, frozenset[Status], Status | None]] = {
    ActionId.ACKNOWLEDGE: (EventKind.ACKNOWLEDGED, frozenset({Status.OPEN}), Status.ACKNOWLEDGED),
    ActionId.START: (EventKind.STARTED, frozenset({Status.OPEN, Status.ACKNOWLEDGED}), Status.IN_PROGRESS),
    ActionId.DONE: (EventKind.DONE, _OPEN, Status.DONE),
    ActionId.DECLINE: (EventKind.DECLINED, _OPEN, Status.DECLINED),
    ActionId.HANDOFF: (EventKind.HANDED_OFF, _OPEN, Status.OPEN),
    ActionId.REASSIGN: (EventKind.REASSIGNED, _OPEN, Status.OPEN),
    ActionId.CANCEL: (EventKind.CANCELLED, _OPEN, Status.CANCELLED),
    ActionId.REOPEN: (
        EventKind.REOPENED,
        frozenset({Status.DONE, Status.DECLINED, Status.CANCELLED}),
        Status.OPEN,
    ),
    ActionId.RATE: (EventKind.RATED, _CLOSED_DONE_OR_DECLINED, None),
    ActionId.RECOVER: (EventKind.RECOVERY_PLANNED, _CLOSED_DONE_OR_DECLINED, None),
    ActionId.FOLLOW_UP: (EventKind.FOLLOWED_UP, _CLOSED_DONE_OR_DECLINED, None),
    ActionId.COMMENT: (EventKind.COMMENTED, frozenset(Status), None),
    ActionId.SET_DUE: (EventKind.DUE_SET, _OPEN, None),
    ActionId.PROPOSE_DUE: (EventKind.DUE_PROPOSED, _OPEN, None),
    ActionId.ACCEPT_DUE: (EventKind.DUE_AGREED, _OPEN, None),
    ActionId.DECLINE_DUE: (EventKind.DUE_DECLINED, _OPEN, None),
    ActionId.ASK_UPDATE: (EventKind.UPDATE_ASKED, _OPEN, None),
    ActionId.NUDGE: (EventKind.NUDGED, _OPEN, None),
    ActionId.EXTEND_DUE: (EventKind.DUE_PROPOSED, _OPEN, None),
    ActionId.PROGRESS: (EventKind.PROGRESS_NOTED, _OPEN, None),
    # after a decline, the requester's one-step choices: a hand-off to the person it named,
    # the alternative taken up (resolved by it), or the same provider asked again (a reopen)
    ActionId.ASK_INSTEAD: (EventKind.HANDED_OFF, frozenset({Status.DECLINED}), Status.OPEN),
    ActionId.ACCEPT_ALTERNATIVE: (EventKind.ALTERNATIVE_ACCEPTED, frozenset({Status.DECLINED}), None),
    ActionId.ASK_AGAIN: (EventKind.REOPENED, frozenset({Status.DECLINED}), Status.OPEN),
    ActionId.CLOSE_RECOVERY: (EventKind.RECOVERY_CLOSED, _CLOSED_DONE_OR_DECLINED, None),
}

_STATE_PHRASES: dict[Status, str] = {
    Status.OPEN: "is still waiting to be acknowledged",
    Status.ACKNOWLEDGED: "is already acknowledged",
    Status.IN_PROGRESS: "is already in progress",
    Status.DONE: "is already done",
    Status.DECLINED: "was declined",
    Status.CANCELLED: "was cancelled",
}


@dataclass
class ActionInput:
    """What a user supplied with an action (form fields); unused fields stay None."""

    note: str | None = None
    alternative: str | None = None
    to: Person | None = None
    rating: Rating | None = None
    satisfied: bool | None = None
    due: str | None = None
    """A due phrase ("friday 3pm", "in 3 days") or a picked date ("2026-12-04"), read in the
    actor's time zone."""
    proposal: int | None = None
    """Which proposal an accept or decline answers (its place in the log, from the button)."""
    due_was: str | None = None
    """For a manager's extension: the due date the clicked button was made for (ISO); a date
    changed since makes the click outdated. None: not checked (the console has no stale cards)."""
    alternative_to: Person | None = None
    """A decline's alternative person (someone who could do it instead)."""
    alternative_request: int | None = None
    """A decline's alternative request (another request that covers it)."""
    no_alternative: str | None = None
    """Why a decline offers no alternative."""
    decline: int | None = None
    """Which decline a requester's "Ask ... instead" / "Accept the alternative" answers (its
    place in the log, from the button)."""
    round: int | None = None
    """Which recovery round a follow-up answer is about (from the button)."""


@dataclass
class Outcome:
    """What a service did: the stored request, a reply for the actor, the messages queued."""

    request: Request
    reply: str
    messages: list[Message] = field(default_factory=list)
    repeated: bool = False


_NOUNS: dict[str, str] = {
    "text": "request",
    "note": "note",
    "alternative": "alternative",
    "no_alternative": "explanation",
    "comment": "comment",
}


def _clean(text: str | None, what: str, *, field: str = "note", required: bool = False) -> str | None:
    value = (text or "").strip()
    if not value:
        if required:
            raise InvalidCommand(f"Please give {what}.", field=field)
        return None
    if len(value) > MAX_TEXT:
        noun = _NOUNS.get(field, field)
        raise InvalidCommand(
            f"That {noun} is {len(value)} characters long; the limit is {MAX_TEXT} characters. Please shorten it.",
            field=field,
        )
    return value


def make_rating(score: object, needs: Mapping[str, object], comment: str | None) -> Rating:
    """A rating from form fields, or an InvalidCommand saying exactly what is wrong (on its field)."""
    try:
        overall = int(str(score).strip())
        scored = {need: int(str(value).strip()) for need, value in needs.items()}
    except ValueError:
        raise InvalidCommand("Ratings are whole numbers from 1 (poor) to 5 (great).", field="score") from None
    if not 1 <= overall <= 5 or any(not 1 <= value <= 5 for value in scored.values()):
        raise InvalidCommand("Ratings are whole numbers from 1 (poor) to 5 (great).", field="score")
    unknown = sorted(set(scored) - set(NEEDS))
    if unknown:
        raise InvalidCommand(f"{unknown[0]} is not one of the needs ({', '.join(NEEDS)}).", field="score")
    text = _clean(comment, "a comment", field="comment")
    return Rating(score=overall, needs=scored, comment=text)


_TARGET_BY_KIND: dict[EventKind, Status] = {
    kind: target for kind, _sources, target in _TRANSITIONS.values() if target is not None
}
_TARGET_BY_KIND[EventKind.CREATED] = Status.OPEN


def status_after(events: Sequence[Event]) -> Status:
    """Replay a log to the status it leads to (the single source of truth for ``status``)."""
    status = Status.OPEN
    for event in events:
        status = _TARGET_BY_KIND.get(event.kind, status)
    return status


def states_from(action: ActionId) -> frozenset[Status]:
    """The states ``action`` may start from."""
    return _TRANSITIONS[action][1]


def check_allowed(request: Request, action: ActionId, actor: Person, directory: Directory) -> None:
    """Raise a readable error unless ``actor`` may take ``action`` on ``request`` now: who may is
    :func:`bot.access.check_action`'s call, when is the state machine's."""
    access.check_action(request, action, actor, directory)
    if request.status not in states_from(action):
        raise InvalidTransition(
            f"{request.ref} {_STATE_PHRASES[request.status]}, so you can't {access.verb(action)} it."
        )


def _check_rules(request: Request, action: ActionId, inputs: ActionInput, now: datetime, directory: Directory) -> None:
    """Rules beyond state and role: required fields, reopen window, rating once, recovery order."""
    if action == ActionId.DECLINE:
        _clean(inputs.note, "a reason for declining", required=True)
        _check_alternative(request, inputs, directory)
    if action in (ActionId.ASK_INSTEAD, ActionId.ACCEPT_ALTERNATIVE, ActionId.ASK_AGAIN):
        _check_after_decline(request, action, inputs, directory, now)
    if action in (ActionId.HANDOFF, ActionId.REASSIGN):
        if inputs.to is None:
            raise InvalidCommand("Say who should take it over.", field="to")
        if inputs.to.id == request.provider_id:
            raise InvalidCommand(f"{request.ref} is already with {inputs.to.handle}.", field="to")
        if inputs.to.id == request.requester_id:
            raise InvalidCommand(f"{request.ref} came from {inputs.to.handle}; hand it to someone else.", field="to")
        if inputs.to.is_bot:
            raise InvalidCommand(f"{inputs.to.handle} is a bot and can't take requests.", field="to")
        if action == ActionId.HANDOFF:
            _clean(inputs.note, "a context note for the new provider", required=True)
    if action == ActionId.REOPEN:
        closed = request.closed_at
        if closed is not None and now - closed > REOPEN_WINDOW:
            raise InvalidTransition(
                f"{request.ref} was closed more than {REOPEN_WINDOW.days} days ago; please open a new request instead."
            )
    if action == ActionId.RATE:
        if inputs.rating is None:
            raise InvalidCommand("Please give a rating from 1 to 5.", field="score")
        if request.rating is not None:
            raise InvalidTransition(f"You already rated {request.ref}. Thank you!")
    if action in (ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.CLOSE_RECOVERY):
        _check_recovery(request, action, inputs, directory)
    if action == ActionId.COMMENT:
        _clean(inputs.note, "a comment", required=True)
    if action == ActionId.SET_DUE and request.due_at is not None:
        raise InvalidTransition(f"{request.ref} already has a due date.")
    if action == ActionId.PROGRESS:
        _clean(inputs.note, "a progress note", required=True)


def _check_extension(request: Request, inputs: ActionInput, actor: Person) -> None:
    """A manager's extension: a reason, a date to extend, and not an outdated button."""
    if request.due_at is None:
        raise InvalidTransition(f"{request.ref} has no due date to extend.")
    if inputs.due_was is not None and inputs.due_was != request.due_at.isoformat():
        raise InvalidTransition(
            f"{request.ref}'s due date has changed since this list was made (it is now "
            f"{cards.when(request.due_at, actor.tz, zone_name=True)}); /request team shows it as it is now."
        )
    _clean(inputs.note, "a reason for the new date (the requester sees it)", required=True)


def _check_nudge(request: Request, directory: Directory, now: datetime, hours: WorkingHours) -> None:
    """At most one manager nudge per request per day and per working day of the provider (their
    zone, the deployment's working ``hours`` and their holidays; a nudge outside working hours
    counts for the next working day), so a provider can't be spammed from the team view."""
    last = request.last(EventKind.NUDGED)
    if last is None:
        return
    provider = directory.get(request.provider_id)
    tz = provider.tz if provider else "UTC"
    hours = hours.for_person(provider)
    zone = workhours.zone(tz)

    def working_day(moment: datetime) -> date:
        return workhours.next_working_time(moment, tz=tz, hours=hours).astimezone(zone).date()

    nudged_on, day = working_day(last.at), last.at.astimezone(zone).date()
    if working_day(now) != nudged_on and now.astimezone(zone).date() != day:
        return
    again = max(
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),  # another day
        datetime.combine(nudged_on, hours.end, tzinfo=zone),  # and another working day
    )
    raise InvalidTransition(
        f"{directory.name(last.actor_id)} already nudged {directory.handle(request.provider_id)} about "
        f"{request.ref} on {cards.when(last.at, tz)} (their time): one nudge a working day. "
        f"You can nudge again from {cards.when(again, tz)}, their time."
    )


def _check_alternative(request: Request, inputs: ActionInput, directory: Directory) -> None:
    """A decline offers an alternative (a person, another request, words) or says why there is none."""
    offered = inputs.alternative_to is not None or inputs.alternative_request is not None
    offered = _clean(inputs.alternative, "alternative", field="alternative") is not None or offered
    why_none = _clean(inputs.no_alternative, "why there is no alternative", field="no_alternative")
    if not offered and why_none is None:
        raise InvalidCommand(
            "Please offer an alternative (someone who could do it, another request, or another option) "
            "or say why there is none.",
            field="alternative",
        )
    if offered and why_none is not None:
        raise InvalidCommand(
            "You offered an alternative and also said there is none; keep one of the two.", field="no_alternative"
        )
    other = inputs.alternative_to
    if other is not None:
        if other.id == request.requester_id:
            raise InvalidCommand(
                f"{request.ref} came from {other.handle}; name someone else who could do it.", field="alternative_to"
            )
        if other.id == request.provider_id:
            raise InvalidCommand(
                "You are the one declining; name someone else who could do it.", field="alternative_to"
            )
        if other.is_bot or not other.active:
            raise InvalidCommand(f"You can't name {other.handle}: they can't take requests.", field="alternative_to")
    number = inputs.alternative_request
    if number is not None:
        if number == request.number:
            raise InvalidCommand(f"That is {request.ref} itself; name another request.", field="alternative_request")
        covering = directory.store.get_request(request.workspace, number)
        if covering is None:
            raise NotFound(f"I can't find R-{number}.", field="alternative_request")


def last_decline(request: Request) -> tuple[int, Event] | None:
    """The latest decline and its place in the log (what the requester's choices answer)."""
    for index in range(len(request.events) - 1, -1, -1):
        if request.events[index].kind == EventKind.DECLINED:
            return index, request.events[index]
    return None


def alternative_taken(request: Request) -> bool:
    """True when the requester accepted the latest decline's alternative."""
    found = last_decline(request)
    return found is not None and any(e.kind == EventKind.ALTERNATIVE_ACCEPTED for e in request.events[found[0] + 1 :])


def _check_after_decline(
    request: Request, action: ActionId, inputs: ActionInput, directory: Directory, now: datetime
) -> None:
    """The requester's answers to a decline: to the latest one, within the reopen window, once."""
    found = last_decline(request)
    if found is None:  # the state machine only lets a declined request get here
        raise InvalidTransition(f"{request.ref} wasn't declined.")
    index, decline = found
    if inputs.decline is not None and inputs.decline != index:
        raise InvalidTransition(f"That button answers an older decline of {request.ref}; see its card.")
    if alternative_taken(request):
        raise InvalidTransition(f"You already accepted the alternative for {request.ref}; it is resolved.")
    if now - decline.at > REOPEN_WINDOW:
        raise InvalidTransition(
            f"{request.ref} was declined more than {REOPEN_WINDOW.days} days ago; please open a new request instead."
        )
    declined_by = directory.handle(decline.actor_id)
    if action == ActionId.ASK_AGAIN:
        _clean(inputs.note, f"a note for {declined_by}: what changed, or why it matters", required=True)
    elif action == ActionId.ACCEPT_ALTERNATIVE and not (decline.alternative or decline.alternative_request):
        raise InvalidTransition(
            f"There is no alternative to accept for {request.ref}"
            + (f"; ask {directory.handle(decline.alternative_id)} instead." if decline.alternative_id else ".")
        )
    elif action == ActionId.ASK_INSTEAD:
        if decline.alternative_id is None:
            raise InvalidTransition(f"The decline of {request.ref} named nobody else to ask.")
        other = directory.get(decline.alternative_id)
        if other is None or not other.active or other.is_bot:
            raise InvalidCommand(
                f"You can't ask {directory.handle(decline.alternative_id)}: they can't take requests any more. "
                f"Ask {declined_by} again, or send a new request to someone else."
            )
        if other.id == request.requester_id:
            raise InvalidCommand(f"The decline of {request.ref} named you; ask again or send it to someone else.")


def _check_recovery(request: Request, action: ActionId, inputs: ActionInput, directory: Directory) -> None:
    """Service recovery's rounds (see :mod:`bot.recovery`): who is waited on, and the manager's close."""
    found = recovery(request)
    if action == ActionId.RECOVER:
        if found is None:
            raise InvalidTransition(f"{request.ref} has no poor rating to answer.")
        if found.state == "awaiting_answer":
            raise InvalidTransition(
                f"You already answered the rating of {request.ref}; "
                f"{directory.handle(request.requester_id)} hasn't replied to your plan yet."
            )
        if found.state == "satisfied":
            raise InvalidTransition(
                f"{request.ref} is settled: {directory.handle(request.requester_id)} said they are satisfied now."
            )
        if found.state == "closed":
            raise InvalidTransition(f"The service recovery of {request.ref} was closed by a manager.")
        _clean(inputs.note, "what you will do about it", required=True)
    elif action == ActionId.FOLLOW_UP:
        if found is None or found.state != "awaiting_answer":
            raise InvalidTransition(f"There is no follow-up waiting for {request.ref}.")
        if inputs.round is not None and inputs.round != found.round:
            raise InvalidTransition(f"That question was about an earlier plan for {request.ref}; see the newest one.")
        if inputs.satisfied is None:
            raise InvalidCommand("Please say whether you are satisfied now.", field="satisfied")
    else:  # CLOSE_RECOVERY
        if found is None or not found.is_open:
            raise InvalidTransition(f"There is no service recovery open on {request.ref}.")
        if not found.with_managers:
            raise InvalidTransition(
                f"The service recovery of {request.ref} is still between {directory.handle(request.requester_id)} "
                f"and {directory.handle(request.provider_id)}; a manager closes it only after "
                f"{MANAGER_AFTER_ROUNDS} unsuccessful rounds."
            )
        _clean(inputs.note, "why you are closing it (both of them will see it)", required=True)


def _check_update_ask(request: Request, actor: Person, now: datetime) -> None:
    """At most one ask for an update per request per working day (the requester's local day)."""
    zone = workhours.zone(actor.tz)
    today = now.astimezone(zone).date()
    for event in reversed(request.events):
        if event.kind == EventKind.UPDATE_ASKED and event.at.astimezone(zone).date() == today:
            raise InvalidTransition(
                f"You already asked for an update on {request.ref} today; you can ask again tomorrow."
            )


def _check_turn(request: Request, action: ActionId, inputs: ActionInput, actor: Person, directory: Directory) -> None:
    """Whose turn it is in a date negotiation (see :mod:`bot.promises`)."""
    pending = pending_proposal(request)
    if action == ActionId.PROPOSE_DUE:
        if pending is not None and pending.proposer_id == actor.id:
            raise InvalidTransition(
                f"You already proposed a date for {request.ref}; it's up to "
                f"{directory.handle(_other_party(request, actor.id))} to answer."
            )
        if agreed_dates(request) and _clean(inputs.note, "a reason for moving the agreed date") is None:
            raise InvalidCommand("Please give a reason for moving the agreed date.", field="note")
        return
    if action == ActionId.EXTEND_DUE:
        if actor.id == request.requester_id:
            raise InvalidTransition(
                f"You asked for {request.ref} yourself: move its date with Move due date on your own card."
            )
        if pending is not None:
            who = "You" if pending.proposer_id == actor.id else directory.name(pending.proposer_id)
            raise InvalidTransition(
                f"{who} already proposed {cards.when(pending.due_at, actor.tz, zone_name=True)} for {request.ref}; "
                f"it is waiting for {directory.handle(_other_party(request, pending.proposer_id))}'s answer."
            )
        return
    if action in (ActionId.ACCEPT_DUE, ActionId.DECLINE_DUE):
        if pending is None:
            raise InvalidTransition(
                f"There is no date proposal waiting on {request.ref}: it was withdrawn or already answered."
            )
        if inputs.proposal is not None and inputs.proposal != pending.index:
            raise InvalidTransition(f"That proposal for {request.ref} was replaced by a newer one; see its card.")
        if pending.proposer_id == actor.id:
            raise NotAllowed(f"You proposed that date; {directory.handle(_other_party(request, actor.id))} answers it.")
        if pending.proposer_id not in (request.requester_id, request.provider_id) and actor.id != request.requester_id:
            raise NotAllowed(
                f"{directory.name(pending.proposer_id)} proposed that date to "
                f"{directory.handle(request.requester_id)}; only they can answer it."
            )


def _other_party(request: Request, person_id: str) -> str:
    return request.provider_id if person_id == request.requester_id else request.requester_id


def _due(
    request: Request, action: ActionId, inputs: ActionInput, actor: Person, now: datetime, hours: WorkingHours
) -> datetime | None:
    """The due date a ``SET_DUE`` sets, a ``PROPOSE_DUE`` proposes (read in the actor's zone and
    working days) or an ``ACCEPT_DUE`` agrees; InvalidCommand on the ``due`` field when it is
    missing, unreadable or past."""
    if action == ActionId.ACCEPT_DUE:
        pending = pending_proposal(request)
        assert pending is not None  # _check_turn
        if pending.due_at <= now:
            raise InvalidTransition("That proposed date has already passed; propose a new one.")
        return pending.due_at
    if action not in (ActionId.SET_DUE, ActionId.PROPOSE_DUE, ActionId.EXTEND_DUE):
        return None
    phrase = (inputs.due or "").strip()
    if not phrase:
        raise InvalidCommand("Please pick a due date, e.g. friday, 2026-12-04 or in 3 days.", field="due")
    try:
        due = parse_due(phrase, now=now, tz=actor.tz, hours=hours.for_person(actor))
    except DueDateError as error:
        raise InvalidCommand(error.message, field="due") from None
    if action == ActionId.EXTEND_DUE and request.due_at is not None and due <= request.due_at:
        raise InvalidCommand(
            f"An extension has to be later than {request.ref}'s due date now "
            f"({cards.when(request.due_at, actor.tz, zone_name=True)}).",
            field="due",
        )
    return due


_INPUTS: dict[ActionId, frozenset[str]] = {
    ActionId.DONE: frozenset({"note"}),
    ActionId.DECLINE: frozenset({"note", "alternative", "alternative_to", "alternative_request", "no_alternative"}),
    ActionId.HANDOFF: frozenset({"to", "note"}),
    ActionId.REASSIGN: frozenset({"to", "note"}),
    ActionId.REOPEN: frozenset({"note"}),
    ActionId.CANCEL: frozenset({"note"}),
    ActionId.RATE: frozenset({"rating"}),
    ActionId.RECOVER: frozenset({"note"}),
    ActionId.FOLLOW_UP: frozenset({"satisfied", "note", "round"}),
    ActionId.COMMENT: frozenset({"note"}),
    ActionId.SET_DUE: frozenset({"due"}),
    ActionId.PROPOSE_DUE: frozenset({"due", "note"}),
    ActionId.ACCEPT_DUE: frozenset({"proposal"}),
    ActionId.DECLINE_DUE: frozenset({"proposal", "note"}),
    ActionId.EXTEND_DUE: frozenset({"due", "note", "due_was"}),
    ActionId.PROGRESS: frozenset({"note"}),
    ActionId.ASK_INSTEAD: frozenset({"decline"}),
    ActionId.ACCEPT_ALTERNATIVE: frozenset({"decline"}),
    ActionId.ASK_AGAIN: frozenset({"note"}),
    ActionId.CLOSE_RECOVERY: frozenset({"note"}),
}


def _relevant(action: ActionId, inputs: ActionInput) -> ActionInput:
    """Keep only the inputs this action takes, so a stray field can't change anything."""
    keep = _INPUTS.get(action, frozenset())
    return ActionInput(**{name: getattr(inputs, name) if name in keep else None for name in vars(inputs)})


def apply_action(
    request: Request,
    action: ActionId,
    *,
    actor: Person,
    directory: Directory,
    now: datetime,
    hours: WorkingHours,
    inputs: ActionInput | None = None,
) -> Request:
    """Check and apply one action, returning a new request with the event appended (pure);
    ``hours`` are the deployment's working hours (a nudge's once-a-working-day rule, due phrases)."""
    if action not in _TRANSITIONS:
        raise InvalidCommand(f"That button ({action.value}) doesn't change a request.")
    inputs = _relevant(action, inputs or ActionInput())
    check_allowed(request, action, actor, directory)
    _check_rules(request, action, inputs, now, directory)
    _check_turn(request, action, inputs, actor, directory)
    if action == ActionId.ASK_UPDATE:
        _check_update_ask(request, actor, now)
    if action == ActionId.NUDGE:
        _check_nudge(request, directory, now, hours)
    if action == ActionId.EXTEND_DUE:
        _check_extension(request, inputs, actor)
    due_at = _due(request, action, inputs, actor, now, hours)
    if action == ActionId.PROPOSE_DUE and due_at == request.due_at:
        raise InvalidCommand(f"{request.ref} is already due then.", field="due")
    if action == ActionId.ASK_INSTEAD:  # a hand-off, by the requester, to the person the decline named
        named = last_decline(request)
        assert named is not None and named[1].alternative_id is not None  # _check_after_decline
        inputs.to = directory.require(named[1].alternative_id)
    kind, _sources, target = _TRANSITIONS[action]
    event = Event(
        kind=kind,
        at=now,
        actor_id=actor.id,
        note=_clean(inputs.note, "note"),
        alternative=_clean(inputs.alternative, "alternative", field="alternative"),
        alternative_id=inputs.alternative_to.id if inputs.alternative_to else None,
        alternative_request=inputs.alternative_request,
        no_alternative=_clean(inputs.no_alternative, "why there is no alternative", field="no_alternative"),
        from_id=request.provider_id if inputs.to else None,
        to_id=inputs.to.id if inputs.to else None,
        rating=inputs.rating,
        satisfied=inputs.satisfied,
        due_at=due_at,
    )
    if action in (ActionId.NUDGE, ActionId.EXTEND_DUE):
        # a manager's move names whom it is aimed at: the provider nudged, the requester asked
        event.to_id = request.provider_id if action == ActionId.NUDGE else request.requester_id
    updated = request.model_copy(deep=True)
    updated.events.append(event)
    if due_at is not None and action not in (ActionId.PROPOSE_DUE, ActionId.EXTEND_DUE):
        updated.due_at = due_at
    if inputs.to is not None:
        updated.provider_id = inputs.to.id
    if target is not None:
        updated.status = target
    return updated


def outbox_items(messages: Sequence[Message], now: datetime) -> list[OutboxItem]:
    """Wrap messages for the outbox, due at once."""
    return [
        OutboxItem(key=m.key, workspace=m.workspace, message=m, created_at=now, next_attempt_at=now) for m in messages
    ]


def create_request(
    *,
    store: Store,
    directory: Directory,
    requester: Person,
    provider: Person,
    text: str,
    now: datetime,
    due_at: datetime | None = None,
    priority: Priority = Priority.NORMAL,
    tags: Sequence[str] = (),
    parent: int | None = None,
    external: bool = False,
    idempotency_key: str | None = None,
) -> Outcome:
    """Create a request from ``requester`` to ``provider`` and queue the provider's card and the
    requester's confirmation card in the same write."""
    body = _clean(text, "a description of what you need", field="text", required=True)
    assert body is not None
    workspace = requester.workspace
    if provider.id == requester.id:
        raise InvalidCommand("You can't send a request to yourself.", field="provider")
    if provider.is_bot:
        raise InvalidCommand(f"{provider.handle} is a bot and can't take requests.", field="provider")
    if not provider.active:
        raise InvalidCommand(f"{provider.handle} is no longer active here; ask someone else.", field="provider")
    if due_at is not None and due_at <= now:
        raise InvalidCommand("The due date is in the past; pick a later one.", field="due")
    if parent is not None:
        parent_request = store.get_request(workspace, parent)
        if parent_request is None or not can_view(parent_request, requester, directory):
            raise NotFound(f"I can't find R-{parent} to link this request to.", field="parent")
    draft = Request(
        workspace=workspace,
        requester_id=requester.id,
        provider_id=provider.id,
        text=body,
        created_at=now,
        due_at=due_at,
        priority=priority,
        tags=list(dict.fromkeys(tags)),
        parent=parent,
        external=external,
        events=[Event(kind=EventKind.CREATED, at=now, actor_id=requester.id, to_id=provider.id, due_at=due_at)],
    )
    sent: list[Message] = []

    def build(numbered: Request) -> list[OutboxItem]:
        sent[:] = cards.on_created(numbered, directory)
        return outbox_items(sent, now)

    stored, created = store.create_request(draft, build_outbox=build, idempotency_key=idempotency_key)
    if not created:
        return Outcome(stored, f"{stored.ref} was already created.", [], repeated=True)
    due = f", due {cards.when(stored.due_at, requester.tz)}" if stored.due_at else ""
    return Outcome(
        stored,
        f"Sent {stored.ref} to {provider.name} ({provider.handle}){due}.",
        sent,
    )


_REPLIES: dict[ActionId, str] = {
    ActionId.ACKNOWLEDGE: "You acknowledged {ref}.",
    ActionId.START: "You started {ref}.",
    ActionId.DONE: "You finished {ref}. {requester} will be asked to rate it.",
    ActionId.DECLINE: "You declined {ref}; {requester} has been told why, with your alternative.",
    ActionId.HANDOFF: "You handed {ref} off to {provider}, with the full history.",
    ActionId.REASSIGN: "You reassigned {ref} to {provider}.",
    ActionId.CANCEL: "You cancelled {ref}.",
    ActionId.REOPEN: "You reopened {ref}; {provider} has been told.",
    ActionId.RATE: "Thanks for rating {ref}.",
    ActionId.RECOVER: "Thanks. {requester} will see what you plan to do and be asked again.",
    ActionId.FOLLOW_UP: "Thanks for letting us know.",
    ActionId.COMMENT: "Comment added to {ref}.",
    ActionId.SET_DUE: "{ref} is now due {due}; {provider} has been told.",
    ActionId.PROPOSE_DUE: "You proposed {proposed} for {ref}; {other} has been asked to accept it.",
    ActionId.ACCEPT_DUE: "Agreed: {ref} is due {due}.",
    ActionId.DECLINE_DUE: "You declined the proposed date for {ref}; it stays {due_or_none}.",
    ActionId.ASK_UPDATE: "You asked {provider} for an update on {ref}; their answer will show in its history.",
    ActionId.NUDGE: "You nudged {provider} about {ref}; it is in its history.",
    ActionId.EXTEND_DUE: (
        "You proposed {proposed} for {ref}; {requester} has been asked to accept it and {provider} has been told. "
        "The date changes only if {requester} accepts."
    ),
    ActionId.PROGRESS: "Progress note added to {ref}; {requester} can see it.",
    ActionId.ASK_INSTEAD: "You asked {provider} instead; {ref} is with them now, with its full history.",
    ActionId.ACCEPT_ALTERNATIVE: "You took up the alternative; {ref} is resolved by it.",
    ActionId.ASK_AGAIN: "You asked {provider} again; {ref} is open again with your note.",
    ActionId.CLOSE_RECOVERY: "You closed the service recovery of {ref}; {requester} and {provider} have been told.",
}

MAX_CONFLICT_RETRIES = 8


def act(
    *,
    store: Store,
    directory: Directory,
    workspace: str,
    number: int,
    action: ActionId,
    actor: Person,
    now: datetime,
    hours: WorkingHours,
    inputs: ActionInput | None = None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Apply ``action`` by ``actor`` to ``R-<number>`` and queue the messages it causes (their
    working time counted in ``hours``, the deployment's working hours).

    Concurrent changes are handled optimistically: on a version conflict the request is
    re-read and the action checked again (a double click then reads "already acknowledged").
    """
    for _attempt in range(MAX_CONFLICT_RETRIES):
        if idempotency_key is not None and store.was_seen(workspace, idempotency_key):
            current = store.get_request(workspace, number)
            if current is not None:
                return Outcome(current, f"That was already done for {current.ref}.", [], repeated=True)
        request = store.get_request(workspace, number)
        if request is None or not can_view(request, actor, directory):
            raise NotFound(f"I can't find R-{number}.")
        updated = apply_action(request, action, actor=actor, directory=directory, now=now, hours=hours, inputs=inputs)
        messages = cards.on_action(request, updated, action, directory, hours=hours)
        try:
            stored, fresh = store.update_request(
                updated, outbox=outbox_items(messages, now), idempotency_key=idempotency_key
            )
        except Conflict:
            continue
        if not fresh:
            return Outcome(stored, f"That was already done for {stored.ref}.", [], repeated=True)
        reply = _REPLIES[action].format(
            ref=stored.ref,
            requester=directory.handle(stored.requester_id),
            provider=directory.handle(stored.provider_id),
            due=cards.when(stored.due_at, actor.tz, zone_name=True),
            due_or_none=f"due {cards.when(stored.due_at, actor.tz, zone_name=True)}"
            if stored.due_at
            else "without a due date",
            proposed=cards.when(stored.events[-1].due_at, actor.tz, zone_name=True),
            other=directory.handle(_other_party(stored, actor.id)),
        )
        if action == ActionId.DECLINE and not stored.events[-1].offers_alternative:
            reply = reply.replace("with your alternative", "and why there is no alternative")
        return Outcome(stored, reply, messages)
    raise Conflict(f"R-{number} is changing too fast; please try again.")
