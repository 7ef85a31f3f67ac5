"""Decline choices and service-recovery rounds through the real Bolt app with signed requests
(issue 12, items 4 and 5): every card and form is Block Kit that ``slack_sdk.models`` parses
(the fake Web API refuses anything else), and bad clicks change nothing and say why."""

from __future__ import annotations

import time

from bot.models import ActionId, EventKind, Status
from bot.recovery import recovery
from tests.fakes.slack_api import view_problems
from tests.slack.conftest import SlackHarness, button, thread_texts


def _text(value: str) -> dict[str, object]:
    return {"type": "plain_text_input", "value": value}


def _all(form: dict[str, object], **given: dict[str, object]) -> dict[str, dict[str, object]]:
    """Every input of the form, as Slack sends them: empty unless given."""
    empty = {"plain_text_input": {"value": None}, "users_select": {"selected_user": None}}
    values = {}
    for block in form["blocks"]:  # type: ignore[attr-defined]
        if block["type"] == "input":
            kind = block["element"]["type"]
            values[block["block_id"]] = given.get(block["block_id"]) or {"type": kind, **empty.get(kind, {})}
    return values


def _ask(harness: SlackHarness) -> None:
    for user in ("U0CAROL", "U0DAVE", "U0ERIN"):  # known to servechain, as anyone who used it once
        harness.command(user, "list")
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()


def _home(harness: SlackHarness, user: str) -> str:
    before = len(harness.fake.calls("views.publish"))
    assert harness.open_home(user).status == 200
    for _ in range(50):  # published in the background
        harness.settle()
        if len(harness.fake.calls("views.publish")) > before:
            break
        time.sleep(0.1)
    view = harness.fake.calls("views.publish")[-1].params["view"]
    assert view_problems(view) == []
    return str(view["blocks"])


def test_a_decline_names_carol_and_alice_asks_her_instead_in_one_click(harness: SlackHarness) -> None:
    _ask(harness)
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.DECLINE))
    harness.settle()
    form = harness.last_view()
    assert view_problems(form) == []
    inputs = {b["block_id"]: b for b in form["blocks"] if b["type"] == "input"}
    assert inputs["alternative_to"]["element"]["type"] == "users_select"

    bare = harness.submit("U0BOB", form, _all(form, note=_text("not my area")))
    assert "offer an alternative" in bare.json()["errors"]["alternative"]
    to_alice = harness.submit(
        "U0BOB",
        form,
        {"note": _text("not my area"), "alternative_to": {"type": "users_select", "selected_user": "U0ALICE"}},
    )
    assert to_alice.json()["errors"] == {"alternative_to": "R-1 came from alice; name someone else who could do it."}
    bad_number = harness.submit("U0BOB", form, _all(form, note=_text("no"), alternative_request=_text("the other one")))
    assert "isn't a request number" in bad_number.json()["errors"]["alternative_request"]
    assert harness.request(1).status == Status.OPEN, "refused forms change nothing"

    answer = harness.submit(
        "U0BOB",
        form,
        {"note": _text("not my area"), "alternative_to": {"type": "users_select", "selected_user": "U0CAROL"}},
    )
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    assert harness.request(1).status == Status.DECLINED
    alice_card = harness.card("U0ALICE", "R-1")
    assert "Alternative" in str(alice_card["blocks"])
    rating = [p for p in harness.posted_to("U0ALICE") if "(declined)?" in str(p.get("text"))]
    assert rating, "a declined request is rated too"

    ask_carol = button(alice_card, ActionId.ASK_INSTEAD, "Ask carol instead")
    harness.click("U0ERIN", ask_carol)  # a stranger's click
    harness.settle()
    assert "I can't find R-1." in harness.replies("U0ERIN")
    assert harness.request(1).provider_id != harness.store.find_person("default", handle="carol").id  # type: ignore[union-attr]

    assert harness.click("U0ALICE", ask_carol).status == 200
    harness.settle()
    request = harness.request(1)
    carol = harness.store.find_person("default", handle="carol")
    assert carol is not None and (request.status, request.provider_id) == (Status.OPEN, carol.id)
    assert request.events[-1].kind == EventKind.HANDED_OFF
    carol_card = harness.card("U0CAROL", "R-1")
    assert "alice asked carol instead of bob" in str(carol_card["blocks"])
    assert button(carol_card, ActionId.ACKNOWLEDGE)
    assert any("is yours now" in text for text in thread_texts(harness.fake, "U0CAROL"))

    harness.click("U0ALICE", ask_carol, action_ts="999.1")  # the same button again: stale now
    harness.settle()
    assert any("still waiting to be acknowledged" in text for text in harness.replies("U0ALICE"))
    assert harness.request(1) == request


def test_recovery_rounds_reach_the_manager_who_closes_it_from_slack(harness: SlackHarness) -> None:
    _ask(harness)
    store = harness.store
    bob, dave = store.find_person("default", handle="bob"), store.find_person("default", handle="dave")
    assert bob is not None and dave is not None
    store.save_org([bob.model_copy(update={"manager_id": dave.id})])
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.DONE))
    harness.settle()
    harness.submit("U0BOB", harness.last_view(), {"note": _text("sent")})
    harness.settle()

    rate = next(p for p in harness.posted_to("U0ALICE") if "How did" in str(p.get("text")))
    harness.click("U0ALICE", button(rate, ActionId.RATE))
    harness.settle()
    harness.submit(
        "U0ALICE",
        harness.last_view(),
        {
            "score": {"type": "radio_buttons", "selected_option": {"value": "1"}},
            "information": {"type": "static_select", "selected_option": {"value": "1"}},
            "comment": _text("no word for a week"),
        },
    )
    harness.settle()
    poor = next(p for p in harness.posted_to("U0BOB") if "rated R-1 1/5" in str(p.get("text")))
    assert "*Information*\\n1/5" in str(poor["blocks"]) and "no word for a week" in str(poor["blocks"])
    assert "Service recovery waiting on you (1)" in _home(harness, "U0BOB")

    for round_, plan in ((1, "weekly updates"), (2, "a call every Monday")):
        card = [p for p in harness.posted_to("U0BOB") if p.get("text", "").startswith("Alice")][-1]
        harness.click("U0BOB", button(card, ActionId.RECOVER), action_ts=f"{round_}.1")
        harness.settle()
        harness.submit("U0BOB", harness.last_view(), {"note": _text(plan)})
        harness.settle()
        follow_up = [p for p in harness.posted_to("U0ALICE") if "Are you satisfied" in str(p.get("blocks"))][-1]
        harness.click("U0ALICE", button(follow_up, ActionId.FOLLOW_UP, "Not yet"), action_ts=f"{round_}.2")
        harness.settle()
        harness.submit("U0ALICE", harness.last_view(), {"note": _text(f"not yet, round {round_}")})
        harness.settle()

    assert "still not satisfied (round 3)" in _home(harness, "U0BOB")
    manager_card = harness.card("U0DAVE", "Service recovery of R-1")
    assert "not yet, round 2" in str(manager_card["blocks"]), "the whole thread"
    harness.click("U0DAVE", button(manager_card, ActionId.CLOSE_RECOVERY))
    harness.settle()
    form = harness.last_view()
    assert view_problems(form) == []
    empty = harness.submit("U0DAVE", form, {"note": {"type": "plain_text_input", "value": None}})
    assert "why you are closing it" in empty.json()["errors"]["note"]
    assert harness.submit("U0DAVE", form, {"note": _text("we agreed a monthly report")}).body == ""
    harness.settle()
    assert recovery(harness.request(1)).state == "closed"  # type: ignore[union-attr]
    assert any("closed the service recovery" in text for text in thread_texts(harness.fake, "U0ALICE"))
    assert "Close recovery" not in str(harness.card("U0DAVE", "Service recovery of R-1")["blocks"])
    assert "Service recovery waiting on you" not in _home(harness, "U0BOB")
