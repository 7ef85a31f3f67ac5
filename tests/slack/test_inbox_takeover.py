"""Slash commands left by a process that died after acknowledging them are run by the next one
in the Slack work pool, each in its author's lane, like the commands it acknowledges itself."""

from __future__ import annotations

from bot.inbox import InboxRunner
from handlers.slack.listeners import commands
from tests.slack.conftest import SlackHarness


def test_commands_left_by_a_crash_run_in_the_work_pool_in_their_authors_lanes(harness: SlackHarness) -> None:
    inbox = harness.runtime.inbox
    assert inbox.work is harness.slack.work, "recovery shares the live path's pool"
    dead = InboxRunner(store=harness.store, clock=harness.clock, handlers={commands.KIND: lambda item: None})
    authors = ["U0ALICE", "U0CAROL", "U0ALICE"]
    for n, user in enumerate(authors):
        form = harness.command_form(user, "list")
        dead.accept(workspace="default", key=f"crashed-{n}", platform="slack", kind=commands.KIND, payload=form)
    harness.clock.advance(minutes=1)

    taken = harness.store.get_inbox_item("default", "crashed-0")
    assert taken is not None and inbox.lanes[commands.KIND](taken) == "U0ALICE"
    assert inbox.recover() == 3
    harness.settle()

    assert harness.store.count_inbox("default") == 0
    assert len(harness.replies("U0ALICE")) == 2 and len(harness.replies("U0CAROL")) == 1
