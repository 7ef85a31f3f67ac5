"""The one place the Teams front end turns failures into words for the person who clicked or typed.

Domain errors carry a message written for people and are shown as they are; anything else is
logged with a short id the person can quote, and they see only that id.
"""

from __future__ import annotations

import logging
import uuid

from botbuilder.core import TurnContext

from bot.errors import Conflict, DomainError, StorageError

log = logging.getLogger(__name__)


def error_id() -> str:
    """A short id that ties a user-visible apology to one log line."""
    return uuid.uuid4().hex[:8]


def friendly_message(error: BaseException) -> str:
    """What to tell the user about ``error`` (logging it when it is not their mistake)."""
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, Conflict):
        return "That request changed while I was working on it; please try again."
    ident = error_id()
    if isinstance(error, StorageError):
        log.error("storage fault while handling a Teams activity (error id %s)", ident, exc_info=error)
        return (
            "I couldn't reach my records just now, so nothing was changed. "
            f"Please try again in a minute. (error id {ident})"
        )
    log.error("unexpected error while handling a Teams activity (error id %s)", ident, exc_info=error)
    return f"Sorry, something went wrong on my side. If it happens again, quote error id {ident}."


async def on_turn_error(context: TurnContext, error: Exception) -> None:
    """Adapter-level last resort: log with an id and tell the user, never raising again."""
    text = friendly_message(error)
    try:
        await context.send_activity(text)
    except Exception:  # the channel itself may be what failed
        log.warning("could not tell the user about an error: %s", text)
