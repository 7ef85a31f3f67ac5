"""Decline choices and service-recovery rounds through the real ``/api/messages`` with Activities
(issue 12, items 4 and 5); every card the bot sends or returns is checked against the Adaptive
Card 1.5 schema when the harness closes."""

from __future__ import annotations

from typing import Any

import jsonschema

from bot.models import EventKind, Status
from bot.ports import Store
from bot.recovery import recovery
from tests.teams.conftest import ALICE, BOB, CAROL, DAVE, TeamsHarness, assert_valid_cards, load, run, with_harness


async def _ask(h: TeamsHarness) -> None:
    for account in (BOB, CAROL, DAVE):
        assert await h.install(account) == 201
    mention = load("message_channel_mention")["entities"][1]
    payload = load("message_personal")
    payload["text"] = "request <at>Bob Brown</at> need the Q3 numbers"
    payload["entities"] = [mention]
    assert (await h.post(payload))[0] == 201
    await h.deliver()


def _latest_card(h: TeamsHarness, sent: Any) -> dict[str, Any]:
    """The newest state of a posted card (its last update, else as sent)."""
    updates = [u for u in h.connector.of("update") if u.activity_id == sent.response["id"]]
    return dict(updates[-1].cards[0] if updates else sent.cards[0])


def _action(card: dict[str, Any], title: str) -> dict[str, Any]:
    return next(a for a in card.get("actions", []) if a["title"] == title)


def test_a_decline_with_an_alternative_is_taken_up_in_one_click_in_teams(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        await _ask(h)
        [provider_card] = h.sent_to(BOB)
        decline = _action(provider_card.cards[0], "Decline")
        ids = [e["id"] for e in decline["card"]["body"] if "id" in e]
        assert ids == [
            "decline.note",
            "decline.alternative_to",
            "decline.alternative_request",
            "decline.alternative",
            "decline.no_alternative",
        ]
        card_id = provider_card.response["id"]
        refused = await h.execute(BOB, {"action": "decline", "request": 1, "decline.note": "no"}, card_id=card_id)
        assert "offer an alternative" in str(refused)
        unknown = await h.execute(
            BOB,
            {"action": "decline", "request": 1, "decline.note": "no", "decline.alternative_to": "zed"},
            card_id=card_id,
        )
        assert "I don't know zed" in str(unknown)
        assert org_store.get_request("default", 1).status == Status.OPEN  # type: ignore[union-attr]

        declined = await h.execute(
            BOB,
            {"action": "decline", "request": 1, "decline.note": "not my area", "decline.alternative_to": "carol"},
            card_id=card_id,
        )
        assert_valid_cards(card_validator, [declined["value"]])
        await h.deliver()
        [requester_card] = [s for s in h.sent_to(ALICE) if s.cards and "R-1 to" in str(s.cards[0])]
        latest = _latest_card(h, requester_card)
        assert_valid_cards(card_validator, [latest])
        assert any("(declined)?" in str(s.cards) for s in h.sent_to(ALICE)), "a declined request is rated too"
        ask_carol = _action(latest, "Ask carol instead")
        data = ask_carol["data"]
        assert data["action"] == "ask_instead" and data["value"]

        stranger = await h.execute(DAVE, data)  # dave manages bob, but this is alice's choice
        assert "Only alice" in str(stranger)
        asked = await h.execute(ALICE, data, card_id=requester_card.response["id"])
        assert_valid_cards(card_validator, [asked["value"]])
        request = org_store.get_request("default", 1)
        assert request is not None and (request.status, request.provider_id) == (Status.OPEN, "P-carol")
        assert h.replies_to(ALICE)[-1] == "You asked carol instead; R-1 is with them now, with its full history."
        await h.deliver()
        carol_card = next(s for s in h.sent_to(CAROL) if s.cards)
        assert "alice asked carol instead of bob" in str(carol_card.cards[0])

        again = await h.execute(ALICE, data, card_id=requester_card.response["id"])  # stale now
        assert "still waiting to be acknowledged" in str(again)
        assert org_store.get_request("default", 1) == request

    run(with_harness(org_store, scenario))


def test_recovery_rounds_bring_in_the_manager_who_closes_it_in_teams(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    async def scenario(h: TeamsHarness) -> None:
        await _ask(h)
        await h.execute(BOB, {"action": "done", "request": 1})
        rated = await h.execute(
            ALICE,
            {
                "action": "rate",
                "request": 1,
                "rate.score": "2",
                "rate.information": "1",
                "rate.comment": "no word for a week",
            },
        )
        assert "Thanks for rating" in str(h.replies_to(ALICE)[-1]), rated
        await h.deliver()
        poor = [s for s in h.sent_to(BOB) if s.cards and "rated R-1 2/5" in str(s.cards[0])][-1]
        facts = {f["title"]: f["value"] for b in poor.cards[0]["body"] if b["type"] == "FactSet" for f in b["facts"]}
        assert facts["Information"] == "1/5" and "no word for a week" in str(poor.cards[0])

        for round_ in (1, 2):
            await h.execute(BOB, {"action": "recover", "request": 1, "recover.note": f"plan {round_}"})
            await h.deliver()
            prompt = [s for s in h.sent_to(ALICE) if s.cards and "Are you satisfied" in str(s.cards[0])][-1]
            not_yet = _action(prompt.cards[0], "Not yet")
            data = {**not_yet["card"]["actions"][0]["data"], "follow_up.note": f"not yet {round_}"}
            assert data["value"] == f"no:{round_}"
            await h.execute(ALICE, data)
        await h.deliver()
        manager = [s for s in h.sent_to(DAVE) if s.cards and "Service recovery of R-1" in str(s.cards[0])][-1]
        assert "not yet 2" in str(manager.cards[0]), "the whole thread"
        close = _action(manager.cards[0], "Close recovery")
        assert close["type"] == "Action.ShowCard"
        early = await h.execute(BOB, {"action": "close_recovery", "request": 1, "close_recovery.note": "done"})
        assert "Only bob's manager" in str(early)
        closed = await h.execute(
            DAVE,
            {"action": "close_recovery", "request": 1, "close_recovery.note": "we agreed a monthly report"},
            card_id=manager.response["id"],
        )
        assert_valid_cards(card_validator, [closed["value"]])
        assert "The service recovery is over: closed." in str(closed["value"]), "dave's card, refreshed"
        assert "Close recovery" not in str(closed["value"])
        request = org_store.get_request("default", 1)
        assert request is not None and request.events[-1].kind == EventKind.RECOVERY_CLOSED
        assert recovery(request).state == "closed"  # type: ignore[union-attr]
        await h.deliver()
        assert any("closed the service recovery" in (s.text or "") for s in h.sent_to(ALICE))

    run(with_harness(org_store, scenario))
