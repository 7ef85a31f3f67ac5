"""Acknowledged means durable: a real ``servechain serve`` is SIGKILLed right after a burst of
signed ``/request`` commands got their 200s, then started again. Every acknowledged command
must end up as exactly one request, and its requester must get an answer, after the restart.

Before the inbox, acknowledged commands waited in an in-memory thread pool and most of a
burst was lost with the process (Slack never retries a slash command that got 200).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.ports import Store
from storage import open_store
from tests.drills import SLACK_IDS, Served, seed_linked_org, until
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import TEAM, USERS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("SERVECHAIN_DRILL_ROUNDS", "2"))
"""The issue's drill is 5 rounds (``SERVECHAIN_DRILL_ROUNDS=5``); CI runs 2 to stay quick."""
BURST = 300
CLIENTS = 32
INBOX_LEASE = 2.0


def start(db: Path, api_url: str, log: Path) -> Served:
    """``servechain serve`` whose inbox leases run out quickly, so a restart takes over soon."""
    return Served(db, api_url, log, env={"INBOX_LEASE_SECONDS": str(INBOX_LEASE)})


def post(server: Served, fake: FakeSlackApi, user: str, trigger: str, text: str) -> int:
    """A signed /request answered at the response_url named after its trigger; 0 when the
    process is gone (not acknowledged)."""
    try:
        return server.command(fake, user, text, trigger, reply_to=trigger)
    except OSError:
        return 0


def test_sigkill_right_after_a_burst_loses_no_acknowledged_command(tmp_path: Path) -> None:
    db = tmp_path / "servechain.json"
    store: Store = open_store(str(db))
    seed_linked_org(store)
    store.close()
    requesters = [SLACK_IDS[h] for h in ("alice", "carol", "dave", "erin")]
    with FakeSlackApi(team_id=TEAM) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        acked: dict[str, str] = {}  # trigger -> text, for every command that got its 200
        for round_ in range(ROUNDS):
            server = start(db, fake.url, tmp_path / f"serve-{round_}.log")
            triggers = [f"r{round_}-{i:03d}" for i in range(BURST)]

            def send(index: int, server: Served = server, triggers: list[str] = triggers) -> tuple[str, int]:
                trigger = triggers[index]
                return trigger, post(
                    server, fake, requesters[index % len(requesters)], trigger, f"@bob drill {trigger}"
                )

            with ThreadPoolExecutor(CLIENTS) as clients:
                answers = list(clients.map(send, range(BURST)))
            time.sleep(0.02)
            server.kill()
            round_acked = [t for t, status in answers if status == 200]
            acked.update({t: f"drill {t}" for t in round_acked})
            check = open_store(str(db))
            stored_at_kill = sum(1 for r in check.iter_requests("default") if r.text.startswith("drill r"))
            check.close()
            print(f"round {round_}: {len(round_acked)} acknowledged, {stored_at_kill} stored when killed")

            server = start(db, fake.url, tmp_path / f"serve-{round_}-restart.log")
            try:

                def all_stored() -> bool:
                    s = open_store(str(db))
                    try:
                        return sum(1 for r in s.iter_requests("default") if r.text.startswith("drill r")) >= len(acked)
                    finally:
                        s.close()

                def all_answered(round_acked: list[str] = round_acked) -> bool:
                    names = {c.params.get("_name") for c in fake.calls("response_url")}
                    return all(t in names for t in round_acked)

                until(all_stored, 60, "every acknowledged command is stored")
                until(all_answered, 60, "every requester of an acknowledged command got an answer")
            finally:
                server.stop()

    final = open_store(str(db))
    texts = Counter(r.text for r in final.iter_requests("default") if r.text.startswith("drill r"))
    numbers = sorted(r.number for r in final.iter_requests("default"))
    final.close()
    lost = [t for t, text in acked.items() if texts[text] == 0]
    duplicated = [text for text, n in texts.items() if n > 1]
    print(f"acknowledged {len(acked)}, lost {len(lost)}, duplicated {len(duplicated)}")
    assert lost == []
    assert duplicated == []
    assert set(texts) <= set(acked.values()), "only acknowledged commands were created"
    assert numbers == list(range(1, len(numbers) + 1)), "request numbers stay gapless"
