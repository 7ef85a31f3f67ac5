"""Digest benchmark: every manager's weekly digest of a 1,000-person org with a year of history.

Usage: ``python benchmarks/digest_bench.py [--backend tinydb|postgres] [--url URL] [--people 1000]
[--weeks 52] [--requests 50000] [--kudos 20000] [--seed 7]``

The org: a CEO, 8 departments of 12 teams each (~9 people per team), people in London, Berlin,
New York and Tokyo. History: ``--requests`` requests over ``--weeks`` weeks (acknowledged, done,
declined, cancelled, handed off, rated, some with due dates, a few still open), ``--kudos`` kudos,
and the weekly pulse answered by about 55% of people each week. It is loaded with the stores'
bulk path (``import_records``), not timed.

Timed: what the scheduler's digest job does on a Monday, for every manager at once: one
:class:`bot.digest.OrgSnapshot` (one pass over the store), then each manager's digest sliced from
it and rendered as its message (text and chart data; the PNG is drawn when a message is sent, so
drawing one is timed separately). Target: under 10 s in total, peak memory under 500 MB.

The timed work runs in a fresh process that opens the stored history, as a replica would.
Memory is measured two ways there and both are printed: the ``tracemalloc`` peak of computing
the digests (Python allocations, from a second, untimed run because tracing slows Python
down), and ``resource.getrusage`` max RSS of that process (everything it holds, including the
whole TinyDB store it opened).

PostgreSQL: ``--url`` (or ``SERVECHAIN_BENCH_POSTGRES_URL``) names a server database to connect
to as an admin (default ``postgresql://postgres@127.0.0.1:5432/postgres``); a throwaway database
``servechain_digest_bench_<pid>`` is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.charts import chart_png
from bot.digest import DEFAULT_DIGEST, build_digest, digest_message, snapshot_for
from bot.models import Event, EventKind, Kudos, Person, Rating, Request, Status, Team
from bot.ports import Store
from bot.pulse import ANSWER_DOC, pulse_team
from bot.weeks import iso_week, last_week
from bot.workhours import DEFAULT_HOURS
from storage import open_store

WORKSPACE = "default"
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # a Monday morning: digest time
ZONES = ("Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
DEPARTMENTS = 8
TEAMS_PER_DEPARTMENT = 12
BATCH = 5_000


# --------------------------------------------------------------------------- the org and its history


def build_org(people_count: int, rng: random.Random) -> tuple[list[Person], list[Team]]:
    """A CEO, department heads, team managers and team members."""
    people = [Person(id="P-ceo", handle="ceo", name="Cass CEO", tz="Europe/London")]
    teams: list[Team] = []
    for d in range(DEPARTMENTS):
        head = f"P-head{d}"
        teams.append(Team(id=f"T-d{d}", name=f"Department {d}", manager_id=head))
        people.append(
            Person(id=head, handle=f"head{d}", name=f"Head {d}", team_id=f"T-d{d}", manager_id="P-ceo", tz=ZONES[d % 4])
        )
        for t in range(TEAMS_PER_DEPARTMENT):
            team_id, manager = f"T-d{d}t{t}", f"P-m{d}x{t}"
            teams.append(Team(id=team_id, name=f"Team {d}.{t}", manager_id=manager, parent_id=f"T-d{d}"))
            people.append(
                Person(
                    id=manager,
                    handle=f"m{d}x{t}",
                    name=f"Manager {d}.{t}",
                    team_id=team_id,
                    manager_id=head,
                    tz=ZONES[(d + t) % 4],
                )
            )
    sub_teams = [t for t in teams if t.parent_id]
    for n in range(people_count - len(people)):
        team = sub_teams[n % len(sub_teams)]
        people.append(Person(id=f"P-u{n}", handle=f"u{n}", name=f"Person {n}", team_id=team.id, tz=rng.choice(ZONES)))
    return people, teams


def _working_moment(rng: random.Random, start: datetime, weeks: int) -> datetime:
    week = rng.randrange(weeks)
    return start + timedelta(weeks=week, days=rng.randrange(5), hours=rng.uniform(7, 19))


def build_requests(people: list[Person], count: int, weeks: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``count`` request documents over ``weeks`` weeks before NOW, numbered from 1."""
    start = NOW - timedelta(weeks=weeks) - timedelta(hours=9, minutes=30)
    by_team: dict[str, list[Person]] = {}
    for person in people:
        by_team.setdefault(person.team_id or "", []).append(person)
    everyone = [p for p in people if p.team_id]
    for number in range(1, count + 1):
        requester = rng.choice(everyone)
        pool = by_team[requester.team_id or ""] if rng.random() < 0.35 else everyone
        provider = rng.choice(pool)
        while provider.id == requester.id:
            provider = rng.choice(everyone)
        created = _working_moment(rng, start, weeks)
        events = [Event(kind=EventKind.CREATED, at=created, actor_id=requester.id, to_id=provider.id)]
        due = created + timedelta(days=rng.randint(1, 5)) if rng.random() < 0.4 else None
        age = NOW - created
        status = Status.OPEN
        holder = provider
        if rng.random() < 0.05:
            mates = by_team[provider.team_id or ""]
            other = rng.choice(mates)
            if other.id != provider.id:
                events.append(
                    Event(
                        kind=EventKind.HANDED_OFF,
                        at=created + timedelta(minutes=20),
                        actor_id=provider.id,
                        to_id=other.id,
                        note="over to you",
                    )
                )
                holder = other
        still_open = rng.random() < (0.3 if age < timedelta(weeks=2) else 0.02)
        acked = created + timedelta(hours=rng.expovariate(1 / 2.5))
        if acked < NOW and rng.random() < 0.95:
            events.append(Event(kind=EventKind.ACKNOWLEDGED, at=acked, actor_id=holder.id))
            status = Status.ACKNOWLEDGED
            closed = acked + timedelta(hours=rng.expovariate(1 / 12))
            if not still_open and closed < NOW:
                roll = rng.random()
                if roll < 0.85:
                    events.append(Event(kind=EventKind.DONE, at=closed, actor_id=holder.id, note="done"))
                    status = Status.DONE
                    if rng.random() < 0.5:
                        score = rng.choices((1, 2, 3, 4, 5), weights=(2, 4, 14, 40, 40))[0]
                        events.append(
                            Event(
                                kind=EventKind.RATED,
                                at=closed + timedelta(hours=1),
                                actor_id=requester.id,
                                rating=Rating(score=score, needs={"information": score}),
                            )
                        )
                elif roll < 0.95:
                    alternative = "ask the data team" if rng.random() < 0.5 else None
                    events.append(
                        Event(
                            kind=EventKind.DECLINED, at=closed, actor_id=holder.id, note="no", alternative=alternative
                        )
                    )
                    status = Status.DECLINED
                else:
                    events.append(Event(kind=EventKind.CANCELLED, at=closed, actor_id=requester.id))
                    status = Status.CANCELLED
        yield Request(
            workspace=WORKSPACE,
            number=number,
            requester_id=requester.id,
            provider_id=holder.id,
            text=f"Request {number}: please send the figures for the monthly report",
            created_at=created,
            due_at=due,
            status=status,
            events=events,
        ).model_dump(mode="json")


def build_kudos(people: list[Person], count: int, weeks: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """``count`` kudos documents over ``weeks`` weeks before NOW."""
    start = NOW - timedelta(weeks=weeks)
    for n in range(count):
        giver = rng.choice(people)
        recipients = {p.id for p in rng.sample(people, 2 if rng.random() < 0.2 else 1)} - {giver.id}
        if not recipients:
            continue
        yield Kudos(
            id=f"K-{n}",
            workspace=WORKSPACE,
            giver_id=giver.id,
            recipient_ids=sorted(recipients),
            message="thanks for the help #teamwork",
            values=["teamwork"],
            at=_working_moment(rng, start, weeks),
        ).model_dump(mode="json")


def build_pulse(people: list[Person], teams: list[Team], weeks: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """About 55% of people answer each week's pulse (answer documents as ``bot.pulse`` stores them)."""
    by_id = {t.id: t for t in teams}
    for offset in range(weeks):
        week = iso_week(NOW - timedelta(weeks=offset + 1))
        for person in people:
            team = pulse_team(person, by_id)
            if team is None or rng.random() > 0.55:
                continue
            doc = {
                "team": team,
                "week": week,
                "manager_support": rng.choices((1, 2, 3, 4, 5), weights=(3, 7, 20, 40, 30))[0],
                "service": rng.choices((1, 2, 3, 4, 5), weights=(5, 10, 30, 35, 20))[0],
                "comment": "more focus time please" if rng.random() < 0.1 else None,
            }
            yield {
                "kind": ANSWER_DOC,
                "workspace": WORKSPACE,
                "key": f"{team}:{week}:{rng.getrandbits(128):032x}",
                "doc": doc,
            }


def _batched(kind: str, docs: Iterator[dict[str, Any]], store: Store) -> int:
    batch: list[dict[str, Any]] = []
    total = 0
    for doc in docs:
        batch.append(doc)
        if len(batch) >= BATCH:
            total += store.import_records(kind, batch)
            batch = []
    if batch:
        total += store.import_records(kind, batch)
    return total


def load(store: Store, args: argparse.Namespace) -> dict[str, int]:
    """Store the org and its history through the bulk path; returns counts per kind."""
    rng = random.Random(args.seed)
    people, teams = build_org(args.people, rng)
    store.save_org(people, teams)
    counts = {
        "people": len(people),
        "teams": len(teams),
        "requests": _batched("requests", build_requests(people, args.requests, args.weeks, rng), store),
        "kudos": _batched("kudos", build_kudos(people, args.kudos, args.weeks, rng), store),
        "pulse answers": _batched("docs", build_pulse(people, teams, args.weeks, rng), store),
    }
    store.import_records("counters", [{"workspace": WORKSPACE, "last": args.requests}])
    compact = getattr(store, "compact", None)
    if callable(compact):
        compact()
    return counts


# --------------------------------------------------------------------------- the timed work


@dataclass
class Result:
    """What one run computed."""

    digests: int
    snapshot_seconds: float
    digest_seconds: float
    requests_read: int
    longest_text: int


def every_digest(store: Store) -> Result:
    """What the Monday job computes: one snapshot, then each manager's digest and message."""
    started = time.perf_counter()
    people = store.list_people(WORKSPACE)
    weeks = {last_week(NOW, p.tz) for p in people}
    snapshot = snapshot_for(
        store=store, workspace=WORKSPACE, weeks=weeks, count=DEFAULT_DIGEST.weeks, now=NOW, hours=DEFAULT_HOURS
    )
    loaded = time.perf_counter()
    messages = []
    for manager in snapshot.managers():
        digest = build_digest(snapshot, manager, last_week(NOW, manager.tz))
        messages.append(digest_message(digest))
    done = time.perf_counter()
    longest = max(len(m.text) + sum(len(line) for s in m.sections for line in s.lines) for m in messages)
    return Result(len(messages), loaded - started, done - loaded, len(snapshot.facts), longest)


# --------------------------------------------------------------------------- backends


@contextmanager
def tinydb_url(args: argparse.Namespace) -> Iterator[str]:
    """A TinyDB file in a fresh temp folder."""
    with tempfile.TemporaryDirectory(prefix="servechain-digest-bench-") as folder:
        yield os.path.join(folder, "bench.json")


@contextmanager
def postgres_url(args: argparse.Namespace) -> Iterator[str]:
    """A throwaway database on the server named by ``--url``, dropped afterwards."""
    import psycopg
    from psycopg import sql

    admin = (
        args.url or os.environ.get("SERVECHAIN_BENCH_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"servechain_digest_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


BACKENDS: dict[str, Callable[[argparse.Namespace], Any]] = {"tinydb": tinydb_url, "postgres": postgres_url}


def max_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str) -> dict[str, float]:
    """In a fresh process, as a replica would: open the store, compute every digest (timed), again
    under tracemalloc (peak), and draw one chart; returns the figures."""
    store = open_store(url)
    try:
        result = every_digest(store)
        rss = max_rss_mb()  # before tracemalloc, whose own bookkeeping would count
        tracemalloc.start()
        every_digest(store)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        snapshot = snapshot_for(
            store=store, workspace=WORKSPACE, weeks={last_week(NOW, "UTC")}, count=8, now=NOW, hours=DEFAULT_HOURS
        )
        head = next(m for m in snapshot.managers() if m.id == "P-head0")
        chart = digest_message(build_digest(snapshot, head, last_week(NOW, head.tz))).chart
        assert chart is not None
        chart_png(chart)  # the first drawing also loads matplotlib and its fonts
        drawn = time.perf_counter()
        png = chart_png(chart)
        drawn = time.perf_counter() - drawn
    finally:
        store.close()
    return {
        "digests": result.digests,
        "requests_read": result.requests_read,
        "snapshot": result.snapshot_seconds,
        "slicing": result.digest_seconds,
        "total": result.snapshot_seconds + result.digest_seconds,
        "traced_mb": peak / 2**20,
        "rss_mb": rss,
        "longest_text": result.longest_text,
        "png_bytes": len(png),
        "png_ms": drawn * 1000,
    }


def _child(*arguments: str) -> dict[str, Any]:
    """Run this script in a fresh process and read the JSON it prints last."""
    done = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{arguments[0]} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="tinydb")
    parser.add_argument("--url", help="postgres: an admin URL of the server (a throwaway database is created)")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--kudos", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--load", metavar="STORE", help=argparse.SUPPRESS)  # child process: fill the store
    parser.add_argument("--measure", metavar="STORE", help=argparse.SUPPRESS)  # child process: time it
    args = parser.parse_args(argv)
    if args.load:
        store = open_store(args.load)
        try:
            print(json.dumps(load(store, args)))
        finally:
            store.close()
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0

    # Loading and measuring each run in a fresh process, and this one stays small: on Linux a
    # child's getrusage max RSS starts from its parent's, so a big parent would inflate it.
    sizes = [f"--{name}={getattr(args, name)}" for name in ("people", "weeks", "requests", "kudos", "seed")]
    with BACKENDS[args.backend](args) as url:
        started = time.perf_counter()
        counts = _child("--load", url, *sizes)
        loaded = ", ".join(f"{v:,} {k}" for k, v in counts.items())
        print(f"backend {args.backend}: loaded {loaded} in {time.perf_counter() - started:.1f}s (not timed)")
        figures = _child("--measure", url)
    ok = figures["total"] < 10 and figures["traced_mb"] < 500 and figures["rss_mb"] < 500
    print(
        f"digests: {figures['digests']:.0f} managers ({figures['requests_read']:,.0f} requests of the 8-9 weeks read)\n"
        f"time: {figures['total']:.2f}s in total = {figures['snapshot']:.2f}s one pass over the store "
        f"+ {figures['slicing']:.2f}s slicing and rendering every digest (target < 10 s)\n"
        f"memory: tracemalloc peak while computing the digests {figures['traced_mb']:.1f} MB; max RSS of the "
        f"process that opened the store and computed them (resource.getrusage) "
        f"{figures['rss_mb']:.0f} MB (target < 500 MB)\n"
        f"longest digest text: {figures['longest_text']:,.0f} characters; one chart PNG: {figures['png_bytes']:,.0f} "
        f"bytes drawn in {figures['png_ms']:.0f} ms (drawn when the message is sent, not part of the total)\n"
        + ("OK" if ok else "OVER TARGET")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
