"""`/request stats` and `/request chain` answer ephemerally in Slack."""

from __future__ import annotations

from tests.slack.conftest import SlackHarness


def test_stats_and_chain_answer_ephemerally(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    harness.command("U0BOB", "<@U0CAROL|carol> split it by region for R-1")
    harness.settle()
    harness.command("U0BOB", "stats")
    harness.command("U0BOB", "chain R-2")
    harness.command("U0ALICE", "stats <@U0BOB|bob>")
    harness.command("U0DAVE", "stats <@U0BOB|bob>")
    harness.settle()
    bob = harness.replies("U0BOB")
    assert any("As provider" in text and "As customer" in text for text in bob)
    assert any(text.startswith("R-1") and "bob is waiting on carol" in text for text in bob)
    # A person's own figures are theirs and their managers' (PERSON_FIGURES=private, the default):
    # alice is refused and pointed at bob's team; dave, bob's manager, sees them.
    alice = harness.replies("U0ALICE")
    assert not any("As provider" in text for text in alice)
    assert any("Bob's own figures are for them and their managers" in text and "Finance" in text for text in alice)
    assert any("Bob" in text and "As provider" in text for text in harness.replies("U0DAVE"))
