"""Shared kit for the fault drills and fuzzing: the Slack app and its fake Web API with the small
org already linked to Slack users, and ways to read what reached Slack, per message key."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.ports import Store
from tests.conftest import small_org
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import TEAM, USERS, SlackHarness

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
