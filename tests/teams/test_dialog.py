"""Dialog-level tests on botbuilder's TestAdapter: typed commands, mentions and card clicks
through the Teams activity handler, with a real store and no network at all."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import pytest
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount, Mention

from bot.errors import StorageError
from bot.models import EventKind, Status
from bot.ports import Store
from handlers.runtime import Runtime
from handlers.teams import references
from handlers.teams.bot import ServechainTeamsBot
from handlers.teams.errors import on_turn_error
from handlers.teams.identity import command_text
from tests.teams.conftest import (
    ALICE,
    BOB,
    BOT_ID,
    CAROL,
    DAVE,
    EVERYONE,
    TENANT,
    Clock,
    TeamsAccount,
    assert_valid_cards,
    run,
    teams_settings,
)


@pytest.fixture
def teams_org(org_store: Store) -> Store:
    """The small org, with the Teams people already seen by the bot (linked to their Teams ids)."""
    for account in EVERYONE:
        person = org_store.get_person("default", f"P-{account.handle}")
        assert person is not None
        org_store.save_org([person.model_copy(update={"teams_id": account.aad})])
        references.remember_user(org_store, "default", account.user_id, person.id)
    return org_store


def make_adapter(store: Store) -> tuple[TestAdapter, Runtime]:
    runtime = Runtime(settings=teams_settings(), store=store, clock=Clock())
    bot = ServechainTeamsBot(runtime)
    template = Activity(
        channel_id="msteams",
        service_url="https://teams.invalid/",
        from_property=ChannelAccount(id=ALICE.user_id, name=ALICE.name, aad_object_id=ALICE.aad),
        recipient=ChannelAccount(id=BOT_ID, name="servechain"),
        conversation=ConversationAccount(id=ALICE.chat, conversation_type="personal", tenant_id=TENANT),
    )
    adapter = TestAdapter(bot.on_turn, template)
    adapter.on_turn_error = on_turn_error
    return adapter, runtime


def said_by(account: TeamsAccount, text: str = "", **fields: Any) -> Activity:
    return Activity(
        type=ActivityTypes.message,
        text=text,
        from_property=ChannelAccount(id=account.user_id, name=account.name, aad_object_id=account.aad),
        conversation=ConversationAccount(id=account.chat, conversation_type="personal", tenant_id=TENANT),
        **fields,
    )


def mention(account: TeamsAccount) -> Mention:
    return Mention(
        mentioned=ChannelAccount(id=account.user_id, name=account.name), text=f"<at>{account.name}</at>", type="mention"
    )


def texts(adapter: TestAdapter) -> list[str]:
    replies = [a.text or a.summary or "" for a in adapter.activity_buffer if a.type == ActivityTypes.message]
    adapter.activity_buffer.clear()
    return replies


def test_help_lists_what_the_bot_can_do(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        flow = await adapter.send("help")
        await flow.assert_reply(lambda reply, _d: _contains(reply, "request @name what you need"))

    run(scenario())


def test_digest_is_routed_and_answered_politely(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        flow = await adapter.send("digest")  # alice manages nobody
        await flow.assert_reply(lambda reply, _d: _contains(reply, "The weekly digest is for managers"))

    run(scenario())


def _contains(reply: Activity, text: str) -> None:
    assert reply.type == ActivityTypes.message
    assert text in (reply.text or ""), reply.text


def test_request_with_a_teams_mention_creates_it_for_the_mentioned_person(teams_org: Store) -> None:
    adapter, runtime = make_adapter(teams_org)
    kicks: list[bool] = []
    runtime.kick = lambda: kicks.append(True)  # type: ignore[method-assign]

    async def scenario() -> None:
        activity = said_by(ALICE, f"request <at>{BOB.name}</at> need the Q3 numbers by friday", entities=[mention(BOB)])
        flow = await adapter.send(activity)
        await flow.assert_reply("Sent R-1 to Bob (bob), due Fri 27 Nov 17:00.")

    run(scenario())
    request = teams_org.get_request("default", 1)
    assert request is not None
    assert (request.requester_id, request.provider_id, request.text) == ("P-alice", "P-bob", "need the Q3 numbers")
    assert [item.message.recipient_id for item in teams_org.list_outbox("default", state="pending")] == [
        "P-bob",
        "P-alice",
    ]
    assert kicks == [True]


def test_mentioning_someone_unknown_says_so(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)
    stranger = TeamsAccount("zed", "Zed Zimmer")

    async def scenario() -> None:
        activity = said_by(ALICE, f"request <at>{stranger.name}</at> a favour", entities=[mention(stranger)])
        await adapter.receive_activity(activity)

    run(scenario())
    assert texts(adapter) == ["I don't know @Zed Zimmer. Check the name, or ask them to say hi to me first."]
    assert teams_org.get_request("default", 1) is None


def test_kudos_with_a_mention_thanks_the_person(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        activity = said_by(
            ALICE, f"kudos <at>{BOB.name}</at> thanks for the numbers #teamwork", entities=[mention(BOB)]
        )
        await adapter.receive_activity(activity)

    run(scenario())
    assert texts(adapter) == ["Kudos sent to Bob. (1/5 today)"]
    [kudos] = teams_org.find_kudos("default", giver_id="P-alice")
    assert kudos.recipient_ids == ["P-bob"] and kudos.values == ["teamwork"]


def test_core_usage_texts_read_without_slashes_in_teams(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)
    run(adapter.receive_activity(said_by(ALICE, "request")))
    [reply] = texts(adapter)
    assert "request @name what you need" in reply
    assert "/request" not in reply


def test_show_answers_with_a_valid_card(teams_org: Store, card_validator: jsonschema.protocols.Validator) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        await adapter.receive_activity(said_by(BOB, "show R-1"))

    run(scenario())
    [reply] = adapter.activity_buffer
    card = reply.attachments[0].content
    assert_valid_cards(card_validator, [card])
    assert card["body"][0]["text"] == "R-1 from Alice"
    assert [a["title"] for a in card["actions"]] == [
        "Acknowledge",
        "Start",
        "Done",
        "Decline",
        "Hand off",
        "Propose a date",
    ]


def test_submit_click_acts_and_updates_the_clicked_card(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        click = said_by(BOB, value={"action": "acknowledge", "request": 1}, reply_to_id="card-7")
        click.text = None
        await adapter.receive_activity(click)

    run(scenario())
    assert texts(adapter) == ["You acknowledged R-1."]
    [updated] = adapter.updated_activities
    assert updated.id == "card-7"
    assert [a["title"] for a in updated.attachments[0].content["actions"]] == [
        "Start",
        "Done",
        "Decline",
        "Hand off",
        "Propose a date",
    ]
    request = teams_org.get_request("default", 1)
    assert request is not None and request.status == Status.ACKNOWLEDGED


def test_submit_click_on_a_nudge_turns_the_nudge_into_a_note_like_execute_does(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        click = said_by(BOB, value={"action": "mute", "request": 1}, reply_to_id="nudge-3")
        click.text = None
        await adapter.receive_activity(click)

    run(scenario())
    muted = "Nudges muted. Your manager still hears about requests nobody acknowledges."
    assert texts(adapter) == [muted]
    [updated] = adapter.updated_activities
    assert updated.id == "nudge-3"
    note = updated.attachments[0].content
    assert [block["text"] for block in note["body"]] == ["R-1", muted]
    assert "actions" not in note


def invoke(account: TeamsAccount, data: dict[str, Any]) -> Activity:
    activity = said_by(account)
    activity.type = ActivityTypes.invoke
    activity.text = None
    activity.name = "adaptiveCard/action"
    activity.value = {"action": {"type": "Action.Execute", "verb": data["action"], "data": data}, "trigger": "manual"}
    return activity


def invoke_body(adapter: TestAdapter) -> dict[str, Any]:
    [response] = [a for a in adapter.activity_buffer if a.type == ActivityTypes.invoke_response]
    return response.value.body  # type: ignore[no-any-return]


def test_execute_click_answers_with_the_refreshed_card(
    teams_org: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        await adapter.receive_activity(invoke(BOB, {"action": "start", "request": 1}))

    run(scenario())
    body = invoke_body(adapter)
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert_valid_cards(card_validator, [body["value"]])
    assert {"title": "Status", "value": "in progress"} in body["value"]["body"][2]["facts"]
    assert "You started R-1." in texts(adapter)


def test_execute_click_by_the_wrong_person_explains_without_changing_the_card(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        await adapter.receive_activity(invoke(CAROL, {"action": "acknowledge", "request": 1}))

    run(scenario())
    body = invoke_body(adapter)
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "I can't find R-1.",
    }
    request = teams_org.get_request("default", 1)
    assert request is not None and request.status == Status.OPEN


def test_decline_without_a_reason_is_refused_in_words(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        await adapter.receive_activity(invoke(BOB, {"action": "decline", "request": 1, "decline.note": "  "}))

    run(scenario())
    assert invoke_body(adapter)["value"] == "Please give a reason for declining."


def test_hand_off_by_handle_moves_the_request(teams_org: Store) -> None:
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(ALICE, "request @bob the invoices"))
        adapter.activity_buffer.clear()
        data = {"action": "handoff", "request": 1, "handoff.to": "@carol", "handoff.note": "carol owns invoices"}
        await adapter.receive_activity(invoke(BOB, data))

    run(scenario())
    card = invoke_body(adapter)["value"]
    assert card["body"][0]["text"] == "R-1 from Alice (now with Carol)"
    assert "actions" not in card
    request = teams_org.get_request("default", 1)
    assert request is not None and request.provider_id == "P-carol"
    assert request.events[-1].kind == EventKind.HANDED_OFF


def test_an_unexpected_error_is_logged_with_an_id_the_user_can_quote(
    teams_org: Store, caplog: pytest.LogCaptureFixture
) -> None:
    adapter, _ = make_adapter(BrokenStore(teams_org, RuntimeError("disk on fire")))
    with caplog.at_level(logging.ERROR):
        run(adapter.receive_activity(said_by(ALICE, "request list")))
    [reply] = texts(adapter)
    assert reply.startswith("Sorry, something went wrong on my side.")
    error_id = reply.rsplit(" ", 1)[-1].rstrip(".")
    assert any(error_id in record.getMessage() for record in caplog.records)
    assert "disk on fire" not in reply


def test_a_storage_fault_is_reported_as_such(teams_org: Store) -> None:
    adapter, _ = make_adapter(BrokenStore(teams_org, StorageError("connection refused")))
    run(adapter.receive_activity(said_by(ALICE, "request list")))
    [reply] = texts(adapter)
    assert reply.startswith("I couldn't reach my records just now, so nothing was changed.")


class BrokenStore:
    """A store whose request queries fail (everything else is the real store)."""

    def __init__(self, store: Store, error: Exception) -> None:
        self._store = store
        self._error = error

    def find_requests(self, *args: Any, **kwargs: Any) -> Any:
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_command_text_strips_the_bot_and_rewrites_mentions() -> None:
    activity = Activity(
        text="<at>servechain</at>&nbsp;kudos <at>Bob Brown</at> and <at>Carol Chen</at> great work",
        recipient=ChannelAccount(id=BOT_ID),
        entities=[
            Mention(mentioned=ChannelAccount(id=BOT_ID, name="servechain"), text="<at>servechain</at>", type="mention"),
            mention(BOB),
            mention(CAROL),
        ],
    )
    assert command_text(activity) == (f"kudos <@{BOB.user_id}|Bob Brown> and <@{CAROL.user_id}|Carol Chen> great work")


def test_turn_error_handler_never_raises() -> None:
    class Failing(TestAdapter):
        async def send_activities(self, context: TurnContext, activities: list[Activity]) -> Any:
            raise ConnectionError("channel down")

    adapter = Failing()
    context = TurnContext(adapter, Activity(type="message", conversation=ConversationAccount(id="c")))
    run(on_turn_error(context, RuntimeError("boom")))


def test_team_answers_a_manager_with_a_valid_card_of_stuck_requests(
    teams_org: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.models import Event, Request

    created = datetime.now(UTC) - timedelta(days=10)  # the adapter runs on the real clock
    log = [Event(kind=EventKind.CREATED, at=created, actor_id="P-alice", to_id="P-bob")]
    teams_org.create_request(
        Request(requester_id="P-alice", provider_id="P-bob", text="the invoices", created_at=created, events=log)
    )
    adapter, _ = make_adapter(teams_org)

    async def scenario() -> None:
        await adapter.receive_activity(said_by(DAVE, "request team"))

    run(scenario())
    reply = adapter.activity_buffer[-1]
    card = reply.attachments[0].content
    assert_valid_cards(card_validator, [card])
    text = str(card["body"])
    assert "What is stuck on your team" in text and "R-1 held by Bob" in text
    assert "Reassign R-1" in [a.get("title") for a in card.get("actions", [])] or "Reassign R-1" in str(card)
