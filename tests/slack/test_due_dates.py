"""Due dates never fail silently, through the real Bolt app with signed requests: an unreadable
phrase is reported, and the requester's "Set due date" button opens a date picker."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.models import ActionId, EventKind
from handlers.slack.views import FormTarget, action_modal, new_request_modal
from tests.fakes.slack_api import view_problems
from tests.slack.conftest import SlackHarness, button, thread_texts


def test_the_set_due_date_form_is_a_valid_modal_with_a_date_picker() -> None:
    view = action_modal(FormTarget(1234567, ActionId.SET_DUE), ["due"], None)
    assert view_problems(view) == []
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert (field["block_id"], field["element"]["type"], field.get("optional", False)) == (
        "due",
        "datetimepicker",
        False,
    )


def test_the_date_and_time_picker_sets_the_time_in_the_requesters_zone(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    harness.click("U0ALICE", button(harness.card("U0ALICE", "R-1"), ActionId.SET_DUE))
    harness.settle()
    modal = harness.last_view()
    assert view_problems(modal) == []
    picked = datetime(2026, 12, 4, 15, 30, tzinfo=ZoneInfo("America/New_York"))  # alice's zone in Slack
    answer = harness.submit(
        "U0ALICE", modal, {"due": {"type": "datetimepicker", "selected_date_time": int(picked.timestamp())}}
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    assert harness.request(1).due_at == picked


def test_the_new_request_form_picks_a_time_too() -> None:
    [due] = [b for b in new_request_modal()["blocks"] if b.get("block_id") == "due"]
    assert due["element"]["type"] == "datetimepicker" and due["optional"] is True


def test_an_unreadable_due_date_is_reported_and_set_from_the_date_picker(harness: SlackHarness) -> None:
    answer = harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by blursday")
    assert answer.status == 200
    harness.settle()
    request = harness.request(1)
    assert request.due_at is None and request.text == "need the Q3 numbers by blursday"
    assert any(
        "couldn't read the due date in 'by blursday', so R-1 has no due date yet" in text
        for text in harness.replies("U0ALICE")
    )
    alice_card = harness.card("U0ALICE", "R-1")
    set_due = button(alice_card, ActionId.SET_DUE, "Set due date")

    assert harness.click("U0ALICE", set_due).status == 200
    harness.settle()
    modal = harness.last_view()
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["due"]

    # a date in the past is refused on the field, and nothing changes
    answer = harness.submit("U0ALICE", modal, {"due": {"type": "datepicker", "selected_date": "2026-01-05"}})
    assert answer.status == 200 and "is in the past" in answer.json()["errors"]["due"]
    assert harness.request(1).due_at is None

    answer = harness.submit("U0ALICE", modal, {"due": {"type": "datepicker", "selected_date": "2026-12-04"}})
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(1)
    assert request.due_at is not None and request.due_at.date().isoformat() == "2026-12-04"
    assert request.events[-1].kind == EventKind.DUE_SET
    assert any("set the due date" in text for text in thread_texts(harness.fake, "U0BOB"))
    assert "Set due date" not in str(harness.card("U0ALICE", "R-1")["blocks"])
    assert "no due date" not in str(harness.card("U0BOB", "R-1")["blocks"])


def test_only_the_requester_may_set_the_due_date(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    set_due = button(harness.card("U0ALICE", "R-1"), ActionId.SET_DUE)
    harness.click("U0BOB", set_due)
    harness.settle()
    modal = harness.last_view()
    answer = harness.submit("U0BOB", modal, {"due": {"type": "datepicker", "selected_date": "2026-12-04"}})
    assert "Only alice can set the due date of R-1." in str(answer.json()["errors"])
    assert harness.request(1).due_at is None


def test_a_date_is_negotiated_through_slack_buttons_and_forms(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by friday")
    harness.settle()
    asked = harness.request(1).due_at
    propose = button(harness.card("U0BOB", "R-1"), ActionId.PROPOSE_DUE, "Propose a date")
    assert harness.click("U0BOB", propose).status == 200
    harness.settle()
    modal = harness.last_view()
    assert view_problems(modal) == []
    assert [b["block_id"] for b in modal["blocks"] if b["type"] == "input"] == ["due", "note"]
    answer = harness.submit(
        "U0BOB",
        modal,
        {
            "due": {"type": "datepicker", "selected_date": "2026-12-01"},
            "note": {"type": "plain_text_input", "value": "the audit runs all week"},
        },
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(1)
    assert request.due_at == asked and request.events[-1].kind == EventKind.DUE_PROPOSED
    assert any("proposed a due date" in text for text in thread_texts(harness.fake, "U0ALICE"))

    accept = button(harness.card("U0ALICE", "R-1"), ActionId.ACCEPT_DUE, "Accept date")
    assert harness.click("U0ALICE", accept).status == 200
    harness.settle()
    request = harness.request(1)
    assert request.events[-1].kind == EventKind.DUE_AGREED
    assert request.due_at is not None and request.due_at.date().isoformat() == "2026-12-01"
    assert any("agreed the due date" in text for text in thread_texts(harness.fake, "U0BOB"))

    # the same (now answered) button clicked again changes nothing and says why
    harness.click("U0ALICE", accept)
    harness.settle()
    assert harness.request(1) == request
    assert any("withdrawn or already answered" in text for text in harness.replies("U0ALICE"))


def test_the_app_home_flags_overdue_requests(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers in 1 hour")
    harness.settle()
    harness.clock.advance(hours=3)
    assert harness.open_home("U0BOB").status == 200
    for _ in range(50):  # the home is published in the background; a busy machine may take a moment
        harness.settle()
        if harness.fake.calls("views.publish"):
            break
        time.sleep(0.1)
    view = harness.fake.calls("views.publish")[-1].params["view"]
    assert view_problems(view) == []
    assert "overdue by 2 working h" in str(view["blocks"])


def test_ask_for_an_update_and_answer_it_in_slack(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    harness.settle()
    ask = button(harness.card("U0ALICE", "R-1"), ActionId.ASK_UPDATE, "Ask for an update")
    assert harness.click("U0ALICE", ask).status == 200
    harness.settle()
    assert any("asked for an update" in text for text in thread_texts(harness.fake, "U0BOB"))
    harness.click("U0ALICE", ask)  # a second ask the same day is refused kindly
    harness.settle()
    assert any("already asked for an update on R-1 today" in text for text in harness.replies("U0ALICE"))

    progress = button(harness.card("U0BOB", "R-1"), ActionId.PROGRESS, "Post progress")
    harness.click("U0BOB", progress)
    harness.settle()
    modal = harness.last_view()
    assert view_problems(modal) == []
    answer = harness.submit("U0BOB", modal, {"note": {"type": "plain_text_input", "value": "half done"}})
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    assert harness.request(1).events[-1].kind == EventKind.PROGRESS_NOTED
    assert "posted progress" in str(harness.card("U0ALICE", "R-1")["blocks"])


def test_both_cards_turn_overdue_in_place_when_the_due_date_passes(harness: SlackHarness) -> None:
    """Nothing changes R-1 after Friday, yet once the scheduler runs after the due date both DM
    cards are edited (``chat.update``) to say how long it has been overdue; a second run edits
    nothing more."""
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by friday")
    harness.settle()
    assert "overdue" not in str(harness.card("U0BOB", "R-1")) + str(harness.card("U0ALICE", "R-1"))
    harness.clock.advance(days=6)

    harness.runtime.run_scheduler()
    harness.settle()

    updates = harness.fake.calls("chat.update")
    for user in ("U0BOB", "U0ALICE"):
        edits = [c.params for c in updates if c.params.get("channel") == f"D{user}" and c.status == 200]
        assert edits and "overdue by" in str(edits[-1]), f"{user}'s card was not updated"
        assert "⚠️ overdue by" in str(harness.card(user, "R-1"))
    harness.runtime.run_scheduler()
    harness.settle()
    assert len(harness.fake.calls("chat.update")) == len(updates)
