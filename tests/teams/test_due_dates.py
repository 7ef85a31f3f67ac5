"""Due dates never fail silently, through the real ``/api/messages`` with Activities: an
unreadable phrase is reported, and the requester's card sets the date with an ``Input.Date``."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema

from bot.models import EventKind
from bot.ports import Store
from tests.teams.conftest import ALICE, BOB, TeamsHarness, assert_valid_cards, load, run, with_harness


def _set_due_form(card: dict[str, Any]) -> dict[str, Any]:
    [show] = [a for a in card.get("actions", []) if a["title"] == "Set due date"]
    assert show["type"] == "Action.ShowCard"
    return dict(show["card"])


def test_an_unreadable_due_date_is_reported_and_set_from_the_cards_date_input(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        assert await h.install(BOB) == 201
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers by blursday"
        payload["entities"] = [mention]
        status, _ = await h.post(payload)
        assert status == 201
        assert "couldn't read the due date in 'by blursday', so R-1 has no due date yet" in h.replies_to(ALICE)[-1]
        await h.deliver()
        [requester_card] = h.sent_to(ALICE)
        card = requester_card.cards[0]
        assert_valid_cards(card_validator, [card])
        form = _set_due_form(card)
        field, time_field = form["body"]
        assert (field["type"], field["id"], field["isRequired"]) == ("Input.Date", "set_due.due", True)
        assert (time_field["type"], time_field["id"]) == ("Input.Time", "set_due.due_time")

        # a past date changes nothing and says why
        refused = await h.execute(
            ALICE,
            {"action": "set_due", "request": 1, "set_due.due": "2026-01-05"},
            card_id=requester_card.response["id"],
        )
        assert "is in the past" in str(refused)
        request = org_store.get_request("default", 1)
        assert request is not None and request.due_at is None

        # bob is not the one to ask for a date here
        await h.execute(BOB, {"action": "set_due", "request": 1, "set_due.due": "2026-12-04"})
        request = org_store.get_request("default", 1)
        assert request is not None and request.due_at is None

        updated = await h.execute(
            ALICE,
            {"action": "set_due", "request": 1, "set_due.due": "2026-12-04", "set_due.due_time": "15:30"},
            card_id=requester_card.response["id"],
        )
        assert updated["type"] == "application/vnd.microsoft.card.adaptive"
        assert_valid_cards(card_validator, [updated["value"]])
        assert "Set due date" not in str(updated["value"].get("actions", []))
        request = org_store.get_request("default", 1)
        assert request is not None and request.due_at is not None
        assert request.due_at == datetime(2026, 12, 4, 15, 30, tzinfo=ZoneInfo("America/New_York"))  # alice's zone
        assert request.events[-1].kind == EventKind.DUE_SET
        await h.deliver()
        assert any("set the due date" in (sent.text or "") for sent in h.sent_to(BOB))

    run(with_harness(org_store, scenario))


def test_a_date_is_negotiated_through_teams_cards(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        assert await h.install(BOB) == 201
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers by friday"
        payload["entities"] = [mention]
        assert (await h.post(payload))[0] == 201
        await h.deliver()
        [provider_card] = h.sent_to(BOB)
        card = provider_card.cards[0]
        [show] = [a for a in card["actions"] if a["title"] == "Propose a date"]
        assert [e["type"] for e in show["card"]["body"]] == ["Input.Date", "Input.Time", "Input.Text"]

        proposed = await h.execute(
            BOB,
            {"action": "propose_due", "request": 1, "propose_due.due": "2026-12-01", "propose_due.note": "audit"},
            card_id=provider_card.response["id"],
        )
        assert_valid_cards(card_validator, [proposed["value"]])
        assert "Propose a date" not in str(proposed["value"].get("actions", [])), "bob waits for alice now"
        await h.deliver()
        [requester_card] = [s for s in h.sent_to(ALICE) if s.cards]
        updates = [u for u in h.connector.of("update") if u.activity_id == requester_card.response["id"]]
        latest = updates[-1].cards[0]
        assert_valid_cards(card_validator, [latest])
        accept = next(a for a in latest["actions"] if a["title"] == "Accept date")
        data = accept["data"]
        assert data["action"] == "accept_due" and data["value"]

        agreed = await h.execute(ALICE, data, card_id=requester_card.response["id"])
        assert_valid_cards(card_validator, [agreed["value"]])
        request = org_store.get_request("default", 1)
        assert request is not None and request.events[-1].kind == EventKind.DUE_AGREED
        assert request.due_at is not None and request.due_at.date().isoformat() == "2026-12-01"
        assert h.replies_to(ALICE)[-1].startswith("Agreed: R-1 is due")

        # bob can't accept his own proposal, even with a stale card
        await h.execute(BOB, data, card_id=provider_card.response["id"])
        assert org_store.get_request("default", 1) == request

    run(with_harness(org_store, scenario))


def test_show_flags_an_overdue_request_in_teams(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers by friday"
        payload["entities"] = [mention]
        assert (await h.post(payload))[0] == 201
        h.clock.advance(days=6)
        assert await h.say(ALICE, "request list") == 201
        assert "⚠️ overdue by" in h.replies_to(ALICE)[-1]
        assert await h.say(ALICE, "request show R-1") == 201
        [shown] = [c for c in h.connector.of("reply", conversation_id=ALICE.chat) if c.cards][-1:]
        assert_valid_cards(card_validator, shown.cards)
        facts = {f["title"]: f["value"] for b in shown.cards[0]["body"] if b["type"] == "FactSet" for f in b["facts"]}
        assert facts["Overdue"].startswith("⚠️ overdue by")

    run(with_harness(org_store, scenario))


def test_ask_for_an_update_and_answer_it_in_teams(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers"
        payload["entities"] = [mention]
        assert (await h.post(payload))[0] == 201
        await h.execute(BOB, {"action": "acknowledge", "request": 1})
        asked = await h.execute(ALICE, {"action": "ask_update", "request": 1})
        assert_valid_cards(card_validator, [asked["value"]])
        assert h.replies_to(ALICE)[-1].startswith("You asked bob for an update on R-1")
        answered = await h.execute(BOB, {"action": "progress", "request": 1, "progress.note": "half done"})
        assert_valid_cards(card_validator, [answered["value"]])
        request = org_store.get_request("default", 1)
        assert request is not None and [e.kind for e in request.events[-2:]] == [
            EventKind.UPDATE_ASKED,
            EventKind.PROGRESS_NOTED,
        ]
        assert 'bob posted progress: "half done"' in str(answered["value"])

    run(with_harness(org_store, scenario))


def test_both_cards_turn_overdue_in_place_when_the_due_date_passes(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    """Nothing changes R-1 after Friday, yet once the scheduler runs after the due date both posted
    cards are updated (``updateActivity``) to say how long it has been overdue; a second run
    sends nothing more."""

    async def scenario(h: TeamsHarness) -> None:
        assert await h.install(BOB) == 201
        mention = load("message_channel_mention")["entities"][1]
        payload = load("message_personal")
        payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers by friday"
        payload["entities"] = [mention]
        assert (await h.post(payload))[0] == 201
        await h.deliver()
        [provider_card] = [s for s in h.sent_to(BOB) if s.cards]
        [requester_card] = [s for s in h.sent_to(ALICE) if s.cards]
        assert "overdue" not in str(provider_card.cards) + str(requester_card.cards)
        assert h.runtime is not None
        h.clock.advance(days=6)

        await asyncio.to_thread(h.runtime.run_scheduler)
        await h.deliver()

        for posted in (provider_card, requester_card):
            updates = [u for u in h.connector.of("update") if u.activity_id == posted.response["id"]]
            assert updates, "the posted card is updated in place"
            latest = updates[-1].cards[0]
            assert_valid_cards(card_validator, [latest])
            facts = {f["title"]: f["value"] for b in latest["body"] if b["type"] == "FactSet" for f in b["facts"]}
            assert facts["Overdue"].startswith("⚠️ overdue by"), facts
        count = len(h.connector.of("update"))
        await asyncio.to_thread(h.runtime.run_scheduler)
        await h.deliver()
        assert len(h.connector.of("update")) == count

    run(with_harness(org_store, scenario))
