"""Keep-alive HTTP for slack_sdk's synchronous clients.

slack_sdk's ``WebClient`` and ``WebhookClient`` send every call through ``urllib.request.urlopen``,
which opens a new TCP connection (against real Slack also a new TLS handshake) for each call and
closes it afterwards: at a few hundred calls a second that is visible CPU in connect, getaddrinfo
and close, and one to two extra round trips per call. slack_sdk's sync clients have no pooling of
their own, so :class:`PooledWebClient` and :class:`PooledWebhookClient` replace only the method that
performs one HTTP exchange with a call through a shared ``urllib3.PoolManager`` (the well-kept,
thread-safe connection pool ``requests`` is built on), and keep everything above it as it is:
slack_sdk's retry handlers, rate-limit handling and error responses see the same statuses, the
same ``http.client.HTTPMessage`` headers, an ``urllib.error.HTTPError`` for an HTTP error status
and the exceptions ``urlopen`` raises when the network fails (see :func:`send`).

urllib3 itself never retries (``retries=False``: slack_sdk does its own) and follows no redirect
(Slack's API answers none); a pooled connection the server has closed while it sat idle is
noticed before it is reused and replaced by a new one.
"""

from __future__ import annotations

import io
from http.client import HTTPException, HTTPMessage, RemoteDisconnected
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import urllib3
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook.webhook_response import WebhookResponse
from urllib3.exceptions import ProtocolError, ReadTimeoutError

POOL_SIZE = 64
"""Kept-alive connections per host by default (``DELIVERY_CONCURRENCY`` sends at once)."""


def http_pool(maxsize: int = POOL_SIZE) -> urllib3.PoolManager:
    """A pool of keep-alive connections to share among clients and threads: up to ``maxsize``
    kept per host; more are opened when needed and closed after use (``block=False``)."""
    return urllib3.PoolManager(maxsize=maxsize, block=False, retries=False)


class PooledResponse:
    """One answer: the status, headers as ``urlopen`` gives them, and the body read in full."""

    def __init__(self, status: int, headers: HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def text(self) -> str:
        """The body decoded with the charset the response names (UTF-8 if none)."""
        return self.body.decode(self.headers.get_content_charset() or "utf-8")


def _message(headers: urllib3.HTTPHeaderDict) -> HTTPMessage:
    message = HTTPMessage()
    for name, value in headers.iteritems():
        message[name] = value  # appends: a repeated header keeps every value, as in urlopen's
    return message


def _as_urlopen_error(error: urllib3.exceptions.HTTPError) -> Exception:
    """The exception ``urlopen`` raises for the same failure. Connecting (refused, no such host,
    TLS, connect timeout) is ``URLError(reason)``; once the request is sent, a read timeout is
    ``TimeoutError``, a dropped connection ``RemoteDisconnected``/``ConnectionResetError``, other
    socket errors ``URLError`` and a truncated answer ``http.client.IncompleteRead``."""
    if isinstance(error, ReadTimeoutError):
        return TimeoutError("timed out")
    if isinstance(error, ProtocolError):
        cause = next((arg for arg in error.args if isinstance(arg, BaseException)), None)
        if isinstance(cause, RemoteDisconnected | ConnectionResetError | HTTPException):
            return cause
        return URLError(cause if cause is not None else error)
    # NewConnectionError, ConnectTimeoutError and SSLError carry the socket's or TLS's OSError
    cause = error.__cause__ if isinstance(error.__cause__, OSError) else None
    cause = cause or next((arg for arg in error.args if isinstance(arg, OSError)), None)
    return URLError(cause if cause is not None else error)


def send(pool: urllib3.PoolManager, request: Request, *, timeout: float, ssl: Any = None) -> PooledResponse:
    """Perform ``request`` (an ``urllib.request.Request``, as slack_sdk builds them) on a pooled
    connection, behaving like ``urlopen``: a 2xx answer is returned; any other status raises
    ``HTTPError`` (with the headers and a readable body); a network failure raises what
    ``urlopen`` would (:func:`_as_urlopen_error`). ``ssl`` is an ``ssl.SSLContext`` or None."""
    url = request.full_url
    pool_kwargs = {"ssl_context": ssl} if ssl is not None else None
    connections = pool.connection_from_url(url, pool_kwargs=pool_kwargs)
    headers = {name: str(value) for name, value in request.header_items()}
    try:
        response = connections.urlopen(
            request.get_method(),
            request.selector,
            body=request.data,  # type: ignore[arg-type]  # slack_sdk always gives bytes or None
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=True,
            decode_content=False,
        )
    except urllib3.exceptions.HTTPError as error:
        mapped = _as_urlopen_error(error)
        if mapped in error.args:  # http.client's own exception, with its own traceback
            raise mapped from None
        raise mapped from error
    answer = PooledResponse(response.status, _message(response.headers), response.data)
    if not 200 <= answer.status < 300:
        raise HTTPError(url, answer.status, response.reason or "", answer.headers, io.BytesIO(answer.body))
    return answer


class PooledWebClient(WebClient):
    """A ``WebClient`` whose calls go over ``pool``'s keep-alive connections (see the module
    docstring); with a proxy set it sends like ``WebClient`` does."""

    def __init__(self, *args: Any, pool: urllib3.PoolManager | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool if pool is not None else http_pool()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        answer = send(self.pool, req, timeout=self.timeout, ssl=self.ssl)
        if answer.headers.get_content_type() == "application/gzip":  # admin.analytics.getFile
            return {"status": answer.status, "headers": answer.headers, "body": answer.body}
        return {"status": answer.status, "headers": answer.headers, "body": answer.text()}

    def copy(self, **changes: Any) -> PooledWebClient:
        """This client on the same pool, with ``changes`` (e.g. ``timeout``)."""
        return pooled_copy(self, self.pool, **changes)


def pooled_copy(client: WebClient, pool: urllib3.PoolManager, **changes: Any) -> PooledWebClient:
    """``client`` (token, URL, timeout, TLS, proxy, headers, team, logger, retry handlers) as a
    :class:`PooledWebClient` on ``pool``, with ``changes`` (e.g. ``timeout``)."""
    settings: dict[str, Any] = {
        "token": client.token,
        "base_url": client.base_url,
        "timeout": client.timeout,
        "ssl": client.ssl,
        "proxy": client.proxy,
        "team_id": client.default_params.get("team_id"),
        "logger": client.logger,
        "retry_handlers": list(client.retry_handlers),
    }
    copy = PooledWebClient(pool=pool, **{**settings, **changes})
    copy.headers = dict(client.headers)  # as given, User-Agent included
    return copy


class PooledWebhookClient(WebhookClient):
    """A ``WebhookClient`` (``response_url`` replies) on ``pool``'s keep-alive connections."""

    def __init__(self, url: str, *, pool: urllib3.PoolManager, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.pool = pool

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_http_request_internal(url, req)  # type: ignore[no-any-return]
        answer = send(self.pool, req, timeout=self.timeout, ssl=self.ssl)
        # the headers urlopen gives, as slack_sdk passes them
        return WebhookResponse(url=url, status_code=answer.status, body=answer.text(), headers=answer.headers)  # type: ignore[arg-type]
