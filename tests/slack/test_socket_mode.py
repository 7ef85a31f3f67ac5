"""``servechain serve --socket`` runs everything HTTP mode runs: the real command in a subprocess
connects to a loopback Socket Mode server (the fake Web API hands out its ``ws://`` URL), acks
a slash command over the socket, and its scheduler and delivery worker send the nudge, the
escalation and the manager's digest; ``/healthz`` answers on ``PORT``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.models import Person
from bot.people import Directory
from bot.requests import create_request
from storage.tinydb_store import TinyDBStore
from tests.conftest import small_org
from tests.fakes.slack_api import Call, FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, TEAM, USERS, fixture

ROOT = Path(__file__).resolve().parents[2]
APP_TOKEN = "xapp-1-test-app-token-not-real"
ALWAYS_WORKING = {"start": "00:00", "end": "23:59:59.999999", "weekdays": [0, 1, 2, 3, 4, 5, 6]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(path: Path, now: datetime) -> None:
    """The small org, linked to Slack, everyone on UTC; R-1 from alice to bob a week ago, never
    acknowledged (so bob's nudge and dave's escalation are due, and dave's digest has data)."""
    people, teams = small_org()
    by_handle = {user[1].split("@")[0]: user_id for user_id, user in USERS.items()}
    linked = [
        p.model_copy(update={"tz": "UTC", "slack_ids": {TEAM: by_handle[p.handle]} if p.handle in by_handle else {}})
        for p in people
    ]
    store = TinyDBStore(path)
    try:
        store.save_org(linked, teams)
        directory = Directory(store, "default")
        alice, bob = (directory.by_handle(handle) for handle in ("@alice", "@bob"))
        assert isinstance(alice, Person) and isinstance(bob, Person)
        create_request(
            store=store,
            directory=directory,
            requester=alice,
            provider=bob,
            text="the Q3 numbers",
            now=now - timedelta(days=7),
        )
    finally:
        store.close()


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        for user_id, (name, email, tz) in USERS.items():
            api.add_user(user_id, name, email=email, tz=tz)
        # dave also heads grace's org chart, so give grace (and frank) a Slack account too
        api.add_user("U0FRANK", "Frank Fox", email="frank@example.com")
        api.add_user("U0GRACE", "Grace Gray", email="grace@example.com")
        yield api


def _posted_with_key(calls: list[Call], channel: str, part: str) -> list[Call]:
    def key(call: Call) -> str:
        metadata = call.params.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        return str(payload.get("key", "")) if isinstance(payload, dict) else ""

    return [
        c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == channel and part in key(c)
    ]


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
        return dict(json.loads(response.read()))


def _metrics(port: int) -> dict[tuple[str, tuple[str, ...]], float]:
    """``/metrics`` parsed with Prometheus's text parser: (name, label values by sorted name) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(v for _k, v in sorted(sample.labels.items(), key=lambda kv: LABEL_ORDER.index(kv[0])))): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("servechain_")
    }


LABEL_ORDER = ["platform", "kind", "method", "outcome", "job", "operation", "state", "le", "frontends", "store"]


def test_socket_mode_acks_commands_and_sends_nudges_and_digests(tmp_path: Path, fake: FakeSlackApi) -> None:
    now = datetime.now(UTC)
    db = tmp_path / "servechain.json"
    _seed(db, now)
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SERVECHAIN_", "SLACK_", "MICROSOFT_")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    env.update(
        SERVECHAIN_DB=str(db),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake.url,
        SLACK_TEAM_IDS=TEAM,
        PORT=str(port),
        HOST="127.0.0.1",
        SCHEDULER_INTERVAL="0.2",
        WORKING_HOURS=json.dumps(ALWAYS_WORKING),
        DIGEST=json.dumps({"weekday": now.weekday(), "send_time": "00:00"}),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "serve", "--socket"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        fake.wait_calls("socket.hello", timeout=30)
        [opened] = fake.calls("apps.connections.open")
        assert opened.token == APP_TOKEN, "the socket URL is asked for with the app-level token"

        # the scheduler and the delivery worker run: bob's nudge, then dave's escalation and his digest
        calls = fake.wait_for(
            lambda calls: (
                bool(_posted_with_key(calls, "DU0BOB", ":nudges:P-bob:"))
                and bool(_posted_with_key(calls, "DU0DAVE", ":nudges:P-dave:"))
                and bool(_posted_with_key(calls, "DU0DAVE", ":digest:P-dave:"))
            ),
            timeout=30,
        )
        [nudge] = _posted_with_key(calls, "DU0BOB", ":nudges:P-bob:")
        assert "R-1" in json.dumps(nudge.params["blocks"]) and "Snooze" in json.dumps(nudge.params["blocks"])
        assert nudge.answer["ok"] is True
        [escalation] = _posted_with_key(calls, "DU0DAVE", ":nudges:P-dave:")
        assert "R-1" in json.dumps(escalation.params["blocks"])

        # a slash command over the socket is acked over the socket, then runs
        command = fixture("slash_command")
        command.update(
            text="<@U0CAROL|carol> the Q4 forecast",
            trigger_id="1.2.socket",
            response_url=fake.response_url("cmd-U0ALICE"),
        )
        envelope = fake.socket_send("slash_commands", command)
        ack = fake.socket_ack(envelope, timeout=10)
        assert ack["envelope_id"] == envelope
        fake.wait_for(lambda calls: any(c.method == "response_url" for c in calls), timeout=10)
        assert any("R-2" in str(c.params.get("text")) for c in fake.calls("response_url"))

        health = _health(port)
        assert health["ok"] is True and health["frontends"] == ["slack"]

        # Requests over the socket are counted as HTTP mode counts them, and so are the calls
        # their handlers make.
        metrics = _metrics(port)
        counted = {
            outcome: metrics.get(("servechain_requests_total", ("slack", "command", outcome)), 0.0)
            for outcome in ("received", "acked", "failed")
        }
        assert counted == {"received": 1.0, "acked": 1.0, "failed": 0.0}
        assert metrics[("servechain_ack_seconds_count", ("slack",))] == 1
        answers = [c for c in fake.calls("response_url") if c.status == 200]
        assert metrics[("servechain_platform_api_calls_total", ("slack", "response_url", "ok"))] == len(answers) == 1
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, err = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
    assert server.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Socket Mode" in err


def test_socket_mode_with_a_refused_app_token_exits_1_saying_what_to_check(tmp_path: Path, fake: FakeSlackApi) -> None:
    db = tmp_path / "servechain.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVECHAIN_", "SLACK_", "MICROSOFT_"))}
    env.update(
        SERVECHAIN_DB=str(db),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake.url,
        PORT=str(_free_port()),
        HOST="127.0.0.1",
    )
    fake.fail("apps.connections.open", "invalid_auth")
    result = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "serve", "--socket"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Socket Mode could not connect to Slack (invalid_auth)" in result.stdout
    assert "SLACK_APP_TOKEN" in result.stdout
