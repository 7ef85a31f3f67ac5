"""Slack's :class:`bot.delivery.Notifier`: DMs cards, updates them in place, threads notes.

Card references are ``"<channel>:<ts>"``. Rate limits and server faults become retryable
:class:`DeliveryError` s (with Slack's Retry-After); errors that no retry can fix are permanent.

Every post carries the outbox key in its message metadata (``event_type``
:data:`METADATA_EVENT`), so when an earlier post's outcome is unknown (a crash or a timeout
after Slack may have taken it) :meth:`SlackNotifier.find_sent` finds it in the conversation
(``conversations.history`` / ``conversations.replies``, scope ``im:history``) and the outbox
records it instead of posting a duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.charts import draw
from bot.delivery import DeliveryError
from bot.models import Message, Person
from handlers.slack.errors import is_rate_limited, slack_error_code
from handlers.slack.render import fallback_text, message_blocks

log = logging.getLogger(__name__)

PLATFORM = "slack"

_TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})
_REASONS: dict[str, str] = {
    "account_inactive": "their Slack account is deactivated",
    "user_not_found": "Slack doesn't know them any more",
    "channel_not_found": "their Slack DM could not be found",
    "not_in_channel": "the bot is not in that conversation",
    "is_archived": "the conversation is archived",
    "invalid_auth": "the Slack bot token is invalid",
    "not_authed": "the Slack bot token is missing",
    "token_revoked": "the Slack app was uninstalled",
    "cannot_dm_bot": "they are a bot",
}
_CARD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
METADATA_EVENT = "servechain_message"
"""``metadata.event_type`` of every message the outbox posts; the payload holds the outbox key."""
LOOKUP_PAGE = 200
"""Messages asked for per ``conversations.history`` / ``replies`` page when looking for a post."""
LOOKUP_PAGES = 50
"""At most this many pages are read per lookup (10,000 messages) before giving up and posting."""
CLOCK_SKEW = timedelta(minutes=5)
"""Margin before the item's creation time: our clock and Slack's may disagree a little."""


def encode_ref(channel: str, ts: str) -> str:
    """A card reference for the outbox: ``channel:ts``."""
    return f"{channel}:{ts}"


def decode_ref(ref: str) -> tuple[str, str]:
    """``(channel, ts)`` of a card reference."""
    channel, _, ts = ref.partition(":")
    if not channel or not ts:
        raise ValueError(f"not a Slack card reference: {ref!r}")
    return channel, ts


def _readable(ref: str | None) -> str | None:
    """``ref`` when it is a Slack card reference; None (post afresh) for anything else."""
    if ref is None:
        return None
    try:
        decode_ref(ref)
    except ValueError:
        log.warning("ignoring an unreadable Slack card reference %r", ref)
        return None
    return ref


def metadata(message: Message) -> dict[str, object]:
    """The message metadata that lets a later attempt find this post by its outbox key."""
    return {"event_type": METADATA_EVENT, "event_payload": {"key": message.key}}


def _posted_key(posted: dict[str, object]) -> str | None:
    meta = posted.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return None
    payload = meta.get("event_payload")
    return str(payload.get("key")) if isinstance(payload, dict) else None


def _may_have_posted(error: Exception) -> bool:
    """True when Slack may have taken the post despite the error (timeouts, dropped
    connections, server errors), so the next attempt must look before posting again."""
    if isinstance(error, SlackApiError):
        return (error.response.status_code if error.response is not None else 0) >= 500
    reason = error.reason if isinstance(error, URLError) else error
    return not isinstance(reason, ConnectionRefusedError)


def delivery_error(error: Exception) -> DeliveryError:
    """Classify a failed Web API call for the outbox."""
    if isinstance(error, SlackApiError):
        code = slack_error_code(error)
        status = error.response.status_code if error.response is not None else 0
        if is_rate_limited(error):
            headers = error.response.headers if error.response is not None else {}
            retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
            if isinstance(retry_after, list):
                retry_after = retry_after[0] if retry_after else None
            try:
                wait = float(retry_after) if retry_after is not None else 30.0
            except ValueError:
                wait = 30.0
            return DeliveryError(f"Slack rate limit ({code})", retry_after=max(wait, 1.0))
        if status >= 500 or code in _TRANSIENT:
            return DeliveryError(f"Slack is having trouble ({code})", unconfirmed=_may_have_posted(error))
        reason = _REASONS.get(code, "Slack refused the message")
        return DeliveryError(f"{reason} ({code})", permanent=True)
    if isinstance(error, URLError | TimeoutError | ConnectionError):
        return DeliveryError(f"Slack unreachable ({error})", unconfirmed=_may_have_posted(error))
    raise error


class SlackNotifier:
    """Posts neutral messages to people's DMs with the bot."""

    platform = PLATFORM

    def __init__(self, client: WebClient, *, team_id: Callable[[], str | None] = lambda: None) -> None:
        self.client = client
        self._team_id = team_id
        self._channels: dict[str, str] = {}
        self._lock = threading.Lock()

    def user_id(self, person: Person) -> str | None:
        """The person's Slack user id in our team (any one if the team isn't known yet)."""
        if not person.slack_ids or person.is_bot:
            return None
        team = self._team_id()
        if team and team in person.slack_ids:
            return person.slack_ids[team]
        return next(iter(person.slack_ids.values()))

    def can_reach(self, person: Person) -> bool:
        """True for people linked to a Slack user."""
        return self.user_id(person) is not None

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        """Update the card at ``card_ref``, or post in ``thread_ref``'s thread, or DM anew."""
        user = self.user_id(person)
        if user is None:
            raise DeliveryError(f"{person.handle} has no Slack account", permanent=True)
        blocks = message_blocks(message)
        text = fallback_text(message)
        card_ref, thread_ref = _readable(card_ref), _readable(thread_ref)
        try:
            if card_ref is not None:
                updated = self._update(card_ref, blocks, text)
                if updated is not None:
                    return updated
            thread_ts: str | None = None
            if thread_ref is not None:
                channel, thread_ts = decode_ref(thread_ref)
            else:
                channel = self._dm(user)
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata=metadata(message),
            )
        except (SlackApiError, URLError, TimeoutError, ConnectionError) as error:
            if isinstance(error, SlackApiError) and slack_error_code(error) == "channel_not_found":
                with self._lock:
                    self._channels.pop(user, None)
            raise delivery_error(error) from error
        if message.chart is not None:
            self._upload_chart(message, str(response["channel"]))
        return encode_ref(str(response["channel"]), str(response["ts"]))

    def _upload_chart(self, message: Message, channel: str) -> None:
        """Post the message's chart as a PNG right under it (``files_upload_v2``, scope
        ``files:write``). Best effort: the text already carries every figure, and failing the
        send now would post the message again on the retry."""
        assert message.chart is not None
        try:
            self.client.files_upload_v2(
                channel=channel,
                content=draw(message.chart),
                filename=f"{message.kind}-{message.key.rsplit(':', 1)[-1]}.png",
                title=message.chart.title,
                alt_txt=message.chart.alt_text[:1000],
            )
        except Exception as error:  # a lost chart must never lose (or repeat) the message
            log.warning("could not attach the chart of %s: %s", message.key, error)

    def find_sent(
        self, message: Message, person: Person, *, thread_ref: str | None, since: datetime | None = None
    ) -> str | None:
        """The reference of an earlier post of ``message`` (found by the outbox key in its
        metadata) in the person's DM or in ``thread_ref``'s thread, if Slack has it.

        ``since`` is when the outbox item was created: no attempt can have posted it earlier, so
        only messages from then on (less a clock-skew margin) are read, every page of them,
        however many newer messages the conversation has."""
        user = self.user_id(person)
        thread_ref = _readable(thread_ref)
        if user is None:
            return None
        oldest = f"{(since - CLOCK_SKEW).timestamp():.6f}" if since is not None else None
        try:
            if thread_ref is not None:
                channel, thread_ts = decode_ref(thread_ref)
                pages = self._pages("conversations_replies", channel=channel, ts=thread_ts, oldest=oldest)
            else:
                channel = self._dm(user)
                pages = self._pages("conversations_history", channel=channel, oldest=oldest)
            for page in pages:
                for posted in page:
                    if isinstance(posted, dict) and _posted_key(posted) == message.key:
                        return encode_ref(channel, str(posted["ts"]))
        except (SlackApiError, URLError, TimeoutError, ConnectionError) as error:
            problem = delivery_error(error)
            if problem.permanent:  # e.g. missing_scope: we can't look, so post (at-least-once)
                log.warning("can't look for an earlier post of %s (%s); posting it", message.key, problem.reason)
                return None
            raise problem from error
        return None

    def _pages(self, method: str, *, oldest: str | None, **params: str) -> Iterator[list[object]]:
        """The messages of ``conversations.history``/``replies`` from ``oldest`` on, page by page
        (cursor pagination), with their metadata."""
        call = getattr(self.client, method)
        if oldest is not None:
            params["oldest"] = oldest
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            response = call(include_all_metadata=True, limit=LOOKUP_PAGE, cursor=cursor, **params)
            yield list(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not response.get("has_more", True):
                return
        log.warning("stopped looking for an earlier post after %d pages", LOOKUP_PAGES)

    def _update(self, card_ref: str, blocks: list[dict[str, object]], text: str) -> str | None:
        """Edit the card in place; None when it is gone (then a new one is posted)."""
        channel, ts = decode_ref(card_ref)
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as error:
            if slack_error_code(error) in _CARD_GONE:
                log.info("card %s can't be edited (%s); posting a new one", card_ref, slack_error_code(error))
                return None
            raise
        return card_ref

    def _dm(self, user_id: str) -> str:
        with self._lock:
            channel = self._channels.get(user_id)
        if channel is None:
            response = self.client.conversations_open(users=user_id)
            channel = str(response["channel"]["id"])
            with self._lock:
                self._channels[user_id] = channel
        return channel
