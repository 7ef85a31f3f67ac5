"""``/kudos @a [@b] message``: ack at once, then thank them, post the kudos in the channel they
were given in (the kudos text only), and answer ephemerally. ``/kudos top`` is the leaderboard."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.dispatch import run_kudos
from bot.models import Message
from handlers.slack.deps import Replier, SlackDeps
from handlers.slack.errors import slack_error_code
from handlers.slack.listeners._common import command_key, touched
from handlers.slack.payloads import SlashCommand
from handlers.slack.render import fallback_text, message_blocks

log = logging.getLogger(__name__)


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
    text = reply.text
    if reply.announcement is not None and command.channel_id and not command.channel_id.startswith("D"):
        text += announce(client, command.channel_id, reply.announcement)  # DMs have nobody else to tell
    replier.say(text)
    if reply.messages:
        deps.after_change(client, command.team_id, touched(actor, reply.messages))


def announce(client: WebClient, channel: str, announcement: Message) -> str:
    """Post the kudos where they were given; what to add to the giver's reply if that failed."""
    try:
        client.chat_postMessage(
            channel=channel,
            text=fallback_text(announcement),
            blocks=message_blocks(announcement),
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as error:
        log.info("could not announce kudos in %s: %s", channel, slack_error_code(error))
        return (
            " I couldn't post them in this conversation (invite me with /invite @servechain to have kudos "
            "shown here); they got your kudos by DM."
        )
    return ""
