"""Signature and timestamp checks, Slack's retries and double clicks, malformed payloads."""

from __future__ import annotations

import json
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.models import ActionId, EventKind
from tests.slack.conftest import SIGNING_SECRET, SlackHarness, button, fixture, sign


def test_our_test_signatures_are_the_ones_slack_sdk_accepts() -> None:
    body = "token=x&command=%2Frequest&text=hi"
    now = int(time.time())
    headers = {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sign(body, now)}
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)


def _nothing_happened(harness: SlackHarness) -> None:
    harness.settle()
    assert harness.store.get_request("default", 1) is None
    assert harness.fake.calls() == []


def test_a_badly_signed_request_gets_401_and_changes_nothing(harness: SlackHarness) -> None:
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need numbers", secret="not-the-secret")
    assert answer.status == 401
    _nothing_happened(harness)


def test_a_stale_timestamp_gets_401_even_when_signed_correctly(harness: SlackHarness) -> None:
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need numbers", timestamp=int(time.time()) - 10 * 60)
    assert answer.status == 401
    _nothing_happened(harness)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "yesterday"},
        {"X-Slack-Signature": "v0=" + "0" * 64},
    ],
)
def test_missing_or_garbled_signature_headers_get_401(harness: SlackHarness, headers: dict[str, str]) -> None:
    form = harness.command_form("U0ALICE", "<@U0BOB|bob> need numbers")
    from urllib.parse import urlencode

    body = urlencode(form)
    answer = harness.post(
        body,
        "application/x-www-form-urlencoded",
        signature=headers.get("X-Slack-Signature"),
        headers={k: v for k, v in headers.items() if k != "X-Slack-Signature"},
    )
    assert answer.status == 401
    _nothing_happened(harness)


def test_a_malformed_body_with_a_bad_signature_is_still_a_401(harness: SlackHarness) -> None:
    answer = harness.post("payload=%7Bnot-json", "application/x-www-form-urlencoded", secret="wrong")
    assert answer.status == 401


def test_slack_retries_of_a_command_never_create_duplicates(harness: SlackHarness) -> None:
    form = harness.command_form("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    assert harness.post_form(form).status == 200
    for retry in ("1", "2"):
        answer = harness.post_form(form, headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"})
        assert answer.status == 200
    harness.settle()
    assert harness.store.get_request("default", 2) is None
    assert len(harness.posted_to("U0BOB")) == 1, "one provider card"
    assert len(harness.replies("U0ALICE")) == 1, "a redelivery is acknowledged silently"


def test_a_double_click_acknowledges_once_and_explains_the_second_click(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    ack = button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE)
    assert harness.click("U0BOB", ack, action_ts="1700000100.000001").status == 200
    assert harness.click("U0BOB", ack, action_ts="1700000100.000002").status == 200
    harness.settle()
    kinds = [e.kind for e in harness.request(1).events]
    assert kinds.count(EventKind.ACKNOWLEDGED) == 1
    replies = harness.replies("U0BOB")
    assert "You acknowledged R-1." in replies
    assert any("already acknowledged" in r for r in replies)


def test_a_retried_click_is_applied_once_and_answered_once(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    payload = harness.click_payload("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    harness.post_payload(payload)
    harness.post_payload(payload, headers={"X-Slack-Retry-Num": "1"})
    harness.settle()
    assert [e.kind for e in harness.request(1).events].count(EventKind.ACKNOWLEDGED) == 1
    assert harness.replies("U0BOB") == ["You acknowledged R-1."]


def test_a_resubmitted_modal_creates_one_request(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "")
    harness.settle()
    modal = harness.last_view()
    values = {
        "provider": {"type": "users_select", "selected_user": "U0BOB"},
        "text": {"type": "plain_text_input", "value": "the Q3 numbers please"},
    }
    payload = harness.submission("U0ALICE", modal, values)
    assert harness.post_payload(payload).status == 200
    assert harness.post_payload(payload, headers={"X-Slack-Retry-Num": "1"}).status == 200
    harness.settle()
    assert harness.store.get_request("default", 2) is None
    assert len(harness.posted_to("U0BOB")) == 1


def _command_without(field: str, harness: SlackHarness) -> dict[str, str]:
    form = harness.command_form("U0ALICE", "<@U0BOB|bob> need numbers")
    del form[field]
    return form


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        ("hello=world", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        (json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}}), "application/json"),
        ("<xml/>", "text/xml"),
    ],
)
def test_unreadable_bodies_get_400_and_store_nothing(harness: SlackHarness, body: str, content_type: str) -> None:
    answer = harness.post(body, content_type)
    assert answer.status == 400, answer.body
    _nothing_happened(harness)


@pytest.mark.parametrize("field", ["user_id", "team_id", "trigger_id", "command"])
def test_a_slash_command_missing_a_field_gets_400(harness: SlackHarness, field: str) -> None:
    answer = harness.post_form(_command_without(field, harness))
    assert answer.status == 400
    _nothing_happened(harness)


def test_payloads_missing_what_we_need_get_400(harness: SlackHarness) -> None:
    no_user = fixture("block_actions")
    del no_user["user"]
    no_actions = fixture("block_actions")
    no_actions["actions"] = []
    bad_view = fixture("view_submission")
    del bad_view["view"]["id"]
    bad_value = fixture("block_actions")
    bad_value["actions"][0]["value"] = "not json"
    bad_form = fixture("view_submission")
    bad_form["view"]["callback_id"] = "request_action"
    bad_form["view"]["private_metadata"] = "{}"
    for payload in (no_user, no_actions, bad_view, bad_value, bad_form):
        answer = harness.post_payload(payload)
        assert answer.status == 400, (payload, answer.body)
    _nothing_happened(harness)


def test_url_verification_echoes_the_challenge(harness: SlackHarness) -> None:
    challenge = fixture("url_verification")
    answer = harness.post(json.dumps(challenge), "application/json")
    assert answer.status == 200
    assert challenge["challenge"] in answer.body
