"""/request and /kudos answers, the request form, forms' inline errors, the message shortcut,
first contact with an unknown Slack user, and acks that never wait for Slack."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.models import ActionId, Priority, Status
from tests.conftest import NOW
from tests.slack.conftest import SlackHarness, button


def _ask(harness: SlackHarness, text: str = "<@U0BOB|bob> need the Q3 numbers by friday") -> None:
    assert harness.command("U0ALICE", text).status == 200
    harness.settle()


def test_list_queue_show_and_help_answer_ephemerally(harness: SlackHarness) -> None:
    _ask(harness)
    harness.command("U0ALICE", "list")
    harness.command("U0BOB", "queue")
    harness.command("U0ALICE", "show R-1")
    harness.command("U0ALICE", "help")
    harness.settle()
    alice = [c.params for c in harness.fake.calls("response_url") if c.params["_name"] == "cmd-U0ALICE"]
    assert all(p["response_type"] == "ephemeral" for p in alice)
    texts = [p["text"] for p in alice]
    assert texts[1].startswith("Your requests") and "R-1" in texts[1]
    assert "R-1: open" in texts[2] and any(b["type"] == "header" for b in alice[2]["blocks"]), "show carries the card"
    assert "Usage:" in texts[3]
    assert "Waiting on you" in harness.replies("U0BOB")[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0NOBODY|ghost> do the thing", "I don't know @ghost"),
        ("do the thing", "I need someone to ask"),
        ("<@U0BOB|bob> need it by feb 30", "not a valid date"),
        ("show R-99", "I can't find R-99"),
        ("<@U0ALICE|alice> note to self", "yourself"),
        ("<@U0ROBOT|robot> beep", "is a bot"),
    ],
)
def test_mistakes_are_answered_ephemerally_with_a_clear_message(
    harness: SlackHarness, text: str, expected: str
) -> None:
    _ask(harness, text)
    replies = harness.replies("U0ALICE")
    assert len(replies) == 1 and expected in replies[0]
    assert harness.store.get_request("default", 1) is None


def test_a_forbidden_click_is_explained_to_the_clicker_only(harness: SlackHarness) -> None:
    _ask(harness)
    ack = button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE)
    harness.click("U0ERIN", ack)
    harness.settle()
    assert harness.request(1).status == Status.OPEN
    assert harness.replies("U0ERIN") == ["I can't find R-1."]


def test_acks_go_out_before_any_slack_or_storage_work(harness: SlackHarness) -> None:
    harness.fake.delay("users.info", 1.0)
    harness.fake.delay("response_url", 1.0)
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    assert answer.status == 200
    assert answer.seconds < 0.5, f"ack took {answer.seconds:.3f}s"
    harness.settle()
    assert harness.request(1).provider_id == "P-bob"


def test_a_slack_user_new_to_the_org_is_created_on_first_contact(harness: SlackHarness) -> None:
    harness.command("U0NEWBIE", "<@U0BOB|bob> can I get a laptop?")
    harness.settle()
    request = harness.request(1)
    newbie = harness.store.get_person("default", request.requester_id)
    assert newbie is not None
    assert (newbie.name, newbie.email, newbie.tz) == ("Nina Newbie", "nina@example.com", "Europe/Berlin")
    assert newbie.slack_ids == {"T0ACME": "U0NEWBIE"}
    harness.command("U0NEWBIE", "list")
    harness.settle()
    assert [c.params["user"] for c in harness.fake.calls("users.info")].count("U0NEWBIE") == 1, (
        "cached after first contact"
    )


def test_kudos_are_stored_and_reach_every_recipient(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> <@U0CAROL|carol> thanks for the launch! #teamwork", command="/kudos")
    harness.settle()
    kudos = harness.store.find_kudos("default", recipient_id="P-bob")
    assert len(kudos) == 1 and kudos[0].recipient_ids == ["P-bob", "P-carol"] and kudos[0].values == ["teamwork"]
    assert kudos[0].channel == "C0GENERAL"
    assert "Kudos sent to Bob, Carol" in harness.replies("U0ALICE")[0]
    for user in ("U0BOB", "U0CAROL"):
        (dm,) = harness.posted_to(user)
        assert "Kudos from Alice" in dm["text"]


def test_kudos_mistakes_are_explained(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0ALICE|alice> I'm great", command="/kudos")
    harness.settle()
    assert "can't give kudos to yourself" in harness.replies("U0ALICE")[0]


# --------------------------------------------------------------------------- the request form


def _open_form(harness: SlackHarness) -> dict[str, Any]:
    harness.command("U0ALICE", "")
    harness.settle()
    view = harness.last_view()
    assert view["callback_id"] == "new_request"
    return view


def test_a_bare_request_opens_the_form_and_its_submit_creates_the_request(harness: SlackHarness) -> None:
    view = _open_form(harness)
    assert [b["block_id"] for b in view["blocks"]] == ["provider", "text", "due", "priority", "parent"]
    _ask(harness, "<@U0CAROL|carol> a parent request")
    answer = harness.submit(
        "U0ALICE",
        view,
        {
            "provider": {"type": "users_select", "selected_user": "U0BOB"},
            "text": {"type": "plain_text_input", "value": "budget sheet for Q4"},
            "due": {"type": "datepicker", "selected_date": "2026-11-27"},
            "priority": {"type": "static_select", "selected_option": {"value": "high"}},
            "parent": {"type": "plain_text_input", "value": "R-1"},
        },
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(2)
    assert (request.provider_id, request.text, request.priority, request.parent) == (
        "P-bob",
        "budget sheet for Q4",
        Priority.HIGH,
        1,
    )
    assert request.due_at is not None and request.due_at.date().isoformat() == "2026-11-27"
    assert harness.card("U0BOB", "R-2")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"due": {"type": "datepicker", "selected_date": "2026-11-01"}}, "due", "in the past"),
        ({"parent": {"type": "plain_text_input", "value": "twelve"}}, "parent", "is not a request id"),
        ({"parent": {"type": "plain_text_input", "value": "R-77"}}, "parent", "can't find R-77"),
        ({"provider": {"type": "users_select", "selected_user": "U0ALICE"}}, "provider", "yourself"),
        ({"provider": {"type": "users_select", "selected_user": "U0GONE"}}, "provider", "couldn't find that person"),
    ],
)
def test_form_mistakes_show_inline_on_the_field(
    harness: SlackHarness, values: dict[str, dict[str, Any]], field: str, message: str
) -> None:
    view = _open_form(harness)
    state = {
        "provider": {"type": "users_select", "selected_user": "U0BOB"},
        "text": {"type": "plain_text_input", "value": "budget sheet"},
        **values,
    }
    answer = harness.submit("U0ALICE", view, state)
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == [field] and message in body["errors"][field]
    harness.settle()
    assert harness.store.get_request("default", 1) is None


def test_a_form_is_answered_in_time_even_when_slack_is_too_slow_to_look_up_a_user(harness: SlackHarness) -> None:
    view = _open_form(harness)
    harness.fake.delay("users.info", 2.6)
    answer = harness.submit(
        "U0ALICE",
        view,
        {
            "provider": {"type": "users_select", "selected_user": "U0NEWBIE"},
            "text": {"type": "plain_text_input", "value": "a laptop"},
        },
    )
    assert answer.seconds < 2.9, f"ack took {answer.seconds:.2f}s"
    assert "couldn't reach Slack" in answer.json()["errors"]["provider"]
    assert harness.store.get_request("default", 1) is None


def test_decline_asks_for_a_reason_and_an_alternative(harness: SlackHarness) -> None:
    _ask(harness)
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.DECLINE))
    harness.settle()
    view = harness.last_view()
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["note", "alternative_to", "alternative_request", "alternative", "no_alternative"]
    assert inputs["note"]["optional"] is False
    empty = harness.submit("U0BOB", view, {"note": {"type": "plain_text_input", "value": None}})
    assert empty.json()["errors"] == {"note": "Please give a reason for declining."}
    answer = harness.submit(
        "U0BOB",
        view,
        {
            "note": {"type": "plain_text_input", "value": "not my area"},
            "alternative": {"type": "plain_text_input", "value": "ask carol"},
        },
    )
    assert answer.body == ""
    harness.settle()
    declined = harness.request(1).events[-1]
    assert (declined.note, declined.alternative) == ("not my area", "ask carol")
    assert "You declined R-1" in harness.replies("U0BOB")[0], "answered through the button's response_url"


def test_handing_off_to_the_requester_is_refused_on_the_person_field(harness: SlackHarness) -> None:
    _ask(harness)
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.HANDOFF))
    harness.settle()
    answer = harness.submit(
        "U0BOB",
        harness.last_view(),
        {
            "to": {"type": "users_select", "selected_user": "U0ALICE"},
            "note": {"type": "plain_text_input", "value": "over to you"},
        },
    )
    assert list(answer.json()["errors"]) == ["to"]
    assert harness.request(1).provider_id == "P-bob"


def test_the_message_shortcut_opens_the_form_filled_in_from_the_message(harness: SlackHarness) -> None:
    from tests.slack.conftest import fixture

    payload = fixture("message_action")
    payload["trigger_id"] = harness.trigger()
    assert harness.post_payload(payload).status == 200
    harness.settle()
    view = harness.last_view()
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["text"]["element"]["initial_value"] == "Could someone send me the Q3 numbers & the forecast?"
    assert blocks["provider"]["element"]["initial_user"] == "U0BOB"


def test_an_ephemeral_reply_falls_back_to_a_dm_when_response_url_fails(harness: SlackHarness) -> None:
    harness.fake.fail("response_url", "expired_url", status=404)
    harness.command("U0ALICE", "help")
    harness.settle()
    (dm,) = harness.fake.calls("chat.postMessage")  # queued in the outbox, so a Slack outage can't lose it
    assert dm.params["channel"] == "DU0ALICE" and "Usage:" in dm.params["text"]


def test_the_clock_the_app_reads_is_the_injected_one(harness: SlackHarness) -> None:
    harness.clock.advance(hours=2)
    _ask(harness)
    assert harness.request(1).created_at == NOW + timedelta(hours=2)
    assert json.loads(json.dumps(harness.fake.calls("chat.postMessage")[0].params["blocks"]))
