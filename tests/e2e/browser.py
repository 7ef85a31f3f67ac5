"""What the browser tests need, and what happens when it is missing.

They need Chromium (``/usr/bin/chromium``, or ``$SERVECHAIN_CHROMIUM``), Web Chat's npm packages
(``tests/e2e/webchat/node_modules``, from ``npm ci``) and the Python ``playwright`` package;
``tests/e2e/setup.sh`` installs all three. Without them the tests skip with one summary line,
except when ``SERVECHAIN_REQUIRE_BROWSER=1`` or ``CI=true`` (CI): then they fail.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM_ENV = "SERVECHAIN_CHROMIUM"
REQUIRE_ENV = "SERVECHAIN_REQUIRE_BROWSER"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
WEBCHAT_DIR = Path(__file__).resolve().parent / "webchat"
WEBCHAT_JS = WEBCHAT_DIR / "node_modules" / "botframework-webchat" / "dist" / "webchat.js"
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core (npm, pinned by tests/e2e/axe/package-lock.json): the dashboard's accessibility check."""
# Chromium on a closed network: no background connections, no sandbox (root in CI), a fresh profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

skipped_reason: list[str] = []


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


@functools.cache
def _problems(chromium: str, bundle: Path = WEBCHAT_JS, name: str = "Web Chat bundle") -> tuple[str, ...]:
    found = []
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        found.append(f"no Chromium at {chromium}")
    if not bundle.is_file():
        package = next((p.parent for p in bundle.parents if p.name == "node_modules"), bundle.parent)
        found.append(f"no {name} at {bundle} (npm ci in {package})")
    if importlib.util.find_spec("playwright") is None:
        found.append("the Python package playwright is not installed")
    return tuple(found)


def require_browser(bundle: Path = WEBCHAT_JS, name: str = "Web Chat bundle") -> str:
    """The Chromium executable to drive, or skip/fail the calling test (``bundle``: the npm file
    the test loads into the page: Web Chat's, or axe-core's for the dashboard)."""
    chromium = chromium_path()
    problems = _problems(chromium, bundle, name)
    if not problems:
        return chromium
    message = "; ".join(problems)
    if os.environ.get(REQUIRE_ENV) == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and {REQUIRE_ENV}=1 (or CI=true) requires them (run tests/e2e/setup.sh)")
    if not skipped_reason:
        skipped_reason.append(f"{message}; run tests/e2e/setup.sh to install them")
    pytest.skip(message)
