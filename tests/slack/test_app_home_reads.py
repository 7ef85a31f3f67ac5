"""App Home refreshes after a change cost the command as few store reads as they can: the touched
people's "opened their home" marks are read in one round trip, nobody is loaded on the command's
path, and a home opened on another replica (another process on the same store) is still refreshed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from slack_sdk import WebClient

from bot.ports import Store
from bot.privacy import forget_person
from handlers.slack.home import OPENED_DOC, SEEN_DOC
from storage.tinydb_store import TinyDBStore
from tests.conftest import NOW, small_org
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, TEAM, SlackHarness
from tests.slack.test_app_home_limits import RecordingHomes, SimClock, drain, person, refresher

HOME_KINDS = (SEEN_DOC, OPENED_DOC)


class CountingStore:
    """A store that counts the calls made to it, by method (document reads also by kind)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr
        method = cast(Callable[..., Any], attr)

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                if name in ("get_doc", "get_docs") and args:
                    self.calls[f"{name}:{args[0]}"] += 1
            return method(*args, **kwargs)

        return counted

    def home_reads(self) -> int:
        """Reads that only serve App Home refreshes: people loaded and "opened" marks read."""
        marks = sum(self.calls[f"{method}:{kind}"] for method in ("get_doc", "get_docs") for kind in HOME_KINDS)
        return self.calls["get_person"] + marks


@pytest.fixture
def counting(tmp_path: Path) -> Iterator[CountingStore]:
    inner = TinyDBStore(tmp_path / "counted.json")
    people, teams = small_org()
    inner.save_org(people, teams)
    try:
        yield CountingStore(inner)
    finally:
        inner.close()


def test_a_command_for_people_who_never_opened_their_home_reads_their_marks_once_and_loads_nobody(
    counting: CountingStore, fake: FakeSlackApi
) -> None:
    harness = SlackHarness(cast(Store, counting), fake)
    try:
        for n in range(2):  # first contact links alice and bob to their Slack users
            harness.command("U0ALICE", f"<@U0BOB|bob> warm-up {n}")
            harness.settle()
        counting.calls.clear()
        commands = 10
        for n in range(commands):
            harness.command("U0ALICE", f"<@U0BOB|bob> need the Q{n} numbers")
            harness.settle()
    finally:
        harness.stop()

    assert fake.calls("views.publish") == [], "neither alice nor bob ever opened their App Home"
    # Per command: one read of alice's and bob's marks together, and the one load of the card's
    # recipient that delivery makes. Before: alice and bob loaded, and each one's mark read (5).
    assert counting.home_reads() <= 2 * commands, dict(counting.calls)
    assert counting.calls[f"get_docs:{OPENED_DOC}"] == commands
    assert counting.calls[f"get_doc:{SEEN_DOC}"] == 0


@pytest.fixture(params=["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_handles(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two handles on one store holding the small org, as two replicas (processes) open it."""
    opened: list[Store] = []
    for _ in range(2):
        if request.param == "tinydb":
            opened.append(TinyDBStore(tmp_path / "shared.json"))
        else:
            from storage.postgres import PostgresStore
            from tests.pg import postgres_url

            opened.append(PostgresStore(postgres_url()))
    reset = getattr(opened[0], "reset", None)
    if callable(reset):
        reset()
    people, teams = small_org()
    opened[0].save_org(people, teams)
    try:
        yield opened[0], opened[1]
    finally:
        for store in opened:
            store.close()


def test_a_home_opened_on_another_replica_is_refreshed_after_a_change(
    two_handles: tuple[Store, Store], fake: FakeSlackApi
) -> None:
    here = SlackHarness(two_handles[0], fake)
    elsewhere = SlackHarness(two_handles[1], fake)
    try:
        here.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")  # here learns alice had not opened it
        here.settle()
        assert fake.calls("views.publish") == []

        elsewhere.home_after_opening("U0ALICE")
        elsewhere.settle()
        fake.clear()

        here.command("U0ALICE", "<@U0BOB|bob> and the Q4 ones")
        here.settle()
        published_for = [c.params["user_id"] for c in fake.calls("views.publish")]
        assert published_for == ["U0ALICE"], "alice opened her home on the other replica; bob never did"
        assert "R-2" in str(fake.calls("views.publish")[-1].params["view"])
    finally:
        elsewhere.stop()
        here.stop()


def test_a_home_opened_before_marks_by_person_existed_is_still_refreshed(harness: SlackHarness, store: Store) -> None:
    store.put_doc(SEEN_DOC, "default", "U0ALICE", {"seen": True})  # what earlier versions wrote on opening

    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()

    assert [c.params["user_id"] for c in harness.fake.calls("views.publish")] == ["U0ALICE"]
    assert store.get_doc(OPENED_DOC, "default", "P-alice") == {"slack": {TEAM: "U0ALICE"}}


def test_a_kept_mark_of_someone_erased_since_publishes_nothing(harness: SlackHarness, store: Store) -> None:
    harness.home_after_opening("U0ALICE")  # this process now knows alice opened her home
    harness.settle()
    forget_person(store=store, workspace="default", handle="alice", now=NOW, actor="test")  # e.g. from the CLI
    assert store.get_doc(OPENED_DOC, "default", "P-alice") is None, "erasure deletes the mark"
    harness.fake.clear()

    client = WebClient(token=BOT_TOKEN, base_url=harness.fake.url)
    harness.slack.homes.changed(client, {"P-alice"}, TEAM)
    harness.settle()

    assert harness.fake.calls("views.publish") == []


def test_a_queued_refresh_moves_ahead_when_its_person_opens_the_tab() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={f"U{n:04d}" for n in range(5)})
    homes_refresher = refresher(homes, clock)
    homes_refresher.refresh(object(), [person(n) for n in range(5)], TEAM)  # type: ignore[arg-type]
    clock.sleep(1.0)
    homes_refresher.opened(object(), person(3), "U0003")  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert [user for _at, user, _state in homes.published] == ["U0003", "U0000", "U0001", "U0002", "U0004"]
