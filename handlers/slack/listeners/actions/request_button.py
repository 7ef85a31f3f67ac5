"""A request card's button: act at once, or open the form that collects the action's inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.access import can_view
from bot.clicks import Click
from bot.errors import NotFound
from bot.inbox import Handler
from bot.models import ActionId, InboxItem
from bot.nudges import NUDGE_ACTIONS
from bot.people import Directory
from bot.pulse import week_from_code
from handlers.slack.deps import Replier, SlackDeps, guarded
from handlers.slack.listeners._common import click_key, touched
from handlers.slack.listeners._common import run as run_click
from handlers.slack.notifier import PLATFORM
from handlers.slack.payloads import BlockAction, BlockActions
from handlers.slack.render import ButtonValue, action_of
from handlers.slack.views import FormTarget, action_modal, pulse_modal

KIND = "slack.click"
"""The inbox kind of a request card's button click."""


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of every request button: store the click, ack, run it from the inbox."""

    def request_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = BlockActions.model_validate(body)
        clicked = payload.actions[0]
        key = click_key(payload.team_id, payload.user.id, clicked.action_ts)
        replier = deps.replier(client, payload.team_id, payload.user.id, payload.response_url)
        deps.take(ack, kind=KIND, key=key, body=body, doing="that click", replier=replier)

    return request_button


def run_item(deps: SlackDeps, client: WebClient) -> Handler:
    """Run one stored click for its clicker; failures are told to them."""

    def run_stored(item: InboxItem) -> None:
        payload = BlockActions.model_validate(item.payload)
        clicked = payload.actions[0]
        replier = deps.replier(client, payload.team_id, payload.user.id, payload.response_url)
        guarded(replier, "that click", lambda: run(deps, client, payload, clicked, replier))()

    return run_stored


def run(deps: SlackDeps, client: WebClient, payload: BlockActions, clicked: BlockAction, replier: Replier) -> None:
    """Handle one click (after the ack): open the form the action needs first, or run it."""
    action = action_of(clicked.action_id)
    button = ButtonValue.load(clicked.value)
    if button.workspace != deps.workspace:
        raise NotFound(f"I can't find R-{button.request}.")
    actor = deps.identity.require(client, payload.team_id, payload.user.id)
    if action == ActionId.PULSE:  # the pulse's form: the week only, answered in views/pulse_form
        week = button.value or week_from_code(button.request)
        client.views_open(trigger_id=payload.trigger_id, view=pulse_modal(week, payload.response_url))
        return
    if button.inputs and action not in NUDGE_ACTIONS:
        request = deps.store.get_request(deps.workspace, button.request)
        directory = Directory(deps.store, deps.workspace)
        visible = request if request is not None and can_view(request, actor, directory) else None
        target = FormTarget(button.request, action, deps.workspace, button.value, payload.response_url)
        client.views_open(trigger_id=payload.trigger_id, view=action_modal(target, button.inputs, visible))
        return
    result = run_click(
        deps,
        Click(
            platform=PLATFORM,
            actor=actor,
            action=action,
            request=button.request,
            value=button.value,
            key=click_key(payload.team_id, payload.user.id, clicked.action_ts),
        ),
    )
    if result.repeated:
        return
    replier.say(result.reply)
    if result.request is not None:
        deps.after_change(client, payload.team_id, touched(actor, result.queued))
