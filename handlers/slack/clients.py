"""Web API clients pointed at ``SLACK_API_URL``: one for interactive work (retries a short
rate limit once) and one for the outbox (leaves rate limits to the outbox's own retries)."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

TIMEOUT = 10


def retry_after(response: HttpResponse) -> float | None:
    """Seconds from a response's Retry-After header, if it has one."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0])
            except ValueError:
                return None
    return None


class ShortRateLimitRetry(RetryHandler):
    """Retry an HTTP 429 after Slack's Retry-After, but only when that wait is short: a person
    is waiting, and the trigger id of a modal expires after three seconds."""

    def __init__(self, *, max_retry_count: int = 1, max_wait: float = 5.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response)
        return wait is None or wait <= self.max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = (retry_after(response) if response is not None else None) or 1.0
        log.info("Slack rate limit on %s; retrying in %.1fs", request.url, wait)
        state.next_attempt_requested = True
        time.sleep(wait)
        state.increment_current_attempt()


def api_base_url(url: str) -> str:
    """``SLACK_API_URL`` with the trailing slash the Web API client needs."""
    return url if url.endswith("/") else url + "/"


def interactive_client(base_url: str, **kwargs: Any) -> WebClient:
    """A client for work done while a person waits (Bolt copies it per request)."""
    return WebClient(
        base_url=api_base_url(base_url),
        timeout=TIMEOUT,
        retry_handlers=[ConnectionErrorRetryHandler(), ShortRateLimitRetry()],
        **kwargs,
    )


def delivery_client(base_url: str, token: str) -> WebClient:
    """A client for the outbox worker: rate limits surface as errors the outbox reschedules."""
    return WebClient(
        token=token, base_url=api_base_url(base_url), timeout=TIMEOUT, retry_handlers=[ConnectionErrorRetryHandler()]
    )


PRE_ACK_TIMEOUT = 2
"""Seconds a Web API call made before an ack may take (Slack gives the ack three)."""


def pre_ack_client(client: WebClient) -> WebClient:
    """``client`` for calls made before the ack (a form's user lookup): short timeout, no
    waiting out rate limits, so the ack still goes out in time when Slack is slow."""
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=PRE_ACK_TIMEOUT,
        retry_handlers=[],
    )
