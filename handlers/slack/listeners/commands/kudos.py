"""``/kudos @a [@b] message``: ack at once, then thank them and answer ephemerally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.dispatch import run_kudos
from handlers.slack.deps import Replier, SlackDeps, guarded
from handlers.slack.listeners._common import command_key, touched
from handlers.slack.payloads import SlashCommand


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The ``/kudos`` listener."""

    def kudos_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        command = SlashCommand.model_validate(body)
        if not deps.recent.first_time(command_key(command.team_id, command.trigger_id)):
            ack()  # Slack redelivered a command we already have
            return
        replier = Replier(client, command.user_id, command.response_url)
        deps.work.submit(guarded(replier, "/kudos", lambda: run(deps, client, command, replier)), what="/kudos")
        ack()

    return kudos_command


def run(deps: SlackDeps, client: WebClient, command: SlashCommand, replier: Replier) -> None:
    """Run one ``/kudos`` for its author (after the ack)."""
    actor = deps.identity.require(client, command.team_id, command.user_id)
    reply = run_kudos(
        store=deps.store,
        actor=actor,
        text=command.text,
        now=deps.clock(),
        platform_resolver=deps.identity.resolver(client, command.team_id),
        channel=command.channel_id,
        allowance=deps.kudos_allowance,
        idempotency_key=command_key(command.team_id, command.trigger_id),
    )
    replier.say(reply.text)
    if reply.messages:
        deps.after_change(client, command.team_id, touched(actor, reply.messages))
