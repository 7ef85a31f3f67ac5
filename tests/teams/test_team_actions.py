"""A manager's Nudge and Extend on the ``request team`` card, through the real ``/api/messages`` with
Activities: the card is valid against the Adaptive Card 1.5 schema, each stuck request has its own
buttons with input ids that name the request, and the clicks are refused for anyone outside the
provider's manager chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema

from bot.models import ActionId, Event, EventKind, Request
from bot.ports import Store
from bot.requests import status_after
from tests.conftest import NOW
from tests.teams.conftest import ALICE, BOB, DAVE, TeamsHarness, assert_valid_cards, run, with_harness


def _add(store: Store, provider: str, due_in: timedelta) -> Request:
    created = NOW - timedelta(days=3)
    log = [Event(kind=EventKind.CREATED, at=created, actor_id="P-alice", to_id=f"P-{provider}", due_at=NOW + due_in)]
    draft = Request(
        requester_id="P-alice",
        provider_id=f"P-{provider}",
        text=f"numbers from {provider}",
        created_at=created,
        due_at=NOW + due_in,
        events=log,
        status=status_after(log),
    )
    stored, _ = store.create_request(draft)
    return stored


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action in the card's body ActionSets, in order."""
    return [a for element in card["body"] if element.get("type") == "ActionSet" for a in element["actions"]]


def _form_data(show: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """What Teams sends for a ShowCard form: its button's data plus the inputs (by field name)."""
    [submit] = show["card"]["actions"]
    data = dict(submit["data"])
    for element in show["card"]["body"]:
        field = element["id"].split(".")[1]
        if field in values:
            data[element["id"]] = values[field]
    return data


def test_the_team_card_gives_each_request_its_buttons_and_they_nudge_and_extend(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    _add(org_store, "bob", -timedelta(hours=20))  # overdue
    _add(org_store, "carol", -timedelta(hours=2))  # overdue too

    async def scenario(h: TeamsHarness) -> None:
        for account in (ALICE, BOB, DAVE):
            assert await h.install(account) == 201
        assert await h.say(DAVE, "request team") == 201
        [reply] = [c for c in h.connector.of("reply", conversation_id=DAVE.chat) if c.cards]
        card = reply.cards[0]
        assert_valid_cards(card_validator, [card])
        titles = [a["title"] for a in _actions(card)]
        assert titles == ["Nudge R-1", "Reassign R-1", "Extend R-1", "Nudge R-2", "Reassign R-2", "Extend R-2"]
        extends = [a for a in _actions(card) if a["title"].startswith("Extend")]
        ids = [element["id"] for show in extends for element in show["card"]["body"]]
        assert ids == [
            "extend_due.due.1",
            "extend_due.due_time.1",
            "extend_due.note.1",
            "extend_due.due.2",
            "extend_due.due_time.2",
            "extend_due.note.2",
        ]

        nudge = next(a for a in _actions(card) if a["title"] == "Nudge R-1")
        answer = await h.execute(DAVE, nudge["data"])
        assert "You nudged bob about R-1" in str(answer)
        assert org_store.get_request("default", 1).events[-1].kind == EventKind.NUDGED  # type: ignore[union-attr]
        again = await h.execute(DAVE, nudge["data"])
        assert "already nudged bob about R-1 on" in str(again) + " ".join(h.replies_to(DAVE))

        # alice (the requester) presses a copy of the manager's Extend: a friendly refusal, nothing changes
        extend = extends[0]
        before = org_store.get_request("default", 1)
        refused = await h.execute(ALICE, _form_data(extend, {"due": "2026-12-04", "note": "please"}))
        assert "Only bob's manager can propose a later due date for R-1." in str(refused)
        assert org_store.get_request("default", 1) == before

        await h.execute(DAVE, _form_data(extend, {"due": "2026-12-04", "note": "the audit comes first"}))
        request = org_store.get_request("default", 1)
        assert request is not None and request.due_at == before.due_at  # type: ignore[union-attr]
        assert (request.events[-1].kind, request.events[-1].to_id) == (EventKind.DUE_PROPOSED, "P-alice")
        await h.deliver()
        alices = [c.cards[0] for c in h.connector.of("send", "update", conversation_id=ALICE.chat) if c.cards]
        assert any(ActionId.ACCEPT_DUE.value in str(c.get("actions")) for c in alices)
        assert any("Dave proposed moving R-1" in (sent.text or "") for sent in h.sent_to(BOB))
        # the same Extend again: a proposal is already waiting for alice
        repeat = await h.execute(DAVE, _form_data(extend, {"due": "2026-12-07", "note": "or later"}))
        assert "already proposed" in str(repeat)

    run(with_harness(org_store, scenario))
