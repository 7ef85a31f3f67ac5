"""Bot Framework authentication that never blocks the event loop, and can't be flooded.

botbuilder 4.17.1 validates a token inside ``authenticate_request``, a coroutine, but fetches
the OpenID metadata and signing keys there with a blocking ``requests.get`` without a timeout,
and retries the fetch on every request while it fails. One forged token naming the Bot
Framework issuer, with the metadata host slow or unreachable, used to stall the whole server
(Slack acks, ``/healthz``). So:

- :class:`BoundedOpenIdMetadata` replaces botbuilder's per-URL metadata cache entries
  (``JwtTokenExtractor.metadataCache``): every fetch has a timeout, one fetch runs at a time per
  URL, keys are kept for botbuilder's own intervals (a day; an unknown key id refreshes at most
  hourly), a failed fetch is remembered for :attr:`BoundedOpenIdMetadata.failure_ttl` seconds,
  and keys fetched before keep working while a refresh fails.
- :class:`AuthenticationGuard` runs ``authenticate_request`` in a small pool of threads (each
  job with its own event loop), waits for it with a timeout, and caps the work in flight: beyond
  ``capacity`` a request is refused at once (503) instead of queueing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import requests
from botbuilder.schema import Activity
from botframework.connector.auth import jwt_token_extractor
from botframework.connector.auth.authenticate_request_result import AuthenticateRequestResult
from botframework.connector.auth.bot_framework_authentication import BotFrameworkAuthentication

log = logging.getLogger(__name__)

KEYS_MAX_AGE = timedelta(days=1)
"""botbuilder's own refresh interval for the signing keys."""
UNKNOWN_KEY_REFRESH = timedelta(hours=1)
"""An unknown key id refreshes the keys at most this often (botbuilder's own rule)."""


class AuthenticationUnavailable(Exception):
    """Authentication can't be decided right now (no signing keys, too busy, too slow): a 503."""


class KeysUnavailable(AuthenticationUnavailable):
    """The Bot Framework signing keys could not be fetched and none are cached."""


class Overloaded(AuthenticationUnavailable):
    """Too many requests are being authenticated already."""


class BoundedOpenIdMetadata(jwt_token_extractor._OpenIdMetadata):  # the class botbuilder caches
    """botbuilder's OpenID metadata cache for one URL, with a timeout and cached failures."""

    timeout = 5.0
    """Seconds each HTTP request of a fetch may take (connect, and each read)."""
    failure_ttl = 30.0
    """Seconds a failed fetch is remembered before the next attempt."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._lock = threading.Lock()
        self._failed_until = float("-inf")
        self._failure = ""

    async def get(self, key_id: str) -> Any:
        """The signing key ``key_id`` (fetched or refreshed first when due). Blocking: call it off
        the event loop (:class:`AuthenticationGuard` does)."""
        if self._older_than(KEYS_MAX_AGE):
            self._refresh_once(KEYS_MAX_AGE)
        key = self._lookup(key_id)
        if key is None and self._older_than(UNKNOWN_KEY_REFRESH):
            self._refresh_once(UNKNOWN_KEY_REFRESH)
            key = self._lookup(key_id)
        if key is None:
            raise PermissionError("the token is signed with a key the Bot Framework does not publish")
        return key

    def _older_than(self, age: timedelta) -> bool:
        return bool(self.last_updated < datetime.now() - age)

    def _lookup(self, key_id: str) -> Any:
        if not any(isinstance(key, dict) and key.get("kid") == key_id for key in self.keys):
            return None
        return self._find(key_id)

    def _refresh_once(self, age: timedelta) -> None:
        with self._lock:
            if not self._older_than(age):
                return  # another request refreshed while this one waited
            if time.monotonic() < self._failed_until:
                if not self.keys:
                    raise KeysUnavailable(self._failure)
                return
            try:
                self._fetch()
            except Exception as error:  # timeouts, refused connections, HTTP errors, bad JSON
                self._failed_until = time.monotonic() + self.failure_ttl
                self._failure = f"fetching the Bot Framework signing keys from {self.url} failed ({error})"
                log.warning("%s; next attempt in %.0f s", self._failure, self.failure_ttl)
                if not self.keys:
                    raise KeysUnavailable(self._failure) from error

    def _fetch(self) -> None:
        response = requests.get(self.url, timeout=self.timeout)
        response.raise_for_status()
        keys_url = response.json()["jwks_uri"]
        response_keys = requests.get(keys_url, timeout=self.timeout)
        response_keys.raise_for_status()
        keys = response_keys.json()["keys"]
        if not isinstance(keys, list):
            raise ValueError("the key set has no list of keys")
        self.keys = keys
        self.last_updated = datetime.now()

    async def _refresh(self) -> None:  # botbuilder's name for a fetch, kept bounded too
        self._fetch()


_install_lock = threading.Lock()


def bound_openid_fetches() -> None:
    """Make every Bot Framework metadata cache of this process a :class:`BoundedOpenIdMetadata`
    (botbuilder keeps one per URL, process-wide, created on first use). Idempotent."""
    with _install_lock:
        jwt_token_extractor._OpenIdMetadata = BoundedOpenIdMetadata  # type: ignore[misc]
        cache = jwt_token_extractor.JwtTokenExtractor.metadataCache
        for url, metadata in list(cache.items()):
            if not isinstance(metadata, BoundedOpenIdMetadata):
                cache[url] = BoundedOpenIdMetadata(url)


class AuthenticationGuard:
    """Runs ``authenticate_request`` off the event loop: at most ``workers`` at a time, each
    answered within ``timeout`` seconds, and no more than ``capacity`` in flight (a job that
    timed out still counts until its thread is done), so forged traffic can't starve anything."""

    def __init__(
        self,
        authentication: BotFrameworkAuthentication,
        *,
        workers: int = 4,
        capacity: int = 32,
        timeout: float = 10.0,
    ) -> None:
        bound_openid_fetches()
        self.authentication = authentication
        self.capacity = capacity
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="teams-auth")
        self._in_flight = 0
        self._lock = threading.Lock()

    async def authenticate(self, activity: Activity, header: str) -> AuthenticateRequestResult:
        """The authenticated request, or an exception: :class:`AuthenticationUnavailable` when it
        can't be decided now (503), anything else when the request is not authentic (401)."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise Overloaded(f"{self._in_flight} Bot Framework requests are being authenticated already")
            self._in_flight += 1
        try:
            job = self._pool.submit(self._run, activity, header)
        except BaseException:
            self._done()
            raise
        job.add_done_callback(self._done)  # when it finishes, or is cancelled before it starts
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job), self.timeout)
        except TimeoutError:
            raise AuthenticationUnavailable(f"authentication took over {self.timeout:.0f} s") from None

    def _run(self, activity: Activity, header: str) -> AuthenticateRequestResult:
        result: AuthenticateRequestResult = asyncio.run(self.authentication.authenticate_request(activity, header))
        return result

    def _done(self, _job: object = None) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Stop the threads (a fetch under way finishes within its own timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) means "can't decide now" rather than "not authentic"."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, AuthenticationUnavailable):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
