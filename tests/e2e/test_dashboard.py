"""The dashboard in headless Chromium (Playwright), driving ``servechain dashboard --as`` on the
seeded org (tests.dashboard.seed): click the map, a link, a team and a personal page, assert what
is shown, and check every page with axe-core (npm, pinned, loaded from disk) at 1280x800 and at
phone width. They need Chromium, axe-core and playwright (``tests/e2e/setup.sh``); without them
they skip, except under ``SERVECHAIN_REQUIRE_BROWSER=1`` (CI), where they fail.

Screenshots go to ``tests/e2e/output/dashboard-*.png`` (the ones in docs/ are copies).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.dashboard_kit import DESKTOP, PHONE, open_page, serious_axe_violations, shoot
from tests.e2e.stack import environment, servechain

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def dashboard_as(seeded_db: Path, chromium_for_dashboard: str) -> Iterator[Callable[[str], str]]:
    """Start ``servechain dashboard --as <handle> --port 0`` (once per handle); its base URL."""
    running: dict[str, tuple[subprocess.Popen[str], str]] = {}

    def start(handle: str) -> str:
        if handle not in running:
            process = subprocess.Popen(
                [*servechain(), "dashboard", "--as", handle, "--port", "0", "--db", str(seeded_db)],
                env=environment(seeded_db),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert process.stdout is not None
            line = process.stdout.readline()  # "servechain dashboard: http://127.0.0.1:PORT/dashboard/ ..."
            assert "http://127.0.0.1:" in line, line + process.stdout.read()
            running[handle] = (process, line.split()[2])
        return running[handle][1]

    yield start
    for process, _url in running.values():
        process.terminate()
        process.wait(timeout=10)


def test_a_manager_clicks_through_the_map_a_link_and_a_team(
    dashboard_browser: Browser, dashboard_as: Callable[[str], str]
) -> None:
    base = dashboard_as("dana")
    page = open_page(dashboard_browser, base)
    assert page.locator("svg.map a.node").count() == 9
    assert page.locator("svg.map a.link").count() > 20
    shoot(page, "map")

    page.locator('svg.map a.link[data-source="T-sales"][data-target="T-fin"]').dispatch_event("click")
    panel = page.locator("aside.panel")
    panel.get_by_role("heading", name="Sales → Finance").wait_for()
    panel.get_by_text("Slowest requests you may see").first.wait_for()
    assert panel.locator("tbody tr").count() > 0  # dana manages Finance: she may see them
    assert "R-" in panel.locator("tbody").inner_text()
    shoot(page, "map-link-panel")

    page.locator('svg.map a.node[data-team="T-fin"]').dispatch_event("click")
    panel.get_by_role("heading", name="Finance").wait_for()
    assert "As provider" in panel.inner_text() and "As customer" in panel.inner_text()
    shoot(page, "map-team-panel")

    panel.get_by_role("link", name="Open the team page").click()
    page.wait_for_selector("main[data-ready]")
    assert page.get_by_role("heading", level=1).inner_text() == "Finance"
    for heading in ("As provider", "As customer", "Six needs", "Stuck now", "Complaint patterns", "Kudos", "Pulse"):
        assert page.get_by_role("heading", name=heading, exact=True).count() == 1, heading
    needs = page.locator("section.card", has=page.get_by_role("heading", name="Six needs", exact=True))
    charts = needs.locator("figure.multiple")
    assert charts.evaluate_all("figures => figures.map(f => f.dataset.need)") == [
        "friendliness",
        "empathy",
        "fairness",
        "options",
        "control",
        "information",
    ]
    assert needs.locator("figure.multiple svg path").count() == 6  # a line each: every need was scored some week
    # the seed scores options only with a poor rating: its weeks without one are gaps, not zeros
    options = needs.locator('figure.multiple[data-need="options"]')
    assert options.locator(".no-data").count() >= 3
    assert options.locator("svg path").get_attribute("d").count("M") >= 2  # type: ignore[union-attr]
    stuck = page.locator("section.card", has=page.get_by_role("heading", name="Stuck now")).inner_text()
    assert "held by Bob, asked by Alice" in stuck
    shoot(page, "team", full_page=True)

    link = open_page(dashboard_browser, f"{base}link/T-sales/T-fin")
    assert link.get_by_role("heading", level=1).inner_text() == "Sales → Finance"
    assert link.get_by_text("Most complained about, that you may see").count() >= 1
    shoot(link, "link", full_page=True)
    assert page.errors == [] and link.errors == []  # type: ignore[attr-defined]


def test_a_person_sees_their_own_page_and_asks_for_an_update(
    dashboard_browser: Browser, dashboard_as: Callable[[str], str]
) -> None:
    base = dashboard_as("alice")
    page = open_page(dashboard_browser, f"{base}me")
    assert page.get_by_role("heading", level=1).inner_text() == "Alice's page"
    waiting = page.locator("section.card", has=page.get_by_role("heading", name="Waiting on others (3)"))
    assert "overdue since" in waiting.inner_text()
    shoot(page, "me", full_page=True)
    page.get_by_role("button", name="Ask Bob for an update on R-422").click()
    page.get_by_role("status").filter(has_text="You asked Bob for an update on R-422").wait_for()

    team = open_page(dashboard_browser, f"{base}team/T-fin")  # not her team: aggregates only
    assert team.get_by_role("heading", name="As provider").count() == 1
    assert team.get_by_role("heading", name="Stuck now").count() == 0
    assert "shown to the people who manage this team" in team.inner_text("main")
    assert page.errors == [] and team.errors == []  # type: ignore[attr-defined]


PAGES = ("", "me", "team/T-fin", "link/T-sales/T-fin")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "phone"])
@pytest.mark.parametrize("path", PAGES, ids=["map", "me", "team", "link"])
def test_every_page_passes_axe_and_fits_the_screen(
    dashboard_browser: Browser, dashboard_as: Callable[[str], str], path: str, viewport: dict[str, int]
) -> None:
    page = open_page(dashboard_browser, dashboard_as("dana") + path, viewport, for_axe=True)
    assert serious_axe_violations(page) == "[]"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the screen"
    if viewport is PHONE and path in ("", "team/T-fin"):
        shoot(page, "map-phone" if path == "" else "team-phone", full_page=path != "")
