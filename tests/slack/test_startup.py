"""Start-up: no network call, clear errors for bad Slack settings, Socket Mode needs its token."""

from __future__ import annotations

import json
import urllib.request

import pytest

from bot.ports import Store
from bot.settings import Settings
from handlers.runtime import ConfigError
from handlers.server import build_web_app, serve
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, SlackHarness


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": "http://127.0.0.1:9/api/",  # nothing listens there: any call would fail
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_starting_makes_no_network_call(store: Store) -> None:
    with FakeSlackApi() as fake:
        harness = SlackHarness(store, fake)
        try:
            with urllib.request.urlopen(f"{harness.server.base}/healthz", timeout=5) as response:
                health = json.loads(response.read())
            assert health["ok"] is True and health["frontends"] == ["slack"]
            assert fake.calls() == []
        finally:
            harness.stop()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"slack_api_url": "slack.com/api"}, "SLACK_API_URL"),
        ({"slack_bot_token": "not-a-token"}, "SLACK_BOT_TOKEN"),
        ({"slack_signing_secret": "   "}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_a_malformed_slack_setting_stops_start_up_naming_it(
    store: Store, overrides: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        build_web_app(_settings(**overrides), store, deliver=False)


def test_socket_mode_without_an_app_token_exits_2_saying_what_to_set(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve(_settings(), store, socket=True) == 2
    assert "SLACK_APP_TOKEN" in capsys.readouterr().out
