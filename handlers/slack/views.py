"""Modals: the new-request form and the forms that collect an action's inputs, plus reading
their submitted state back.

A form's fields come from the neutral :class:`bot.models.Action` (its ``inputs``); the
labels, and which fields Slack marks as required, are presentation only: the core still
checks every rule and its errors are shown inline on the form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import MAX_TEXT, NEEDS, ActionId, Priority, Request
from bot.pulse import ANONYMITY_NOTE, MAX_COMMENT, QUESTIONS, SCALE, PulseSettings
from bot.workhours import zone
from handlers.slack.render import Block, clip, fit, plain, section

NEW_REQUEST = "new_request"
"""callback_id of the new-request modal (and action_id of the App Home button that opens it)."""
ACTION_FORM = "request_action"
"""callback_id of the modal that collects an action's inputs."""
VALUE = "value"
"""action_id of every input element; the block_id names the field."""
THANK_FORM = "thank_form"
"""callback_id of the "Thank <provider>" form of a finished request (metadata: a FormTarget)."""
PULSE_FORM = "pulse_form"
"""callback_id of the weekly pulse's form (its private metadata holds the week only)."""

DUE_HINT = "The day and the time it is due, in your time zone."
MAX_TITLE = 24
MAX_LABEL = 2000
MAX_OPTION_TEXT = 75
MAX_METADATA = 3000

_SCORES = ("1 – poor", "2 – not good", "3 – okay", "4 – good", "5 – great")
_PRIORITIES = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)

_VERB: dict[ActionId, str] = {
    ActionId.DONE: "Mark done",
    ActionId.DECLINE: "Decline",
    ActionId.HANDOFF: "Hand off",
    ActionId.REASSIGN: "Reassign",
    ActionId.CANCEL: "Cancel",
    ActionId.REOPEN: "Reopen",
    ActionId.RATE: "Rate",
    ActionId.RECOVER: "Reply",
    ActionId.FOLLOW_UP: "Reply",
    ActionId.COMMENT: "Comment",
    ActionId.THANK: "Send thanks",
    ActionId.SET_DUE: "Set due date",
    ActionId.PROPOSE_DUE: "Propose date",
    ActionId.DECLINE_DUE: "Decline date",
    ActionId.EXTEND_DUE: "Propose date",
    ActionId.PROGRESS: "Post progress",
    ActionId.ASK_AGAIN: "Ask again",
    ActionId.CLOSE_RECOVERY: "Close recovery",
}

# (label, required) of the free-text "note" field per action
_NOTE: dict[ActionId, tuple[str, bool]] = {
    ActionId.DONE: ("Anything they should know? (optional)", False),
    ActionId.DECLINE: ("Why are you declining?", True),
    ActionId.HANDOFF: ("Context for the new provider, so nobody has to ask again", True),
    ActionId.REASSIGN: ("Note for the new provider", False),
    ActionId.CANCEL: ("Why cancel it?", False),
    ActionId.REOPEN: ("Why reopen it?", False),
    ActionId.RECOVER: ("Here's what we'll do", True),
    ActionId.FOLLOW_UP: ("What is still missing?", False),
    ActionId.COMMENT: ("Comment", True),
    ActionId.PROPOSE_DUE: ("Why this date? (needed to move an agreed date)", False),
    ActionId.DECLINE_DUE: ("Why not? (optional)", False),
    ActionId.EXTEND_DUE: ("Why the new date? The requester sees this and decides", True),
    ActionId.PROGRESS: ("How is it going?", True),
    ActionId.ASK_AGAIN: ("What changed, or why does it matter? They will see this", True),
    ActionId.CLOSE_RECOVERY: ("Why is it settled? Both of them will see this", True),
}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool, hint: str | None = None) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_LABEL),
        "element": {**element, "action_id": VALUE},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, MAX_LABEL)
    return block


def _text_element(*, multiline: bool, initial: str | None = None, placeholder: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline, "max_length": MAX_TEXT}
    if initial:
        element["initial_value"] = initial[:MAX_TEXT]
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return element


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value}


def _modal(callback_id: str, title: str, submit: str, blocks: list[Block], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, MAX_TITLE),
        "submit": plain(submit, MAX_TITLE),
        "close": plain("Cancel", MAX_TITLE),
        "private_metadata": json.dumps(metadata, separators=(",", ":"))[:MAX_METADATA],
        "blocks": blocks,
    }


# --------------------------------------------------------------------------- new request


def new_request_modal(*, text: str | None = None, provider_user_id: str | None = None) -> dict[str, Any]:
    """The form a bare ``/request``, the App Home button and the message shortcut open."""
    provider: dict[str, Any] = {"type": "users_select", "placeholder": plain("Pick a person", 150)}
    if provider_user_id:
        provider["initial_user"] = provider_user_id
    priority = {
        "type": "static_select",
        "options": [_option(p.value.capitalize(), p.value) for p in _PRIORITIES],
        "initial_option": _option(Priority.NORMAL.value.capitalize(), Priority.NORMAL.value),
    }
    blocks = [
        _input("provider", "Who should do it?", provider, optional=False),
        _input("text", "What do you need?", _text_element(multiline=True, initial=text), optional=False),
        _input("due", "Due", {"type": "datetimepicker"}, optional=True, hint=DUE_HINT),
        _input("priority", "Priority", priority, optional=True),
        _input(
            "parent",
            "Part of another request?",
            _text_element(multiline=False, placeholder="e.g. R-12"),
            optional=True,
        ),
    ]
    return _modal(NEW_REQUEST, "New request", "Send request", blocks, {})


# --------------------------------------------------------------------------- action forms


@dataclass(frozen=True)
class FormTarget:
    """Which request and action a submitted action form is for (its private metadata)."""

    request: int
    action: ActionId
    workspace: str = "default"
    value: str | None = None
    response_url: str | None = None

    def dump(self) -> dict[str, Any]:
        """Metadata to keep in the modal."""
        data: dict[str, Any] = {"n": self.request, "a": self.action.value, "w": self.workspace}
        if self.value is not None:
            data["v"] = self.value
        if self.response_url:
            data["r"] = self.response_url
        return data

    @classmethod
    def load(cls, raw: str) -> FormTarget:
        """Parse a submitted form's private metadata; ValueError when it isn't ours."""
        try:
            data = json.loads(raw)
            return cls(
                request=int(data["n"]),
                action=ActionId(data["a"]),
                workspace=str(data.get("w", "default")),
                value=data.get("v"),
                response_url=data.get("r"),
            )
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError("not a servechain form") from error


def field_block(action: ActionId, name: str) -> Block | None:
    """The input block collecting one named field for ``action`` (None for unknown names)."""
    if name == "message":
        thanks = _text_element(multiline=True, placeholder="e.g. the numbers were spot on #quality")
        return _input("message", "What are you thanking them for?", thanks, optional=False)
    if name == "note":
        label, required = _NOTE.get(action, ("Note", False))
        return _input("note", label, _text_element(multiline=True), optional=not required)
    element: dict[str, Any]
    if name == "alternative_to":
        element = {"type": "users_select", "placeholder": plain("Pick a person", 150)}
        return _input("alternative_to", "Who could do it instead?", element, optional=True)
    if name == "alternative_request":
        element = _text_element(multiline=False, placeholder="e.g. R-12")
        return _input("alternative_request", "Or another request that covers it", element, optional=True)
    if name == "alternative":
        return _input(
            "alternative",
            "Or another option",
            _text_element(multiline=True, placeholder="A later date, a self-service link..."),
            optional=True,
        )
    if name == "no_alternative":
        return _input(
            "no_alternative",
            "No alternative? Say why",
            _text_element(multiline=True, placeholder="e.g. we stopped offering this"),
            optional=True,
        )
    if name == "due":
        return _input("due", "Due", {"type": "datetimepicker"}, optional=False, hint=DUE_HINT)
    if name == "to":
        element = {"type": "users_select", "placeholder": plain("Pick a person", 150)}
        return _input("to", "Who should take it over?", element, optional=False)
    if name == "score":
        element = {"type": "radio_buttons", "options": [_option(text, str(i + 1)) for i, text in enumerate(_SCORES)]}
        return _input("score", "How did it go overall?", element, optional=False)
    if name in NEEDS:
        element = {
            "type": "static_select",
            "placeholder": plain("Score 1-5", 150),
            "options": [_option(text, str(i + 1)) for i, text in enumerate(_SCORES)],
        }
        return _input(name, name.capitalize(), element, optional=True)
    if name == "comment":
        return _input("comment", "Comment (optional)", _text_element(multiline=True), optional=True)
    return None


def action_modal(target: FormTarget, inputs: list[str], request: Request | None) -> dict[str, Any]:
    """The form for one action on one request: a reminder of the request, then its inputs."""
    verb = _VERB.get(target.action, target.action.value.replace("_", " ").capitalize())
    ref = f"R-{target.request}"
    blocks: list[Block] = []
    if request is not None:
        blocks.append(section(f"*{ref}*: {fit(clip(request.text, 500), 1000)}"))
    if target.action == ActionId.RATE:
        blocks.append(section("Scoring the six needs is optional; they help the team see what to improve."))
    if target.action == ActionId.EXTEND_DUE:
        blocks.append(
            section("The requester is asked to accept the new date; it changes only if they do. The provider is told.")
        )
    if target.action == ActionId.DECLINE:
        blocks.append(
            section("Offer an alternative (a person, another request or another option), or say why there is none.")
        )
    blocks += [b for name in inputs if (b := field_block(target.action, name)) is not None]
    callback = THANK_FORM if target.action == ActionId.THANK else ACTION_FORM  # thanks are kudos, not a request action
    return _modal(callback, f"{verb} {ref}", verb, blocks, target.dump())


def pulse_modal(week: str, response_url: str | None, settings: PulseSettings | None = None) -> dict[str, Any]:
    """The weekly pulse: two 1-5 questions and an optional comment. The metadata names the
    week (and where to answer), never the person: Slack tells us who submits."""
    settings = settings or PulseSettings()
    scores = [_option(text, str(i + 1)) for i, text in enumerate(_SCORES)]
    note = ANONYMITY_NOTE.format(min_answers=settings.min_answers, min_team_size=settings.min_team_size)
    comment = {"type": "plain_text_input", "multiline": True, "max_length": MAX_COMMENT}
    blocks = [
        section(fit(f"*{week}* ({SCALE}). {note}", 2900)),
        *(
            _input(field, question, {"type": "radio_buttons", "options": scores}, optional=False)
            for field, question in QUESTIONS.items()
        ),
        _input("comment", "Anything to add? (optional)", comment, optional=True),
    ]
    metadata: dict[str, Any] = {"w": week}
    if response_url:
        metadata["r"] = response_url
    return _modal(PULSE_FORM, "Weekly pulse", "Send answers", blocks, metadata)


# --------------------------------------------------------------------------- reading forms


class FormValues:
    """Typed access to a submitted view's ``state.values`` (block id -> element state)."""

    def __init__(self, values: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._values = values

    def _state(self, block_id: str) -> dict[str, Any]:
        return self._values.get(block_id, {}).get(VALUE) or {}

    def has(self, block_id: str) -> bool:
        """True when the form had this field."""
        return block_id in self._values

    def text(self, block_id: str) -> str | None:
        """A text input's value, stripped; None when empty."""
        value = self._state(block_id).get("value")
        return (value.strip() or None) if isinstance(value, str) else None

    def user(self, block_id: str) -> str | None:
        """A users_select's Slack user id."""
        value = self._state(block_id).get("selected_user")
        return value if isinstance(value, str) and value else None

    def option(self, block_id: str) -> str | None:
        """A select's or radio group's chosen value."""
        option = self._state(block_id).get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) and value else None

    def date(self, block_id: str) -> str | None:
        """A datepicker's ``YYYY-MM-DD``."""
        value = self._state(block_id).get("selected_date")
        return value if isinstance(value, str) and value else None

    def due(self, block_id: str, tz: str) -> str | None:
        """A due date and time as the core reads it, in the person's zone ``tz``: a
        datetimepicker's moment (a Unix time) as ``YYYY-MM-DD HH:MM`` there, or a datepicker's
        ``YYYY-MM-DD`` (forms opened before the time picker came keep working)."""
        moment = self._state(block_id).get("selected_date_time")
        if isinstance(moment, int | float) and not isinstance(moment, bool) and 0 < moment < 2**40:
            return datetime.fromtimestamp(moment, tz=zone(tz)).strftime("%Y-%m-%d %H:%M")
        return self.date(block_id)
