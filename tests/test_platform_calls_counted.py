"""Every platform API call ``serve`` makes shows in ``/metrics``: here the daily org sync the
scheduler runs in ``serve`` (Slack ``users.list``, Microsoft Graph's token and ``/users``), the
outbox looking up a post whose outcome was lost, and Teams turns whose Bot Connector calls fail,
driven through the real app against the loopback fakes, then counted from a scrape of
``/metrics`` and compared with what the fakes saw."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.delivery import UNCONFIRMED
from bot.dispatch import run_request
from bot.ports import Store
from bot.settings import Settings
from bot.workhours import DEFAULT_HOURS
from handlers.observability import Metrics
from handlers.runtime import Runtime
from handlers.server import RUNTIME_KEY, build_web_app
from tests.drills import seed_linked_org
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM, USERS
from tests.teams.conftest import ALICE, EVERYONE, TENANT, TeamsHarness, teams_settings

MONDAY_7 = datetime(2026, 11, 30, 7, tzinfo=UTC)
"""After ORG_SYNC_HOUR (6 UTC): the scheduler's first pass of the day syncs the org."""

Counts = dict[tuple[str, str, str], float]


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("SERVECHAIN_", "SLACK_", "GRAPH_", "ORG_SYNC", "DIRECTORY_", "MICROSOFT_")):
            monkeypatch.delenv(name)
    yield


def _in_serve(settings: Settings, store: Store, work: Callable[[Runtime], object]) -> Counts:
    """Build ``serve``'s app with metrics, do ``work`` with its runtime, scrape ``/metrics`` and
    return ``servechain_platform_api_calls_total`` by (platform, method, outcome)."""

    async def scenario() -> str:
        app = build_web_app(settings, store, clock=lambda: MONDAY_7, deliver=False, metrics=Metrics())
        async with TestClient(TestServer(app)) as client:
            await asyncio.to_thread(work, app[RUNTIME_KEY])
            response = await client.get("/metrics")
            assert response.status == 200
            return await response.text()

    return _counts(asyncio.run(scenario()))


def _counts(exposition: str) -> Counts:
    """``servechain_platform_api_calls_total`` by (platform, method, outcome) from a scrape."""
    counts: Counts = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "servechain_platform_api_calls_total":
                labels: dict[str, Any] = sample.labels
                counts[(labels["platform"], labels["method"], labels["outcome"])] = sample.value
    return counts


def _sync_in_serve(settings: Settings, store: Store) -> Counts:
    """``serve`` runs one scheduler pass, in which the daily org sync is due."""

    def sync(runtime: Runtime) -> None:
        report = runtime.run_scheduler()
        assert "org-sync" in [job.name for job in report.jobs] and not report.errors, report

    return _in_serve(settings, store, sync)


def test_the_daily_slack_org_sync_in_serve_counts_each_users_list_call(store: Store) -> None:
    with FakeSlackApi(team_id="T0ACME") as slack:
        slack.add_user("U01ANN", "Ann Lee", email="ann@acme.example", tz="America/New_York")
        slack.fail("users.list", "ratelimited", status=429, retry_after=0)
        settings = Settings(
            slack_bot_token="xoxb-test",
            slack_signing_secret="0" * 32,
            slack_api_url=slack.url,
            slack_team_ids="T0ACME",
            org_sync="slack",
        )

        counts = _sync_in_serve(settings, store)

        assert [c.status for c in slack.calls("users.list")] == [429, 200]
    assert counts[("slack", "users.list", "rate_limited")] == 1
    assert counts[("slack", "users.list", "ok")] == 1
    assert store.find_person("default", handle="ann.lee") is not None


def test_the_daily_graph_org_sync_in_serve_counts_the_token_and_each_users_call(store: Store) -> None:
    with FakeGraphApi() as graph:
        graph.add_user("g1", "Gia Boss", mail="gia@contoso.example", department="Ops")
        graph.fail("users", 503, "serviceNotAvailable", retry_after=0)
        graph.fail("users", 429, "TooManyRequests", retry_after=0)
        settings = Settings(
            servechain_teams=True,
            graph_tenant_id=graph.tenant,
            graph_client_id=graph.client_id,
            graph_client_secret=graph.secret,
            graph_api_url=graph.api_url,
            graph_login_url=graph.login_url,
            org_sync="graph",
        )

        counts = _sync_in_serve(settings, store)

        assert [c.status for c in graph.calls("token")] == [200]
        assert [c.status for c in graph.calls("users")] == [503, 429, 200]
    assert counts[("graph", "token", "ok")] == 1
    assert counts[("graph", "users", "retry")] == 1
    assert counts[("graph", "users", "rate_limited")] == 1
    assert counts[("graph", "users", "ok")] == 1
    assert [p.email for p in store.list_people("default")] == ["gia@contoso.example"]


def test_serve_counts_the_outbox_looking_up_a_post_whose_outcome_was_lost(store: Store) -> None:
    """A send that may have reached Slack unrecorded is looked up (``conversations.history``)
    before it is posted again: that lookup is a call too, counted as ``lookup``."""
    seed_linked_org(store)
    with FakeSlackApi(team_id=TEAM) as slack:
        for user_id, (name, email, tz) in USERS.items():
            slack.add_user(user_id, name, email=email, tz=tz)
        settings = Settings(
            slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.url, slack_team_ids=TEAM
        )

        def lost_then_delivered(runtime: Runtime) -> None:
            alice = store.find_person("default", handle="alice")
            assert alice is not None
            reply = run_request(store=store, actor=alice, text="@bob the Q3 numbers", now=MONDAY_7, hours=DEFAULT_HOURS)
            assert reply.ok, reply.text
            [card] = [i for i in store.list_outbox("default") if i.message.kind == "provider_card"]
            lost = f"{UNCONFIRMED}attempt 1 was sending"  # a worker died before it heard back
            store.save_outbox_item(card.model_copy(update={"attempts": 1, "last_error": lost}))
            runtime.deliver_due()

        counts = _in_serve(settings, store, lost_then_delivered)

        assert len(slack.calls("conversations.history")) == 1
        assert counts[("slack", "lookup", "ok")] == 1
        assert counts[("slack", "post", "ok")] == len(slack.calls("chat.postMessage")) == 2


class _MeasuredTeams(TeamsHarness):
    """The Teams harness with ``serve``'s metrics and ``/metrics`` on the app."""

    async def __aenter__(self) -> _MeasuredTeams:
        await self.connector.start()
        for account in EVERYONE:
            self.connector.add_member(
                account.user_id, name=account.name, aad_object_id=account.aad, email=account.email, tenant_id=TENANT
            )
        app = build_web_app(self.settings, self.store, clock=self.clock, deliver=False, metrics=Metrics())
        self.runtime = app[RUNTIME_KEY]
        self.client = TestClient(TestServer(app))
        await self.client.start_server()
        self.url = str(self.client.make_url("/api/messages"))
        self._session = self.client.session
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.client.close()
        await self.connector.close()

    async def counts(self) -> Counts:
        response = await self.client.get("/metrics")
        return _counts(await response.text())


def test_teams_turns_count_each_bot_connector_call_by_outcome_like_slack(store: Store) -> None:
    """A reply the connector refuses (500) or rate limits (429) and one that goes through, and
    the member lookup, each counted once, as the fake connector saw them."""

    async def scenario() -> Counts:
        async with _MeasuredTeams(store, settings=teams_settings()) as teams:
            teams.connector.fail_next(500, kinds=("reply",))
            assert await teams.say(ALICE, "help") == 201
            teams.connector.fail_next(429, kinds=("reply",), retry_after=1)
            assert await teams.say(ALICE, "help") == 201
            assert await teams.say(ALICE, "help") == 201
            assert [c.status for c in teams.connector.of("reply", ok=False)] == [500, 429, 200]
            assert [c.status for c in teams.connector.of("member", ok=False)] == [200]
            return await teams.counts()

    counts = asyncio.run(scenario())

    assert counts[("teams", "send_activity", "failed")] == 1
    assert counts[("teams", "send_activity", "rate_limited")] == 1
    assert counts[("teams", "send_activity", "ok")] == 1
    assert counts[("teams", "get_member", "ok")] == 1
