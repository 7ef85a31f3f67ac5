"""``/digest [now|2026-W47]``: a manager's weekly digest, shown only to them (ephemeral). The
chart comes with Monday's DM; the preview says so."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.dispatch import run_digest
from handlers.slack.deps import Replier, SlackDeps
from handlers.slack.payloads import SlashCommand
from handlers.slack.render import MAX_MESSAGE_BLOCKS, context, message_blocks

CHART_NOTE = "The 8-week chart comes with the digest DM on Monday. The figures above are the same."


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
