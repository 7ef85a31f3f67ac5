"""Slack's :class:`bot.delivery.Notifier`: DMs cards, updates them in place, threads notes.

Card references are ``"<channel>:<ts>"``. Rate limits and server faults become retryable
:class:`DeliveryError` s (with Slack's Retry-After); errors that no retry can fix are permanent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

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


def encode_ref(channel: str, ts: str) -> str:
    """A card reference for the outbox: ``channel:ts``."""
    return f"{channel}:{ts}"


def decode_ref(ref: str) -> tuple[str, str]:
    """``(channel, ts)`` of a card reference."""
    channel, _, ts = ref.partition(":")
    if not channel or not ts:
        raise ValueError(f"not a Slack card reference: {ref!r}")
    return channel, ts


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
            return DeliveryError(f"Slack is having trouble ({code})")
        reason = _REASONS.get(code, "Slack refused the message")
        return DeliveryError(f"{reason} ({code})", permanent=True)
    if isinstance(error, URLError | TimeoutError | ConnectionError):
        return DeliveryError(f"Slack unreachable ({error})")
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
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
            )
        except (SlackApiError, URLError, TimeoutError, ConnectionError) as error:
            if isinstance(error, SlackApiError) and slack_error_code(error) == "channel_not_found":
                with self._lock:
                    self._channels.pop(user, None)
            raise delivery_error(error) from error
        return encode_ref(str(response["channel"]), str(response["ts"]))

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
