"""Storage benchmark: durable create-request latency and "open requests of X" query latency.

Usage: ``python benchmarks/storage_bench.py [--backend tinydb|postgres] [--sizes 1000,10000,100000]
[--ops 500] [--url URL]``

For each size the store is preloaded (not timed) with that many requests spread over ~200
providers, ~30% of them open, and one person per 20 requests; then ``--ops`` single
``create_request`` calls (each one an acknowledged, fsync'd write) and ``--ops``
``find_requests(ws, provider_id=X, open_only=True)`` calls are timed, by the wall clock and by
the CPU time of the calling thread (``time.thread_time``: on a machine busy with other work the
wall clock's tail is mostly waiting for a core, the CPU time is what the call itself costs).
Backends are opened with :func:`storage.open_store`, then ``gc.freeze()`` as ``servechain
serve`` does once started (``handlers/runtime.py``); add a backend by adding a function to
``BACKENDS`` that yields the URL of an empty store.

After the preload, two fresh processes measure what a start-up costs (the preload's own
memory does not count): one imports what ``servechain serve`` imports, opens the store and
asks for one provider's open requests (open time, peak RSS, settled RSS after a GC); the
other runs ``servechain stats`` on the store (wall time, peak RSS, settled RSS at its end).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.models import Event, EventKind, Person, Request, Status
from bot.ports import Store
from storage import open_store

WORKSPACE = "bench"
PROVIDERS = [f"P-provider-{i:03d}" for i in range(200)]
REQUESTERS = [f"P-requester-{i:03d}" for i in range(500)]
START = datetime(2026, 1, 1, tzinfo=UTC)
PEOPLE_EVERY = 20
"""One person stored per this many requests (5,000 people at 100,000 requests)."""
CLOSED = (Status.DONE, Status.DECLINED, Status.CANCELLED)
OPEN = (Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS)


# --- backends ------------------------------------------------------------------------------------


@contextmanager
def tinydb_url(args: argparse.Namespace) -> Iterator[str]:
    """A TinyDB file in a fresh temp folder (on the same disk as the system temp dir)."""
    with tempfile.TemporaryDirectory(prefix="servechain-bench-") as folder:
        yield os.path.join(folder, "bench.json")


@contextmanager
def postgres_url(args: argparse.Namespace) -> Iterator[str]:
    """The database named by ``--url`` or ``SERVECHAIN_BENCH_POSTGRES_URL`` (it is emptied)."""
    try:
        import storage.postgres  # noqa: F401 - optional backend
    except ImportError as exc:
        raise SystemExit(f"postgres backend not available yet ({exc})") from None
    url = args.url or os.environ.get("SERVECHAIN_BENCH_POSTGRES_URL")
    if not url:
        raise SystemExit("postgres: pass --url or set SERVECHAIN_BENCH_POSTGRES_URL (the database is emptied)")
    yield url


BACKENDS: dict[str, Callable[[argparse.Namespace], Any]] = {"tinydb": tinydb_url, "postgres": postgres_url}


# --- data ----------------------------------------------------------------------------------------


def make_request(rng: random.Random, index: int, *, open_share: float = 0.3) -> Request:
    """A request to one of ~200 providers; open with probability ``open_share``."""
    requester, provider = rng.choice(REQUESTERS), rng.choice(PROVIDERS)
    created = START + timedelta(minutes=index)
    status = rng.choice(OPEN) if rng.random() < open_share else rng.choice(CLOSED)
    events = [Event(kind=EventKind.CREATED, at=created, actor_id=requester, to_id=provider)]
    if status != Status.OPEN:
        events.append(Event(kind=EventKind.ACKNOWLEDGED, at=created + timedelta(hours=1), actor_id=provider))
    return Request(
        workspace=WORKSPACE,
        requester_id=requester,
        provider_id=provider,
        text=f"Request {index}: please look at the attached numbers and tell me what you think",
        created_at=created,
        status=status,
        tags=["bench"],
        events=events,
    )


def preload(store: Store, count: int, rng: random.Random) -> None:
    """Store ``count`` requests as fast as the backend allows: its bulk path when it has one,
    else numbered records through ``import_records`` (what ``db migrate`` uses) in batches."""
    requests = [make_request(rng, i) for i in range(count)]
    people = [
        Person(
            id=f"P-person-{i:05d}",
            workspace=WORKSPACE,
            handle=f"person{i}",
            name=f"Person {i}",
            email=f"p{i}@example.com",
        )
        for i in range(count // PEOPLE_EVERY)
    ]
    store.save_org(people)
    bulk = getattr(store, "_bulk_load", None)
    if callable(bulk):
        bulk(requests)
    else:
        for start in range(0, count, 5_000):
            docs = []
            for number, request in enumerate(requests[start : start + 5_000], start + 1):
                doc = request.model_dump(mode="json")
                doc.update(number=number, version=0)
                docs.append(doc)
            store.import_records("requests", docs)
        store.import_records("counters", [{"workspace": WORKSPACE, "last": count}])
    compact = getattr(store, "compact", None)
    if callable(compact):
        compact()


# --- measuring -----------------------------------------------------------------------------------

PROBE = """
import gc, json, sys, time

def status_mb(field):
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a big
    # parent would report the parent's peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")

mode, url, provider = sys.argv[1:4]
start = time.perf_counter()
if mode == "serve":
    import handlers.runtime, handlers.server  # what `servechain serve` imports
    if url.startswith("postgres"):
        import storage.postgres
    else:
        import storage.tinydb_store
    from storage import open_store
    start = time.perf_counter()
    store = open_store(url)
    seconds = time.perf_counter() - start
    store.find_requests("bench", provider_id=provider, open_only=True)
else:
    from handlers.cli import main
    code = main(["stats", "--db", url])
    seconds = time.perf_counter() - start
    store = None
    if code != 0:
        sys.exit(f"servechain stats exited with {code}")
gc.collect()
time.sleep(0.2)
settled, peak = status_mb("VmRSS"), status_mb("VmHWM")
if store is not None:
    store.close()
print(json.dumps({"seconds": seconds, "peak_mb": peak, "settled_mb": settled}), file=sys.stderr)
"""
"""Run in a fresh process: ``serve`` (open the store as the server would) or ``stats`` (the CLI
command); prints its figures as JSON on stderr (the last line)."""


@dataclass
class Process:
    """What one fresh process took: seconds (opening the store, or the whole command) and RSS."""

    seconds: float
    peak_mb: float
    settled_mb: float


def measure_process(mode: str, url: str) -> Process:
    """Run :data:`PROBE` in a fresh interpreter on the store at ``url``."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root, "SERVECHAIN_WORKSPACE": WORKSPACE, "SERVECHAIN_DB": url}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode, url, PROVIDERS[0]],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=600,
    )
    try:
        figures = json.loads(done.stderr.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"the {mode} probe failed (exit {done.returncode}):\n{done.stderr}") from None
    return Process(figures["seconds"], figures["peak_mb"], figures["settled_mb"])


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Row:
    """The figures of one store size."""

    size: int
    preload_s: float
    open_s: float
    file_mb: float | None
    create_ms: list[float]
    create_cpu_ms: list[float]
    create_wall_s: float
    find_ms: list[float]
    find_cpu_ms: list[float]
    found: list[int]
    compact_s: float | None
    during_compaction_ms: list[float]
    serve: Process
    stats: Process


def timed(action: Callable[[], object], cpu: list[float] | None = None) -> float:
    """Milliseconds one call takes (and, into ``cpu``, the milliseconds of CPU its thread used)."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    action()
    wall = (time.perf_counter() - start) * 1000
    if cpu is not None:
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return wall


def store_mb(url: str) -> float | None:
    """Size of the store on disk: the TinyDB file, or PostgreSQL's tables with their indexes and TOAST."""
    if os.path.exists(url):
        return os.path.getsize(url) / 1e6
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            ).fetchone()
        return int(row[0]) / 1e6 if row else None
    return None


def run_size(backend: str, args: argparse.Namespace, size: int) -> Row:
    """Preload ``size`` requests into a fresh store, then time creates and queries."""
    rng = random.Random(size)
    with BACKENDS[backend](args) as url:
        store = open_store(url)
        reset = getattr(store, "reset", None)
        if callable(reset):
            reset()
        start = time.perf_counter()
        preload(store, size, rng)
        preload_s = time.perf_counter() - start
        store.close()
        serve, stats = measure_process("serve", url), measure_process("stats", url)

        start = time.perf_counter()
        store = open_store(url)
        open_s = time.perf_counter() - start
        gc.freeze()  # as `servechain serve` does once started (Runtime.start)
        try:
            for i in range(20):  # warm up caches and code paths
                store.create_request(make_request(rng, size + i, open_share=1.0))
                store.find_requests(WORKSPACE, provider_id=rng.choice(PROVIDERS), open_only=True)

            create_ms: list[float] = []
            create_cpu_ms: list[float] = []
            start = time.perf_counter()
            for i in range(args.ops):
                request = make_request(rng, size + 20 + i, open_share=1.0)
                create_ms.append(timed(lambda r=request: store.create_request(r), create_cpu_ms))  # type: ignore[misc]
            create_wall_s = time.perf_counter() - start

            find_ms: list[float] = []
            find_cpu_ms: list[float] = []
            found: list[int] = []
            for _ in range(args.ops):
                provider = rng.choice(PROVIDERS)
                find_ms.append(
                    timed(
                        lambda p=provider: found.append(  # type: ignore[misc]
                            len(store.find_requests(WORKSPACE, provider_id=p, open_only=True))
                        ),
                        find_cpu_ms,
                    )
                )

            compact_s, during = None, []
            if callable(getattr(store, "compact", None)):
                start = time.perf_counter()
                store.compact()  # type: ignore[attr-defined]
                compact_s = time.perf_counter() - start
            starter = getattr(store, "_start_compactor", None)
            if callable(starter):
                # Creates while a background compaction rewrites the snapshot.
                starter()
                for i in range(args.ops):
                    if store._compactor is None or store._compactor.poll() is not None:  # type: ignore[attr-defined]
                        break
                    request = make_request(rng, size + 20 + args.ops + i, open_share=1.0)
                    during.append(timed(lambda r=request: store.create_request(r)))  # type: ignore[misc]
                store._wait_for_compactor(timeout=None)  # type: ignore[attr-defined]
            file_mb = store_mb(url)
        finally:
            store.close()
            gc.unfreeze()
    return Row(
        size,
        preload_s,
        open_s,
        file_mb,
        create_ms,
        create_cpu_ms,
        create_wall_s,
        find_ms,
        find_cpu_ms,
        found,
        compact_s,
        during,
        serve,
        stats,
    )


def print_table(backend: str, args: argparse.Namespace, rows: Sequence[Row]) -> None:
    """One line per size."""
    headers = [
        "requests",
        "preload s",
        "open s",
        "file MB",
        "create p50 ms",
        "create p99 ms",
        "CPU p50 / p99",
        "creates/s",
        "find p50 ms",
        "find p99 ms",
        "CPU p50 / p99",
        "found avg",
        "compact s",
        "create p99 ms while compacting (n)",
        "serve: open s",
        "peak MB",
        "settled MB",
        "stats: s",
        "peak MB",
        "settled MB",
    ]
    lines = []
    for row in rows:
        during = (
            f"{percentile(row.during_compaction_ms, 0.99):.2f} ({len(row.during_compaction_ms)})"
            if row.during_compaction_ms
            else "-"
        )
        lines.append(
            [
                f"{row.size:,}",
                f"{row.preload_s:.1f}",
                f"{row.open_s:.2f}",
                "-" if row.file_mb is None else f"{row.file_mb:.1f}",
                f"{percentile(row.create_ms, 0.50):.2f}",
                f"{percentile(row.create_ms, 0.99):.2f}",
                f"{percentile(row.create_cpu_ms, 0.50):.2f} / {percentile(row.create_cpu_ms, 0.99):.2f}",
                f"{len(row.create_ms) / row.create_wall_s:,.0f}",
                f"{percentile(row.find_ms, 0.50):.2f}",
                f"{percentile(row.find_ms, 0.99):.2f}",
                f"{percentile(row.find_cpu_ms, 0.50):.2f} / {percentile(row.find_cpu_ms, 0.99):.2f}",
                f"{statistics.mean(row.found):.0f}",
                "-" if row.compact_s is None else f"{row.compact_s:.2f}",
                during,
                f"{row.serve.seconds:.2f}",
                f"{row.serve.peak_mb:.0f}",
                f"{row.serve.settled_mb:.0f}",
                f"{row.stats.seconds:.2f}",
                f"{row.stats.peak_mb:.0f}",
                f"{row.stats.settled_mb:.0f}",
            ]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print(f"\nbackend: {backend}; {args.ops} timed calls per figure; every create is a durable (fsync'd) write")
    print("CPU: the calling thread's CPU time per call (ms), which other processes on the machine do not inflate")
    print(
        "serve / stats: a fresh process opening the store / running `servechain stats` "
        "(peak = VmHWM; settled = VmRSS after a GC, for stats at its end)"
    )
    if backend == "postgres":
        print("file MB: tables + indexes (pg_total_relation_size); preload: import_records in batches of 5,000")
    print(" | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in lines:
        print(" | ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="tinydb")
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated store sizes")
    parser.add_argument("--ops", type=int, default=500, help="timed calls per measurement")
    parser.add_argument("--url", help="database URL for server backends")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for size in sizes:
        print(f"{args.backend}: {size:,} requests ...", file=sys.stderr, flush=True)
        rows.append(run_size(args.backend, args, size))
    print_table(args.backend, args, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
