"""The dashboard while its facts cache reloads (bot.dashboard.MetricsCache behind the routes): pages
keep being served from the previous facts, a reload replaces a window with everything its pages
slice (no page rebuilds an index or reads the store because of it), results made from a window
are remade from the new facts, and the cyclic garbage collector stays out of the way.

The cache's clock and background thread are fakes passed in: a reload runs when the test says.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.dashboard import MetricsCache
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS
from handlers.dashboard import local_app
from handlers.dashboard.app import DASHBOARD_KEY, Dashboard
from tests.dashboard.conftest import SESSION_COOKIE, CookieAuth, with_client
from tests.dashboard.seed import NOW

TTL = 300.0


class Recording:
    """The store, recording which of its methods are called (and whether the cyclic collector
    was on at each read of a window's requests)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []
        self.collector_on: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if name == "find_requests" and "created_since" in kwargs:
                self.collector_on.append(gc.isenabled())
            return method(*args, **kwargs)

        return call


class Harness:
    """The dashboard app over a recording store, with a clock the test moves and reloads it runs."""

    def __init__(self, store: Store) -> None:
        self.store = Recording(store)
        self.now = NOW
        self.seconds = 0.0
        self.queued: list[Callable[[], None]] = []
        self.app = local_app(
            store=self.store,  # type: ignore[arg-type]
            workspace="default",
            auth=CookieAuth(store),
            clock=lambda: self.now,
            hours=DEFAULT_HOURS,
        )
        dashboard = self.app[DASHBOARD_KEY]
        assert isinstance(dashboard, Dashboard)
        dashboard.cache = MetricsCache(
            self.store,  # type: ignore[arg-type]
            "default",
            ttl=TTL,
            hours=DEFAULT_HOURS,
            monotonic=lambda: self.seconds,
            background=self.queued.append,
        )

    def later(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)
        self.seconds += minutes * 60

    def reload(self) -> None:
        """Run the queued reloads, in the order they were queued (as the one reload thread does)."""
        while self.queued:
            self.queued.pop(0)()


async def _get(client: TestClient, path: str) -> Any:
    response = await client.get(path, cookies={SESSION_COOKIE: CookieAuth.cookie("dana")})
    assert response.status == 200, await response.text()
    return await response.json()


def test_a_team_page_after_a_reload_is_sliced_from_the_new_facts_without_reading_the_store(fresh: Store) -> None:
    harness = Harness(fresh)
    path = "/dashboard/api/team/T-fin"

    async def scenario(client: TestClient) -> None:
        first = await _get(client, path)
        assert first["manages"] and first["until"] == NOW.isoformat()
        harness.later(6)  # past the cache's time: the next page is served stale and queues reloads
        stale = await _get(client, path)
        assert stale["until"] == NOW.isoformat() and harness.queued
        harness.reload()
        harness.store.calls.clear()
        page = await _get(client, path)
        assert page["until"] == harness.now.isoformat()  # the reloaded facts, as of the reload
        assert page["kudos"] == first["kudos"] and page["pulse"] == first["pulse"]
        # kudos, pulse and the team indexes came with the reloaded window: nothing read on the way
        assert harness.store.calls == []

    with_client(harness.app, scenario)


def test_the_map_after_a_reload_is_made_from_the_reloaded_facts(fresh: Store) -> None:
    harness = Harness(fresh)
    path = "/dashboard/api/map"

    async def scenario(client: TestClient) -> None:
        assert (await _get(client, path))["until"] == NOW.isoformat()
        harness.later(6)
        assert (await _get(client, path))["until"] == NOW.isoformat()
        harness.reload()
        assert (await _get(client, path))["until"] == harness.now.isoformat()  # not remade from the old facts
        assert harness.queued == []  # one round of reloads did it

    with_client(harness.app, scenario)


def test_windows_load_with_the_collector_paused_and_kept_out_of_its_reach(fresh: Store) -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    harness = Harness(fresh)
    path = "/dashboard/api/team/T-fin"

    async def scenario(client: TestClient) -> None:
        await _get(client, path)
        loads = len(harness.store.collector_on)
        assert loads >= 2 and not any(harness.store.collector_on)  # the window, the one before it, ...
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen  # what was loaded is never walked by a full collection
        harness.later(6)
        await _get(client, path)
        harness.reload()
        assert len(harness.store.collector_on) == 2 * loads and not any(harness.store.collector_on)
        assert gc.isenabled()

    with_client(harness.app, scenario)
