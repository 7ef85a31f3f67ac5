"""The parts of Slack's inbound payloads we use, as typed models, and the check that turns a
malformed request into a 400 before Bolt or the core sees it.

Slack adds fields freely, so every model ignores what it does not name.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from handlers import jsonlimits
from handlers.slack.render import ACTION_ID_PATTERN, ButtonValue
from handlers.slack.views import ACTION_FORM, FormTarget


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


def unescape(text: str) -> str:
    """Undo the three entities Slack escapes in typed text (``&amp;``, ``&lt;``, ``&gt;``); the
    ``<@U…>`` / ``<#C…>`` / ``<http…>`` tokens it adds are real angle brackets and stay."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SlashCommand(_Payload):
    """A slash command invocation (form-encoded); ``text`` as the person typed it."""

    command: str = Field(pattern=r"^/\S+$")
    text: Annotated[str, AfterValidator(unescape)] = ""
    team_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    channel_id: str | None = None
    trigger_id: str = Field(min_length=1)
    response_url: str | None = None


class PayloadUser(_Payload):
    """``user`` of an interactivity payload."""

    id: str = Field(min_length=1)
    team_id: str | None = None


class PayloadTeam(_Payload):
    """``team`` of an interactivity payload."""

    id: str = Field(min_length=1)


class BlockAction(_Payload):
    """One element of ``actions`` in a ``block_actions`` payload."""

    action_id: str = Field(min_length=1)
    block_id: str | None = None
    value: str | None = None
    action_ts: str = Field(min_length=1)


class BlockActions(_Payload):
    """A button click (``block_actions``)."""

    type: str
    user: PayloadUser
    team: PayloadTeam | None = None
    trigger_id: str = Field(min_length=1)
    response_url: str | None = None
    actions: list[BlockAction] = Field(min_length=1)

    @property
    def team_id(self) -> str:
        """The Slack team the click came from."""
        return self.team.id if self.team else (self.user.team_id or "")


class ViewState(_Payload):
    """``view.state``: block id -> action id -> element state."""

    values: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class SubmittedView(_Payload):
    """``view`` of a ``view_submission`` payload."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    callback_id: str = Field(min_length=1)
    private_metadata: str = ""
    state: ViewState = Field(default_factory=ViewState)
    team_id: str | None = None


class ViewSubmission(_Payload):
    """A modal's Submit (``view_submission``)."""

    type: str
    user: PayloadUser
    team: PayloadTeam | None = None
    view: SubmittedView

    @property
    def team_id(self) -> str:
        """The Slack team the submission came from."""
        return self.team.id if self.team else (self.user.team_id or self.view.team_id or "")


class ShortcutMessage(_Payload):
    """``message`` of a message shortcut."""

    text: str = ""
    user: str | None = None
    ts: str | None = None


class MessageShortcut(_Payload):
    """A message shortcut (``message_action``)."""

    type: str
    callback_id: str = Field(min_length=1)
    trigger_id: str = Field(min_length=1)
    user: PayloadUser
    team: PayloadTeam | None = None
    message: ShortcutMessage
    response_url: str | None = None

    @property
    def team_id(self) -> str:
        """The Slack team the shortcut came from."""
        return self.team.id if self.team else (self.user.team_id or "")


class AppHomeOpened(_Payload):
    """The ``event`` of an ``app_home_opened`` event callback."""

    type: str
    user: str = Field(min_length=1)
    tab: str = "home"


class EventCallback(_Payload):
    """An Events API envelope."""

    type: str
    team_id: str = Field(min_length=1)
    event: dict[str, Any]
    event_id: str | None = None


_INTERACTIVE: dict[str, type[_Payload]] = {
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "message_action": MessageShortcut,
}


class MalformedPayload(ValueError):
    """The request is signed correctly but is not a Slack payload we can read."""


def _first_values(form: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[0] for key, values in form.items() if values}


def check(body: str, content_type: str) -> None:
    """Raise :class:`MalformedPayload` unless ``body`` is a readable slash command, interactivity
    payload or Events API envelope; kinds we don't listen to pass through to Bolt."""
    if content_type.startswith("application/json"):
        try:
            data = jsonlimits.loads(body)
        except jsonlimits.UnreadableJson as error:
            raise MalformedPayload(f"body is {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise MalformedPayload("JSON body has no type")
        if "event" in data and not isinstance(data["event"], dict):  # Bolt reads body["event"] as a dict
            raise MalformedPayload("event is not an object")
        if data["type"] == "url_verification":
            if not isinstance(data.get("challenge"), str):
                raise MalformedPayload("url_verification without a challenge")
            return
        if data["type"] == "event_callback":
            _validate(EventCallback, data)
            if data["event"].get("type") == "app_home_opened":
                _validate(AppHomeOpened, data["event"])
            return
        if data["type"] == "app_rate_limited":
            return
        # Slack sends interactivity as a form (payload=...), never as a JSON body.
        raise MalformedPayload(f"a JSON body of type {data['type'][:40]!r} is not something Slack sends us")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise MalformedPayload(f"unsupported content type {content_type or 'none'}")
    form = _first_values(parse_qs(body, keep_blank_values=True))
    if "ssl_check" in form:
        return
    if "payload" in form:
        try:
            payload = jsonlimits.loads(form["payload"])
        except jsonlimits.UnreadableJson as error:
            raise MalformedPayload(f"payload is {error}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise MalformedPayload("payload has no type")
        model = _INTERACTIVE.get(payload["type"])
        if model is None:  # nothing listens to it, and Bolt trips over odd ones
            raise MalformedPayload(f"interactivity of type {payload['type'][:40]!r} is not handled here")
        _validate(model, payload)
        if not team_of(body, content_type):
            raise MalformedPayload(f"a {payload['type']} payload that names no Slack team")
        _check_ours(payload)
        return
    if "command" in form:
        _validate(SlashCommand, form)
        return
    raise MalformedPayload("neither a slash command nor an interactivity payload")


def team_of(body: str, content_type: str) -> str | None:
    """The Slack team a checked request comes from (None when it names none, e.g.
    ``url_verification``); for a ``view_submission`` the user's team, as for clicks."""
    if content_type.startswith("application/json"):
        data = json.loads(body)
        return str(data.get("team_id") or "") or None
    form = _first_values(parse_qs(body, keep_blank_values=True))
    if "payload" in form:
        payload = json.loads(form["payload"])
        team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
        user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
        view = payload.get("view") if isinstance(payload.get("view"), dict) else {}
        return str(team.get("id") or user.get("team_id") or view.get("team_id") or "") or None
    return form.get("team_id") or None


def is_handshake(body: str, content_type: str) -> bool:
    """True for Slack's own protocol messages, which name no team and touch no data
    (``url_verification``, ``app_rate_limited``, ``ssl_check``); everything else must name a team."""
    if content_type.startswith("application/json"):
        return json.loads(body).get("type") in ("url_verification", "app_rate_limited")
    return "ssl_check" in parse_qs(body, keep_blank_values=True)


def is_command(body: str, content_type: str) -> bool:
    """True for a slash command (its ack body is shown to the person who typed it)."""
    return content_type.startswith("application/x-www-form-urlencoded") and "command" in parse_qs(body)


def _check_ours(payload: dict[str, Any]) -> None:
    """Our own buttons and forms must carry values we can read back."""
    try:
        if payload["type"] == "block_actions":
            for action in payload["actions"]:
                if ACTION_ID_PATTERN.match(action["action_id"]):
                    ButtonValue.load(action.get("value"))
        elif payload["type"] == "view_submission" and payload["view"]["callback_id"] == ACTION_FORM:
            FormTarget.load(payload["view"].get("private_metadata") or "")
    except ValueError as error:
        raise MalformedPayload(str(error)) from None


def _validate(model: type[_Payload], data: dict[str, Any]) -> None:
    try:
        model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or model.__name__
        raise MalformedPayload(f"{model.__name__}: {where}: {first['msg']}") from None
