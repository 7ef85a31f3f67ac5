"""The dashboard's browser tests skip on a laptop without Chromium, and fail in CI."""

from __future__ import annotations

import pytest

from tests.e2e import browser
from tests.e2e.browser import AXE_JS, CHROMIUM_ENV, REQUIRE_ENV, require_browser


@pytest.mark.parametrize(
    ("env", "outcome"),
    [({}, pytest.skip.Exception), ({"CI": "true"}, pytest.fail.Exception), ({REQUIRE_ENV: "1"}, pytest.fail.Exception)],
)
def test_a_missing_browser_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(browser, "skipped_reason", [])  # not a real skip: keep it out of the summary line
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(outcome, match="no Chromium at /nonexistent/chromium"):
        require_browser(AXE_JS, "axe-core")
