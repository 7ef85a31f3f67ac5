"""What the dashboard's browser tests share: screen sizes, opening a page once the script drew it,
screenshots, and the axe-core check. Their fixtures (Chromium, the seeded store, the browser) are
in ``conftest.py``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING, Any

from tests.e2e.browser import AXE_JS
from tests.e2e.stack import OUTPUT, environment, servechain

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")


def new_page(browser: Browser, viewport: dict[str, int] = DESKTOP, *, for_axe: bool = False) -> Page:
    """A blank page in a context of its own; page errors and console errors land on ``page.errors``."""
    # axe is injected as a script, which the pages' Content-Security-Policy (rightly) refuses
    context = browser.new_context(viewport=viewport, locale="en-GB", bypass_csp=for_axe)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on(
        "response",
        lambda response: errors.append(f"{response.status} {response.url}") if response.status == 404 else None,
    )
    page.errors = errors  # type: ignore[attr-defined]
    return page


def wait_drawn(page: Page) -> None:
    """Wait until the dashboard's script drew the page, and check it drew it without a problem."""
    page.wait_for_selector("main[data-ready]", timeout=30_000)
    assert page.get_attribute("main", "data-ready") == "true", page.inner_text("main")


def open_page(browser: Browser, url: str, viewport: dict[str, int] = DESKTOP, *, for_axe: bool = False) -> Page:
    """A page at ``url`` once the script drew it; page errors fail the test."""
    page = new_page(browser, viewport, for_axe=for_axe)
    page.goto(url)
    wait_drawn(page)
    return page


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / f"dashboard-{name}.png", full_page=full_page)


def serious_axe_violations(page: Page) -> str:
    """Run axe-core (npm, pinned, from disk) on the page; its serious and critical violations as
    JSON ("[]" when none). The page must have been opened with ``for_axe=True``."""
    page.add_script_tag(path=str(AXE_JS))
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
    return json.dumps(serious, indent=1)


def start_dashboard(db: Path, handle: str) -> tuple[Popen[str], str]:
    """``servechain dashboard --as <handle> --port 0 --db <db>``: the process and its base URL."""
    process = subprocess.Popen(
        [*servechain(), "dashboard", "--as", handle, "--port", "0", "--db", str(db)],
        env=environment(db),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "servechain dashboard: http://127.0.0.1:PORT/dashboard/ ..."
    assert "http://127.0.0.1:" in line, line + process.stdout.read()
    return process, line.split()[2]
