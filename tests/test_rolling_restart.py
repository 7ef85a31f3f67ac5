"""A rolling restart under steady traffic loses and duplicates nothing.

Two ``servechain serve`` replicas on one PostgreSQL database behind a small load balancer of
this test's own (it polls each replica's ``/readyz`` and sends a command only to replicas that
answered 200 last; a connection that is refused is tried on the other replica, which is safe as
nothing was received). Signed ``/request`` commands arrive at 20 per second. Replica ``a`` is
sent SIGTERM and started again, then ``b``. Afterwards:

- every command that got its 200 is exactly one request, and each request's provider card and
  requester card reached Slack exactly once (0 lost, 0 duplicated);
- each stopped replica's ``/readyz`` answered 503 before it stopped accepting connections, and
  it exited 0.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from storage.postgres import PostgresStore
from tests.fakes.slack_api import FakeSlackApi
from tests.pg import postgres_url
from tests.slack.conftest import TEAM, fixture, sign
from tests.test_replicas import (
    _PROVIDER_CARD,
    _REQUESTER_CARD,
    COMMANDS,
    REQUESTERS,
    WORKSPACE,
    Replica,
    header,
    org,
    provider_slack_id,
    requester_slack_id,
    start_replica,
    wait_healthy,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]

RATE = 20.0  # commands per second
DRAIN = 1.5  # SHUTDOWN_DRAIN_SECONDS: readiness false this long before the listener closes
RUN_BETWEEN = 3.0  # seconds of traffic between the steps of the rolling restart


class LoadBalancer:
    """Health-checks the replicas' ``/readyz`` every 100 ms and records what each answered."""

    def __init__(self, replicas: dict[str, Replica]) -> None:
        self.replicas = replicas
        self.ready: dict[str, bool] = {}
        self.timeline: dict[int, list[tuple[float, str]]] = {}  # pid -> (time, "ready"|"unready"|"refused")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for name, replica in list(self.replicas.items()):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/readyz", timeout=1) as answer:
                        state = "ready" if answer.status == 200 else "unready"
                except urllib.error.HTTPError:
                    state = "unready"
                except OSError:
                    state = "refused"
                with self._lock:
                    self.ready[name] = state == "ready"
                    self.timeline.setdefault(replica.process.pid, []).append((time.monotonic(), state))
            self._stop.wait(0.1)

    def targets(self, index: int) -> list[Replica]:
        """The ready replicas, the preferred one first; the others after (tried only if refused)."""
        with self._lock:
            names = sorted(self.replicas)
            ready = [n for n in names if self.ready.get(n)]
        names = ready or names
        first = names[index % len(names)]
        return [self.replicas[first]] + [self.replicas[n] for n in sorted(self.replicas) if n != first]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def command_form(index: int, fake: FakeSlackApi) -> dict[str, Any]:
    user = requester_slack_id(index % REQUESTERS)
    provider = provider_slack_id(index % COMMANDS)
    form = fixture("slash_command")
    form.update(
        team_id=TEAM,
        user_id=user,
        user_name=user.lower(),
        command="/request",
        text=f"<@{provider}|prv> rolling job-{index:04d}",
        trigger_id=f"{index + 1}.9.{index:08x}",
        response_url=fake.response_url(f"cmd-{index}"),
    )
    return form


def post(replica: Replica, body: str) -> int:
    """POST a signed slash command; its status, or 0 when the connection was refused."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(body, timestamp),
    }
    request = urllib.request.Request(replica.url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return 0
        return -1  # sent, then lost: not acknowledged (a client would see an error)
    except OSError:
        return -1


@pytest.fixture
def pg_store() -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url())
    try:
        store.reset()
        store.save_org(org())
        yield store
    finally:
        store.close()


def test_a_rolling_restart_under_20_commands_a_second_loses_and_duplicates_nothing(
    pg_store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHUTDOWN_DRAIN_SECONDS", str(DRAIN))
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "15")
    monkeypatch.setenv("NUDGES", json.dumps({"unacknowledged_hours": 1000, "escalate_hours": 2000}))
    with FakeSlackApi(team_id=TEAM) as fake:
        for person in org():
            fake.add_user(person.slack_ids[TEAM], person.name, email=person.email, tz=person.tz)
        replicas: dict[str, Replica] = {}
        stopped: list[Replica] = []
        acked: list[int] = []
        unanswered: list[int] = []
        stop_traffic = threading.Event()
        balancer: LoadBalancer | None = None
        try:
            for name in ("a", "b"):
                replicas[name] = start_replica(name, db=pg_store.url, fake=fake, folder=tmp_path)
            for replica in replicas.values():
                wait_healthy(replica)
            balancer = LoadBalancer(replicas)
            time.sleep(0.3)

            def traffic() -> None:
                index, started = 0, time.monotonic()
                while not stop_traffic.is_set():
                    body = urlencode(command_form(index, fake))
                    assert balancer is not None
                    for replica in balancer.targets(index):
                        status = post(replica, body)
                        if status != 0:
                            break
                    (acked if status == 200 else unanswered).append(index)
                    index += 1
                    time.sleep(max(0.0, started + index / RATE - time.monotonic()))

            sender = threading.Thread(target=traffic, daemon=True)
            sender.start()
            for name in ("a", "b"):
                time.sleep(RUN_BETWEEN)
                old = replicas[name]
                old.process.send_signal(signal.SIGTERM)
                assert old.process.wait(timeout=30) == 0, old.log_text()
                stopped.append(old)
                (tmp_path / name).mkdir()
                fresh = start_replica(name, db=pg_store.url, fake=fake, folder=tmp_path / name)
                wait_healthy(fresh)
                replicas[name] = fresh
            time.sleep(RUN_BETWEEN)
            stop_traffic.set()
            sender.join(30)

            def provider_cards() -> Counter[int]:
                cards: Counter[int] = Counter()
                for call in fake.calls("chat.postMessage"):
                    if call.status == 200 and (match := _PROVIDER_CARD.match(header(call.params))):
                        cards[int(match.group(1))] += 1
                return cards

            wait_until(
                lambda: len(pg_store.find_requests(WORKSPACE)) >= len(acked) and len(provider_cards()) >= len(acked),
                60,
                lambda: (
                    f"{len(pg_store.find_requests(WORKSPACE))} requests, {len(provider_cards())} provider cards "
                    f"for {len(acked)} acknowledged commands"
                ),
            )
            time.sleep(2.0)  # anything still to be (wrongly) sent twice gets its chance
        finally:
            stop_traffic.set()
            if balancer is not None:
                balancer.close()
            for replica in list(replicas.values()) + stopped:
                if replica.process.poll() is None:
                    replica.process.send_signal(signal.SIGTERM)
                    replica.process.wait(timeout=30)

        print(f"\n{len(acked)} commands acknowledged at {RATE:.0f}/s, {len(unanswered)} not answered 200")
        assert len(acked) >= RATE * RUN_BETWEEN * 2, "the traffic did not keep up"
        assert unanswered == [], f"commands not acknowledged during the rolling restart: {unanswered}"

        # 0 lost, 0 duplicated: one request per acknowledged command, each card posted once.
        requests = pg_store.find_requests(WORKSPACE)
        jobs = Counter(int(r.text.split("job-")[1]) for r in requests)
        assert set(jobs) == set(acked), f"lost: {sorted(set(acked) - set(jobs))}"
        assert max(jobs.values()) == 1, "a command became two requests"
        cards: Counter[tuple[str, int]] = Counter()
        for call in fake.calls("chat.postMessage"):
            if call.status != 200:
                continue
            for kind, pattern in (("provider", _PROVIDER_CARD), ("requester", _REQUESTER_CARD)):
                if match := pattern.match(header(call.params)):
                    cards[(kind, int(match.group(1)))] += 1
        numbers = {r.number for r in requests}
        assert cards == Counter({(kind, n): 1 for n in numbers for kind in ("provider", "requester")})
        assert pg_store.count_inbox(WORKSPACE, state="pending") == 0

        # Each stopped replica: readiness false while it still accepted, then refused, exit 0.
        assert balancer is not None
        for old in stopped:
            states = [state for _at, state in balancer.timeline[old.process.pid]]
            assert "refused" in states, states
            first_refused = states.index("refused")
            assert "unready" in states[:first_refused], f"{old.name} stopped accepting before readiness went false"
            assert states[: states.index("unready")].count("ready") > 0
            assert old.process.returncode == 0
            assert "Traceback" not in old.log_text(), old.log_text()
