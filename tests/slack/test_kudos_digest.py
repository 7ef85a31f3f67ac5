"""Kudos, the weekly pulse and the manager digest in Slack, through the real app and the fake
Web API: kudos posted where they were given, "Thank" on a finished request's card, the pulse's
button and form, ``/digest`` as an ephemeral preview, and Monday's DM with its chart uploaded."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import charts
from bot.digest import DigestJob
from bot.models import ActionId, Chart
from bot.pulse import ANSWER_DOC, PulseJob
from bot.workhours import DEFAULT_HOURS
from handlers.charts import ChartError
from tests.slack.conftest import SlackHarness, button

WS = "default"


def _radio(value: str) -> dict[str, object]:
    return {"type": "radio_buttons", "selected_option": {"value": value}}


def test_kudos_are_posted_in_the_channel_they_were_given_in_with_the_kudos_text_only(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> <@U0CAROL|carol> thanks for the launch! #teamwork", command="/kudos")
    harness.settle()
    [post] = [c.params for c in harness.fake.calls("chat.postMessage") if c.params.get("channel") == "C0GENERAL"]
    assert post["text"] == "Alice gave kudos to Bob and Carol: thanks for the launch! #teamwork"
    assert [b["type"] for b in post["blocks"]] == ["section"]
    assert len(harness.posted_to("U0BOB")) == len(harness.posted_to("U0CAROL")) == 1
    assert harness.replies("U0ALICE") == ["Kudos sent to Bob, Carol. (2/5 today)"]


def test_kudos_in_a_channel_without_the_bot_still_reach_people_and_say_why_they_were_not_posted(
    harness: SlackHarness,
) -> None:
    harness.fake.fail("chat.postMessage", "not_in_channel")
    harness.command("U0ALICE", "<@U0BOB|bob> thanks!", command="/kudos")
    harness.settle()
    [reply] = harness.replies("U0ALICE")
    assert reply.startswith("Kudos sent to Bob. (1/5 today) I couldn't post them in this conversation")
    assert len(harness.posted_to("U0BOB")) == 1


def test_kudos_top_answers_with_the_leaderboard(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> thanks!", command="/kudos")
    harness.command("U0CAROL", "<@U0BOB|bob> you rock #speed", command="/kudos")
    harness.settle()
    harness.command("U0ALICE", "top week", command="/kudos")
    harness.settle()
    assert harness.replies("U0ALICE")[-1] == "Kudos leaderboard this week\n1. Bob (Finance) · 2 kudos · #speed"


def test_thank_on_a_finished_requests_card_opens_a_form_and_gives_kudos(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.settle()
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    harness.settle()
    harness.click("U0BOB", button(harness.card("U0BOB", "R-1"), ActionId.DONE))
    harness.settle()
    harness.submit("U0BOB", harness.last_view(), {"note": {"type": "plain_text_input", "value": "in the sheet"}})
    harness.settle()
    thank = button(harness.card("U0ALICE", "R-1"), ActionId.THANK)
    assert thank["text"]["text"] == "Thank Bob"
    harness.click("U0ALICE", thank)
    harness.settle()
    form = harness.last_view()
    assert form["callback_id"] == "thank_form" and [b["block_id"] for b in form["blocks"][-1:]] == ["message"]
    answer = harness.submit("U0ALICE", form, {"message": {"type": "plain_text_input", "value": "spot on #quality"}})
    assert answer.status == 200 and answer.body == ""
    harness.settle()
    [kudos] = harness.store.find_kudos(WS)
    assert (kudos.recipient_ids, kudos.request_number, kudos.values) == (["P-bob"], 1, ["quality"])
    assert "Kudos sent to Bob. (1/5 today)" in harness.replies("U0ALICE")
    again = harness.submit("U0ALICE", form, {"message": {"type": "plain_text_input", "value": "more"}}, view_id="V2")
    assert again.json() == {
        "response_action": "errors",
        "errors": {"message": "You already thanked Bob for R-1."},
    }


def test_the_pulse_button_opens_a_form_and_the_answer_is_stored_without_a_name(harness: SlackHarness) -> None:
    harness.command("U0BOB", "list")  # bob is linked to his Slack account
    harness.settle()
    friday = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    harness.clock.now = friday
    assert (
        "pulse:P-bob:2026-W48"
        in PulseJob(hours=DEFAULT_HOURS).run(store=harness.store, workspace=WS, now=friday).claimed
    )
    harness.settle()
    [dm] = [p for p in harness.posted_to("U0BOB") if "Weekly pulse" in p["text"]]
    answer_button = button(dm, ActionId.PULSE)
    assert answer_button["text"]["text"] == "Answer (1 minute)"
    harness.click("U0BOB", answer_button)
    harness.settle()
    form = harness.last_view()
    assert form["callback_id"] == "pulse_form"
    assert [b.get("block_id") for b in form["blocks"][1:]] == ["manager_support", "service", "comment"]
    assert "P-bob" not in form["private_metadata"] and "bob@" not in form["private_metadata"]
    values = {"manager_support": _radio("4"), "service": _radio("2"), "comment": {"type": "plain_text_input"}}
    assert harness.submit("U0BOB", form, values).body == ""
    harness.settle()
    assert harness.replies("U0BOB")[-1] == "Thanks! Your answers for 2026-W48 are in, without your name."
    assert harness.submit("U0BOB", form, values, view_id="V2").body == ""
    harness.settle()
    assert "already answered" in harness.replies("U0BOB")[-1]
    [(key, doc)] = harness.store.list_docs(ANSWER_DOC, WS)
    assert doc == {"team": "T-fin", "week": "2026-W48", "manager_support": 4, "service": 2, "comment": None}
    assert "bob" not in key.lower() and "U0BOB" not in key


def test_digest_shows_a_manager_their_digest_only_to_them(harness: SlackHarness) -> None:
    harness.command("U0DAVE", "", command="/digest")
    harness.command("U0ALICE", "", command="/digest")
    harness.settle()
    [preview] = [c.params for c in harness.fake.calls("response_url") if c.params["_name"].endswith("U0DAVE")]
    assert preview["response_type"] == "ephemeral"
    blocks = preview["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Weekly digest · Finance · 2026-W47",
                                                    "emoji": True}}  # fmt: skip
    assert any(b["type"] == "section" and b["text"]["text"].startswith("*Morale*") for b in blocks)
    assert blocks[-1]["type"] == "context" and "chart comes with the digest DM" in blocks[-1]["elements"][0]["text"]
    assert "The weekly digest is for managers" in harness.replies("U0ALICE")[-1]


def test_mondays_digest_dm_comes_with_its_chart_uploaded_once(harness: SlackHarness) -> None:
    harness.command("U0DAVE", "queue")  # dave is linked to his Slack account
    harness.settle()
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    harness.clock.now = monday
    assert (
        "digest:P-dave:2026-W48"
        in DigestJob(hours=DEFAULT_HOURS).run(store=harness.store, workspace=WS, now=monday).claimed
    )
    harness.settle()
    [digest] = [p for p in harness.posted_to("U0DAVE") if p["text"].startswith("Weekly digest")]
    assert digest["blocks"][0]["text"]["text"] == "Weekly digest · Finance · 2026-W48"
    [asked] = harness.fake.calls("files.getUploadURLExternal")
    [complete] = harness.fake.calls("files.completeUploadExternal")
    assert complete.params["channel_id"] == "DU0DAVE" and asked.params["filename"].endswith(".png")
    [uploaded] = harness.fake.files.values()
    assert uploaded["data"].startswith(b"\x89PNG") and uploaded["shared"] == "DU0DAVE"
    assert DigestJob(hours=DEFAULT_HOURS).run(store=harness.store, workspace=WS, now=monday).claimed == {}, (
        "once per week"
    )


def test_a_failed_chart_upload_neither_loses_nor_repeats_the_digest(harness: SlackHarness) -> None:
    harness.command("U0DAVE", "queue")
    harness.settle()
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    harness.clock.now = monday
    harness.fake.fail("files.getUploadURLExternal", "internal_error", status=500)
    DigestJob(hours=DEFAULT_HOURS).run(store=harness.store, workspace=WS, now=monday)
    harness.settle()
    harness.settle()
    assert len([p for p in harness.posted_to("U0DAVE") if p["text"].startswith("Weekly digest")]) == 1
    [item] = [
        i for i in harness.store.list_outbox(WS) if i.message.kind == "digest" and i.message.recipient_id == "P-dave"
    ]
    assert item.state == "sent"


def test_app_home_shows_kudos_given_and_what_is_left_today(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> <@U0CAROL|carol> thanks!", command="/kudos")
    home = str(harness.home_after_opening("U0ALICE"))
    assert "Kudos given (1)" in home and "2 today; you can give 3 more." in home and "Bob, Carol" in home


def test_kudos_given_in_a_direct_message_are_not_announced(harness: SlackHarness) -> None:
    form = harness.command_form("U0ALICE", "<@U0BOB|bob> thanks!", command="/kudos")
    form["channel_id"] = "DU0ALICE"
    harness.post_form(form)
    harness.settle()
    assert [c.params["channel"] for c in harness.fake.calls("chat.postMessage")] == ["DU0BOB"]
    assert harness.replies("U0ALICE") == ["Kudos sent to Bob. (1/5 today)"]


def test_a_chart_that_could_not_be_drawn_leaves_the_digest_sent_without_it(harness: SlackHarness) -> None:
    """Servers draw charts in worker processes (``handlers/charts.py``); a chart that hung or
    whose worker died is dropped, never the message."""

    def hung(chart: Chart) -> bytes:
        raise ChartError(f"drawing the chart {chart.title!r} took over 60s")

    harness.command("U0DAVE", "queue")
    harness.settle()
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    harness.clock.now = monday
    charts.draw_with(hung)
    try:
        DigestJob(hours=DEFAULT_HOURS).run(store=harness.store, workspace=WS, now=monday)
        harness.settle()
    finally:
        charts.draw_with(None)
    assert len([p for p in harness.posted_to("U0DAVE") if p["text"].startswith("Weekly digest")]) == 1
    assert harness.fake.calls("files.getUploadURLExternal") == []
    [item] = [
        i for i in harness.store.list_outbox(WS) if i.message.kind == "digest" and i.message.recipient_id == "P-dave"
    ]
    assert item.state == "sent"
