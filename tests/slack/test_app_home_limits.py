"""App Home publishes go through the process's rate limiter (``views.publish`` is tier 4: about
100 a minute per workspace), as bulk work behind people's commands and clicks, and repeated
refreshes for one person coalesce into one publish of the latest state.

The first tests drive :class:`HomeRefresher` on a simulated clock with a recording publisher;
the last ones run the real Bolt app against the fake Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.models import Person
from bot.ratelimit import RateLimiter, Rule, Window
from handlers.slack.home import BUSY_POLL, MAX_DEFER, HomeRefresher
from tests.conftest import NOW
from tests.slack.conftest import TEAM, SlackHarness


class SimClock:
    """Monotonic seconds that only move when told (``sleep`` moves them)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingHomes:
    """Stands in for :class:`handlers.slack.home.HomePublisher`: records each publish with the
    simulated time and the person's state when it was drawn."""

    clock: SimClock
    workspace: str = "default"
    seen: set[str] = field(default_factory=set)
    state: dict[str, int] = field(default_factory=dict)
    published: list[tuple[float, str, int]] = field(default_factory=list)
    during_publish: Callable[[str], None] | None = None
    failures: list[Exception] = field(default_factory=list)

    def opened(self, user_id: str, person: Person | None = None) -> None:
        self.seen.add(user_id)

    def has_opened(self, user_id: str) -> bool:
        return user_id in self.seen

    def publish(self, client: object, person: Person, user_id: str, now: datetime) -> None:
        if self.failures:
            raise self.failures.pop(0)
        drawn = self.state.get(user_id, 0)
        if self.during_publish is not None:
            self.during_publish(user_id)
        self.published.append((self.clock.now, user_id, drawn))


def person(n: int) -> Person:
    return Person(id=f"P-{n}", handle=f"p{n}", name=f"Person {n}", slack_ids={TEAM: f"U{n:04d}"})


def refresher(homes: RecordingHomes, clock: SimClock, **kwargs: Any) -> HomeRefresher:
    """A refresher on the simulated clock, booking with a limiter of Slack's published rules on it."""
    limiter = kwargs.pop("limiter", None) or RateLimiter(clock=clock)
    return HomeRefresher(
        homes,  # type: ignore[arg-type]
        clock=lambda: NOW,
        limiter=limiter,
        monotonic=clock,
        sleep=clock.sleep,
        background=False,
        **kwargs,
    )


def drain(refresher: HomeRefresher, clock: SimClock, *, for_seconds: float = 3600) -> None:
    """Run the refresher as its thread would, moving the simulated clock over each wait."""
    end = clock.now + for_seconds
    while clock.now < end:
        wait = refresher.run_due()
        if wait is None:
            return
        clock.sleep(wait)


def rate_limited(retry_after: int) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/views.publish",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": str(retry_after)},
        status_code=429,
    )
    return SlackApiError("ratelimited", response)


def test_a_burst_of_refreshes_keeps_to_100_publishes_a_minute_and_every_home_goes_out() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock)
    people = [person(n) for n in range(250)]
    homes.seen.update(p.slack_ids[TEAM] for p in people)
    homes_refresher = refresher(homes, clock)

    homes_refresher.refresh(object(), people, TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    times = [at for at, _user, _state in homes.published]
    assert sorted(user for _at, user, _state in homes.published) == sorted(p.slack_ids[TEAM] for p in people)
    assert all(later - earlier >= 60 for earlier, later in zip(times, times[100:], strict=False))
    assert times[-1] - times[0] < 3 * 60, "the limit spaces them out, it does not stall them"


def test_repeated_refreshes_for_one_person_publish_once_with_the_latest_state() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001"})
    homes_refresher = refresher(homes, clock)

    for state in range(1, 6):
        homes.state["U0001"] = state
        homes_refresher.refresh(object(), [person(1)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert homes.published == [(homes.published[0][0], "U0001", 5)]


def test_a_change_while_a_home_is_being_published_publishes_it_again_afterwards() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001"})
    homes_refresher = refresher(homes, clock)
    changes = iter([2])

    def change_under_way(user_id: str) -> None:  # committed after the view was drawn
        for state in changes:
            homes.state[user_id] = state
            homes_refresher.refresh(object(), [person(1)], TEAM)  # type: ignore[arg-type]

    homes.during_publish = change_under_way
    homes.state["U0001"] = 1
    homes_refresher.refresh(object(), [person(1)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert [state for _at, _user, state in homes.published] == [1, 2]


def test_refreshes_wait_while_people_are_served_but_an_opened_home_goes_at_once() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001"})
    busy = [True]
    homes_refresher = refresher(homes, clock, busy=lambda: busy[0])

    homes_refresher.refresh(object(), [person(1)], TEAM)  # type: ignore[arg-type]
    homes_refresher.opened(object(), person(2), "U0002")  # type: ignore[arg-type]
    assert homes_refresher.run_due() == BUSY_POLL
    assert [user for _at, user, _state in homes.published] == ["U0002"]

    clock.sleep(1.0)
    assert homes_refresher.run_due() == BUSY_POLL, "still busy: the refresh keeps waiting"
    busy[0] = False
    drain(homes_refresher, clock)
    assert [user for _at, user, _state in homes.published] == ["U0002", "U0001"]


def test_a_refresh_goes_after_max_defer_even_if_people_keep_the_process_busy() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001"})
    homes_refresher = refresher(homes, clock, busy=lambda: True)
    asked_at = clock.now

    homes_refresher.refresh(object(), [person(1)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock, for_seconds=60)

    [(published_at, _user, _state)] = homes.published
    assert MAX_DEFER <= published_at - asked_at < MAX_DEFER + 2 * BUSY_POLL


def test_a_429_pauses_app_home_publishes_for_its_retry_after_and_the_home_goes_out_after() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001", "U0002"}, failures=[rate_limited(30)])
    limiter = RateLimiter(clock=clock)
    homes_refresher = refresher(homes, clock, limiter=limiter)
    started = clock.now

    homes_refresher.refresh(object(), [person(1), person(2)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert sorted(user for _at, user, _state in homes.published) == ["U0001", "U0002"]
    assert all(at - started >= 30 for at, _user, _state in homes.published), "nothing published during the pause"
    card = limiter.reserve(platform="slack", scope="default", conversation="default/P-1", op="post")
    assert card == 0, "people's messages are not held back by a views.publish pause"


def test_refreshes_skip_people_who_never_opened_their_home() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0001"})
    homes_refresher = refresher(homes, clock)

    homes_refresher.refresh(object(), [person(1), person(2)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert [user for _at, user, _state in homes.published] == ["U0001"]


def test_refreshes_for_people_who_never_opened_their_home_spend_none_of_the_publish_budget() -> None:
    clock = SimClock()
    homes = RecordingHomes(clock, seen={"U0999"})
    homes_refresher = refresher(homes, clock)
    started = clock.now

    homes_refresher.refresh(object(), [person(n) for n in range(150)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)
    homes_refresher.refresh(object(), [person(999)], TEAM)  # type: ignore[arg-type]
    drain(homes_refresher, clock)

    assert homes.published == [(started, "U0999", 0)], "published at once: nothing was booked for the others"


# --- the real app against the fake Web API ----------------------------------------------------


def _published(harness: SlackHarness, user: str) -> list[dict[str, Any]]:
    """The views Slack took for ``user``'s App Home (refused calls left out)."""
    return [
        c.params["view"]
        for c in harness.fake.calls("views.publish")
        if c.params["user_id"] == user and c.status == 200 and c.answer.get("ok")
    ]


def _until(check: Callable[[], bool], what: str, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _on_sim_clock(harness: SlackHarness, *rules: Rule) -> SimClock:
    """Give the app's App Home refresher a limiter with ``rules`` on a simulated clock."""
    clock = SimClock()
    homes = harness.slack.homes
    homes.limiter = RateLimiter({"slack": rules}, clock=clock)
    homes.monotonic = clock
    homes.sleep = clock.sleep
    return clock


def test_app_homes_opened_at_once_are_published_within_the_views_publish_limit(harness: SlackHarness) -> None:
    clock = _on_sim_clock(harness, Rule("views.publish", "scope", (Window(2, 60.0),), frozenset({"publish"})))

    for user in ("U0ALICE", "U0BOB", "U0CAROL"):
        assert harness.open_home(user).status == 200
    _until(lambda: len(harness.fake.calls("views.publish")) == 2, "two App Homes published")
    time.sleep(0.3)
    assert len(harness.fake.calls("views.publish")) == 2, "the third waits for the limit"

    clock.sleep(61)
    _until(lambda: len(harness.fake.calls("views.publish")) == 3, "the third App Home published after a minute")
    assert {c.params["user_id"] for c in harness.fake.calls("views.publish")} == {"U0ALICE", "U0BOB", "U0CAROL"}


def test_a_rate_limited_app_home_waits_out_retry_after_and_then_shows_the_latest_state(harness: SlackHarness) -> None:
    clock = _on_sim_clock(harness, Rule("views.publish", "scope", (Window(100, 60.0),), frozenset({"publish"})))
    harness.fake.fail("views.publish", "ratelimited", status=429, retry_after=30)

    assert harness.open_home("U0ALICE").status == 200
    _until(lambda: len(harness.fake.calls("views.publish")) == 1, "the publish was tried")
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    assert _published(harness, "U0ALICE") == [], "nothing got through while Slack said wait"

    clock.sleep(31)
    _until(lambda: len(_published(harness, "U0ALICE")) >= 1, "published after Retry-After")
    harness.settle()
    views = _published(harness, "U0ALICE")
    assert len(views) == 1, "the opening and the refresh after the command went out as one publish"
    assert "R-1" in json.dumps(views[-1])


def test_refreshes_during_a_slow_publish_coalesce_and_the_last_home_shows_every_change(harness: SlackHarness) -> None:
    harness.home_after_opening("U0ALICE")
    opened = len(_published(harness, "U0ALICE"))
    harness.fake.delay("views.publish", 1.0)

    for n in range(5):
        assert harness.command("U0ALICE", f"<@U0BOB|bob> item {n}").status == 200
    harness.settle()

    views = _published(harness, "U0ALICE")[opened:]
    assert 1 <= len(views) < 5, f"five changes, {len(views)} publishes: refreshes for one person coalesce"
    last = json.dumps(views[-1])
    assert all(f"R-{number}" in last for number in range(1, 6))
