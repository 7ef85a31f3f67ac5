"""Neutral messages to Adaptive Cards (version 1.5, which Teams renders) and Bot Framework activities.

Buttons depend on the channel the card goes to. In Teams (``msteams``) they are
``Action.Execute`` (Teams answers with an ``adaptiveCard/action`` invoke, so the clicked card
can be replaced at once), each with an ``Action.Submit`` twin as its ``fallback`` for older
Teams clients. Every other channel (Microsoft Web Chat, Direct Line, the emulator) cannot send
``Action.Execute`` at all, so there they are plain ``Action.Submit``, sent back as a message with
``value``. Actions that need fields first (Decline, Hand off, Rate...) are ``Action.ShowCard``
with the inputs inside. Every submit carries
``{"action": ActionId, "request": n}`` (plus ``"value"`` when the action has one); inputs are
named ``<action>.<field>`` so two forms on one card never share an id, and
``<action>.<field>.<n>`` on a card with buttons for several requests (``/request team``).
A part of a message with buttons of its own (``Section.actions``) gets them in an
``ActionSet`` right under it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity

from bot.charts import data_uri, draw
from bot.models import NEEDS, Action, ActionId, Chart, Message, Section
from bot.pulse import QUESTIONS, SCALE

log = logging.getLogger(__name__)

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEAMS_CHANNEL = "msteams"
"""The only channel whose clients send ``Action.Execute`` (Universal Actions)."""
TEXT_LIMIT = 3000

Card = dict[str, Any]

_PLAIN_KINDS = frozenset({"update", "nudge", "text"})
_STYLES = {"primary": "positive", "danger": "destructive"}

# (label, required, placeholder) for the free-text fields, by action where it differs.
_NOTE_FIELDS: dict[ActionId, tuple[str, bool, str]] = {
    ActionId.DONE: ("Note for the requester (optional)", False, "What you did, where to find it"),
    ActionId.DECLINE: ("Why are you declining?", True, "The reason the requester will see"),
    ActionId.HANDOFF: ("Context for the new provider", True, "What they need to know"),
    ActionId.REOPEN: ("Why reopen it? (optional)", False, "What is still missing"),
    ActionId.RECOVER: ("What will you do about it?", True, "Your plan, in a sentence or two"),
    ActionId.FOLLOW_UP: ("What is still wrong? (optional)", False, ""),
    ActionId.COMMENT: ("Comment", True, ""),
    ActionId.PROPOSE_DUE: ("Why this date? (needed to move an agreed date)", False, "e.g. waiting on the audit"),
    ActionId.DECLINE_DUE: ("Why not? (optional)", False, ""),
    ActionId.EXTEND_DUE: ("Why the new date? (the requester sees it and decides)", True, "e.g. waiting on the audit"),
    ActionId.PROGRESS: ("How is it going?", True, "Where it stands and what's next"),
    ActionId.ASK_AGAIN: ("What changed, or why does it matter?", True, "They will see this"),
    ActionId.CLOSE_RECOVERY: ("Why is it settled?", True, "Both of them will see this"),
}
_SUBMIT_LABELS: dict[ActionId, str] = {
    ActionId.DONE: "Mark done",
    ActionId.DECLINE: "Decline request",
    ActionId.HANDOFF: "Hand off",
    ActionId.RATE: "Send rating",
    ActionId.RECOVER: "Send",
    ActionId.FOLLOW_UP: "Send",
    ActionId.REOPEN: "Reopen",
    ActionId.THANK: "Send thanks",
    ActionId.SET_DUE: "Set due date",
    ActionId.PROPOSE_DUE: "Propose date",
    ActionId.DECLINE_DUE: "Decline date",
    ActionId.EXTEND_DUE: "Propose to the requester",
    ActionId.PROGRESS: "Post progress",
    ActionId.PULSE: "Send answers",
    ActionId.ASK_AGAIN: "Ask again",
    ActionId.CLOSE_RECOVERY: "Close recovery",
}
_SCORES = [{"title": f"{n}", "value": f"{n}"} for n in range(1, 6)]


DUE_TIME = "due_time"
"""The time input beside a due date's ``Input.Date`` (Adaptive Cards have no date-time input)."""


def input_id(action: ActionId, field: str, request: int | None = None) -> str:
    """The card input id of ``field`` in the form of ``action``, e.g. ``decline.note``; with
    ``request`` (a card with forms for several requests) ``extend_due.note.7``."""
    return f"{action.value}.{field}" + (f".{request}" if request is not None else "")


def submit_data(action: Action) -> dict[str, Any]:
    """The data a click sends back: which action on which request (and its value, if any)."""
    data: dict[str, Any] = {"action": action.id.value, "request": action.request}
    if action.value is not None:
        data["value"] = action.value
    return data


_PLATFORM_TOKEN = re.compile(r"<([@#])([^\s|<>]+)(?:\|([^<>]*))?>")
"""A Slack-style token in stored text: ``<@U123|carol>``, ``<#C123|general>``, ``<@29:…|Carol Chen>``."""
_LINK = re.compile(r"<(https?://[^\s|<>]+)(?:\|([^<>]*))?>")


def readable(text: str) -> str:
    """Stored text as a person reads it in Teams: mentions as ``@Name``, channels as ``#name``,
    Slack-style links as their label and address."""

    def token(match: re.Match[str]) -> str:
        sigil, ident, label = match.groups()
        return f"{sigil}{(label or ident).strip()}"

    def link(match: re.Match[str]) -> str:
        url, label = match.groups()
        return f"{label} ({url})" if label and label != url else url

    return _PLATFORM_TOKEN.sub(token, _LINK.sub(link, text))


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": readable(text), "wrap": True, **style}


def _field(action: ActionId, field: str, request: int | None = None) -> list[dict[str, Any]]:
    """The input element(s) collecting ``field`` for ``action`` (ids per request when ``request``)."""
    ident = input_id(action, field, request)
    if action == ActionId.PULSE and field in QUESTIONS:
        return [
            {
                "type": "Input.ChoiceSet",
                "id": ident,
                "label": f"{QUESTIONS[field]} ({SCALE})",
                "style": "expanded",
                "choices": _SCORES,
                "isRequired": True,
                "errorMessage": "Please pick 1 to 5.",
            }
        ]
    if action == ActionId.PULSE and field == "comment":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Anything to add? (optional; shown to your manager word for word, without your name)",
                "isMultiline": True,
                "maxLength": 1000,
            }
        ]
    if action == ActionId.THANK and field == "message":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "What are you thanking them for?",
                "placeholder": "e.g. the numbers were spot on #quality",
                "isMultiline": True,
                "maxLength": 1000,
                "isRequired": True,
                "errorMessage": "Say what they did.",
            }
        ]
    if field == "note":
        label, required, placeholder = _NOTE_FIELDS.get(action, ("Note (optional)", False, ""))
        element: dict[str, Any] = {
            "type": "Input.Text",
            "id": ident,
            "label": label,
            "isMultiline": True,
            "maxLength": TEXT_LIMIT,
            "isRequired": required,
        }
        if placeholder:
            element["placeholder"] = placeholder
        if required:
            element["errorMessage"] = "Please fill this in."
        return [element]
    if field == "alternative_to":
        return [
            _text(
                "Offer an alternative (a person, another request or another option), or say why there is none.",
                size="small",
            ),
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Who could do it instead?",
                "placeholder": "Their handle or email, e.g. carol",
                "maxLength": 200,
            },
        ]
    if field == "alternative_request":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Or another request that covers it",
                "placeholder": "e.g. R-12",
                "maxLength": 40,
            }
        ]
    if field == "alternative":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Or another option",
                "placeholder": "A later date, a self-service link...",
                "maxLength": TEXT_LIMIT,
            }
        ]
    if field == "no_alternative":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "No alternative? Say why",
                "placeholder": "e.g. we stopped offering this",
                "maxLength": TEXT_LIMIT,
            }
        ]
    if field == "due":
        return [
            {
                "type": "Input.Date",
                "id": ident,
                "label": "Due date (your time zone)",
                "isRequired": True,
                "errorMessage": "Pick a date.",
            },
            {
                "type": "Input.Time",
                "id": input_id(action, DUE_TIME, request),
                "label": "Time (optional; the end of that working day if empty)",
            },
        ]
    if field == "to":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Hand off to",
                "placeholder": "Their handle or email, e.g. carol",
                "isRequired": True,
                "errorMessage": "Say who should take it over.",
            }
        ]
    if field == "score":
        return [
            {
                "type": "Input.ChoiceSet",
                "id": ident,
                "label": "Overall, from 1 (poor) to 5 (great)",
                "style": "expanded",
                "choices": _SCORES,
                "isRequired": True,
                "errorMessage": "Please pick a rating from 1 to 5.",
            }
        ]
    if field in NEEDS:
        return [
            {
                "type": "Input.ChoiceSet",
                "id": ident,
                "label": f"{field.capitalize()} (optional)",
                "style": "compact",
                "placeholder": "Not scored",
                "choices": _SCORES,
            }
        ]
    if field == "comment":
        return [
            {
                "type": "Input.Text",
                "id": ident,
                "label": "Comment (optional)",
                "isMultiline": True,
                "maxLength": TEXT_LIMIT,
            }
        ]
    return [{"type": "Input.Text", "id": ident, "label": field.capitalize(), "maxLength": TEXT_LIMIT}]


def universal_actions(channel_id: str | None) -> bool:
    """True when the channel's clients can send ``Action.Execute`` (Teams only)."""
    return channel_id == TEAMS_CHANNEL


def _button(action: Action, title: str, channel_id: str | None) -> dict[str, Any]:
    """The button that sends ``action``: ``Action.Execute`` with an ``Action.Submit`` fallback in
    Teams, the plain ``Action.Submit`` elsewhere; card_actions handles both."""
    submit: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": submit_data(action)}
    style = _STYLES.get(action.style)
    if style:
        submit["style"] = style
    if not universal_actions(channel_id):
        return submit
    return {**submit, "type": "Action.Execute", "verb": action.id.value, "fallback": submit}


def render_action(
    action: Action, *, channel_id: str | None = TEAMS_CHANNEL, per_request: bool = False
) -> dict[str, Any]:
    """One button that sends the action (see ``_button``), or an ``Action.ShowCard`` form when
    fields are needed (input ids naming the request too when ``per_request``)."""
    if not action.inputs:
        return _button(action, action.label, channel_id)
    body: list[dict[str, Any]] = []
    for field in action.inputs:
        body.extend(_field(action.id, field, action.request if per_request else None))
    show: dict[str, Any] = {
        "type": "Action.ShowCard",
        "title": action.label,
        "card": {
            "type": "AdaptiveCard",
            "body": body,
            "actions": [_button(action, _SUBMIT_LABELS.get(action.id, action.label), channel_id)],
        },
    }
    style = _STYLES.get(action.style)
    if style:
        show["style"] = style
    return show


def render_card(message: Message, *, channel_id: str | None = TEAMS_CHANNEL) -> Card:
    """The Adaptive Card for a neutral message: title, text, facts, a collapsible history, buttons
    (of the kind the clients of ``channel_id`` can send)."""
    body: list[dict[str, Any]] = [_text(message.title, size="Medium", weight="Bolder")]
    if message.text:
        body.append(_text(message.text))
    if message.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": f.label, "value": readable(f.value)} for f in message.facts]}
        )
    if message.history:
        body.append(
            {
                "type": "ActionSet",
                "actions": [{"type": "Action.ToggleVisibility", "title": "History", "targetElements": ["history"]}],
            }
        )
        body.append(
            {
                "type": "Container",
                "id": "history",
                "isVisible": False,
                "items": [_text(line, size="Small", isSubtle=True, spacing="None") for line in message.history],
            }
        )
    card: Card = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": plain_text(message),
        "body": body,
    }
    per_request = len(_requests_with_forms(message)) > 1
    body += [item for section in message.sections for item in _section(section, channel_id, per_request)]
    if message.chart is not None:
        body += _chart(message.chart)
    if message.kind == "pulse" and message.actions:
        # the pulse's form sits in the card itself: two questions, a comment, one button
        action = message.actions[0]
        body += [element for field in action.inputs for element in _field(action.id, field)]
        card["actions"] = [_button(action, _SUBMIT_LABELS[ActionId.PULSE], channel_id)]
    elif message.actions:
        card["actions"] = [render_action(a, channel_id=channel_id, per_request=per_request) for a in message.actions]
    return card


def _requests_with_forms(message: Message) -> set[int]:
    """The requests whose forms sit on this card (more than one: input ids name the request)."""
    actions = [*message.actions, *(a for section in message.sections for a in section.actions)]
    return {a.request for a in actions if a.inputs}


def _section(section: Section, channel_id: str | None = TEAMS_CHANNEL, per_request: bool = False) -> list[Card]:
    """A titled block of lines (the digest's parts); an untitled one is just its lines. Its own
    buttons follow in an ``ActionSet``."""
    items = [_text(section.title, weight="Bolder", spacing="Medium", separator=True)] if section.title else []
    items += [_text(line, spacing="Small") for line in section.lines]
    if section.actions:
        actions = [render_action(a, channel_id=channel_id, per_request=per_request) for a in section.actions]
        items.append({"type": "ActionSet", "actions": actions})
    return items


def _chart(chart: Chart) -> list[dict[str, Any]]:
    """The chart inline as a data URI; nothing (the text says it all) if it can't be drawn."""
    try:
        url = data_uri(draw(chart))
    except Exception:  # a chart is a bonus: never lose the message over it
        log.exception("could not draw the chart %r", chart.title)
        return []
    return [{"type": "Image", "url": url, "altText": chart.alt_text, "size": "Stretch", "spacing": "Medium"}]


def notice_card(title: str, text: str) -> Card:
    """A card without buttons, e.g. what a submitted rating form turns into."""
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": f"{title}: {text}",
        "body": [_text(title, weight="Bolder"), _text(text)],
    }


def plain_text(message: Message) -> str:
    """The message as one line of text (for plain messages, notifications and card fallbacks)."""
    if message.text:
        return readable(f"{message.title}: {message.text}")
    return readable(message.title)


def is_card(message: Message) -> bool:
    """True when the message needs a card (it has buttons, facts or history, or is not a plain note)."""
    return bool(message.actions or message.facts or message.history or message.sections) or (
        message.kind not in _PLAIN_KINDS
    )


def card_activity(card: Card, summary: str | None = None) -> Activity:
    """A message activity carrying one Adaptive Card (``summary`` shows in notifications)."""
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    if summary:
        activity.summary = summary
    return activity


def to_activity(message: Message, *, channel_id: str | None = TEAMS_CHANNEL) -> Activity:
    """The Bot Framework activity that delivers ``message`` in ``channel_id``."""
    if is_card(message):
        return card_activity(render_card(message, channel_id=channel_id), summary=message.title)
    return MessageFactory.text(plain_text(message))
