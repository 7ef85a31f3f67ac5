"""Nudges reach Slack as one grouped DM whose Snooze and Mute buttons work."""

from __future__ import annotations

from bot.models import ActionId
from bot.nudges import NudgeJob
from bot.scheduler import Scheduler
from bot.workhours import DEFAULT_HOURS
from tests.slack.conftest import SlackHarness, button


def _nudge(harness: SlackHarness) -> dict:  # type: ignore[type-arg]
    return next(p for p in reversed(harness.posted_to("U0BOB")) if "Snooze" in str(p.get("blocks")))


def test_an_unacknowledged_request_nudges_its_provider_who_can_snooze_and_mute(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.command("U0ALICE", "<@U0BOB|bob> and the Q4 forecast")
    harness.settle()
    scheduler = Scheduler(store=harness.store, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace="default")
    harness.clock.advance(hours=30)  # Tue 10:00 -> Wed 16:00 UTC: 15 working hours in London, no escalation yet
    report = scheduler.run_due(harness.clock())
    assert [m.recipient_id for m in report.sent] == ["P-bob"], "one grouped nudge, not one per request"
    harness.settle()
    nudge = _nudge(harness)
    assert "R-1" in str(nudge["blocks"]) and "R-2" in str(nudge["blocks"])
    assert scheduler.run_due(harness.clock()).sent == [], "never the same nudge twice"

    assert harness.click("U0BOB", button(nudge, ActionId.SNOOZE)).status == 200
    harness.settle()
    assert any(text.startswith("Snoozed R-1 until") for text in harness.replies("U0BOB"))
    assert harness.click("U0BOB", button(nudge, ActionId.MUTE)).status == 200
    harness.settle()
    assert any(text.startswith("Nudges muted.") for text in harness.replies("U0BOB"))
    harness.clock.advance(days=3)
    later = scheduler.run_due(harness.clock())
    assert "P-bob" not in [m.recipient_id for m in later.sent], "muted: no more nudges for bob"
