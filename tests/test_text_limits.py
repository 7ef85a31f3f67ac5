"""Text limits and round trips, end to end through Slack and Teams.

Too-long request texts, notes, comments and kudos are refused with the limit named and nothing
stored; unicode, emoji, mentions and the characters Slack escapes arrive as they were typed,
in the store and on the cards of both platforms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.models import MAX_TEXT, ActionId
from bot.ports import Store
from tests.drills import seed_linked_org, slack_app
from tests.slack.conftest import SlackHarness, button
from tests.teams.conftest import ALICE, BOB, CAROL, TeamsHarness, as_user, load, run, with_harness

LONG_REQUEST = "x" * (MAX_TEXT + 1)
TRICKY = "📊 Q3 numbers — ünïcödé 日本語 עברית 👩‍👩‍👧 e\u0301 ＆ R&D <notes> ✔️"
"""Emoji (with ZWJ and variation selectors), combining marks, RTL, CJK, full-width and the
three characters Slack escapes (``&``, ``<``, ``>``)."""


def slack_typed(text: str) -> str:
    """What Slack sends for text a person typed: ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def slack(store: Store) -> Iterator[SlackHarness]:
    seed_linked_org(store)
    with slack_app(store) as app:
        yield app


# --------------------------------------------------------------------------- limits, Slack


def test_slack_a_request_over_the_limit_is_refused_naming_the_limit(slack: SlackHarness) -> None:
    slack.command("U0ALICE", f"<@U0BOB|bob> {LONG_REQUEST}")
    slack.settle()
    [reply] = slack.replies("U0ALICE")
    assert f"{MAX_TEXT + 1} characters long" in reply and f"the limit is {MAX_TEXT} characters" in reply
    assert slack.store.find_requests("default") == []


def test_slack_a_request_at_the_limit_is_taken(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> " + "y" * MAX_TEXT)
    slack.settle()
    assert len(slack.request(1).text) == MAX_TEXT
    assert "y" * 100 in json.dumps(slack.card("U0BOB", "R-1")["blocks"])


def test_slack_kudos_over_the_limit_are_refused_naming_the_limit(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> " + "k" * 1001, command="/kudos")
    slack.settle()
    [reply] = slack.replies("U0ALICE")
    assert "the limit is 1000" in reply
    assert slack.store.find_kudos("default") == []


def _decline_form(slack: SlackHarness) -> dict[str, object]:
    slack.command("U0ALICE", "<@U0BOB|bob> the Q3 numbers")
    slack.settle()
    slack.click("U0BOB", button(slack.card("U0BOB", "R-1"), ActionId.DECLINE))
    slack.settle()
    return slack.last_view()


def test_slack_a_note_over_the_limit_is_refused_on_its_field(slack: SlackHarness) -> None:
    modal = _decline_form(slack)
    answer = slack.submit(
        "U0BOB",
        modal,
        {"note": {"type": "plain_text_input", "value": "n" * (MAX_TEXT + 5)}},
    )
    errors = answer.json()["errors"]
    assert "note" in errors and f"the limit is {MAX_TEXT} characters" in errors["note"]
    assert len(slack.request(1).events) == 1


def test_slack_a_rating_comment_over_the_limit_is_refused_naming_the_limit(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> the Q3 numbers")
    slack.settle()
    slack.click("U0BOB", button(slack.card("U0BOB", "R-1"), ActionId.DONE))
    slack.settle()
    slack.submit("U0BOB", slack.last_view(), {})
    slack.settle()
    rate = next(
        p for p in slack.posted_to("U0ALICE") if "rate" in json.dumps(p.get("blocks")) and "How did" in p["text"]
    )
    slack.click("U0ALICE", button(rate, ActionId.RATE))
    slack.settle()
    modal = slack.last_view()
    answer = slack.submit(
        "U0ALICE",
        modal,
        {
            "score": {"type": "static_select", "selected_option": {"value": "4"}},
            "comment": {"type": "plain_text_input", "value": "c" * (MAX_TEXT + 1)},
        },
    )
    errors = answer.json()["errors"]
    [(field, message)] = errors.items()
    assert field == "comment" and f"That comment is {MAX_TEXT + 1} characters long" in message
    assert slack.request(1).rating is None


# --------------------------------------------------------------------------- round trips, Slack


def test_slack_unicode_emoji_mentions_and_escaped_characters_arrive_as_typed(slack: SlackHarness) -> None:
    typed = f"{TRICKY} ask <@U0CAROL|carol> in <#C0FIN|finance>"
    slack.post_form(
        slack.command_form(
            "U0ALICE", "<@U0BOB|bob> " + slack_typed(TRICKY) + " ask <@U0CAROL|carol> in <#C0FIN|finance>"
        )
    )
    slack.settle()
    stored = slack.request(1).text
    assert stored == typed, "stored exactly as typed (entities undone, mentions kept)"
    card = slack.card("U0BOB", "R-1")
    section = card["blocks"][1]["text"]["text"]
    assert "📊 Q3 numbers — ünïcödé 日本語 עברית 👩‍👩‍👧 e\u0301 ＆ R&amp;D &lt;notes&gt; ✔️" in section
    assert "<@U0CAROL|carol>" in section and "<#C0FIN|finance>" in section, "mentions stay live in Slack"
    listing = slack.command("U0ALICE", "show R-1")
    assert listing.status == 200
    slack.settle()
    assert "👩‍👩‍👧" in json.dumps(slack.fake.calls("response_url")[-1].params, ensure_ascii=False)


def test_slack_shows_a_teams_mention_by_name(slack: SlackHarness) -> None:
    from bot.people import Directory
    from bot.requests import create_request
    from tests.conftest import NOW

    directory = Directory(slack.store, "default")
    create_request(
        store=slack.store,
        directory=directory,
        requester=directory.require("P-alice"),
        provider=directory.require("P-bob"),
        text="ask <@29:1carol-teams-user-id|Carol Chen> 📊",
        now=NOW,
    )
    slack.settle()
    section = slack.card("U0BOB", "R-1")["blocks"][1]["text"]["text"]
    assert section == "ask @Carol Chen 📊"


# --------------------------------------------------------------------------- Teams


def test_teams_limits_are_named_and_nothing_is_stored(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(ALICE, f"request @bob {LONG_REQUEST}")
        assert f"the limit is {MAX_TEXT} characters" in h.replies_to(ALICE)[-1]
        await h.say(ALICE, "kudos @bob " + "k" * 1001)
        assert "the limit is 1000" in h.replies_to(ALICE)[-1]
        await h.say(ALICE, "request @bob the Q3 numbers")
        body = await h.execute(BOB, {"action": "decline", "request": 1, "decline.note": "n" * (MAX_TEXT + 1)})
        assert f"the limit is {MAX_TEXT} characters" in body["value"]
        await h.execute(BOB, {"action": "done", "request": 1})
        body = await h.execute(
            ALICE, {"action": "rate", "request": 1, "rate.score": "5", "rate.comment": "c" * (MAX_TEXT + 1)}
        )
        assert f"That comment is {MAX_TEXT + 1} characters long" in body["value"]

    run(with_harness(org_store, main))
    assert org_store.find_kudos("default") == []
    [request] = org_store.find_requests("default")
    assert len(request.text) < 100 and request.rating is None
    assert [e.kind.value for e in request.events] == ["created", "done"]


def test_teams_unicode_emoji_and_mentions_round_trip_to_both_platforms(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(CAROL, "hi")
        payload = as_user(load("message_personal"), ALICE)
        payload["text"] = (
            f"request <at>Bob Brown</at> {TRICKY.replace('<', '&lt;').replace('>', '&gt;')} cc <at>Carol Chen</at>"
        )
        payload["entities"] = [
            {"type": "mention", "text": "<at>Bob Brown</at>", "mentioned": {"id": BOB.user_id, "name": "Bob Brown"}},
            {
                "type": "mention",
                "text": "<at>Carol Chen</at>",
                "mentioned": {"id": CAROL.user_id, "name": "Carol Chen"},
            },
        ]
        assert (await h.post(payload))[0] == 201
        await h.deliver()
        [card] = h.sent_to(BOB)[-1].cards
        shown = " ".join(block.get("text", "") for block in card["body"])
        assert f"{TRICKY} cc @Carol Chen" in shown, "Teams shows the text as typed, the mention as a name"

    run(with_harness(org_store, main))
    [request] = org_store.find_requests("default")
    assert request.text.startswith(TRICKY) and request.text.endswith(f"cc <@{CAROL.user_id}|Carol Chen>")
    from bot import cards
    from bot.people import Directory
    from handlers.slack.render import message_blocks

    slack_card = message_blocks(cards.provider_card(request, Directory(org_store, "default")))
    assert slack_card[1]["text"]["text"].endswith("R&amp;D &lt;notes&gt; ✔️ cc @Carol Chen"), "and Slack too"
