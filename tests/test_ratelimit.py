"""The platforms' published rate limits (``bot.ratelimit``), on a simulated clock: every send
waits exactly as long as the windows require, per conversation and per workspace or tenant,
whatever the kind of message; a Retry-After pauses the conversation; and the delivery worker
keeps them while it sends concurrently."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.delivery import Dispatcher
from bot.models import Message, OutboxItem, Person
from bot.ratelimit import PLATFORM_RULES, RateLimiter, Window, shared_by
from bot.settings import Settings
from handlers.runtime import Runtime
from storage.tinydb_store import TinyDBStore
from tests.contract.factories import person


class SimClock:
    """Monotonic seconds that move only when someone sleeps (a send waiting for its turn)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _send_all(limiter: RateLimiter, clock: SimClock, sends: Sequence[tuple[str, str, str, str]]) -> list[float]:
    """Book each ``(platform, scope, conversation, op)`` in turn, sleeping as told; when each went."""
    times = []
    for platform, scope, conversation, op in sends:
        wait = limiter.reserve(platform=platform, scope=scope, conversation=conversation, op=op)
        assert wait <= limiter.horizon
        clock.sleep(wait)
        times.append(clock())
    return times


def _worst(times: Sequence[float], window: Window) -> int:
    """The most sends in any ``window.seconds`` (half-open) of ``times``."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window.seconds) for start in ordered)


def test_slack_lets_a_short_burst_into_a_conversation_then_about_one_a_second() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)

    times = _send_all(limiter, clock, [("slack", "acme", "D1", "post")] * 12)

    assert times[:3] == [0.0, 0.0, 0.0], "a short burst goes at once"
    assert times[3:6] == [3.0, 3.0, 3.0] and times[-1] == 9.0
    assert _worst(times, Window(3, 3.0)) == 3
    assert len(times) / times[-1] <= 1.34


def test_slack_conversations_do_not_wait_for_each_other() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)

    times = _send_all(limiter, clock, [("slack", "acme", f"D{n}", "post") for n in range(40)])

    assert times == [0.0] * 40


def test_slack_card_updates_share_the_workspaces_tier_3_budget() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock, horizon=120)

    times = _send_all(limiter, clock, [("slack", "acme", f"D{n}", "update") for n in range(120)])

    assert _worst(times, Window(50, 60.0)) == 50
    assert times[49] == 0.0 and times[50] == 60.0 and times[100] == 120.0
    other = limiter.reserve(platform="slack", scope="globex", conversation="D1", op="update")
    assert other == 0.0, "another workspace has its own budget"


def test_teams_keeps_every_per_conversation_window_for_every_kind_of_message() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock, horizon=3600)
    kinds = ["post", "update"]

    times = _send_all(limiter, clock, [("teams", "tenant", "chat-1", kinds[n % 2]) for n in range(200)])

    for window in (Window(7, 1.0), Window(8, 2.0), Window(60, 30.0), Window(1800, 3600.0)):
        assert _worst(times, window) <= window.count, window
    assert _worst(times, Window(8, 2.0)) == 8 and _worst(times, Window(60, 30.0)) == 60
    assert times[59] < 30.0 <= times[60], "60 in the first 30 s, then the 30 s window holds the next"


def test_teams_tenant_allows_50_a_second_across_conversations() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)

    times = _send_all(limiter, clock, [("teams", "tenant", f"chat-{n}", "post") for n in range(150)])

    assert _worst(times, Window(50, 1.0)) == 50
    assert times[49] == 0.0 and times[50] == 1.0 and times[149] == 2.0


def test_the_hour_window_of_a_teams_conversation() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock, horizon=3600)

    times = _send_all(limiter, clock, [("teams", "tenant", "chat-1", "post")] * 1801)

    assert _worst(times, Window(1800, 3600.0)) == 1800
    assert times[-1] >= 3600.0


def test_retry_after_pauses_the_conversation_only() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock, horizon=60)

    limiter.pause(platform="slack", key="D1", seconds=30)

    assert limiter.reserve(platform="slack", scope="acme", conversation="D1", op="post") == 30.0
    assert limiter.reserve(platform="slack", scope="acme", conversation="D2", op="post") == 0.0


def test_a_wait_beyond_the_horizon_is_reported_but_not_booked() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock, horizon=5)
    limiter.pause(platform="teams", key="chat-1", seconds=30)

    assert limiter.reserve(platform="teams", scope="tenant", conversation="chat-1") == 30.0
    assert limiter.reserve(platform="teams", scope="tenant", conversation="chat-2") == 0.0, "the tenant was not booked"


def test_platforms_without_published_limits_are_not_limited() -> None:
    clock = SimClock()
    limiter = RateLimiter(clock=clock)

    assert _send_all(limiter, clock, [("console", "ws", "me", "post")] * 20) == [0.0] * 20
    assert set(PLATFORM_RULES) == {"slack", "teams"}


def test_two_replicas_together_keep_the_teams_tenant_limit_and_each_conversations_own() -> None:
    """Two processes, each with its own limiter split for two replicas, send to many chats of one
    tenant as fast as they may: together never more than 50 in a second, and a conversation
    still gets its whole burst in either of them."""
    clock = SimClock()
    rules = shared_by(PLATFORM_RULES, 2)
    replicas = [RateLimiter(rules, clock=clock, horizon=3600), RateLimiter(rules, clock=clock, horizon=3600)]

    times = []
    for n in range(200):  # interleaved, as two replicas sending at once would
        limiter = replicas[n % 2]
        wait = limiter.reserve(platform="teams", scope="tenant", conversation=f"chat-{n}", op="post")
        times.append(clock() + wait)

    assert _worst(times, Window(50, 1.0)) == 50, "together at the tenant's limit, not twice it"
    burst = _send_all(replicas[0], clock, [("teams", "tenant-2", "chat-x", "post")] * 7)
    assert burst == [clock()] * 7, "one conversation's 7 a second are not split"


def test_without_a_split_two_replicas_would_send_twice_the_tenants_limit() -> None:
    clock = SimClock()
    replicas = [RateLimiter(clock=clock, horizon=3600), RateLimiter(clock=clock, horizon=3600)]

    times = [
        clock() + replicas[n % 2].reserve(platform="teams", scope="tenant", conversation=f"chat-{n}", op="post")
        for n in range(200)
    ]

    assert _worst(times, Window(50, 1.0)) == 100


def test_the_split_divides_every_workspace_and_tenant_window_and_no_conversation_window() -> None:
    rules = shared_by(PLATFORM_RULES, 3)

    for platform, platform_rules in PLATFORM_RULES.items():
        for whole, share in zip(platform_rules, rules[platform], strict=True):
            expected = [Window(max(1, w.count // 3), w.seconds) if whole.per == "scope" else w for w in whole.windows]
            assert list(share.windows) == expected, whole.name
    assert shared_by(PLATFORM_RULES, 1) == {k: tuple(v) for k, v in PLATFORM_RULES.items()}
    assert shared_by({"slack": PLATFORM_RULES["slack"]}, 1000)["slack"][3].windows == (Window(1, 60.0),)


def test_delivery_replicas_sets_the_runtimes_share(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "share.json")
    try:
        settings = Settings(delivery_replicas=2, slack_bot_token=None, slack_signing_secret=None)  # type: ignore[arg-type]
        runtime = Runtime(settings=settings, store=store, background=False)
        assert runtime.limiter is not None
        tenant = next(rule for rule in runtime.limiter.rules["teams"] if rule.name == "tenant")
        assert tenant.windows == (Window(25, 1.0),)
    finally:
        store.close()


def test_the_delivery_worker_sends_within_slacks_limits_while_concurrent() -> None:
    """Ten messages to one person and one each to ten others, 16 workers: the others go at once,
    the one conversation gets its burst and then about one a second, in order."""
    clock = SimClock()
    limiter = RateLimiter(clock=clock)
    start = datetime(2026, 11, 30, 9, tzinfo=UTC)

    with tempfile.TemporaryDirectory() as folder:
        store = TinyDBStore(Path(folder) / "limits.json")
        people = [person(f"p{n}") for n in range(11)]
        store.save_org(people)
        items = []
        for n in range(10):
            items.append(_item(f"busy-{n}", "P-p0", start + timedelta(milliseconds=n)))
            items.append(_item(f"other-{n}", f"P-p{n + 1}", start + timedelta(milliseconds=n)))
        store.enqueue(items)
        sent: list[tuple[str, float]] = []
        lock = threading.Lock()

        class Slack:
            platform = "slack"

            def can_reach(self, person: Person) -> bool:
                return True

            def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
                with lock:
                    sent.append((message.key, clock()))
                return "ref"

        with Dispatcher(
            store=store,
            notifiers=[Slack()],
            clock=lambda: start + timedelta(seconds=clock()),
            concurrency=16,
            limiter=limiter,
            sleep=clock.sleep,
        ) as dispatcher:
            dispatcher.drain()
        store.close()

    busy = [at for key, at in sent if key.startswith("busy-")]
    assert [key for key, _ in sent if key.startswith("busy-")] == [f"busy-{n}" for n in range(10)]
    assert _worst(busy, Window(3, 3.0)) <= 3 and busy[-1] >= 9.0
    assert all(at < 3.0 for key, at in sent if key.startswith("other-")), "the other conversations did not wait"


def _item(key: str, recipient: str, at: datetime) -> OutboxItem:
    message = Message(key=key, recipient_id=recipient, kind="text", title=key)
    return OutboxItem(key=key, message=message, created_at=at, next_attempt_at=at.replace(microsecond=0))
