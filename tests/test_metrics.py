"""Responsiveness figures on a hand-built org, every number worked out by hand below.

London is UTC in November, Tokyo UTC+9, New York UTC-5; working hours 09:00-18:00 Mon-Fri.

| #  | from -> to         | created (UTC)  | what happened (provider's working time)                       |
|----|--------------------|----------------|----------------------------------------------------------------|
| 1  | alice -> bob       | Mon 23 10:00   | ack 10:30 (30m), done 12:00 (2h), due Mon 17:00: kept; rated 5  |
| 2  | alice -> bob       | Mon 23 11:00   | ack 12:00 (1h), done Tue 10:00 (8h), due Mon 17:00: late; 3     |
| 3  | erin -> bob        | Tue 24 09:00   | declined 09:15 with an alternative (15m, 15m)                  |
| 4  | erin -> bob        | Tue 24 10:00   | declined 14:00 (4h), reopened, done Wed 10:00 (8h+1h=9h); 4     |
| 5  | alice -> bob       | Wed 25 09:00   | nothing; due Thu 12:00: open past due, promise broken          |
| 6  | carol -> bob       | Thu 26 09:00   | bob hands off to dave 10:00, dave acks 11:00 (2h)              |
| 7  | bob -> carol       | Mon 23 09:00   | = 18:00 Tokyo; ack 10:00 Tokyo Tue (1h), done 12:00 (3h); 2     |
| 8  | bob -> alice       | Fri 27 22:55   | = 17:55 New York; ack Mon 09:05 New York (10m); external        |
| 9  | alice -> erin      | Mon 23 09:00   | cancelled 09:30                                                |
| 10 | alice -> henry     | Mon 23 10:00   | ack 11:00 (1h); henry is in Payroll, a sub-team of Finance     |
| 11 | alice -> bob       | Thu 1 Oct      | outside the window                                             |
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import InvalidCommand, NotFound
from bot.metrics import (
    Figures,
    OrgMetrics,
    link_stats,
    median,
    parse_window,
    percentile,
    person_stats,
    provider_summary,
    team_stats,
)
from bot.models import Event, EventKind, Person, Rating, Request, Team
from bot.ports import Store
from bot.requests import status_after
from bot.stats import format_duration, format_figures, stats_text
from bot.workhours import DEFAULT_HOURS
from handlers.cli.stats import add_stats_arguments, stats_command


def stats_main(argv: list[str], **kw: object) -> int:
    """``servechain stats`` from raw arguments, on a given store (the CLI's parser and command)."""
    args = add_stats_arguments(argparse.ArgumentParser(prog="servechain stats")).parse_args(argv)
    return stats_command(target=args.target, window=args.window, **{"hours": DEFAULT_HOURS, **kw})  # type: ignore[arg-type]


WS = "default"
SINCE = datetime(2026, 11, 23, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ev(kind: EventKind, when: datetime, actor: str, **kw: object) -> Event:
    return Event(kind=kind, at=when, actor_id=f"P-{actor}", **kw)  # type: ignore[arg-type]


def add(store: Store, requester: str, provider: str, created: datetime, *events: Event, **kw: object) -> Request:
    log = [Event(kind=EventKind.CREATED, at=created, actor_id=f"P-{requester}", to_id=f"P-{provider}"), *events]
    current = provider
    for event in log:
        if event.kind == EventKind.HANDED_OFF and event.to_id:
            current = event.to_id.removeprefix("P-")
    draft = Request(
        workspace=WS,
        requester_id=f"P-{requester}",
        provider_id=f"P-{current}",
        text=f"{requester} needs something",
        created_at=created,
        events=log,
        status=status_after(log),
        **kw,  # type: ignore[arg-type]
    )
    stored, _ = store.create_request(draft)
    return stored


@pytest.fixture
def org(org_store: Store) -> Store:
    """The small org plus Payroll (under Finance) with henry, and the requests in the table."""
    org_store.save_org(
        [Person(id="P-henry", handle="henry", name="Henry", tz="Europe/London", team_id="T-pay")],
        [Team(id="T-pay", name="Payroll", parent_id="T-fin", manager_id="P-dave")],
    )
    s = org_store
    E = EventKind
    add(
        s, "alice", "bob", at(23, 10),
        ev(E.ACKNOWLEDGED, at(23, 10, 30), "bob"),
        ev(E.DONE, at(23, 12), "bob"),
        ev(E.RATED, at(23, 13), "alice", rating=Rating(score=5, needs={"friendliness": 5, "empathy": 4})),
        due_at=at(23, 17),
    )  # fmt: skip
    add(
        s, "alice", "bob", at(23, 11),
        ev(E.ACKNOWLEDGED, at(23, 12), "bob"),
        ev(E.DONE, at(24, 10), "bob"),
        ev(E.RATED, at(24, 11), "alice", rating=Rating(score=3, needs={"friendliness": 3})),
        due_at=at(23, 17),
    )  # fmt: skip
    add(s, "erin", "bob", at(24, 9), ev(E.DECLINED, at(24, 9, 15), "bob", note="no", alternative="ask carol"))
    add(
        s, "erin", "bob", at(24, 10),
        ev(E.DECLINED, at(24, 14), "bob", note="not mine"),
        ev(E.REOPENED, at(24, 15), "erin", note="it is"),
        ev(E.ACKNOWLEDGED, at(24, 15, 30), "bob"),
        ev(E.DONE, at(25, 10), "bob"),
        ev(E.RATED, at(25, 11), "erin", rating=Rating(score=4, needs={"empathy": 2, "options": 3})),
    )  # fmt: skip
    add(s, "alice", "bob", at(25, 9), due_at=at(26, 12))
    add(
        s, "carol", "bob", at(26, 9),
        ev(E.HANDED_OFF, at(26, 10), "bob", from_id="P-bob", to_id="P-dave", note="dave owns it"),
        ev(E.ACKNOWLEDGED, at(26, 11), "dave"),
    )  # fmt: skip
    add(
        s, "bob", "carol", at(23, 9),
        ev(E.ACKNOWLEDGED, at(24, 1), "carol"),
        ev(E.DONE, at(24, 3), "carol"),
        ev(E.RATED, at(24, 9), "bob", rating=Rating(score=2, needs={"information": 1})),
    )  # fmt: skip
    add(s, "bob", "alice", at(27, 22, 55), ev(E.ACKNOWLEDGED, at(30, 14, 5), "alice"), external=True)
    add(s, "alice", "erin", at(23, 9), ev(E.CANCELLED, at(23, 9, 30), "alice"))
    add(s, "alice", "henry", at(23, 10), ev(E.ACKNOWLEDGED, at(23, 11), "henry"))
    add(s, "alice", "bob", at(1, 10, month=10), ev(E.ACKNOWLEDGED, at(1, 11, month=10), "bob"))
    return s


def _org(store: Store) -> OrgMetrics:
    return OrgMetrics.load(store=store, workspace=WS, since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS)


def test_percentiles_use_the_nearest_rank() -> None:
    values = [timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    assert percentile(values, 0.9) == timedelta(minutes=90)
    assert percentile(values[:1], 0.9) == timedelta(minutes=10)
    assert percentile(values[:4], 0.9) == timedelta(minutes=40)
    assert percentile([], 0.9) is None


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_pair() -> None:
    assert median([4 * H, 1 * H, 30 * M, 15 * M]) == 45 * M
    assert median([3 * H]) == 3 * H and median([]) is None


def test_a_person_as_provider(org: Store) -> None:
    bob = person_stats(
        store=org, workspace=WS, person_id="P-bob", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    ).as_provider
    assert (bob.volume, bob.open, bob.acknowledged) == (5, 1, 4)
    # acknowledge: 15m, 30m, 1h, 4h, and R-5 still waiting since Wed 25 09:00: 27h to Fri 18:00
    # plus 6h on Mon 30 = 33h (censored). Kaplan-Meier: 4/5, 3/5, 2/5 still waiting after 15m,
    # 30m, 1h, so the median is 1h (it was 45m when the waiting request was left out); 1/5 after 4h,
    # so the p90 is not reached: over 33h.
    assert bob.median_time_to_acknowledge == 1 * H
    assert bob.p90_time_to_acknowledge is None and bob.longest_wait_to_acknowledge == 33 * H
    assert (bob.waiting_to_acknowledge, bob.waiting_to_resolve) == (1, 1)
    # resolve: 15m, 2h, 8h, 9h and R-5 open for 33h: 4/5, 3/5, 2/5 after 8h -> median 8h
    assert (bob.resolved, bob.median_time_to_resolve, bob.p90_time_to_resolve) == (4, 8 * H, None)
    assert (bob.promises_kept, bob.promises_total) == (1, 3)
    assert (bob.declined, bob.declined_with_alternative, bob.decline_rate) == (2, 1, 0.4)
    assert (bob.closed, bob.reopened, bob.reopen_rate) == (4, 1, 0.25)
    assert (bob.handed_off, bob.hand_offs) == (0, 0)
    assert (bob.rated, bob.average_rating) == (3, 4.0)
    assert bob.needs == {"friendliness": 4.0, "empathy": 3.0, "options": 3.0}
    assert bob.needs_counts == {"friendliness": 2, "empathy": 2, "options": 1}


def test_the_same_person_as_customer(org: Store) -> None:
    bob = person_stats(
        store=org, workspace=WS, person_id="P-bob", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    ).as_customer
    assert (bob.volume, bob.open, bob.external, bob.acknowledged) == (2, 1, 1, 2)
    # carol answered in 1 Tokyo working hour, alice in 10 New York working minutes over a weekend
    assert (bob.median_time_to_acknowledge, bob.p90_time_to_acknowledge) == (35 * M, 1 * H)
    assert (bob.median_time_to_resolve, bob.p90_time_to_resolve) == (3 * H, 3 * H)
    assert (bob.rated, bob.average_rating, bob.needs) == (1, 2.0, {"information": 1.0})
    assert (bob.promises_total, bob.declined, bob.reopened) == (0, 0, 0)


def test_hand_offs_count_for_the_provider_who_holds_the_request(org: Store) -> None:
    dave = person_stats(
        store=org, workspace=WS, person_id="P-dave", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    )
    figs = dave.as_provider
    assert (figs.volume, figs.handed_off, figs.hand_offs) == (1, 1, 1)
    assert figs.median_time_to_acknowledge == 2 * H  # from creation, the requester's whole wait
    assert dave.as_customer == Figures()


def test_cancelled_requests_count_in_volume_but_have_no_times(org: Store) -> None:
    erin = person_stats(
        store=org, workspace=WS, person_id="P-erin", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    ).as_provider
    assert (erin.volume, erin.open, erin.acknowledged, erin.resolved, erin.closed) == (1, 0, 0, 0, 0)
    assert erin.median_time_to_acknowledge is None and erin.average_rating is None


def test_a_team_with_its_sub_teams_on_both_sides(org: Store) -> None:
    finance = team_stats(
        store=org, workspace=WS, team_id="T-fin", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    )
    provider = finance.as_provider  # R-1..7 and R-10 (Payroll)
    assert provider.volume == 8
    # acknowledge: 15m, 30m, 1h, 1h, 1h, 2h, 4h and R-5 waiting 33h: 3/8 still waiting after 1h,
    # 1/8 after 4h, so the p90 is not reached
    assert (provider.median_time_to_acknowledge, provider.p90_time_to_acknowledge) == (1 * H, None)
    assert provider.rated == 4 and provider.average_rating == pytest.approx(3.5)
    customer = finance.as_customer  # R-6 (carol), R-7 and R-8 (bob)
    assert (customer.volume, customer.handed_off, customer.external) == (3, 1, 1)
    payroll = team_stats(
        store=org, workspace=WS, team_id="T-pay", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    )
    assert payroll.as_provider.volume == 1 and payroll.as_customer.volume == 0
    sales = team_stats(
        store=org, workspace=WS, team_id="T-sales", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    )
    assert (sales.as_provider.volume, sales.as_customer.volume) == (2, 7)


def test_team_links_go_from_the_requesters_team_to_the_providers(org: Store) -> None:
    sales_to_finance = link_stats(
        store=org,
        workspace=WS,
        from_team="T-sales",
        to_team="T-fin",
        since=SINCE,
        until=UNTIL,
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    bob = person_stats(
        store=org, workspace=WS, person_id="P-bob", since=SINCE, until=UNTIL, now=NOW, hours=DEFAULT_HOURS
    )
    assert sales_to_finance == bob.as_provider  # R-1..R-5 exactly
    links = _org(org).links()
    assert {pair: figs.volume for pair, figs in links.items()} == {
        ("T-fin", "T-fin"): 2,
        ("T-fin", "T-sales"): 1,
        ("T-sales", "T-fin"): 5,
        ("T-sales", "T-pay"): 1,
        ("T-sales", "T-sales"): 1,
    }
    assert links[("T-fin", "T-sales")].median_time_to_acknowledge == 10 * M


def test_the_window_selects_requests_by_creation_time(org: Store) -> None:
    october = OrgMetrics.load(
        store=org, workspace=WS, since=at(1, 0, month=10), until=at(2, 0, month=10), now=NOW, hours=DEFAULT_HOURS
    )
    assert [f.number for f in october.facts] == [11]
    assert october.person("P-bob").as_provider.median_time_to_acknowledge == 1 * H


def test_provider_summary_keeps_the_app_home_fields(org: Store) -> None:
    summary = provider_summary(
        store=org, workspace=WS, person_id="P-bob", since=SINCE, until=UNTIL, hours=DEFAULT_HOURS
    )
    assert (summary.received, summary.open_now) == (5, 1)
    assert summary.median_time_to_acknowledge == 1 * H  # R-5 still waiting counts (see above)
    assert (summary.promises_kept, summary.promises_total) == (1, 3)
    assert summary.p90_time_to_acknowledge is None and summary.average_rating == 4.0


def test_windows_are_written_like_30d() -> None:
    assert parse_window("30d") == timedelta(days=30)
    assert parse_window("2w") == timedelta(weeks=2)
    assert parse_window("12h") == timedelta(hours=12)
    assert parse_window("7") == timedelta(days=7)
    for bad in ("", "0d", "thirty days", "3y"):
        with pytest.raises(InvalidCommand):
            parse_window(bad)


# --------------------------------------------------------------------------- as text


def test_durations_read_as_working_hours_and_minutes() -> None:
    assert [format_duration(v) for v in (None, timedelta(0), timedelta(seconds=20), 45 * M, 3 * H + 5 * M, 26 * H)] == [
        "-",
        "0m",
        "<1m",
        "45m",
        "3h 05m",
        "26h",
    ]


def test_stats_text_shows_both_sides_of_a_person(org: Store) -> None:
    bob = org.find_person(WS, handle="bob")
    assert bob is not None
    text = stats_text(org=_org(org), person=bob, tz="Europe/London")
    assert text.splitlines()[0] == (
        "Bob (@bob) · Finance · requests created Mon 23 Nov 2026 – Tue 01 Dec 2026 · times in working hours"
    )
    assert "As provider (what others asked of bob):\n  Requests: 5 (1 open)" in text
    assert "  To acknowledge: median 1h · p90 over 33h (4 acknowledged, 1 still waiting)" in text
    assert "  To resolve: median 8h · p90 over 33h (4 done or declined, 1 still open)" in text
    assert "  Promises kept: 1 of 3 (33%) · no dates moved by agreement" in text.splitlines()
    assert "  Declined: 2 (40%) · with an alternative: 1 of 2" in text
    assert "  Reopened: 1 of 4 closed (25%)" in text
    assert "  Rating: 4.0/5 from 3 ratings" in text
    assert "  Needs: friendliness 4.0 (2) · empathy 3.0 (2) · options 3.0 (1)" in text
    assert "As customer (what bob asked of others):\n  Requests: 2 (1 open, 1 for external customers)" in text
    assert "  To acknowledge: median 35m · p90 1h (2 acknowledged, 0 still waiting)" in text


def test_stats_text_for_teams_links_and_the_whole_org(org: Store) -> None:
    metrics = _org(org)
    finance = stats_text(org=metrics, team="finance")
    assert finance.startswith("Finance (team, with Payroll)")
    assert "As provider (what others asked of Finance):\n  Requests: 8 (3 open)" in finance
    link = stats_text(org=metrics, team="Sales->Finance")
    assert link.startswith("Sales → Finance")
    assert "  Requests: 5 (1 open)" in link
    everyone = stats_text(org=metrics)
    assert "Teams as providers:" in everyone
    assert (
        "  Sales → Finance: 5 requests · acknowledge median 1h / p90 over 33h · resolve median 8h · 1 waiting"
        " · promises kept 1 of 3"
    ) in everyone.splitlines()
    assert stats_text(org=metrics, team="sales:finance") == link  # the shell-safe spelling
    assert stats_text(org=metrics, team="@carol").startswith("Carol (@carol)")
    with pytest.raises(NotFound):
        stats_text(org=metrics, team="marketing")


def test_empty_figures_say_so() -> None:
    assert format_figures(Figures()) == ["  No requests in this window."]


def test_servechain_stats_prints_figures_and_exit_codes(org: Store) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert stats_main(["@bob", "--window", "30d"], store=org, workspace=WS, now=NOW, stdout=out, stderr=err) == 0
    assert "Bob (@bob)" in out.getvalue() and "As customer" in out.getvalue()
    out = io.StringIO()
    assert stats_main([], store=org, workspace=WS, now=NOW, stdout=out, stderr=err) == 0
    assert out.getvalue().startswith("Whole organisation")
    assert stats_main(["nobody"], store=org, workspace=WS, now=NOW, stdout=out, stderr=err) == 1
    assert stats_main(["@nobody"], store=org, workspace=WS, now=NOW, stdout=out, stderr=err) == 1
    assert stats_main(["--window", "soon"], store=org, workspace=WS, now=NOW, stdout=out, stderr=err) == 2
    assert "servechain stats: I don't understand the window 'soon'" in err.getvalue()
