"""Nudges, escalations and follow-up reminders on a simulated clock over a real store.

Expected send times are worked out by hand in each test (London is UTC in winter, Tokyo
UTC+9, New York UTC-5; working hours 09:00-18:00 Monday to Friday).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.errors import InvalidCommand, NotFound
from bot.models import ActionId, Message, Person, Rating
from bot.nudges import (
    MUTE_ACTION,
    SNOOZE_ACTION,
    NudgeJob,
    NudgeSettings,
    due_reminders,
    handle_nudge_action,
    holder_since,
    parse_snooze,
    sent_nudges,
    set_muted,
    snooze,
)
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, act, create_request
from bot.scheduler import Scheduler
from bot.workhours import DEFAULT_HOURS, WorkingHours

WS = "default"
STEP = timedelta(minutes=15)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC instant in late 2026 (London time in winter)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Life:
    """An org's life on a simulated clock: scripted actions at exact times, and every
    scheduler's ``run_due`` on each tick (every 15 minutes)."""

    store: Store
    schedulers: list[Scheduler] = field(default_factory=list)
    script: list[tuple[datetime, int, Callable[[datetime], object]]] = field(default_factory=list)
    sent: list[tuple[datetime, str, str]] = field(default_factory=list)
    messages: list[tuple[datetime, Message]] = field(default_factory=list)
    suppressed: list[tuple[datetime, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.schedulers:
            self.schedulers = [Scheduler(store=self.store, jobs=[NudgeJob(hours=DEFAULT_HOURS)], workspace=WS)]

    def person(self, handle: str) -> Person:
        found = self.store.find_person(WS, handle=handle)
        assert found is not None, handle
        return found

    def at(self, when: datetime, action: Callable[[datetime], object]) -> None:
        self.script.append((when, len(self.script), action))

    def create(self, when: datetime, requester: str, provider: str, text: str = "please help", **kw: object) -> None:
        def run(now: datetime) -> None:
            create_request(
                store=self.store,
                directory=Directory(self.store, WS),
                requester=self.person(requester),
                provider=self.person(provider),
                text=text,
                now=now,
                **kw,  # type: ignore[arg-type]
            )

        self.at(when, run)

    def act(self, when: datetime, who: str, number: int, action: ActionId, **inputs: object) -> None:
        def run(now: datetime) -> None:
            if "to" in inputs:
                inputs["to"] = self.person(str(inputs["to"]))
            act(
                store=self.store,
                directory=Directory(self.store, WS),
                workspace=WS,
                number=number,
                action=action,
                actor=self.person(who),
                now=now,
                hours=DEFAULT_HOURS,
                inputs=ActionInput(**inputs),  # type: ignore[arg-type]
            )

        self.at(when, run)

    def advance(self, until: datetime) -> None:
        """Play the script's actions up to and including ``until``, each at its own time."""
        self.script.sort(key=lambda entry: (entry[0], entry[1]))
        while self.script and self.script[0][0] <= until:
            when, _order, action = self.script.pop(0)
            action(when)

    def run(self, start: datetime, end: datetime, *, schedulers: list[Scheduler] | None = None) -> None:
        """Tick from ``start`` up to (not including) ``end``; script actions happen at their exact
        time, before the tick at or after it."""
        runners = self.schedulers if schedulers is None else schedulers
        tick = start
        while tick < end:
            self.advance(tick)
            for scheduler in runners:
                report = scheduler.run_due(tick)
                assert not report.errors, report.errors
                for job in report.jobs:
                    self.sent += [(tick, key, recipient) for key, recipient in job.claimed.items()]
                    self.suppressed += [(tick, key) for key in job.suppressed]
                self.messages += [(tick, message) for message in report.sent]
            tick += STEP

    def sent_keys(self) -> set[tuple[datetime, str, str]]:
        return set(self.sent)


def _life(store: Store, **job: object) -> Life:
    return Life(store, [Scheduler(store=store, jobs=[NudgeJob(**{"hours": DEFAULT_HOURS, **job})], workspace=WS)])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rules


def test_unacknowledged_request_nudges_its_provider_once_after_four_working_hours(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "alice", "bob")  # Monday 10:00 London
    life.run(utc(11, 23, 0), utc(11, 24, 12))
    assert ("nudge:unacked:R-1:e0", "P-bob") in {(k, r) for _t, k, r in life.sent}
    bob = [(t, k) for t, k, r in life.sent if r == "P-bob"]
    assert bob == [(utc(11, 23, 14), "nudge:unacked:R-1:e0")]
    [(_when, message)] = [(t, m) for t, m in life.messages if m.recipient_id == "P-bob"]
    assert message.kind == "nudge" and message.title == "R-1 is waiting on you"
    assert message.facts[0].label == "R-1" and "not acknowledged after 4h" in message.facts[0].value
    assert message.request == 1
    pending = {item.key for item in org_store.list_outbox(WS) if item.message.kind == "nudge"}
    assert message.key in pending


def test_acknowledged_request_gets_no_nudge(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "alice", "bob")
    life.act(utc(11, 23, 13, 59), "bob", 1, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 23, 0), utc(11, 26, 0))
    assert life.sent == [] and sent_nudges(org_store, WS) == []


def test_friday_evening_request_waits_for_monday_not_the_weekend(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 27, 17, 0), "alice", "bob")  # Friday 17:00 London: 1 working hour left
    life.run(utc(11, 27, 0), utc(12, 1, 0))
    # 1h on Friday, 3h on Monday from 09:00
    assert [(t, k) for t, k, _r in life.sent] == [(utc(11, 30, 12), "nudge:unacked:R-1:e0")]


def test_escalation_goes_once_to_the_manager_after_sixteen_working_hours(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "alice", "bob")
    life.act(utc(11, 25, 10), "bob", 1, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 23, 0), utc(11, 28, 0))
    # Monday 10-18 (8h) + Tuesday 09-17 (8h)
    assert sorted(life.sent) == [
        (utc(11, 23, 14), "nudge:unacked:R-1:e0", "P-bob"),
        (utc(11, 24, 17), "escalate:R-1:e0", "P-dave"),
    ]
    escalation = next(m for _t, m in life.messages if m.recipient_id == "P-dave")
    assert escalation.title == "Escalation: R-1 needs attention"
    assert "bob has not acknowledged alice's request after 16h" in escalation.facts[0].value


def test_overdue_request_nudges_its_provider_once(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "alice", "bob", due_at=utc(11, 24, 15))
    life.act(utc(11, 23, 10, 30), "bob", 1, ActionId.ACKNOWLEDGE)
    life.act(utc(11, 25, 11), "bob", 1, ActionId.DONE)
    life.run(utc(11, 23, 0), utc(11, 27, 0))
    assert life.sent == [(utc(11, 24, 15), "nudge:overdue:R-1:e0", "P-bob")]
    message = life.messages[0][1]
    assert "overdue since Tue 24 Nov 15:00" in message.facts[0].value


def test_nudges_wait_for_the_recipients_working_hours(org_store: Store) -> None:
    life = _life(org_store)
    # carol (Tokyo) ignores R-1 sent at 09:00 Tokyo; her 16 working hours end Tuesday 16:00 Tokyo
    # = 07:00 London, so dave hears at 09:00 London
    life.create(utc(11, 23, 0), "alice", "carol")
    life.act(utc(11, 24, 10), "carol", 1, ActionId.ACKNOWLEDGE)
    # R-2 is due 20:00 London on Tuesday: bob hears about it at 09:00 on Wednesday, not in the evening
    life.create(utc(11, 23, 10), "alice", "bob", due_at=utc(11, 24, 20))
    life.act(utc(11, 23, 10, 30), "bob", 2, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 23, 0), utc(11, 26, 0))
    assert sorted(life.sent) == [
        (utc(11, 23, 4), "nudge:unacked:R-1:e0", "P-carol"),  # 13:00 Tokyo
        (utc(11, 24, 9), "escalate:R-1:e0", "P-dave"),
        (utc(11, 25, 9), "nudge:overdue:R-2:e0", "P-bob"),
    ]


def test_holidays_push_nudges_to_the_next_working_day(org_store: Store) -> None:
    hours = WorkingHours(holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
    life = _life(org_store, hours=hours)
    life.create(utc(12, 24, 16), "alice", "bob")  # Thursday 16:00; Friday 25th and Monday 28th are off
    life.run(utc(12, 24, 0), utc(12, 30, 0))
    assert [(t, k) for t, k, _r in life.sent] == [(utc(12, 29, 11), "nudge:unacked:R-1:e0")]


def test_nudges_for_one_person_in_one_run_are_grouped_into_one_message(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 20, 10), "erin", "bob", due_at=utc(11, 23, 13))  # Friday
    life.act(utc(11, 20, 10, 30), "bob", 1, ActionId.ACKNOWLEDGE)
    life.create(utc(11, 23, 9), "alice", "bob", "first")
    life.create(utc(11, 23, 9), "erin", "bob", "second")
    life.run(utc(11, 23, 0), utc(11, 23, 18))
    assert sorted(k for t, k, _r in life.sent if t == utc(11, 23, 13)) == [
        "nudge:overdue:R-1:e0",
        "nudge:unacked:R-2:e0",
        "nudge:unacked:R-3:e0",
    ]
    bob = [(t, m) for t, m in life.messages if m.recipient_id == "P-bob"]
    assert len(bob) == 1
    when, message = bob[0]
    assert when == utc(11, 23, 13)
    assert message.title == "3 requests need your attention"
    assert [f.label for f in message.facts] == ["R-1", "R-2", "R-3"]
    assert message.request is None


def test_hand_off_restarts_the_clock_for_the_new_provider(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 12), "bob", 1, ActionId.HANDOFF, to="carol", note="carol owns this")
    life.run(utc(11, 23, 0), utc(11, 24, 12))
    # bob handed it off within 3h: no nudge for him. carol got it at 12:00 London = 21:00 Tokyo,
    # so her four working hours run 09:00-13:00 Tokyo on Tuesday = 04:00 UTC.
    assert life.sent == [(utc(11, 24, 4), "nudge:unacked:R-1:e1", "P-carol")]
    request = org_store.get_request(WS, 1)
    assert request is not None and holder_since(request) == (1, utc(11, 23, 12))


def test_reopened_request_needs_a_fresh_acknowledgement(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 9, 30), "bob", 1, ActionId.DONE)
    life.act(utc(11, 23, 10), "alice", 1, ActionId.REOPEN, note="not quite")
    life.run(utc(11, 23, 0), utc(11, 24, 0))
    assert life.sent == [(utc(11, 23, 14), "nudge:unacked:R-1:e2", "P-bob")]


def test_thresholds_come_from_the_settings(org_store: Store) -> None:
    life = _life(org_store, settings=NudgeSettings(unacknowledged_hours=1, escalate_hours=2, overdue=False))
    life.create(utc(11, 23, 10), "alice", "bob", due_at=utc(11, 23, 11))
    life.run(utc(11, 23, 0), utc(11, 24, 0))
    assert sorted(life.sent) == [
        (utc(11, 23, 11), "nudge:unacked:R-1:e0", "P-bob"),
        (utc(11, 23, 12), "escalate:R-1:e0", "P-dave"),
    ]


def test_disabled_nudges_send_nothing(org_store: Store) -> None:
    life = _life(org_store, settings=NudgeSettings(enabled=False))
    life.create(utc(11, 23, 10), "alice", "bob")
    life.run(utc(11, 23, 0), utc(11, 26, 0))
    assert life.sent == []


def test_no_escalation_without_a_manager(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "dave", "grace")  # grace has no manager and her team is led by dave
    life.run(utc(11, 23, 0), utc(11, 26, 0))
    assert [k for _t, k, _r in life.sent] == ["nudge:unacked:R-1:e0", "escalate:R-1:e0"]
    assert [r for _t, _k, r in life.sent] == ["P-grace", "P-dave"]
    org_store.save_org([p.model_copy(update={"manager_id": None}) for p in org_store.list_people(WS)])
    org_store.save_org([], [t.model_copy(update={"manager_id": None}) for t in org_store.list_teams(WS)])
    life.create(utc(11, 30, 10), "alice", "erin")
    life.run(utc(11, 30, 0), utc(12, 3, 0))
    assert [k for _t, k, _r in life.sent][2:] == ["nudge:unacked:R-2:e0"]


# --------------------------------------------------------------------------- snooze and mute


def test_snooze_from_the_nudge_reminds_once_when_it_ends(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 24, 9), "erin", "bob")

    def click_snooze(now: datetime) -> None:
        bob = life.person("bob")
        reply = handle_nudge_action(
            store=org_store, actor=bob, action=SNOOZE_ACTION, request=1, value="2h", now=now, hours=DEFAULT_HOURS
        )
        assert reply.startswith("Snoozed R-1 until Tue 24 Nov 15:10")

    life.at(utc(11, 24, 13, 10), click_snooze)
    life.act(utc(11, 24, 16), "bob", 1, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 24, 0), utc(11, 26, 0))
    assert life.sent == [
        (utc(11, 24, 13), "nudge:unacked:R-1:e0", "P-bob"),
        (utc(11, 24, 15, 15), "nudge:snoozed:R-1:P-bob:2026-11-24T15:10:00+00:00", "P-bob"),
    ]
    assert org_store.list_docs("nudge_snooze", WS) == []  # spent snoozes are forgotten


def test_snooze_before_the_nudge_holds_it_but_never_the_escalation(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 25, 9), "erin", "bob")  # Wednesday

    def snooze_a_day(now: datetime) -> None:
        snooze(
            store=org_store,
            person=life.person("bob"),
            number=1,
            now=now,
            length=parse_snooze("1d", hours=DEFAULT_HOURS),
            hours=DEFAULT_HOURS,
        )

    life.at(utc(11, 25, 9, 30), snooze_a_day)
    life.act(utc(11, 26, 17), "bob", 1, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 25, 0), utc(11, 28, 0))
    # one working day = 9h: Wed 09:30-18:00 + Thu 09:00-09:30
    assert sorted(life.sent) == [
        (utc(11, 26, 9, 30), "nudge:snoozed:R-1:P-bob:2026-11-26T09:30:00+00:00", "P-bob"),
        (utc(11, 26, 9, 30), "nudge:unacked:R-1:e0", "P-bob"),
        (utc(11, 26, 16), "escalate:R-1:e0", "P-dave"),
    ]
    bob = [m for _t, m in life.messages if m.recipient_id == "P-bob"]
    assert len(bob) == 1 and len(bob[0].facts) == 1
    assert "snooze is over" in bob[0].facts[0].value and "not acknowledged" in bob[0].facts[0].value


def test_snooze_that_ends_after_the_request_is_answered_sends_nothing(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 24, 9), "erin", "bob")
    life.at(
        utc(11, 24, 9, 5),
        lambda now: snooze(store=org_store, person=life.person("bob"), number=1, now=now, hours=DEFAULT_HOURS),
    )
    life.act(utc(11, 24, 11), "bob", 1, ActionId.ACKNOWLEDGE)
    life.run(utc(11, 24, 0), utc(11, 25, 0))
    assert life.sent == []
    assert org_store.list_docs("nudge_snooze", WS) == []


def test_only_the_people_on_a_request_can_snooze_it(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 24, 9), "alice", "bob")
    life.run(utc(11, 24, 9), utc(11, 24, 9, 15))
    with pytest.raises(NotFound):
        snooze(store=org_store, person=life.person("erin"), number=1, now=utc(11, 24, 10), hours=DEFAULT_HOURS)
    with pytest.raises(NotFound):
        snooze(store=org_store, person=life.person("bob"), number=99, now=utc(11, 24, 10), hours=DEFAULT_HOURS)


def test_snooze_lengths_are_working_time() -> None:
    assert parse_snooze(None, hours=DEFAULT_HOURS) == timedelta(hours=4)
    assert parse_snooze("30m", hours=DEFAULT_HOURS) == timedelta(minutes=30)
    assert parse_snooze("2h", hours=DEFAULT_HOURS) == timedelta(hours=2)
    assert parse_snooze(" 1d ", hours=DEFAULT_HOURS) == timedelta(hours=9)
    assert parse_snooze("2", hours=DEFAULT_HOURS, settings=NudgeSettings(snooze_hours=1)) == timedelta(hours=2)
    for bad in ("0h", "soon", "-1h"):
        with pytest.raises(InvalidCommand):
            parse_snooze(bad, hours=DEFAULT_HOURS)


def test_muted_person_gets_no_nudges_but_their_manager_still_hears_escalations(org_store: Store) -> None:
    life = _life(org_store)
    life.at(utc(11, 23, 8), lambda now: set_muted(store=org_store, person=life.person("erin"), muted=True, now=now))
    life.create(utc(11, 23, 9), "alice", "erin")
    life.run(utc(11, 23, 0), utc(11, 26, 0))
    assert life.sent == [(utc(11, 24, 16), "escalate:R-1:e0", "P-frank")]
    assert life.suppressed == [(utc(11, 23, 13), "nudge:unacked:R-1:e0")]
    # unmuting does not bring back what was muted
    set_muted(store=org_store, person=life.person("erin"), muted=False, now=utc(11, 26, 0))
    life.run(utc(11, 26, 0), utc(11, 27, 0))
    assert len(life.sent) == 1


def test_mute_flag_on_the_person_and_the_stored_choice(org_store: Store) -> None:
    erin = org_store.find_person(WS, handle="erin")
    assert erin is not None
    org_store.save_org([erin.model_copy(update={"mute_nudges": True})])
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "erin")
    life.create(utc(11, 23, 9), "erin", "bob")
    life.at(utc(11, 23, 8), lambda now: set_muted(store=org_store, person=life.person("bob"), muted=True, now=now))
    life.at(utc(11, 23, 12), lambda now: set_muted(store=org_store, person=life.person("erin"), muted=False, now=now))
    life.run(utc(11, 23, 0), utc(11, 23, 18))
    assert life.sent == [(utc(11, 23, 13), "nudge:unacked:R-1:e0", "P-erin")]
    assert life.suppressed == [(utc(11, 23, 13), "nudge:unacked:R-2:e0")]


def test_mute_and_snooze_buttons_act_on_the_stored_choice(org_store: Store) -> None:
    bob = org_store.find_person(WS, handle="bob")
    assert bob is not None
    reply = handle_nudge_action(
        store=org_store, actor=bob, action=MUTE_ACTION, request=1, value=None, now=utc(11, 23), hours=DEFAULT_HOURS
    )
    assert "muted" in reply
    assert org_store.get_doc("nudge_mute", WS, "P-bob") == {"muted": True, "at": utc(11, 23).isoformat()}
    handle_nudge_action(
        store=org_store, actor=bob, action="unmute", request=1, value=None, now=utc(11, 23, 1), hours=DEFAULT_HOURS
    )
    assert org_store.get_doc("nudge_mute", WS, "P-bob")["muted"] is False  # type: ignore[index]
    with pytest.raises(InvalidCommand):
        handle_nudge_action(
            store=org_store, actor=bob, action="explode", request=1, value=None, now=utc(11, 23), hours=DEFAULT_HOURS
        )


@pytest.mark.skipif(
    "snooze" not in {a.value for a in ActionId} or "mute" not in {a.value for a in ActionId},
    reason="ActionId.SNOOZE / ActionId.MUTE are not wired into bot.models yet",
)
def test_nudge_messages_carry_snooze_and_mute_buttons(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.run(utc(11, 23, 0), utc(11, 23, 14))
    [(_t, message)] = life.messages
    assert [(a.id.value, a.label, a.request, a.value) for a in message.actions] == [
        ("snooze", "Snooze R-1 4h", 1, None),
        ("mute", "Mute nudges", 1, None),
    ]
    reply = handle_nudge_action(
        store=org_store,
        actor=life.person("bob"),
        action=message.actions[0].id.value,
        request=1,
        value=None,
        now=utc(11, 23, 14),
        hours=DEFAULT_HOURS,
    )
    assert reply.startswith("Snoozed R-1 until")


# --------------------------------------------------------------------------- follow-ups


def test_unanswered_poor_rating_reminds_the_provider_once(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 10), "bob", 1, ActionId.DONE)
    life.act(utc(11, 23, 15), "alice", 1, ActionId.RATE, rating=Rating(score=2))
    life.run(utc(11, 23, 0), utc(11, 30, 0))
    # two working days = 18h: Mon 15-18 (3h) + Tue (9h) + Wed 09-15 (6h)
    assert life.sent == [(utc(11, 25, 15), "followup:recovery:R-1:e2", "P-bob")]
    assert "rated it 2/5" in life.messages[0][1].facts[0].value


def test_good_rating_needs_no_reminder(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 10), "bob", 1, ActionId.DONE)
    life.act(utc(11, 23, 15), "alice", 1, ActionId.RATE, rating=Rating(score=4))
    life.run(utc(11, 23, 0), utc(11, 30, 0))
    assert life.sent == []


def test_unanswered_follow_up_prompt_reminds_the_requester_once_in_their_hours(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 10), "bob", 1, ActionId.DONE)
    life.act(utc(11, 23, 15), "alice", 1, ActionId.RATE, rating=Rating(score=1))
    life.act(utc(11, 24, 10), "bob", 1, ActionId.RECOVER, note="I'll redo the numbers")
    life.run(utc(11, 23, 0), utc(12, 1, 0))
    # alice is in New York: 18 working hours from Tue 05:00 NY are Tue and Wed 09-18 NY,
    # ending Wednesday 18:00 NY (23:00 UTC) after her day ends: she hears Thursday 09:00 NY.
    assert life.sent == [(utc(11, 26, 14), "followup:answer:R-1:e3", "P-alice")]
    assert "answered your rating" in life.messages[0][1].facts[0].value


def test_answered_follow_up_needs_no_reminder(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 9), "alice", "bob")
    life.act(utc(11, 23, 10), "bob", 1, ActionId.DONE)
    life.act(utc(11, 23, 15), "alice", 1, ActionId.RATE, rating=Rating(score=1))
    life.act(utc(11, 24, 10), "bob", 1, ActionId.RECOVER, note="redo")
    life.act(utc(11, 24, 16), "alice", 1, ActionId.FOLLOW_UP, satisfied=True)
    life.run(utc(11, 23, 0), utc(12, 1, 0))
    assert life.sent == []


def test_due_reminders_lists_what_is_due_before_quiet_hours(org_store: Store) -> None:
    life = _life(org_store)
    life.create(utc(11, 23, 10), "alice", "bob")
    life.run(utc(11, 23, 10), utc(11, 23, 10, 15))
    due = due_reminders(store=org_store, workspace=WS, now=utc(11, 23, 21), hours=DEFAULT_HOURS)
    assert [(d.key, d.recipient_id, d.due_at) for d in due] == [("nudge:unacked:R-1:e0", "P-bob", utc(11, 23, 14))]
