"""Drill: forged Bot Framework tokens while the OpenID metadata host is black-holed or slow.

A real server (``build_web_app`` with Slack, and Teams with an app id) whose Bot Framework
metadata URL points at a loopback host that accepts connections and never answers (or answers
after 5 s). Forged tokens (``iss=https://api.botframework.com``, signed with a key of our own)
arrive concurrently with signed Slack commands. Slack acks must stay fast, ``/healthz`` must
answer, and every forged request gets 401 or 503, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from botbuilder.schema import Activity
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from bot.ports import Store
from handlers.teams import workspace_gate
from handlers.teams.adapter import BotFrameworkConfig
from handlers.teams.authentication import (
    AuthenticationGuard,
    AuthenticationUnavailable,
    BoundedOpenIdMetadata,
    KeysUnavailable,
    Overloaded,
)
from tests.drills import seed_linked_org
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import TEAM, USERS, SlackHarness
from tests.teams.conftest import ALICE, as_user, load, teams_settings
from tests.teams.test_auth import OpenIdServer, _signing_key

APP_ID = "11111111-2222-3333-4444-555555555555"
ISSUER = "https://api.botframework.com"
FORGERS = 6
SLACK_COMMANDS = 40
ATTACK_SECONDS = 8.0
"""Longer than the first metadata fetch's timeout, so the attack also covers the cached failure."""


class MetadataHost:
    """A loopback TCP server standing in for the Bot Framework metadata host: it accepts every
    connection and never answers (``delay=None``), or answers after ``delay`` seconds."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1/.well-known/openidconfiguration"
        self.connections: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(connection)
            if self.delay is not None:
                threading.Thread(target=self._answer_late, args=(connection,), daemon=True).start()

    def _answer_late(self, connection: socket.socket) -> None:
        if self._stopped.wait(self.delay):
            return
        body = json.dumps({"jwks_uri": self.url.replace("openidconfiguration", "keys"), "keys": []}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        with contextlib.suppress(OSError):
            connection.sendall(head.encode() + body)

    def __enter__(self) -> MetadataHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.listener.close()


@contextmanager
def slack_and_teams(store: Store) -> Iterator[SlackHarness]:
    """The real server with Slack and with Teams requiring Bot Framework tokens."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_"))}
    fake = FakeSlackApi(team_id=TEAM).start()
    for user_id, (name, email, tz) in USERS.items():
        fake.add_user(user_id, name, email=email, tz=tz)
    harness = SlackHarness(
        store,
        fake,
        microsoft_app_id=APP_ID,
        microsoft_app_password=SecretStr("test-only-not-a-secret"),
        teams_tenant_ids="tenant-0000-servechain",
    )
    try:
        yield harness
    finally:
        harness.stop()
        fake.stop()
        os.environ.update(saved)


def forged_token() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": APP_ID, "serviceurl": "http://127.0.0.1:9/", "nbf": now - 60, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "forged-key"})


def _status(request: urllib.request.Request, timeout: float = 20) -> int:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0  # no answer at all


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def slack_acks(slack: SlackHarness, count: int, *, for_at_least: float = 0.0) -> list[float]:
    """Seconds each signed ``/request list`` command took to be acked: ``count`` of them, sent
    one after another, and more (one per 50 ms) until ``for_at_least`` seconds have passed."""
    seconds: list[float] = []
    until = time.monotonic() + for_at_least
    while len(seconds) < count or time.monotonic() < until:
        answer = slack.command("U0ALICE", "list")
        assert answer.status == 200, answer.body
        seconds.append(answer.seconds)
        if len(seconds) >= count:
            time.sleep(0.05)
    return seconds


def healthz(slack: SlackHarness) -> tuple[int, float]:
    started = time.perf_counter()
    status = _status(urllib.request.Request(f"{slack.server.base}/healthz"), timeout=5)
    return status, time.perf_counter() - started


def _attack(slack: SlackHarness) -> tuple[list[float], list[float], list[tuple[int, float]], Counter[int]]:
    """Slack acks without and then with forged Teams traffic, /healthz under it, forged statuses."""
    slack.command("U0ALICE", "list")  # warm up (auth.test, first contact)
    quiet = slack_acks(slack, SLACK_COMMANDS)

    activity: dict[str, Any] = as_user(load("message_personal"), ALICE)
    activity.update(text="request list", serviceUrl="http://127.0.0.1:9/")
    body = json.dumps(activity).encode()
    token = forged_token()  # one key made here: key generation would compete with the server for the CPU
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def forge() -> None:
        while not stop.is_set():
            request = urllib.request.Request(
                f"{slack.server.base}/api/messages",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                method="POST",
            )
            status = _status(request)
            with lock:
                statuses[status] += 1

    forgers = [threading.Thread(target=forge, daemon=True) for _ in range(FORGERS)]
    for thread in forgers:
        thread.start()
    time.sleep(0.5)  # the forged requests are in, and the first metadata fetch hangs
    try:
        attacked = slack_acks(slack, SLACK_COMMANDS, for_at_least=ATTACK_SECONDS)
        health = [healthz(slack) for _ in range(5)]
    finally:
        stop.set()
        for thread in forgers:
            thread.join(timeout=30)
    slack.settle()

    return quiet, attacked, health, statuses


@pytest.mark.parametrize("delay", [None, 5.0], ids=["black hole", "answers after 5 s"])
def test_forged_teams_tokens_never_stall_slack_or_healthz(
    store: Store, monkeypatch: pytest.MonkeyPatch, delay: float | None
) -> None:
    seed_linked_org(store)
    with MetadataHost(delay) as metadata:
        monkeypatch.setattr(BotFrameworkConfig, "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", metadata.url, raising=False)
        monkeypatch.setattr(BotFrameworkConfig, "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER", ISSUER, raising=False)
        with slack_and_teams(store) as slack:
            measured = _attack(slack)
    quiet, attacked, health, statuses = measured
    print(
        f"\n[{'black hole' if delay is None else f'metadata after {delay:.0f} s'}] Slack ack "
        f"p50/p99 quiet {statistics.median(quiet) * 1000:.0f}/{percentile(quiet, 0.99) * 1000:.0f} ms, "
        f"under forged traffic {statistics.median(attacked) * 1000:.0f}/{percentile(attacked, 0.99) * 1000:.0f} ms; "
        f"/healthz {[f'{status} in {seconds * 1000:.0f} ms' for status, seconds in health]}; "
        f"forged requests answered {dict(statuses)}; metadata host contacted {len(metadata.connections)} time(s)"
    )
    assert max(attacked) < 1.0, f"a Slack ack took {max(attacked):.2f} s under forged traffic"
    assert all(status == 200 and seconds < 1.0 for status, seconds in health), health
    assert statuses and set(statuses) <= {401, 503}, statuses
    assert len(metadata.connections) <= 2, "a failed fetch is remembered, not retried for every forged token"


# --- the pieces, one by one -------------------------------------------------------------------


class StuckAuthentication:
    """A BotFrameworkAuthentication whose checks wait until released (counting how many ran)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0

    async def authenticate_request(self, activity: Any, header: str) -> str:
        self.started += 1
        self.release.wait(10)
        return "authenticated"


def test_beyond_its_capacity_the_guard_refuses_at_once_and_recovers() -> None:
    stuck = StuckAuthentication()
    guard = AuthenticationGuard(stuck, workers=2, capacity=2, timeout=0.3)  # type: ignore[arg-type]

    async def main() -> list[str]:
        async def attempt() -> str:
            try:
                return str(await guard.authenticate(Activity(), "Bearer x"))
            except Overloaded:
                return "overloaded"
            except AuthenticationUnavailable:
                return "timed out"

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(attempt() for _ in range(5)))
        assert time.perf_counter() - started < 2
        assert await attempt() == "overloaded", "timed-out checks still hold their place until their thread ends"
        stuck.release.set()
        await asyncio.sleep(0.2)
        outcomes.append(await attempt())
        return outcomes

    try:
        outcomes = asyncio.run(main())
    finally:
        guard.close()
    assert sorted(outcomes[:5]) == ["overloaded", "overloaded", "overloaded", "timed out", "timed out"]
    assert outcomes[5] == "authenticated" and stuck.started == 3  # two stuck, then one after the release


@pytest.mark.parametrize(
    ("overrides", "admitted", "refused"),
    [
        ({"microsoft_app_id": APP_ID}, [None], ["tenant-a", "tenant-b"]),
        ({"microsoft_app_id": APP_ID, "teams_tenant_ids": "tenant-a, tenant-c"}, [None, "tenant-a", "tenant-c"], ["b"]),
        ({"microsoft_app_id": APP_ID, "microsoft_app_tenant_id": "tenant-a"}, [None, "tenant-a"], ["tenant-b"]),
        ({}, [None, "tenant-a"], ["tenant-b"]),  # local development: the first one seen is pinned
    ],
    ids=["app id alone", "TEAMS_TENANT_IDS", "single tenant", "local development"],
)
def test_teams_serves_only_the_tenants_it_was_told_to(
    store: Store, caplog: pytest.LogCaptureFixture, overrides: dict[str, Any], admitted: list[Any], refused: list[str]
) -> None:
    with caplog.at_level(logging.WARNING, logger="handlers.teams"):
        gate = workspace_gate(teams_settings(**overrides), store)
    assert all(gate.admits(tenant) for tenant in admitted) and not any(gate.admits(t) for t in refused)
    warned = [r.getMessage() for r in caplog.records if "TEAMS_TENANT_IDS" in r.getMessage()]
    assert bool(warned) == (overrides == {"microsoft_app_id": APP_ID})


def test_signing_keys_are_cached_and_outlive_a_failed_refresh(caplog: pytest.LogCaptureFixture) -> None:
    _key, jwk = _signing_key("k1")
    with OpenIdServer({"keys": [jwk]}) as openid:
        metadata = BoundedOpenIdMetadata(openid.url)
        assert asyncio.run(metadata.get("k1")).public_key is not None
    fetched = metadata.last_updated
    # the host is gone; the keys are due for their daily refresh, which fails: they keep working
    metadata.last_updated = datetime.now() - timedelta(days=2)
    with caplog.at_level(logging.WARNING, logger="handlers.teams"):
        assert asyncio.run(metadata.get("k1")).public_key is not None
        assert asyncio.run(metadata.get("k1")).public_key is not None
    failures = [r for r in caplog.records if "signing keys" in r.getMessage()]
    assert len(failures) == 1, "a failed refresh is remembered, not repeated per request"
    with pytest.raises(PermissionError):
        asyncio.run(metadata.get("a-key-nobody-published"))
    assert metadata.last_updated < fetched


def test_without_signing_keys_a_failed_fetch_is_remembered_for_a_while() -> None:
    with MetadataHost(delay=None) as black_hole:
        metadata = BoundedOpenIdMetadata(black_hole.url)
        metadata.timeout = 0.3
        started = time.perf_counter()
        for _ in range(5):
            with pytest.raises(KeysUnavailable):
                asyncio.run(metadata.get("k1"))
        assert time.perf_counter() - started < 2
        assert len(black_hole.connections) == 1
