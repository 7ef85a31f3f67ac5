"""A manager's Nudge and Extend on ``/request team`` and the App Home, through the real Bolt app with
signed requests: blocks the fake Web API checks with ``slack_sdk.models``, a modal for the new date
and its reason, refusals for people outside the provider's manager chain and for outdated buttons."""

from __future__ import annotations

from typing import Any

from bot.models import ActionId, EventKind
from tests.fakes.slack_api import block_problems, view_problems
from tests.slack.conftest import SlackHarness, button, thread_texts


def _team_card(harness: SlackHarness, user: str) -> dict[str, Any]:
    """The latest ``/request team`` answer (posted to the command's response_url) with blocks."""
    answers = [c.params for c in harness.fake.calls("response_url") if c.params.get("blocks") and c.status == 200]
    assert answers, "no /request team card was posted"
    return answers[-1]


def _stuck_overdue_request(harness: SlackHarness) -> None:
    """R-1: alice asked bob for it by tomorrow 10:00 (Wednesday); it is now Thursday, still open."""
    assert harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers by tomorrow").status == 200
    harness.settle()
    harness.clock.advance(days=2)


def test_the_team_card_has_nudge_reassign_and_extend_per_stuck_request_in_valid_blocks(harness: SlackHarness) -> None:
    _stuck_overdue_request(harness)
    assert harness.command("U0DAVE", "team").status == 200
    harness.settle()
    card = _team_card(harness, "U0DAVE")
    assert block_problems(card["blocks"]) == []
    labels = [e["text"]["text"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Nudge R-1", "Reassign R-1", "Extend R-1"]
    assert len({b.get("block_id") for b in card["blocks"] if b.get("block_id")}) == len(
        [b for b in card["blocks"] if b.get("block_id")]
    )  # unique block ids


def test_a_manager_nudges_from_the_card_and_a_second_nudge_the_same_day_is_refused(harness: SlackHarness) -> None:
    _stuck_overdue_request(harness)
    harness.command("U0DAVE", "team")
    harness.settle()
    nudge = button(_team_card(harness, "U0DAVE"), ActionId.NUDGE)
    assert harness.click("U0DAVE", nudge).status == 200
    harness.settle()
    assert harness.request(1).events[-1].kind == EventKind.NUDGED
    assert any(text.startswith("You nudged bob about R-1") for text in harness.replies("U0DAVE"))
    assert any("Dave nudged you about R-1" in text for text in thread_texts(harness.fake, "U0BOB"))
    assert "Nudged" in str(harness.card("U0BOB", "R-1")["blocks"])  # the provider's card says who nudged
    version = harness.request(1).version
    assert harness.click("U0DAVE", nudge).status == 200
    harness.settle()
    assert any("already nudged bob about R-1 on" in text for text in harness.replies("U0DAVE"))
    assert harness.request(1).version == version


def test_someone_outside_the_providers_manager_chain_gets_a_friendly_refusal(harness: SlackHarness) -> None:
    _stuck_overdue_request(harness)
    harness.command("U0DAVE", "team")
    harness.settle()
    card = _team_card(harness, "U0DAVE")
    before = harness.request(1)
    harness.click("U0ALICE", button(card, ActionId.NUDGE))  # the requester, with the manager's button
    harness.click("U0ERIN", button(card, ActionId.NUDGE))  # not on the request at all
    harness.settle()
    assert any("Only bob's manager can nudge the provider of R-1." in t for t in harness.replies("U0ALICE"))
    assert any("I can't find R-1" in t for t in harness.replies("U0ERIN"))
    assert harness.request(1) == before
    erin_team = harness.command("U0ERIN", "team")
    harness.settle()
    assert erin_team.status == 200 and any("nobody reports to you" in t for t in harness.replies("U0ERIN"))


def test_extend_opens_a_date_and_reason_form_and_proposes_the_date_to_the_requester(harness: SlackHarness) -> None:
    _stuck_overdue_request(harness)
    harness.command("U0DAVE", "team")
    harness.settle()
    extend = button(_team_card(harness, "U0DAVE"), ActionId.EXTEND_DUE)
    due_before = harness.request(1).due_at
    assert harness.click("U0DAVE", extend).status == 200
    harness.settle()
    modal = harness.last_view()
    assert view_problems(modal) == []
    fields = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert fields["due"]["element"]["type"] == "datetimepicker" and not fields["note"]["optional"]
    # no reason: shown on the field, nothing changes
    answer = harness.submit("U0DAVE", modal, {"due": {"type": "datepicker", "selected_date": "2026-12-04"}, "note": {}})
    assert answer.status == 200 and "reason" in answer.json()["errors"]["note"]
    answer = harness.submit(
        "U0DAVE",
        modal,
        {
            "due": {"type": "datepicker", "selected_date": "2026-12-04"},
            "note": {"type": "plain_text_input", "value": "the audit comes first"},
        },
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    request = harness.request(1)
    assert request.due_at == due_before and request.events[-1].kind == EventKind.DUE_PROPOSED
    assert (request.events[-1].actor_id, request.events[-1].to_id) == ("P-dave", "P-alice")
    alice = harness.card("U0ALICE", "R-1")
    accept = button(alice, ActionId.ACCEPT_DUE)
    assert ActionId.ACCEPT_DUE.value not in str(harness.card("U0BOB", "R-1")["blocks"])
    assert any("Dave proposed moving R-1" in text for text in thread_texts(harness.fake, "U0BOB"))
    assert harness.click("U0ALICE", accept).status == 200
    harness.settle()
    assert harness.request(1).due_at is not None and harness.request(1).due_at.date().isoformat() == "2026-12-04"  # type: ignore[union-attr]
    # the old Extend button was made for the old date: outdated now
    harness.click("U0DAVE", extend)
    harness.settle()
    stale = harness.submit(
        "U0DAVE",
        harness.last_view(),
        {
            "due": {"type": "datepicker", "selected_date": "2026-12-11"},
            "note": {"type": "plain_text_input", "value": "more"},
        },
    )
    assert "has changed since this list was made" in str(stale.json()["errors"])


def test_a_managers_app_home_has_the_same_buttons_and_they_work_from_there(harness: SlackHarness) -> None:
    _stuck_overdue_request(harness)
    view = harness.home_after_opening("U0DAVE")
    assert view_problems(view) == []
    nudge = button({"blocks": view["blocks"]}, ActionId.NUDGE, "Nudge R-1")
    payload = harness.click_payload("U0DAVE", nudge)
    payload["response_url"] = None
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    assert harness.post_payload(payload).status == 200
    harness.settle()
    assert harness.request(1).events[-1].kind == EventKind.NUDGED
