"""The anonymous weekly pulse: who is asked and when, answering once, and that nothing an answer
stores can be joined back to the person who gave it (see the reasoning in ``bot.pulse``)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import InvalidCommand, NotAllowed
from bot.models import ActionId, Person, Team
from bot.ports import Store
from bot.pulse import (
    ANSWER_DOC,
    MARKER_PREFIX,
    PulseIndex,
    PulseJob,
    PulseSettings,
    answer_pulse,
    pulse_team,
    week_code,
    week_from_code,
    week_start,
)
from bot.workhours import DEFAULT_HOURS
from tests.conftest import small_org

WS = "default"
WEEK = "2026-W48"
FRIDAY = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # London = UTC; Tokyo 23:00; New York 09:00


def people_of(store: Store) -> dict[str, Person]:
    return {p.handle: p for p in store.list_people(WS)}


def _ask_everyone(store: Store) -> None:
    job = PulseJob(hours=DEFAULT_HOURS)
    for hour in (5, 14, 19):  # Tokyo, London and New York afternoons
        job.run(store=store, workspace=WS, now=FRIDAY.replace(hour=hour))


def test_everyone_with_a_team_is_asked_once_on_friday_afternoon_their_time(org_store: Store) -> None:
    job = PulseJob(hours=DEFAULT_HOURS)
    asked: list[tuple[datetime, str]] = []
    now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    while now < datetime(2026, 11, 30, 0, 0, tzinfo=UTC):
        report = job.run(store=org_store, workspace=WS, now=now)
        asked += [(now, key) for key in report.claimed]
        now += timedelta(hours=1)
    assert asked == [
        # carol is in Tokyo: Friday 14:00 there is 05:00 UTC
        (datetime(2026, 11, 27, 5, 0, tzinfo=UTC), "pulse:P-carol:2026-W48"),
        (FRIDAY, "pulse:P-bob:2026-W48"),
        (FRIDAY, "pulse:P-erin:2026-W48"),
        (FRIDAY, "pulse:P-grace:2026-W48"),
        # alice is in New York: 14:00 there is 19:00 UTC; robot is a bot and never asked; dave and
        # frank head teams with nothing above them, so they have no team to answer for
        (datetime(2026, 11, 27, 19, 0, tzinfo=UTC), "pulse:P-alice:2026-W48"),
    ]
    assert PulseJob(hours=DEFAULT_HOURS).run(store=org_store, workspace=WS, now=FRIDAY).sent == [], (
        "a restart asks nobody twice"
    )
    [message] = [i.message for i in org_store.list_outbox(WS) if i.message.recipient_id == "P-bob"]
    assert message.kind == "pulse" and "How well supported by your manager" in message.text
    [action] = message.actions
    assert (action.id, action.value, action.request) == (ActionId.PULSE, WEEK, 202648)
    assert action.inputs == ["manager_support", "service", "comment"]


def test_weeks_round_trip_through_a_button() -> None:
    assert week_from_code(week_code("2026-W48")) == "2026-W48"
    assert week_start("2026-W01") == datetime(2025, 12, 29, tzinfo=UTC)
    with pytest.raises(InvalidCommand):
        week_from_code(202660)


def _identity_values(people: list[Person]) -> set[str]:
    values: set[str] = set()
    for person in people:
        values |= {person.id, person.handle, person.name, *(v for v in (person.email, person.teams_id) if v)}
        values |= set(person.slack_ids.values())
    return {v.lower() for v in values}


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _leaves(v)]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    return [str(value)]


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def test_nothing_stored_by_answering_can_be_joined_back_to_the_person(org_store: Store) -> None:
    """Every record the answers wrote (a diff of the whole store): no identity of anyone, no time
    finer than the week, nothing shared between the "answered" markers and the answers, and
    the answers listed in an order that is not the order people answered in."""
    _ask_everyone(org_store)
    before = {json.dumps(r, sort_keys=True) for r in org_store.export_records()}
    people = people_of(org_store)
    answered = ["bob", "carol", "grace", "erin"]  # three from Finance, one from Sales, in this order
    scores = {"bob": (5, 1), "carol": (4, 2), "grace": (3, 3), "erin": (2, 4)}
    tokens = random.Random(4)
    for handle in answered:
        support, service = scores[handle]
        reply = answer_pulse(
            store=org_store,
            person=people[handle],
            week=WEEK,
            manager_support=support,
            service=service,
            comment=f"comment {support}",
            now=FRIDAY + timedelta(hours=2),
            rng=tokens,
        )
        assert reply.startswith("Thanks!")
    new = [json.loads(r) for r in {json.dumps(r, sort_keys=True) for r in org_store.export_records()} - before]
    identities = _identity_values(org_store.list_people(WS))
    week_start_text = week_start(WEEK).isoformat()
    for kind, record in new:
        for text in _strings(record):
            assert text.lower() not in identities, f"{kind} record names someone: {record}"
            assert not any(i in text.lower() for i in identities if len(i) > 4), f"{kind} record names someone"
            for stamp in _TIMESTAMP.findall(text):
                assert week_start_text.startswith(stamp), f"{kind} record has a time finer than the week: {record}"
    kinds = sorted(kind for kind, _ in new)
    assert kinds == ["claims"] * 4 + ["docs"] * 5, "four markers, four answers and the salt; nothing else"
    markers = [r for k, r in new if k == "claims"]
    answers = [r for k, r in new if k == "docs" and r["kind"] == ANSWER_DOC]
    assert all(m["key"].startswith(MARKER_PREFIX) and m["at"] == week_start_text for m in markers)
    marker_values = {s for m in markers for s in _leaves(m)} - {WS, week_start_text}
    answer_values = {s for a in answers for s in _leaves(a)}
    assert not marker_values & answer_values, "markers and answers share no value to join on"
    assert all(set(a["doc"]) == {"team", "week", "manager_support", "service", "comment"} for a in answers)
    listed = [doc["manager_support"] for _key, doc in org_store.list_docs(ANSWER_DOC, WS)]
    assert sorted(listed) == [2, 3, 4, 5] and listed != [5, 4, 3, 2], "not in the order people answered"
    assert all(re.fullmatch(r"T-(fin|sales):2026-W48:[0-9a-f]{32}", a["key"]) for a in answers)


def test_answering_twice_counts_once(org_store: Store) -> None:
    _ask_everyone(org_store)
    bob = people_of(org_store)["bob"]
    first = answer_pulse(store=org_store, person=bob, week=WEEK, manager_support=4, service=4, comment=None, now=FRIDAY)
    again = answer_pulse(store=org_store, person=bob, week=WEEK, manager_support=1, service=1, comment=None, now=FRIDAY)
    assert first.startswith("Thanks!") and "already answered" in again
    assert [doc["manager_support"] for _k, doc in org_store.list_docs(ANSWER_DOC, WS)] == [4]


def test_answers_need_a_pulse_that_was_sent_still_open_and_scores_from_one_to_five(org_store: Store) -> None:
    bob = people_of(org_store)["bob"]
    with pytest.raises(NotAllowed, match="haven't asked you"):
        answer_pulse(store=org_store, person=bob, week=WEEK, manager_support=4, service=4, comment=None, now=FRIDAY)
    _ask_everyone(org_store)
    with pytest.raises(InvalidCommand, match="from 1 to 5") as bad:
        answer_pulse(store=org_store, person=bob, week=WEEK, manager_support=6, service=4, comment=None, now=FRIDAY)
    assert bad.value.field == "manager_support"
    with pytest.raises(InvalidCommand, match="from 1 to 5"):
        answer_pulse(store=org_store, person=bob, week=WEEK, manager_support=4, service="x", comment=None, now=FRIDAY)
    with pytest.raises(InvalidCommand, match="limit is 1000"):
        answer_pulse(
            store=org_store, person=bob, week=WEEK, manager_support=4, service=4, comment="x" * 1001, now=FRIDAY
        )
    with pytest.raises(NotAllowed, match="closed"):
        answer_pulse(
            store=org_store,
            person=bob,
            week=WEEK,
            manager_support=4,
            service=4,
            comment=None,
            now=FRIDAY + timedelta(days=10),
        )
    assert org_store.list_docs(ANSWER_DOC, WS) == [], "nothing was stored by the refused answers"


def test_a_manager_answers_for_the_team_above_theirs_and_a_top_manager_for_none() -> None:
    teams = {
        "T-ops": Team(id="T-ops", name="Operations", manager_id="P-mia"),
        "T-fin": Team(id="T-fin", name="Finance", manager_id="P-dan", parent_id="T-ops"),
    }
    dan = Person(id="P-dan", handle="dan", name="Dan", team_id="T-fin")
    fay = Person(id="P-fay", handle="fay", name="Fay", team_id="T-fin")
    mia = Person(id="P-mia", handle="mia", name="Mia", team_id="T-ops")
    assert (pulse_team(dan, teams), pulse_team(fay, teams), pulse_team(mia, teams)) == ("T-ops", "T-fin", None)
    assert pulse_team(Person(id="P-x", handle="x", name="X"), teams) is None


def test_figures_show_only_from_three_answers_in_a_team_big_enough(org_store: Store) -> None:
    _ask_everyone(org_store)
    people = people_of(org_store)
    teams = {t.id: t for t in org_store.list_teams(WS)}
    three_will_do = PulseSettings(min_team_size=3)
    for count, handle in enumerate(["bob", "carol", "grace"], start=1):
        answer_pulse(
            store=org_store, person=people[handle], week=WEEK, manager_support=4, service=2, comment=None, now=FRIDAY
        )
        index = PulseIndex.load(store=org_store, workspace=WS, people=people.values(), teams=teams)
        summary = index.summary(["T-fin"], WEEK, three_will_do)
        assert summary.shown is (count >= 3), count
    assert (summary.manager_support, summary.service, summary.asked) == (4.0, 2.0, 3)
    assert not index.summary(["T-fin"], WEEK).shown, "by default a team needs five people; Finance has three"


def test_the_small_org_is_what_these_tests_assume() -> None:
    people, teams = small_org()
    by_id = {t.id: t for t in teams}
    assert [p.handle for p in people if pulse_team(p, by_id) == "T-fin"] == ["bob", "carol", "grace"]


def test_the_console_asks_on_tick_and_answers_with_click_pulse(org_store: Store) -> None:
    import io

    from handlers.console import Console

    console = Console(store=org_store, out=io.StringIO(), clock=lambda: FRIDAY)
    for line in ("tick", "as bob", "click pulse 2026-W48 4 3 more focus time", "click pulse 2026-W48 4 3"):
        console.handle_line(line)
    out = console.out.getvalue()  # type: ignore[attr-defined]
    assert "[to bob] Weekly pulse · 2026-W48" in out
    assert "Answer (1 minute): click pulse 2026-W48 <1-5> <1-5> [comment]" in out
    assert "[to bob] Thanks! Your answers for 2026-W48 are in, without your name." in out
    assert "[to bob] You've already answered the pulse for 2026-W48. Thanks!" in out
    [(_key, doc)] = org_store.list_docs(ANSWER_DOC, WS)
    assert doc["comment"] == "more focus time"
