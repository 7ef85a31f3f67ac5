"""Who is speaking and whom they mention: Teams accounts to servechain people.

A Teams user is linked to a person by AAD object id, else by email (so someone first seen on
Slack keeps one history), else a person is created. Email comes from the Bot Connector's
member lookup when it answers (asked directly when the activity has no Teams ``channelData``);
the activity's own ``from`` (name, AAD id) is the fallback.
Mentions are rewritten to the parser's ``<@ID|Name>`` form and resolved before the core runs,
because the core's resolver is synchronous and runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import dataclass
from typing import Any

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ChannelAccount
from botbuilder.schema.teams import TeamsChannelAccount

from bot.commands import Mention
from bot.dispatch import MentionResolver
from bot.models import Person
from bot.people import link_person
from bot.ports import Store
from handlers.teams import references
from handlers.teams.adapter import call_outcome

log = logging.getLogger(__name__)

_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class TeamsUser:
    """What we know of one Teams account."""

    user_id: str
    name: str
    aad_object_id: str | None = None
    email: str | None = None

    @property
    def key(self) -> str:
        """The id stored as ``Person.teams_id``: the AAD object id, else the channel's user id."""
        return self.aad_object_id or self.user_id


@dataclass(frozen=True)
class MentionRef:
    """One ``<at>Name</at>`` entity of a message."""

    text: str
    user_id: str
    name: str


def _clean_label(name: str) -> str:
    return " ".join(name.replace("<", "").replace(">", "").replace("|", " ").split())


def mentions(activity: Activity) -> list[MentionRef]:
    """Every mention entity of the activity, in order (the bot's own included)."""
    found: list[MentionRef] = []
    for entity in activity.entities or []:
        if (entity.type or "").lower() != "mention":
            continue
        extra: dict[str, Any] = dict(getattr(entity, "additional_properties", None) or {})
        mentioned = getattr(entity, "mentioned", None) or extra.get("mentioned")
        text = getattr(entity, "text", None) or extra.get("text")
        if isinstance(mentioned, ChannelAccount):
            user_id, name = mentioned.id, mentioned.name
        elif isinstance(mentioned, dict):
            user_id, name = mentioned.get("id"), mentioned.get("name")
        else:
            continue
        if not user_id:
            continue
        name = name or ""
        found.append(MentionRef(text=text or f"<at>{name}</at>", user_id=str(user_id), name=str(name)))
    return found


def command_text(activity: Activity) -> str:
    """The message text with the bot's own mention removed and other mentions as ``<@ID|Name>``."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for mention in mentions(activity):
        replacement = "" if mention.user_id == bot_id else f"<@{mention.user_id}|{_clean_label(mention.name)}>"
        if mention.text in text:
            text = text.replace(mention.text, replacement, 1)
    text = html.unescape(text).replace("\xa0", " ")
    return _SPACES.sub(" ", text).strip()


async def _conversation_member(context: TurnContext, user_id: str) -> TeamsChannelAccount:
    """The member lookup asked directly (``GET /v3/conversations/{id}/members/{userId}``), for
    activities without ``channelData`` (Web Chat, Direct Line, the emulator): botbuilder's
    ``TeamsInfo.get_member`` reads Teams' ``channelData`` and raises before it asks."""
    client = context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
    if client is None:
        raise ValueError("no Bot Connector client in this turn")
    member = await client.conversations.get_conversation_member(context.activity.conversation.id, user_id)
    # Email, UPN and the like arrive as extra fields, or inside ``properties`` on some channels.
    properties = member.properties if isinstance(member.properties, dict) else {}
    return TeamsChannelAccount().deserialize(
        {**properties, **(member.additional_properties or {}), **member.serialize()}
    )


async def lookup_member(context: TurnContext, user_id: str) -> TeamsUser | None:
    """Ask the Bot Connector about a member of this conversation (None when it can't say)."""
    count = getattr(context.adapter, "count_call", None)
    try:
        if context.activity.channel_data is None:
            member = await _conversation_member(context, user_id)
        else:
            member = await TeamsInfo.get_member(context, user_id)
    except Exception as error:  # no connector (tests), not a member, or the service is down
        log.debug("member lookup for %s failed: %s", user_id, error)
        if count is not None:
            count(context, "get_member", call_outcome(error))
        return None
    if count is not None:
        count(context, "get_member", "ok")
    email = member.email or (member.user_principal_name if "@" in (member.user_principal_name or "") else None)
    return TeamsUser(
        user_id=member.id or user_id,
        name=member.name or "",
        aad_object_id=member.aad_object_id,
        email=email,
    )


def link_user(store: Store, workspace: str, user: TeamsUser, tz: str | None = None) -> Person:
    """The person behind a Teams account (linked by AAD id or email, else created)."""
    person = link_person(
        store, workspace, name=user.name or user.email or "Teams user", email=user.email, tz=tz, teams_id=user.key
    )
    references.remember_user(store, workspace, user.user_id, person.id)
    return person


def known_person(store: Store, workspace: str, user_id: str, aad_object_id: str | None = None) -> Person | None:
    """A person already linked to this Teams account, without asking the Bot Connector."""
    person_id = references.person_for_user(store, workspace, user_id)
    if person_id:
        person = store.get_person(workspace, person_id)
        if person is not None:
            return person
    for key in (aad_object_id, user_id):
        if key:
            person = store.find_person(workspace, teams_id=key)
            if person is not None:
                references.remember_user(store, workspace, user_id, person.id)
                return person
    return None


async def sender(context: TurnContext, store: Store, workspace: str) -> Person:
    """The person who sent this activity, linked or created on first contact."""
    account = context.activity.from_property
    user_id = account.id
    person = await asyncio.to_thread(known_person, store, workspace, user_id, account.aad_object_id)
    if person is not None:
        return person
    looked_up = await lookup_member(context, user_id)
    user = TeamsUser(
        user_id=user_id,
        name=(looked_up.name if looked_up else "") or account.name or "",
        aad_object_id=(looked_up.aad_object_id if looked_up else None) or account.aad_object_id,
        email=looked_up.email if looked_up else None,
    )
    return await asyncio.to_thread(link_user, store, workspace, user, context.activity.local_timezone)


async def mentioned_people(context: TurnContext, store: Store, workspace: str) -> dict[str, Person]:
    """Teams user id -> person, for everyone mentioned in the message except the bot."""
    activity = context.activity
    bot_id = activity.recipient.id if activity.recipient else None
    people: dict[str, Person] = {}
    for mention in mentions(activity):
        if mention.user_id == bot_id or mention.user_id in people:
            continue
        person = await asyncio.to_thread(known_person, store, workspace, mention.user_id)
        if person is None:
            looked_up = await lookup_member(context, mention.user_id)
            if looked_up is not None:
                person = await asyncio.to_thread(link_user, store, workspace, looked_up)
        if person is not None:
            people[mention.user_id] = person
    return people


def resolver(people: dict[str, Person]) -> MentionResolver:
    """A synchronous mention resolver for the core over people resolved beforehand."""

    def resolve(mention: Mention) -> Person | None:
        return people.get(mention.value)

    return resolve
