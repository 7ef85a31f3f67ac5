"""Delivery at real-world latency: how long after a ``/request`` its provider's card arrives.

For each configuration (embedded store; PostgreSQL with one and with two replicas): an org is
loaded, real ``servechain serve`` processes start against a loopback fake Slack Web API (in a
process of its own) whose every call takes ``--latency`` seconds, and signed ``/request``
commands go out at a fixed ``--rate`` for ``--seconds`` (round robin over the replicas). With
``--digests``, 105 weekly digests for 105 managers (people who also get cards) are queued at
once in the middle of the run, each with an 8-week chart like the real one (about 0.3 CPU-s to
draw), and the run also prints how many were posted, how many charts were shared and when the
last one went out; with ``--homes`` every Slack person has opened the App Home, so each change refreshes theirs
(``views.publish``, counted). Once the outbox has drained (or ``--drain`` seconds passed) it
prints, per configuration and platform:

- ack p50/p99 (until Bolt's HTTP answer);
- command-to-provider-card p50/p99 (from sending the command to the fake answering the
  ``chat.postMessage`` of that request's provider card);
- cards lost (no provider card by the end) and messages duplicated (one outbox key posted
  twice); commands the replica refused (an error status, or an ack saying nothing was done)
  are counted apart, neither sent nor lost;
- the order check: in every DM, each kind of card appears in request-number order;

and, once every configuration ran, ``servechain --help``'s wall time (median of 5).

With ``--teams-share S`` (0..1), that share of the commands are Teams messages instead
(``request @tuserN ...`` from one Teams person to another, ``--teams-people`` of them), posted
as Bot Framework Activities to ``/api/messages`` with a token the replicas check against a
loopback OpenID/JWKS fake (``benchmarks/bench_serve.py``; a forged token must get 401 first),
and the cards go to a fake Bot Connector (``tests/fakes/bot_connector.py``, also in a process of
its own) with the same latency. Teams figures are printed on a line of their own: ack (until
``/api/messages`` answered, which for Teams includes the turn's reply through the connector),
command-to-provider-card (until the fake connector answered the post of that request's card in
the provider's chat), lost, duplicated (a request's card posted more than once in one chat)
and order.

    .venv/bin/python benchmarks/delivery_bench.py [--rate 20] [--seconds 20] [--latency 0.15]
        [--configs tinydb,pg1,pg2] [--digests] [--homes] [--hot 48] [--concurrency 32] [--teams-share 0.3]
        [--url postgresql://postgres@127.0.0.1:5432/servechain_bench]

With ``--hot K`` every other command's provider card goes to one of K people, so those DMs get
more than Slack's one message a second and their sends keep waiting for their turn; the card
figures of everyone else's DMs are printed apart from the busy ones'. Before waiting sends gave
back their send slots, K near ``--concurrency`` left everyone else a few slots: with ``--rate 30
--seconds 30 --concurrency 16 --hot 12`` on the embedded store (2026-11-30) the other DMs' cards
took p50/p99 4.39 s / 9.48 s before, 0.36 s / 2.16 s after (that p99 still counts the 1.2% of
their cards whose provider is one of the 12 busy people); the busy DMs' own, ~9.5 s, is Slack's.

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
under the lock, so it slows as the backlog grows; it now looks at lane heads only).

Until 2026-11-30 ``--people`` did not reach the requester (``replica_bench.Client.command``
took ``n % 60``), so 60 requesters' DMs, each allowed about one message a second, capped
delivery near 60 requester cards/s plus what the 64 slots, many sleeping on those DMs' rate
limit, left for the rest (drained at 109 s, card p99 47 s at 100/s); with the requesters spread
over the 1000 people the same code drained at 61 s with card p99 0.6-0.8 s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchmarks.replica_bench as replica_bench  # noqa: E402
import benchmarks.startup_bench as startup_bench  # noqa: E402
from benchmarks.replica_bench import (  # noqa: E402
    CLOCK_TICKS,
    DEFAULT_URL,
    TEAM,
    WORKSPACE,
    Client,
    CpuMeter,
    Replica,
    ensure_database,
    percentile,
    process_ticks,
    slack_id,
    start_replicas,
    stop_replicas,
)
from bot.models import Chart, ChartPanel, ChartSeries, Message, OutboxItem, Person  # noqa: E402
from bot.ports import Store  # noqa: E402
from tests.fakes.bot_openid import ISSUER, OpenIdServer, channel_token, signing_key  # noqa: E402

PEOPLE = 120
TEAMS_PEOPLE = 40
DIGESTS = 105
TENANT = "tenant-bench"
APP_ID = "00000000-0000-0000-0000-0000000bench"
TEAMS_ITEM = re.compile(r"teams item (\d+)\b")
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
        pipe.send(len([c for c in fake.calls("views.publish") if c.status == 200]))
        pipe.send(len([c for c in fake.calls("files.completeUploadExternal") if c.status == 200]))
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
        self.pid = self._process.pid or 0
        self.url: str = self._pipe.recv()
        self.home_publishes = 0
        """How many ``views.publish`` calls Slack took (known once stopped)."""
        self.uploads = 0
        """How many files (charts) were shared (known once stopped)."""

    def response_url(self, name: str) -> str:
        return self.url.replace("/api/", f"/response/{name}")

    def stop(self) -> list[tuple[float, str, str, str]]:
        """Stop it; every posted message as ``(answered at, channel, outbox key, params JSON)``."""
        self._stop.set()
        self.home_publishes = int(self._pipe.recv()) if self._pipe.poll(60) else 0
        self.uploads = int(self._pipe.recv()) if self._pipe.poll(60) else 0
        posts: list[tuple[float, str, str, str]] = self._pipe.recv() if self._pipe.poll(60) else []
        self._process.join(10)
        return posts


# --- the fake Bot Connector (Teams) with latency, in its own process ------------------------------


def teams_user(index: int) -> str:
    return f"29:1tuser{index}-bench"


def teams_aad(index: int) -> str:
    return f"aad-bench-{index}"


def teams_chat(index: int) -> str:
    return f"a:1bench-chat-{index}"


def serve_connector(count: int, latency: float, pipe: Connection, stop: EventType) -> None:
    """Run the fake connector until ``stop``; send its URL, then every post it took, down ``pipe``."""
    from tests.fakes.bot_connector import FakeBotConnector

    async def main() -> list[tuple[float, str, str]]:
        connector = FakeBotConnector(latency=latency)
        for i in range(count):
            connector.add_member(
                teams_user(i),
                name=f"Teams User {i}",
                aad_object_id=teams_aad(i),
                email=f"tuser{i}@example.com",
                tenant_id=TENANT,
            )
        pipe.send(await connector.start())
        await asyncio.to_thread(stop.wait)
        posts = [(c.at, c.conversation_id or "", json.dumps(c.body)) for c in connector.of("send")]
        await connector.close()
        return posts

    pipe.send(asyncio.run(main()))


class FakeTeams:
    """:func:`serve_connector` in a child process, and the OpenID/JWKS fake the replicas check
    incoming tokens against (in this process: it only answers the replicas' key downloads)."""

    def __init__(self, latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._stop = context.Event()
        self._process = context.Process(
            target=serve_connector, args=(TEAMS_PEOPLE, latency, child, self._stop), daemon=True
        )
        self._process.start()
        self.pid = self._process.pid or 0
        self.url: str = self._pipe.recv()
        key, jwk = signing_key("bench-key")
        self._openid = OpenIdServer({"keys": [jwk]}).__enter__()
        self.token = channel_token(key, "bench-key", app_id=APP_ID, service_url=self.url, lifetime=3600)

    def env(self) -> dict[str, str]:
        """What the replicas need to run Teams, authenticated against the fakes."""
        return {
            "SERVECHAIN_TEAMS": "1",
            "MICROSOFT_APP_ID": APP_ID,
            "MICROSOFT_APP_PASSWORD": "bench-password-not-real",
            "TEAMS_TENANT_IDS": TENANT,
            "BENCH_TEAMS_OPENID_URL": self._openid.url,
            "BENCH_TEAMS_ISSUER": ISSUER,
        }

    def stop(self) -> list[tuple[float, str, str]]:
        """Stop both; every post as ``(answered at, conversation id, activity JSON)``."""
        self._stop.set()
        posts: list[tuple[float, str, str]] = self._pipe.recv() if self._pipe.poll(60) else []
        self._process.join(10)
        self._openid.__exit__()
        return posts


class TeamsClient:
    """A keep-alive connection to one replica that posts authenticated Teams messages."""

    def __init__(self, port: int, teams: FakeTeams) -> None:
        self.teams = teams
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def say(self, sender: int, text: str) -> float:
        """``Teams User <sender>`` writes ``text`` in their 1:1 chat; seconds until the answer."""
        status, elapsed = self.post(sender, text, self.teams.token)
        if status >= 300:
            raise RuntimeError(f"/api/messages answered HTTP {status}")
        return elapsed

    def post(self, sender: int, text: str, token: str) -> tuple[int, float]:
        """Post the activity with ``token``; the HTTP status and seconds until it came."""
        activity = {
            "type": "message",
            "id": uuid.uuid4().hex,
            "timestamp": datetime.now(UTC).isoformat(),
            "channelId": "msteams",
            "serviceUrl": self.teams.url,
            "from": {"id": teams_user(sender), "name": f"Teams User {sender}", "aadObjectId": teams_aad(sender)},
            "conversation": {"conversationType": "personal", "tenantId": TENANT, "id": teams_chat(sender)},
            "recipient": {"id": f"28:{APP_ID}", "name": "servechain"},
            "channelData": {"tenant": {"id": TENANT}},
            "text": text,
            "textFormat": "plain",
            "locale": "en-US",
        }
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        self.connection.request("POST", "/api/messages", body=json.dumps(activity), headers=headers)
        response = self.connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started

    def check_refuses_forgeries(self) -> None:
        """The replica checks tokens: one signed with another key is refused (401)."""
        forger, _ = signing_key("bench-key")
        forged = channel_token(forger, "bench-key", app_id=APP_ID, service_url=self.teams.url)
        status, _ = self.post(0, "help", forged)
        if status != 401:
            raise SystemExit(f"a forged Teams token got HTTP {status}, not 401: the replicas are not authenticating")


# --- stores ----------------------------------------------------------------------------------------


def org(teams: bool = False) -> list[Person]:
    slack = [
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
    on_teams = [
        Person(
            id=f"T-{i}",
            workspace=WORKSPACE,
            handle=f"tuser{i}",
            name=f"Teams User {i}",
            email=f"tuser{i}@example.com",
            teams_id=teams_aad(i),
        )
        for i in range(TEAMS_PEOPLE)
    ]
    return slack + (on_teams if teams else [])


def open_store(db: str) -> Store:
    if db.startswith("postgresql"):
        from storage.postgres import PostgresStore

        return PostgresStore(db)
    from storage.tinydb_store import TinyDBStore

    return TinyDBStore(Path(db))


def prepare(db: str, teams: bool, homes: bool) -> None:
    store = open_store(db)
    try:
        reset = getattr(store, "reset", None)
        if callable(reset):
            reset()
        store.save_org(org(teams))
        for i in range(PEOPLE if homes else 0):  # as if each had opened the App Home once
            store.put_doc("slack_home_seen", WORKSPACE, slack_id(i), {"seen": True})
            store.put_doc("slack_home_opened", WORKSPACE, f"P-{i}", {"slack": {TEAM: slack_id(i)}})
    finally:
        store.close()


def digest_chart(i: int) -> Chart:
    """An 8-week chart with the panels and series of :func:`bot.digest.digest_chart`, every week
    with a value (the costliest to draw: about 0.3 CPU-s here)."""
    weeks = [f"W{n}" for n in range(40, 48)]

    def values(top: float) -> list[float | None]:
        return [round((i * 7 + n * 3) % 11 / 10 * top, 2) for n in range(len(weeks))]

    def panel(title: str, names: Sequence[str], top: float, unit: str = "") -> ChartPanel:
        series = [ChartSeries(label=name, values=values(top)) for name in names]
        return ChartPanel(title=title, unit=unit, y_min=0, series=series)

    return Chart(
        title=f"Team {i} · 8 weeks to 2026-W48",
        labels=weeks,
        panels=[
            panel("Pulse and ratings", ["Supported by you", "Served by others", "Work rating"], 5, "1-5"),
            panel("Kudos", ["Received", "Given"], 12),
            panel("Requests from other teams", ["Requests"], 40),
            panel("Other teams wait for a first answer", ["Median"], 6, "working h"),
            panel("You to your staff: time to acknowledge", ["Median"], 6, "working h"),
            panel("You to your staff: rating", ["Rating"], 5, "1-5"),
        ],
        alt_text="8-week trends; the same figures are in the text.",
    )


def queue_digests(db: str, run: int) -> None:
    """105 managers' weekly digests with their charts, due now (what the Monday 09:00 job queues)."""
    now = datetime.now(UTC)
    items = []
    for i in range(DIGESTS):
        key = f"{WORKSPACE}:digest:P-{i}:bench-{run}"
        text = "\n".join(f"- line {n} of the digest" for n in range(20))
        message = Message(
            key=key, recipient_id=f"P-{i}", kind="digest", title="Your team this week", text=text, chart=digest_chart(i)
        )
        items.append(OutboxItem(key=key, message=message, created_at=now, next_attempt_at=now))
    store = open_store(db)
    try:
        store.enqueue(items)
    finally:
        store.close()


def pending(store: Store) -> int:
    """Messages not yet sent and commands not yet run, as the replicas left them (one handle for
    the whole wait: opening the embedded store reads its whole file, 4 times a second)."""
    return store.count_outbox(WORKSPACE, "pending") + store.count_inbox(WORKSPACE)


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class Side:
    """One platform's figures of a run."""

    sent: int
    ack_ms: list[float]
    card_s: list[float]
    lost: int
    duplicated: int
    out_of_order: int
    refused: int = 0
    """Commands not taken, the sender told so (not counted as sent, nor lost)."""
    hot_card_s: list[float] = field(default_factory=list)
    """With ``--hot``: the busy DMs' cards (``card_s`` then holds everyone else's)."""


@dataclass
class Result:
    name: str
    slack: Side
    teams: Side | None
    drained_s: float
    left_pending: int
    home_publishes: int
    cpu: tuple[float, float, float]
    harness_cpu: float
    """CPU seconds of the fakes and this client (the load and the platforms, not servechain)."""
    store_ops: dict[str, tuple[float, float]]
    digests: tuple[int, int, float] | None = None
    """With ``--digests``: digests posted, charts shared, and seconds from queueing to the last post."""


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


def teams_order_problems(posts: Sequence[tuple[float, str, str]], plan: dict[int, tuple[int, int]]) -> int:
    """Cards posted in a Teams chat before an older card of the same kind (provider's or
    requester's), by request number."""
    last: dict[tuple[str, str], int] = {}
    problems = 0
    for _at, chat, body in sorted(posts, key=lambda p: p[0]):
        item, ref = TEAMS_ITEM.search(body), REF.search(body)
        if item is None or ref is None or int(item.group(1)) not in plan:
            continue
        requester, _provider = plan[int(item.group(1))]
        kind = "requester" if chat == teams_chat(requester) else "provider"
        number = int(ref.group(1))
        previous = last.get((chat, kind), 0)
        if number < previous:
            problems += 1
        last[(chat, kind)] = max(previous, number)
    return problems


def teams_side(
    posts: Sequence[tuple[float, str, str]],
    sent_at: dict[int, float],
    plan: dict[int, tuple[int, int]],
    acks: list[float],
) -> Side:
    """Teams figures from the fake connector's posts: the first post naming ``teams item n`` in
    the provider's chat is n's card; more than one post of one item in one chat is a duplicate."""
    cards: dict[int, float] = {}
    per_chat: dict[tuple[str, int], int] = defaultdict(int)
    for at, chat, body in posts:
        found = TEAMS_ITEM.search(body)
        if found is None or int(found.group(1)) not in plan:
            continue
        n = int(found.group(1))
        per_chat[(chat, n)] += 1
        if chat == teams_chat(plan[n][1]) and n in sent_at:
            cards[n] = min(cards.get(n, at), at)
    return Side(
        sent=len(sent_at),
        ack_ms=acks,
        card_s=[at - sent_at[n] for n, at in cards.items()],
        lost=len(sent_at) - len(cards),
        duplicated=sum(count - 1 for count in per_chat.values() if count > 1),
        out_of_order=teams_order_problems(posts, plan),
    )


def is_teams(n: int, share: float) -> bool:
    """Whether command ``n`` goes through Teams: ``share`` of them, spread evenly."""
    return int((n + 1) * share) > int(n * share)


def is_hot(n: int, hot: int) -> bool:
    """With ``--hot K``: every other command's provider card goes to one of the first K people."""
    return hot > 0 and n % 2 == 1


def run(name: str, db: str, replicas_count: int, args: argparse.Namespace, folder: Path, run_no: int) -> Result:
    with_teams = args.teams_share > 0
    prepare(db, with_teams, args.homes)
    users = [(slack_id(i), f"User {i}") for i in range(PEOPLE)]
    fake = FakeSlack(users, args.latency)
    teams = FakeTeams(args.latency) if with_teams else None
    env = {"DELIVERY_CONCURRENCY": str(args.concurrency), **(teams.env() if teams else {})}
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_serve.py")] if teams else None
    replicas: list[Replica] = start_replicas(
        replicas_count, url=db, api_url=fake.url, folder=folder / name, extra_env=env, command=command
    )
    sent_at: dict[int, float] = {}
    teams_sent_at: dict[int, float] = {}
    teams_plan: dict[int, tuple[int, int]] = {}
    ack_ms: list[float] = []
    teams_ack_ms: list[float] = []
    refused = {"slack": 0, "teams": 0}
    """Commands the replica did not take (an error answer, or a message saying nothing was done)."""
    lock = threading.Lock()
    total = int(args.rate * args.seconds)
    try:
        for replica in replicas:  # warm up imports, pools and keep-alive connections
            warm = Client(replica.port, fake)  # type: ignore[arg-type]
            for n in range(5):
                warm.command(10**6 + n, text="help")
        if teams is not None:  # every Teams person says hello once: the bot links them and keeps their chat
            warm_teams = [TeamsClient(r.port, teams) for r in replicas]
            for client in warm_teams:
                client.check_refuses_forgeries()
            for i in range(TEAMS_PEOPLE):
                warm_teams[i % len(warm_teams)].say(i, "help")
        meter = CpuMeter(replicas)
        harness = [os.getpid(), fake.pid] + ([teams.pid] if teams is not None else [])
        harness_before = sum(process_ticks(pid) for pid in harness)
        started = time.time()
        digests_at = started
        index = iter(range(total))

        def sender() -> None:
            clients = [Client(r.port, fake) for r in replicas]  # type: ignore[arg-type]
            teams_clients = [TeamsClient(r.port, teams) for r in replicas] if teams else []
            while True:
                with lock:
                    n = next(index, None)
                if n is None:
                    return
                time.sleep(max(0.0, started + n / args.rate - time.time()))
                if teams_clients and is_teams(n, args.teams_share):
                    requester = n % TEAMS_PEOPLE
                    provider = (n * 7 + 1) % TEAMS_PEOPLE
                    if provider == requester:
                        provider = (provider + 1) % TEAMS_PEOPLE
                    with lock:
                        teams_plan[n] = (requester, provider)
                    at = time.time()
                    teams_client = teams_clients[n % len(teams_clients)]
                    try:
                        elapsed = teams_client.say(requester, f"request @tuser{provider} teams item {n} by friday")
                    except (RuntimeError, OSError) as error:
                        print(f"  [{name}] Teams message {n}: {error}", flush=True)
                        with lock:
                            refused["teams"] += 1
                        teams_client.connection.close()
                        continue
                    with lock:
                        teams_sent_at[n] = at
                        teams_ack_ms.append(elapsed * 1000)
                    continue
                provider = (n * 7 + 1) % PEOPLE
                if provider == n % PEOPLE:
                    provider = (provider + 1) % PEOPLE
                if is_hot(n, args.hot):  # a card into one of the few busy DMs
                    provider = (n // 2) % args.hot
                text = f"<@{slack_id(provider)}|user> delivery item {n} by friday"
                at = time.time()
                client = clients[n % len(clients)]
                try:
                    elapsed = client.command(run_no * 10**5 + n, text=text)
                except (RuntimeError, OSError) as error:  # e.g. Bolt's 404 when the ack took over 3 s
                    print(f"  [{name}] command {n}: {error}", flush=True)
                    with lock:
                        refused["slack"] += 1
                    client.connection.close()
                    continue
                with lock:
                    ack_ms.append(elapsed * 1000)
                    if client.last_body:  # the person was told nothing was done: refused, not lost
                        refused["slack"] += 1
                    else:
                        sent_at[n] = at

        threads = [threading.Thread(target=sender) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        if args.digests:
            time.sleep(args.seconds / 2)
            queue_digests(db, run_no)
            digests_at = time.time()
            print(f"  [{name}] queued {DIGESTS} digests at {time.time() - started:.1f}s", flush=True)
        for thread in threads:
            thread.join()
        deadline = time.time() + args.drain
        watching = open_store(db)
        try:
            while time.time() < deadline and pending(watching):
                time.sleep(0.25)
            drained_s = time.time() - started
            left_pending = pending(watching)
        finally:
            watching.close()
        time.sleep(0.5)
        cpu = meter.read()
        harness_cpu = (sum(process_ticks(pid) for pid in harness) - harness_before) / CLOCK_TICKS
        store_ops = store_profile(replicas)
    finally:
        stop_replicas(replicas)
        posts = fake.stop()
        teams_posts = teams.stop() if teams else []
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
    hot_card_s: list[float] = []
    for n, at in cards.items():
        (hot_card_s if is_hot(n, args.hot) else card_s).append(at - sent_at[n])
    slack = Side(
        sent=len(sent_at),
        ack_ms=ack_ms,
        card_s=card_s,
        lost=len(sent_at) - len(cards),
        duplicated=sum(count - 1 for key, count in per_key.items() if key and count > 1),
        out_of_order=order_problems(posts),
    )
    slack.refused = refused["slack"]
    slack.hot_card_s = hot_card_s
    on_teams = teams_side(teams_posts, teams_sent_at, teams_plan, teams_ack_ms) if teams else None
    if on_teams is not None:
        on_teams.refused = refused["teams"]
    digests = None
    if args.digests:
        posted = [at for at, _channel, key, _params in posts if ":digest:" in key]
        digests = (len(posted), fake.uploads, max(posted, default=digests_at) - digests_at)
    return Result(
        name, slack, on_teams, drained_s, left_pending, fake.home_publishes, cpu, harness_cpu, store_ops, digests
    )


def side_line(name: str, side: Side, result: Result) -> str:
    acks, cards = side.ack_ms, side.card_s
    ack = f"{percentile(acks, 0.5):6.1f} / {percentile(acks, 0.99):6.1f} ms" if acks else "none"
    card = f"{percentile(cards, 0.5):.2f}s / {percentile(cards, 0.99):.2f}s" if cards else "none"
    # not lost while the run stopped waiting with work still queued (then p99 is of the cards that came)
    missing = f"cards not yet delivered {side.lost}" if result.left_pending else f"lost {side.lost}"
    return (
        f"{name:<14} sent {side.sent:>5}  ack p50/p99 {ack}  card p50/p99 {card}  {missing}  "
        f"duplicated {side.duplicated}  out of order {side.out_of_order}"
        f"{f'  refused {side.refused}' if side.refused else ''}"
    )


def report(result: Result, args: argparse.Namespace) -> None:
    share, replica_cpu, pg_cpu = result.cpu
    if result.left_pending:
        drained = f"NOT drained after {result.drained_s:.1f}s ({result.left_pending} commands/messages still pending)"
    else:
        drained = f"drained at {result.drained_s:.1f}s"
    print(
        f"{result.name:<8} {args.rate:>5.0f}/s x {args.seconds:.0f}s  {drained}  "
        f"{f'App Homes published {result.home_publishes}  ' if args.homes else ''}"
        f"machine busy {share:.0%}, replicas {replica_cpu:.1f} CPU-s, PostgreSQL {pg_cpu:.1f} CPU-s, "
        f"fakes and client {result.harness_cpu:.1f} CPU-s",
        flush=True,
    )
    print("  " + side_line("slack", result.slack, result), flush=True)
    if args.hot:
        hot = result.slack.hot_card_s
        card = f"{percentile(hot, 0.5):.2f}s / {percentile(hot, 0.99):.2f}s" if hot else "none"
        print(f"  {'':<14} (card p50/p99 above: the other DMs; the {args.hot} busy DMs' cards: {card})", flush=True)
    if result.teams is not None:
        print("  " + side_line("teams", result.teams, result), flush=True)
    if result.digests is not None:
        posted, charts, last = result.digests
        print(f"  {'digests':<14} posted {posted} of {DIGESTS}, charts shared {charts}, last {last:.1f}s after queued")
    if args.profile and result.store_ops:
        commands = result.slack.sent + (result.teams.sent if result.teams else 0)
        calls = sum(c for c, _ in result.store_ops.values())
        busy = sum(s for _, s in result.store_ops.values())
        print(
            f"         store: {calls / max(commands, 1):.1f} calls per command, {busy:.1f}s in store calls "
            f"(summed over threads); by operation (calls per command, mean ms):"
        )
        ranked = sorted(result.store_ops.items(), key=lambda item: -item[1][1])
        print(
            "           "
            + ", ".join(
                f"{name} {c / max(commands, 1):.1f} x {s / max(c, 1) * 1000:.1f}" for name, (c, s) in ranked[:10]
            )
        )


def main(argv: list[str] | None = None) -> int:
    global PEOPLE, TEAMS_PEOPLE
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
    parser.add_argument(
        "--teams-share",
        type=float,
        default=0.0,
        help="share of the commands (0..1) sent as authenticated Teams messages, whose cards go to a fake "
        "Bot Framework connector with the same latency",
    )
    parser.add_argument(
        "--homes",
        action="store_true",
        help="every Slack person has opened the App Home, so each change refreshes theirs (views.publish)",
    )
    parser.add_argument("--teams-people", type=int, default=TEAMS_PEOPLE, help="Teams people (with --teams-share)")
    parser.add_argument(
        "--hot",
        type=int,
        default=0,
        help="every other provider card goes to one of this many people: busy DMs that get more than "
        "Slack's one message a second (their cards are reported apart from everyone else's)",
    )
    args = parser.parse_args(argv)
    PEOPLE = args.people  # script-wide settings, read by the helpers above
    replica_bench.PEOPLE = PEOPLE  # its Client.command picks the requester: n % PEOPLE (60 by default there)
    TEAMS_PEOPLE = args.teams_people
    if not 0 <= args.teams_share <= 1:
        parser.error("--teams-share is a share of the commands, from 0 to 1")
    print(
        f"delivery bench: {args.rate:.0f} commands/s for {args.seconds:.0f}s, Web API latency "
        f"{args.latency * 1000:.0f} ms, {PEOPLE} people, DELIVERY_CONCURRENCY={args.concurrency}"
        f"{', 105 digests mid-run' if args.digests else ''}"
        f"{f', {args.teams_share:.0%} of commands through Teams' if args.teams_share else ''}"
        f"{', App Homes opened' if args.homes else ''}"
        " (all processes share this machine's cores)",
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
        env = startup_bench._env(folder / "help.json")
        walls = sorted(startup_bench.time_command(["--help"], env)[0] for _ in range(5))
    print(f"servechain --help: median {walls[2]:.3f} s wall over 5 runs (target < 0.25 s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
