"""What people see on the dashboard, measured in headless Chromium at 1280x800 and phone width:
tables fit their box (in the map's side panel and on the pages: no column cut off or scrolled
out of sight), and the chain map stays readable for a 104-team org (team names at least 11 px
as rendered, neighbours apart, the whole map on screen at 1280x800, full names on focus), with
axe-core finding nothing serious. Same requirements as test_dashboard.py (tests/e2e/setup.sh).

The 104-team org is tests.dashboard.big_org; its map's screenshot is
``tests/e2e/output/dashboard-map-100-teams.png`` (docs/ has a copy).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.dashboard_kit import DESKTOP, PHONE, open_page, serious_axe_violations, shoot, start_dashboard
from tests.e2e.stack import OUTPUT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SMALLEST_NAME_PX = 11.0

TEAM_NAMES = """() => [...document.querySelectorAll('svg.map a.node')].map((node) => {
  const text = node.querySelector('text.team');
  const matrix = text.getScreenCTM();
  const circle = node.querySelector('circle').getBoundingClientRect();
  return {
    name: node.getAttribute('aria-label'),
    shown: text.textContent,
    px: parseFloat(getComputedStyle(text).fontSize) * Math.hypot(matrix.a, matrix.b),
    x: circle.x + circle.width / 2,
    y: circle.y + circle.height / 2,
  };
})"""
"""Each team on the map: its accessible name, the name shown, the name's font size in screen
pixels (the computed size times the SVG's scale) and the node's centre on screen."""

TABLES = """(selector) => [...document.querySelectorAll(selector + ' .table-wrap')].map((wrap) => {
  const box = wrap.getBoundingClientRect();
  const cells = [...wrap.querySelectorAll('tbody tr')].map((row) => row.lastElementChild.getBoundingClientRect());
  return {
    label: wrap.getAttribute('aria-label'),
    hidden: wrap.scrollWidth - wrap.clientWidth,
    right: Math.max(...cells.map((cell) => cell.right)) - box.right,
    left: Math.min(...cells.map((cell) => cell.left)) - box.left,
  };
})"""
"""Each table in ``selector``: how many pixels of it are scrolled out of its box, and how far its
last column's cells reach beyond the box's right edge (or before its left edge)."""


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store holding the 104-team org (tests.dashboard.big_org), closed."""
    from storage.tinydb_store import TinyDBStore
    from tests.dashboard.big_org import seed

    db = tmp_path_factory.mktemp("dashboard-big") / "servechain.json"
    store = TinyDBStore(db)
    try:
        seed(store)
    finally:
        store.close()
    return db


@pytest.fixture(scope="module")
def dashboard_on(seeded_db: Path, big_db: Path, chromium_for_dashboard: str) -> Iterator[Callable[[str, str], str]]:
    """``dashboard_on("seeded"|"big", handle)``: the base URL of ``servechain dashboard --as``
    on that org (one server per org and handle)."""
    stores = {"seeded": seeded_db, "big": big_db}
    running: dict[tuple[str, str], tuple[Popen[str], str]] = {}

    def start(org: str, handle: str) -> str:
        if (org, handle) not in running:
            running[(org, handle)] = start_dashboard(stores[org], handle)
        return running[(org, handle)][1]

    yield start
    for process, _url in running.values():
        process.terminate()
        process.wait(timeout=10)


def tables_cut_off(page: Page, selector: str) -> list[dict[str, Any]]:
    """The tables in ``selector`` that do not fit their box (none, when all is well)."""
    tables: list[dict[str, Any]] = page.evaluate(TABLES, selector)
    assert tables, f"no table in {selector}"
    return [t for t in tables if t["hidden"] > 1 or t["right"] > 1 or t["left"] < -1]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone"])
def test_the_side_panels_tables_fit_the_panel(
    dashboard_browser: Browser, dashboard_on: Callable[[str, str], str], viewport: dict[str, int]
) -> None:
    page = open_page(dashboard_browser, dashboard_on("seeded", "dana"), viewport)
    panel = page.locator("aside.panel")
    page.locator('svg.map a.link[data-source="T-sales"][data-target="T-fin"]').dispatch_event("click")
    panel.get_by_text("Slowest requests you may see").first.wait_for()
    assert panel.locator("tbody tr").count() > 0
    assert tables_cut_off(page, "aside.panel") == []
    # every column is still there, named: "Complaints" is the last
    assert panel.locator("tbody tr").first.locator("td").last.get_attribute("data-label") == "Complaints"
    shoot(page, f"map-link-panel-{viewport['width']}")

    page.locator('svg.map a.node[data-team="T-fin"]').dispatch_event("click")
    panel.get_by_role("heading", name="As customer").wait_for()
    assert tables_cut_off(page, "aside.panel") == []
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["me", "link/T-sales/T-fin", "team/T-fin"], ids=["me", "link", "team"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone"])
def test_the_pages_tables_fit_the_screen(
    dashboard_browser: Browser, dashboard_on: Callable[[str, str], str], viewport: dict[str, int], path: str
) -> None:
    page = open_page(dashboard_browser, dashboard_on("seeded", "alice" if path == "me" else "dana") + path, viewport)
    assert tables_cut_off(page, "main") == []
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone"])
@pytest.mark.parametrize("org,teams", [("big", 104), ("seeded", 9)], ids=["104-teams", "9-teams"])
def test_every_team_name_on_the_map_is_readable(
    dashboard_browser: Browser,
    dashboard_on: Callable[[str, str], str],
    org: str,
    teams: int,
    viewport: dict[str, int],
) -> None:
    page = open_page(dashboard_browser, dashboard_on(org, "ceo" if org == "big" else "dana"), viewport, for_axe=True)
    names = page.evaluate(TEAM_NAMES)
    assert len(names) == teams
    smallest = min(n["px"] for n in names)
    assert smallest >= SMALLEST_NAME_PX, f"team names are {smallest:.1f} px as shown"
    # neighbours on the ring are far enough apart that their names do not run into each other
    closest = min(((a["x"] - b["x"]) ** 2 + (a["y"] - b["y"]) ** 2) ** 0.5 for a, b in itertools.pairwise(names))
    assert closest >= smallest, f"two neighbours are {closest:.1f} px apart"
    # the page never scrolls sideways (a map bigger than the phone scrolls inside its own box)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    if viewport is DESKTOP:  # the whole map, names included, is on screen at 1280x800
        box = page.locator("svg.map").bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESKTOP["height"], box
        assert page.locator(".map-scroll").evaluate("(s) => s.scrollWidth - s.clientWidth") <= 1
    assert serious_axe_violations(page) == "[]"
    if org == "big" and viewport is DESKTOP:  # the map alone: the README shows it at its size
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.locator(".map-box").screenshot(path=OUTPUT / "dashboard-map-100-teams.png")
    assert page.errors == []  # type: ignore[attr-defined]


def test_on_a_104_team_map_a_shortened_name_shows_whole_on_focus_and_the_panel_fits(
    dashboard_browser: Browser, dashboard_on: Callable[[str, str], str]
) -> None:
    page = open_page(dashboard_browser, dashboard_on("big", "ceo"))
    names = page.evaluate(TEAM_NAMES)
    long = next(n for n in names if n["name"].startswith("Infrastructure Networking and Edge"))
    assert long["shown"].endswith("…"), long  # too long for the ring: shortened there
    node = page.locator('svg.map a.node[data-team="T-d0t11"]')  # Engineering's 12th team
    node.focus()
    callout = page.locator("svg.map text.callout")
    assert callout.is_visible()
    assert callout.text_content() == "Infrastructure Networking and Edge"
    node.blur()
    assert not callout.is_visible()

    page.locator('svg.map a.node[data-team="T-d0t0"]').click()  # Platform: all its links, its panel
    page.get_by_text("Showing all").wait_for()
    page.locator("aside.panel").get_by_role("heading", name="As customer").wait_for()
    assert tables_cut_off(page, "aside.panel") == []
    assert page.errors == []  # type: ignore[attr-defined]
