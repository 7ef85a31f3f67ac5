"""Channels other than Teams (Microsoft Web Chat, Direct Line, the emulator) reach the Teams front
end too: their activities carry no ``channelData``, and their clients cannot send ``Action.Execute``."""

from __future__ import annotations

import copy
from typing import Any

from bot.models import Person
from bot.ports import Store
from handlers.teams import references
from tests.fakes.bot_connector import CallKind
from tests.teams.conftest import ALICE, TeamsHarness, action_types, load, run, with_harness

WEBCHAT_BOB = "dl_bob-webchat-user"
WEBCHAT_BOB_CHAT = "webchat-conversation-bob"


def from_web_chat(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``payload`` as Web Chat (through Direct Line) sends it for bob: no channelData, no AAD id,
    no tenant, a conversation without a type."""
    activity = copy.deepcopy(payload)
    for teams_only in ("channelData", "localTimestamp", "localTimezone"):
        activity.pop(teams_only, None)
    activity.update(
        channelId="webchat",
        conversation={"id": WEBCHAT_BOB_CHAT},
        entities=[],
        **{"from": {"id": WEBCHAT_BOB, "name": "Bob Brown"}},
        **fields,
    )
    return activity


def cards_in(h: TeamsHarness, conversation_id: str, *kinds: CallKind) -> list[dict[str, Any]]:
    """The Adaptive Cards the bot sent to one conversation (calls of these kinds, or all)."""
    return [card for call in h.connector.of(*kinds, conversation_id=conversation_id) for card in call.cards]


def test_cards_have_execute_buttons_in_teams_and_plain_submit_buttons_in_web_chat(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        h.connector.add_member(WEBCHAT_BOB, name="Bob Brown", email="bob@example.com")
        status, _ = await h.post(from_web_chat(load("message_personal"), text="hi"))
        assert status == 201
        await h.say(ALICE, "request @bob the invoices")
        await h.deliver()

        teams_cards = cards_in(h, ALICE.chat)
        [provider_card] = cards_in(h, WEBCHAT_BOB_CHAT, "send")
        assert teams_cards, "alice got her request's card in Teams"
        assert all("Action.Execute" in action_types(card) for card in teams_cards)
        buttons = action_types(provider_card)
        assert "Action.Submit" in buttons and "Action.Execute" not in buttons

        # bob clicks Acknowledge in Web Chat (a message with value); his card is redrawn for Web Chat
        click = from_web_chat(load("message_card_submit"), value={"action": "acknowledge", "request": 1})
        status, _ = await h.post(click)
        assert status == 201
        await h.deliver()
        redrawn = cards_in(h, WEBCHAT_BOB_CHAT, "update")
        assert redrawn
        assert "Action.Execute" not in action_types(redrawn)
        # the harness checks every card above against the Adaptive Cards 1.5 schema on exit

    run(with_harness(org_store, main))
    reference = references.personal(org_store, "default", "P-bob")
    assert reference is not None and reference.channel_id == "webchat"


def test_a_web_chat_user_without_channel_data_is_linked_to_the_org_person_by_email(org_store: Store) -> None:
    people_before = len(org_store.list_people("default"))

    async def main(h: TeamsHarness) -> None:
        h.connector.add_member(WEBCHAT_BOB, name="Bob Brown", email="bob@example.com")
        status, _ = await h.post(from_web_chat(load("message_personal"), text="hi"))
        assert status == 201
        [lookup] = h.connector.of("member")
        assert lookup.path == f"/v3/conversations/{WEBCHAT_BOB_CHAT}/members/{WEBCHAT_BOB}"

    run(with_harness(org_store, main))
    assert len(org_store.list_people("default")) == people_before  # nobody new
    bob = org_store.find_person("default", teams_id=WEBCHAT_BOB)
    assert isinstance(bob, Person) and bob.id == "P-bob"
    assert references.person_for_user(org_store, "default", WEBCHAT_BOB) == "P-bob"
