"""Slack Web API failures: rate limits retried (then a clear message), outbox retries after
Retry-After, permanent errors reported to the requester, cards that can't be edited."""

from __future__ import annotations

from bot.models import ActionId
from tests.slack.conftest import SlackHarness, button


def _ask(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()


def test_a_rate_limited_modal_open_is_retried_after_retry_after(harness: SlackHarness) -> None:
    harness.fake.fail("views.open", "ratelimited", status=429, retry_after=1)
    harness.command("U0ALICE", "")
    harness.settle()
    calls = harness.fake.calls("views.open")
    assert [c.status for c in calls] == [429, 200]
    assert harness.replies("U0ALICE") == []


def test_a_rate_limit_that_persists_ends_in_a_clear_message(harness: SlackHarness) -> None:
    harness.fake.fail("views.open", "ratelimited", status=429, retry_after=1, times=2)
    harness.command("U0ALICE", "")
    harness.settle()
    assert [c.status for c in harness.fake.calls("views.open")] == [429, 429]
    (reply,) = harness.replies("U0ALICE")
    assert "Slack is rate-limiting me right now" in reply and "try again" in reply and "error id" in reply


def test_a_long_retry_after_is_not_waited_out_while_a_person_waits(harness: SlackHarness) -> None:
    harness.fake.fail("views.open", "ratelimited", status=429, retry_after=60)
    harness.command("U0ALICE", "")
    harness.settle()
    assert len(harness.fake.calls("views.open")) == 1
    assert "rate-limiting" in harness.replies("U0ALICE")[0]


def test_an_ok_false_answer_becomes_a_clear_message(harness: SlackHarness) -> None:
    harness.fake.fail("views.open", "expired_trigger_id")
    harness.command("U0ALICE", "")
    harness.settle()
    (reply,) = harness.replies("U0ALICE")
    assert "expired_trigger_id" in reply and "try again" in reply


def test_a_rate_limited_delivery_waits_for_retry_after_then_goes_out(harness: SlackHarness) -> None:
    harness.fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=30)
    _ask(harness)
    pending = harness.store.list_outbox("default", state="pending")
    assert len(pending) == 1 and "rate limit" in (pending[0].last_error or "")
    assert 30 <= (pending[0].next_attempt_at - harness.clock.now).total_seconds() <= 33  # + jitter
    harness.clock.advance(seconds=34)
    harness.settle()
    assert harness.store.list_outbox("default", state="pending") == []
    assert len(harness.posted_to("U0BOB")) == 1 and len(harness.posted_to("U0ALICE")) == 1


def test_a_server_error_is_retried_by_the_outbox(harness: SlackHarness) -> None:
    harness.fake.fail("chat.postMessage", "internal_error", status=500)
    _ask(harness)
    (pending,) = harness.store.list_outbox("default", state="pending")
    assert pending.attempts == 1
    harness.clock.advance(minutes=5)
    harness.settle()
    assert harness.store.list_outbox("default", state="pending") == []


def test_a_permanent_error_fails_the_message_and_tells_the_requester(harness: SlackHarness) -> None:
    harness.fake.fail("chat.postMessage", "account_inactive", only_for="U0BOB")
    _ask(harness)
    (failed,) = harness.store.list_outbox("default", state="failed")
    assert failed.message.recipient_id == "P-bob" and "account_inactive" in (failed.last_error or "")
    notices = [p["text"] for p in harness.posted_to("U0ALICE")]
    assert any("could not be notified about R-1" in t and "deactivated" in t for t in notices)


def test_a_card_that_can_no_longer_be_edited_is_posted_again(harness: SlackHarness) -> None:
    _ask(harness)
    harness.fake.fail("chat.update", "message_not_found", times=2)
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    harness.settle()
    assert harness.store.list_outbox("default", state="failed") == []
    bob_cards = [p for p in harness.posted_to("U0BOB") if not p.get("thread_ts")]
    assert len(bob_cards) == 2 and "Start" in str(bob_cards[-1]["blocks"])


def test_an_unknown_mentioned_user_is_answered_not_crashed(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0GHOST> need numbers")
    harness.settle()
    assert "I don't know" in harness.replies("U0ALICE")[0]
