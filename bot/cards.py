"""Neutral messages a request's life produces: cards, thread notes and prompts.

Renderers (Block Kit, Adaptive Cards, console text) turn these into platform payloads;
nothing here knows any platform. Card keys let later messages update a card in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.models import NEEDS, Action, ActionId, Event, EventKind, Fact, Message, MessageKind, Person, Request, Status
from bot.people import Directory
from bot.promises import agreed_dates, pending_proposal
from bot.recovery import POOR_RATING, Recovery, recovery
from bot.workhours import WorkingHours, working_time


class AsOf(NamedTuple):
    """When a card is drawn and the working hours (the deployment's) its overdue flag counts in:
    a card drawn as of a moment flags an overdue request; one drawn without (a new request's) doesn't."""

    now: datetime
    hours: WorkingHours


def when(moment: datetime | None, tz: str, *, zone_name: bool = False) -> str:
    """A short local time for people, e.g. ``Fri 28 Nov 17:00`` (``... 17:00 GMT`` with ``zone_name``)."""
    if moment is None:
        return "no due date"
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z" if zone_name else "%a %d %b %H:%M")


def working_span(span: timedelta) -> str:
    """A span of working time for people: ``40 min``, ``3 working h``, ``2 working h 15 min``."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} working min" if minutes else "less than a working minute"
    hours, rest = divmod(minutes, 60)
    return f"{hours} working h {rest} min" if rest else f"{hours} working h"


def overdue(request: Request, now: datetime | None, viewer: Person | None, hours: WorkingHours) -> str | None:
    """``overdue by 3 working h`` for an open request past its due date, else None: counted in the
    viewer's working time (``hours`` in their zone, with their country's public holidays)."""
    if now is None or request.due_at is None or not request.status.is_open or now <= request.due_at:
        return None
    tz = viewer.tz if viewer else "UTC"
    return f"overdue by {working_span(working_time(request.due_at, now, tz=tz, hours=hours.for_person(viewer)))}"


def provider_card_key(request: Request, provider_id: str) -> str:
    """The card a provider sees for a request (one per provider it passed through)."""
    return f"{request.workspace}:{request.ref}:provider:{provider_id}"


def requester_card_key(request: Request) -> str:
    """The requester's confirmation card that tracks status live."""
    return f"{request.workspace}:{request.ref}:requester"


def _key(request: Request, kind: str, recipient_id: str) -> str:
    return f"{request.workspace}:{request.ref}:e{len(request.events)}:{kind}:{recipient_id}"


def describe(event: Event, directory: Directory, tz: str = "UTC") -> str:
    """One line of history for an event, e.g. ``bob handed off to carol: "see the sheet"``."""
    who = directory.handle(event.actor_id)
    to = directory.handle(event.to_id) if event.to_id else ""
    note = f': "{event.note}"' if event.note else ""
    match event.kind:
        case EventKind.CREATED:
            return f"{who} asked {to}"
        case EventKind.HANDED_OFF if event.from_id and event.actor_id != event.from_id:
            return f"{who} asked {to} instead of {directory.handle(event.from_id)}{note}"
        case EventKind.HANDED_OFF:
            return f"{who} handed off to {to}{note}"
        case EventKind.REASSIGNED:
            return f"{who} reassigned it to {to}{note}"
        case EventKind.DECLINED:
            offered = alternative_text(event, directory)
            if offered:
                return f"{who} declined{note} (alternative: {offered})"
            why = f' (no alternative: "{event.no_alternative}")' if event.no_alternative else ""
            return f"{who} declined{note}{why}"
        case EventKind.ALTERNATIVE_ACCEPTED:
            return f"{who} took up the alternative"
        case EventKind.RECOVERY_CLOSED:
            return f"{who} closed the service recovery{note}"
        case EventKind.DONE:
            return f"{who} marked it done{note}"
        case EventKind.RATED:
            score = event.rating.score if event.rating else "?"
            return f"{who} rated it {score}/5"
        case EventKind.RECOVERY_PLANNED:
            return f"{who} answered the rating{note}"
        case EventKind.FOLLOWED_UP:
            verdict = "is satisfied now" if event.satisfied else "is still not satisfied"
            return f"{who} {verdict}{note}"
        case EventKind.COMMENTED:
            return f"{who} commented{note}"
        case EventKind.DUE_SET:
            return f"{who} set the due date: {when(event.due_at, tz, zone_name=True)}"
        case EventKind.DUE_PROPOSED if event.to_id:  # a manager's extension, put to the requester
            return f"{who} proposed a new due date to {to}: {when(event.due_at, tz, zone_name=True)}{note}"
        case EventKind.DUE_PROPOSED:
            return f"{who} proposed a due date: {when(event.due_at, tz, zone_name=True)}{note}"
        case EventKind.NUDGED:
            return f"{who} nudged {to}"
        case EventKind.ESCALATED:
            return f"escalated to {to}: not acknowledged in time"
        case EventKind.DUE_AGREED:
            return f"{who} agreed the due date: {when(event.due_at, tz, zone_name=True)}"
        case EventKind.UPDATE_ASKED:
            return f"{who} asked for an update"
        case EventKind.PROGRESS_NOTED:
            return f"{who} posted progress{note}"
        case EventKind.DUE_DECLINED:
            return f"{who} declined the proposed due date{note}"
        case _:
            return f"{who} {event.kind.value.replace('_', ' ')}{note}"


def alternative_text(event: Event, directory: Directory) -> str:
    """A decline's alternative in words: ``@carol · R-12 · "the self-service form"`` ("" if none)."""
    parts = []
    if event.alternative_id:
        parts.append(directory.handle(event.alternative_id))
    if event.alternative_request:
        parts.append(f"R-{event.alternative_request}")
    if event.alternative:
        parts.append(f'"{event.alternative}"')
    return " · ".join(parts)


def _decline(request: Request) -> tuple[int, Event] | None:
    """The latest decline of a declined request, with its place in the log."""
    if request.status != Status.DECLINED:
        return None
    for index in range(len(request.events) - 1, -1, -1):
        if request.events[index].kind == EventKind.DECLINED:
            return index, request.events[index]
    return None


def _alternative_taken(request: Request, index: int) -> bool:
    return any(e.kind == EventKind.ALTERNATIVE_ACCEPTED for e in request.events[index + 1 :])


def history(request: Request, directory: Directory, tz: str) -> list[str]:
    """The whole log as lines, oldest first, in the viewer's time zone."""
    return [f"{when(e.at, tz)} · {describe(e, directory, tz)}" for e in request.events]


def _facts(request: Request, directory: Directory, viewer_id: str, as_of: AsOf | None) -> list[Fact]:
    tz = _tz(directory, viewer_id)
    facts = [
        Fact(label="From", value=directory.name(request.requester_id)),
        Fact(label="To", value=directory.name(request.provider_id)),
        Fact(label="Status", value=request.status.label),
        Fact(label="Due", value=when(request.due_at, tz, zone_name=True)),
    ]
    late = overdue(request, as_of.now, directory.get(viewer_id), as_of.hours) if as_of is not None else None
    if late is not None:
        facts.append(Fact(label="Overdue", value=f"⚠️ {late}"))
    pending = pending_proposal(request)
    if pending is not None:
        facts.append(
            Fact(
                label="Proposed",
                value=f"{when(pending.due_at, tz, zone_name=True)} by {directory.name(pending.proposer_id)}",
            )
        )
    declined = _decline(request)
    if declined is not None:
        index, decline = declined
        offered = alternative_text(decline, directory)
        if offered:
            taken = " (taken up: resolved by it)" if _alternative_taken(request, index) else ""
            facts.append(Fact(label="Alternative", value=offered + taken))
        else:
            facts.append(Fact(label="No alternative", value=decline.no_alternative or "none given"))
    if request.priority.value != "normal":
        facts.append(Fact(label="Priority", value=request.priority.value))
    if request.parent is not None:
        facts.append(Fact(label="Part of", value=f"R-{request.parent}"))
    if request.external:
        facts.append(Fact(label="For", value="an external customer"))
    if request.tags:
        facts.append(Fact(label="Tags", value=" ".join(f"#{t}" for t in request.tags)))
    return facts


def nudged_fact(request: Request, directory: Directory, tz: str) -> Fact | None:
    """Who nudged the provider last (a manager, from ``/request team``), while the request is open."""
    nudge = request.last(EventKind.NUDGED) if request.status.is_open else None
    if nudge is None:
        return None
    return Fact(label="Nudged", value=f"by {directory.name(nudge.actor_id)}, {when(nudge.at, tz)}")


DECLINE_INPUTS = ("note", "alternative_to", "alternative_request", "alternative", "no_alternative")
"""The decline form: the reason, then an alternative (a person, a request, an option) or why there is none."""


def provider_actions(request: Request) -> list[Action]:
    """The buttons the current provider gets in the request's present state."""
    n = request.number
    by_status: dict[Status, list[Action]] = {
        Status.OPEN: [Action(id=ActionId.ACKNOWLEDGE, label="Acknowledge", request=n, style="primary")],
        Status.ACKNOWLEDGED: [Action(id=ActionId.START, label="Start", request=n, style="primary")],
        Status.IN_PROGRESS: [],
    }
    if not request.status.is_open:
        return []
    actions = by_status[request.status]
    if request.status == Status.OPEN:
        actions.append(Action(id=ActionId.START, label="Start", request=n))
    actions += [
        Action(id=ActionId.DONE, label="Done", request=n, style="primary", inputs=["note"]),
        Action(id=ActionId.DECLINE, label="Decline", request=n, style="danger", inputs=list(DECLINE_INPUTS)),
        Action(id=ActionId.HANDOFF, label="Hand off", request=n, inputs=["to", "note"]),
    ]
    return actions


def _progress_action(request: Request) -> list[Action]:
    """ "Post progress" while the requester's ask for an update is unanswered."""
    for event in reversed(request.events):
        if event.kind == EventKind.PROGRESS_NOTED:
            return []
        if event.kind == EventKind.UPDATE_ASKED:
            return [
                Action(
                    id=ActionId.PROGRESS,
                    label="Post progress",
                    request=request.number,
                    style="primary",
                    inputs=["note"],
                )
            ]
    return []


def negotiation_actions(request: Request, viewer_id: str) -> list[Action]:
    """The date buttons of one party (requester or current provider) of an open request: answer
    the other side's proposal, or propose a date (moving an agreed one needs a reason)."""
    if not request.status.is_open:
        return []
    n = request.number
    pending = pending_proposal(request)
    if pending is not None:
        if pending.proposer_id == viewer_id:
            return []
        if pending.proposer_id != request.requester_id and viewer_id != request.requester_id:
            return []  # a manager's extension is the requester's to answer
        return [
            Action(id=ActionId.ACCEPT_DUE, label="Accept date", request=n, style="primary", value=str(pending.index)),
            Action(id=ActionId.DECLINE_DUE, label="Decline date", request=n, value=str(pending.index), inputs=["note"]),
            Action(id=ActionId.PROPOSE_DUE, label="Propose another date", request=n, inputs=["due", "note"]),
        ]
    if viewer_id == request.requester_id:
        if request.due_at is None:
            return [Action(id=ActionId.SET_DUE, label="Set due date", request=n, inputs=["due"])]
        if agreed_dates(request):
            return [Action(id=ActionId.PROPOSE_DUE, label="Move due date", request=n, inputs=["due", "note"])]
        return []  # the requester's ask stands until the provider answers it
    return [Action(id=ActionId.PROPOSE_DUE, label="Propose a date", request=n, inputs=["due", "note"])]


def decline_choices(request: Request, directory: Directory | None = None) -> list[Action]:
    """The requester's one-step choices after a decline: "Ask @carol instead" when it named a
    person, "Accept the alternative" when it named a request or an option, and "Ask again" (with a
    note). The first two carry the decline's place in the log, so an older card's button is refused."""
    declined = _decline(request)
    if declined is None:
        return []
    index, decline = declined
    if _alternative_taken(request, index):
        return []
    n = request.number
    choices = []
    if decline.alternative_id:
        who = directory.handle(decline.alternative_id) if directory is not None else "them"
        choices.append(
            Action(id=ActionId.ASK_INSTEAD, label=f"Ask {who} instead", request=n, style="primary", value=str(index))
        )
    if decline.alternative or decline.alternative_request:
        choices.append(
            Action(
                id=ActionId.ACCEPT_ALTERNATIVE,
                label="Accept the alternative",
                request=n,
                style="default" if choices else "primary",
                value=str(index),
            )
        )
    choices.append(Action(id=ActionId.ASK_AGAIN, label="Ask again", request=n, inputs=["note"]))
    return choices


def requester_actions(request: Request, thank: str | None = None, directory: Directory | None = None) -> list[Action]:
    """The buttons on the requester's confirmation card; once it is done, ``thank`` (the name of
    whoever finished it) gets a "Thank ..." button that gives them kudos (``bot.kudos``); once it
    is declined, the choices of :func:`decline_choices` come first."""
    n = request.number
    if request.status.is_open:
        ask = (
            [Action(id=ActionId.ASK_UPDATE, label="Ask for an update", request=n)]
            if request.status in (Status.ACKNOWLEDGED, Status.IN_PROGRESS)
            else []
        )
        return [
            *ask,
            *negotiation_actions(request, request.requester_id),
            Action(id=ActionId.CANCEL, label="Cancel request", request=n, style="danger"),
        ]
    actions = decline_choices(request, directory)
    if request.status == Status.DONE and thank:
        actions.append(Action(id=ActionId.THANK, label=f"Thank {thank}", request=n, inputs=["message"]))
    if request.status in (Status.DONE, Status.CANCELLED):
        actions.append(Action(id=ActionId.REOPEN, label="Reopen", request=n, inputs=["note"]))
    return actions


def finished_by(request: Request) -> str | None:
    """Who marked a done request done (the provider a thank-you goes to), if it is done."""
    done = request.last(EventKind.DONE) if request.status == Status.DONE else None
    return done.actor_id if done is not None else None


def provider_card(
    request: Request,
    directory: Directory,
    provider_id: str | None = None,
    as_of: AsOf | None = None,
) -> Message:
    """The provider's card: what is asked, by whom, the whole history, and what they can do
    (drawn ``as_of`` a moment, it flags an overdue request)."""
    provider_id = provider_id or request.provider_id
    tz = _tz(directory, provider_id)
    current = provider_id == request.provider_id
    title = f"{request.ref} from {directory.name(request.requester_id)}"
    if not current:
        title += f" (now with {directory.name(request.provider_id)})"
    return Message(
        key=_key(request, "provider_card", provider_id),
        workspace=request.workspace,
        recipient_id=provider_id,
        kind="provider_card",
        title=title,
        text=request.text,
        facts=[*_facts(request, directory, provider_id, as_of), *filter(None, [nudged_fact(request, directory, tz)])],
        history=history(request, directory, tz),
        actions=[*_progress_action(request), *provider_actions(request), *negotiation_actions(request, provider_id)]
        if current
        else [],
        card_key=provider_card_key(request, provider_id),
        revision=len(request.events),
        request=request.number,
    )


def requester_card(request: Request, directory: Directory, as_of: AsOf | None = None) -> Message:
    """The requester's confirmation card; it tracks the status live (drawn ``as_of`` a moment, it
    flags an overdue request)."""
    tz = _tz(directory, request.requester_id)
    return Message(
        key=_key(request, "requester_card", request.requester_id),
        workspace=request.workspace,
        recipient_id=request.requester_id,
        kind="requester_card",
        title=f"{request.ref} to {directory.name(request.provider_id)}: {_status_label(request)}",
        text=request.text,
        facts=_facts(request, directory, request.requester_id, as_of),
        history=history(request, directory, tz),
        actions=requester_actions(request, thank=_first_name(directory, finished_by(request)), directory=directory),
        card_key=requester_card_key(request),
        revision=len(request.events),
        request=request.number,
    )


def _status_label(request: Request) -> str:
    declined = _decline(request)
    if declined is not None and _alternative_taken(request, declined[0]):
        return "declined, resolved by the alternative"
    return request.status.label


def _note(request: Request, recipient_id: str, text: str, thread_key: str, kind: MessageKind = "update") -> Message:
    return Message(
        key=_key(request, kind, recipient_id),
        workspace=request.workspace,
        recipient_id=recipient_id,
        kind=kind,
        title=request.ref,
        text=text,
        thread_key=thread_key,
        request=request.number,
    )


def rating_prompt(request: Request, directory: Directory) -> Message:
    """Ask the requester to rate the service (also of a decline: how it was declined and what was
    offered instead), with the six needs as optional scores."""
    declined = "" if request.status != Status.DECLINED else " (declined)"
    return Message(
        key=_key(request, "rating_prompt", request.requester_id),
        workspace=request.workspace,
        recipient_id=request.requester_id,
        kind="rating_prompt",
        title=f"How did {directory.name(request.provider_id)} do on {request.ref}{declined}?",
        text=f"Rate 1 (poor) to 5 (great). Optionally score: {', '.join(NEEDS)}.",
        actions=[
            Action(
                id=ActionId.RATE,
                label="Rate",
                request=request.number,
                style="primary",
                inputs=["score", *NEEDS, "comment"],
            )
        ],
        thread_key=requester_card_key(request),
        request=request.number,
    )


def on_created(request: Request, directory: Directory) -> list[Message]:
    """A new request: the provider's card and the requester's confirmation."""
    return [provider_card(request, directory), requester_card(request, directory)]


def recovery_prompt(request: Request, directory: Directory, found: Recovery) -> Message:
    """The provider's poor-rating card: the overall score, each scored need and the comment, and
    from the second round on what the requester said is still missing; asks for a (new) plan."""
    rating = found.rating
    requester = directory.name(request.requester_id)
    facts = [Fact(label="Overall", value=f"{rating.score}/5")]
    facts += [Fact(label=need.capitalize(), value=f"{rating.needs[need]}/5") for need in NEEDS if need in rating.needs]
    lines = [f'They said: "{rating.comment}".'] if rating.comment else []
    if found.failed:
        missing = f': "{found.last.note}"' if found.last.note else ""
        title = f"{requester} is still not satisfied with {request.ref} (round {found.round})"
        lines.append(f"Your last plan didn't settle it{missing}. Please propose another plan.")
        manager_id = directory.manager_of(request.provider_id)
        if found.with_managers and manager_id:
            lines.append(f"{directory.name(manager_id)} has been brought in with the whole thread and can close it.")
        label = "Propose another plan"
    else:
        title = f"{requester} rated {request.ref} {rating.score}/5"
        lines.append("Please acknowledge it and tell them what you'll do about it.")
        label = "Here's what we'll do"
    return Message(
        key=_key(request, "recovery_prompt", request.provider_id),
        workspace=request.workspace,
        recipient_id=request.provider_id,
        kind="recovery_prompt",
        title=title,
        text=" ".join(lines),
        facts=facts,
        actions=[Action(id=ActionId.RECOVER, label=label, request=request.number, style="primary", inputs=["note"])],
        thread_key=provider_card_key(request, request.provider_id),
        request=request.number,
    )


def recovery_manager_card(request: Request, directory: Directory, manager_id: str, found: Recovery) -> Message:
    """What the provider's manager sees once recovery needs them: the rating with its needs, the
    whole thread, and "Close recovery" while it is open (updated in place as it goes on)."""
    tz = _tz(directory, manager_id)
    rating = found.rating
    requester, provider = directory.name(request.requester_id), directory.name(request.provider_id)
    if found.is_open:
        state = f"{requester} is still not satisfied after {found.failed} rounds of service recovery with {provider}."
        ask = "Talk to them both; close the recovery once it is settled (both will see your note)."
    else:
        state = f"The service recovery is over: {'satisfied' if found.state == 'satisfied' else 'closed'}."
        ask = ""
    facts = [
        Fact(label="From", value=requester),
        Fact(label="Served by", value=provider),
        Fact(label="Overall", value=f"{rating.score}/5"),
        *(Fact(label=need.capitalize(), value=f"{rating.needs[need]}/5") for need in NEEDS if need in rating.needs),
    ]
    actions = (
        [Action(id=ActionId.CLOSE_RECOVERY, label="Close recovery", request=request.number, inputs=["note"])]
        if found.is_open
        else []
    )
    return Message(
        key=_key(request, "recovery_manager", manager_id),
        workspace=request.workspace,
        recipient_id=manager_id,
        kind="recovery_prompt",
        title=f"Service recovery of {request.ref}: {request.text[:80]}",
        text=" ".join(part for part in (state, ask) if part),
        facts=facts,
        history=history(request, directory, tz),
        actions=actions,
        card_key=f"{request.workspace}:{request.ref}:recovery:{manager_id}",
        revision=len(request.events),
        request=request.number,
    )


def _follow_up_prompt(request: Request, directory: Directory, found: Recovery, plan: str | None) -> Message:
    """Ask the requester whether the provider's plan settles it (the buttons name the round)."""
    provider = directory.name(request.provider_id)
    title = (
        f"{provider} answered your rating of {request.ref}"
        if found.round == 1
        else f"{provider} proposes another plan for {request.ref} (round {found.round})"
    )
    n, round_ = request.number, found.round
    return Message(
        key=_key(request, "follow_up_prompt", request.requester_id),
        workspace=request.workspace,
        recipient_id=request.requester_id,
        kind="follow_up_prompt",
        title=title,
        text=f'"{plan}"\nAre you satisfied now?',
        actions=[
            Action(id=ActionId.FOLLOW_UP, label="Yes, thanks", request=n, style="primary", value=f"yes:{round_}"),
            Action(id=ActionId.FOLLOW_UP, label="Not yet", request=n, value=f"no:{round_}", inputs=["note"]),
        ],
        thread_key=requester_card_key(request),
        request=n,
    )


_FORMS = (ActionId.RATE, ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.COMMENT, ActionId.CLOSE_RECOVERY)
"""Actions that leave both request cards as they are (the thread says what happened)."""


def on_action(
    before: Request, after: Request, action: ActionId, directory: Directory, *, hours: WorkingHours
) -> list[Message]:
    """Messages caused by one action: cards updated in place (their overdue flag counted in
    ``hours``, the deployment's working hours) plus notes in their threads."""
    event = after.events[-1]

    def line(recipient_id: str) -> str:  # in the recipient's own time zone
        return describe(event, directory, _tz(directory, recipient_id))

    rq_thread = requester_card_key(after)
    messages: list[Message] = []
    if action not in _FORMS:
        drawn = AsOf(event.at, hours)
        messages.append(provider_card(after, directory, as_of=drawn))
        messages.append(requester_card(after, directory, as_of=drawn))
    moved = before.provider_id != after.provider_id
    if moved:
        messages.append(provider_card(after, directory, provider_id=before.provider_id))
        messages.append(
            _note(
                after,
                after.provider_id,
                f"{after.ref} is yours now: {line(after.provider_id)}",
                provider_card_key(after, after.provider_id),
            )
        )
    pv_thread = provider_card_key(after, after.provider_id)
    messages += _manager_notes(before, after, action, directory)
    found = recovery(after)
    unsatisfied = action == ActionId.FOLLOW_UP and event.satisfied is False
    if action == ActionId.NUDGE:
        pass  # the provider's note above; the requester sees it in the history on their card
    elif event.actor_id != after.requester_id:
        messages.append(_note(after, after.requester_id, line(after.requester_id), rq_thread))
        if action == ActionId.CLOSE_RECOVERY:
            messages.append(_note(after, after.provider_id, line(after.provider_id), pv_thread))
    elif moved:
        pass  # the new provider's "is yours now" says it
    elif unsatisfied:
        pass  # the provider's recovery card says it, with the needs and the round
    elif action != ActionId.RATE or (event.rating and event.rating.score > POOR_RATING):
        messages.append(_note(after, after.provider_id, line(after.provider_id), pv_thread))
    if action in (ActionId.DONE, ActionId.DECLINE):
        messages.append(rating_prompt(after, directory))
    if found is not None and (action == ActionId.RATE or unsatisfied):
        messages.append(recovery_prompt(after, directory, found))
    if action == ActionId.RATE and found is not None:
        messages.append(
            _note(
                after,
                after.requester_id,
                f"Sorry it didn't go well. {directory.name(after.provider_id)} has been asked to follow up.",
                rq_thread,
            )
        )
    if action == ActionId.RECOVER and found is not None:
        messages.append(_follow_up_prompt(after, directory, found, event.note))
    if (
        found is not None
        and found.with_managers
        and action in (ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.CLOSE_RECOVERY)
    ):
        manager_id = directory.manager_of(after.provider_id)
        if manager_id:
            messages.append(recovery_manager_card(after, directory, manager_id, found))
    return messages


def _manager_notes(before: Request, after: Request, action: ActionId, directory: Directory) -> list[Message]:
    """What a manager's move from ``/request team`` tells the provider (a nudge; a later date put
    to the requester), and the manager hearing the requester's answer to their proposed date."""
    event = after.events[-1]
    manager = directory.name(event.actor_id)
    thread = provider_card_key(after, after.provider_id)
    if action == ActionId.NUDGE:
        text = (
            f"{manager} nudged you about {after.ref}: please acknowledge it, post progress or say what is in the way."
        )
        return [_note(after, after.provider_id, text, thread)]
    if action == ActionId.EXTEND_DUE:
        proposed = when(event.due_at, _tz(directory, after.provider_id), zone_name=True)
        text = (
            f"{manager} proposed moving {after.ref} to {proposed} ({event.note}); "
            f"{directory.handle(after.requester_id)} has been asked to accept it. Until then it stays "
            f"{when(after.due_at, _tz(directory, after.provider_id), zone_name=True)}."
        )
        return [_note(after, after.provider_id, text, thread)]
    if action in (ActionId.ACCEPT_DUE, ActionId.DECLINE_DUE):
        answered = pending_proposal(before)
        if answered is not None and answered.proposer_id not in (after.requester_id, after.provider_id):
            line = describe(event, directory, _tz(directory, answered.proposer_id))
            return [_note(after, answered.proposer_id, line, provider_card_key(after, answered.proposer_id))]
    return []


def _first_name(directory: Directory, person_id: str | None) -> str | None:
    if person_id is None:
        return None
    name = directory.name(person_id).strip()
    return name.split()[0] if name else None


def _tz(directory: Directory, person_id: str) -> str:
    person = directory.get(person_id)
    return person.tz if person else "UTC"
