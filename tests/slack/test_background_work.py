"""The Slack work pool: wide, yet one person's commands and clicks run in the order they came."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from bot.work import BackgroundWork
from handlers.slack.deps import actor_of
from tests.slack.conftest import SlackHarness


def test_jobs_of_one_lane_run_one_at_a_time_in_order() -> None:
    work = BackgroundWork(workers=8)
    ran: list[int] = []
    running = 0
    overlapped = False
    lock = threading.Lock()
    first_started, release_first = threading.Event(), threading.Event()

    def job(n: int) -> None:
        nonlocal running, overlapped
        with lock:
            running += 1
            overlapped |= running > 1
        if n == 0:
            first_started.set()
            assert release_first.wait(10)
        with lock:
            ran.append(n)
            running -= 1

    work.submit(lambda: job(0), what="first", lane="U1")
    assert first_started.wait(10)
    for n in range(1, 20):  # queued while the first is still running: free threads must not take them
        work.submit(lambda n=n: job(n), what=f"job {n}", lane="U1")
    release_first.set()
    assert work.wait_idle(10)
    work.close()

    assert ran == list(range(20))
    assert not overlapped


def test_other_lanes_run_while_one_lane_waits() -> None:
    work = BackgroundWork(workers=4)
    release = threading.Event()
    done: list[str] = []
    work.submit(lambda: release.wait(10), what="slow", lane="U1")
    work.submit(lambda: done.append("U1 later"), what="behind the slow one", lane="U1")
    work.submit(lambda: done.append("U2"), what="someone else", lane="U2")
    work.submit(lambda: done.append("no lane"), what="no lane")

    for _ in range(200):
        if len(done) == 2:
            break
        threading.Event().wait(0.01)
    assert sorted(done) == ["U2", "no lane"]  # not held up behind U1's slow job
    release.set()
    assert work.wait_idle(10)
    assert done[-1] == "U1 later"
    work.close()


def test_a_failing_job_does_not_stop_its_lane() -> None:
    work = BackgroundWork(workers=2)
    done: list[str] = []

    def fail() -> None:
        raise RuntimeError("boom")

    work.submit(fail, what="fails", lane="U1")
    work.submit(lambda: done.append("next"), what="next", lane="U1")
    assert work.wait_idle(10)
    work.close()
    assert done == ["next"]


def test_the_lane_is_whoever_typed_or_clicked() -> None:
    assert actor_of({"user_id": "U1", "command": "/request"}) == "U1"
    assert actor_of({"user": {"id": "U2"}, "actions": []}) == "U2"
    assert actor_of({"type": "view_submission"}) is None


def test_listeners_run_in_the_request_thread_so_the_ack_never_waits_for_bolts_poll(harness: SlackHarness) -> None:
    """Our listeners only hand work to the pool and ack, so Bolt runs them in the thread that
    dispatches the request (``process_before_response``). With them on Bolt's listener executor,
    the dispatching thread polled for the ack every 10 ms (slack_bolt's ``ThreadListenerRunner``):
    one more thread hop and up to 10 ms per ack, more when the process is busy."""
    handed: list[object] = []
    executor = harness.slack._listeners
    original = executor.submit

    def submit(fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future[object]:
        handed.append(fn)
        return original(fn, *args, **kwargs)

    executor.submit = submit  # type: ignore[method-assign]
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by friday")
    assert answer.status == 200
    assert handed == [], "the listener ran on Bolt's executor"
