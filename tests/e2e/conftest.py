"""End-to-end kit: ``servechain serve`` (Teams on, no auth, a fresh store seeded with an org),
the Direct Line emulator, and Microsoft Web Chat in headless Chromium driven by Playwright.

Everything listens on 127.0.0.1 on ephemeral ports. Screenshots and, when a test fails, each
page's last screen and the server log go to ``tests/e2e/output/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import AXE_JS, CHROMIUM_ARGS, WEBCHAT_JS, require_browser, skipped_reason
from tests.e2e.directline import DirectLineEmulator
from tests.e2e.stack import (
    ALICE,
    BOB,
    ORG,
    OUTPUT,
    Stack,
    WebChatUser,
    environment,
    serve,
    servechain,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture
def chromium() -> str:
    """The Chromium executable (or skip with the reason, or fail in CI)."""
    return require_browser()


@pytest.fixture
def e2e_org() -> str:
    """The org file the stack imports (a test module may override this fixture)."""
    return ORG


@pytest.fixture
def e2e_users() -> tuple[WebChatUser, ...]:
    """The Web Chat users the member lookup knows (a test module may override this fixture)."""
    return (ALICE, BOB)


@pytest.fixture
def e2e_seed() -> Callable[[Path], None]:
    """Writes into the fresh store before the server starts (nothing by default; overridable)."""
    return lambda _db: None


@pytest.fixture
def stack(
    chromium: str,
    tmp_path: Path,
    e2e_org: str,
    e2e_users: tuple[WebChatUser, ...],
    e2e_seed: Callable[[Path], None],
) -> Iterator[Stack]:
    """``servechain serve`` on a fresh store with alice and bob, and the Direct Line emulator."""
    db, log, org = tmp_path / "servechain.json", tmp_path / "server.log", tmp_path / "org.yml"
    org.write_text(e2e_org)
    env = environment(db)
    imported = subprocess.run(
        [*servechain(), "org", "import", str(org), "--db", str(db)], env=env, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    e2e_seed(db)
    server, port = serve(env, log)
    emulator = DirectLineEmulator(bot_url=f"http://127.0.0.1:{port}/api/messages", webchat_js=WEBCHAT_JS)
    running = Stack(db=db, log=log, emulator=emulator, server=server)
    try:
        wait_until_healthy(port, server, log)
        emulator.start()
        for user in e2e_users:
            emulator.add_member(user.user_id, name=user.name, email=user.email, aad_object_id=user.aad_object_id)
        yield running
    finally:
        running.stop_server()
        emulator.stop()


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    """Headless Chromium from the machine (never a downloaded one), with a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def chromium_for_dashboard() -> str:
    """Chromium, with axe-core and playwright (the dashboard's browser tests need no Web Chat)."""
    return require_browser(AXE_JS, "axe-core")


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store holding the dashboard's seeded org (tests.dashboard.seed), closed."""
    from storage.tinydb_store import TinyDBStore
    from tests.dashboard.seed import seed

    db = tmp_path_factory.mktemp("dashboard-e2e") / "servechain.json"
    store = TinyDBStore(db)
    try:
        seed(store)
    finally:
        store.close()
    return db


@pytest.fixture(scope="module")
def dashboard_browser(chromium_for_dashboard: str) -> Iterator[Browser]:
    """Headless Chromium for a module of dashboard tests (each page opens its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_for_dashboard, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_chat(
    stack: Stack, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[Callable[[WebChatUser], Page]]:
    """Open Web Chat as a user (each in their own browser context); errors in its console are
    collected on ``page.console_errors``. On failure every page's screen and the server log are saved."""
    pages: dict[str, Page] = {}

    def open_as(user: WebChatUser) -> Page:
        context = browser.new_context(viewport={"width": 640, "height": 960}, locale="en-US")
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.console_errors = errors  # type: ignore[attr-defined]
        page.goto(f"{stack.url}/?user={user.user_id}&name={user.name}")
        page.get_by_role("textbox").wait_for(timeout=30_000)
        pages[user.handle] = page
        return page

    yield open_as
    report: Any = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        failed = OUTPUT / "failed" / request.node.name
        shutil.rmtree(failed, ignore_errors=True)
        failed.mkdir(parents=True)
        for handle, page in pages.items():
            (failed / f"{handle}-console.txt").write_text("\n".join(page.console_errors))  # type: ignore[attr-defined]
            try:
                page.screenshot(path=failed / f"{handle}.png", full_page=True)
            except Exception as error:  # best effort: the browser may be what failed
                (failed / f"{handle}.txt").write_text(f"no screenshot: {error}")
        stack.stop_server()
        (failed / "server.log").write_text(stack.server_log())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One visible line when the browser tests were skipped, instead of one per test."""
    for reason in skipped_reason:
        terminalreporter.write_line(f"Browser (Web Chat) tests skipped: {reason}", yellow=True)
