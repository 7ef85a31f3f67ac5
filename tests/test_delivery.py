"""Outbox delivery: retries with backoff, permanent failures reported, cards edited in place."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from bot.delivery import MAX_ATTEMPTS, DeliveryError, Dispatcher, backoff, deliver_due
from bot.models import ActionId, Message, OutboxItem, Person
from bot.people import Directory
from bot.ports import NoTelemetry, Store
from bot.requests import act, create_request
from bot.workhours import DEFAULT_HOURS
from handlers.observability import InstrumentedNotifier, Metrics
from tests.conftest import NOW


@dataclass
class RecordingNotifier:
    """A notifier that records sends and fails on demand."""

    platform: str = "test"
    failures: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)

    def can_reach(self, person: Person) -> bool:
        return person.id not in self.unreachable

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message.kind, person.handle, card_ref, thread_ref))
        return card_ref or f"ref-{len(self.sent)}"


def _create(store: Store) -> None:
    directory = Directory(store, "default")
    create_request(
        store=store,
        directory=directory,
        requester=directory.require("P-alice"),
        provider=directory.require("P-bob"),
        text="need numbers",
        now=NOW,
    )


def test_each_queued_message_is_delivered_once(org_store: Store) -> None:
    _create(org_store)
    notifier = RecordingNotifier()
    report = deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    assert report.sent == 2
    again = deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(hours=1))
    assert again.sent == 0 and len(notifier.sent) == 2
    assert {item.state for item in org_store.list_outbox("default")} == {"sent"}


def test_card_updates_edit_the_card_posted_before_and_notes_go_in_its_thread(org_store: Store) -> None:
    _create(org_store)
    notifier = RecordingNotifier()
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    directory = Directory(org_store, "default")
    act(
        store=org_store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.ACKNOWLEDGE,
        actor=directory.require("P-bob"),
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    first_provider_ref = "ref-1"
    updates = notifier.sent[2:]
    assert ("provider_card", "bob", first_provider_ref, None) in updates
    note = next(s for s in updates if s[0] == "update")
    assert note[1] == "alice" and note[3] == "ref-2", "the note goes into the requester card's thread"


def test_transient_failures_are_retried_with_backoff_then_delivered(org_store: Store) -> None:
    _create(org_store)
    notifier = RecordingNotifier(failures=[DeliveryError("HTTP 503"), DeliveryError("ratelimited", retry_after=30)])
    first = deliver_due(store=org_store, notifiers=[notifier], now=NOW, rng=random.Random(1))
    assert first.retried == 2 and first.sent == 0
    items = org_store.list_outbox("default")
    waits = sorted(item.next_attempt_at - NOW for item in items)
    assert waits[0] >= timedelta(seconds=1) and timedelta(seconds=30) <= waits[1] <= timedelta(seconds=33)
    assert {item.last_error for item in items} == {"HTTP 503", "ratelimited"}
    nothing_yet = deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(seconds=0.5))
    assert nothing_yet.sent == 0
    later = deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(minutes=1))
    assert later.sent == 2


def test_permanent_failure_is_recorded_and_the_requester_is_told(org_store: Store) -> None:
    _create(org_store)
    notifier = RecordingNotifier(failures=[DeliveryError("account_inactive", permanent=True)])
    report = deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    assert report.failed == 1
    failed = org_store.list_outbox("default", state="failed")
    assert len(failed) == 1 and failed[0].last_error == "account_inactive"
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    notices = [item for item in org_store.list_outbox("default") if item.key.endswith(":failed")]
    assert len(notices) == 1
    assert notices[0].message.recipient_id == "P-alice"
    assert notices[0].message.text == "Bob could not be notified about R-1: account_inactive"


def test_a_recipient_not_connected_yet_gets_it_when_they_connect_and_the_requester_is_told_once(
    org_store: Store,
) -> None:
    from bot.delivery import UNREACHABLE_WINDOW

    _create(org_store)
    notifier = RecordingNotifier(unreachable={"P-bob"})
    first = deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    assert first.retried == 1 and first.failed == 0
    waiting = [i for i in org_store.list_outbox("default") if i.key.endswith(":waiting")]
    assert [w.message.text for w in waiting] == [
        "Bob hasn't connected servechain on Slack or Teams yet; they'll get R-1 as soon as they do."
    ]
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(minutes=30))
    assert len([i for i in org_store.list_outbox("default") if i.key.endswith(":waiting")]) == 1, "told once"
    notifier.unreachable.clear()  # bob connects
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(hours=1))
    assert ("provider_card", "bob", None, None) in notifier.sent
    assert org_store.list_outbox("default", state="failed") == []

    _create(org_store)  # R-2, and bob disconnects for good
    notifier.unreachable.add("P-bob")
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + UNREACHABLE_WINDOW + timedelta(minutes=1))
    failed = org_store.list_outbox("default", state="failed")
    assert [f.last_error for f in failed] == ["bob can't be reached on any connected platform"]


def test_an_older_card_state_retried_late_never_overwrites_a_newer_one(org_store: Store) -> None:
    """Slack rate-limits bob's first card; he acknowledges before the retry: the retry of the
    'open' card must not overwrite the 'acknowledged' one."""
    _create(org_store)
    notifier = RecordingNotifier(failures=[DeliveryError("ratelimited", retry_after=30)])
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)  # provider card throttled, requester card sent
    directory = Directory(org_store, "default")
    act(
        store=org_store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.ACKNOWLEDGE,
        actor=directory.require("P-bob"),
        now=NOW + timedelta(seconds=5),
        hours=DEFAULT_HOURS,
    )
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(seconds=5))
    provider_sends = [s for s in notifier.sent if s[0] == "provider_card"]
    assert len(provider_sends) == 1, "the acknowledged card was posted"
    report = deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(minutes=1))
    assert report.skipped == 1 and report.sent == 0, "the stale 'open' card was dropped, not sent"
    assert [s for s in notifier.sent if s[0] == "provider_card"] == provider_sends
    stale = [i for i in org_store.list_outbox("default") if i.last_error == "superseded by a newer card"]
    assert len(stale) == 1 and stale[0].message.revision == 1


def test_gives_up_after_the_maximum_attempts(org_store: Store) -> None:
    _create(org_store)
    notifier = RecordingNotifier(failures=[DeliveryError("HTTP 500") for _ in range(2 * MAX_ATTEMPTS)])
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        deliver_due(store=org_store, notifiers=[notifier], now=now)
        now += timedelta(hours=1)
    assert len(org_store.list_outbox("default", state="failed")) == 2


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    waits = [backoff(n, rng) for n in range(1, 15)]
    assert waits[0] < waits[4] < waits[8]
    assert max(waits) <= 15 * 60


def test_a_failed_escalation_to_a_manager_is_not_revealed_to_the_requester(org_store: Store) -> None:
    from bot.models import Rating
    from bot.requests import ActionInput

    _create(org_store)
    directory = Directory(org_store, "default")
    alice, bob = directory.require("P-alice"), directory.require("P-bob")

    def step(action: ActionId, actor: Person, **inputs: object) -> None:
        act(
            store=org_store,
            directory=directory,
            workspace="default",
            number=1,
            action=action,
            actor=actor,
            now=NOW,
            hours=DEFAULT_HOURS,
            inputs=ActionInput(**inputs),  # type: ignore[arg-type]
        )

    step(ActionId.DONE, bob)
    step(ActionId.RATE, alice, rating=Rating(score=1))
    step(ActionId.RECOVER, bob, note="we'll fix it")
    step(ActionId.FOLLOW_UP, alice, satisfied=False)
    step(ActionId.RECOVER, bob, note="and a call")  # the manager comes in after the second round
    step(ActionId.FOLLOW_UP, alice, satisfied=False)
    notifier = RecordingNotifier(unreachable={"P-dave"})
    deliver_due(store=org_store, notifiers=[notifier], now=NOW)
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(days=8))
    deliver_due(store=org_store, notifiers=[notifier], now=NOW + timedelta(days=8))
    failed = org_store.list_outbox("default", state="failed")
    assert [f.message.recipient_id for f in failed] == ["P-dave"]
    assert not [i for i in org_store.list_outbox("default") if i.key.endswith((":failed", ":waiting"))]


@dataclass
class LatencyTelemetry(NoTelemetry):
    """Telemetry that keeps each ``message_sent``."""

    sent: list[tuple[str, float]] = field(default_factory=list)

    def message_sent(self, *, platform: str, seconds: float) -> None:
        self.sent.append((platform, seconds))


def test_the_dispatcher_reports_each_delivery_latency_without_reading_the_store_again(org_store: Store) -> None:
    """The delivery latency (queued → sent) comes from the leased item: before, the metrics
    wrapper read each sent item back from the store (one more PostgreSQL round trip per send)."""
    _create(org_store)
    telemetry = LatencyTelemetry()
    notifier = RecordingNotifier(failures=[DeliveryError("HTTP 503")])
    later = NOW + timedelta(seconds=90)
    reads: list[str] = []
    original = org_store.get_outbox_item

    def counted(key: str) -> OutboxItem | None:
        reads.append(key)
        return original(key)

    org_store.get_outbox_item = counted  # type: ignore[method-assign]
    with Dispatcher(store=org_store, notifiers=[notifier], clock=lambda: later, telemetry=telemetry) as dispatcher:
        report = dispatcher.drain()
    assert report.sent == 1 and report.retried == 1
    assert telemetry.sent == [("test", 90.0)], "one latency per message sent, none for the failed attempt"
    metrics = Metrics()
    InstrumentedNotifier(RecordingNotifier(), metrics).send(
        org_store.list_outbox("default")[0].message,
        Directory(org_store, "default").require("P-bob"),
        card_ref=None,
        thread_ref=None,
    )
    assert reads == [], "neither the dispatcher nor the metrics wrapper reads the item back"
