"""``/request ...``: ack at once, then run the command and answer ephemerally (or open the form)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.dispatch import run_request
from handlers.slack.deps import Replier, SlackDeps
from handlers.slack.listeners._common import command_key, touched
from handlers.slack.payloads import SlashCommand
from handlers.slack.render import message_blocks
from handlers.slack.views import new_request_modal


def run(deps: SlackDeps, client: WebClient, command: SlashCommand, replier: Replier) -> None:
    """Run one ``/request`` for its author (after the ack)."""
    actor = deps.identity.require(client, command.team_id, command.user_id)
    reply = run_request(
        store=deps.store,
        actor=actor,
        text=command.text,
        now=deps.clock(),
        platform_resolver=deps.identity.resolver(client, command.team_id),
        idempotency_key=command_key(command.team_id, command.trigger_id),
        hours=deps.hours,
        person_figures=deps.person_figures,
    )
    if reply.open_form:
        client.views_open(trigger_id=command.trigger_id, view=new_request_modal())
        return
    replier.say(reply.text, message_blocks(reply.card) if reply.card else None, card=reply.card)
    if reply.messages:
        deps.after_change(client, command.team_id, touched(actor, reply.messages))
