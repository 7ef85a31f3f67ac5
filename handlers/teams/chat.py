"""Typed commands, in a 1:1 chat or by @mentioning the bot: ``request ...``, ``kudos ...``, ``digest``.

The text (bot mention removed, other mentions rewritten to ``<@ID|Name>``) goes to the core's
``run_request`` / ``run_kudos`` as it is; the reply goes back as a normal turn reply, and the
messages the command queued for other people are left to the outbox worker.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from botbuilder.core import MessageFactory, TurnContext

from bot.commands import REQUEST_USAGE
from bot.dispatch import MentionResolver, Reply, run_kudos, run_request
from bot.models import Person
from handlers.teams import identity, references, render
from storage.contract import Store

if TYPE_CHECKING:
    from handlers.server import Runtime

HELP = (
    "Hi, I'm servechain. I help you ask coworkers for things and see them through.\n\n"
    "Write to me here, or @mention me in a channel:\n\n"
    "- request @name what you need by friday — ask someone for something\n"
    "- request list · request queue · request show R-7 — see requests\n"
    "- kudos @name what they did — thank someone\n"
    "- digest — your team's weekly digest (managers)\n"
    "- help — this message"
)
DIGEST_SOON = (
    "The manager digest is coming soon. Thanks for asking! Meanwhile, request queue shows what is waiting on you."
)
NO_FORM = "Teams has no request form yet; write the request in one line instead.\n\n"

_SLASH_COMMAND = re.compile(r"(?<![\w/])/(request|kudos)\b")
_GREETINGS = frozenset({"", "help", "hi", "hello", "hey", "start", "?"})


def teams_words(text: str) -> str:
    """Teams has no slash commands: ``/request`` in core texts reads ``request`` here."""
    return _SLASH_COMMAND.sub(r"\1", text)


def idempotency_key(context: TurnContext) -> str | None:
    """One key per delivered activity, so a Bot Framework retry changes nothing twice."""
    activity = context.activity
    if not activity.id:
        return None
    conversation = activity.conversation.id if activity.conversation else ""
    return f"teams:{conversation}:{activity.id}"


def route(
    runtime: Runtime,
    actor: Person,
    text: str,
    resolve: MentionResolver,
    *,
    channel: str | None,
    key: str | None,
) -> Reply:
    """Run one typed command against the core (blocking; call it in a thread)."""
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    now = runtime.clock()
    if first in _GREETINGS:
        return Reply(HELP)
    if first == "digest":
        return Reply(DIGEST_SOON)
    if first in ("kudos", "/kudos"):
        return run_kudos(
            store=runtime.store,
            actor=actor,
            text=text,
            now=now,
            platform_resolver=resolve,
            channel=channel,
            allowance=runtime.settings.kudos_daily_allowance,
            idempotency_key=key,
        )
    reply = run_request(
        store=runtime.store,
        actor=actor,
        text=text,
        now=now,
        platform_resolver=resolve,
        idempotency_key=key,
        hours=runtime.settings.working_hours,
    )
    if reply.open_form:
        return Reply(NO_FORM + REQUEST_USAGE, ok=False)
    return reply


async def send_reply(context: TurnContext, reply: Reply) -> None:
    """The reply as text, or as a card (with the text as its summary)."""
    if reply.card is not None:
        await context.send_activity(
            render.card_activity(render.render_card(reply.card), summary=teams_words(reply.text))
        )
    else:
        await context.send_activity(MessageFactory.text(teams_words(reply.text)))


async def on_text(context: TurnContext, runtime: Runtime) -> None:
    """Handle a typed command."""
    activity = context.activity
    store, workspace = runtime.store, runtime.settings.servechain_workspace
    actor = await identity.sender(context, store, workspace)
    await asyncio.to_thread(remember_contact, store, workspace, actor, context)
    text = identity.command_text(activity)
    people = await identity.mentioned_people(context, store, workspace)
    channel = None if references.is_personal(activity) else activity.conversation.id
    reply = await asyncio.to_thread(
        route, runtime, actor, text, identity.resolver(people), channel=channel, key=idempotency_key(context)
    )
    await send_reply(context, reply)
    if reply.messages:
        runtime.kick()


def remember_contact(store: Store, workspace: str, person: Person, context: TurnContext) -> None:
    """First contact (and every later one): keep the 1:1 chat and the service address current."""
    references.remember_service(store, workspace, context.activity)
    if references.is_personal(context.activity):
        references.save_personal(store, workspace, person.id, context.activity)
