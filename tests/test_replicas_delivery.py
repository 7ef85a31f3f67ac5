"""Two ``servechain serve`` processes on one embedded store file share the delivery work
against a Slack Web API that takes 0.2 s per call: every card is posted once, each DM's cards
in request order, and both processes posted some (each has its own bot token, so the fake can
tell whose worker sent what). The PostgreSQL side of the same guarantee (``FOR UPDATE SKIP
LOCKED``) is covered by the two-dispatcher drill in ``tests/test_delivery_concurrency.py`` and
by ``benchmarks/delivery_bench.py`` with two replicas."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from storage.tinydb_store import TinyDBStore
from tests.drills import Served, posts_per_key, seed_linked_org
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import TEAM, USERS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

COMMANDS = 30
PAIRS = [("U0ALICE", "U0BOB|bob"), ("U0CAROL", "U0DAVE|dave"), ("U0ERIN", "U0BOB|bob"), ("U0DAVE", "U0CAROL|carol")]


def test_two_processes_on_one_store_file_share_delivery_and_send_nothing_twice(tmp_path: Path) -> None:
    db = tmp_path / "servechain.json"
    seeded = TinyDBStore(db)
    seed_linked_org(seeded)
    seeded.close()
    with FakeSlackApi(team_id=TEAM, latency=0.2) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        replicas = [
            # two sends at once each: the five DMs (lanes, one send in flight each) can't all be held
            # by one process, so both must take work
            Served(
                db,
                fake.url,
                tmp_path / f"serve-{n}.log",
                env={"SLACK_BOT_TOKEN": f"xoxb-replica-{n}-not-real", "DELIVERY_CONCURRENCY": "2"},
            )
            for n in range(2)
        ]
        try:
            for n in range(COMMANDS):
                requester, provider = PAIRS[n % len(PAIRS)]
                status = replicas[n % 2].command(fake, requester, f"<@{provider}> figures for item {n}", f"rep.{n}")
                assert status == 200
            deadline = time.monotonic() + 60
            while any(r.pending() for r in replicas) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert replicas[0].pending() == 0, "the outbox drained"
        finally:
            for replica in replicas:
                replica.stop()
    store = TinyDBStore(db)
    try:
        outbox = {i.message.key: i for i in store.list_outbox("default")}
        assert len(store.find_requests("default")) == COMMANDS
    finally:
        store.close()
    twice = {key: n for key, n in posts_per_key(fake).items() if n > 1}
    assert not twice, f"posted more than once: {twice}"
    cards = [key for key in posts_per_key(fake) if ":provider_card:" in key or ":requester_card:" in key]
    assert len(cards) == 2 * COMMANDS
    by_token = Counter(c.token for c in fake.calls("chat.postMessage"))
    assert len(by_token) == 2 and min(by_token.values()) >= 5, f"both processes delivered: {by_token}"
    order: dict[tuple[str, str], list[int]] = defaultdict(list)
    for call in sorted(fake.calls("chat.postMessage"), key=lambda c: c.at):
        key = str(((call.params.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
        if key in outbox and outbox[key].message.request is not None:
            order[(call.params["channel"], outbox[key].message.kind)].append(outbox[key].message.request or 0)
    assert all(numbers == sorted(numbers) for numbers in order.values()), f"cards out of order: {dict(order)}"
