"""Delivery at real-world latency: how long after a ``/request`` its provider's card arrives.

For each configuration (embedded store; PostgreSQL with one and with two replicas): an org is
loaded, real ``servechain serve`` processes start against a loopback fake Slack Web API (in a
process of its own) whose every call takes ``--latency`` seconds, and signed ``/request``
commands go out at a fixed ``--rate`` for ``--seconds`` (round robin over the replicas). With
``--digests``, 105 weekly digests for 105 managers are queued at once in the middle of the run.
Once the outbox has drained (or ``--drain`` seconds passed) it prints, per configuration:

- ack p50/p99 (until Bolt's HTTP answer);
- command-to-provider-card p50/p99 (from sending the command to the fake answering the
  ``chat.postMessage`` of that request's provider card);
- cards lost (no provider card by the end) and messages duplicated (one outbox key posted
  twice);
- the order check: in every DM, each kind of card appears in request-number order.

    .venv/bin/python benchmarks/delivery_bench.py [--rate 20] [--seconds 20] [--latency 0.15]
        [--configs tinydb,pg1,pg2] [--digests] [--concurrency 32]
        [--url postgresql://postgres@127.0.0.1:5432/servechain_bench]

Targets (issue 15, 150 ms latency, 60 s runs): 20/s -> card p99 < 1 s; 100/s -> card p99 < 2 s
and ack p99 < 100 ms, also with the 105 digests; 0 lost, 0 duplicated, 0 out of order.
Everything (the replicas, PostgreSQL, the fake, this client) shares this machine's cores.

At 100/s use ``--people 1000``: each command posts two cards (provider and requester), and
Slack allows about one message a second per DM, so 120 people cap delivery near 120 posts/s.

What py-spy showed at 100/s (2026-11-30, and what was done): the 4 threads running commands
after the ack each waited ~150 ms on the ``response_url`` answer (WORK_CONCURRENCY, 32); the
embedded store synced once per write under its mutex (group commit, mutex let go during the
sync); PostgreSQL creators waited for the counter row holding pooled connections, starving sends
and acks (one creator per process waits there). Still serial: each request number on PostgreSQL
(counter row locked until COMMIT: create_request 0.4-0.8 s mean at 100/s), and the one
dispatcher thread that leases for all sends (the embedded store's lease scans every pending item
under the lock, so it slows as the backlog grows).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.replica_bench import (  # noqa: E402
    DEFAULT_URL,
    TEAM,
    WORKSPACE,
    Client,
    CpuMeter,
    Replica,
    ensure_database,
    percentile,
    slack_id,
    start_replicas,
    stop_replicas,
)
from bot.models import Message, OutboxItem, Person  # noqa: E402
from bot.ports import Store  # noqa: E402

PEOPLE = 120
DIGESTS = 105
ITEM = re.compile(r"delivery item (\d+)\b")
REF = re.compile(r"\bR-(\d+)\b")


# --- the fake Slack Web API with latency, in its own process ---------------------------------------


def serve_fake(users: list[tuple[str, str]], latency: float, pipe: Connection, stop: EventType) -> None:
    """Run the fake until ``stop``; send its URL, then what was posted, down ``pipe``."""
    from tests.fakes.slack_api import FakeSlackApi

    with FakeSlackApi(team_id=TEAM, latency=latency) as fake:
        for user_id, name in users:
            fake.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
        pipe.send(fake.url)
        stop.wait()
        posts = []
        for call in fake.calls("chat.postMessage"):
            if call.status != 200 or not call.answer.get("ok"):
                continue
            payload = (call.params.get("metadata") or {}).get("event_payload") or {}
            posts.append(
                (call.at, call.answer.get("channel", ""), str(payload.get("key", "")), json.dumps(call.params))
            )
        pipe.send(posts)


class FakeSlack:
    """:func:`serve_fake` in a child process."""

    def __init__(self, users: list[tuple[str, str]], latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._stop = context.Event()
        self._process = context.Process(target=serve_fake, args=(users, latency, child, self._stop), daemon=True)
        self._process.start()
        self.url: str = self._pipe.recv()

    def response_url(self, name: str) -> str:
        return self.url.replace("/api/", f"/response/{name}")

    def stop(self) -> list[tuple[float, str, str, str]]:
        """Stop it; every posted message as ``(answered at, channel, outbox key, params JSON)``."""
        self._stop.set()
        posts: list[tuple[float, str, str, str]] = self._pipe.recv() if self._pipe.poll(60) else []
        self._process.join(10)
        return posts


# --- stores ----------------------------------------------------------------------------------------


def org() -> list[Person]:
    return [
        Person(
            id=f"P-{i}",
            workspace=WORKSPACE,
            handle=f"user{i}",
            name=f"User {i}",
            email=f"user{i}@example.com",
            slack_ids={TEAM: slack_id(i)},
        )
        for i in range(PEOPLE)
    ]


def open_store(db: str) -> Store:
    if db.startswith("postgresql"):
        from storage.postgres import PostgresStore

        return PostgresStore(db)
    from storage.tinydb_store import TinyDBStore

    return TinyDBStore(Path(db))


def prepare(db: str) -> None:
    store = open_store(db)
    try:
        reset = getattr(store, "reset", None)
        if callable(reset):
            reset()
        store.save_org(org())
    finally:
        store.close()


def queue_digests(db: str, run: int) -> None:
    """105 managers' weekly digests, due now (what the Monday 09:00 job queues)."""
    now = datetime.now(UTC)
    items = []
    for i in range(DIGESTS):
        key = f"{WORKSPACE}:digest:P-{i}:bench-{run}"
        text = "\n".join(f"- line {n} of the digest" for n in range(20))
        message = Message(key=key, recipient_id=f"P-{i}", kind="digest", title="Your team this week", text=text)
        items.append(OutboxItem(key=key, message=message, created_at=now, next_attempt_at=now))
    store = open_store(db)
    try:
        store.enqueue(items)
    finally:
        store.close()


def pending(db: str) -> int:
    store = open_store(db)
    try:
        return store.count_outbox(WORKSPACE, "pending") + store.count_inbox(WORKSPACE)  # commands not yet run too
    finally:
        store.close()


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    sent: int
    ack_ms: list[float]
    card_s: list[float]
    lost: int
    duplicated: int
    out_of_order: int
    drained_s: float
    left_pending: int
    cpu: tuple[float, float, float]
    store_ops: dict[str, tuple[float, float]]


METRIC = re.compile(r'^servechain_store_operation_seconds_(count|sum)\{operation="(\w+)"\} ([0-9.e+-]+)$', re.M)


def store_profile(replicas: Sequence[Replica]) -> dict[str, tuple[float, float]]:
    """Store operations of all replicas from their ``/metrics``: name -> (calls, seconds)."""
    found: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for replica in replicas:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            continue
        for kind, name, value in METRIC.findall(text):
            found[name][0 if kind == "count" else 1] += float(value)
    return {name: (calls, seconds) for name, (calls, seconds) in found.items()}


def order_problems(posts: Sequence[tuple[float, str, str, str]]) -> int:
    """Messages posted in a DM before an older card of the same kind (by request number)."""
    last: dict[tuple[str, str], int] = {}
    problems = 0
    for _at, channel, key, _params in sorted(posts, key=lambda p: p[0]):
        parts = key.split(":")
        if len(parts) < 4 or not parts[1].startswith("R-"):
            continue
        number, kind = int(parts[1][2:]), parts[3]
        previous = last.get((channel, kind), 0)
        if number < previous:
            problems += 1
        last[(channel, kind)] = max(previous, number)
    return problems


def run(name: str, db: str, replicas_count: int, args: argparse.Namespace, folder: Path, run_no: int) -> Result:
    prepare(db)
    users = [(slack_id(i), f"User {i}") for i in range(PEOPLE)]
    fake = FakeSlack(users, args.latency)
    env = {"DELIVERY_CONCURRENCY": str(args.concurrency)}
    replicas: list[Replica] = start_replicas(
        replicas_count, url=db, api_url=fake.url, folder=folder / name, extra_env=env
    )
    sent_at: dict[int, float] = {}
    ack_ms: list[float] = []
    lock = threading.Lock()
    total = int(args.rate * args.seconds)
    try:
        for replica in replicas:  # warm up imports, pools and keep-alive connections
            warm = Client(replica.port, fake)  # type: ignore[arg-type]
            for n in range(5):
                warm.command(10**6 + n, text="help")
        meter = CpuMeter(replicas)
        started = time.time()
        index = iter(range(total))

        def sender() -> None:
            clients = [Client(r.port, fake) for r in replicas]  # type: ignore[arg-type]
            while True:
                with lock:
                    n = next(index, None)
                if n is None:
                    return
                time.sleep(max(0.0, started + n / args.rate - time.time()))
                provider = (n * 7 + 1) % PEOPLE
                if provider == n % PEOPLE:
                    provider = (provider + 1) % PEOPLE
                text = f"<@{slack_id(provider)}|user> delivery item {n} by friday"
                at = time.time()
                elapsed = clients[n % len(clients)].command(run_no * 10**5 + n, text=text)
                with lock:
                    sent_at[n] = at
                    ack_ms.append(elapsed * 1000)

        threads = [threading.Thread(target=sender) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        if args.digests:
            time.sleep(args.seconds / 2)
            queue_digests(db, run_no)
            print(f"  [{name}] queued {DIGESTS} digests at {time.time() - started:.1f}s", flush=True)
        for thread in threads:
            thread.join()
        deadline = time.time() + args.drain
        while time.time() < deadline and pending(db):
            time.sleep(0.25)
        drained_s = time.time() - started
        left_pending = pending(db)
        time.sleep(0.5)
        cpu = meter.read()
        store_ops = store_profile(replicas)
    finally:
        stop_replicas(replicas)
        posts = fake.stop()
    card_s: list[float] = []
    per_key: dict[str, int] = defaultdict(int)
    cards: dict[int, float] = {}
    for at, _channel, key, params in posts:
        per_key[key] += 1
        if ":provider_card:" in key:
            found = ITEM.search(params)
            if found and int(found.group(1)) in sent_at:
                n = int(found.group(1))
                cards[n] = min(cards.get(n, at), at)
    for n, at in cards.items():
        card_s.append(at - sent_at[n])
    lost = len(sent_at) - len(cards)
    duplicated = sum(count - 1 for key, count in per_key.items() if key and count > 1)
    return Result(
        name,
        len(sent_at),
        ack_ms,
        card_s,
        lost,
        duplicated,
        order_problems(posts),
        drained_s,
        left_pending,
        cpu,
        store_ops,
    )


def report(result: Result, args: argparse.Namespace) -> None:
    acks, cards = result.ack_ms, result.card_s
    share, replica_cpu, pg_cpu = result.cpu
    card = f"{percentile(cards, 0.5):.2f}s / {percentile(cards, 0.99):.2f}s" if cards else "none"
    if result.left_pending:  # not lost: still queued when the run stopped waiting (p99 is of those that came)
        missing = f"cards not yet delivered {result.lost} ({result.left_pending} commands/messages still pending)"
        drained = f"NOT drained after {result.drained_s:.1f}s"
    else:
        missing, drained = f"lost {result.lost}", f"drained at {result.drained_s:.1f}s"
    print(
        f"{result.name:<8} {args.rate:>5.0f}/s x {args.seconds:.0f}s  sent {result.sent:>5}  "
        f"ack p50/p99 {percentile(acks, 0.5):6.1f} / {percentile(acks, 0.99):6.1f} ms  "
        f"card p50/p99 {card}  {missing}  duplicated {result.duplicated}  "
        f"out of order {result.out_of_order}  {drained}  "
        f"machine busy {share:.0%}, replicas {replica_cpu:.1f} CPU-s, PostgreSQL {pg_cpu:.1f} CPU-s",
        flush=True,
    )
    if args.profile and result.store_ops:
        calls = sum(c for c, _ in result.store_ops.values())
        busy = sum(s for _, s in result.store_ops.values())
        print(
            f"         store: {calls / max(result.sent, 1):.1f} calls per command, {busy:.1f}s in store calls "
            f"(summed over threads); by operation (calls per command, mean ms):"
        )
        ranked = sorted(result.store_ops.items(), key=lambda item: -item[1][1])
        print(
            "           "
            + ", ".join(
                f"{name} {c / max(result.sent, 1):.1f} x {s / max(c, 1) * 1000:.1f}" for name, (c, s) in ranked[:10]
            )
        )


def main(argv: list[str] | None = None) -> int:
    global PEOPLE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=20.0, help="commands per second")
    parser.add_argument(
        "--people",
        type=int,
        default=PEOPLE,
        help="people in the org, each with a DM; Slack allows about 1 message a second per DM, so "
        "at 100 commands/s (two cards each) fewer than about 200 people is a limit the platform sets",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.15, help="seconds every fake Web API call takes")
    parser.add_argument("--configs", default="tinydb,pg1,pg2")
    parser.add_argument("--digests", action="store_true", help="queue 105 digests at once mid-run")
    parser.add_argument("--concurrency", type=int, default=64, help="DELIVERY_CONCURRENCY of each replica")
    parser.add_argument("--clients", type=int, default=8, help="client threads sending commands")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the outbox to drain")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--profile", action="store_true", help="also print the replicas' store calls per command")
    args = parser.parse_args(argv)
    PEOPLE = args.people  # one script-wide setting, read by the helpers above
    print(
        f"delivery bench: {args.rate:.0f} commands/s for {args.seconds:.0f}s, Web API latency "
        f"{args.latency * 1000:.0f} ms, {PEOPLE} people, DELIVERY_CONCURRENCY={args.concurrency}"
        f"{', 105 digests mid-run' if args.digests else ''} (all processes share this machine's cores)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for run_no, name in enumerate(args.configs.split(","), start=1):
            (folder / name).mkdir()
            if name == "tinydb":
                db, count = str(folder / "bench.json"), 1
            else:
                ensure_database(args.url)
                db, count = args.url, int(name.removeprefix("pg"))
            report(run(name, db, count, args, folder, run_no), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
