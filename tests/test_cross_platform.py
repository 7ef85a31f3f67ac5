"""One request across both platforms on one store: created in Teams by alice, handled in Slack
by bob, rated in Teams by alice. One person, one history, wherever they work."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bot.models import ActionId, EventKind, Status
from bot.ports import Store
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import TEAM, USERS, SlackHarness, button
from tests.teams.conftest import ALICE, EVERYONE, TENANT, as_user, load


@pytest.fixture
def both(org_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SlackHarness, FakeBotConnector]]:
    """One servechain app with Slack and Teams on, a fake Slack Web API and a fake Bot Connector."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "MICROSOFT_APP_ID", "SERVECHAIN_TEAMS"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlackApi(team_id=TEAM) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        harness = SlackHarness(org_store, fake, servechain_teams=True, microsoft_app_id="")
        loop = harness.server.loop
        connector = FakeBotConnector()
        asyncio.run_coroutine_threadsafe(connector.start(), loop).result(timeout=10)
        for account in EVERYONE:
            connector.add_member(
                account.user_id, name=account.name, aad_object_id=account.aad, email=account.email, tenant_id=TENANT
            )
        try:
            yield harness, connector
        finally:
            asyncio.run_coroutine_threadsafe(connector.close(), loop).result(timeout=10)
            harness.stop()


def _teams(harness: SlackHarness, connector: FakeBotConnector, activity: dict[str, Any]) -> tuple[int, Any]:
    """POST one Bot Framework activity to the running app's /api/messages."""
    activity = {**activity, "serviceUrl": connector.url, "id": f"act-{len(connector.calls)}-{id(activity)}"}
    request = urllib.request.Request(
        f"{harness.server.base}/api/messages",
        data=json.dumps(activity).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        return response.status, json.loads(body) if body else None


def test_created_in_teams_handled_in_slack_rated_in_teams(both: tuple[SlackHarness, FakeBotConnector]) -> None:
    slack, connector = both
    store = slack.store

    # bob works in Slack: opening his App Home links his Slack account to his person (by email)
    assert slack.open_home("U0BOB").status == 200
    slack.settle()
    bob = store.get_person("default", "P-bob")
    assert bob is not None and bob.slack_ids == {TEAM: "U0BOB"}

    # alice works in Teams: she asks bob there
    ask = as_user(load("message_personal"), ALICE)
    ask["text"] = "request @bob need the Q3 numbers by friday"
    status, _ = _teams(slack, connector, ask)
    assert status in (200, 201)
    replies = [c.text for c in connector.of("reply", conversation_id=ALICE.chat)]
    assert any(text and text.startswith("Sent R-1 to Bob") for text in replies)
    alice = store.get_person("default", "P-alice")
    assert alice is not None and alice.teams_id == ALICE.aad, "linked by email: one alice, not two"

    # the provider card reaches bob in Slack, the confirmation reaches alice in Teams
    slack.settle()
    bob_card = slack.card("U0BOB", "R-1")
    assert [c.conversation_id for c in connector.of("send")] == [ALICE.chat]

    # bob acknowledges and finishes in Slack
    assert slack.click("U0BOB", button(bob_card, ActionId.ACKNOWLEDGE)).status == 200
    slack.settle()
    assert store.get_request("default", 1).status == Status.ACKNOWLEDGED  # type: ignore[union-attr]
    bob_card = slack.card("U0BOB", "R-1")
    assert slack.click("U0BOB", button(bob_card, ActionId.DONE)).status == 200
    slack.settle()
    modal = slack.last_view()
    answer = slack.submit("U0BOB", modal, {"note": {"type": "plain_text_input", "value": "in the shared sheet"}})
    assert answer.status == 200
    slack.settle()
    assert store.get_request("default", 1).status == Status.DONE  # type: ignore[union-attr]

    # alice gets the rating card in Teams, with her status card updated in place there
    sends = connector.of("send", conversation_id=ALICE.chat)
    rating_prompt = sends[-1]
    assert "How did Bob" in json.dumps(rating_prompt.cards)
    assert connector.of("update"), "alice's Teams card was updated in place as bob worked in Slack"

    # she rates it from the card in Teams
    rate = as_user(load("invoke_adaptive_card_action"), ALICE)
    rate["replyToId"] = rating_prompt.response["id"]
    rate["value"]["action"]["verb"] = "rate"
    rate["value"]["action"]["data"] = {"action": "rate", "request": 1, "rate.score": "5", "rate.friendliness": "5"}
    status, body = _teams(slack, connector, rate)
    assert status == 200 and body["statusCode"] == 200
    slack.settle()

    request = store.get_request("default", 1)
    assert request is not None and request.rating is not None
    assert (request.rating.score, request.rating.needs) == (5, {"friendliness": 5})
    assert [e.kind for e in request.events] == [
        EventKind.CREATED,
        EventKind.ACKNOWLEDGED,
        EventKind.DONE,
        EventKind.RATED,
    ]
    assert {e.actor_id for e in request.events} == {"P-alice", "P-bob"}
    assert any("rated it 5/5" in str(c.params) for c in slack.fake.calls("chat.postMessage")), (
        "bob hears about the rating in Slack"
    )
    handles = [p.handle for p in store.list_people("default")]
    assert handles.count("alice") == 1 and handles.count("bob") == 1, "nobody was duplicated across platforms"
