"""Card clicks: ``Action.Execute`` (an ``adaptiveCard/action`` invoke) or ``Action.Submit`` (a message
carrying ``value``). Both become one neutral click for ``bot.clicks.run_click``; the actor gets the
core's reply, and the cards the click changed, the actor's included, are updated by the outbox.

Execute answers the invoke with the actor's new card (Teams shows it at once in the actor's view).
Submit has no such answer, so it edits the clicked message only when the outbox won't, i.e. when
it is not the posted copy of a card this click queued (see ``bot.clicks`` for the rule).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes

from bot.clicks import UNKNOWN_BUTTON, Click, ClickResult, outbox_card_ref, run_click
from bot.commands import parse_request_id
from bot.errors import InvalidCommand, NotFound
from bot.models import NEEDS, ActionId, Person
from bot.people import Directory
from bot.requests import ActionInput, make_rating
from handlers.teams import identity, render
from handlers.teams.chat import idempotency_key, remember_contact, teams_words, tell
from handlers.teams.errors import friendly_message
from handlers.teams.notifier import CardTarget, TeamsNotifier

if TYPE_CHECKING:
    from handlers.runtime import Runtime

log = logging.getLogger(__name__)

CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
_UNKEYED = frozenset({ActionId.PULSE})
"""Pulse answers keep no idempotency key (it would tie the answer to a conversation); the core's
"answered" marker keeps a retried click from counting twice."""


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
    prefix, suffix = f"{action.value}.", f".{number}"  # ids name the request on multi-request cards
    fields = {
        key[len(prefix) :].removesuffix(suffix): str(value).strip()
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


def _person(directory: Directory, text: str, field: str = "to") -> Person:
    wanted = text.strip().lstrip("@")
    person = directory.by_handle(wanted)
    if person is None and "@" in wanted:
        person = directory.store.find_person(directory.workspace, email=wanted)
    if person is None:
        raise NotFound(f"I don't know {text.strip()}. Use their handle (like carol) or their email.", field=field)
    return person


def _due(fields: dict[str, str]) -> str | None:
    """The picked date, with the picked time when there is one (``2026-12-04 15:00``)."""
    day = fields.get("due")
    time = fields.get(render.DUE_TIME)
    return f"{day} {time}" if day and time else day


def action_input(submission: Submission, directory: Directory) -> ActionInput:
    """Form fields to the core's ActionInput (the core checks what is required)."""
    fields = submission.fields
    inputs = ActionInput(
        note=fields.get("note"),
        alternative=fields.get("alternative"),
        no_alternative=fields.get("no_alternative"),
        due=_due(fields),
    )
    if fields.get("to"):
        inputs.to = _person(directory, fields["to"])
    if fields.get("alternative_to"):
        inputs.alternative_to = _person(directory, fields["alternative_to"], field="alternative_to")
    if fields.get("alternative_request"):
        inputs.alternative_request = parse_request_id(fields["alternative_request"])
        if inputs.alternative_request is None:
            raise InvalidCommand(
                f"{fields['alternative_request'][:40]!r} isn't a request number; write it like R-12.",
                field="alternative_request",
            )
    if submission.action == ActionId.RATE and fields.get("score"):
        needs = {need: fields[need] for need in NEEDS if fields.get(need)}
        inputs.rating = make_rating(fields["score"], needs, fields.get("comment"))
    return inputs


def neutral_click(runtime: Runtime, actor: Person, submission: Submission, key: str | None) -> Click:
    """The submission as the core's neutral click (blocking: a hand-off looks its person up)."""
    directory = Directory(runtime.store, runtime.settings.servechain_workspace)
    return Click(
        platform=TeamsNotifier.platform,
        actor=actor,
        action=submission.action,
        request=submission.request,
        value=submission.value,
        inputs=action_input(submission, directory),
        fields=submission.fields,
        key=None if submission.action in _UNKEYED else key,
    )


def run(runtime: Runtime, actor: Person, submission: Submission, key: str | None) -> ClickResult:
    """Run the click against the core (blocking; call it in a thread)."""
    settings = runtime.settings
    return run_click(
        store=runtime.store,
        click=neutral_click(runtime, actor, submission, key),
        now=runtime.clock(),
        nudges=settings.nudges,
        hours=settings.working_hours,
        kudos_allowance=settings.kudos_daily_allowance,
    )


def card_of(result: ClickResult, *, channel_id: str | None = render.TEAMS_CHANNEL) -> render.Card:
    """What the clicked card turns into: the actor's request card (with buttons for ``channel_id``),
    or a note in place of a submitted form or a nudge."""
    if result.card is not None:
        return render.render_card(result.card, channel_id=channel_id)
    return render.notice_card(result.heading, teams_words(result.reply))


def left_to_outbox(runtime: Runtime, result: ClickResult, clicked: str) -> bool:
    """True when the clicked message is the posted copy of a card this click queued (blocking)."""
    posted = outbox_card_ref(runtime.store, result, TeamsNotifier.platform)
    target = CardTarget.load(posted) if posted else None
    return target is not None and target.activity_id == clicked


async def _actor(context: TurnContext, runtime: Runtime) -> Person:
    store, workspace = runtime.store, runtime.settings.servechain_workspace
    actor = await identity.sender(context, store, workspace)
    await asyncio.to_thread(remember_contact, store, workspace, actor, context)
    return actor


async def _click(context: TurnContext, runtime: Runtime, submission: Submission) -> tuple[Person, ClickResult]:
    actor = await _actor(context, runtime)
    result = await asyncio.to_thread(run, runtime, actor, submission, idempotency_key(context))
    return actor, result


async def _tell(context: TurnContext, runtime: Runtime, actor: Person, result: ClickResult) -> None:
    await tell(context, runtime, actor, teams_words(result.reply))
    if result.queued:
        runtime.kick()


def _invoke(kind: str, value: Any) -> InvokeResponse:
    return InvokeResponse(
        status=int(HTTPStatus.OK), body={"statusCode": int(HTTPStatus.OK), "type": kind, "value": value}
    )


async def on_execute(context: TurnContext, runtime: Runtime) -> InvokeResponse:
    """``Action.Execute``: act, answer with the refreshed card, and tell the actor what happened."""
    submission = parse_submission(execute_data(context.activity.value))
    if submission is None:
        return _invoke(MESSAGE_RESPONSE, UNKNOWN_BUTTON)
    try:
        actor, result = await _click(context, runtime, submission)
        card = await asyncio.to_thread(card_of, result, channel_id=context.activity.channel_id)
    except Exception as error:
        return _invoke(MESSAGE_RESPONSE, teams_words(friendly_message(error)))
    await _tell(context, runtime, actor, result)
    return _invoke(CARD_RESPONSE, card)


async def on_submit(context: TurnContext, runtime: Runtime) -> bool:
    """``Action.Submit`` (a message with ``value``): act, and redraw the clicked card unless the
    outbox will. Returns False when the value is not one of our submissions."""
    submission = parse_submission(context.activity.value)
    if submission is None:
        return False
    try:
        actor, result = await _click(context, runtime, submission)
    except Exception as error:
        await context.send_activity(MessageFactory.text(teams_words(friendly_message(error))))
        return True
    clicked = context.activity.reply_to_id
    if clicked and not await asyncio.to_thread(left_to_outbox, runtime, result, clicked):
        card = await asyncio.to_thread(card_of, result, channel_id=context.activity.channel_id)
        updated = Activity(type=ActivityTypes.message, id=clicked, attachments=[CardFactory.adaptive_card(card)])
        try:
            await context.update_activity(updated)
        except Exception as error:  # the reply below still tells them
            log.warning("could not update the clicked card %s: %s", clicked, error)
    await _tell(context, runtime, actor, result)
    return True
