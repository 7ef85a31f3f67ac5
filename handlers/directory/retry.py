"""Waiting out a directory's rate limit (HTTP 429 with Retry-After), up to a limit; counting
the directory's API calls."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from bot.orgsync import DirectoryError
from bot.ports import Telemetry

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 60.0
"""Longest single Retry-After we honour (seconds); a longer one ends the sync with a message."""
MAX_RETRIES = 5


def retry_after(headers: Mapping[str, str] | None, default: float = 1.0) -> float:
    """The Retry-After header in seconds (case-insensitive); ``default`` when absent or unreadable."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return default
    return default


def wait_or_give_up(
    *, label: str, what: str, seconds: float, attempt: int, max_wait: float, sleep: Callable[[float], None]
) -> None:
    """Sleep ``seconds`` before retrying ``what``, or raise a DirectoryError when the wait is too
    long or the retries are used up."""
    if seconds > max_wait:
        raise DirectoryError(
            f"{label} is rate limiting {what} and asked to wait {seconds:g} s, longer than the {max_wait:g} s "
            "servechain waits. Nothing was changed; try again later."
        )
    if attempt >= MAX_RETRIES:
        raise DirectoryError(
            f"{label} kept rate limiting {what} after {MAX_RETRIES} retries. Nothing was changed; try again later."
        )
    sleep(seconds)


def count_call(telemetry: Telemetry, *, platform: str, method: str, outcome: str) -> None:
    """Report one directory API call (``servechain_platform_api_calls_total``); metrics never
    fail a sync."""
    try:
        telemetry.platform_call(platform=platform, method=method, outcome=outcome)
    except Exception:
        log.exception("telemetry failed")
