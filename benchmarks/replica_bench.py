"""Throughput and ack latency of ``/request`` with one versus two ``servechain serve`` replicas
sharing one PostgreSQL database.

For each replica count: the database is emptied and an org loaded (people linked to Slack
ids), that many real ``servechain serve`` processes start (a load balancer's round robin is
played by the client), and ``--concurrency`` client threads send ``--requests`` correctly
signed ``/request`` slash commands over keep-alive connections. A command counts as
processed when its request is stored (polled in the database); "cards sent" waits until the
outbox has posted both cards of every request to the fake Slack Web API, which runs in a
process of its own. Ack latency is the time until the HTTP answer (Bolt's ack) arrived.

    .venv/bin/python benchmarks/replica_bench.py [--requests 1000] [--concurrency 8]
        [--replicas 1,2] [--rounds 1] [--url postgresql://postgres@127.0.0.1:5432/servechain_bench]

The database at ``--url`` (or ``$SERVECHAIN_BENCH_POSTGRES_URL``) is emptied; it is created
if missing. Everything (PostgreSQL, the fake, the client and the replicas) shares this
machine's cores, which the output states.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import conninfo, sql  # noqa: E402

from bot.models import Person  # noqa: E402
from storage.postgres import PostgresStore  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/servechain_bench"
SECRET = "bench-signing-secret"
TEAM = "T0BENCH"
WORKSPACE = "default"
PEOPLE = 60
SERVECHAIN = Path(sys.executable).with_name("servechain")


# --- the fake Slack Web API, in its own process (its Block Kit validation costs CPU) -------------


def serve_fake(users: list[tuple[str, str]], pipe: Connection, stop: EventType) -> None:
    """Run the fake Web API until ``stop`` is set; send its URL, then its call counts, down ``pipe``."""
    from tests.fakes.slack_api import FakeSlackApi

    with FakeSlackApi(team_id=TEAM) as fake:
        for user_id, name in users:
            fake.add_user(user_id, name, email=f"{user_id.lower()}@example.com")
        pipe.send(fake.url)
        stop.wait()
        counts: dict[str, int] = {}
        for call in fake.calls():
            name = call.method if call.status == 200 and call.answer.get("ok", True) else f"{call.method} (failed)"
            counts[name] = counts.get(name, 0) + 1
        pipe.send(counts)


class FakeSlack:
    """Starts and stops :func:`serve_fake` in a child process."""

    def __init__(self, users: list[tuple[str, str]]) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._stop = context.Event()
        self._process = context.Process(target=serve_fake, args=(users, child, self._stop), daemon=True)
        self._process.start()
        self.url: str = self._pipe.recv()

    def response_url(self, name: str) -> str:
        return self.url.replace("/api/", f"/response/{name}")

    def stop(self) -> dict[str, int]:
        """Stop it; the number of calls it saw per method."""
        self._stop.set()
        counts: dict[str, int] = self._pipe.recv() if self._pipe.poll(30) else {}
        self._process.join(10)
        return counts


# --- the org and the database ------------------------------------------------------------------


def slack_id(index: int) -> str:
    return f"U{index:04d}"


def org() -> list[Person]:
    """``PEOPLE`` people, each linked to a Slack user of the bench team."""
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


def ensure_database(url: str) -> None:
    """Create the benchmark database if it does not exist."""
    name = str(conninfo.conninfo_to_dict(url).get("dbname") or "")
    admin = conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare(url: str) -> None:
    """Apply the schema, empty every table, load the org."""
    store = PostgresStore(url)
    try:
        store.reset()
        store.save_org(org())
    finally:
        store.close()


def progress(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """``(requests stored, outbox items sent)``."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM requests WHERE workspace = %s), "
        "(SELECT count(*) FROM outbox WHERE workspace = %s AND state = 'sent')",
        (WORKSPACE, WORKSPACE),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def numbering(conn: psycopg.Connection[Any]) -> str:
    """``ok`` when the request numbers are exactly 1..N, else what is wrong."""
    row = conn.execute(
        "SELECT count(*), count(DISTINCT number), coalesce(min(number), 0), coalesce(max(number), 0) "
        "FROM requests WHERE workspace = %s",
        (WORKSPACE,),
    ).fetchone()
    assert row is not None
    count, distinct, low, high = (int(v) for v in row)
    if count == distinct and low == 1 and high == count:
        return "1..N ok"
    return f"BROKEN: {count} rows, {distinct} distinct, {low}..{high}"


# --- the replicas ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One ``servechain serve`` process."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path


def start_replicas(
    count: int,
    *,
    url: str,
    api_url: str,
    folder: Path,
    extra_env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> list[Replica]:
    """Start ``count`` replicas (``extra_env`` added to their environment; ``command`` instead of
    ``servechain``) and wait until each answers ``GET /healthz``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-bench-token-not-real",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api_url,
        SERVECHAIN_DB=url,
        SERVECHAIN_LOG_LEVEL="WARNING",
        SCHEDULER_INTERVAL="60",
    )
    env.update(extra_env or {})
    command = command or ([str(SERVECHAIN)] if SERVECHAIN.exists() else [sys.executable, "-m", "handlers.cli"])
    replicas = []
    for index in range(count):
        port = free_port()
        log = folder / f"replica-{index}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        replicas.append(Replica(port, process, log))
    for replica in replicas:
        deadline = time.monotonic() + 30
        while True:
            if replica.process.poll() is not None or time.monotonic() > deadline:
                stop_replicas(replicas)
                raise SystemExit(f"a replica did not start:\n{replica.log.read_text(errors='replace')}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
    return replicas


def stop_replicas(replicas: Sequence[Replica]) -> None:
    """SIGTERM each, then kill what does not stop."""
    for replica in replicas:
        if replica.process.poll() is None:
            replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            replica.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait(timeout=5)


# --- CPU accounting (Linux /proc; zeros elsewhere) -------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CLOCK_TICKS = _TICK
"""CPU ticks per second in ``/proc``."""


def machine_ticks() -> tuple[int, int]:
    """``(busy, total)`` CPU ticks of the whole machine since boot."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_ticks(pid: int) -> int:
    """User + system CPU ticks of one process (0 when it is gone or unreadable)."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(after_name[11]) + int(after_name[12])


def tree_ticks(pid: int) -> int:
    """CPU ticks of one process and its descendants (a replica's delivery process,
    ``DELIVERY_PROCESS``, and the workers that draw charts, ``handlers/charts.py``)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[parent].append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += process_ticks(current)
        todo.extend(children.get(current, ()))
    return total


def postgres_ticks() -> dict[int, int]:
    """CPU ticks of every ``postgres`` process (server, background workers, backends) by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = process_ticks(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class CpuMeter:
    """CPU used between construction and :meth:`read` by the machine, the replicas and PostgreSQL."""

    replicas: Sequence[Replica]

    def __post_init__(self) -> None:
        self._machine = machine_ticks()
        self._replicas = sum(tree_ticks(r.process.pid) for r in self.replicas)
        self._postgres = postgres_ticks()

    def read(self) -> tuple[float, float, float]:
        """``(machine busy share 0..1, replica CPU seconds, PostgreSQL CPU seconds)``."""
        busy, total = machine_ticks()
        share = (busy - self._machine[0]) / max(total - self._machine[1], 1)
        replicas = (sum(tree_ticks(r.process.pid) for r in self.replicas) - self._replicas) / _TICK
        postgres = sum(t - self._postgres.get(pid, 0) for pid, t in postgres_ticks().items()) / _TICK
        return share, replicas, postgres


# --- the client ----------------------------------------------------------------------------------


class Client:
    """A keep-alive connection to one replica that sends signed ``/request`` commands."""

    def __init__(self, port: int, fake: FakeSlack) -> None:
        self.port = port
        self.fake = fake
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.last_body = b""

    def command(self, n: int, text: str | None = None) -> float:
        """Send one command; seconds until its ack."""
        body = urlencode(
            {
                "team_id": TEAM,
                "user_id": slack_id(n % PEOPLE),
                "user_name": f"user{n % PEOPLE}",
                "command": "/request",
                "text": text if text is not None else f"<@{slack_id((n * 7 + 1) % PEOPLE)}|user> bench item {n}",
                "channel_id": "C0BENCH",
                "trigger_id": f"{n}.bench.{os.getpid()}",
                "response_url": self.fake.response_url(f"bench-{n}"),
            }
        )
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        started = time.perf_counter()
        self.connection.request("POST", "/slack/events", body=body, headers=headers)
        response = self.connection.getresponse()
        self.last_body = response.read()
        """The ack's body: empty when the command was taken, a message for the person when not."""
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"ack failed with HTTP {response.status}")
        return elapsed


def percentile(samples: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Result:
    """The figures of one run."""

    replicas: int
    requests: int
    concurrency: int
    acks_s: float
    created_s: float
    delivered_s: float
    ack_ms: list[float]
    numbering: str
    cpu_busy: float
    replica_cpu_s: float
    postgres_cpu_s: float


def run(count: int, args: argparse.Namespace, fake: FakeSlack, folder: Path, round_no: int) -> Result:
    """One measured run with ``count`` replicas."""
    prepare(args.url)
    replicas = start_replicas(count, url=args.url, api_url=fake.url, folder=folder)
    try:
        for replica in replicas:  # warm up: imports, pools, identity caches, keep-alive connections
            warm = Client(replica.port, fake)
            for n in range(20):
                warm.command(10**6 + round_no * 1000 + n, text="help")
        next_index = itertools.count()
        lock = threading.Lock()
        ack_ms: list[float] = []

        def worker(thread: int) -> None:
            clients = [Client(r.port, fake) for r in replicas]
            while True:
                with lock:
                    n = next(next_index)
                if n >= args.requests:
                    return
                elapsed = clients[n % count].command(round_no * 10**5 + n)
                with lock:
                    ack_ms.append(elapsed * 1000)

        with psycopg.connect(args.url, autocommit=True) as conn:
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
            meter = CpuMeter(replicas)
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            created_s = delivered_s = 0.0
            acks_s = 0.0
            deadline = started + args.timeout
            while True:
                stored, sent = progress(conn)
                now = time.perf_counter()
                if not acks_s and not any(t.is_alive() for t in threads):
                    acks_s = now - started
                if not created_s and stored >= args.requests:
                    created_s = now - started
                if sent >= 2 * args.requests:
                    delivered_s = now - started
                    cpu = meter.read()
                    break
                if now > deadline:
                    raise SystemExit(f"timed out: {stored} stored, {sent} sent of {args.requests}")
                time.sleep(0.02)
            for thread in threads:
                thread.join()
            acks_s = acks_s or time.perf_counter() - started
            status = numbering(conn)
    finally:
        stop_replicas(replicas)
    return Result(count, args.requests, args.concurrency, acks_s, created_s, delivered_s, ack_ms, status, *cpu)


def print_table(results: Sequence[Result], args: argparse.Namespace) -> None:
    headers = [
        "replicas",
        "client threads",
        "requests",
        "acks done s",
        "created s",
        "created req/s",
        "cards sent s",
        "cards sent req/s",
        "ack p50 ms",
        "ack p99 ms",
        "ack max ms",
        "CPU busy",
        "replica CPU ms/req",
        "postgres CPU ms/req",
        "numbers",
    ]
    lines = [
        [
            str(r.replicas),
            str(r.concurrency),
            f"{r.requests:,}",
            f"{r.acks_s:.2f}",
            f"{r.created_s:.2f}",
            f"{r.requests / r.created_s:,.0f}",
            f"{r.delivered_s:.2f}",
            f"{r.requests / r.delivered_s:,.0f}",
            f"{percentile(r.ack_ms, 0.50):.1f}",
            f"{percentile(r.ack_ms, 0.99):.1f}",
            f"{max(r.ack_ms):.1f}",
            f"{r.cpu_busy:.0%}",
            f"{r.replica_cpu_s * 1000 / r.requests:.1f}",
            f"{r.postgres_cpu_s * 1000 / r.requests:.1f}",
            r.numbering,
        ]
        for r in results
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    cores = os.cpu_count()
    print(
        f"\nmachine: {cores} CPU cores, shared by PostgreSQL, every replica, the fake Slack Web API (own process) "
        f"and the client; with {cores} cores a second replica adds no CPU, only a second Python process "
        "(its own GIL and thread pools)."
    )
    print(
        f"{args.requests:,} signed /request commands per run from {args.concurrency} client threads, round robin over "
        "the replicas; 'created' = every request stored, 'cards sent' = both cards of every request posted; "
        "CPU figures cover the run until the cards were sent (CPU busy: share of all cores)."
    )
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run every replica count (``--rounds`` times, interleaved) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=os.environ.get("SERVECHAIN_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--replicas", default="1,2", help="comma-separated replica counts")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every replica count this often")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.replicas.split(",") if c.strip()]
    ensure_database(args.url)
    fake = FakeSlack([(slack_id(i), f"User {i}") for i in range(PEOPLE)])
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="servechain-replica-bench-") as folder:
            for round_no in range(args.rounds):
                for count in counts:
                    print(f"round {round_no + 1}: {count} replica(s) ...", file=sys.stderr, flush=True)
                    results.append(run(count, args, fake, Path(folder), round_no))
    finally:
        calls = fake.stop()
    print_table(results, args)
    print(f"fake Slack Web API calls over all runs: {json.dumps(calls, sort_keys=True)}")
    return 0 if all(r.numbering == "1..N ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
