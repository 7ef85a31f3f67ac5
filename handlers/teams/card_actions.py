"""Card clicks: ``Action.Execute`` (an ``adaptiveCard/action`` invoke) or ``Action.Submit`` (a message
carrying ``value``). Both become one ``bot.requests.act`` call; the clicked card is replaced by
its updated version (in the invoke response, or with ``update_activity``), the actor gets the
core's reply, and everybody else's cards are updated by the outbox worker.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot import cards
from bot.errors import NotFound
from bot.models import NEEDS, ActionId, Person
from bot.nudges import NUDGE_ACTIONS, handle_nudge_action
from bot.people import Directory
from bot.requests import ActionInput, Outcome, act, make_rating
from handlers.teams import identity, kudos_pulse, render
from handlers.teams.chat import idempotency_key, remember_contact, teams_words, tell
from handlers.teams.errors import friendly_message

if TYPE_CHECKING:
    from handlers.runtime import Runtime

log = logging.getLogger(__name__)

CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
_CARD_ACTIONS = frozenset({ActionId.RATE, ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.COMMENT})


@dataclass(frozen=True)
class Submission:
    """One click: the action, the request, the button's value and the form fields (by field name)."""

    action: ActionId
    request: int
    value: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def parse_submission(data: Any) -> Submission | None:
    """Our submit data (see ``render.submit_data``) with its inputs, or None for anything else."""
    if not isinstance(data, dict):
        return None
    try:
        action = ActionId(str(data.get("action")))
        number = int(str(data.get("request")))
    except ValueError:
        return None
    if number <= 0:
        return None
    prefix = f"{action.value}."
    fields = {
        key[len(prefix) :]: str(value).strip()
        for key, value in data.items()
        if isinstance(key, str) and key.startswith(prefix) and value is not None and str(value).strip()
    }
    value = data.get("value")
    return Submission(action=action, request=number, value=str(value) if value is not None else None, fields=fields)


def execute_data(invoke_value: Any) -> Any:
    """The data of an ``adaptiveCard/action`` invoke (inputs merged in by the client)."""
    if isinstance(invoke_value, dict):
        action = invoke_value.get("action")
        if isinstance(action, dict):
            return action.get("data")
    return None


def _person(directory: Directory, text: str) -> Person:
    wanted = text.strip().lstrip("@")
    person = directory.by_handle(wanted)
    if person is None and "@" in wanted:
        person = directory.store.find_person(directory.workspace, email=wanted)
    if person is None:
        raise NotFound(f"I don't know {text.strip()}. Use their handle (like carol) or their email.")
    return person


def action_input(submission: Submission, directory: Directory) -> ActionInput:
    """Form fields to the core's ActionInput (the core checks what is required)."""
    fields = submission.fields
    inputs = ActionInput(note=fields.get("note"), alternative=fields.get("alternative"))
    if fields.get("to"):
        inputs.to = _person(directory, fields["to"])
    if submission.action == ActionId.RATE and fields.get("score"):
        needs = {need: fields[need] for need in NEEDS if fields.get(need)}
        inputs.rating = make_rating(fields["score"], needs, fields.get("comment"))
    if submission.action == ActionId.FOLLOW_UP:
        inputs.satisfied = {"yes": True, "no": False}.get((submission.value or "").lower())
    return inputs


def nudge_click(runtime: Runtime, actor: Person, submission: Submission) -> tuple[str, render.Card]:
    """A nudge's Snooze / Mute button (blocking): the reply and the card that replaces the nudge."""
    reply = handle_nudge_action(
        store=runtime.store,
        actor=actor,
        action=submission.action.value,
        request=submission.request,
        value=submission.value,
        now=runtime.clock(),
        settings=runtime.settings.nudges,
        hours=runtime.settings.working_hours,
    )
    return reply, render.notice_card(f"R-{submission.request}", reply)


def _kudos_or_pulse(
    runtime: Runtime, actor: Person, submission: Submission, context: TurnContext
) -> tuple[str, render.Card, bool]:
    """Thanks from a request's card, or a pulse answer (see ``handlers.teams.kudos_pulse``)."""
    key = idempotency_key(context) if submission.action == ActionId.THANK else None  # pulse answers keep none
    return kudos_pulse.handle(
        runtime,
        actor,
        submission.action,
        submission.request,
        submission.value,
        submission.fields,
        key,
        channel_id=context.activity.channel_id,
    )


def apply(
    runtime: Runtime,
    actor: Person,
    submission: Submission,
    key: str | None,
    *,
    channel_id: str | None = render.TEAMS_CHANNEL,
) -> tuple[Outcome, render.Card]:
    """Run the click against the core (blocking); returns the outcome and the actor's new card
    (with buttons for ``channel_id``)."""
    workspace = runtime.settings.servechain_workspace
    directory = Directory(runtime.store, workspace)
    directory.remember(actor)
    outcome = act(
        store=runtime.store,
        directory=directory,
        workspace=workspace,
        number=submission.request,
        action=submission.action,
        actor=actor,
        now=runtime.clock(),
        inputs=action_input(submission, directory),
        idempotency_key=key,
    )
    return outcome, card_after(outcome, actor, submission, directory, channel_id=channel_id)


def card_after(
    outcome: Outcome,
    actor: Person,
    submission: Submission,
    directory: Directory,
    *,
    channel_id: str | None = render.TEAMS_CHANNEL,
) -> render.Card:
    """What the clicked card turns into: the actor's updated request card, or a thank-you note
    in place of a submitted form (rating, recovery, follow-up)."""
    for message in outcome.messages:
        if message.recipient_id == actor.id and message.kind in ("provider_card", "requester_card"):
            return render.render_card(message, channel_id=channel_id)
    request = outcome.request
    if submission.action not in _CARD_ACTIONS:
        if actor.id in request.provider_history():
            card = cards.provider_card(request, directory, provider_id=actor.id)
            return render.render_card(card, channel_id=channel_id)
        if actor.id == request.requester_id:
            return render.render_card(cards.requester_card(request, directory), channel_id=channel_id)
    return render.notice_card(request.ref, teams_words(outcome.reply))


async def _actor(context: TurnContext, runtime: Runtime) -> Person:
    store, workspace = runtime.store, runtime.settings.servechain_workspace
    actor = await identity.sender(context, store, workspace)
    await asyncio.to_thread(remember_contact, store, workspace, actor, context)
    return actor


def _invoke(kind: str, value: Any) -> InvokeResponse:
    return InvokeResponse(
        status=int(HTTPStatus.OK), body={"statusCode": int(HTTPStatus.OK), "type": kind, "value": value}
    )


async def on_execute(context: TurnContext, runtime: Runtime) -> InvokeResponse:
    """``Action.Execute``: act, answer with the refreshed card, and tell the actor what happened."""
    submission = parse_submission(execute_data(context.activity.value))
    if submission is None:
        return _invoke(MESSAGE_RESPONSE, "That button is not one of mine any more.")
    try:
        actor = await _actor(context, runtime)
        if submission.action in NUDGE_ACTIONS:
            reply, notice = await asyncio.to_thread(nudge_click, runtime, actor, submission)
            await context.send_activity(MessageFactory.text(reply))
            return _invoke(CARD_RESPONSE, notice)
        if submission.action in kudos_pulse.ACTIONS:
            reply, notice, queued = await asyncio.to_thread(_kudos_or_pulse, runtime, actor, submission, context)
            await tell(context, runtime, actor, teams_words(reply))
            if queued:
                runtime.kick()
            return _invoke(CARD_RESPONSE, notice)
        outcome, card = await asyncio.to_thread(
            apply, runtime, actor, submission, idempotency_key(context), channel_id=context.activity.channel_id
        )
    except Exception as error:
        return _invoke(MESSAGE_RESPONSE, teams_words(friendly_message(error)))
    await tell(context, runtime, actor, teams_words(outcome.reply))
    if outcome.messages:
        runtime.kick()
    return _invoke(CARD_RESPONSE, card)


async def on_submit(context: TurnContext, runtime: Runtime) -> bool:
    """``Action.Submit`` (a message with ``value``): act and update the clicked card in place.
    Returns False when the value is not one of our submissions."""
    submission = parse_submission(context.activity.value)
    if submission is None:
        return False
    try:
        actor = await _actor(context, runtime)
        if submission.action in NUDGE_ACTIONS:
            reply, _notice = await asyncio.to_thread(nudge_click, runtime, actor, submission)
            await context.send_activity(MessageFactory.text(reply))
            return True
        if submission.action in kudos_pulse.ACTIONS:
            reply, _notice, queued = await asyncio.to_thread(_kudos_or_pulse, runtime, actor, submission, context)
            await tell(context, runtime, actor, teams_words(reply))
            if queued:
                runtime.kick()
            return True
        outcome, card = await asyncio.to_thread(
            apply, runtime, actor, submission, idempotency_key(context), channel_id=context.activity.channel_id
        )
    except Exception as error:
        await context.send_activity(MessageFactory.text(teams_words(friendly_message(error))))
        return True
    clicked = context.activity.reply_to_id
    if clicked:
        updated = Activity(type=ActivityTypes.message, id=clicked, attachments=[CardFactory.adaptive_card(card)])
        try:
            await context.update_activity(updated)
        except Exception as error:  # the reply below still tells them; the outbox fixes the card
            log.warning("could not update the clicked card %s: %s", clicked, error)
    await tell(context, runtime, actor, teams_words(outcome.reply))
    if outcome.messages:
        runtime.kick()
    return True
