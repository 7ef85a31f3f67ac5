"""``/digest [now|2026-W47]``: a manager's weekly digest, shown only to them (ephemeral). The
chart comes with Monday's DM; the preview says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.dispatch import run_digest
from handlers.slack.deps import Replier, SlackDeps, guarded
from handlers.slack.listeners._common import command_key
from handlers.slack.payloads import SlashCommand
from handlers.slack.render import MAX_MESSAGE_BLOCKS, context, message_blocks

CHART_NOTE = "The 8-week chart comes with the digest DM on Monday. The figures above are the same."


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The ``/digest`` listener."""

    def digest_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        command = SlashCommand.model_validate(body)
        if not deps.recent.first_time(command_key(command.team_id, command.trigger_id)):
            ack()  # Slack redelivered a command we already have
            return
        replier = deps.replier(client, command.team_id, command.user_id, command.response_url)
        deps.work.submit(guarded(replier, "/digest", lambda: run(deps, client, command, replier)), what="/digest")
        ack()

    return digest_command


def run(deps: SlackDeps, client: WebClient, command: SlashCommand, replier: Replier) -> None:
    """Build the digest for its manager (after the ack: it reads the whole org once)."""
    actor = deps.identity.require(client, command.team_id, command.user_id)
    reply = run_digest(
        store=deps.store,
        actor=actor,
        text=command.text,
        now=deps.clock(),
        hours=deps.hours,
        settings=deps.digest,
        pulse=deps.pulse,
    )
    if reply.card is None:
        replier.say(reply.text)
        return
    blocks = [*message_blocks(reply.card)[: MAX_MESSAGE_BLOCKS - 1], context(CHART_NOTE)]
    replier.say(reply.text, blocks, card=reply.card)
