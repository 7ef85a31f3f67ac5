"""The scheduler across several weeks of an org's life: every reminder once, also across a
restart and with two replicas on the same store file.

The script and every expected send are worked out by hand below (London is UTC in winter,
Tokyo UTC+9, New York UTC-5; working hours 09:00-18:00 Monday to Friday).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.claims import JobReport, claim_and_send
from bot.jobs import JobContext, JobRegistry, default_registry
from bot.models import ActionId, Message, Rating
from bot.nudges import NudgeJob, handle_nudge_action, sent_nudges, set_muted
from bot.ports import Store
from bot.scheduler import RunReport, Scheduler, run_forever
from bot.weeks import iso_week
from bot.workhours import DEFAULT_HOURS
from storage.tinydb_store import TinyDBStore
from tests.conftest import small_org
from tests.test_nudges import STEP, WS, Life, utc

START = utc(11, 23, 0)  # Monday
END = utc(12, 21, 16)  # four weeks later, Monday afternoon

EXPECTED: list[tuple[datetime, str, str]] = [
    # R-1 alice -> bob, Mon 23 Nov 10:00, acknowledged Wednesday
    (utc(11, 23, 14), "nudge:unacked:R-1:e0", "P-bob"),
    (utc(11, 24, 17), "escalate:R-1:e0", "P-dave"),  # Mon 10-18 + Tue 09-17
    # R-2 alice -> carol (Tokyo), Fri 27 Nov 17:00 Tokyo: 1h Friday + 3h Monday
    (utc(11, 30, 3), "nudge:unacked:R-2:e0", "P-carol"),  # Mon 12:00 Tokyo
    # 1h Fri + 9h Mon + 6h Tue -> Tue 15:00 Tokyo = 06:00 London, before dave's day starts
    (utc(12, 1, 9), "escalate:R-2:e0", "P-dave"),
    # R-3 erin -> bob, due Wed 2 Dec 20:00 London: held to Thursday morning
    (utc(12, 3, 9), "nudge:overdue:R-3:e0", "P-bob"),
    # R-4 overdue at 13:00, R-5 and R-6 unacknowledged at 13:00: one message
    (utc(12, 7, 13), "nudge:overdue:R-4:e0", "P-bob"),
    (utc(12, 7, 13), "nudge:unacked:R-5:e0", "P-bob"),
    (utc(12, 7, 13), "nudge:unacked:R-6:e0", "P-bob"),
    # nudged, snoozed from the message for 2h at 13:10, reminded at the next tick after 15:10
    (utc(12, 8, 13), "nudge:unacked:R-7:e0", "P-bob"),
    (utc(12, 8, 15, 15), "nudge:snoozed:R-7:P-bob:2026-12-08T15:10:00+00:00", "P-bob"),
    # snoozed for a working day before its nudge was due (Wed 09:30 -> Thu 09:30)
    (utc(12, 10, 9, 30), "nudge:snoozed:R-8:P-bob:2026-12-10T09:30:00+00:00", "P-bob"),
    (utc(12, 10, 9, 30), "nudge:unacked:R-8:e0", "P-bob"),
    (utc(12, 10, 16), "escalate:R-8:e0", "P-dave"),  # Wed 9h + Thu 7h; snoozes never hold escalations
    # R-9 alice -> erin, who muted nudges: only the escalation to frank
    (utc(12, 15, 16), "escalate:R-9:e0", "P-frank"),
    # R-10 alice -> bob, done, rated 1 at Mon 15:00: reminder after two working days (18h)
    (utc(12, 16, 15), "followup:recovery:R-10:e2", "P-bob"),
    # bob answers Thu 10:00 UTC (05:00 New York); alice's 18h end Friday 18:00 New York: Monday 09:00 NY
    (utc(12, 21, 14), "followup:answer:R-10:e3", "P-alice"),
]
EXPECTED_MESSAGES = 13  # R-4/5/6 share one message, so do R-8's two reminders
SUPPRESSED = [(utc(12, 14, 13), "nudge:unacked:R-9:e0")]


def _org_life(life: Life) -> None:
    """Four weeks of requests, acknowledgements, snoozes, a mute and a poor rating."""
    life.at(START, lambda now: set_muted(store=life.store, person=life.person("erin"), muted=True, now=now))
    life.create(utc(11, 23, 10), "alice", "bob", "Q3 numbers")
    life.act(utc(11, 25, 10), "bob", 1, ActionId.ACKNOWLEDGE)
    life.create(utc(11, 27, 8), "alice", "carol", "Tokyo office figures")
    life.act(utc(12, 1, 10), "carol", 2, ActionId.ACKNOWLEDGE)
    life.create(utc(12, 1, 9), "erin", "bob", "contract review", due_at=utc(12, 2, 20))
    life.act(utc(12, 1, 9, 30), "bob", 3, ActionId.ACKNOWLEDGE)
    life.act(utc(12, 3, 11), "bob", 3, ActionId.DONE)
    life.create(utc(12, 4, 10), "erin", "bob", "budget sheet", due_at=utc(12, 7, 13))
    life.act(utc(12, 4, 10, 30), "bob", 4, ActionId.ACKNOWLEDGE)
    life.create(utc(12, 7, 9), "alice", "bob", "invoice A")
    life.create(utc(12, 7, 9), "erin", "bob", "invoice B")
    life.act(utc(12, 7, 14), "bob", 4, ActionId.DONE)
    life.act(utc(12, 7, 14), "bob", 5, ActionId.ACKNOWLEDGE)
    life.act(utc(12, 7, 14), "bob", 6, ActionId.ACKNOWLEDGE)
    life.create(utc(12, 8, 9), "erin", "bob", "travel approval")

    def snooze_click(number: int, value: str) -> Callable[[datetime], object]:
        return lambda now: handle_nudge_action(
            store=life.store,
            actor=life.person("bob"),
            action="snooze",
            request=number,
            value=value,
            now=now,
            hours=DEFAULT_HOURS,
        )

    life.at(utc(12, 8, 13, 10), snooze_click(7, "2h"))
    life.act(utc(12, 8, 16), "bob", 7, ActionId.ACKNOWLEDGE)
    life.create(utc(12, 9, 9), "erin", "bob", "expense policy")
    life.at(utc(12, 9, 9, 30), snooze_click(8, "1d"))
    life.act(utc(12, 10, 17), "bob", 8, ActionId.ACKNOWLEDGE)
    life.create(utc(12, 14, 9), "alice", "erin", "demo account")
    life.create(utc(12, 14, 9), "alice", "bob", "refund")
    life.act(utc(12, 14, 10), "bob", 10, ActionId.DONE)
    life.act(utc(12, 14, 15), "alice", 10, ActionId.RATE, rating=Rating(score=1, comment="wrong amount"))
    life.act(utc(12, 16, 9), "erin", 9, ActionId.ACKNOWLEDGE)
    life.act(utc(12, 17, 10), "bob", 10, ActionId.RECOVER, note="I'll fix the amount today")


def _new_store(path: Path) -> Store:
    store = TinyDBStore(path, compaction="off")
    return store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "servechain.json"
    store = _new_store(path)
    people, teams = small_org()
    store.save_org(people, teams)
    store.close()
    return path


def _nudge_messages(store: Store) -> list[Message]:
    return sent_nudges(store, WS)


def test_four_weeks_of_an_org_send_every_nudge_escalation_and_follow_up_once(db: Path) -> None:
    store = _new_store(db)
    try:
        life = Life(store)
        _org_life(life)
        life.run(START, END)
        assert sorted(life.sent) == sorted(EXPECTED)
        assert life.suppressed == SUPPRESSED
        messages = _nudge_messages(store)
        assert len(messages) == EXPECTED_MESSAGES == len(life.messages)
        assert len({m.key for m in messages}) == EXPECTED_MESSAGES
        grouped = [m for t, m in life.messages if t == utc(12, 7, 13)]
        assert [[f.label for f in m.facts] for m in grouped] == [["R-4", "R-5", "R-6"]]
        assert all(m.recipient_id != "P-erin" for m in messages)
        # nothing is ever sent on a weekend or outside the recipient's working hours
        assert all(t.weekday() < 5 for t, _k, _r in life.sent)
    finally:
        store.close()


def test_restart_catches_up_missed_reminders_exactly_once(db: Path) -> None:
    first = _new_store(db)
    life = Life(first)
    _org_life(life)
    down, up = utc(11, 27, 12), utc(11, 30, 6)
    life.run(START, down)
    first.close()  # the server stops; people keep working meanwhile (their actions still happen)
    second = _new_store(db)
    try:
        life.store = second
        life.schedulers = [Scheduler(store=second, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS)]
        for _ in range(2):  # a second pass at the same moment finds nothing new
            life.run(up, up + STEP)
        life.run(up + STEP, END)
        # carol's nudge was due at 03:00 while the scheduler was down: sent once, at restart
        # (06:00 UTC is 15:00 in Tokyo, inside her working hours); everything else as usual
        expected = [
            (up, key, who) if key == "nudge:unacked:R-2:e0" else (when, key, who) for when, key, who in EXPECTED
        ]
        assert sorted(life.sent) == sorted(expected)
        assert len(_nudge_messages(second)) == EXPECTED_MESSAGES
    finally:
        second.close()


def test_a_long_outage_sends_only_what_is_still_due(db: Path) -> None:
    store = _new_store(db)
    try:
        life = Life(store)
        _org_life(life)
        life.run(START, utc(11, 23, 12))
        # down from Monday noon to Tuesday of the next week: R-1 was acknowledged meanwhile, R-2's
        # nudge and escalation are both still due
        life.run(utc(12, 1, 8), utc(12, 1, 8, 15))
        assert life.sent == [(utc(12, 1, 8), "nudge:unacked:R-2:e0", "P-carol")]  # 17:00 Tokyo
        life.run(utc(12, 1, 8, 15), utc(12, 1, 9, 15))
        assert life.sent[1:] == [(utc(12, 1, 9), "escalate:R-2:e0", "P-dave")]
    finally:
        store.close()


def test_two_replicas_on_one_store_file_never_double_send(db: Path) -> None:
    one, two = _new_store(db), _new_store(db)
    try:
        life = Life(one)
        _org_life(life)
        a = Scheduler(store=one, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS)
        b = Scheduler(store=two, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS)
        # alternate which replica goes first, a day at a time
        day = START
        while day < END:
            order = [a, b] if day.toordinal() % 2 else [b, a]
            life.run(day, min(day + timedelta(days=1), END), schedulers=order)
            day += timedelta(days=1)
        assert sorted(life.sent) == sorted(EXPECTED)
        assert Counter(key for _t, key, _r in life.sent).most_common(1)[0][1] == 1
        assert len(_nudge_messages(one)) == len(_nudge_messages(two)) == EXPECTED_MESSAGES
    finally:
        one.close()
        two.close()


def test_two_replicas_running_at_the_same_time_in_threads_never_double_send(db: Path) -> None:
    one, two = _new_store(db), _new_store(db)
    try:
        life = Life(one)
        _org_life(life)
        replicas = [Scheduler(store=s, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS) for s in (one, two)]
        claimed: list[tuple[datetime, str, str]] = []
        lock = threading.Lock()

        def tick(scheduler: Scheduler, now: datetime, gate: threading.Barrier) -> None:
            gate.wait()
            report = scheduler.run_due(now)
            with lock:
                for job in report.jobs:
                    claimed.extend((now, key, who) for key, who in job.claimed.items())

        # the replicas tick together, in two threads, at every moment something is due
        for now in sorted({when for when, _key, _who in EXPECTED}):
            life.advance(now)
            gate = threading.Barrier(2)
            threads = [threading.Thread(target=tick, args=(r, now, gate)) for r in replicas]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert sorted(claimed) == sorted(EXPECTED)
        # one message per person and moment, each request mentioned once in it
        per_moment = Counter(
            (item.created_at, item.message.recipient_id) for item in one.list_outbox(WS) if item.message.kind == "nudge"
        )
        assert len(per_moment) == EXPECTED_MESSAGES and set(per_moment.values()) == {1}
        mentions = Counter((m.recipient_id, f.label) for m in _nudge_messages(one) for f in m.facts)
        assert sum(mentions.values()) == len({(t, who, re.findall(r"R-\d+", key)[0]) for t, key, who in EXPECTED})
    finally:
        one.close()
        two.close()


# --------------------------------------------------------------------------- the machinery


def test_default_registry_builds_the_nudge_job_from_settings() -> None:
    registry = default_registry()
    assert registry.names == ["nudges", "overdue-cards", "pulse", "digest", "org-sync", "prune"]
    [job] = registry.build(JobContext(hours=DEFAULT_HOURS), only=["nudges"])
    assert isinstance(job, NudgeJob) and job.settings.unacknowledged_hours == 4
    with pytest.raises(ValueError, match="already registered"):
        registry.register("nudges", lambda ctx: NudgeJob(hours=DEFAULT_HOURS))
    with pytest.raises(ValueError, match="unknown jobs: weekly"):
        registry.build(JobContext(hours=DEFAULT_HOURS), only=["weekly"])


class DigestLikeJob:
    """A weekly job the way the digest will be written: one claim per manager and ISO week."""

    name = "digest"

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        report = JobReport(self.name)
        if now.weekday() != 0 or now.hour < 9:
            return report
        key = f"digest:P-dave:{iso_week(now, 'Europe/London')}"
        message = Message(
            key=f"{workspace}:{key}", workspace=workspace, recipient_id="P-dave", kind="digest", title="Week"
        )
        if claim_and_send(store, workspace, key, [message], now):
            report.sent.append(message)
            report.claimed[key] = "P-dave"
        return report


class BrokenJob:
    name = "broken"

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        raise RuntimeError("boom")


def test_a_registered_weekly_job_sends_once_per_week_and_a_broken_job_does_not_stop_it(org_store: Store) -> None:
    registry = JobRegistry()
    registry.register("broken", lambda ctx: BrokenJob())
    registry.register("digest", lambda ctx: DigestLikeJob())
    scheduler = Scheduler(store=org_store, jobs=registry.build(JobContext(hours=DEFAULT_HOURS)), workspace=WS)
    sent: list[str] = []
    now = START
    while now < START + timedelta(days=15):
        report = scheduler.run_due(now)
        assert report.errors == {"broken": "RuntimeError: boom"}
        sent += list(report.jobs[0].claimed)
        now += timedelta(hours=1)
    assert sent == ["digest:P-dave:2026-W48", "digest:P-dave:2026-W49", "digest:P-dave:2026-W50"]
    assert [i.message.kind for i in org_store.list_outbox(WS)] == ["digest"] * 3


def test_claim_and_send_stores_the_messages_only_with_the_first_claim(org_store: Store) -> None:
    message = Message(key="k1", recipient_id="P-bob", kind="text", title="hello")
    assert claim_and_send(org_store, WS, "once", [message], START) is True
    again = message.model_copy(update={"key": "k2"})
    assert claim_and_send(org_store, WS, "once", [again], START) is False
    assert [i.key for i in org_store.list_outbox(WS)] == ["k1"]


def test_run_forever_runs_until_stopped_and_reports_each_pass(org_store: Store) -> None:
    stop = threading.Event()
    times = iter([START + timedelta(minutes=i) for i in range(100)])
    reports: list[RunReport] = []

    def on_report(report: RunReport) -> None:
        reports.append(report)
        if len(reports) == 3:
            stop.set()

    scheduler = Scheduler(store=org_store, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS)
    run_forever(scheduler, clock=lambda: next(times), stop=stop, interval=0.001, on_report=on_report)
    assert [r.now for r in reports] == [START, START + timedelta(minutes=1), START + timedelta(minutes=2)]


def test_iso_week_is_read_in_the_given_time_zone() -> None:
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert iso_week(sunday_night) == "2026-W48"
    assert iso_week(sunday_night, "Asia/Tokyo") == "2026-W49"
