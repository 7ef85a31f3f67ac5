"""Inbox recovery after a crash: how long a restarted process takes to run the acknowledged
work its previous life left behind (issue 15 follow-up).

A process that died accepted ``--items`` inbox items (a SIGKILL in the middle of a burst),
spread round robin over ``--people`` authors, on a fresh embedded store (or ``--url``, an empty
PostgreSQL database). A new :class:`bot.inbox.InboxRunner` takes them over as the runtime's
inbox thread does (``recover()`` until it takes nothing) with a stand-in handler: one store
write (what a command stores) and ``--calls`` Web API calls of ``--latency`` seconds each,
slept with the GIL released as a real HTTP call waits. It runs twice on fresh stores:

- ``serial``: no work pool, one item at a time (recovery before this change);
- ``pooled``: in a :class:`bot.work.BackgroundWork` of ``--workers`` threads (WORK_CONCURRENCY),
  batches of half of them, each author's items in their lane.

    .venv/bin/python benchmarks/recovery_bench.py [--items 300] [--people 60] [--latency 0.15]
        [--calls 1] [--workers 32] [--modes serial,pooled] [--url postgresql://...]

Prints, per mode, the wall time to recover everything, items per second, and the most items
seen running at once, with the load average (the machine may be shared).

2026-11-30, defaults, embedded store, load average 1.2 on 2 cores: serial 45.6 s (6.6 items/s),
pooled 2.9 s (102 items/s, 16 at once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.inbox import ACCEPT_LEASE, InboxRunner  # noqa: E402
from bot.models import InboxItem  # noqa: E402
from bot.ports import Store  # noqa: E402
from bot.work import BackgroundWork  # noqa: E402
from storage import open_store  # noqa: E402

KIND = "bench.command"


class Clock:
    """Real time shifted past the dead process's leases, so they have run out."""

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def left_by_a_crash(store: Store, items: int, people: int) -> None:
    dead = InboxRunner(store=store, clock=lambda: datetime.now(UTC), handlers={KIND: lambda item: None})
    for n in range(items):
        user = f"U{n % people:04d}"
        dead.accept(workspace="default", key=f"crash-{n:05d}", platform="bench", kind=KIND, payload={"user": user})


def recover_all(store: Store, args: argparse.Namespace, work: BackgroundWork | None) -> tuple[float, int]:
    """Wall seconds until every item ran, and the most running at once."""
    lock = threading.Lock()
    running = peak = 0

    def handle(item: InboxItem) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            store.put_doc("bench", item.workspace, item.key, {"ran": True})
            for _ in range(args.calls):
                time.sleep(args.latency)
        finally:
            with lock:
                running -= 1

    runner = InboxRunner(
        store=store,
        clock=Clock(ACCEPT_LEASE + timedelta(seconds=1)),
        handlers={KIND: handle},
        work=work,
        lanes={KIND: lambda item: str(item.payload["user"])},
    )
    started = time.perf_counter()
    while runner.recover():
        pass
    elapsed = time.perf_counter() - started
    left = store.count_inbox("default")
    if left:
        raise SystemExit(f"{left} items still pending after recovery")
    return elapsed, peak


def run_mode(mode: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(args.url or str(Path(folder) / "servechain.json"))
        try:
            left_by_a_crash(store, args.items, args.people)
            work = BackgroundWork(args.workers, name="bench-work") if mode == "pooled" else None
            try:
                elapsed, peak = recover_all(store, args, work)
            finally:
                if work is not None:
                    work.close()
        finally:
            store.close()
    print(f"{mode:>7}: {args.items} items in {elapsed:6.2f} s ({args.items / elapsed:6.1f}/s), at most {peak} at once")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per fake Web API call")
    parser.add_argument("--calls", type=int, default=1, help="Web API calls per item")
    parser.add_argument("--workers", type=int, default=32, help="the work pool's threads (WORK_CONCURRENCY)")
    parser.add_argument("--modes", default="serial,pooled")
    parser.add_argument("--url", default="", help="an empty PostgreSQL database instead of a fresh embedded store")
    args = parser.parse_args(argv)
    if args.url and len(args.modes.split(",")) > 1:
        parser.error("with --url, run one mode at a time (each needs an empty database)")
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(
        f"recovery of {args.items} items over {args.people} people, {args.calls} x {args.latency * 1000:.0f} ms "
        f"calls each, {args.workers} workers; load average {load}"
    )
    for mode in args.modes.split(","):
        run_mode(mode, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
