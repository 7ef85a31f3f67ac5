"""The dashboard behind real sign-in, in headless Chromium (Playwright): ``servechain serve`` runs
as a child process on the seeded org (tests.dashboard.seed) with ``SERVECHAIN_TEAMS=1`` and the
``DASHBOARD_*`` settings pointing at a loopback fake OpenID provider (tests/fakes/oidc_provider.py),
first shaped like Sign in with Slack, then like Microsoft Entra ID (a tenant, a verified email).

A person opens /dashboard, is sent to the sign-in page (checked with axe-core), presses the
provider's button, comes back signed in, clicks through the map, a link, a team page and their own
page, checks what is shown against the data routes, signs out with the header's button, and is
asked to sign in again. Like the other browser tests they skip without Chromium, axe-core or
playwright, except under ``CI=true`` or ``SERVECHAIN_REQUIRE_BROWSER=1``, where they fail.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.dashboard_kit import DESKTOP, PHONE, new_page, serious_axe_violations, shoot, wait_drawn
from tests.e2e.stack import environment, serve, stop, wait_until_healthy
from tests.fakes.oidc_provider import FakeOidcProvider

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SESSION_SECRET = "e2e-session-secret-0123456789-abcdefghij"
TENANT = "11111111-2222-3333-4444-555555555555"
SLACK_TEAM = "T0SEED"  # the seeded people's Slack workspace (slack_ids {"T0SEED": "U<HANDLE>"})


@pytest.fixture
def signed_in_serve(
    request: pytest.FixtureRequest, seeded_db: Path, tmp_path: Path, chromium_for_dashboard: str
) -> Iterator[tuple[str, FakeOidcProvider]]:
    """``servechain serve`` on a copy of the seeded store, signing in through a fake provider of
    the shape the test is parametrized with; the dashboard's base URL and the provider."""
    shape = request.param
    db = tmp_path / "store" / seeded_db.name
    shutil.copytree(seeded_db.parent, db.parent)
    log = tmp_path / "server.log"
    tenant = TENANT if shape == "entra" else "organizations"
    with FakeOidcProvider(shape=shape, tenant=tenant) as provider:
        env = environment(db)
        env.update({name.upper(): value for name, value in provider.settings_env().items()})
        env.update(DASHBOARD_SESSION_SECRET=SESSION_SECRET, SLACK_TEAM_IDS=SLACK_TEAM)
        server, port = serve(env, log)
        try:
            wait_until_healthy(port, server, log)
            yield f"http://127.0.0.1:{port}/dashboard/", provider
        finally:
            stop(server)
            served = log.read_text(errors="replace")
            assert "Traceback" not in served, served
            # the provider's codes and tokens never reach the log
            assert not [secret for secret in provider.issued if secret in served]


def sign_in(page: Page, base: str, button: str) -> None:
    """Open the dashboard signed out, check the sign-in page (axe-core), press ``button``."""
    page.goto(base + "me")
    assert re.search(r"/dashboard/sign-in\?next=", page.url), page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in to servechain"
    assert serious_axe_violations(page) == "[]"
    shoot(page, "sign-in")
    page.get_by_role("link", name=button).click()
    page.wait_for_url(base + "me")
    wait_drawn(page)


def requests_figure(page: Page) -> str:
    """The "Requests" figure the open panel or card shows (e.g. "41 (3 open)")."""
    return page.locator("dl.figures dt", has_text=re.compile("^Requests$")).first.locator("+ dd").inner_text()


def sign_out(page: Page, base: str) -> None:
    """Press the header's Sign out; the page says so, and the dashboard asks to sign in again."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("status").filter(has_text="You are signed out.").wait_for()
    assert page.get_by_role("link", name=re.compile("^Sign in with ")).count() >= 1
    page.goto(base + "me")
    assert "/dashboard/sign-in" in page.url, page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in to servechain"
    assert page.request.get(base + "api/me").status == 401


@pytest.mark.parametrize("signed_in_serve", ["slack"], indirect=True)
def test_a_manager_signs_in_with_slack_and_clicks_through_the_chain(
    dashboard_browser: Browser, signed_in_serve: tuple[str, FakeOidcProvider]
) -> None:
    base, provider = signed_in_serve
    provider.user = {"https://slack.com/user_id": "UDANA", "https://slack.com/team_id": SLACK_TEAM}
    page = new_page(dashboard_browser, for_axe=True)
    sign_in(page, base, "Sign in with Slack")
    assert page.get_by_role("heading", level=1).inner_text() == "Dana's page"
    assert "Signed in as Dana" in page.inner_text("header") and "(@dana)" in page.inner_text("header")
    assert serious_axe_violations(page) == "[]"  # the header's Sign out button included
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    shoot(page, "signed-in-me-phone")
    page.set_viewport_size(DESKTOP)
    assert [call.endpoint for call in provider.calls if call.endpoint in ("authorize", "token")] == [
        "authorize",
        "token",
    ]

    page.get_by_role("link", name="Chain map").click()
    wait_drawn(page)
    assert page.locator("svg.map a.node").count() == 9
    page.locator('svg.map a.link[data-source="T-sales"][data-target="T-fin"]').dispatch_event("click")
    panel = page.locator("aside.panel")
    panel.get_by_role("heading", name="Sales → Finance").wait_for()
    panel.get_by_text("Slowest requests you may see").first.wait_for()
    link = page.request.get(base + "api/link/T-sales/T-fin?window=90d").json()
    figures = link["figures"]
    assert requests_figure(page) == f"{figures['volume']} ({figures['open']} open)"
    assert panel.locator("tbody tr").count() > 0  # dana manages Finance: she may see them

    page.locator('svg.map a.node[data-team="T-fin"]').dispatch_event("click")
    panel.get_by_role("heading", name="Finance").wait_for()
    panel.get_by_role("link", name="Open the team page").click()
    wait_drawn(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Finance"
    stuck = page.locator("section.card", has=page.get_by_role("heading", name="Stuck now")).inner_text()
    assert "held by Bob, asked by Alice" in stuck

    page.get_by_role("link", name="My page").click()
    wait_drawn(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Dana's page"
    assert page.locator("main").get_by_role("link", name="Finance").count() == 1  # her team
    shoot(page, "signed-in-me")
    assert page.errors == []  # type: ignore[attr-defined]
    sign_out(page, base)


@pytest.mark.parametrize("signed_in_serve", ["entra"], indirect=True)
def test_a_person_signs_in_with_microsoft_by_verified_email_and_clicks_through(
    dashboard_browser: Browser, signed_in_serve: tuple[str, FakeOidcProvider]
) -> None:
    base, provider = signed_in_serve
    # No Teams id is known for alice: she is found by her verified email (xms_edov).
    provider.user = {"oid": "aad-unknown", "tid": TENANT, "email": "alice@example.com", "xms_edov": True}
    page = new_page(dashboard_browser, for_axe=True)
    sign_in(page, base, "Sign in with Microsoft")
    assert page.get_by_role("heading", level=1).inner_text() == "Alice's page"
    assert "Signed in as Alice" in page.inner_text("header")
    me = page.request.get(base + "api/me").json()
    waiting = page.locator(
        "section.card", has=page.get_by_role("heading", name=f"Waiting on others ({len(me['asked'])})")
    )
    assert "overdue since" in waiting.inner_text()

    page.get_by_role("link", name="Chain map").click()
    wait_drawn(page)
    page.locator('svg.map a.link[data-source="T-sales"][data-target="T-fin"]').dispatch_event("click")
    panel = page.locator("aside.panel")
    panel.get_by_role("heading", name="Sales → Finance").wait_for()
    link = page.request.get(base + "api/link/T-sales/T-fin?window=90d").json()
    assert requests_figure(page) == f"{link['figures']['volume']} ({link['figures']['open']} open)"
    panel.get_by_role("link", name="Open this link's page").click()
    wait_drawn(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Sales → Finance"

    page.goto(base + "team/T-fin")  # not her team: aggregates only
    wait_drawn(page)
    assert page.get_by_role("heading", name="As provider").count() == 1
    assert page.get_by_role("heading", name="Stuck now").count() == 0
    assert "shown to the people who manage this team" in page.inner_text("main")

    page.get_by_role("link", name="My team").click()
    wait_drawn(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Sales"
    page.get_by_role("link", name="My page").click()
    wait_drawn(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Alice's page"
    assert page.errors == []  # type: ignore[attr-defined]
    sign_out(page, base)
