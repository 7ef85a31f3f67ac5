"""Overdue is visible everywhere (issue 12, item 3): cards, list, queue, show, the Slack App
Home and the console, counted in working hours in each viewer's own time zone."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

from bot.clicks import Click, run_click
from bot.dispatch import run_request
from bot.models import ActionId, Person
from bot.overdue import OverdueCardsJob
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS, WorkingHours
from handlers.console import Console
from tests.conftest import NOW

MONDAY_3PM_UTC = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
"""Alice asked for friday 17:00 New York (22:00 UTC): for bob in London that is after hours, and
Monday has had 6 working hours by now (09:00-15:00); for alice in New York, Friday 17:00-18:00
and Monday 09:00-10:00 make 2."""


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _ask(store: Store) -> None:
    reply = run_request(
        store=store,
        actor=_person(store, "alice"),
        text="@bob need the Q3 numbers by friday",
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    assert reply.ok


def test_list_queue_and_show_say_how_long_it_is_overdue_in_each_viewers_working_hours(org_store: Store) -> None:
    _ask(org_store)
    queue = run_request(
        store=org_store, actor=_person(org_store, "bob"), text="queue", now=MONDAY_3PM_UTC, hours=DEFAULT_HOURS
    )
    assert "⚠️ overdue by 6 working h" in queue.text
    mine = run_request(
        store=org_store, actor=_person(org_store, "alice"), text="list", now=MONDAY_3PM_UTC, hours=DEFAULT_HOURS
    )
    assert "⚠️ overdue by 2 working h" in mine.text
    shown = run_request(
        store=org_store, actor=_person(org_store, "bob"), text="show R-1", now=MONDAY_3PM_UTC, hours=DEFAULT_HOURS
    )
    assert shown.card is not None
    assert ("Overdue", "⚠️ overdue by 6 working h") in [(f.label, f.value) for f in shown.card.facts]


def test_nothing_is_overdue_before_the_due_date_or_once_it_is_closed(org_store: Store) -> None:
    _ask(org_store)
    before = run_request(
        store=org_store,
        actor=_person(org_store, "bob"),
        text="queue",
        now=NOW + timedelta(hours=1),
        hours=DEFAULT_HOURS,
    )
    assert "overdue" not in before.text
    run_click(
        store=org_store,
        click=Click(platform="test", actor=_person(org_store, "bob"), action=ActionId.DONE, request=1),
        now=MONDAY_3PM_UTC,
        hours=DEFAULT_HOURS,
    )
    mine = run_request(
        store=org_store, actor=_person(org_store, "alice"), text="list", now=MONDAY_3PM_UTC, hours=DEFAULT_HOURS
    )
    assert "overdue" not in mine.text


def test_both_parties_cards_flag_it_when_they_change_after_the_due_date(org_store: Store) -> None:
    _ask(org_store)
    result = run_click(
        store=org_store,
        click=Click(platform="test", actor=_person(org_store, "bob"), action=ActionId.ACKNOWLEDGE, request=1),
        now=MONDAY_3PM_UTC,
        hours=DEFAULT_HOURS,
    )
    facts = {m.recipient_id: dict((f.label, f.value) for f in m.facts) for m in result.queued if m.facts}
    assert facts["P-bob"]["Overdue"] == "⚠️ overdue by 6 working h"
    assert facts["P-alice"]["Overdue"] == "⚠️ overdue by 2 working h"


def test_the_console_shows_overdue_in_list_and_show(org_store: Store) -> None:
    clock = {"now": NOW}
    console = Console(store=org_store, out=io.StringIO(), clock=lambda: clock["now"])
    for line in ["as alice", "/request @bob need the Q3 numbers by friday"]:
        console.handle_line(line)
    clock["now"] = MONDAY_3PM_UTC
    out = console.out
    assert isinstance(out, io.StringIO)
    start = len(out.getvalue())
    for line in ["/request list", "as bob", "/request show R-1"]:
        console.handle_line(line)
    shown = out.getvalue()[start:]
    assert "⚠️ overdue by 2 working h" in shown
    assert "Overdue: ⚠️ overdue by 6 working h" in shown


def test_the_console_tick_prints_both_cards_turning_overdue(org_store: Store) -> None:
    """Nothing changes R-1 after Friday; the scheduler run after the due date updates both
    cards, which the console prints as one-line updates with the overdue flag, once."""
    clock = {"now": NOW}
    out = io.StringIO()
    console = Console(store=org_store, out=out, clock=lambda: clock["now"])
    for line in ["as alice", "/request @bob need the Q3 numbers by friday"]:
        console.handle_line(line)
    clock["now"] = MONDAY_3PM_UTC
    start = len(out.getvalue())

    console.handle_line("tick")

    ticked = out.getvalue()[start:].splitlines()
    assert "[to bob] R-1 · alice → bob · open · due Fri 27 Nov 22:00 GMT · ⚠️ overdue by 6 working h" in "\n".join(
        ticked
    ), ticked
    assert any(
        line.startswith("[to alice] R-1 · alice → bob · open · due Fri 27 Nov 17:00 EST · ⚠️ overdue by 2 working h")
        for line in ticked
    ), ticked
    start = len(out.getvalue())
    console.handle_line("tick")
    assert "overdue by" not in out.getvalue()[start:]


def test_the_scheduled_card_refresh_counts_in_the_configured_working_hours(org_store: Store) -> None:
    """With the working day starting at 10:00, bob's Monday has had 5 working hours by 15:00 UTC
    and alice's (New York) only Friday's last hour: the refreshed cards say so, as ``queue`` does."""
    _ask(org_store)
    late_start = WorkingHours(start=time(10, 0))

    report = OverdueCardsJob(hours=late_start).run(store=org_store, workspace="default", now=MONDAY_3PM_UTC)

    flags = {m.recipient_id: {f.label: f.value for f in m.facts}.get("Overdue") for m in report.sent}
    assert flags == {"P-bob": "⚠️ overdue by 5 working h", "P-alice": "⚠️ overdue by 1 working h"}
    queue = run_request(
        store=org_store, actor=_person(org_store, "bob"), text="queue", now=MONDAY_3PM_UTC, hours=late_start
    )
    assert "⚠️ overdue by 5 working h" in queue.text
