"""One home, two front ends: :func:`bot.home.home` decides what a person's home shows, and the
Slack App Home and the console's ``home`` both draw exactly that."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from bot.home import home
from bot.org import import_org
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS
from handlers.console import Console, home_text
from handlers.slack.home import home_view

SAMPLE = Path(__file__).resolve().parents[1] / "handlers" / "samples" / "org.yml"
LATER = datetime(2026, 11, 30, 16, tzinfo=UTC)


def _busy_store(store: Store) -> Store:
    """The sample org with Bob owing three requests (one overdue), asking one, and thanked once."""
    import_org(store=store, path=SAMPLE)
    console = Console(store=store, out=io.StringIO(), clock=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))
    for line in (
        "as alice",
        "/request @bob need Q3 numbers by friday",
        "/kudos @bob thanks for last week",
        "as carol",
        "/request @bob the warehouse export",
        "as gina",
        "/request @bob invoices for Rome by next friday",
        "as bob",
        "click acknowledge R-3",
        "/request @lena the ledger extract",
    ):
        assert console.handle_line(line)
    return store


def test_the_app_home_and_the_console_home_show_the_same_things(store: Store) -> None:
    store = _busy_store(store)
    for handle in ("bob", "hana", "alice"):
        person = store.find_person("default", handle=handle)
        assert person is not None
        shown = home(store=store, person=person, now=LATER, hours=DEFAULT_HOURS)
        slack = json.dumps(home_view(store=store, person=person, now=LATER, hours=DEFAULT_HOURS), ensure_ascii=False)
        console = home_text(shown)

        for item in [*shown.waiting_on_you, *shown.your_requests]:
            for text in (item.request.ref, item.direction, item.request.status.label, item.due, item.overdue):
                if text:
                    assert text in slack and text in console, (handle, text)
        for text in (shown.median_to_acknowledge, shown.promises_kept, *(m for _who, m in shown.kudos_received)):
            assert text in slack and text in console, (handle, text)
        assert (shown.team is not None) == ("What is stuck on your team" in slack)
        assert (shown.team is not None) == ("What is stuck on your team" in console)


def test_home_lists_the_queue_soonest_due_first_with_the_overdue_flag(store: Store) -> None:
    store = _busy_store(store)
    bob = store.find_person("default", handle="bob")
    assert bob is not None

    shown = home(store=store, person=bob, now=LATER, hours=DEFAULT_HOURS)

    assert [item.request.ref for item in shown.waiting_on_you] == ["R-1", "R-3", "R-2"]
    assert [item.overdue for item in shown.waiting_on_you] == ["overdue by 8 working h", None, None]
    assert [item.direction for item in shown.your_requests] == ["to Lena Fischer"]
    assert shown.kudos_received == [("Alice Adams", "thanks for last week")]
    assert shown.team is None  # nobody reports to bob
    hana = store.find_person("default", handle="hana")
    assert hana is not None
    team = home(store=store, person=hana, now=LATER, hours=DEFAULT_HOURS).team
    assert team is not None and [item.request.ref for item in team.groups["overdue"]] == ["R-1"]
