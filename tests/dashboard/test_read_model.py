"""The dashboard's read model (bot.dashboard): it reuses the chat's figures, and its cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from bot import dashboard
from bot.chain import team_map_from
from bot.metrics import OrgMetrics
from bot.patterns import patterns_lines, scope_patterns
from bot.people import Directory
from bot.ports import Store
from bot.stats import acknowledge_median
from bot.workhours import DEFAULT_HOURS
from tests.dashboard.seed import NOW

WINDOW = timedelta(days=90)


def _orgs(store: Store) -> tuple[OrgMetrics, OrgMetrics]:
    current = OrgMetrics.load(
        store=store, workspace="default", since=NOW - WINDOW, until=NOW, now=NOW, hours=DEFAULT_HOURS
    )
    previous = OrgMetrics.load(
        store=store, workspace="default", since=NOW - 2 * WINDOW, until=NOW - WINDOW, now=NOW, hours=DEFAULT_HOURS
    )
    return current, previous


def test_the_map_shows_the_chains_figures(seeded: Store) -> None:
    current, _previous = _orgs(seeded)
    data = dashboard.map_data(current, limit=1000)
    chain = team_map_from(current)
    expected = {(link.source, link.target): link for link in chain.links if link.source != link.target}
    assert {(link["source"], link["target"]) for link in data["links"]} == set(expected)
    for link in data["links"]:
        figs = expected[(link["source"], link["target"])].figures
        assert link["figures"]["volume"] == figs.volume
        assert link["figures"]["median_time_to_acknowledge"] == acknowledge_median(figs)
        assert (
            link["figures"]["responsiveness"]
            == {"#2ca02c": "fast", "#ff7f0e": "ok", "#d62728": "slow", "#7f7f7f": "no data"}[
                expected[(link["source"], link["target"])].colour
            ]
        )
    assert data["slowest"] == [chain.label(link) for link in chain.slowest(5) if link.source != link.target][:5]


def test_the_map_draws_the_busiest_and_slowest_first_and_all_of_a_focused_team(seeded: Store) -> None:
    current, _previous = _orgs(seeded)
    few = dashboard.map_data(current, limit=3)
    assert few["links_total"] > len(few["links"]) >= 3
    labels = {link["label"] for link in few["links"]}
    assert set(few["slowest"]) <= labels
    focused = dashboard.map_data(current, limit=3, focus="T-fin")
    assert all("T-fin" in (link["source"], link["target"]) for link in focused["links"])
    assert len(focused["links"]) == sum(
        1 for (s, t) in {(f.requester_team, f.provider_team) for f in current.facts} if s != t and "T-fin" in (s, t)
    )


def test_a_team_page_has_the_patterns_chat_shows(seeded: Store) -> None:
    current, previous = _orgs(seeded)
    dana = seeded.find_person("default", handle="dana")
    assert dana is not None
    cache = dashboard.MetricsCache(seeded, "default", hours=DEFAULT_HOURS)
    data = dashboard.team_data(
        current,
        previous,
        "T-fin",
        store=seeded,
        viewer=dana,
        directory=Directory(seeded, "default"),
        now=NOW,
        cache=cache,
        hours=DEFAULT_HOURS,
    )
    assert data["patterns"]["lines"] == patterns_lines(scope_patterns(current, previous, target="T-fin"))
    assert data["as_provider"]["volume"] == current.team("T-fin").as_provider.volume


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_loads_once_then_serves_stale_while_one_reload_runs(seeded: Store) -> None:
    clock = Clock()
    queued: list[Callable[[], None]] = []
    cache = dashboard.MetricsCache(
        seeded, "default", ttl=60, monotonic=clock, background=queued.append, hours=DEFAULT_HOURS
    )
    made: list[int] = []

    def make() -> int:
        made.append(len(made) + 1)
        return made[-1]

    assert cache.derived(("x",), make) == 1
    clock.now = 30
    assert cache.derived(("x",), make) == 1 and made == [1]
    clock.now = 61  # stale: still answered at once, one reload queued, not two
    assert cache.derived(("x",), make) == 1
    assert cache.derived(("x",), make) == 1
    assert len(queued) == 1 and made == [1]
    queued.pop()()
    assert cache.derived(("x",), make) == 2
    clock.now = 61 + 4 * 60  # unused for long: dropped when something else is stored
    cache.derived(("y",), make)
    assert cache.derived(("x",), make) == 4


def test_a_stale_entry_reloads_in_the_background_thread(seeded: Store) -> None:
    clock = Clock()
    cache = dashboard.MetricsCache(seeded, "default", ttl=60, monotonic=clock, hours=DEFAULT_HOURS)
    reloaded = threading.Event()
    values = iter([1, 2])

    def make() -> int:
        value = next(values)
        if value == 2:
            reloaded.set()
        return value

    assert cache.derived(("x",), make) == 1
    clock.now = 61
    assert cache.derived(("x",), make) == 1  # answered at once, not under a lock it waits for
    assert reloaded.wait(10)
    for _ in range(100):
        if cache.derived(("x",), make) == 2:
            break
        time.sleep(0.05)
    assert cache.derived(("x",), make) == 2
