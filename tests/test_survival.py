"""Censored durations and complaints, one test per definition in docs/metrics.md, on hand-built
histories whose answers are worked out here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.metrics import (
    Durations,
    OrgMetrics,
    figures,
    kaplan_meier,
    median,
    percentile,
    request_facts,
    survival_quantile,
)
from bot.models import Event, EventKind, Person, Rating, Request, Team
from bot.patterns import patterns_lines, patterns_of, themes
from bot.requests import status_after
from bot.workhours import DEFAULT_HOURS, WorkingHours

H = timedelta(hours=1)
M = timedelta(minutes=1)
PEOPLE = {
    p.id: p
    for p in (
        Person(id="P-ann", handle="ann", name="Ann", tz="Europe/London", team_id="T-sales"),
        Person(id="P-kai", handle="kai", name="Kai", tz="Asia/Tokyo", team_id="T-fin"),
        Person(id="P-lou", handle="lou", name="Lou", tz="America/New_York", team_id="T-fin"),
    )
}
CHRISTMAS = WorkingHours(holidays=frozenset({date(2026, 12, 25)}))


def request(created: datetime, *events: Event, provider: str = "P-kai", number: int = 1, **kw: object) -> Request:
    log = [Event(kind=EventKind.CREATED, at=created, actor_id="P-ann", to_id=provider), *events]
    holder = provider
    for event in log:
        if event.kind in (EventKind.HANDED_OFF, EventKind.REASSIGNED) and event.to_id:
            holder = event.to_id
    return Request(
        number=number,
        requester_id="P-ann",
        provider_id=holder,
        text="need it",
        created_at=created,
        events=log,
        status=status_after(log),
        **kw,  # type: ignore[arg-type]
    )


def ev(kind: EventKind, at: datetime, actor: str, **kw: object) -> Event:
    return Event(kind=kind, at=at, actor_id=actor, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the estimate


def test_kaplan_meier_counts_the_still_waiting_as_at_risk_until_their_wait_so_far() -> None:
    # 5 waits: ended at 1h, 2h, 4h; still waiting after 3h and 5h.
    # 1h: 4/5 = 0.8 left; 2h: 0.8 * 3/4 = 0.6; 3h leaves the risk set; 4h: 0.6 * 1/2 = 0.3.
    curve = kaplan_meier([1 * H, 2 * H, 4 * H], [3 * H, 5 * H])
    assert [(t, round(s, 6)) for t, s in curve] == [(1 * H, 0.8), (2 * H, 0.6), (4 * H, 0.3)]
    durations = Durations((1 * H, 2 * H, 4 * H), (3 * H, 5 * H), waiting=2)
    assert durations.median == 4 * H  # the old median of the three answered was 2h
    assert durations.p90 is None and durations.longest == 5 * H  # shown as "over 5h"


def test_an_end_and_a_wait_at_the_same_time_count_the_end_first() -> None:
    # 2h ended and 2h still waiting, then 3h ended: 2/3 left after 2h, none after 3h.
    assert [(t, round(s, 9)) for t, s in kaplan_meier([2 * H, 3 * H], [2 * H])] == [(2 * H, 0.666666667), (3 * H, 0)]
    assert survival_quantile([2 * H, 3 * H], [2 * H], 0.5, midpoint=True) == 3 * H


def test_with_half_still_waiting_the_median_is_not_reached() -> None:
    durations = Durations((9 * H, 10 * H), (1 * H, 2 * H), waiting=2)  # Finance -> Sales of the issue
    # 1h and 2h leave the risk set; 9h: 1/2 left... exactly half: the midpoint to 10h
    assert durations.median == timedelta(hours=9, minutes=30)
    nobody = Durations((), (3 * H, 4 * H), waiting=2)
    assert nobody.median is None and nobody.longest == 4 * H


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40))
def test_without_waits_the_estimate_is_the_classic_median_and_nearest_rank(minutes: list[int]) -> None:
    values = [m * M for m in minutes]
    durations = Durations(tuple(values))
    assert durations.median == median(values)
    assert durations.p90 == percentile(values, 0.9)


# --------------------------------------------------------------------------- per request


def test_a_never_acknowledged_request_waits_in_the_providers_zone_skipping_holidays() -> None:
    # Kai (Tokyo) gets it Thu 24 Dec 09:00 JST; 25 Dec is a holiday; now is Mon 28 Dec 12:00 JST:
    # Thu 9h + Fri 0 (holiday) + weekend 0 + Mon 3h = 12h, still waiting.
    created = datetime(2026, 12, 24, 0, 0, tzinfo=UTC)
    now = datetime(2026, 12, 28, 3, 0, tzinfo=UTC)
    facts = request_facts(request(created), people=PEOPLE, now=now, hours=CHRISTMAS)
    assert facts.time_to_acknowledge is None and facts.waited_to_acknowledge == 12 * H
    assert facts.waited_to_resolve == 12 * H and "escalation" not in facts.complaints
    figs = figures([facts])
    assert (figs.waiting_to_acknowledge, figs.median_time_to_acknowledge, figs.longest_wait_to_acknowledge) == (
        1,
        None,
        12 * H,
    )


def test_a_handed_off_request_is_answered_when_the_new_provider_responds_in_their_zone() -> None:
    # Created Mon 7 Dec 14:00 UTC (09:00 New York); Kai hands it to Lou at once; Lou acknowledges at
    # 11:30 New York: 2h 30m of Lou's working day. Hand-offs are not responses.
    created = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    req = request(
        created,
        ev(EventKind.HANDED_OFF, created + 5 * M, "P-kai", from_id="P-kai", to_id="P-lou", note="Lou's"),
        ev(EventKind.ACKNOWLEDGED, created + 150 * M, "P-lou"),
    )
    facts = request_facts(req, people=PEOPLE, now=created + 10 * H, hours=DEFAULT_HOURS)
    assert (facts.time_to_acknowledge, facts.hand_offs, facts.waited_to_acknowledge) == (150 * M, 1, None)


def test_a_reopened_request_resolves_at_its_final_close_and_a_decline_is_a_response() -> None:
    # Declined Mon 7 Dec 10:00 London (1h), reopened, done Tue 10:00 London: 9h + 1h = 10h.
    created = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    req = request(
        created,
        ev(EventKind.DECLINED, created + 1 * H, "P-ann", note="not mine"),
        ev(EventKind.REOPENED, created + 2 * H, "P-ann", note="it is"),
        ev(EventKind.DONE, created + 25 * H, "P-ann"),
        provider="P-ann",
    )
    facts = request_facts(req, people=PEOPLE, now=created + 30 * H, hours=DEFAULT_HOURS)
    assert (facts.time_to_acknowledge, facts.time_to_resolve, facts.reopened) == (1 * H, 10 * H, True)
    assert "declined, no alternative taken up" not in facts.complaints  # it was done in the end


def test_each_complaint_is_recognised_from_the_history() -> None:
    created = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # Monday, 18:00 Tokyo: outside Kai's hours
    now = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    poor = request(
        created,
        ev(EventKind.DONE, created + 1 * H, "P-kai"),
        ev(EventKind.RATED, created + 2 * H, "P-ann", rating=Rating(score=2, needs={"information": 1}, comment="late")),
        ev(EventKind.FOLLOWED_UP, created + 3 * H, "P-ann", satisfied=False, note="still late"),
    )
    assert request_facts(poor, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == (
        "poor rating",
        "still not satisfied",
    )
    # unanswered for Kai's Tue 9h + Wed 9h + Thu to 18:00 9h = 27h: an escalation only once the
    # scheduler escalated it (its job records the event); a long wait alone is not one
    silent = request(created)
    assert request_facts(silent, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == ()
    escalated = request(created, ev(EventKind.ESCALATED, created + 48 * H, "servechain", to_id="P-lou"))
    assert request_facts(escalated, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == ("escalation",)
    declined = request(created, ev(EventKind.DECLINED, created + 1 * H, "P-kai", note="no"))
    assert request_facts(declined, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == (
        "declined, no alternative taken up",
    )
    offered = request(created, ev(EventKind.DECLINED, created + 1 * H, "P-kai", note="no", alternative="ask Lou"))
    assert request_facts(offered, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == (
        "declined, no alternative taken up",
    )
    taken = request(
        created,
        ev(EventKind.DECLINED, created + 1 * H, "P-kai", note="no", alternative="the self-service form"),
        ev(EventKind.ALTERNATIVE_ACCEPTED, created + 2 * H, "P-ann"),
    )
    assert request_facts(taken, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == ()
    late = request(
        created,
        ev(EventKind.ACKNOWLEDGED, created + 1 * M, "P-kai"),
        ev(EventKind.DONE, created + 2 * H, "P-kai"),
        due_at=created + 1 * H,
    )
    assert request_facts(late, people=PEOPLE, now=now, hours=DEFAULT_HOURS).complaints == ("missed promise",)


# --------------------------------------------------------------------------- patterns


def test_comment_themes_group_comments_sharing_a_word_most_shared_first() -> None:
    found = themes(
        [
            ("R-1", "Answer came too late"),
            ("R-2", "late again, and nobody told me"),
            ("R-3", "Nobody told me who owns it"),
            ("R-4", "the numbers were wrong"),
            ("R-5", "Lateness is the problem"),
        ]
    )
    # "late" (late, late, lateness) is shared by 3; of the rest, "told" and "nobody" by R-3 only: no theme
    assert [(t.word, t.count, t.refs) for t in found] == [("late", 3, ("R-1", "R-2", "R-5"))]


def test_patterns_group_complaints_and_compare_with_the_previous_window() -> None:
    created = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    now = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    rated = [
        request(
            created,
            ev(EventKind.DONE, created + 1 * H, "P-kai"),
            ev(EventKind.RATED, created + 2 * H, "P-ann", rating=Rating(score=1, needs={"information": 2}, comment=c)),
            number=n,
            tags=["payroll"],
        )
        for n, c in ((1, "nobody told me"), (2, "I was never told"))
    ]
    fine = request(created, ev(EventKind.DONE, created + 1 * H, "P-kai"), number=3)
    current = [request_facts(r, people=PEOPLE, now=now, hours=DEFAULT_HOURS) for r in (*rated, fine)]
    escalated = request(created, ev(EventKind.ESCALATED, created + 48 * H, "servechain", to_id="P-lou"), number=9)
    previous = [request_facts(escalated, people=PEOPLE, now=now, hours=DEFAULT_HOURS)]  # one escalation before
    found = patterns_of(
        current, previous, scope="Finance", since=created, until=now, counterpart=lambda f: f.requester_team
    )
    assert (found.requests, found.complaints, found.previous) == (3, 2, 1)
    assert found.by_kind == {"poor rating": 2} and found.by_need == {"information": 2}
    assert found.by_tag == {"payroll": 2} and found.by_counterpart == {"T-sales": 2}
    assert [(t.word, t.refs) for t in found.themes] == [("told", ("R-1", "R-2"))]
    assert patterns_lines(found)[0] == "Complaints: 2 of 3 requests (up from 1 in the previous window)."


def test_a_link_with_nothing_acknowledged_is_never_listed_as_fast() -> None:
    from bot.chain import responsiveness, team_map_from

    created = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    now = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    teams = {"T-sales": Team(id="T-sales", name="Sales"), "T-fin": Team(id="T-fin", name="Finance")}
    answered = request(created, ev(EventKind.ACKNOWLEDGED, created + 10 * M, "P-lou"), provider="P-lou", number=1)
    facts = [
        request_facts(answered, people=PEOPLE, now=now, hours=DEFAULT_HOURS),
        *(request_facts(request(created, number=n), people=PEOPLE, now=now, hours=DEFAULT_HOURS) for n in (2, 3, 4)),
    ]
    org = OrgMetrics("default", created, now, now, PEOPLE, teams, facts)
    link = org.link("T-sales", "T-fin")  # 1 answered in 10m, 3 still waiting: median not known
    assert (link.median_time_to_acknowledge, link.waiting_to_acknowledge) == (None, 3)
    assert responsiveness(link) == "slow"
    assert "over" in team_map_from(org).slowest_text() and "3 of 4 still waiting" in team_map_from(org).slowest_text()
