"""Renegotiations (issue 12, item 2): an agreed due date moved by a later agreement of both sides,
counted once (``bot.promises.renegotiations``) and shown beside promises kept in ``/request stats``,
the team map and the digest. Every answer below is worked out by hand.

London is UTC in November, New York UTC-5. alice (Sales, New York) asks bob and carol (Finance).
All in the week 2026-W47 (Monday 16 to Sunday 22 November); "now" is Monday 23 November 09:00 UTC.

| #  | history (UTC)                                                                  | kept  | moved |
|----|--------------------------------------------------------------------------------|-------|-------|
| 1  | alice -> bob Mon 16 10:00, due Wed 18 17:00; bob acknowledges 11:00 (Wed 18 is | True  | 2     |
|    | agreed); bob proposes Thu 19 17:00 Tue 17 10:00, alice accepts 11:00 (moved);  |       |       |
|    | bob proposes Fri 20 17:00 Wed 18 10:00, alice accepts 12:00 (moved again, both |       |       |
|    | before the date then in force); done Fri 20 15:00, before Fri 20 17:00        |       |       |
| 2  | alice -> bob Mon 16 12:00, due Thu 19 17:00; acknowledged 13:00; bob proposes  | True  | 0     |
|    | Mon 23 17:00 Tue 17 09:00, alice declines 10:00; done Thu 19 16:00             |       |       |
| 3  | alice -> carol Tue 17 09:00, no date; carol proposes Fri 20 12:00 at 10:00,    | False | 0     |
|    | alice accepts 11:00 (the first agreement moves nothing); still open now        |       |       |
| 4  | alice -> bob Mon 16 14:00, due Wed 18 17:00; acknowledged 15:00; bob proposes  | False | 1     |
|    | Fri 20 17:00 Thu 19 10:00 (Wed 18 had passed), alice accepts 11:00; done Fri   |       |       |
|    | 20 12:00: late against Wed 18 17:00, and still one date moved by agreement     |       |       |
| 5  | alice -> bob Thu 1 Oct, acknowledged, moved once: outside every window here    | -     | 1     |

Sales -> Finance in W47 (and in the 30 days before now): 4 requests, promises kept 2 of 4 (R-1,
R-2 kept; R-3 open past its date, R-4 done late), 2 + 0 + 0 + 1 = 3 dates moved by agreement.
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.chain import build_team_map, chain_lines, render_team_map
from bot.dashboard import figures_data
from bot.digest import digest_markdown, manager_digest
from bot.metrics import OrgMetrics, figures, promise_kept, request_facts
from bot.models import Event, EventKind, Request
from bot.ports import Store
from bot.promises import agreed_dates, renegotiations
from bot.requests import status_after
from bot.workhours import DEFAULT_HOURS
from handlers.cli.stats import add_stats_arguments, stats_command
from handlers.console import Console
from tests.conftest import small_org

WS = "default"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WEEK = "2026-W47"
E = EventKind


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ev(kind: EventKind, when: datetime, actor: str, **kw: object) -> Event:
    return Event(kind=kind, at=when, actor_id=f"P-{actor}", **kw)  # type: ignore[arg-type]


def history(
    requester: str, provider: str, created: datetime, due: datetime | None, *events: Event, number: int = 0
) -> Request:
    """A request as the service leaves it: the created event carries the asked date, the request's
    ``due_at`` the last date set or agreed."""
    log = [Event(kind=E.CREATED, at=created, actor_id=f"P-{requester}", to_id=f"P-{provider}", due_at=due), *events]
    current = due
    for event in log:
        if event.kind in (E.DUE_AGREED, E.DUE_SET) and event.due_at is not None:
            current = event.due_at
    return Request(
        workspace=WS,
        number=number,
        requester_id=f"P-{requester}",
        provider_id=f"P-{provider}",
        text=f"{requester} needs something",
        created_at=created,
        due_at=current,
        events=log,
        status=status_after(log),
    )


def moved_twice_and_met() -> Request:
    return history(
        "alice", "bob", at(16, 10), at(18, 17),
        ev(E.ACKNOWLEDGED, at(16, 11), "bob"),
        ev(E.DUE_PROPOSED, at(17, 10), "bob", due_at=at(19, 17), note="the audit"),
        ev(E.DUE_AGREED, at(17, 11), "alice", due_at=at(19, 17)),
        ev(E.DUE_PROPOSED, at(18, 10), "bob", due_at=at(20, 17), note="the auditors are late"),
        ev(E.DUE_AGREED, at(18, 12), "alice", due_at=at(20, 17)),
        ev(E.DONE, at(20, 15), "bob"),
    )  # fmt: skip


def proposal_declined() -> Request:
    return history(
        "alice", "bob", at(16, 12), at(19, 17),
        ev(E.ACKNOWLEDGED, at(16, 13), "bob"),
        ev(E.DUE_PROPOSED, at(17, 9), "bob", due_at=at(23, 17), note="busy"),
        ev(E.DUE_DECLINED, at(17, 10), "alice", note="the board meets friday"),
        ev(E.DONE, at(19, 16), "bob"),
    )  # fmt: skip


def first_agreement_only() -> Request:
    return history(
        "alice", "carol", at(17, 9), None,
        ev(E.DUE_PROPOSED, at(17, 10), "carol", due_at=at(20, 12)),
        ev(E.DUE_AGREED, at(17, 11), "alice", due_at=at(20, 12)),
        ev(E.ACKNOWLEDGED, at(17, 12), "carol"),
    )  # fmt: skip


def moved_after_it_passed() -> Request:
    return history(
        "alice", "bob", at(16, 14), at(18, 17),
        ev(E.ACKNOWLEDGED, at(16, 15), "bob"),
        ev(E.DUE_PROPOSED, at(19, 10), "bob", due_at=at(20, 17), note="sorry, late"),
        ev(E.DUE_AGREED, at(19, 11), "alice", due_at=at(20, 17)),
        ev(E.DONE, at(20, 12), "bob"),
    )  # fmt: skip


def october() -> Request:
    return history(
        "alice", "bob", at(1, 10, month=10), at(2, 17, month=10),
        ev(E.ACKNOWLEDGED, at(1, 11, month=10), "bob"),
        ev(E.DUE_PROPOSED, at(1, 12, month=10), "bob", due_at=at(5, 17, month=10), note="later"),
        ev(E.DUE_AGREED, at(1, 13, month=10), "alice", due_at=at(5, 17, month=10)),
    )  # fmt: skip


# --------------------------------------------------------------------------- the definition


def test_an_agreed_date_moved_twice_and_met_is_kept_with_two_renegotiations() -> None:
    request = moved_twice_and_met()
    assert [due for _, due in agreed_dates(request)] == [at(18, 17), at(19, 17), at(20, 17)]
    assert renegotiations(request) == 2
    assert promise_kept(request, NOW) is True


def test_a_declined_proposal_moves_nothing() -> None:
    request = proposal_declined()
    assert renegotiations(request) == 0
    assert promise_kept(request, NOW) is True


def test_the_first_agreement_is_not_a_renegotiation() -> None:
    request = first_agreement_only()
    assert [due for _, due in agreed_dates(request)] == [at(20, 12)]
    assert renegotiations(request) == 0
    assert promise_kept(request, NOW) is False, "open after the agreed date"


def test_a_date_moved_after_it_passed_counts_as_a_renegotiation_and_the_promise_stays_broken() -> None:
    request = moved_after_it_passed()
    assert renegotiations(request) == 1
    assert promise_kept(request, NOW) is False


def test_agreeing_the_date_already_agreed_moves_nothing() -> None:
    request = history(
        "alice", "bob", at(16, 10), at(18, 17),
        ev(E.ACKNOWLEDGED, at(16, 11), "bob"),
        ev(E.DUE_PROPOSED, at(17, 10), "alice", due_at=at(18, 17), note="same as before"),
        ev(E.DUE_AGREED, at(17, 11), "bob", due_at=at(18, 17)),
    )  # fmt: skip
    assert len(agreed_dates(request)) == 2
    assert renegotiations(request) == 0


def test_a_requester_set_date_the_provider_never_agreed_is_not_moved_by_the_first_agreement() -> None:
    request = history(
        "alice", "bob", at(16, 10), None,
        ev(E.ACKNOWLEDGED, at(16, 11), "bob"),
        ev(E.DUE_SET, at(16, 12), "alice", due_at=at(18, 17)),
        ev(E.DUE_PROPOSED, at(17, 10), "bob", due_at=at(19, 17)),
        ev(E.DUE_AGREED, at(17, 11), "alice", due_at=at(19, 17)),
    )  # fmt: skip
    assert renegotiations(request) == 0


def test_figures_add_up_the_renegotiations_of_every_request_decided_or_not() -> None:
    people = {p.id: p for p in small_org()[0]}
    requests = [moved_twice_and_met(), proposal_declined(), first_agreement_only(), moved_after_it_passed()]
    facts = [request_facts(r, people=people, now=NOW, hours=DEFAULT_HOURS) for r in requests]
    assert [f.renegotiations for f in facts] == [2, 0, 0, 1]
    figs = figures(facts)
    assert (figs.promises_kept, figs.promises_total, figs.renegotiations) == (2, 4, 3)
    open_and_not_due = history(
        "alice", "bob", at(20, 10), at(27, 17),
        ev(E.ACKNOWLEDGED, at(20, 11), "bob"),
        ev(E.DUE_PROPOSED, at(20, 12), "bob", due_at=at(30, 17), note="holiday"),
        ev(E.DUE_AGREED, at(20, 13), "alice", due_at=at(30, 17)),
    )  # fmt: skip
    undecided = figures([request_facts(open_and_not_due, people=people, now=NOW, hours=DEFAULT_HOURS)])
    assert (undecided.promises_total, undecided.renegotiations) == (0, 1)


# --------------------------------------------------------------------------- the surfaces


@pytest.fixture
def moved(org_store: Store) -> Store:
    """The small org with R-1..R-5 of the table."""
    for make in (moved_twice_and_met, proposal_declined, first_agreement_only, moved_after_it_passed, october):
        org_store.create_request(make())
    return org_store


def test_the_window_counts_the_moves_of_its_requests_only(moved: Store) -> None:
    week = OrgMetrics.load(store=moved, workspace=WS, since=at(16, 0), until=at(23, 0), now=NOW, hours=DEFAULT_HOURS)
    assert week.link("T-sales", "T-fin").renegotiations == 3
    autumn = OrgMetrics.load(
        store=moved, workspace=WS, since=at(1, 0, month=10), until=at(23, 0), now=NOW, hours=DEFAULT_HOURS
    )
    assert autumn.link("T-sales", "T-fin").renegotiations == 4
    assert autumn.person("P-carol").as_provider.renegotiations == 0
    assert autumn.person("P-alice").as_customer.renegotiations == 4


def test_servechain_stats_shows_the_dates_moved_beside_promises_kept(moved: Store) -> None:
    parser = add_stats_arguments(argparse.ArgumentParser(prog="servechain stats"))
    out, err = io.StringIO(), io.StringIO()
    for argv, expected in (
        (["sales:finance"], "  Promises kept: 2 of 4 (50%) · 3 dates moved by agreement"),
        (["@carol"], "  Promises kept: 0 of 1 (0%) · no dates moved by agreement"),
    ):
        args = parser.parse_args(argv)
        code = stats_command(
            target=args.target,
            window=args.window,
            store=moved,
            workspace=WS,
            now=NOW,
            hours=DEFAULT_HOURS,
            stdout=out,
            stderr=err,
        )
        assert code == 0, err.getvalue()
        assert expected in out.getvalue().splitlines(), out.getvalue()
    args = parser.parse_args([])
    stats_command(
        target=args.target,
        window=args.window,
        store=moved,
        workspace=WS,
        now=NOW,
        hours=DEFAULT_HOURS,
        stdout=out,
        stderr=err,
    )
    assert "  Finance: 4 requests" in out.getvalue()
    assert "· promises kept 50%, 3 dates moved by agreement" in out.getvalue()


def test_the_console_stats_show_the_dates_moved(moved: Store) -> None:
    console = Console(store=moved, out=io.StringIO(), clock=lambda: NOW)
    assert console.handle_line("as alice") and console.handle_line("/request stats sales:finance")
    out = console.out
    assert isinstance(out, io.StringIO)
    assert "Promises kept: 2 of 4 (50%) · 3 dates moved by agreement" in out.getvalue()


def test_the_team_map_shows_each_links_dates_moved(moved: Store) -> None:
    team_map = build_team_map(store=moved, workspace=WS, now=NOW, window_length=timedelta(days=30), hours=DEFAULT_HOURS)
    text = render_team_map(team_map, format="text")
    assert isinstance(text, str)
    link = next(line for line in text.splitlines() if line.startswith("Sales → Finance"))
    assert link.endswith("· promises kept 2 of 4, 3 dates moved by agreement [fast]"), link
    dot = render_team_map(team_map, format="dot")
    assert isinstance(dot, str) and 'tooltip="fast · promises kept 2 of 4, 3 dates moved by agreement"' in dot
    tree = chain_lines(store=moved, workspace=WS, number=1, now=NOW, hours=DEFAULT_HOURS)
    assert "due date moved by agreement twice" in tree[0]
    assert "moved by agreement" not in chain_lines(store=moved, workspace=WS, number=2, now=NOW, hours=DEFAULT_HOURS)[0]


def test_the_digest_shows_the_dates_moved_in_its_promises(moved: Store) -> None:
    dave = moved.find_person(WS, handle="dave")
    assert dave is not None
    text = digest_markdown(manager_digest(store=moved, manager=dave, week=WEEK, now=NOW, hours=DEFAULT_HOURS))
    line = next(line for line in text.splitlines() if line.startswith("- Requests from other teams this week:"))
    assert line.endswith("· promises kept 2 of 4, 3 dates moved by agreement (1 still open)."), line
    grace = moved.find_person(WS, handle="grace")  # dave's manager: a department head with a roll-up
    assert grace is not None
    text = digest_markdown(manager_digest(store=moved, manager=grace, week=WEEK, now=NOW, hours=DEFAULT_HOURS))
    rollup = next(line for line in text.splitlines() if line.startswith("- Finance (Dave):"))
    assert "· promises 2/4, 3 moved by agreement ·" in rollup, rollup


def test_the_dashboard_figures_carry_the_dates_moved(moved: Store) -> None:
    week = OrgMetrics.load(store=moved, workspace=WS, since=at(16, 0), until=at(23, 0), now=NOW, hours=DEFAULT_HOURS)
    data = figures_data(week.link("T-sales", "T-fin"))
    assert (data["promises_kept"], data["promises_total"], data["renegotiations"]) == (2, 4, 3)
