"""The weekly manager digest on a hand-built org whose every figure is worked out below.

Everyone is in London (UTC in November, working hours 09:00-18:00 Monday to Friday) unless
said otherwise. The digest week is 2026-W47: Monday 16 to Sunday 22 November 2026.

Teams: Operations (mia) is the department; Finance (dan) and Legal (lee) sit under it; Sales
(sam) stands alone. Finance: fay, gus, hal, ivy, jo (five members, so its pulse may show).

Requests to Finance from other teams in W47 (time to acknowledge / to resolve):
  R-1 amy (Sales) -> fay   Mon 10:00, ack 11:00 (1h), done 14:00 (4h), due Tue 17:00: kept, rated 5
  R-2 amy (Sales) -> gus   Tue 10:00, ack 10:30 (30m), done Wed 10:00 (8h + 1h = 9h), due Tue 18:00: broken, rated 3
  R-3 ben (Sales) -> hal   Wed 09:00, ack 12:00 (3h), still open, due Thu 17:00: broken and overdue
  R-4 kim (Legal) -> ivy   Thu 16:00, ack Fri 10:00 (2h + 1h = 3h), done Fri 12:00 (5h), no due date, rated 4
So: 4 requests, 1 open; acknowledge median (1h + 3h) / 2 = 2h, p90 3h; resolve median 5h (4h, 5h, 9h);
promises kept 1 of 3; ratings 5, 3, 4 -> 4.0 from 3. Links: Sales -> Finance median 1h (30m, 1h, 3h),
Legal -> Finance 3h: Legal is the slowest link, Sales the fastest.
Inside the team (not service to other teams): R-7 gus -> jo.
Dan himself: R-5 fay (his staff) -> dan, ack 20m, done 1h; R-6 amy (not staff) -> dan, ack 4h, done 6h.
Week W46: R-8 amy -> fay, Mon 9 Nov 10:00, ack 12:00 (2h), done, rated 4.

Kudos: W46 amy -> fay; W47 amy -> fay and gus (2), kim -> ivy, fay -> amy. Finance received 3 in
W47 and gave 1; 8-week average received (1 + 3) / 8 = 0.5.
Pulse W47 from fay (4, 3), gus (5, 4), hal (3, 2): supported 4.0, served 3.0, from 3 of 5. W46: two
answers only, so hidden.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.charts import chart_png
from bot.digest import (
    DigestJob,
    OrgSnapshot,
    build_digest,
    digest_markdown,
    digest_message,
    manager_digest,
    snapshot_for,
)
from bot.digest.chart import digest_chart
from bot.errors import NotFound
from bot.jobs import JobContext, default_registry
from bot.models import Event, EventKind, Kudos, Person, Rating, Request, Status, Team
from bot.people import Directory
from bot.ports import Store
from bot.pulse import PulseJob, answer_pulse
from bot.scheduler import Scheduler
from bot.workhours import DEFAULT_HOURS
from handlers.cli.digest import digest_command
from storage.tinydb_store import TinyDBStore

WS = "default"
WEEK = "2026-W47"
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 instant (London = UTC)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def org() -> tuple[list[Person], list[Team]]:
    teams = [
        Team(id="T-ops", name="Operations", manager_id="P-mia"),
        Team(id="T-fin", name="Finance", manager_id="P-dan", parent_id="T-ops"),
        Team(id="T-legal", name="Legal", manager_id="P-lee", parent_id="T-ops"),
        Team(id="T-sales", name="Sales", manager_id="P-sam"),
    ]

    def person(handle: str, team: str, manager: str | None = None, tz: str = "Europe/London") -> Person:
        return Person(
            id=f"P-{handle}",
            handle=handle,
            name=handle.capitalize(),
            email=f"{handle}@example.com",
            tz=tz,
            team_id=team,
            manager_id=manager,
        )

    people = [
        person("mia", "T-ops"),
        person("dan", "T-fin", "P-mia"),
        person("lee", "T-legal", "P-mia"),
        person("kim", "T-legal"),
        person("sam", "T-sales", tz="America/New_York"),
        person("amy", "T-sales"),
        person("ben", "T-sales"),
        *(person(h, "T-fin") for h in ("fay", "gus", "hal", "ivy", "jo")),
    ]
    return people, teams


def request(
    number: int,
    requester: str,
    provider: str,
    created: datetime,
    *,
    ack: datetime | None = None,
    done: datetime | None = None,
    due: datetime | None = None,
    rating: int | None = None,
) -> dict[str, object]:
    events = [Event(kind=EventKind.CREATED, at=created, actor_id=f"P-{requester}", to_id=f"P-{provider}")]
    status = Status.OPEN
    if ack is not None:
        events.append(Event(kind=EventKind.ACKNOWLEDGED, at=ack, actor_id=f"P-{provider}"))
        status = Status.ACKNOWLEDGED
    if done is not None:
        events.append(Event(kind=EventKind.DONE, at=done, actor_id=f"P-{provider}"))
        status = Status.DONE
    if rating is not None:
        assert done is not None
        events.append(
            Event(
                kind=EventKind.RATED,
                at=done + timedelta(hours=1),
                actor_id=f"P-{requester}",
                rating=Rating(score=rating),
            )
        )
    return Request(
        number=number,
        requester_id=f"P-{requester}",
        provider_id=f"P-{provider}",
        text=f"request {number}",
        created_at=created,
        due_at=due,
        status=status,
        events=events,
    ).model_dump(mode="json")


REQUESTS = [
    request(1, "amy", "fay", at(16, 10), ack=at(16, 11), done=at(16, 14), due=at(17, 17), rating=5),
    request(2, "amy", "gus", at(17, 10), ack=at(17, 10, 30), done=at(18, 10), due=at(17, 18), rating=3),
    request(3, "ben", "hal", at(18, 9), ack=at(18, 12), due=at(19, 17)),
    request(4, "kim", "ivy", at(19, 16), ack=at(20, 10), done=at(20, 12), rating=4),
    request(5, "fay", "dan", at(16, 9), ack=at(16, 9, 20), done=at(16, 10)),
    request(6, "amy", "dan", at(17, 9), ack=at(17, 13), done=at(17, 15)),
    request(7, "gus", "jo", at(16, 9), ack=at(16, 9, 5)),
    request(8, "amy", "fay", at(9, 10), ack=at(9, 12), done=at(9, 15), rating=4),
]

KUDOS = [
    Kudos(id="K-1", giver_id="P-amy", recipient_ids=["P-fay"], message="thanks", at=at(10, 12)),
    Kudos(id="K-2", giver_id="P-amy", recipient_ids=["P-fay", "P-gus"], message="great", at=at(18, 12)),
    Kudos(id="K-3", giver_id="P-kim", recipient_ids=["P-ivy"], message="quick", at=at(20, 13)),
    Kudos(id="K-4", giver_id="P-fay", recipient_ids=["P-amy"], message="nice", at=at(19, 9)),
]

PULSE = {"2026-W47": [("fay", 4, 3, None), ("gus", 5, 4, None), ("hal", 3, 2, "more 1:1s please")],
         "2026-W46": [("fay", 2, 2, None), ("gus", 1, 1, None)]}  # fmt: skip


def load(store: Store) -> dict[str, Person]:
    people, teams = org()
    store.save_org(people, teams)
    store.import_records("requests", REQUESTS)
    store.import_records("counters", [{"workspace": WS, "last": len(REQUESTS)}])
    for kudos in KUDOS:
        assert store.add_kudos(kudos)
    by_handle = {p.handle: p for p in people}
    tokens = random.Random(7)
    for week, answers in PULSE.items():
        friday = datetime.fromisocalendar(int(week[:4]), int(week[6:]), 5).replace(hour=14, minute=30, tzinfo=UTC)
        PulseJob(hours=DEFAULT_HOURS).run(store=store, workspace=WS, now=friday)
        for handle, support, service, comment in answers:
            answer_pulse(
                store=store,
                person=by_handle[handle],
                week=week,
                manager_support=support,
                service=service,
                comment=comment,
                now=friday + timedelta(hours=1),
                rng=tokens,
            )
    return by_handle


@pytest.fixture
def people(store: Store) -> dict[str, Person]:
    return load(store)


def test_the_digest_states_the_hand_computed_figures(store: Store, people: dict[str, Person]) -> None:
    digest = manager_digest(store=store, manager=people["dan"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    week = digest.this_week
    assert (week.volume, week.open) == (4, 1)
    assert (week.median_time_to_acknowledge, week.p90_time_to_acknowledge) == (timedelta(hours=2), timedelta(hours=3))
    # 4h, 5h, 9h and one still open (censored beyond 9h): 2/4 still waiting after 5h, exactly half,
    # so the median is the midpoint to the next end: (5h + 9h) / 2
    assert week.median_time_to_resolve == timedelta(hours=7)
    assert (week.promises_kept, week.promises_total) == (1, 3)
    assert (digest.ratings[-1], digest.rated) == (4.0, 3)
    assert digest.ratings[-2] == 4.0 and digest.ratings[:-2] == [None] * 6
    assert digest.slowest is not None and digest.fastest is not None
    assert (digest.slowest.source, digest.slowest.figures.median_time_to_acknowledge) == ("Legal", timedelta(hours=3))
    assert (digest.fastest.source, digest.fastest.figures.median_time_to_acknowledge) == ("Sales", timedelta(hours=1))
    assert (digest.to_staff.volume, digest.to_staff.median_time_to_acknowledge) == (1, timedelta(minutes=20))
    assert (digest.to_others.volume, digest.to_others.median_time_to_acknowledge) == (1, timedelta(hours=4))
    assert digest.kudos_received == [0] * 6 + [1, 3] and digest.kudos_given == [0] * 7 + [1]
    pulse = digest.pulse[-1]
    assert (pulse.counted, pulse.asked, pulse.manager_support, pulse.service) == (3, 5, 4.0, 3.0)
    assert pulse.comments == ["more 1:1s please"]
    assert not digest.pulse[-2].shown, "two answers are too few to show"
    assert [item.ref for item in digest.overdue] == ["R-3"] and digest.overdue_total == 1
    assert digest.team_size == 5 and digest.team_names == ["Finance"]

    text = digest_markdown(digest)
    for line in (
        "# Weekly digest · Finance · 2026-W47",
        "- Kudos: your team received 3 and gave 1 this week (8-week average received: 0.5).",
        "- Pulse (3 of 5 answered): felt supported by you 4.0/5 · served by other teams 3.0/5",
        "- “more 1:1s please”",
        "- Ratings of your team's work: 4.0/5 from 3 ratings this week (steady over 8 weeks).",
        "- Your staff asked you: 1 request · median 20m to acknowledge (0 still waiting) · 1h to resolve.",
        "- Everyone else asked you: 1 request · median 4h to acknowledge (0 still waiting) · 6h to resolve.",
        "- Requests from other teams this week: 4 requests · median 2h to acknowledge (0 still waiting) · 7h to "
        "resolve · promises kept 1 of 3 · rating 4.0/5 (1 still open).",
        "- Volume over 8 weeks: 0, 0, 0, 0, 0, 0, 1, 4.",
        "- Slowest link: Legal → Finance, median 3h to acknowledge (1 request, 0 still waiting).",
        "- Fastest link: Sales → Finance, median 1h to acknowledge (3 requests, 0 still waiting).",
        "## Open and overdue (1)",
        "- R-3 held by Hal, due Thu 19 Nov 17:00: “request 3”",
        "- Check in with Hal about R-3: it has been overdue since Thu 19 Nov 17:00. Help them finish it or "
        "agree a new date with the requester.",
    ):
        assert line in text.splitlines(), f"missing: {line}\n---\n{text}"
    assert "Your teams at a glance" not in text, "dan has no teams below him"


def test_a_department_head_gets_a_roll_up_and_hidden_teams_stay_hidden(store: Store, people: dict[str, Person]) -> None:
    digest = manager_digest(store=store, manager=people["mia"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    assert [row.team for row in digest.rollup] == ["Finance", "Legal"]
    finance, legal = digest.rollup
    assert finance.served.volume == 7, "everything Finance's people hold, dan's own requests too"
    assert (finance.pulse.manager_support, finance.pulse.service, finance.kudos_received) == (4.0, 3.0, 3)
    assert not legal.pulse.shown and legal.kudos_received == 0
    # mia's own unit (Operations: dan and lee answer there; mia has nobody above) never shows
    assert not digest.pulse[-1].shown
    text = digest_markdown(digest)
    assert "not enough answers to keep them anonymous" in text
    assert "- Finance (Dan): 7 requests · median" in text and "pulse 4.0/5 / 3.0/5 · 3 kudos" in text
    assert "- Legal (Lee): 0 requests · median - to acknowledge · no promises due · pulse: too few answers" in text


def test_sums_over_teams_count_only_teams_that_may_be_shown(store: Store, people: dict[str, Person]) -> None:
    snapshot = snapshot_for(store=store, workspace=WS, weeks=[WEEK], count=8, now=MONDAY_9, hours=DEFAULT_HOURS)
    both = snapshot.pulse.summary(["T-fin", "T-legal", "T-ops"], WEEK)
    finance = snapshot.pulse.summary(["T-fin"], WEEK)
    assert (both.manager_support, both.service, both.counted) == (finance.manager_support, finance.service, 3)
    assert both.hidden_teams == 2 and both.asked == 5 + 1 + 2  # Operations: dan and lee answer there


def test_a_team_below_five_members_never_shows_even_with_enough_answers(store: Store) -> None:
    people, teams = org()
    people += [Person(id=f"P-{h}", handle=h, name=h.capitalize(), team_id="T-sales") for h in ("cal", "dee")]
    store.save_org(people, teams)
    friday = at(20, 19, 30)
    job = PulseJob(hours=DEFAULT_HOURS)
    job.run(store=store, workspace=WS, now=at(20, 14, 30))
    job.run(store=store, workspace=WS, now=friday)  # 14:30 in New York, where sam is
    by_handle = {p.handle: p for p in people}
    for handle in ("amy", "ben", "cal"):  # Sales: four people answer for it (sam heads it); three answer
        answer_pulse(
            store=store, person=by_handle[handle], week=WEEK, manager_support=5, service=5, comment=None, now=friday
        )
    snapshot = snapshot_for(store=store, workspace=WS, weeks=[WEEK], count=8, now=MONDAY_9, hours=DEFAULT_HOURS)
    summary = snapshot.pulse.summary(["T-sales"], WEEK)
    assert (summary.answered, summary.asked) == (3, 4) and not summary.shown and summary.manager_support is None


def test_non_managers_have_no_digest(store: Store, people: dict[str, Person]) -> None:
    with pytest.raises(NotFound, match="for managers"):
        manager_digest(store=store, manager=people["fay"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)


def test_the_message_has_sections_a_chart_and_reads_without_it(store: Store, people: dict[str, Person]) -> None:
    digest = manager_digest(store=store, manager=people["dan"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    message = digest_message(digest)
    assert message.kind == "digest" and message.recipient_id == "P-dan"
    assert [s.title for s in message.sections] == [
        "Morale",
        "Service to your staff (last 8 weeks)",
        "Your team's service to other teams",
        "Open and overdue (1)",
        "Complaint patterns (this week)",
        "Suggested action",
    ]
    assert message.chart is not None and message.chart.labels == [f"W{n}" for n in range(40, 48)]
    support = message.chart.panels[0].series[0].values
    assert support[-1] == 4.0 and support[-2] is None, "hidden weeks are gaps, never values"
    png = chart_png(message.chart)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) < 200_000


def test_the_suggestion_follows_the_figures(store: Store, people: dict[str, Person]) -> None:
    """Without the overdue request, the broken promises are the next thing to act on... unless the
    team felt unsupported, which comes first."""
    snapshot = snapshot_for(store=store, workspace=WS, weeks=[WEEK], count=8, now=MONDAY_9, hours=DEFAULT_HOURS)
    snapshot.overdue = []
    digest = build_digest(snapshot, people["dan"], WEEK)
    assert digest.suggestion.startswith("Your team kept 1 of 3 promises to other teams")
    sam = build_digest(snapshot, people["sam"], WEEK)
    assert "pulse" in sam.suggestion or "kudos" in sam.suggestion or "steady" in sam.suggestion


def test_digests_go_out_once_per_manager_per_week_at_monday_nine_local(tmp_path: Path) -> None:
    path = tmp_path / "servechain.json"
    first, second = TinyDBStore(path), TinyDBStore(path)  # two replicas sharing one store
    try:
        load(first)
        replicas = [
            Scheduler(
                store=s, jobs=default_registry().build(JobContext(hours=DEFAULT_HOURS), only=["digest"]), workspace=WS
            )
            for s in (first, second)
        ]
        sent: list[tuple[datetime, str]] = []
        now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        while now < datetime(2026, 12, 1, 0, 0, tzinfo=UTC):
            for replica in replicas:
                report = replica.run_due(now)
                assert not report.errors
                sent += [(now, key) for job in report.jobs for key in job.claimed]
            now += timedelta(minutes=15)
        # a restarted scheduler (a new job, nothing remembered) sends nothing again
        restarted = Scheduler(store=second, jobs=[DigestJob(hours=DEFAULT_HOURS)], workspace=WS)
        assert restarted.run_due(datetime(2026, 11, 25, 10, 0, tzinfo=UTC)).sent == []
    finally:
        first.close()
        second.close()
    assert sent == [
        (MONDAY_9, "digest:P-dan:2026-W47"),
        (MONDAY_9, "digest:P-lee:2026-W47"),
        (MONDAY_9, "digest:P-mia:2026-W47"),
        # sam is in New York: 09:00 there is 14:00 UTC
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), "digest:P-sam:2026-W47"),
        (MONDAY_9 + timedelta(weeks=1), "digest:P-dan:2026-W48"),
        (MONDAY_9 + timedelta(weeks=1), "digest:P-lee:2026-W48"),
        (MONDAY_9 + timedelta(weeks=1), "digest:P-mia:2026-W48"),
        (datetime(2026, 11, 30, 14, 0, tzinfo=UTC), "digest:P-sam:2026-W48"),
    ]


def test_the_cli_writes_markdown_and_a_png(store: Store, people: dict[str, Person], tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = digest_command(
        store=store,
        workspace=WS,
        now=MONDAY_9,
        manager="dan",
        week=None,
        format="md",
        output=None,
        stdout=out,
        stderr=err,
        hours=DEFAULT_HOURS,
    )
    assert code == 0 and out.getvalue().startswith("# Weekly digest · Finance · 2026-W47"), err.getvalue()
    png = tmp_path / "digest.png"
    code = digest_command(
        store=store, workspace=WS, now=MONDAY_9, manager="@dan", week="2026-w47", format="png", output=png,
        stdout=out, stderr=err, hours=DEFAULT_HOURS,
    )  # fmt: skip
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG")
    assert digest_command(
        store=store, workspace=WS, now=MONDAY_9, manager="fay", week=WEEK, format="md", output=None, stdout=out,
        stderr=err, hours=DEFAULT_HOURS,
    ) == 1  # fmt: skip
    assert digest_command(
        store=store, workspace=WS, now=MONDAY_9, manager="dan", week="2026-47", format="md", output=None, stdout=out,
        stderr=err, hours=DEFAULT_HOURS,
    ) == 2  # fmt: skip
    assert "not an ISO week" in err.getvalue()


def test_one_snapshot_serves_every_manager(store: Store, people: dict[str, Person]) -> None:
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(store, name)

    snapshot = OrgSnapshot.load(
        store=Counting(),  # type: ignore[arg-type]
        workspace=WS,
        since=at(1, 0),
        until=at(30, 0),
        now=MONDAY_9,
        hours=DEFAULT_HOURS,
    )
    digests = [build_digest(snapshot, m, WEEK) for m in snapshot.managers()]
    assert [d.manager.handle for d in digests] == ["dan", "lee", "mia", "sam"]
    assert sorted(calls) == sorted(
        ["list_people", "list_teams", "find_requests", "find_requests", "find_kudos", "list_docs"]
    )
    assert Directory(store, WS).managers_of("P-fay") == snapshot.chains["P-fay"] == ["P-dan", "P-mia"]


def test_a_roll_up_row_stands_for_a_whole_department(store: Store, people: dict[str, Person]) -> None:
    """Above mia, a CEO sees one row for Operations counting Finance and Legal too; only Finance's
    pulse may be shown, so the row's pulse is Finance's."""
    ceo = Person(id="P-ceo", handle="ceo", name="Cy", tz="Europe/London")
    store.save_org([ceo, people["mia"].model_copy(update={"manager_id": "P-ceo"})])
    digest = manager_digest(store=store, manager=ceo, week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    [operations] = digest.rollup
    assert (operations.team, operations.manager, operations.served.volume) == ("Operations", "Mia", 7)
    assert (operations.pulse.manager_support, operations.pulse.counted, operations.pulse.hidden_teams) == (4.0, 3, 2)
    assert operations.kudos_received == 3


def test_the_console_previews_the_digest_and_tick_sends_it(store: Store, people: dict[str, Person]) -> None:
    import io

    from handlers.console import Console

    console = Console(store=store, out=io.StringIO(), clock=lambda: MONDAY_9)
    for line in ("as dan", "/digest", "as fay", "/digest", "tick"):
        console.handle_line(line)
    out = console.out.getvalue()  # type: ignore[attr-defined]
    assert "[to dan] Weekly digest · Finance · 2026-W47\n" in out
    assert "  Morale:\n    Kudos: your team received 3 and gave 1 this week" in out
    assert "[chart: Finance · 8 weeks to 2026-W47; servechain digest --format png draws it]" in out
    assert "[to fay] The weekly digest is for managers" in out
    assert out.count("Weekly digest · Finance · 2026-W47") == 3, "the preview (reply and card), then the DM"


def test_a_manager_is_never_advised_about_themselves(store: Store, people: dict[str, Person]) -> None:
    """When the first overdue item is the manager's own, the advice speaks to them, not about them."""
    snapshot = snapshot_for(store=store, workspace=WS, weeks=[WEEK], count=8, now=MONDAY_9, hours=DEFAULT_HOURS)
    dan = people["dan"]
    snapshot.overdue = [r.model_copy(update={"provider_id": dan.id}) for r in snapshot.overdue]
    digest = build_digest(snapshot, dan, WEEK)
    assert digest.suggestion.startswith("R-3 is yours and overdue since Thu 19 Nov 17:00")
    assert f"Check in with {dan.name}" not in digest.suggestion


def test_the_digest_says_which_week_and_why_and_has_needs_and_patterns(store: Store, people: dict[str, Person]) -> None:
    digest = manager_digest(store=store, manager=people["dan"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    text = digest_markdown(digest)
    tz = people["dan"].tz
    assert f"Mon 16 Nov – Sun 22 Nov 2026, the last full week, Monday to Sunday, in your time zone ({tz})" in text
    assert "- Six needs: none scored this week." in text.splitlines()  # W47's ratings scored no need
    from bot.digest.text import _needs_line
    from bot.metrics import Figures

    line = _needs_line(
        Figures(needs={"empathy": 2.5, "information": 1.5}, needs_counts={"empathy": 2, "information": 2})
    )
    assert line == (
        "Six needs this week: friendliness - · empathy 2.5 (2) · fairness - · options - · control - · "
        "information 1.5 (2); lowest: information."
    )
    assert "## Complaint patterns (this week)" in text
    so_far = manager_digest(
        store=store, manager=people["dan"], week="2026-W48", now=MONDAY_9 + timedelta(days=2), hours=DEFAULT_HOURS
    )
    assert f"this week so far, in your time zone ({tz})" in digest_markdown(so_far)


def test_the_chart_has_a_staff_panel_and_says_no_data_instead_of_an_empty_axis(
    store: Store, people: dict[str, Person]
) -> None:
    digest = manager_digest(store=store, manager=people["dan"], week=WEEK, now=MONDAY_9, hours=DEFAULT_HOURS)
    chart = digest_chart(digest)
    titles = [panel.title for panel in chart.panels]
    assert "You to your staff: time to acknowledge" in titles and "You to your staff: rating" in titles
    staff = chart.panels[titles.index("You to your staff: time to acknowledge")].series[0].values
    assert staff[-1] == round(20 / 60, 2)  # dan answered his own staff in 20m this week
    from matplotlib.image import imread

    png = chart_png(chart)
    picture = imread(io.BytesIO(png))
    assert picture.shape[1] == 600, "laid out for 400 px, drawn at 1.5x"
