"""A whole request's life over real HTTP both ways: create, acknowledge, hand off, done,
low rating, service recovery and follow-up, asserted on Slack calls and stored state."""

from __future__ import annotations

from bot.models import ActionId, EventKind, Status
from tests.slack.conftest import SlackHarness, button, thread_texts


def test_a_request_lives_its_whole_life_through_slack(harness: SlackHarness) -> None:
    fake = harness.fake

    # alice asks bob
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by friday")
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(1)
    assert (request.requester_id, request.provider_id, request.status) == ("P-alice", "P-bob", Status.OPEN)
    assert {c.params["user"] for c in fake.calls("users.info")} == {"U0ALICE", "U0BOB"}
    assert any("Sent R-1 to Bob" in text for text in harness.replies("U0ALICE"))
    bob_card = harness.card("U0BOB", "R-1")
    labels = [e["text"]["text"] for b in bob_card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Acknowledge", "Start", "Done", "Decline", "Hand off", "Propose a date"]
    assert "R-1" in harness.card("U0ALICE", "R-1")["blocks"][0]["text"]["text"]

    # bob acknowledges: both cards update in place, alice hears about it in her card's thread
    posts_before = len(fake.calls("chat.postMessage"))
    assert harness.click("U0BOB", button(bob_card, ActionId.ACKNOWLEDGE)).status == 200
    harness.settle()
    assert harness.request(1).status == Status.ACKNOWLEDGED
    updates = fake.calls("chat.update")
    assert {c.params["channel"] for c in updates} == {"DU0BOB", "DU0ALICE"}
    new_posts = fake.calls("chat.postMessage")[posts_before:]
    assert all(c.params.get("thread_ts") for c in new_posts), "events go into threads, not new DMs"
    assert any("acknowledged" in t for t in thread_texts(fake, "U0ALICE"))
    assert "acknowledged" in str(harness.card("U0ALICE", "R-1")["blocks"])

    # bob hands off to carol with a context note, through the modal
    bob_card = harness.card("U0BOB", "R-1")
    assert harness.click("U0BOB", button(bob_card, ActionId.HANDOFF)).status == 200
    harness.settle()
    modal = harness.last_view()
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["to", "note"]
    answer = harness.submit(
        "U0BOB",
        modal,
        {
            "to": {"type": "users_select", "selected_user": "U0CAROL"},
            "note": {"type": "plain_text_input", "value": "numbers are in the finance sheet, tab Q3"},
        },
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(1)
    assert request.provider_id == "P-carol" and request.status == Status.OPEN
    carol_card = harness.card("U0CAROL", "R-1")
    history = str(carol_card["blocks"])
    assert "asked bob" in history and "numbers are in the finance sheet" in history, (
        "the new provider gets the whole history"
    )
    assert "Acknowledge" in history

    # carol finishes; alice gets a rating prompt in her card's thread
    assert harness.click("U0CAROL", button(carol_card, ActionId.DONE)).status == 200
    harness.settle()
    done_form = harness.last_view()
    harness.submit("U0CAROL", done_form, {"note": {"type": "plain_text_input", "value": "sent by mail"}})
    harness.settle()
    assert harness.request(1).status == Status.DONE
    prompt = next(c.params for c in fake.calls("chat.postMessage") if "How did" in str(c.params.get("text")))
    assert prompt["channel"] == "DU0ALICE" and prompt["thread_ts"]

    # alice rates it 2/5 with two of the six needs: service recovery starts
    harness.click("U0ALICE", button(prompt, ActionId.RATE))
    harness.settle()
    rate_form = harness.last_view()
    inputs = [b["block_id"] for b in rate_form["blocks"] if b["type"] == "input"]
    assert inputs == ["score", "friendliness", "empathy", "fairness", "options", "control", "information", "comment"]
    harness.submit(
        "U0ALICE",
        rate_form,
        {
            "score": {"type": "radio_buttons", "selected_option": {"value": "2"}},
            "information": {"type": "static_select", "selected_option": {"value": "1"}},
            "options": {"type": "static_select", "selected_option": {"value": "2"}},
            "comment": {"type": "plain_text_input", "value": "took a week and the tab was wrong"},
        },
    )
    harness.settle()
    rating = harness.request(1).rating
    assert rating is not None and rating.score == 2 and rating.needs == {"information": 1, "options": 2}
    recovery = next(c.params for c in fake.calls("chat.postMessage") if "rated R-1 2/5" in str(c.params.get("text")))
    assert recovery["channel"] == "DU0CAROL" and recovery["thread_ts"]

    # carol says what she'll do; alice is asked once more
    harness.click("U0CAROL", button(recovery, ActionId.RECOVER))
    harness.settle()
    harness.submit(
        "U0CAROL", harness.last_view(), {"note": {"type": "plain_text_input", "value": "I'll fix the tab today"}}
    )
    harness.settle()
    follow_up = next(
        c.params for c in fake.calls("chat.postMessage") if "Are you satisfied now" in str(c.params.get("text"))
    )
    assert follow_up["channel"] == "DU0ALICE"
    assert harness.click("U0ALICE", button(follow_up, ActionId.FOLLOW_UP, "Yes, thanks")).status == 200
    harness.settle()
    final = harness.request(1)
    assert [e.kind for e in final.events][-3:] == [EventKind.RATED, EventKind.RECOVERY_PLANNED, EventKind.FOLLOWED_UP]
    assert final.events[-1].satisfied is True
    assert all(c.status == 200 and c.answer.get("ok", True) for c in fake.calls()), [
        (c.method, c.answer) for c in fake.calls() if not c.answer.get("ok", True)
    ]
