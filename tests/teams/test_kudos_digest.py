"""Kudos, the weekly pulse and the manager digest in Teams, through the real ``/api/messages``
and a fake Bot Connector: announcements where kudos were given, "Thank" on a finished request's
card, the pulse as an Adaptive Card form, and the digest as a card with its chart inline."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

from bot.digest import DigestJob
from bot.models import ActionId
from bot.ports import Store
from bot.pulse import ANSWER_DOC, PulseJob
from bot.workhours import DEFAULT_HOURS
from tests.teams.conftest import ALICE, BOB, DAVE, TeamsHarness, as_user, load, run, with_harness

WS = "default"
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def _cards(h: TeamsHarness, chat: str, kind: str = "send") -> list[dict[str, Any]]:
    return [card for call in h.connector.of(kind, conversation_id=chat) for card in call.cards]  # type: ignore[arg-type]


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(card.get("actions") or [])
    for action in list(found):
        if action.get("type") == "Action.ShowCard":
            found += action["card"].get("actions") or []
    return found


def _texts(card: dict[str, Any]) -> list[str]:
    return [item["text"] for item in card.get("body") or [] if item.get("type") == "TextBlock"]


def test_kudos_typed_in_a_channel_are_announced_there_with_the_kudos_text_only(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        payload = copy.deepcopy(load("message_channel_mention"))
        payload["text"] = "<at>servechain</at> kudos <at>Bob Brown</at> thanks for the numbers #teamwork"
        status, _ = await h.post(payload)
        assert status < 300
        channel = payload["conversation"]["id"]
        [announcement] = _cards(h, channel, "reply")
        assert _texts(announcement) == ["Alice gave kudos to Bob", "thanks for the numbers #teamwork"]
        await h.say(BOB, "hi")
        assert (await h.deliver()).sent == 1
        [dm] = _cards(h, BOB.chat)
        assert _texts(dm)[0] == "Kudos from Alice!"

    run(with_harness(org_store, main))
    [kudos] = org_store.find_kudos(WS)
    assert kudos.recipient_ids == ["P-bob"] and kudos.channel is not None and kudos.channel.startswith("19:sales")


def test_thank_on_a_finished_requests_card_gives_its_provider_kudos(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        for account in (ALICE, BOB):
            await h.say(account, "hi")
        await h.say(ALICE, "request @bob the invoices")
        await h.execute(BOB, {"action": "acknowledge", "request": 1})
        await h.execute(BOB, {"action": "done", "request": 1})
        await h.deliver()
        requester_card = _cards(h, ALICE.chat, "update")[-1]
        [thank] = [a for a in _actions(requester_card) if a.get("data", {}).get("action") == "thank"]
        assert thank["title"] == "Send thanks" and thank["data"] == {"action": "thank", "request": 1}
        answer = await h.execute(ALICE, {**thank["data"], "thank.message": "spot on, thanks!"})
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        assert "Kudos sent to Bob. (1/5 today)" in h.replies_to(ALICE)
        again = await h.execute(ALICE, {**thank["data"], "thank.message": "again"})
        assert again["value"] == "You already thanked Bob for R-1."

    run(with_harness(org_store, main))
    [kudos] = org_store.find_kudos(WS)
    assert (kudos.recipient_ids, kudos.request_number, kudos.message) == (["P-bob"], 1, "spot on, thanks!")


def test_the_pulse_is_a_card_form_and_the_answer_is_stored_without_a_name(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        h.clock.now = FRIDAY_AFTERNOON
        report = PulseJob(hours=DEFAULT_HOURS).run(store=org_store, workspace=WS, now=FRIDAY_AFTERNOON)
        assert "pulse:P-bob:2026-W48" in report.claimed
        await h.deliver()
        [card] = _cards(h, BOB.chat)
        inputs = {item["id"]: item for item in card["body"] if item["type"].startswith("Input.")}
        assert list(inputs) == ["pulse.manager_support", "pulse.service", "pulse.comment"]
        assert [c["value"] for c in inputs["pulse.service"]["choices"]] == ["1", "2", "3", "4", "5"]
        [send] = card["actions"]
        assert send["data"] == {"action": ActionId.PULSE.value, "request": 202648, "value": "2026-W48"}
        answer = await h.execute(BOB, {**send["data"], "pulse.manager_support": "4", "pulse.service": "2"})
        assert answer["value"]["body"][1]["text"] == "Thanks! Your answers for 2026-W48 are in, without your name."
        again = await h.execute(BOB, {**send["data"], "pulse.manager_support": "1", "pulse.service": "1"})
        assert "already answered" in again["value"]["body"][1]["text"]
        bad = await h.execute(BOB, {**send["data"], "pulse.manager_support": "7", "pulse.service": "1"})
        assert "from 1 to 5" in bad["value"]

    run(with_harness(org_store, main))
    [(key, doc)] = org_store.list_docs(ANSWER_DOC, WS)
    assert doc == {"team": "T-fin", "week": "2026-W48", "manager_support": 4, "service": 2, "comment": None}
    assert "bob" not in key.lower()


def _image(card: dict[str, Any]) -> dict[str, Any]:
    [image] = [item for item in card["body"] if item["type"] == "Image"]
    return image


def test_a_manager_asks_for_the_digest_and_gets_a_card_with_the_chart_inline(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        assert await h.say(DAVE, "digest") < 300
        [card] = _cards(h, DAVE.chat, "reply")
        texts = _texts(card)
        assert texts[0] == "Weekly digest · Finance · 2026-W47"
        assert {"Morale", "Suggested action", "Open and overdue (0)"} <= set(texts)
        image = _image(card)
        assert image["url"].startswith("data:image/png;base64,") and image["altText"].startswith("8-week trends")
        assert base64.b64decode(image["url"].split(",", 1)[1]).startswith(b"\x89PNG")
        await h.say(ALICE, "digest")
        assert "The weekly digest is for managers" in h.replies_to(ALICE)[-1]

    run(with_harness(org_store, main))


def test_mondays_digest_reaches_the_manager_through_the_outbox_with_its_chart(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(DAVE, "hi")
        h.clock.now = MONDAY_MORNING
        report = DigestJob(hours=DEFAULT_HOURS).run(store=org_store, workspace=WS, now=MONDAY_MORNING)
        assert "digest:P-dave:2026-W48" in report.claimed
        assert DigestJob(hours=DEFAULT_HOURS).run(store=org_store, workspace=WS, now=MONDAY_MORNING).claimed == {}
        delivered = await h.deliver()
        assert delivered.sent == 1, "frank and grace never talked to the bot in Teams: theirs fail, dave's arrives"
        [card] = _cards(h, DAVE.chat)
        assert _texts(card)[0] == "Weekly digest · Finance · 2026-W48"
        assert _image(card)["url"].startswith("data:image/png;base64,")

    run(with_harness(org_store, main))


def test_a_digest_asked_for_in_a_channel_is_answered_in_private(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(DAVE, "hi")
        payload = as_user(copy.deepcopy(load("message_channel_mention")), DAVE, personal=False)
        payload["text"] = "<at>servechain</at> digest"
        payload["entities"] = payload["entities"][:1]
        status, _ = await h.post(payload)
        assert status < 300
        channel = payload["conversation"]["id"]
        assert _cards(h, channel, "reply") == [], "no figures in the channel"
        await h.deliver()
        [card] = _cards(h, DAVE.chat)
        assert _texts(card)[0].startswith("Weekly digest · Finance")

    run(with_harness(org_store, main))
