"""manifest.yml matches the code: every command, shortcut and event the listeners register is
declared and nothing else is, and the bot scopes are exactly those the Web API calls need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cards import DECLINE_INPUTS
from bot.digest import DigestJob
from bot.models import Action, ActionId
from bot.workhours import DEFAULT_HOURS
from handlers.slack.deps import Subscriptions
from handlers.slack.render import buttons
from handlers.slack.views import FormTarget, action_modal
from tests.fakes.slack_api import view_problems
from tests.slack.conftest import SlackHarness

MANIFEST = Path(__file__).resolve().parents[2] / "handlers" / "slack" / "manifest.yml"

METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "conversations.history": "im:history",
    "conversations.replies": "im:history",
    "users.info": "users:read",
    "auth.test": None,  # which workspace the bot token belongs to (the workspace gate, without SLACK_TEAM_IDS)
    "views.open": None,
    "views.publish": None,
    "response_url": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "file_upload": None,  # the upload URL files.getUploadURLExternal hands out
}
"""Bot scope each Web API method servechain calls needs (None: no scope)."""


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def _subscriptions(harness: SlackHarness) -> Subscriptions:
    return harness.slack.deps.subscriptions


def test_the_manifest_declares_exactly_what_the_code_listens_to(
    manifest: dict[str, Any], harness: SlackHarness
) -> None:
    listens = _subscriptions(harness)
    features, settings = manifest["features"], manifest["settings"]
    assert {c["command"] for c in features["slash_commands"]} == listens.commands
    assert {s["callback_id"] for s in features["shortcuts"]} == listens.shortcuts
    assert all(s["type"] == "message" for s in features["shortcuts"])
    assert set(settings["event_subscriptions"]["bot_events"]) == listens.events
    assert settings["interactivity"]["is_enabled"] is bool(listens.actions or listens.views or listens.shortcuts)
    assert features["app_home"]["home_tab_enabled"] is ("app_home_opened" in listens.events)


def test_slash_commands_escape_mentions_so_they_arrive_as_user_ids(manifest: dict[str, Any]) -> None:
    assert all(c["should_escape"] is True for c in manifest["features"]["slash_commands"])


def test_the_manifest_keeps_slacks_field_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert 1 <= len(info["name"]) <= 35 and 1 <= len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    for shortcut in manifest["features"]["shortcuts"]:
        assert len(shortcut["name"]) <= 24 and len(shortcut["description"]) <= 150
    for command in manifest["features"]["slash_commands"]:
        assert command["command"].startswith("/") and len(command["command"]) <= 32
        assert len(command["description"]) <= 2000 and len(command["usage_hint"]) <= 1000
    assert manifest["features"]["bot_user"]["display_name"]


def test_the_bot_scopes_are_the_smallest_set_that_works(manifest: dict[str, Any], harness: SlackHarness) -> None:
    # exercise every kind of call the app makes
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.command("U0ALICE", "")
    harness.open_home("U0ALICE")
    harness.command("U0DAVE", "", command="/digest")
    harness.settle()
    DigestJob(hours=DEFAULT_HOURS).run(
        store=harness.store, workspace="default", now=harness.clock()
    )  # Monday's DM, with its chart
    harness.settle()
    called = {c.method for c in harness.fake.calls()}
    assert called <= set(METHOD_SCOPES), f"unmapped Web API methods: {called - set(METHOD_SCOPES)}"
    needed = {scope for method in called if (scope := METHOD_SCOPES[method])}
    needed.add("commands")  # slash commands and shortcuts
    needed.add("users:read.email")  # users.info answers with the email that links Slack and Teams people
    needed.add("im:history")  # the outbox looks up a post whose send was interrupted (see bot.delivery)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        (ActionId.DECLINE, list(DECLINE_INPUTS)),
        (ActionId.ASK_INSTEAD, []),
        (ActionId.ACCEPT_ALTERNATIVE, []),
        (ActionId.ASK_AGAIN, ["note"]),
        (ActionId.RECOVER, ["note"]),
        (ActionId.FOLLOW_UP, ["note"]),
        (ActionId.CLOSE_RECOVERY, ["note"]),
    ],
    ids=lambda value: value.value if isinstance(value, ActionId) else None,
)
def test_every_decline_and_recovery_button_and_form_is_one_the_app_listens_to(
    harness: SlackHarness, action: ActionId, inputs: list[str]
) -> None:
    listens = _subscriptions(harness)
    rendered = buttons([Action(id=action, label="x", request=1, inputs=inputs, value="3")], "default")
    [element] = rendered["elements"]
    assert any(re.fullmatch(pattern, element["action_id"]) for pattern in listens.actions), element["action_id"]
    if inputs:
        modal = action_modal(FormTarget(1, action), inputs, None)
        assert view_problems(modal) == []
        assert modal["callback_id"] in listens.views
        assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == inputs
