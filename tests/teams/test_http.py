"""Real HTTP: activities POSTed to the running ``/api/messages`` of ``build_web_app``, replies and
proactive messages landing on a local fake Bot Connector. Runs without auth (no app id)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jsonschema
import pytest

from bot.models import EventKind, Status
from bot.ports import Store
from bot.settings import Settings
from handlers.server import build_web_app
from handlers.teams import references
from tests.teams.conftest import (
    ALICE,
    BOB,
    CAROL,
    TeamsHarness,
    as_user,
    assert_valid_cards,
    load,
    run,
    teams_settings,
    with_harness,
)


def _card_actions(card: dict[str, Any]) -> list[str]:
    return [action["title"] for action in card.get("actions", [])]


def test_request_life_from_teams_to_rating_and_recovery(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    """Alice (already known from Slack) asks Bob in Teams; Bob handles it from his card; Alice
    rates it poorly, Bob answers, Alice is satisfied. One person, one history, across platforms."""
    alice = org_store.get_person("default", "P-alice")
    assert alice is not None
    org_store.save_org([alice.model_copy(update={"slack_ids": {"T-slack": "U-alice"}})])

    async def scenario(h: TeamsHarness) -> dict[str, Any]:
        assert await h.install(BOB) == 201
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers by friday"
        payload["entities"] = [mention]
        status, _ = await h.post(payload)
        assert status == 201
        assert h.replies_to(ALICE)[-1] == "Sent R-1 to Bob (bob), due Fri 27 Nov 17:00."

        report = await h.deliver()
        assert (report.sent, report.failed) == (2, 0)
        [provider_card] = h.sent_to(BOB)
        [requester_card] = h.sent_to(ALICE)
        assert _card_actions(provider_card.cards[0]) == [
            "Acknowledge",
            "Start",
            "Done",
            "Decline",
            "Hand off",
            "Propose a date",
        ]
        assert _card_actions(requester_card.cards[0]) == ["Cancel request"]
        bob_card = provider_card.response["id"]

        acknowledged = await h.execute(BOB, {"action": "acknowledge", "request": 1}, card_id=bob_card)
        assert acknowledged["type"] == "application/vnd.microsoft.card.adaptive"
        assert _card_actions(acknowledged["value"]) == ["Start", "Done", "Decline", "Hand off", "Propose a date"]
        assert h.replies_to(BOB)[-1] == "You acknowledged R-1."
        await h.deliver()
        updates = h.connector.of("update")
        assert {u.activity_id for u in updates} == {bob_card, requester_card.response["id"]}
        assert h.sent_to(ALICE)[-1].text == "R-1: bob acknowledged"

        await h.execute(BOB, {"action": "start", "request": 1}, card_id=bob_card)
        done = await h.execute(
            BOB, {"action": "done", "request": 1, "done.note": "in the shared sheet"}, card_id=bob_card
        )
        assert "actions" not in done["value"]
        await h.deliver()
        rating_prompt = h.sent_to(ALICE)[-1]
        assert _card_actions(rating_prompt.cards[0]) == ["Rate"]

        rated = await h.execute(
            ALICE,
            {"action": "rate", "request": 1, "rate.score": "2", "rate.information": "1", "rate.comment": "late"},
            card_id=rating_prompt.response["id"],
        )
        assert rated["value"]["body"][1]["text"] == "Thanks for rating R-1."
        await h.deliver()
        recovery_prompt = h.sent_to(BOB)[-1]
        assert recovery_prompt.cards[0]["body"][0]["text"] == "Alice rated R-1 2/5"

        await h.execute(
            BOB,
            {"action": "recover", "request": 1, "recover.note": "I'll send a summary"},
            card_id=recovery_prompt.response["id"],
        )
        await h.deliver()
        follow_up = h.sent_to(ALICE)[-1]
        assert _card_actions(follow_up.cards[0]) == ["Yes, thanks", "Not yet"]
        await h.execute(ALICE, {"action": "follow_up", "request": 1, "value": "yes"}, card_id=follow_up.response["id"])
        await h.deliver()
        return {"cards": h.connector.all_cards(), "auth": {c.authorization for c in h.connector.calls}}

    async def main() -> dict[str, Any]:
        async with TeamsHarness(org_store) as harness:
            return await scenario(harness)

    outcome = run(main())
    assert_valid_cards(card_validator, outcome["cards"])
    assert outcome["auth"] == {None}  # no app id: nothing is signed, and no token is requested

    request = org_store.get_request("default", 1)
    assert request is not None
    assert request.status == Status.DONE
    assert [e.kind for e in request.events] == [
        EventKind.CREATED,
        EventKind.ACKNOWLEDGED,
        EventKind.STARTED,
        EventKind.DONE,
        EventKind.RATED,
        EventKind.RECOVERY_PLANNED,
        EventKind.FOLLOWED_UP,
    ]
    assert request.rating is not None and request.rating.needs == {"information": 1}
    assert request.events[-1].satisfied is True
    linked = org_store.find_person("default", teams_id=ALICE.aad)
    assert linked is not None
    assert (linked.id, linked.slack_ids) == ("P-alice", {"T-slack": "U-alice"})  # linked by email
    assert org_store.list_outbox("default", state="pending") == []


def test_decline_from_an_action_submit_updates_the_clicked_card_in_place(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob need the Q3 numbers")
        await h.say(BOB, "request queue")
        payload = load("message_card_submit")
        payload["replyToId"] = "card-of-bob"
        status, _ = await h.post(payload)
        assert status == 201
        [update] = h.connector.of("update")
        assert (update.conversation_id, update.activity_id) == (BOB.chat, "card-of-bob")
        assert "actions" not in update.cards[0]
        assert h.replies_to(BOB)[-1] == "You declined R-1; alice has been told why, with your alternative."

    run(with_harness(org_store, main))
    request = org_store.get_request("default", 1)
    assert request is not None and request.status == Status.DECLINED
    assert request.events[-1].alternative == "Ask dave for the Q2 summary"


def test_an_action_submit_on_a_posted_card_leaves_its_update_to_the_outbox(org_store: Store) -> None:
    """The clicked card is the one the outbox posted: it is updated once (by the outbox), not
    also in place by the click."""

    async def main(h: TeamsHarness) -> None:
        assert await h.install(BOB) == 201
        await h.say(ALICE, "request @bob need the Q3 numbers")
        await h.deliver()
        [provider_card] = h.sent_to(BOB)
        bob_card = provider_card.response["id"]
        assert await h.submit(BOB, {"action": "acknowledge", "request": 1}, card_id=bob_card) == 201
        assert h.replies_to(BOB)[-1] == "You acknowledged R-1."
        await h.deliver()
        [update] = [u for u in h.connector.of("update") if u.activity_id == bob_card]
        assert [a["title"] for a in update.cards[0]["actions"]] == [
            "Start",
            "Done",
            "Decline",
            "Hand off",
            "Propose a date",
        ]

    run(with_harness(org_store, main))


def test_a_redelivered_activity_changes_nothing_twice(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        payload = as_user(load("message_personal"), ALICE)
        payload["text"] = "request @bob the invoices"
        assert (await h.post(payload, keep_id=True))[0] == 201
        assert (await h.post(payload, keep_id=True))[0] == 201  # Bot Framework retried
        assert h.replies_to(ALICE) == ["Sent R-1 to Bob (bob).", "R-1 was already created."]

    run(with_harness(org_store, main))
    assert org_store.get_request("default", 2) is None
    assert len(org_store.list_outbox("default")) == 2


def test_a_channel_mention_runs_the_command_and_replies_in_the_thread(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        status, _ = await h.post(load("message_channel_mention"))
        assert status == 201
        [reply] = h.connector.of("reply")
        assert reply.conversation_id == "19:sales-channel@thread.tacv2;messageid=1764000000100"
        assert reply.text == "Sent R-1 to Bob (bob), due Fri 27 Nov 17:00."
        # Bob was resolved through the member lookup and linked to his org person by email.
        assert {c.path.rsplit("/", 1)[-1] for c in h.connector.of("member")} == {ALICE.user_id, BOB.user_id}

    run(with_harness(org_store, main))
    bob = org_store.find_person("default", teams_id=BOB.aad)
    assert bob is not None and bob.id == "P-bob"
    # A channel is nobody's 1:1 chat: no personal reference from it.
    assert references.personal(org_store, "default", "P-alice") is None


def test_someone_who_never_wrote_to_the_bot_gets_a_new_1_to_1_chat(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob the invoices")
        await h.say(BOB, "hi")
        await h.execute(
            BOB, {"action": "handoff", "request": 1, "handoff.to": "carol", "handoff.note": "carol owns invoices"}
        )
        carol = org_store.get_person("default", "P-carol")
        assert carol is not None
        org_store.save_org([carol.model_copy(update={"teams_id": CAROL.aad})])  # e.g. known from the directory
        report = await h.deliver()
        assert report.failed == 0
        [created] = h.connector.of("create")
        assert created.body["members"] == [{"id": CAROL.aad}]
        assert created.body["channelData"] == {"tenant": {"id": "tenant-0000-servechain"}}
        sent = h.sent_to(CAROL)
        assert [c.text for c in sent] == [None, 'R-1: R-1 is yours now: bob handed off to carol: "carol owns invoices"']
        assert sent[0].cards[0]["body"][0]["text"] == "R-1 from Alice"

    run(with_harness(org_store, main))
    reference = references.personal(org_store, "default", "P-carol")
    assert reference is not None and reference.conversation.id == f"a:personal-{CAROL.aad}"


def test_the_delivery_worker_sends_after_a_command_without_being_asked(org_store: Store) -> None:
    async def main() -> None:
        settings = teams_settings()
        async with TeamsHarness(org_store, settings=settings, deliver=True) as h:
            await h.say(BOB, "hi")
            await h.say(ALICE, "request @bob the invoices")
            for _ in range(100):
                if h.sent_to(BOB):
                    break
                await asyncio.sleep(0.05)
            assert h.sent_to(BOB), "the worker did not deliver the provider card"

    run(main())


def test_without_an_app_id_one_warning_says_auth_is_off(org_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="handlers.teams"):
        build_web_app(teams_settings(), org_store, deliver=False)
    warnings = [r for r in caplog.records if "WITHOUT authentication" in r.getMessage()]
    assert len(warnings) == 1


def test_teams_runs_alone_without_any_slack_setting(org_store: Store) -> None:
    app = build_web_app(Settings(servechain_teams=True), org_store, deliver=False)
    paths = {resource.canonical for resource in app.router.resources()}
    assert "/api/messages" in paths
    assert "/slack/events" not in paths


def test_garbage_is_rejected_before_the_bot_sees_it(org_store: Store) -> None:
    people_before = org_store.list_people("default")

    async def main(h: TeamsHarness) -> None:
        assert h._session is not None
        async with h._session.post(h.url, data="hello", headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 415
        async with h._session.post(h.url, data="{not json", headers={"Content-Type": "application/json"}) as response:
            assert response.status == 400
        async with h._session.post(h.url, json={"text": "no type"}) as response:
            assert response.status == 400

    run(with_harness(org_store, main))
    assert org_store.list_people("default") == people_before
