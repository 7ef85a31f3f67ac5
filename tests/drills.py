"""Shared kit for the fault drills and fuzzing: the Slack app and its fake Web API with the small
org already linked to Slack users, and ways to read what reached Slack, per message key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.ports import Store
from tests.conftest import small_org
from tests.fakes.slack_api import FakeSlackApi
from tests.pgserve import QUIET_CALENDAR
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, USERS, SlackHarness, signed_slash_command

ROOT = Path(__file__).resolve().parents[1]

SLACK_IDS = {email.split("@")[0]: user for user, (_name, email, _tz) in USERS.items()}
"""handle -> Slack user id, for the people of the small org who are on Slack."""


def seed_linked_org(store: Store) -> None:
    """The small org, each person already linked to their Slack user (no users.info needed)."""
    people, teams = small_org()
    linked = [
        p.model_copy(update={"slack_ids": {TEAM: SLACK_IDS[p.handle]}}) if p.handle in SLACK_IDS else p for p in people
    ]
    store.save_org(linked, teams)


@contextmanager
def slack_app(store: Store, **settings: Any) -> Iterator[SlackHarness]:
    """A running Slack app (deliveries driven by ``settle``) over ``store`` and a fresh fake;
    ``settings`` override the harness's."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_"))}
    fake = FakeSlackApi(team_id=TEAM).start()
    for user_id, (name, email, tz) in USERS.items():
        fake.add_user(user_id, name, email=email, tz=tz)
    harness = SlackHarness(store, fake, **settings)
    try:
        yield harness
    finally:
        harness.stop()
        fake.stop()
        os.environ.update(saved)


def posts_per_key(fake: FakeSlackApi) -> Counter[str]:
    """How many messages Slack holds per outbox key (from their metadata)."""
    return Counter(fake.posted_keys())


def top_level_cards(fake: FakeSlackApi, store: Store) -> Counter[str]:
    """How many top-level messages Slack holds per card key."""
    card_of = {item.message.key: item.message.card_key for item in store.list_outbox("default")}
    counts: Counter[str] = Counter()
    with fake._lock:
        posted = list(fake.messages.values())
    for params in posted:
        meta = params.get("metadata") or {}
        key = (meta.get("event_payload") or {}).get("key")
        if key and not params.get("thread_ts") and card_of.get(key):
            counts[str(card_of[key])] += 1
    return counts


class Served:
    """``servechain serve`` as a child process on 127.0.0.1 and a free port, over one store file."""

    def __init__(self, db: Path, api_url: str, log: Path, *, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        extra = env
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_"))}
        env.update(QUIET_CALENDAR)  # no wall-clock digest or pulse (see tests.pgserve.QUIET_CALENDAR)
        env.update(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=api_url,
            SLACK_TEAM_IDS=TEAM,  # Slack is down at the first command: auth.test can't name the home team
            SERVECHAIN_DB=str(db),
            SERVECHAIN_LOG_LEVEL="WARNING",
        )
        env.update(extra or {})
        command = [sys.executable, "-m", "handlers.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = log.open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self._wait_ready()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "servechain serve exited at start-up"
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("servechain serve did not come up")

    def command(
        self,
        fake: FakeSlackApi,
        user: str,
        text: str,
        trigger: str,
        command: str = "/request",
        *,
        reply_to: str | None = None,
    ) -> int:
        """POST one signed slash command; its response_url is named ``reply_to`` (default ``cmd-<user>``)."""
        body, headers = signed_slash_command(
            fake, user=user, text=text, trigger=trigger, reply_to=reply_to or f"cmd-{user}", command=command
        )
        request = urllib.request.Request(f"{self.base}/slack/events", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)

    def pending(self) -> int:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as answer:
            return int(json.loads(answer.read())["outbox_pending"])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds, or fail saying ``what`` did not happen in ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


@contextmanager
def fake_slack(**options: Any) -> Iterator[FakeSlackApi]:
    """The fake Slack Web API (``options`` to :class:`FakeSlackApi`) knowing the small org's users."""
    with FakeSlackApi(team_id=TEAM, **options) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        yield fake
