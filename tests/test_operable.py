"""Operating a real ``servechain serve``: Prometheus metrics moved by signed Slack traffic and
Teams activities, JSON logs, quiet start-up, ``/readyz`` and a graceful SIGTERM.

The server is a child process on a TinyDB file with a fake Slack Web API and a fake Bot
Connector (in a thread of this process) on loopback ports.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.errors import StorageError
from storage import open_store
from tests.drills import SLACK_IDS, fake_slack, seed_linked_org, until
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.slack_api import FakeSlackApi
from tests.pgserve import Serve, clean_env
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, fixture, sign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[1]
TEAMS_DATA = Path(__file__).parent / "data" / "teams"
SAMPLE_LABELS = {"platform", "kind", "outcome", "method", "job", "operation", "state", "le", "frontends", "store"}
"""Every label a servechain metric may carry: none names a person, a team or a text."""
PROCESS_LABELS = {"version", "implementation", "major", "minor", "patchlevel"}


class ThreadedConnector:
    """The fake Bot Connector on an event loop of its own, for a server in another process."""

    def __init__(self) -> None:
        self.connector = FakeBotConnector()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self.connector.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.connector.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Serve) -> Samples:
    """``/metrics`` parsed with Prometheus's own text parser: (sample name, labels) -> value."""
    status, body = get(f"{server.base}/metrics")
    assert status == 200, body
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def teams_activity(name: str, service_url: str, index: int) -> bytes:
    activity = copy.deepcopy(json.loads((TEAMS_DATA / name).read_text()))
    activity["serviceUrl"] = service_url
    activity["id"] = f"activity-{index}"
    return json.dumps(activity).encode()


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def connector() -> Iterator[ThreadedConnector]:
    threaded = ThreadedConnector()
    try:
        yield threaded
    finally:
        threaded.close()


def start_server(tmp_path: Path, slack: FakeSlackApi, **settings: str) -> Serve:
    db = tmp_path / "servechain.json"
    if not db.exists():
        store = open_store(str(db))
        seed_linked_org(store)
        store.close()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        SLACK_TEAM_IDS=TEAM,
        SERVECHAIN_DB=str(db),
        SERVECHAIN_LOG_LEVEL="INFO",
        SCHEDULER_INTERVAL="0.5",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return Serve(env, cwd=ROOT, log=tmp_path / "serve.log")


@pytest.mark.parametrize("delivery_process", ["off", "on"])
def test_metrics_move_with_signed_slack_traffic_and_teams_activities(
    tmp_path: Path, slack: FakeSlackApi, connector: ThreadedConnector, delivery_process: str
) -> None:
    """With ``DELIVERY_PROCESS=on`` the deliveries' counts come from the delivery process."""
    server = start_server(tmp_path, slack, SERVECHAIN_TEAMS="1", DELIVERY_PROCESS=delivery_process)
    try:
        before = scrape(server)
        assert value(before, "servechain_requests_total", platform="slack", kind="command", outcome="received") == 0
        # One App Home refresh is rate limited (and retried after Retry-After), one command's
        # response_url fails (and its answer goes out as a DM instead).
        slack.fail("views.publish", "ratelimited", status=429, retry_after=1)
        slack.fail("response_url", "expired_url", status=404, after=2)

        commands = 5
        for index in range(commands):
            status = server.command(
                slack, SLACK_IDS["alice"], f"@bob figures {index}", f"t-{index}", secret=SIGNING_SECRET
            )
            assert status == 200
        assert server.command(slack, SLACK_IDS["alice"], "@bob forged", "t-forged", secret="not-the-secret") == 401
        for index, user in enumerate(("alice", "bob")):  # App Home opened: views.publish
            event = fixture("app_home_opened")
            event["event"]["user"] = SLACK_IDS[user]
            event["event_id"] = f"Ev-home-{index}"
            body = json.dumps(event)
            stamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": sign(body, stamp),
            }
            assert server.post("/slack/events", body.encode(), headers) == 200
        for index, name in enumerate(
            ["message_personal.json", "message_personal.json", "invoke_adaptive_card_action.json"]
        ):
            status = server.post(
                "/api/messages", teams_activity(name, connector.url, index), {"Content-Type": "application/json"}
            )
            assert status < 400, status

        # Each request's two cards (provider, requester) reach Slack; the queues drain.
        def delivered() -> int:
            return len([c for c in slack.calls("chat.postMessage") if c.status == 200])

        until(lambda: delivered() >= 2 * commands, 30, "every card reached Slack")
        until(
            lambda: (
                value(scrape(server), "servechain_outbox_items", state="pending") == 0
                and total(scrape(server), "servechain_scheduler_job_runs_total") > 0
                # a delivery process reports its counts every second (REPORT_EVERY)
                and value(scrape(server), "servechain_delivery_latency_seconds_count", platform="slack") >= 2 * commands
            ),
            20,
            "the outbox is empty, the scheduler ran and the deliveries were counted",
        )
        assert get(f"{server.base}/readyz")[0] == 200
        after = scrape(server)

        # Requests: received, acknowledged (2xx) or failed (the forged signature), per platform and kind.
        assert value(after, "servechain_requests_total", platform="slack", kind="command", outcome="received") == 6
        assert value(after, "servechain_requests_total", platform="slack", kind="command", outcome="acked") == 5
        assert value(after, "servechain_requests_total", platform="slack", kind="command", outcome="failed") == 1
        assert value(after, "servechain_requests_total", platform="slack", kind="event", outcome="acked") == 2
        assert value(after, "servechain_ack_seconds_count", platform="slack") == 8
        assert value(after, "servechain_requests_total", platform="teams", kind="message", outcome="received") == 2
        assert value(after, "servechain_requests_total", platform="teams", kind="click", outcome="received") == 1
        assert total(after, "servechain_requests_total", platform="teams", outcome="acked") == 3
        assert value(after, "servechain_ack_seconds_count", platform="teams") == 3
        assert value(after, "servechain_ack_seconds_bucket", platform="slack", le="+Inf") == 8
        # The acknowledged work ran from the inbox, once each.
        assert total(after, "servechain_work_total", platform="slack", outcome="done") == commands
        assert value(after, "servechain_inbox_items", state="pending") == 0
        assert value(after, "servechain_inbox_oldest_pending_age_seconds") == 0
        # Delivery: latency from the command to each card, and the platform calls by outcome.
        assert value(after, "servechain_delivery_latency_seconds_count", platform="slack") >= 2 * commands
        assert value(after, "servechain_platform_api_calls_total", platform="slack", method="post", outcome="ok") >= (
            2 * commands
        )
        assert value(after, "servechain_outbox_oldest_pending_age_seconds") == 0
        # Every Web API call the handlers made, and each response_url post, counted once by
        # method and outcome (the deliveries above are counted as post/update, not again here).
        handler_methods = ("views.publish", "users.info", "auth.test", "response_url")

        def slack_calls(method: str, outcome: str) -> int:
            calls = slack.calls(method)
            if outcome == "rate_limited":
                return len([c for c in calls if c.status == 429])
            ok = [c for c in calls if c.status == 200 and c.answer.get("ok", True) is not False]
            return len(ok) if outcome == "ok" else len(calls) - len(ok) - slack_calls(method, "rate_limited")

        def counted(samples: Samples, method: str, outcome: str) -> float:
            return value(
                samples, "servechain_platform_api_calls_total", platform="slack", method=method, outcome=outcome
            )

        def all_counted() -> bool:
            now = scrape(server)
            return all(
                counted(now, method, outcome) == slack_calls(method, outcome)
                for method in handler_methods
                for outcome in ("ok", "rate_limited", "failed")
            )

        until(lambda: slack_calls("views.publish", "ok") >= 2, 10, "both App Homes were published")
        until(all_counted, 10, "the handlers' Slack calls are counted as the fake saw them")
        after = scrape(server)
        assert counted(after, "response_url", "ok") == commands - 1
        assert counted(after, "response_url", "failed") == 1
        assert counted(after, "views.publish", "rate_limited") == 1
        assert counted(after, "views.publish", "ok") >= 2  # the App Homes opened (and any refreshed)
        assert counted(after, "auth.test", "ok") == 0 == slack_calls("auth.test", "ok")  # SLACK_TEAM_IDS is set
        assert total(after, "servechain_platform_api_calls_total", platform="slack", outcome="retry") == 0
        # Teams: the turns' replies and member lookups, by outcome (proactive sends are deliveries).
        replies = connector.connector.of("reply", ok=False)
        lookups = connector.connector.of("member", ok=False)
        assert replies and value(
            after, "servechain_platform_api_calls_total", platform="teams", method="send_activity", outcome="ok"
        ) == len(replies)
        assert total(after, "servechain_platform_api_calls_total", platform="teams", method="get_member") == len(
            lookups
        )
        # The store: every contract operation timed; no errors.
        assert value(after, "servechain_store_operation_seconds_count", operation="accept_inbox") == commands
        assert value(after, "servechain_store_operation_seconds_count", operation="create_request") >= commands
        assert total(after, "servechain_store_errors_total") == 0
        # The scheduler, readiness and the process.
        assert value(after, "servechain_scheduler_last_pass_timestamp_seconds") > time.time() - 30
        assert value(after, "servechain_ready") == 1
        assert value(after, "servechain_info", frontends="slack,teams", store="TinyDBStore") == 1
        assert value(after, "process_resident_memory_bytes") > 0
        assert total(after, "process_cpu_seconds_total") > 0
        # Low cardinality: no label names a person, a request or a text.
        labels = {name for (_n, ls) in after for name, _v in ls}
        assert labels <= SAMPLE_LABELS | PROCESS_LABELS, labels
        label_values = " ".join(v for (_n, ls) in after for _name, v in ls)
        for forbidden in [*SLACK_IDS.values(), "figures", "R-1", "alice", TEAM]:
            assert forbidden not in label_values
    finally:
        server.stop()


def test_json_logs_and_one_quiet_start_up_line(tmp_path: Path, slack: FakeSlackApi) -> None:
    server = start_server(tmp_path, slack, SERVECHAIN_LOG_FORMAT="json", SERVECHAIN_REPLICA="replica-7")
    try:
        assert server.command(slack, SLACK_IDS["alice"], "@bob json please", "t-json", secret=SIGNING_SECRET) == 200
        until(lambda: bool(slack.calls("response_url")), 20, "the command was answered")
    finally:
        server.stop()
    assert server.process.returncode == 0
    lines = (tmp_path / "serve.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message", "replica", "workspace"} <= set(entry), entry
        assert entry["replica"] == "replica-7" and entry["workspace"] == "default"
    assert not [e for e in entries if "will be unused" in e["message"]], "Bolt's token warning is logged"
    started = [e for e in entries if e["message"].startswith("front ends on:")]
    assert len(started) == 1
    assert str(tmp_path / "servechain.json") in started[0]["message"]
    assert f"127.0.0.1:{server.port}" in started[0]["message"]
    before_stop = entries[: entries.index(started[0]) + 1]
    assert [e["message"] for e in before_stop if e["level"] in ("INFO", "WARNING")] == [started[0]["message"]], (
        "start-up logs more than the one line"
    )


def test_an_error_id_shown_to_a_person_is_a_field_of_its_json_log_line() -> None:
    from handlers.observability import JsonFormatter
    from handlers.slack.errors import friendly

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("handlers.slack.errors")
    keep = Keep()
    logger.addHandler(keep)
    try:
        shown = friendly(StorageError("disk full"), doing="R-12's click")
    finally:
        logger.removeHandler(keep)
    error_id = shown.split("error id ")[1].rstrip(").")
    entry = json.loads(JsonFormatter(replica="r1", workspace="acme").format(records[0]))
    assert entry["error_id"] == error_id
    assert entry["platform"] == "slack" and entry["request"] == "R-12"
    assert entry["level"] == "ERROR" and "disk full" in entry["exception"]
    assert entry["replica"] == "r1" and entry["workspace"] == "acme"


def test_a_bad_log_format_stops_start_up_with_one_line(tmp_path: Path) -> None:
    from tests.pgserve import servechain

    result = servechain(
        "stats", env=clean_env(SERVECHAIN_LOG_FORMAT="yaml", SERVECHAIN_DB=str(tmp_path / "s.json")), cwd=ROOT
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "servechain: bad setting SERVECHAIN_LOG_FORMAT: 'yaml' (use text or json)"


def test_sigterm_turns_readiness_false_before_it_stops_accepting_and_exits_0(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    server = start_server(tmp_path, slack, SHUTDOWN_DRAIN_SECONDS="1.5", SHUTDOWN_GRACE_SECONDS="10")
    try:
        status, body = get(f"{server.base}/readyz")
        assert status == 200 and json.loads(body)["ready"] is True
        assert get(f"{server.base}/healthz")[0] == 200
        server.process.send_signal(signal.SIGTERM)
        # Readiness goes false at once, while commands are still accepted and run.
        until(lambda: get(f"{server.base}/readyz", timeout=1)[0] == 503, 2, "readiness went false")
        assert json.loads(get(f"{server.base}/readyz")[1]) == {"ready": False, "reasons": ["shutting down"]}
        assert server.command(slack, SLACK_IDS["alice"], "@bob late one", "t-late", secret=SIGNING_SECRET) == 200

        def refused() -> bool:
            try:
                get(f"{server.base}/healthz", timeout=1)
            except OSError:
                return True
            return False

        until(refused, 5, "the server stopped listening")
        server.process.wait(timeout=15)
    finally:
        server.stop()
    assert server.process.returncode == 0
    store = open_store(str(tmp_path / "servechain.json"))
    try:
        assert [r.text for r in store.iter_requests("default")] == ["late one"], "the command taken while draining ran"
        assert store.count_inbox("default", state="pending") == 0
    finally:
        store.close()
    log = (tmp_path / "serve.log").read_text()
    assert log.index("/readyz answers 503") < log.index("no longer accepting requests") < log.index("stopped")


def test_sigterm_hands_back_acknowledged_commands_not_yet_started_and_finishes_those_running(
    tmp_path: Path, slack: FakeSlackApi
) -> None:
    """Slack is slow (every response_url post takes 1.5 s), so acknowledged commands queue up
    behind the four running ones. On SIGTERM the running ones finish, the queued ones are handed
    back at once (nobody holds them, their lease is over), and the next process runs each once."""
    slack.delay("response_url", 1.5)
    commands = 12
    server = start_server(tmp_path, slack, SHUTDOWN_DRAIN_SECONDS="0", SHUTDOWN_GRACE_SECONDS="20")
    try:
        for index in range(commands):
            status = server.command(
                slack, SLACK_IDS["alice"], f"@bob queued {index}", f"t-q{index}", secret=SIGNING_SECRET
            )
            assert status == 200
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        stopped_at = time.time()
    finally:
        server.stop()
    assert server.process.returncode == 0
    store = open_store(str(tmp_path / "servechain.json"))
    try:
        ran = [r.text for r in store.iter_requests("default")]
        pending = [
            item
            for index in range(commands)
            if (item := store.get_inbox_item("default", f"slack:cmd:{TEAM}:t-q{index}")) is not None
            and item.state == "pending"
        ]
        assert store.count_inbox("default", state="pending") == len(pending) == commands - len(ran)
        assert len(ran) >= 1, "the commands already running finished"
        assert pending, "commands not yet started were handed back, not run during the shutdown"
        for item in pending:
            assert item.owner == "" and item.lease_until.timestamp() <= stopped_at, item
    finally:
        store.close()

    slack.delay("response_url", 0)
    again = start_server(tmp_path, slack)
    try:

        def all_ran() -> bool:
            return len([c for c in slack.calls("response_url") if c.status == 200]) >= commands

        until(all_ran, 30, "the next process ran what was handed back")
    finally:
        again.stop()
    store = open_store(str(tmp_path / "servechain.json"))
    try:
        texts = sorted(r.text for r in store.iter_requests("default"))
        assert texts == sorted(f"queued {index}" for index in range(commands)), "each command ran once"
        assert store.count_inbox("default", state="pending") == 0
    finally:
        store.close()
    answered = [c.params["_name"] for c in slack.calls("response_url") if c.status == 200]
    assert sorted(answered) == sorted(f"cmd-t-q{index}" for index in range(commands)), "each answered once"
