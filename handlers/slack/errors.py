"""The one place Slack turns failures into words: domain errors as they are, storage and Slack
faults as a retry hint, anything unexpected logged with an id the user can quote."""

from __future__ import annotations

import logging
import uuid
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from bot.errors import Conflict, DomainError, StorageError

log = logging.getLogger(__name__)


def error_id() -> str:
    """A short id to quote to an admin; it is logged with the traceback."""
    return uuid.uuid4().hex[:8]


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code (``channel_not_found``...) or the HTTP status."""
    data = error.response.data if error.response is not None else None
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = error.response.status_code if error.response is not None else 0
    return f"http_{status}"


def is_rate_limited(error: SlackApiError) -> bool:
    """True for HTTP 429 or ``ratelimited``."""
    status = error.response.status_code if error.response is not None else 0
    return status == 429 or slack_error_code(error) == "ratelimited"


def friendly(error: BaseException, *, doing: str = "that") -> str:
    """What to tell the person whose command or click failed; logs what needs logging."""
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, Conflict):
        return "That request changed while I was saving your change. Please try again."
    eid = error_id()
    if isinstance(error, StorageError):
        log.error("storage fault while handling %s (error id %s)", doing, eid, exc_info=error)
        return f"I couldn't save that right now, please try again (error id {eid})."
    if isinstance(error, SlackApiError):
        code = slack_error_code(error)
        if is_rate_limited(error):
            log.warning("Slack rate-limited %s (error id %s)", doing, eid)
            return (
                f"Slack is rate-limiting me right now, so I couldn't finish {doing}. "
                f"Please try again in a minute (error id {eid})."
            )
        log.error("Slack refused a call while handling %s: %s (error id %s)", doing, code, eid)
        return f"Slack refused part of {doing} ({code}). Please try again (error id {eid})."
    if isinstance(error, URLError | TimeoutError | ConnectionError):
        log.error("Slack unreachable while handling %s (error id %s): %s", doing, eid, error)
        return f"I couldn't reach Slack to finish {doing}. Please try again (error id {eid})."
    log.error("unexpected error while handling %s (error id %s)", doing, eid, exc_info=error)
    return (
        f"Something went wrong on my side (error id {eid}). "
        "Please try again; if it keeps happening, quote the id to your admin."
    )
