"""Typed commands, in a 1:1 chat or by @mentioning the bot: ``request ...``, ``kudos ...``, ``digest``.

The text (bot mention removed, other mentions rewritten to ``<@ID|Name>``) goes to the core's
``run_request`` / ``run_kudos`` as it is; the reply goes back as a normal turn reply, and the
messages the command queued for other people are left to the outbox worker.

Teams has no ephemeral messages, so in a channel or group chat an answer that shows requests
(``show``, ``list``, ``queue``, ``chain``, ``stats``, the digest) goes to the asker's 1:1 chat
through the outbox, and the channel only hears where it went. A 1:1 answer that Teams refuses
is queued in the outbox too, so it arrives when Teams is back.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

from botbuilder.core import MessageFactory, TurnContext

from bot.commands import REQUEST_USAGE, CreateRequest, Help, OpenForm, Usage, parse_request
from bot.delivery import private_reply
from bot.dispatch import MentionResolver, Reply, run_digest, run_kudos, run_request
from bot.models import Person
from bot.ports import Store
from bot.requests import outbox_items
from bot.workhours import WorkingHours
from handlers.teams import identity, references, render

if TYPE_CHECKING:
    from handlers.runtime import Runtime

log = logging.getLogger(__name__)

HELP = (
    "Hi, I'm servechain. I help you ask coworkers for things and see them through.\n\n"
    "Write to me here, or @mention me in a channel:\n\n"
    "- request @name what you need by friday — ask someone for something\n"
    "- request list · request queue · request show R-7 — see requests\n"
    "- kudos @name what they did — thank someone\n"
    "- digest — your team's weekly digest (managers)\n"
    "- help — this message"
)
NO_FORM = "Teams has no request form yet; write the request in one line instead.\n\n"
IN_PRIVATE = "I've sent you the answer in our 1:1 chat, so nothing private is posted here."

_SAFE_IN_A_CHANNEL = (CreateRequest, Help, OpenForm, Usage)
"""Commands whose answers show no request: the asker's own new request, help, usage errors."""

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
        rest = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        settings = runtime.settings
        return run_digest(
            store=runtime.store,
            actor=actor,
            text=rest,
            now=now,
            hours=settings.working_hours,
            settings=settings.digest,
            pulse=settings.pulse,
        )
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
        person_figures=runtime.settings.person_figures,
    )
    if reply.open_form:
        return Reply(NO_FORM + REQUEST_USAGE, ok=False)
    return reply


async def send_reply(context: TurnContext, reply: Reply) -> None:
    """The reply as text, or as a card (with the text as its summary)."""
    if reply.card is not None:
        card = await asyncio.to_thread(  # a digest's chart takes a moment to draw
            render.render_card, reply.card, channel_id=context.activity.channel_id
        )
        await context.send_activity(render.card_activity(card, summary=teams_words(reply.text)))
    else:
        await context.send_activity(MessageFactory.text(teams_words(reply.text)))


def reveals_requests(text: str, reply: Reply, *, now: datetime, tz: str, hours: WorkingHours) -> bool:
    """True when the reply shows requests (a card, a list, a queue, a chain, stats): in a
    channel it goes to the asker's 1:1 chat instead, since Teams has no ephemeral messages."""
    if reply.card is not None:
        return True
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    if first in _GREETINGS or first in ("kudos", "/kudos"):
        return False
    if first == "digest":
        return True
    return not isinstance(parse_request(text, now=now, tz=tz, hours=hours), _SAFE_IN_A_CHANNEL)


def queue_reply(runtime: Runtime, actor: Person, reply: Reply) -> None:
    """Deliver the reply to the actor's 1:1 chat through the outbox (durable, retried)."""
    message = private_reply(actor, teams_words(reply.text), card=reply.card)
    runtime.store.enqueue(outbox_items([message], runtime.clock()))


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
    if channel is not None and reveals_requests(
        text, reply, now=runtime.clock(), tz=actor.tz, hours=runtime.settings.working_hours.for_person(actor)
    ):
        await asyncio.to_thread(queue_reply, runtime, actor, reply)
        runtime.kick()
        await _answer_or_queue(context, runtime, actor, Reply(IN_PRIVATE), private=False)
    elif channel is not None and reply.announcement is not None:
        # kudos: said out loud where given
        await context.send_activity(render.to_activity(reply.announcement, channel_id=activity.channel_id))
    else:
        await _answer_or_queue(context, runtime, actor, reply, private=channel is None)
    if reply.messages:
        runtime.kick()


async def tell(context: TurnContext, runtime: Runtime, actor: Person, text: str) -> None:
    """Tell the actor ``text`` in this conversation, or through the outbox when Teams refuses."""
    await _answer_or_queue(context, runtime, actor, Reply(text), private=True)


async def _answer_or_queue(
    context: TurnContext, runtime: Runtime, actor: Person, reply: Reply, *, private: bool
) -> None:
    """Answer in the conversation; when Teams can't take it, a 1:1 answer goes through the outbox."""
    try:
        await send_reply(context, reply)
    except Exception as error:  # the Bot Connector is down or refused: don't lose the answer
        log.warning("could not answer in the conversation (%s)", type(error).__name__)
        if private:
            await asyncio.to_thread(queue_reply, runtime, actor, reply)
            runtime.kick()


def remember_contact(store: Store, workspace: str, person: Person, context: TurnContext) -> None:
    """First contact (and every later one): keep the 1:1 chat and the service address current."""
    references.remember_service(store, workspace, context.activity)
    if references.is_personal(context.activity):
        references.save_personal(store, workspace, person.id, context.activity)
