"""Run one button click or form submission for one person: the single entry every front end
calls for clicks, as :mod:`bot.dispatch` is for typed commands.

A front end turns its payload into a neutral :class:`Click` (who, which action, which request,
the button's value, the form's inputs, an idempotency key) and renders the :class:`ClickResult`:
the reply to the clicker, the clicker's card after the click, and the messages queued.

The card-update rule, the same on every platform:

- **The outbox updates every card a click changed, the clicker's included.** It is the one
  writer of a posted card (``CardRef``): retried, revision-guarded, and the same path the other
  party's card takes. Slack and the console rely on it alone.
- **The click's own answer may show the clicker's card.** Teams' ``Action.Execute`` must answer
  the invoke with a card; that card replaces the card *in the clicker's view only* (what the
  Agents SDK calls ``REPLACE_FOR_INTERACTOR``), while the message itself changes only through
  ``updateActivity``, which the outbox sends. So the invoke response is not a second update.
- **A front end edits the clicked message itself only when the outbox won't**: when it is not
  the posted copy of a card this click queued (a card shown by ``request show`` or ``queue``,
  a form turning into a thank-you note). :func:`outbox_card_ref` tells it which message the
  outbox will update. So every message changes once per click, and Execute keeps refreshing
  the card at once.

Domain errors (``NotFound``, ``NotAllowed``, ``InvalidCommand``...) are raised, not turned into
replies: Slack shows a form's errors inline on the field they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import cards
from bot.errors import InvalidCommand
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE, thank_for_request
from bot.models import ActionId, Message, Person, Request
from bot.nudges import DEFAULT_NUDGES, NUDGE_ACTIONS, NudgeSettings, handle_nudge_action
from bot.people import Directory
from bot.ports import Store
from bot.pulse import answer_pulse, week_from_code
from bot.requests import ActionInput, Outcome, act
from bot.workhours import WorkingHours

__all__ = ["UNKNOWN_BUTTON", "Click", "ClickResult", "outbox_card_ref", "run_click"]

UNKNOWN_BUTTON = "That button is not one of mine any more."

_FORM_ACTIONS = frozenset(
    {ActionId.RATE, ActionId.RECOVER, ActionId.FOLLOW_UP, ActionId.COMMENT, ActionId.CLOSE_RECOVERY}
)
"""Actions whose form, once submitted, turns into a thank-you note rather than a request card."""
_CARD_KINDS = ("provider_card", "requester_card")


@dataclass(frozen=True)
class Click:
    """One click or form submission, whatever the platform."""

    platform: str
    actor: Person
    """Who clicked (resolved by the front end)."""
    action: str
    """The button's action id (``ActionId`` values); anything else is an unknown button."""
    request: int
    """The request's number; for the pulse, the week's code (``bot.pulse.week_code``) or 0 when
    ``value`` names the week."""
    value: str | None = None
    """The button's value: ``yes``/``no`` on a follow-up, a snooze length, the pulse's week."""
    inputs: ActionInput = field(default_factory=ActionInput)
    """A request action's form, typed by the front end (people resolved, the rating built)."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Other forms' texts: the thanks' ``message``; the pulse's ``manager_support``, ``service``
    and ``comment``."""
    key: str | None = None
    """Idempotency key: a retried delivery of the same click changes nothing twice."""


@dataclass
class ClickResult:
    """What a click did, for the front end to render."""

    reply: str
    """What the clicker is told."""
    heading: str
    """The title of a note shown in place of the clicked card when ``card`` is None."""
    card: Message | None = None
    """The clicker's card after the click (neutral), or None when a note replaces the clicked card."""
    queued: list[Message] = field(default_factory=list)
    """The messages the click queued in the outbox (for the clicker and for others)."""
    request: Request | None = None
    """The request the click changed or thanked for, if any."""
    repeated: bool = False
    """True when this click was already handled (a retried delivery): nothing changed now."""


def run_click(
    *,
    store: Store,
    click: Click,
    now: datetime,
    nudges: NudgeSettings = DEFAULT_NUDGES,
    hours: WorkingHours,
    kudos_allowance: int = DEFAULT_KUDOS_ALLOWANCE,
) -> ClickResult:
    """Run ``click``: a nudge's snooze/mute, a pulse answer, thanks for a request, or a request action."""
    try:
        action = ActionId(click.action)
    except ValueError:
        raise InvalidCommand(UNKNOWN_BUTTON) from None
    actor = click.actor
    if action in NUDGE_ACTIONS:
        reply = handle_nudge_action(
            store=store,
            actor=actor,
            action=action.value,
            request=click.request,
            value=click.value,
            now=now,
            settings=nudges,
            hours=hours,
        )
        return ClickResult(reply=reply, heading=f"R-{click.request}")
    if action == ActionId.PULSE:
        week = click.value or week_from_code(click.request)
        reply = answer_pulse(
            store=store,
            person=actor,
            week=week,
            manager_support=click.fields.get("manager_support", ""),
            service=click.fields.get("service", ""),
            comment=click.fields.get("comment"),
            now=now,
        )
        return ClickResult(reply=reply, heading=f"Weekly pulse · {week}")
    directory = Directory(store, actor.workspace)
    directory.remember(actor)
    if action == ActionId.THANK:
        thanks = thank_for_request(
            store=store,
            directory=directory,
            actor=actor,
            number=click.request,
            message=click.fields.get("message"),
            now=now,
            allowance=kudos_allowance,
            idempotency_key=click.key,
        )
        thanked = store.get_request(actor.workspace, click.request)
        return ClickResult(
            reply=thanks.text,
            heading=f"R-{click.request}",
            card=cards.requester_card(thanked, directory) if thanked is not None else None,
            queued=thanks.messages,
            request=thanked,
            repeated=thanks.repeated,
        )
    outcome = act(
        store=store,
        directory=directory,
        workspace=actor.workspace,
        number=click.request,
        action=action,
        actor=actor,
        now=now,
        hours=hours,
        inputs=_with_answer(action, click.inputs, click.value),
        idempotency_key=click.key,
    )
    return ClickResult(
        reply=outcome.reply,
        heading=outcome.request.ref,
        card=_card_after(outcome, actor, action, directory),
        queued=outcome.messages,
        request=outcome.request,
        repeated=outcome.repeated,
    )


def outbox_card_ref(store: Store, result: ClickResult, platform: str) -> str | None:
    """The platform's reference of the clicker's posted card when this click queued an update of
    it: that message is the outbox's to update, so the front end leaves it alone. None otherwise."""
    card = result.card
    if card is None or card.card_key is None or not any(m.card_key == card.card_key for m in result.queued):
        return None
    posted = store.get_card_ref(card.workspace, card.card_key, platform)
    return posted.ref if posted is not None else None


def _with_answer(action: ActionId, inputs: ActionInput, value: str | None) -> ActionInput:
    """A follow-up's buttons carry ``yes`` / ``no`` (and the recovery round, ``no:2``): is the
    requester satisfied now? A date answer's buttons carry the proposal they answer, a decline
    choice's the decline it answers, a manager's Extend the date it extends."""
    if action == ActionId.EXTEND_DUE and inputs.due_was is None and value:
        return replace(inputs, due_was=value)  # the due date the manager's button was made for
    if action in (ActionId.ACCEPT_DUE, ActionId.DECLINE_DUE) and inputs.proposal is None and value is not None:
        return replace(inputs, proposal=int(value) if value.strip().isdigit() else -1)
    if action in (ActionId.ASK_INSTEAD, ActionId.ACCEPT_ALTERNATIVE) and inputs.decline is None and value is not None:
        return replace(inputs, decline=int(value) if value.strip().isdigit() else -1)
    if action != ActionId.FOLLOW_UP or inputs.satisfied is not None or value is None:
        return inputs
    answer, _sep, round_ = value.strip().lower().partition(":")  # "no:2": not yet, about round 2's plan
    return replace(
        inputs,
        satisfied={"yes": True, "no": False}.get(answer),
        round=int(round_) if round_.isdigit() else inputs.round,
    )


def _card_after(outcome: Outcome, actor: Person, action: ActionId, directory: Directory) -> Message | None:
    """The clicker's card after the click: the copy the click queued for them, else their current
    card (a repeated click queues none); None when a submitted form (rating, recovery, follow-up,
    comment) or a stranger's click turns into a note."""
    for message in outcome.messages:  # a request card, or the manager's recovery card (updated in place too)
        if message.recipient_id == actor.id and (message.kind in _CARD_KINDS or message.card_key is not None):
            return message
    request = outcome.request
    if action in _FORM_ACTIONS:
        return None
    if actor.id in request.provider_history():
        return cards.provider_card(request, directory, provider_id=actor.id)
    if actor.id == request.requester_id:
        return cards.requester_card(request, directory)
    return None
