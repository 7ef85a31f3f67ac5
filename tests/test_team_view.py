"""``/request team`` and ``/request patterns`` through the one command entry (dispatch), on a real
TinyDB store with the small org (dave manages Finance: bob and carol)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import commands
from bot.clicks import Click, ClickResult, run_click
from bot.dispatch import run_digest, run_request
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.models import ActionId, Event, EventKind, Person, Rating, Request
from bot.nudges import NudgeJob
from bot.ports import Store
from bot.requests import ActionInput, status_after
from bot.workhours import DEFAULT_HOURS

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
    assert isinstance(commands.parse_request("team", now=NOW, tz="UTC", hours=DEFAULT_HOURS), commands.TeamStuck)
    parsed = commands.parse_request("patterns sales:finance", now=NOW, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(parsed, commands.Patterns) and parsed.scope == "sales:finance"
    assert isinstance(commands.parse_request("team now", now=NOW, tz="UTC", hours=DEFAULT_HOURS), commands.Usage)


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
    reply = run_request(store=s, actor=person(s, "dave"), text="team", now=NOW, hours=DEFAULT_HOURS)
    assert reply.ok, reply.text
    text = reply.text
    assert "Overdue (1):\n  R-1 held by Bob, asked by Alice: overdue since" in text
    assert "you can: reassign · nudge Bob · extend the date if Alice agrees" in text
    assert "Unacknowledged (1):\n  R-2 held by Carol, asked by Erin: unacknowledged for 18h (working time)" in text
    assert "Waiting on another team (1):\n  R-3 held by Bob, asked by Alice: waiting on R-4 with Frank" in text
    assert "In recovery (1):\n  R-5 held by Carol, asked by Erin: poorly rated, not yet put right" in text
    assert "you can: reassign · nudge Carol\n" in text  # no due date: nothing to extend
    assert "you can: talk to Carol about putting it right" in text  # closed: no buttons
    refused = run_request(store=s, actor=person(s, "bob"), text="team", now=NOW, hours=DEFAULT_HOURS)
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
    reply = run_request(store=s, actor=person(s, "dave"), text="patterns sales:finance", now=NOW, hours=DEFAULT_HOURS)
    assert reply.ok, reply.text
    assert reply.text.splitlines()[0].startswith("Complaint patterns · Sales → Finance")
    assert "Complaints: 2 of 2 requests (up from 0 in the previous window)." in reply.text
    assert "By tag: q3 2." in reply.text and "From teams: Sales 2." in reply.text
    assert "Recurring in comments: “wrong…” 2." in reply.text and "R-1" not in reply.text
    assert not run_request(store=s, actor=person(s, "alice"), text="patterns finance", now=NOW, hours=DEFAULT_HOURS).ok
    own = run_request(store=s, actor=person(s, "bob"), text="patterns", now=NOW, hours=DEFAULT_HOURS)
    assert own.ok and "Bob (@bob)" in own.text


# --------------------------------------------------------------------------- the manager's buttons


def click(store: Store, who: str, action: ActionId, number: int, at: datetime = NOW, **kw: object) -> ClickResult:
    return run_click(
        store=store,
        click=Click(platform="test", actor=person(store, who), action=action, request=number, **kw),
        now=at,
        hours=DEFAULT_HOURS,
    )  # type: ignore[arg-type]


def test_the_card_gives_each_stuck_open_request_nudge_reassign_and_extend_when_it_has_a_date(org_store: Store) -> None:
    s = org_store
    due = NOW - timedelta(hours=22)
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=due)  # overdue
    add(s, "erin", "carol", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # unacknowledged, no date
    card = run_request(store=s, actor=person(s, "dave"), text="team", now=NOW, hours=DEFAULT_HOURS).card
    assert card is not None and not card.actions
    buttons = {a.label: a for section in card.sections for a in section.actions}
    assert set(buttons) == {"Nudge R-1", "Reassign R-1", "Extend R-1", "Nudge R-2", "Reassign R-2"}
    assert buttons["Extend R-1"].inputs == ["due", "note"] and buttons["Extend R-1"].value == due.isoformat()
    titled = [section.title for section in card.sections if section.title]
    assert titled == ["Overdue (1)", "Unacknowledged (1)", "Waiting on another team (0)", "In recovery (0)"]


def test_a_manager_nudges_the_provider_once_a_day_recorded_in_the_log_and_on_the_card(org_store: Store) -> None:
    s = org_store
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=NOW - timedelta(hours=22))
    result = click(s, "dave", ActionId.NUDGE, 1)
    assert result.reply == "You nudged bob about R-1; it is in its history."
    stored = s.get_request(WS, 1)
    assert stored is not None and stored.events[-1].kind == EventKind.NUDGED
    assert (stored.events[-1].actor_id, stored.events[-1].to_id) == ("P-dave", "P-bob")
    to_bob = [m for m in result.queued if m.recipient_id == "P-bob"]
    note = next(m for m in to_bob if m.kind == "update")
    assert note.text.startswith("Dave nudged you about R-1: please acknowledge it")
    card = next(m for m in to_bob if m.kind == "provider_card")
    assert any(f.label == "Nudged" and f.value.startswith("by Dave, Wed 25 Nov") for f in card.facts)
    assert card.history[-1].endswith("dave nudged bob")
    assert not [m for m in result.queued if m.recipient_id == "P-alice" and m.kind == "update"]
    # a second nudge the same day (also by grace, higher up the chain) is refused and changes nothing
    for who in ("dave", "grace"):
        with pytest.raises(
            InvalidTransition,
            match=r"^Dave already nudged bob about R-1 on Wed 25 Nov 15:00 \(their time\): one nudge a working day\. "
            r"You can nudge again from Thu 26 Nov 00:00, their time\.$",
        ):
            click(s, who, ActionId.NUDGE, 1, at=NOW + timedelta(hours=1))
    assert s.get_request(WS, 1).version == stored.version  # type: ignore[union-attr]
    tomorrow = click(s, "grace", ActionId.NUDGE, 1, at=NOW + timedelta(days=1))
    assert tomorrow.request is not None and tomorrow.request.events[-1].actor_id == "P-grace"


def test_a_nudge_outside_working_hours_counts_for_the_next_working_day(org_store: Store) -> None:
    s = org_store
    add(s, "alice", "bob", NOW - timedelta(days=2))
    friday, saturday = datetime(2026, 11, 27, 10, tzinfo=UTC), datetime(2026, 11, 28, 12, tzinfo=UTC)
    click(s, "dave", ActionId.NUDGE, 1, at=friday)
    click(s, "dave", ActionId.NUDGE, 1, at=saturday)  # another day; it counts for Monday
    with pytest.raises(InvalidTransition, match=r"on Sat 28 Nov 12:00 .* again from Mon 30 Nov 18:00"):
        click(s, "dave", ActionId.NUDGE, 1, at=datetime(2026, 11, 30, 10, tzinfo=UTC))  # Monday


@pytest.mark.parametrize(
    ("who", "refusal"),
    [
        ("alice", NotAllowed),  # the requester
        ("bob", NotAllowed),  # the provider himself
        ("frank", NotFound),  # the requester's manager: not on the request
        ("erin", NotFound),
    ],
)
def test_only_the_providers_manager_chain_may_nudge_or_extend(org_store: Store, who: str, refusal: type) -> None:
    s = org_store
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=NOW - timedelta(hours=22))
    before = s.get_request(WS, 1)
    with pytest.raises(refusal) as nudge:
        click(s, who, ActionId.NUDGE, 1)
    with pytest.raises(refusal):
        click(s, who, ActionId.EXTEND_DUE, 1, inputs=ActionInput(due="friday", note="audit"))
    if refusal is NotAllowed:
        assert str(nudge.value.message) == "Only bob's manager can nudge the provider of R-1."
    assert s.get_request(WS, 1) == before and s.count_outbox(WS) == 0


def test_an_extension_is_a_proposal_to_the_requester_and_changes_the_date_only_when_accepted(org_store: Store) -> None:
    s = org_store
    due = NOW - timedelta(hours=22)
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=due)
    result = click(
        s, "dave", ActionId.EXTEND_DUE, 1, value=due.isoformat(), inputs=ActionInput(due="friday", note="audit first")
    )
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Dave is in London
    assert result.reply.startswith("You proposed Fri 27 Nov 17:00 GMT for R-1; alice has been asked to accept it")
    stored = s.get_request(WS, 1)
    assert stored is not None and stored.due_at == due  # unchanged until Alice accepts
    proposed = stored.events[-1]
    assert (proposed.kind, proposed.actor_id, proposed.to_id, proposed.due_at) == (
        EventKind.DUE_PROPOSED, "P-dave", "P-alice", friday,
    )  # fmt: skip
    alices = next(m for m in result.queued if m.recipient_id == "P-alice" and m.kind == "requester_card")
    assert [a.id for a in alices.actions][:2] == [ActionId.ACCEPT_DUE, ActionId.DECLINE_DUE]
    bobs = next(m for m in result.queued if m.recipient_id == "P-bob" and m.kind == "provider_card")
    assert not {ActionId.ACCEPT_DUE, ActionId.DECLINE_DUE} & {a.id for a in bobs.actions}
    told = next(m for m in result.queued if m.recipient_id == "P-bob" and m.kind == "update")
    assert told.text.startswith("Dave proposed moving R-1 to Fri 27 Nov 17:00 GMT (audit first); alice has been asked")
    # Bob can't accept his manager's proposal for Alice; Alice can
    with pytest.raises(NotAllowed, match="Dave proposed that date to alice; only they can answer it"):
        click(s, "bob", ActionId.ACCEPT_DUE, 1)
    accepted = click(s, "alice", ActionId.ACCEPT_DUE, 1)
    assert accepted.request is not None and accepted.request.due_at == friday
    assert any(m.recipient_id == "P-bob" for m in accepted.queued if m.kind == "update")  # the provider is told
    to_dave = [m for m in accepted.queued if m.recipient_id == "P-dave"]
    assert [m.text for m in to_dave] == ["alice agreed the due date: Fri 27 Nov 17:00 GMT"]
    # the team view's old Extend button (made for the old date) is now outdated
    with pytest.raises(InvalidTransition, match="R-1's due date has changed since this list was made"):
        click(s, "dave", ActionId.EXTEND_DUE, 1, value=due.isoformat(), inputs=ActionInput(due="monday", note="x"))


def test_outdated_or_unfit_extensions_are_refused_clearly_and_change_nothing(org_store: Store) -> None:
    s = org_store
    due = NOW + timedelta(days=1)
    add(s, "alice", "bob", NOW - timedelta(days=2), due_at=due)
    add(s, "alice", "bob", NOW - timedelta(days=2))  # no due date
    add(s, "alice", "bob", NOW - timedelta(days=2), Event(kind=EventKind.DONE, at=NOW, actor_id="P-bob"), due_at=due)
    cases = [
        (1, ActionInput(due="monday"), InvalidCommand, "Please give a reason for the new date"),
        (1, ActionInput(due="in 1 hour", note="x"), InvalidCommand, "An extension has to be later than R-1's due date"),
        (2, ActionInput(due="monday", note="x"), InvalidTransition, "R-2 has no due date to extend"),
        (3, ActionInput(due="monday", note="x"), InvalidTransition, "R-3 is already done, so you can't propose"),
    ]
    for number, inputs, error, message in cases:
        before = s.get_request(WS, number)
        with pytest.raises(error, match=message):
            click(s, "dave", ActionId.EXTEND_DUE, number, inputs=inputs)
        assert s.get_request(WS, number) == before
    click(s, "dave", ActionId.EXTEND_DUE, 1, value=due.isoformat(), inputs=ActionInput(due="monday", note="audit"))
    with pytest.raises(
        InvalidTransition, match=r"You already proposed Mon 30 Nov 17:00 GMT for R-1; it is waiting for alice"
    ):
        click(s, "dave", ActionId.EXTEND_DUE, 1, value=due.isoformat(), inputs=ActionInput(due="tuesday", note="x"))
    with pytest.raises(InvalidTransition, match="R-3 is already done, so you can't nudge the provider of it"):
        click(s, "dave", ActionId.NUDGE, 3)


# --------------------------------------------------------------------------- escalations: what the scheduler did


def test_an_escalation_is_what_the_job_recorded_and_team_patterns_and_digest_agree_on_it(org_store: Store) -> None:
    s = org_store
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    add(s, "alice", "bob", monday)  # Bob (London) never answers; 16 working h (9-18) end Tue 16:00
    # Carol (Tokyo) answered after 18 working h, before the job ran: a long wait, never escalated
    add(
        s,
        "alice",
        "carol",
        monday,
        Event(kind=EventKind.ACKNOWLEDGED, at=monday + timedelta(days=2), actor_id="P-carol"),
    )
    job = NudgeJob(hours=DEFAULT_HOURS)
    run_at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wed, Dave's working hours
    job.run(store=s, workspace=WS, now=run_at)
    NudgeJob(hours=DEFAULT_HOURS).run(store=s, workspace=WS, now=run_at + timedelta(hours=1))  # a restarted scheduler
    escalations = [e for e in s.get_request(WS, 1).events if e.kind == EventKind.ESCALATED]  # type: ignore[union-attr]
    assert [(e.at, e.actor_id, e.to_id) for e in escalations] == [(run_at, "servechain", "P-dave")]
    assert not [e for e in s.get_request(WS, 2).events if e.kind == EventKind.ESCALATED]  # type: ignore[union-attr]
    now = run_at + timedelta(hours=2)  # Wed 12:00: Bob has waited Mon 9h + Tue 9h + Wed 3h = 21h
    team = run_request(store=s, actor=person(s, "dave"), text="team", now=now, hours=DEFAULT_HOURS).text
    assert (
        "R-1 held by Bob, asked by Alice: unacknowledged for 21h (working time); escalated to Dave Wed 25 Nov 10:00"
        in team
    )
    patterns = run_request(
        store=s, actor=person(s, "grace"), text="patterns finance", now=now, hours=DEFAULT_HOURS
    ).text
    assert "Complaints: 1 of 2 requests" in patterns and "escalation 1" in patterns  # R-2 waited as long: not one
    digest = run_digest(store=s, actor=person(s, "dave"), text="now", now=now, hours=DEFAULT_HOURS)
    assert digest.card is not None
    lines = [line for section in digest.card.sections for line in section.lines]
    assert any("escalation 1" in line for line in lines), lines


def test_an_escalation_claimed_without_its_event_gets_it_at_the_time_it_fell_due(org_store: Store) -> None:
    """A crash between queuing the manager's message and recording the event (or a claim taken by a
    version before these events) leaves the claim alone: the next run records it, once, sending nothing."""
    s = org_store
    add(s, "alice", "bob", datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    run_at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert s.claim(WS, "escalate:R-1:e0", at=run_at)
    report = NudgeJob(hours=DEFAULT_HOURS).run(store=s, workspace=WS, now=run_at)
    assert "escalate:R-1:e0" in report.already and not any(m.recipient_id == "P-dave" for m in report.sent)
    escalations = [e for e in s.get_request(WS, 1).events if e.kind == EventKind.ESCALATED]  # type: ignore[union-attr]
    assert [(e.at, e.to_id) for e in escalations] == [(datetime(2026, 11, 24, 16, 0, tzinfo=UTC), "P-dave")]
