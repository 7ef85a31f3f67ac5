"""Delivery in a process of its own beside ``servechain serve`` (``DELIVERY_PROCESS``,
:mod:`handlers.delivery_process`): cards go out from it, it is started again when it dies, it
dies with the server, and its counts reach the server's ``/metrics``.

The server is a real ``servechain serve`` child process on an embedded store file (``on``; the
PostgreSQL replicas run it by default, ``auto``, in tests/test_replicas.py and
tests/test_postgres_resilience.py) against the fake Slack Web API on a loopback port.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from handlers.delivery_process import NICENESS, wanted
from handlers.observability import Metrics
from storage.tinydb_store import TinyDBStore
from tests.drills import Served, fake_slack, posts_per_key, seed_linked_org, until
from tests.fakes.slack_api import FakeSlackApi

# --- the counts of two processes in one /metrics -------------------------------------------------


def _parsed(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exposition through Prometheus's own parser (which rejects a family named twice)."""
    names: list[str] = []
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        names.append(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    assert len(names) == len(set(names)), f"a family appears twice: {sorted(names)}"
    return samples


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_the_delivery_process_counts_are_added_to_the_servers_sample_by_sample() -> None:
    server, delivery = Metrics(), Metrics()
    server.platform_calls.labels("slack", "views.publish", "ok").inc(2)
    server.store_seconds.labels("accept_inbox").observe(0.002)
    delivery.platform_calls.labels("slack", "post", "ok").inc(5)  # a label set only the delivery process has
    delivery.store_seconds.labels("accept_inbox").observe(0.004)
    delivery.message_sent(platform="slack", seconds=0.3)
    delivery.ready.set(0)  # gauges stay the server's own
    server.ready.set(1)

    server.absorb("delivery-1", delivery.counts())
    seen = _parsed(server.render())
    assert (
        seen[_key("servechain_platform_api_calls_total", platform="slack", method="views.publish", outcome="ok")] == 2
    )
    assert seen[_key("servechain_platform_api_calls_total", platform="slack", method="post", outcome="ok")] == 5
    assert seen[_key("servechain_store_operation_seconds_count", operation="accept_inbox")] == 2
    assert seen[_key("servechain_store_operation_seconds_sum", operation="accept_inbox")] == pytest.approx(0.006)
    assert seen[_key("servechain_store_operation_seconds_bucket", operation="accept_inbox", le="0.0025")] == 1
    assert seen[_key("servechain_store_operation_seconds_bucket", operation="accept_inbox", le="0.005")] == 2
    assert seen[_key("servechain_delivery_latency_seconds_count", platform="slack")] == 1
    assert seen[_key("servechain_ready")] == 1

    # A newer report from the same process replaces its older one; a restarted process reports
    # under a new source and the one before keeps its last counts, so totals never go back.
    delivery.platform_calls.labels("slack", "post", "ok").inc(1)
    server.absorb("delivery-1", delivery.counts())
    restarted = Metrics()
    restarted.platform_calls.labels("slack", "post", "ok").inc(4)
    server.absorb("delivery-2", restarted.counts())
    seen = _parsed(server.render())
    assert seen[_key("servechain_platform_api_calls_total", platform="slack", method="post", outcome="ok")] == 10


def test_counts_carry_counters_and_histograms_only() -> None:
    metrics = Metrics()
    kinds = {family.type for family in metrics.counts()}
    assert kinds <= {"counter", "histogram"}
    assert {Counter._type, Histogram._type} <= kinds
    assert Gauge._type not in kinds
    assert not [f.name for f in metrics.counts() if not f.name.startswith("servechain_")], "only servechain's own"


@pytest.mark.parametrize(
    ("setting", "db", "expected"),
    [
        ("auto", "postgresql://postgres@127.0.0.1:5432/servechain", True),
        ("auto", "servechain.json", False),
        ("on", "servechain.json", True),
        ("off", "postgresql://postgres@127.0.0.1:5432/servechain", False),
    ],
)
def test_auto_means_a_delivery_process_with_postgresql_only(setting: str, db: str, expected: bool) -> None:
    settings = Settings(_env_file=None, delivery_process=setting, servechain_db=db)  # type: ignore[call-arg]
    assert wanted(settings) is expected


# --- a real serve with its delivery process -------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    with fake_slack() as api:
        yield api


def _serve(tmp_path: Path, fake: FakeSlackApi) -> Served:
    db = tmp_path / "servechain.json"
    if not db.exists():
        seeded = TinyDBStore(db)
        seed_linked_org(seeded)
        seeded.close()
    return Served(db, fake.url, tmp_path / "serve.log", env={"DELIVERY_PROCESS": "on"})


def _health(server: Served) -> dict[str, object]:
    with urllib.request.urlopen(f"{server.base}/healthz", timeout=5) as answer:
        body: dict[str, object] = json.loads(answer.read())
    return body


def _delivery(server: Served) -> dict[str, int | None]:
    delivery = _health(server)["delivery"]
    assert isinstance(delivery, dict)
    return delivery


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped yet has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cards(fake: FakeSlackApi) -> int:
    return len([call for call in fake.calls("chat.postMessage") if call.status == 200])


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_cards_go_out_from_the_delivery_process_which_comes_back_when_killed(
    tmp_path: Path, fake: FakeSlackApi
) -> None:
    server = _serve(tmp_path, fake)
    try:
        first = _delivery(server)
        child = first["process"]
        assert isinstance(child, int) and child != server.process.pid
        assert _parent_of(child) == server.process.pid and first["restarts"] == 0
        assert _nice_of(child) == _nice_of(server.process.pid) + NICENESS, "acks first when CPU is short"
        assert server.command(fake, "U0ALICE", "<@U0BOB|bob> numbers for Q3", "1.1.a") == 200
        until(lambda: _cards(fake) >= 2, 15, "the provider's and the requester's cards were posted")

        os.kill(child, signal.SIGKILL)  # the delivery process dies; the server lives on
        assert server.command(fake, "U0CAROL", "<@U0DAVE|dave> the budget", "1.2.a") == 200
        until(lambda: _delivery(server)["restarts"] == 1, 15, "the server noticed")
        until(lambda: isinstance(_delivery(server)["process"], int), 15, "another delivery process started")
        again = _delivery(server)["process"]
        assert again != child and isinstance(again, int) and _parent_of(again) == server.process.pid
        until(lambda: _cards(fake) >= 4, 30, "the card queued while it was down went out from the new one")
        assert server.pending() == 0
    finally:
        server.stop()
    assert server.process.returncode == 0, "SIGTERM: the server stopped its delivery process in order"
    assert not _running(again), "the delivery process ended with the server"
    assert not [key for key, n in posts_per_key(fake).items() if n > 1], "nothing was posted twice"


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_the_delivery_process_dies_with_a_killed_server(tmp_path: Path, fake: FakeSlackApi) -> None:
    server = _serve(tmp_path, fake)
    try:
        child = _delivery(server)["process"]
        assert isinstance(child, int)
    finally:
        server.kill()
    until(lambda: not _running(child), 10, "the delivery process died with the server (SIGKILL)")
