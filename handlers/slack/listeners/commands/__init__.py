"""Slash commands: ``/request``, ``/kudos`` and ``/digest``.

Each is stored in the inbox before Slack gets its ack and run from there (``run_item``), so a
process that dies after the ack loses none (see :meth:`handlers.slack.deps.SlackDeps.take`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.inbox import Handler
from bot.models import InboxItem
from handlers.slack.deps import Replier, SlackDeps, guarded
from handlers.slack.listeners._common import command_key
from handlers.slack.listeners.commands import digest, kudos, request
from handlers.slack.payloads import SlashCommand

REQUEST = "/request"
KUDOS = "/kudos"
DIGEST = "/digest"
KIND = "slack.command"
"""The inbox kind of every slash command."""

Runner = Callable[[SlackDeps, WebClient, SlashCommand, Replier], None]
RUNNERS: dict[str, Runner] = {REQUEST: request.run, KUDOS: kudos.run, DIGEST: digest.run}


def register(app: App, deps: SlackDeps) -> None:
    """Register the slash commands."""

    def slash_command(ack: Ack, body: dict[str, Any]) -> None:
        command = SlashCommand.model_validate(body)
        key = command_key(command.team_id, command.trigger_id)
        deps.take(ack, kind=KIND, key=key, body=body, doing=command.command)

    for name in RUNNERS:
        deps.subscriptions.commands.add(name)
        app.command(name)(slash_command)


def run_item(deps: SlackDeps, client: WebClient) -> Handler:
    """Run one stored slash command for its author; failures are told to them."""

    def run(item: InboxItem) -> None:
        command = SlashCommand.model_validate(item.payload)
        replier = deps.replier(client, command.team_id, command.user_id, command.response_url)
        runner = RUNNERS[command.command]
        guarded(replier, command.command, lambda: runner(deps, client, command, replier))()

    return run
