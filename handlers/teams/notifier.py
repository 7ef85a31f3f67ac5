"""Proactive Teams messages for the outbox worker (the ``Notifier`` port of ``bot.delivery``).

The worker is a plain thread, so each send runs its coroutine on a fresh event loop in that
thread (the Bot Connector client does its HTTP in an executor and is not tied to a loop).
Messages go to the person's stored 1:1 chat; someone the bot has never talked to gets a 1:1
chat opened for them (``POST /v3/conversations``) when their AAD id and the tenant are known.
Card updates use the stored card reference (conversation and activity id) and
``update_activity``. A 403 or 404 is permanent (bot removed, chat gone); 429, 5xx and network
faults are retried, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from msrest.exceptions import HttpOperationError

from bot.delivery import DeliveryError
from bot.models import Message, Person
from bot.ports import Store
from handlers.teams import references, render

log = logging.getLogger(__name__)

T = TypeVar("T")

SEND_TIMEOUT = 30.0
TEAMS_CHANNEL = render.TEAMS_CHANNEL


@dataclass(frozen=True)
class CardTarget:
    """Where a card was posted: what ``CardRef.ref`` holds for Teams (as JSON). ``channel_id`` is
    None in references stored before it was recorded."""

    service_url: str
    conversation_id: str
    activity_id: str
    channel_id: str | None = None

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def load(cls, ref: str) -> CardTarget | None:
        try:
            return cls(**json.loads(ref))
        except (TypeError, ValueError):
            log.warning("ignoring an unreadable Teams card reference %r", ref)
            return None


class _Gone(Exception):
    """The card to update no longer exists (404): post a new one instead."""


def _status(error: BaseException) -> tuple[int | None, Any]:
    if isinstance(error, HttpOperationError):
        response = getattr(error, "response", None)
        return getattr(response, "status_code", None), getattr(response, "headers", None) or {}
    return None, {}


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if present."""
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def delivery_error(error: BaseException) -> DeliveryError:
    """A Bot Connector failure as the outbox understands it (permanent or retried)."""
    if isinstance(error, DeliveryError):
        return error
    status, headers = _status(error)
    if status is None:
        if isinstance(error, TimeoutError):
            return DeliveryError("Teams did not answer in time")
        return DeliveryError(f"could not reach Teams ({type(error).__name__})")
    if status in (403, 404):
        return DeliveryError(
            f"Teams refused ({status}): the bot was removed from this chat or the chat is gone", permanent=True
        )
    if status == 429:
        return DeliveryError("Teams is throttling the bot (429)", retry_after=retry_after(headers))
    if status == 412:  # Microsoft lists 412 with 429/502/504 as the codes to retry with backoff
        return DeliveryError("Teams asked to try again (412)", retry_after=retry_after(headers))
    if status == 401 or status >= 500:
        return DeliveryError(f"Teams answered {status}", retry_after=retry_after(headers))
    return DeliveryError(f"Teams rejected the message ({status})", permanent=True)


def run_sync(work: Coroutine[Any, Any, T], timeout: float = SEND_TIMEOUT) -> T:
    """Run a coroutine to completion from synchronous code, on a fresh loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(asyncio.wait_for(work, timeout))
    # asyncio.run can't nest: from inside a loop (tests only), run it in a helper thread; this blocks the caller.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(work, timeout)).result()


class TeamsNotifier:
    """Delivers outbox messages to people in Teams."""

    platform = "teams"

    def __init__(self, *, adapter: CloudAdapter, store: Store, app_id: str = "", timeout: float = SEND_TIMEOUT) -> None:
        self.adapter = adapter
        self.store = store
        self.app_id = app_id
        self.timeout = timeout

    def can_reach(self, person: Person) -> bool:
        """Anyone with a Teams identity or a stored 1:1 chat."""
        if person.teams_id:
            return True
        return references.personal(self.store, person.workspace, person.id) is not None

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        """Post the message (or update the card at ``card_ref``); returns the new card reference.

        ``thread_ref`` is not used: Teams 1:1 chats have no threads, so notes follow the card.
        Cards get the buttons the chat's channel can send (see ``render``)."""
        target = CardTarget.load(card_ref) if card_ref else None
        reference = references.personal(self.store, person.workspace, person.id)
        if target is not None:
            channel_id = target.channel_id or (reference.channel_id if reference else None) or TEAMS_CHANNEL
            try:
                self._run(self._update(target, render.to_activity(message, channel_id=channel_id)))
                return target.dump()
            except _Gone:
                log.info("card %s was deleted in Teams; posting a new one", message.card_key)
        reference = reference or self._open_chat(person)
        channel_id = reference.channel_id or TEAMS_CHANNEL
        activity_id = self._run(self._post(reference, render.to_activity(message, channel_id=channel_id)))
        conversation_id = reference.conversation.id if reference.conversation else ""
        return CardTarget(reference.service_url or "", conversation_id, activity_id or "", channel_id).dump()

    # --- internals ---------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return run_sync(work, self.timeout)
        except (_Gone, DeliveryError):
            raise
        except Exception as error:
            raise delivery_error(error) from error

    async def _in_conversation(
        self, reference: ConversationReference, work: Callable[[TurnContext], Awaitable[T]]
    ) -> T:
        """Run ``work`` in a proactive turn; its errors come back here instead of the turn-error
        handler (which would try to apologise in the very chat that failed)."""
        outcome: dict[str, Any] = {}

        async def logic(context: TurnContext) -> None:
            try:
                outcome["value"] = await work(context)
            except Exception as error:
                outcome["error"] = error

        await self.adapter.continue_conversation(reference, logic, self.app_id)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    async def _post(self, reference: ConversationReference, activity: Activity) -> str | None:
        async def work(context: TurnContext) -> str | None:
            fresh = copy.copy(reference)
            fresh.activity_id = None
            outgoing = TurnContext.apply_conversation_reference(copy.deepcopy(activity), fresh)
            outgoing.reply_to_id = None  # a new message, not a reply to the turn's made-up id
            [response] = await context.adapter.send_activities(context, [outgoing])
            return response.id if response else None

        return await self._in_conversation(reference, work)

    async def _update(self, target: CardTarget, activity: Activity) -> None:
        reference = ConversationReference(
            channel_id=target.channel_id or TEAMS_CHANNEL,
            service_url=target.service_url,
            conversation=ConversationAccount(id=target.conversation_id),
        )

        async def work(context: TurnContext) -> None:
            outgoing = TurnContext.apply_conversation_reference(copy.deepcopy(activity), reference)
            outgoing.id = target.activity_id
            outgoing.reply_to_id = None
            try:
                await context.adapter.update_activity(context, outgoing)
            except HttpOperationError as error:
                if _status(error)[0] == 404:
                    raise _Gone() from error
                raise

        await self._in_conversation(reference, work)

    def _open_chat(self, person: Person) -> ConversationReference:
        """Open (and remember) a 1:1 chat with someone the bot has not talked to yet."""
        known = references.service(self.store, person.workspace)
        if not person.teams_id or not known or not known.get("service_url"):
            raise DeliveryError(f"{person.handle} has not started a chat with servechain in Teams yet", permanent=True)
        tenant = known.get("tenant_id")
        bot = ChannelAccount(id=known.get("bot_id"), name=known.get("bot_name"))
        parameters = ConversationParameters(
            is_group=False,
            bot=bot,
            members=[ChannelAccount(id=person.teams_id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )
        created: dict[str, ConversationReference] = {}

        async def logic(context: TurnContext) -> None:
            created["reference"] = TurnContext.get_conversation_reference(context.activity)

        async def create() -> None:
            await self.adapter.create_conversation(
                self.app_id,
                logic,
                parameters,
                channel_id=known.get("channel_id") or TEAMS_CHANNEL,
                service_url=known["service_url"],
            )

        self._run(create())
        reference = created.get("reference")
        if reference is None or reference.conversation is None:
            raise DeliveryError("Teams did not open a chat")
        reference.activity_id = None
        reference.bot = bot
        reference.user = ChannelAccount(id=person.teams_id, aad_object_id=person.teams_id)
        reference.conversation.conversation_type = "personal"
        self.store.put_doc(references.CONVERSATION_KIND, person.workspace, person.id, reference.serialize())
        return reference
