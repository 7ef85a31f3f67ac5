"""Two ``servechain serve`` replicas on one PostgreSQL database, under concurrent Slack traffic.

One fake Slack Web API, two real server processes (each with its own bot token, so the fake can
tell whose delivery worker posted what), and 8 client threads firing signed ``/request`` slash
commands at both; some commands are retried (same ``trigger_id``, ``X-Slack-Retry-Num``) at the
*other* replica while the original may still be in flight. Each request goes to its own
provider, so every provider is due exactly one "unacknowledged" nudge a few seconds later,
which both replicas' schedulers (every 0.3 s) race to send. Then, once everything is quiet:

- exactly one request per distinct command, numbered 1..N without gaps or duplicates;
- every provider card and requester card posted exactly once, in the right DM;
- every retried command answered once as "Sent" and once as "already created";
- every nudge claimed once and posted exactly once, to the right provider;
- the outbox fully delivered, and no errors in either replica's log.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.models import Person
from storage.postgres import PostgresStore
from tests.fakes.slack_api import FakeSlackApi
from tests.pg import postgres_url
from tests.slack.conftest import SIGNING_SECRET, TEAM, fixture, sign

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(150)]

WORKSPACE = "default"
COMMANDS = 100  # distinct /request commands, half to each replica
RETRIES = 12  # of those, retried at the other replica
REQUESTERS = 4
CLIENT_THREADS = 8
NUDGE_AFTER_HOURS = 0.001  # 3.6 s of (all-day) working time
SCHEDULER_INTERVAL = 0.3
ALWAYS_WORKING = {"start": "00:00", "end": "23:59:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]}
SERVECHAIN = Path(sys.executable).with_name("servechain")


# --------------------------------------------------------------------------- the org


def requester_slack_id(index: int) -> str:
    return f"U0REQ{index}"


def provider_slack_id(index: int) -> str:
    return f"U0PRV{index:03d}"


def org() -> list[Person]:
    """A few requesters and one provider per command, all linked to the fake's Slack team."""
    people = [
        Person(
            id=f"P-req{i}",
            workspace=WORKSPACE,
            handle=f"req{i}",
            name=f"Requester {i}",
            email=f"req{i}@example.com",
            slack_ids={TEAM: requester_slack_id(i)},
        )
        for i in range(REQUESTERS)
    ]
    people += [
        Person(
            id=f"P-prv{i:03d}",
            workspace=WORKSPACE,
            handle=f"prv{i:03d}",
            name=f"Provider {i:03d}",
            email=f"prv{i:03d}@example.com",
            tz=("Europe/London", "Asia/Tokyo", "America/New_York", "UTC")[i % 4],
            slack_ids={TEAM: provider_slack_id(i)},
        )
        for i in range(COMMANDS)
    ]
    return people


# --------------------------------------------------------------------------- the replicas


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One ``servechain serve`` process."""

    name: str
    token: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_replica(name: str, *, db: str, fake: FakeSlackApi, folder: Path) -> Replica:
    """Start ``servechain serve`` with its own bot token and port; its log goes to a file."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_")) and k != "PORT"
    }
    token = f"xoxb-replica-{name}-not-real"
    env.update(
        SLACK_BOT_TOKEN=token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        SERVECHAIN_DB=db,
        SERVECHAIN_LOG_LEVEL="WARNING",
        SCHEDULER_INTERVAL=str(SCHEDULER_INTERVAL),
        NUDGES=json.dumps({"unacknowledged_hours": NUDGE_AFTER_HOURS, "escalate_hours": 1000}),
        WORKING_HOURS=json.dumps(ALWAYS_WORKING),
        PYTHONUNBUFFERED="1",
        # 4 requesters sending 20 commands a second put ~5 cards a second into each requester's DM,
        # beyond Slack's ~1/s per conversation: these drills test replicas, not the platform's limits
        DELIVERY_RATE_LIMITS="false",
    )
    command = [str(SERVECHAIN)] if SERVECHAIN.exists() else [sys.executable, "-m", "handlers.cli"]
    port = free_port()
    log = folder / f"replica-{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
    return Replica(name, token, port, process, log)


def wait_healthy(replica: Replica, timeout: float = 20.0) -> None:
    """Poll ``GET /healthz`` until it answers 200 (or fail with the replica's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            pytest.fail(f"replica {replica.name} exited with {replica.process.returncode}:\n{replica.log_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"replica {replica.name} never became healthy:\n{replica.log_text()}")


def stop(replica: Replica) -> None:
    """SIGTERM (aiohttp shuts down gracefully), then kill if it hangs."""
    if replica.process.poll() is None:
        replica.process.send_signal(signal.SIGTERM)
        try:
            replica.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait(timeout=5)


# --------------------------------------------------------------------------- Slack traffic


@dataclass(frozen=True)
class Command:
    """One slash command to fire: which command, at which replica, first try or a retry."""

    index: int
    replica: int
    retry: bool = False

    @property
    def trigger(self) -> str:
        return f"{self.index + 1}.738474920.{self.index:08x}"

    @property
    def text(self) -> str:
        return f"figures for job-{self.index:03d} please"

    def form(self, fake: FakeSlackApi) -> dict[str, Any]:
        user = requester_slack_id(self.index % REQUESTERS)
        provider = provider_slack_id(self.index)
        form = fixture("slash_command")
        form.update(
            team_id=TEAM,
            user_id=user,
            user_name=user.lower(),
            command="/request",
            text=f"<@{provider}|prv{self.index:03d}> {self.text}",
            trigger_id=self.trigger,
            response_url=fake.response_url(f"cmd-{self.index}"),
        )
        return form


def post_command(url: str, command: Command, fake: FakeSlackApi) -> tuple[int, str]:
    """POST one signed slash command; ``(status, body)``."""
    body = urlencode(command.form(fake))
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(body, timestamp),
    }
    if command.retry:
        headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def traffic() -> list[Command]:
    """Every command once, alternating replicas, with retries at the other replica a few places
    after their original (so with 8 client threads they are usually in flight together)."""
    rng = random.Random(7)
    originals = [Command(i, i % 2) for i in range(COMMANDS)]
    order: list[Command] = list(originals)
    for index in sorted(rng.sample(range(COMMANDS), RETRIES), reverse=True):
        original = originals[index]
        order.insert(index + rng.randint(1, 4), Command(index, 1 - original.replica, retry=True))
    return order


# --------------------------------------------------------------------------- reading the fake

_PROVIDER_CARD = re.compile(r"^R-(\d+) from ")
_REQUESTER_CARD = re.compile(r"^R-(\d+) to ")
_FACT_REF = re.compile(r"^\*R-(\d+)\*")


def header(params: dict[str, Any]) -> str:
    blocks = params.get("blocks") or []
    return str(blocks[0]["text"]["text"]) if blocks and blocks[0].get("type") == "header" else ""


def nudged(params: dict[str, Any]) -> list[int]:
    """The request numbers a posted nudge names (one fact field per request)."""
    if "reminder, sent once" not in str(params.get("text")):
        return []
    found = []
    for block in params.get("blocks") or []:
        for field in block.get("fields") or []:
            match = _FACT_REF.match(str(field.get("text", "")))
            if match:
                found.append(int(match.group(1)))
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting: {what()}")
        time.sleep(0.2)


def wait_quiet(fake: FakeSlackApi, seconds: float, timeout: float) -> None:
    """Wait until the fake has seen no call for ``seconds`` (many scheduler passes of both replicas)."""
    deadline = time.monotonic() + timeout
    last, since = len(fake.calls()), time.monotonic()
    while time.monotonic() - since < seconds:
        if time.monotonic() > deadline:
            pytest.fail("the replicas never went quiet")
        time.sleep(0.2)
        now = len(fake.calls())
        if now != last:
            last, since = now, time.monotonic()


# --------------------------------------------------------------------------- the test


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    """The session's test database, emptied, with the org loaded."""
    store = PostgresStore(postgres_url())
    try:
        store.reset()
        store.save_org(org())
        yield store
    finally:
        store.close()


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    """One fake Slack Web API both replicas talk to; it knows every user of the org."""
    with FakeSlackApi(team_id=TEAM) as api:
        for person in org():
            api.add_user(person.slack_ids[TEAM], person.name, email=person.email, tz=person.tz)
        yield api


def test_two_replicas_share_one_database_without_duplicates_or_gaps(
    pg_store: PostgresStore, fake: FakeSlackApi, tmp_path: Path
) -> None:
    replicas: list[Replica] = []
    try:
        for name in ("a", "b"):  # appended one by one, so the finally stops whatever did start
            replicas.append(start_replica(name, db=pg_store.url, fake=fake, folder=tmp_path))
        for replica in replicas:
            wait_healthy(replica)

        # 8 client threads fire every command (and the retries) at both replicas.
        commands = traffic()
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            answers = list(pool.map(lambda c: post_command(replicas[c.replica].url, c, fake), commands))
        fired_s = time.monotonic() - started
        assert [status for status, _body in answers] == [200] * len(commands), answers
        assert all(body == "" for _status, body in answers), "a slash command's ack has an empty body"

        # Wait for everything to be created, delivered, nudged and delivered again; then for quiet.
        def posts() -> list[dict[str, Any]]:
            return [c.params for c in fake.calls("chat.postMessage") if c.status == 200 and c.answer.get("ok")]

        def progress() -> str:
            made = len(pg_store.find_requests(WORKSPACE))
            nudges = sum(len(nudged(p)) for p in posts())
            return f"{made}/{COMMANDS} requests stored, {len(posts())} messages posted, {nudges} nudges"

        wait_until(lambda: len(pg_store.find_requests(WORKSPACE)) >= COMMANDS, 30, progress)
        wait_until(lambda: sum(len(nudged(p)) for p in posts()) >= COMMANDS, 40, progress)
        wait_quiet(fake, seconds=2.0, timeout=20)
        settled_s = time.monotonic() - started

        # Requests: one per distinct command, numbered 1..N with no gap and no duplicate.
        requests = sorted(pg_store.find_requests(WORKSPACE), key=lambda r: r.number)
        numbers = [r.number for r in requests]
        assert numbers == list(range(1, COMMANDS + 1)), f"{len(numbers)} requests, numbered {numbers}"
        texts = Counter(r.text for r in requests)
        assert texts == Counter(Command(i, 0).text for i in range(COMMANDS)), "a command made 0 or 2 requests"
        number_of = {int(r.text.split("job-")[1][:3]): r.number for r in requests}
        for request in requests:
            index = int(request.text.split("job-")[1][:3])
            assert request.requester_id == f"P-req{index % REQUESTERS}"
            assert request.provider_id == f"P-prv{index:03d}"

        # Cards: each provider card and each requester card posted exactly once, in the right DM.
        all_posts = posts()
        provider_cards: Counter[tuple[int, str]] = Counter()
        requester_cards: Counter[tuple[int, str]] = Counter()
        for params in all_posts:
            if match := _PROVIDER_CARD.match(header(params)):
                provider_cards[(int(match.group(1)), params["channel"])] += 1
            elif match := _REQUESTER_CARD.match(header(params)):
                requester_cards[(int(match.group(1)), params["channel"])] += 1
        assert provider_cards == Counter({(number_of[i], f"D{provider_slack_id(i)}"): 1 for i in range(COMMANDS)}), (
            "a provider card was posted twice, never, or to the wrong person"
        )
        assert requester_cards == Counter(
            {(number_of[i], f"D{requester_slack_id(i % REQUESTERS)}"): 1 for i in range(COMMANDS)}
        ), "a requester card was posted twice, never, or to the wrong person"

        # Replies: each command answered "Sent R-n" once; each retry answered "already created" once.
        replies: dict[int, list[str]] = {}
        for call in fake.calls("response_url"):
            replies.setdefault(int(call.params["_name"].removeprefix("cmd-")), []).append(str(call.params["text"]))
        retried = {c.index for c in commands if c.retry}
        for index in range(COMMANDS):
            ref = f"R-{number_of[index]}"
            expected = [f"Sent {ref} to"] + ([f"{ref} was already created"] if index in retried else [])
            got = sorted(replies.get(index, []))
            assert [any(t.startswith(e) for t in got) for e in expected] == [True] * len(expected), (index, got)
            assert len(got) == len(expected), (index, got)

        # Nudges: one per request, posted once, to its provider, although both schedulers raced.
        nudges: Counter[tuple[int, str]] = Counter()
        for params in all_posts:
            for number in nudged(params):
                nudges[(number, params["channel"])] += 1
        assert nudges == Counter({(number_of[i], f"D{provider_slack_id(i)}"): 1 for i in range(COMMANDS)}), (
            "a nudge was posted twice, never, or to the wrong person"
        )
        claims = [doc["key"] for kind, doc in pg_store.export_records() if kind == "claims"]
        unacked = sorted(k for k in claims if k.startswith("nudge:unacked:"))
        assert unacked == sorted(f"nudge:unacked:R-{n}:e0" for n in range(1, COMMANDS + 1))

        # Nothing else was posted, nothing is left to deliver, and both replicas did their share.
        assert len(all_posts) == 3 * COMMANDS
        outbox = pg_store.list_outbox(WORKSPACE)
        assert Counter(item.state for item in outbox) == Counter({"sent": 3 * COMMANDS})
        senders = Counter(c.token for c in fake.calls("chat.postMessage"))
        assert set(senders) == {r.token for r in replicas}, f"only one replica delivered: {senders}"
        assert not [c for c in fake.calls() if c.status != 200 or not c.answer.get("ok", True)], "a Slack call failed"
        print(
            f"\n{len(commands)} commands fired in {fired_s:.1f}s; settled after {settled_s:.1f}s; "
            f"chat.postMessage per replica: {dict(senders)}"
        )
    finally:
        for replica in replicas:
            stop(replica)

    for replica in replicas:
        assert replica.process.returncode == 0, f"replica {replica.name} exited with {replica.process.returncode}"
        log = replica.log_text()
        assert "Traceback" not in log and " ERROR " not in log, f"replica {replica.name} logged errors:\n{log}"
