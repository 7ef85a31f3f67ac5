"""Holidays per person: each person's country (and region) adds its public holidays to the org's
own list; working-hours figures and "in N working days" use the requester's or responder's
calendar. Thanksgiving 2026 is Thursday 26 November in the US; Labor Thanksgiving Day is
Monday 23 November in Japan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.commands import CreateRequest, parse_request
from bot.dates import parse_due
from bot.dispatch import run_request
from bot.metrics import request_facts, time_to_acknowledge
from bot.models import ActionId, Event, EventKind, Person, Request
from bot.org import OrgImportError, load_org
from bot.people import Directory
from bot.ports import Store
from bot.requests import act, create_request
from bot.workhours import DEFAULT_HOURS, WorkingHours, add_working_time, working_time

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
HOURS = WorkingHours()

NY = Person(id="P-ny", handle="nora", name="Nora NY", tz="America/New_York", country="US", region="NY")
TK = Person(id="P-tk", handle="taro", name="Taro Tokyo", tz="Asia/Tokyo", country="JP")
NOWHERE = Person(id="P-x", handle="xavi", name="Xavi", tz="Asia/Tokyo")


def _local(zone: ZoneInfo, day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=zone)


def test_thanksgiving_is_a_day_off_in_new_york_but_not_in_tokyo() -> None:
    assert not HOURS.for_person(NY).works_on(date(2026, 11, 26))
    assert HOURS.for_person(TK).works_on(date(2026, 11, 26))
    assert not HOURS.for_person(TK).works_on(date(2026, 11, 23))
    assert HOURS.for_person(NY).works_on(date(2026, 11, 23))
    # Someone with no country has only the org's list (none here): both days are working days.
    assert HOURS.for_person(NOWHERE).works_on(date(2026, 11, 23))


def test_working_time_across_thanksgiving_week_counts_each_persons_own_holidays() -> None:
    # Monday 23 09:00 to Friday 27 09:00, local: four working days for anyone without holidays.
    ny = working_time(_local(NEW_YORK, 23), _local(NEW_YORK, 27), tz=NY.tz, hours=HOURS.for_person(NY))
    tk = working_time(_local(TOKYO, 23), _local(TOKYO, 27), tz=TK.tz, hours=HOURS.for_person(TK))
    plain = working_time(_local(TOKYO, 23), _local(TOKYO, 27), tz=TK.tz, hours=HOURS)
    assert plain == timedelta(hours=36)
    assert ny == timedelta(hours=27)  # Thursday off
    assert tk == timedelta(hours=27)  # Monday off


def test_the_org_list_and_the_country_both_count() -> None:
    hours = WorkingHours(holidays=frozenset({date(2026, 11, 27)}))
    ny = hours.for_person(NY)
    assert not ny.works_on(date(2026, 11, 26)) and not ny.works_on(date(2026, 11, 27))
    start = _local(NEW_YORK, 25, 17)
    # One working hour left on Wednesday, then Thursday and Friday off: the second hour is Monday.
    assert add_working_time(start, timedelta(hours=2), tz=NY.tz, hours=ny) == _local(NEW_YORK, 30, 10).astimezone(UTC)


def test_the_org_default_country_applies_to_people_without_one() -> None:
    hours = WorkingHours(country="JP")
    assert not hours.for_person(NOWHERE).works_on(date(2026, 11, 23))
    assert not hours.for_person(NY).works_on(date(2026, 11, 26))  # their own country replaces the default
    assert hours.for_person(NY).works_on(date(2026, 11, 23))


def test_an_unknown_country_or_region_in_the_settings_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown country 'XX'"):
        WorkingHours(country="XX")
    with pytest.raises(ValueError, match="unknown region 'ZZ' of US"):
        WorkingHours(country="US", region="ZZ")


def test_time_to_acknowledge_uses_the_responders_calendar() -> None:
    created = _local(NEW_YORK, 25, 17)  # Wednesday 17:00 in New York = Thursday 07:00 in Tokyo

    def acked_by(person: Person, at: datetime) -> Request:
        return Request(
            number=1,
            requester_id=NOWHERE.id,
            provider_id=person.id,
            text="numbers",
            created_at=created,
            events=[
                Event(kind=EventKind.CREATED, at=created, actor_id=NOWHERE.id),
                Event(kind=EventKind.ACKNOWLEDGED, at=at, actor_id=person.id),
            ],
        )

    people = {p.id: p for p in (NY, TK, NOWHERE)}
    ny_ack = acked_by(NY, _local(NEW_YORK, 27, 10))  # Friday 10:00, after Thanksgiving
    assert time_to_acknowledge(ny_ack, people=people, hours=HOURS) == timedelta(hours=2)
    tk_ack = acked_by(TK, _local(TOKYO, 26, 10))  # Thursday 10:00 Tokyo: Thanksgiving is a working day there
    assert time_to_acknowledge(tk_ack, people=people, hours=HOURS) == timedelta(hours=1)


def test_in_5_working_days_skips_the_requesters_public_holiday() -> None:
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)  # Wednesday
    tokyo_due = parse_due("in 5 working days", now=now, tz=TK.tz, hours=HOURS.for_person(TK))
    ny_due = parse_due("in 5 working days", now=now, tz=NY.tz, hours=HOURS.for_person(NY))
    assert tokyo_due.astimezone(TOKYO).date() == date(2026, 11, 26)  # Monday 23 is Labor Thanksgiving Day
    assert ny_due.astimezone(NEW_YORK).date() == date(2026, 11, 25)
    # The built-in week (Monday to Friday, no public holidays):
    assert parse_due("in 5 working days", now=now, tz=TK.tz, hours=DEFAULT_HOURS).astimezone(TOKYO).date() == date(
        2026, 11, 25
    )


def test_in_n_working_days_follows_the_configured_working_week() -> None:
    sunday_to_thursday = WorkingHours(weekdays=frozenset({6, 0, 1, 2, 3}))
    now = datetime(2026, 11, 19, 6, tzinfo=UTC)  # Thursday
    due = parse_due("in 1 working day", now=now, tz="UTC", hours=sunday_to_thursday)
    assert due.date() == date(2026, 11, 22)  # the Sunday


def test_a_request_from_tokyo_is_due_after_the_japanese_holiday(org_store: Store) -> None:
    actor = org_store.find_person("default", handle="alice")
    assert actor is not None
    tokyo_alice = actor.model_copy(update={"tz": "Asia/Tokyo", "country": "JP"})
    org_store.save_org([tokyo_alice])
    now = datetime(2026, 11, 18, 3, tzinfo=UTC)  # Wednesday noon in Tokyo
    command = parse_request(
        "@bob the numbers in 5 working days", now=now, tz="Asia/Tokyo", hours=HOURS.for_person(tokyo_alice)
    )
    assert isinstance(command, CreateRequest) and command.due is not None
    assert command.due.astimezone(TOKYO).date() == date(2026, 11, 26)
    reply = run_request(
        store=org_store, actor=tokyo_alice, text="@bob the numbers in 5 working days", now=now, hours=DEFAULT_HOURS
    )
    assert reply.ok, reply.text
    created = max(org_store.iter_requests("default"), key=lambda r: r.number)
    assert created.due_at is not None and created.due_at.astimezone(TOKYO).date() == date(2026, 11, 26)


def test_the_org_file_gives_people_a_country_and_region(tmp_path: Path) -> None:
    path = tmp_path / "org.csv"
    path.write_text(
        "handle,name,country,region,time_zone\nnora,Nora NY,us,ny,America/New_York\ntaro,Taro,JP,,Asia/Tokyo\n"
    )
    people = {p.handle: p for p in load_org(path).people}
    assert (people["nora"].country, people["nora"].region) == ("US", "NY")
    assert (people["taro"].country, people["taro"].region) == ("JP", None)


def test_an_unknown_country_in_the_org_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "org.yml"
    path.write_text(
        "people:\n  - handle: nora\n    name: Nora\n    country: Atlantis\n"
        "  - handle: taro\n    name: Taro\n    country: US\n    region: Narnia\n"
    )
    with pytest.raises(OrgImportError) as caught:
        load_org(path)
    assert caught.value.errors == [
        f"{path}:4: field 'country': unknown country 'ATLANTIS'; use an ISO 3166 code like US, JP or DE",
        f"{path}:8: field 'region': unknown region 'NARNIA' of US; use one of AK, AL, AR, AS, AZ, CA, CO, CT, ...",
    ]


def test_overdue_labels_and_the_team_view_count_the_holders_public_holidays(org_store: Store) -> None:
    """Carol works in Tokyo (JP): Monday 23 November is a holiday there. From Friday 17:00 to
    Tuesday 15:00 she had 1 + 6 = 7 working hours (16 without the holiday); her queue, her card
    after she acknowledges and her manager's team view all say so."""
    carol = org_store.find_person("default", handle="carol")
    alice = org_store.find_person("default", handle="alice")
    dave = org_store.find_person("default", handle="dave")
    assert carol is not None and alice is not None and dave is not None
    carol = carol.model_copy(update={"country": "JP"})
    org_store.save_org([carol])
    friday_5pm = _local(TOKYO, 20, 17)
    for text, asked, due in (
        ("the Q3 numbers", friday_5pm - timedelta(minutes=1), friday_5pm),  # R-1, due at 17:00
        ("the Q4 plan", friday_5pm, None),  # R-2, asked at 17:00
    ):
        create_request(
            store=org_store,
            directory=Directory(org_store, "default"),
            requester=alice,
            provider=carol,
            text=text,
            now=asked,
            due_at=due,
        )
    tuesday_3pm = _local(TOKYO, 24, 15)

    queue = run_request(store=org_store, actor=carol, text="queue", now=tuesday_3pm, hours=HOURS)
    team = run_request(store=org_store, actor=dave, text="team", now=tuesday_3pm, hours=HOURS)
    acknowledged = act(
        store=org_store,
        directory=Directory(org_store, "default"),
        workspace="default",
        number=1,
        action=ActionId.ACKNOWLEDGE,
        actor=carol,
        now=tuesday_3pm,
        hours=HOURS,
    )

    assert "R-1 ← alice · open · due Fri 20 Nov 17:00 · ⚠️ overdue by 7 working h · the Q3 numbers" in queue.text
    [card] = [m for m in acknowledged.messages if m.kind == "provider_card"]
    assert ("Overdue", "⚠️ overdue by 7 working h") in [(f.label, f.value) for f in card.facts]
    assert "unacknowledged for 7h (working time)" in team.text, team.text


def test_an_open_requests_wait_so_far_counts_the_providers_public_holidays() -> None:
    """Asked Friday 17:00 in Tokyo, still unanswered Tuesday 15:00: 7 working hours for Taro (JP,
    Monday off), as his acknowledgement would have been counted; 16 for someone with no country."""
    asked = _local(TOKYO, 20, 17)
    request = Request(
        workspace="default",
        number=1,
        requester_id=NY.id,
        provider_id=TK.id,
        text="numbers",
        created_at=asked,
        events=[Event(kind=EventKind.CREATED, at=asked, actor_id=NY.id, to_id=TK.id)],
    )
    tuesday_3pm = _local(TOKYO, 24, 15)
    facts = request_facts(request, people={p.id: p for p in (NY, TK)}, now=tuesday_3pm, hours=HOURS)
    nowhere = request_facts(
        request.model_copy(update={"provider_id": NOWHERE.id}),
        people={NOWHERE.id: NOWHERE},
        now=tuesday_3pm,
        hours=HOURS,
    )
    assert facts.waited_to_acknowledge == timedelta(hours=7)
    assert nowhere.waited_to_acknowledge == timedelta(hours=16)
