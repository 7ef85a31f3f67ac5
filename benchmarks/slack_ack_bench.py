"""Ack latency of ``/request`` on the real app versus a bare Bolt app that only acks.

Preloads 10k requests into a temporary embedded store, starts the full app (build_web_app,
delivery worker on, Web API calls going to a loopback fake Slack) and a bare Bolt app
served through a minimal aiohttp route the same way, then sends N correctly signed
``/request`` commands to each (interleaved, so both see the same machine load) and prints
p50/p99 ack latency of both and their ratio.

    .venv/bin/python benchmarks/slack_ack_bench.py [--requests 1000] [--preload 10000]

Targets: p99 ratio <= 1.5 and our p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from slack_bolt import Ack, App  # noqa: E402
from slack_bolt.authorization import AuthorizeResult  # noqa: E402
from slack_bolt.request import BoltRequest  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.models import Event, EventKind, Person, Request, Status  # noqa: E402
from bot.ports import Store  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.server import RUNTIME_KEY, build_web_app  # noqa: E402
from handlers.slack import SLACK_KEY  # noqa: E402
from storage.tinydb_store import TinyDBStore  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi, ServerThread  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
TEAM = "T0BENCH"
PEOPLE = 50


def preload(store: Store, count: int, now: datetime) -> None:
    """``PEOPLE`` people with Slack ids and ``count`` requests between them, some closed."""
    people = [
        Person(
            id=f"P-{i}",
            handle=f"user{i}",
            name=f"User {i}",
            email=f"user{i}@example.com",
            slack_ids={TEAM: f"U{i:04d}"},
        )
        for i in range(PEOPLE)
    ]
    store.save_org(people)
    drafts = []
    for n in range(count):
        requester, provider = people[n % PEOPLE], people[(n * 7 + 1) % PEOPLE]
        if requester.id == provider.id:
            provider = people[(n + 1) % PEOPLE]
        created = now - timedelta(minutes=count - n)
        events = [Event(kind=EventKind.CREATED, at=created, actor_id=requester.id, to_id=provider.id)]
        status = Status.OPEN
        if n % 3:
            events.append(Event(kind=EventKind.DONE, at=created + timedelta(hours=1), actor_id=provider.id))
            status = Status.DONE
        drafts.append(
            Request(
                requester_id=requester.id,
                provider_id=provider.id,
                text=f"preloaded request {n}",
                created_at=created,
                status=status,
                events=events,
            )
        )
    bulk = getattr(store, "_bulk_load", None)
    if bulk is not None:  # the embedded store's import path: a few large writes
        bulk(drafts)
        return
    for draft in drafts:
        store.create_request(draft)


def bare_bolt_app(api_url: str) -> web.Application:
    """A Bolt app whose /request listener only acks, behind the same aiohttp bridge."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=TOKEN)

    bolt = App(client=WebClient(base_url=api_url), signing_secret=SECRET, authorize=authorize)

    @bolt.command("/request")
    def only_ack(ack: Ack) -> None:
        ack()

    async def handle(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        response = await asyncio.to_thread(bolt.dispatch, BoltRequest(body=body, headers=headers))
        return web.Response(status=response.status, text=response.body)

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    return app


class Client:
    """A keep-alive HTTP client that signs each /request command."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def command(self, n: int, fake: FakeSlackApi) -> float:
        """Send one signed /request; returns seconds until the ack arrived."""
        body = urlencode(
            {
                "team_id": TEAM,
                "user_id": f"U{n % PEOPLE:04d}",
                "command": "/request",
                "text": f"<@U{(n + 1) % PEOPLE:04d}|user> benchmark item {n} by friday",
                "channel_id": "C0BENCH",
                "trigger_id": f"{n}.bench.trigger",
                "response_url": fake.response_url(f"bench-{n}"),
            }
        )
        ts = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        started = time.perf_counter()
        self.connection.request("POST", "/slack/events", body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"ack failed with HTTP {response.status}")
        return elapsed


def send_all(
    ours_port: int, bare_port: int, fake: FakeSlackApi, total: int, concurrency: int
) -> tuple[list[float], list[float]]:
    """Send ``total`` commands to each app from ``concurrency`` threads, alternating apps."""
    ours: list[float] = []
    bare: list[float] = []

    def worker(offset: int) -> None:
        ours_client, bare_client = Client(ours_port), Client(bare_port)
        for n in range(offset, total, concurrency):
            ours.append(ours_client.command(n, fake))
            bare.append(bare_client.command(n, fake))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(max(concurrency, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ours, bare


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) in milliseconds."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index] * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--preload", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1, help="commands in flight at once per app")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, FakeSlackApi(team_id=TEAM) as fake:
        for i in range(PEOPLE):
            fake.add_user(f"U{i:04d}", f"User {i}", email=f"user{i}@example.com")
        store = TinyDBStore(Path(tmp) / "bench.json")
        started = time.perf_counter()
        preload(store, args.preload, now)
        print(f"preloaded {args.preload} requests in {time.perf_counter() - started:.1f}s")
        settings = Settings(
            slack_bot_token=TOKEN,  # type: ignore[arg-type]
            slack_signing_secret=SECRET,  # type: ignore[arg-type]
            slack_api_url=fake.url,
            servechain_db=str(Path(tmp) / "bench.json"),
        )
        ours = ServerThread(build_web_app(settings, store)).start()
        bare = ServerThread(bare_bolt_app(fake.url)).start()
        try:
            ours_client, bare_client = Client(ours.port), Client(bare.port)
            for n in range(20):  # warm up both (imports, first-contact users.info, connections)
                ours_client.command(-1 - n, fake)
                bare_client.command(-1 - n, fake)
            run_started = time.perf_counter()
            ours_ms, bare_ms = send_all(ours.port, bare.port, fake, args.requests, args.concurrency)
            elapsed = time.perf_counter() - run_started
            frontend = ours.app[SLACK_KEY]
            drain_started = time.perf_counter()
            frontend.work.wait_idle(timeout=600)
            drained = time.perf_counter() - drain_started
            runtime = ours.app[RUNTIME_KEY]
            created = len(runtime.store.find_requests("default", created_since=now - timedelta(seconds=1)))
        finally:
            ours.stop()
            bare.stop()
            store.close()
    report(ours_ms, bare_ms, args.requests, args.concurrency, elapsed, created, drained)
    ratio = percentile(ours_ms, 99) / percentile(bare_ms, 99)
    return 0 if ratio <= 1.5 and percentile(ours_ms, 99) < 100 else 1


def report(
    ours: list[float], bare: list[float], count: int, concurrency: int, elapsed: float, created: int, drained: float
) -> None:
    """Print the figures."""

    def row(name: str, s: list[float]) -> str:
        return (
            f"{name:<22} p50 {percentile(s, 50):7.2f} ms   p99 {percentile(s, 99):7.2f} ms"
            f"   mean {statistics.fmean(s) * 1000:7.2f} ms   max {max(s) * 1000:7.2f} ms"
        )

    print(f"{count} signed /request commands to each app ({elapsed:.1f}s, interleaved, {concurrency} in flight)")
    print(row("servechain", ours))
    print(row("bare Bolt (ack only)", bare))
    print(
        f"ratio servechain/bare  p50 {percentile(ours, 50) / percentile(bare, 50):.2f}   "
        f"p99 {percentile(ours, 99) / percentile(bare, 99):.2f}"
    )
    print(f"requests created by servechain after the acks: {created}")
    print(f"its background work finished {drained:.1f}s after the last ack")


if __name__ == "__main__":
    sys.exit(main())
