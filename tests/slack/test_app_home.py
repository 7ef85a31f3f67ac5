"""App Home: published on app_home_opened and after changes, with queue, open requests,
this month's responsiveness and kudos received."""

from __future__ import annotations

import json
import time

from bot.models import ActionId
from tests.slack.conftest import SlackHarness, button


def _home_text(harness: SlackHarness, user: str, wait: float = 10.0) -> str:
    """The last App Home published for ``user``. Bolt runs the event listener on its own thread
    after the HTTP ack, so the publish job may be submitted after ``settle`` found the work pool
    idle: wait for it (this raced about one run in four)."""
    deadline = time.monotonic() + wait
    while True:
        calls = [c for c in harness.fake.calls("views.publish") if c.params["user_id"] == user]
        if calls or time.monotonic() > deadline:
            break
        time.sleep(0.02)
        harness.settle()
    assert calls, f"no App Home published for {user}"
    return json.dumps(calls[-1].params["view"])


def test_opening_the_home_tab_publishes_queue_requests_responsiveness_and_kudos(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by friday")
    harness.command("U0CAROL", "<@U0BOB|bob> the budget sheet")
    harness.command("U0ALICE", "<@U0BOB|bob> thanks for the quick answer", command="/kudos")
    harness.settle()
    harness.clock.advance(hours=2)
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    harness.settle()

    assert harness.open_home("U0BOB").status == 200
    harness.settle()
    home = _home_text(harness, "U0BOB")
    assert "Waiting on you" in home and "R-1" in home and "R-2" in home
    assert "Median time to acknowledge" in home and "2 h" in home
    assert "Kudos received (1)" in home and "thanks for the quick answer" in home
    view = harness.fake.calls("views.publish")[-1].params["view"]
    assert view["type"] == "home" and len(view["blocks"]) <= 100


def test_homes_are_refreshed_after_changes_for_people_who_opened_theirs(harness: SlackHarness) -> None:
    harness.open_home("U0ALICE")
    harness.settle()
    harness.fake.clear()
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    published_for = [c.params["user_id"] for c in harness.fake.calls("views.publish")]
    assert published_for == ["U0ALICE"], "bob never opened his App Home, so nothing is pushed to him"
    assert "R-1" in _home_text(harness, "U0ALICE")


def test_the_messages_tab_does_not_publish_a_home(harness: SlackHarness) -> None:
    from tests.slack.conftest import fixture

    event = fixture("app_home_opened")
    event["event"]["tab"] = "messages"
    assert harness.post(json.dumps(event), "application/json").status == 200
    harness.settle()
    assert harness.fake.calls("views.publish") == []


def test_the_new_request_button_on_the_home_opens_the_form(harness: SlackHarness) -> None:
    harness.open_home("U0ALICE")
    harness.settle()
    view = json.loads(_home_text(harness, "U0ALICE"))
    new_button = view["blocks"][0]["elements"][0]
    payload = harness.click_payload("U0ALICE", new_button)
    payload["response_url"] = None
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    assert harness.post_payload(payload).status == 200
    harness.settle()
    assert harness.last_view()["callback_id"] == "new_request"


def test_a_managers_home_shows_what_is_stuck_on_their_team(harness: SlackHarness) -> None:
    """Dave manages Finance (bob): a request bob left unanswered for 5 working hours shows on Dave's
    home under "Unacknowledged"; bob, who manages nobody, has no such section. The waiting count is shown."""
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    harness.clock.advance(hours=5)
    assert harness.open_home("U0DAVE").status == 200
    harness.settle()
    home = _home_text(harness, "U0DAVE")
    assert "What is stuck on your team" in home and "Unacknowledged (1)" in home and "R-1 held by Bob" in home
    assert harness.open_home("U0BOB").status == 200
    harness.settle()
    bobs = _home_text(harness, "U0BOB")
    assert "What is stuck on your team" not in bobs
    assert "Still waiting for your first answer" in bobs
