"""``servechain slack manifest`` prints the shipped manifest (the one tests/slack/test_manifest.py
checks) for Socket Mode, or for HTTP mode with every request URL at ``https://HOST/slack/events``,
and what it prints keeps the same rules."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from handlers import cli
from handlers.slack import EVENTS_PATH
from handlers.slack.manifest import load_manifest
from tests.slack import test_manifest as rules
from tests.slack.conftest import SlackHarness


def _printed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert cli.main(["slack", "manifest", *argv]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def _without_urls(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with what HTTP mode changes taken out."""
    data = yaml.safe_load(yaml.safe_dump(manifest))
    data["settings"].pop("socket_mode_enabled")
    data["settings"]["interactivity"].pop("request_url", None)
    data["settings"]["event_subscriptions"].pop("request_url", None)
    for command in data["features"]["slash_commands"]:
        command.pop("url", None)
    return data


@pytest.mark.parametrize("argv", [[], ["--socket"]], ids=["default", "socket"])
def test_socket_mode_prints_the_shipped_manifest(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    printed = _printed(argv, capsys)
    assert printed == load_manifest()
    assert printed["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in printed["settings"]["interactivity"]


def test_http_mode_sends_every_request_to_the_one_route_serve_mounts(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _printed(["--url", "https://bot.example.com"], capsys)
    endpoint = f"https://bot.example.com{EVENTS_PATH}"
    settings = printed["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["interactivity"] == {"is_enabled": True, "request_url": endpoint}
    assert settings["event_subscriptions"]["request_url"] == endpoint
    assert [c["url"] for c in printed["features"]["slash_commands"]] == [endpoint] * 3
    assert _without_urls(printed) == _without_urls(load_manifest()), "nothing else differs from the shipped manifest"


@pytest.mark.parametrize(
    ("given", "endpoint"),
    [
        ("https://bot.example.com/", "https://bot.example.com/slack/events"),
        ("https://bot.example.com:8443/servechain", "https://bot.example.com:8443/servechain/slack/events"),
        ("https://bot.example.com/slack/events", "https://bot.example.com/slack/events"),
    ],
)
def test_the_url_may_carry_a_port_a_prefix_or_the_route_itself(
    given: str, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _printed(["--url", given], capsys)["settings"]["interactivity"]["request_url"] == endpoint


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://bot.example.com"], "Slack only sends requests to https URLs"),
        (["--url", "bot.example.com"], "--url must be the public https address"),
        (["--url", "https://bot.example.com/?x=1"], "takes no query or fragment"),
        (["--url", "https://bot.example.com", "--socket"], "not allowed with argument"),
    ],
)
def test_a_url_slack_cant_use_is_refused_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["slack", "manifest", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.parametrize("argv", [[], ["--url", "https://bot.example.com"]], ids=["socket", "http"])
def test_the_printed_manifest_keeps_the_manifest_rules(
    argv: list[str], capsys: pytest.CaptureFixture[str], harness: SlackHarness
) -> None:
    printed = _printed(argv, capsys)
    rules.test_the_manifest_declares_exactly_what_the_code_listens_to(printed, harness)
    rules.test_slash_commands_escape_mentions_so_they_arrive_as_user_ids(printed)
    rules.test_the_manifest_keeps_slacks_field_limits(printed)
    if not printed["settings"]["socket_mode_enabled"]:  # Slack refuses an HTTP-mode app missing a request URL
        urls = [c["url"] for c in printed["features"]["slash_commands"]]
        urls += [printed["settings"]["interactivity"]["request_url"]]
        urls += [printed["settings"]["event_subscriptions"]["request_url"]]
        assert all(url.startswith("https://") for url in urls)
