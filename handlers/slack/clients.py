"""Web API clients pointed at ``SLACK_API_URL``: one for interactive work (retries a short
rate limit once) and one for the outbox (leaves rate limits to the outbox's own retries).

Every client sends over a pool of keep-alive connections (:mod:`handlers.slack.transport`): give
the clients of one process the same ``pool``.

Interactive clients count every call they make (:class:`CountedCalls`) for the operator's
``servechain_platform_api_calls_total``. The count rides on slack_sdk's retry-handler hook, which
the client consults after every attempt (a 200 included), because Bolt builds a fresh
``WebClient`` per request and copies only the retry handlers onto it: a ``WebClient`` subclass or
an attribute of ours would be lost there, the shared handler object is not. (The Bolt app puts
each per-request copy back on the pool in a middleware, :func:`handlers.slack.app.build_bolt_app`.)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import urllib3
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.ports import NO_TELEMETRY, Telemetry
from handlers.slack.transport import PooledWebClient, http_pool, pooled_copy

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


def _outcome(response: HttpResponse | None, *, retried: bool) -> str:
    if response is not None and response.status_code == 429:
        return "rate_limited"
    if retried:
        return "retry"
    if response is None or response.status_code != 200:
        return "failed"
    body = response.body if isinstance(response.body, dict) else {}
    return "ok" if body.get("ok", True) is not False else "failed"


class CountedCalls(RetryHandler):
    """Counts every Web API attempt by method and outcome (``ok``; ``rate_limited``: a 429;
    ``retry``: a fault one of ``retries`` tries again; ``failed``: an error answer or a fault left
    as it is) and lets ``retries`` decide whether to try again. Give it as a client's only
    retry handler (see the module docstring for why this hook)."""

    def __init__(self, telemetry: Telemetry, retries: list[RetryHandler]) -> None:
        super().__init__(max_retry_count=1_000)
        self.telemetry = telemetry
        self.retries = retries

    def without_retries(self) -> CountedCalls:
        """The same count, trying nothing again (calls made before an ack)."""
        return CountedCalls(self.telemetry, [])

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        chosen = next(
            (h for h in self.retries if h.can_retry(state=state, request=request, response=response, error=error)),
            None,
        )
        self.count(request.url.rsplit("/", 1)[-1].split("?", 1)[0], _outcome(response, retried=chosen is not None))
        if chosen is None:
            return False
        chosen.prepare_for_next_attempt(state=state, request=request, response=response, error=error)
        return False  # ``chosen`` asked for the next attempt itself (state.next_attempt_requested)

    def count(self, method: str, outcome: str) -> None:
        """Report one call (metrics never fail a call)."""
        try:
            self.telemetry.platform_call(platform="slack", method=method, outcome=outcome)
        except Exception:
            log.exception("telemetry failed")


def counted_calls(client: WebClient) -> CountedCalls | None:
    """The call counter a client carries, if any (Bolt's per-request copies carry the same one)."""
    return next((h for h in client.retry_handlers if isinstance(h, CountedCalls)), None)


def api_base_url(url: str) -> str:
    """``SLACK_API_URL`` with the trailing slash the Web API client needs."""
    return url if url.endswith("/") else url + "/"


def interactive_client(
    base_url: str,
    *,
    telemetry: Telemetry = NO_TELEMETRY,
    pool: urllib3.PoolManager | None = None,
    **kwargs: Any,
) -> PooledWebClient:
    """A client for work done while a person waits (Bolt copies it per request); every call
    is counted to ``telemetry``. It sends over ``pool`` (a new one if None)."""
    return PooledWebClient(
        base_url=api_base_url(base_url),
        timeout=TIMEOUT,
        retry_handlers=[CountedCalls(telemetry, [ConnectionErrorRetryHandler(), ShortRateLimitRetry()])],
        pool=pool,
        **kwargs,
    )


def delivery_client(base_url: str, token: str, *, pool: urllib3.PoolManager | None = None) -> PooledWebClient:
    """A client for the outbox worker: rate limits surface as errors the outbox reschedules.
    It sends over ``pool`` (a new one if None)."""
    return PooledWebClient(
        token=token,
        base_url=api_base_url(base_url),
        timeout=TIMEOUT,
        retry_handlers=[ConnectionErrorRetryHandler()],
        pool=pool,
    )


PRE_ACK_TIMEOUT = 2
"""Seconds a Web API call made before an ack may take (Slack gives the ack three)."""


def pre_ack_client(client: WebClient) -> PooledWebClient:
    """``client`` for calls made before the ack (a form's user lookup): short timeout, no
    waiting out rate limits, so the ack still goes out in time when Slack is slow (still counted).
    It sends over ``client``'s pool."""
    counter = counted_calls(client)
    return pooled_copy(
        client,
        pool_of(client),
        timeout=PRE_ACK_TIMEOUT,
        team_id=None,
        retry_handlers=[counter.without_retries()] if counter is not None else [],
    )


def pool_of(client: WebClient) -> urllib3.PoolManager:
    """The pool ``client`` sends over (a new one for a plain ``WebClient``)."""
    return client.pool if isinstance(client, PooledWebClient) else http_pool()
