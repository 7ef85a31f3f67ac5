"""``/request team`` and ``/request patterns`` through the one command entry (dispatch), on a real
TinyDB store with the small org (dave manages Finance: bob and carol)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import commands
from bot.dispatch import run_request
from bot.models import Event, EventKind, Person, Rating, Request
from bot.ports import Store
from bot.requests import status_after

WS = "default"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday


def add(store: Store, requester: str, provider: str, created: datetime, *events: Event, **kw: object) -> Request:
    log = [Event(kind=EventKind.CREATED, at=created, actor_id=f"P-{requester}", to_id=f"P-{provider}"), *events]
    draft = Request(
        workspace=WS,
        requester_id=f"P-{requester}",
        provider_id=f"P-{provider}",
        text=f"{requester} needs something",
        created_at=created,
        events=log,
        status=status_after(log),
        **kw,  # type: ignore[arg-type]
    )
    stored, _ = store.create_request(draft)
    return stored


def person(store: Store, handle: str) -> Person:
    found = store.find_person(WS, handle=handle)
    assert found is not None
    return found


def test_team_and_patterns_parse_and_accept_the_shell_safe_link() -> None:
    assert isinstance(commands.parse_request("team", now=NOW, tz="UTC"), commands.TeamStuck)
    parsed = commands.parse_request("patterns sales:finance", now=NOW, tz="UTC")
    assert isinstance(parsed, commands.Patterns) and parsed.scope == "sales:finance"
    assert isinstance(commands.parse_request("team now", now=NOW, tz="UTC"), commands.Usage)


def test_a_manager_sees_what_is_stuck_grouped_with_actions(org_store: Store) -> None:
    s = org_store
    # overdue: due Tue 17:00, still open
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=NOW - timedelta(hours=22))
    # unacknowledged: created Mon 09:00 UTC = 18:00 in Tokyo; Carol has had Tue and Wed (now Thu 00:00
    # Tokyo): 9h + 9h = 18h > 4h
    add(s, "erin", "carol", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    # waiting on another team: bob acknowledged and asked frank (Sales) for part of it
    parent = add(
        s,
        "alice",
        "bob",
        NOW - timedelta(hours=3),
        Event(kind=EventKind.ACKNOWLEDGED, at=NOW - 2 * timedelta(hours=1), actor_id="P-bob"),
    )
    add(s, "bob", "frank", NOW - timedelta(hours=1), parent=parent.number)
    # in recovery: done, rated 1, no satisfied follow-up
    done = NOW - timedelta(days=1)
    add(
        s, "erin", "carol", done - timedelta(hours=2),
        Event(kind=EventKind.ACKNOWLEDGED, at=done - timedelta(hours=1), actor_id="P-carol"),
        Event(kind=EventKind.DONE, at=done, actor_id="P-carol"),
        Event(
            kind=EventKind.RATED, at=done + timedelta(hours=1), actor_id="P-erin",
            rating=Rating(score=1, comment="wrong numbers"),
        ),
    )  # fmt: skip
    reply = run_request(store=s, actor=person(s, "dave"), text="team", now=NOW)
    assert reply.ok, reply.text
    text = reply.text
    assert "Overdue (1):\n  R-1 held by Bob, asked by Alice: overdue since" in text
    assert "agree a new date with Alice" in text
    assert "Unacknowledged (1):\n  R-2 held by Carol, asked by Erin: unacknowledged for 18h (working time)" in text
    assert "Waiting on another team (1):\n  R-3 held by Bob, asked by Alice: waiting on R-4 with Frank" in text
    assert "In recovery (1):\n  R-5 held by Carol, asked by Erin: poorly rated, not yet put right" in text
    assert "you can: reassign: /request show R-2 (Reassign) · nudge Carol" in text
    refused = run_request(store=s, actor=person(s, "bob"), text="team", now=NOW)
    assert not refused.ok and "nobody reports to you" in refused.text


def test_patterns_in_chat_are_for_managers_and_name_no_requests(org_store: Store) -> None:
    s = org_store
    for n, comment in enumerate(("numbers were wrong", "wrong totals again")):
        done = NOW - timedelta(days=2, hours=n)
        add(
            s, "alice", "bob", done - timedelta(hours=1),
            Event(kind=EventKind.DONE, at=done, actor_id="P-bob"),
            Event(
                kind=EventKind.RATED, at=done + timedelta(minutes=5), actor_id="P-alice",
                rating=Rating(score=2, comment=comment),
            ),
            tags=["q3"],
        )  # fmt: skip
    reply = run_request(store=s, actor=person(s, "dave"), text="patterns sales:finance", now=NOW)
    assert reply.ok, reply.text
    assert reply.text.splitlines()[0].startswith("Complaint patterns · Sales → Finance")
    assert "Complaints: 2 of 2 requests (up from 0 in the previous window)." in reply.text
    assert "By tag: q3 2." in reply.text and "From teams: Sales 2." in reply.text
    assert "Recurring in comments: “wrong…” 2." in reply.text and "R-1" not in reply.text
    assert not run_request(store=s, actor=person(s, "alice"), text="patterns finance", now=NOW).ok
    own = run_request(store=s, actor=person(s, "bob"), text="patterns", now=NOW)
    assert own.ok and "Bob (@bob)" in own.text
