"""Pruning after the retention period (:meth:`bot.ports.Store.prune`), on every backend: what
is kept only for a while goes, and nothing pending, leased, failed, still needed by a live
request's reminders, or a card reference ever does."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.delivery import deliver_due
from bot.jobs import JobContext, default_registry
from bot.models import ActionId, CardRef, InboxItem, Message, Person
from bot.people import Directory
from bot.ports import Store
from bot.requests import act, create_request
from bot.scheduler import Scheduler
from bot.workhours import DEFAULT_HOURS
from tests.conftest import small_org
from tests.contract.factories import NOW, outbox_item, request

OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=2)
BEFORE = NOW - timedelta(days=30)


def inbox_item(key: str, received: datetime) -> InboxItem:
    return InboxItem(
        key=key,
        platform="slack",
        kind="slack.command",
        payload={"text": "x"},
        received_at=received,
        owner="a",
        lease_until=received + timedelta(seconds=20),
    )


def sent(store: Store, key: str, created: datetime, state: str = "sent") -> None:
    store.enqueue([outbox_item(key, created_at=created)])
    item = store.get_outbox_item(key)
    assert item is not None
    store.save_outbox_item(item.model_copy(update={"state": state, "attempts": 1, "platform_ref": "ts-1"}))


def test_prune_removes_what_is_old_and_done_and_keeps_everything_still_needed(store: Store) -> None:
    # Outbox: sent long ago goes; sent lately, pending (however old) and failed stay.
    sent(store, "out-sent-old", OLD)
    sent(store, "out-sent-recent", RECENT)
    sent(store, "out-failed-old", OLD, state="failed")
    store.enqueue([outbox_item("out-pending-old", created_at=OLD)])
    # Inbox: done long ago goes; done lately, pending (leased or not) and failed stay.
    for key, received in (("in-done-old", OLD), ("in-done-recent", RECENT), ("in-failed-old", OLD)):
        store.accept_inbox(inbox_item(key, received))
    store.accept_inbox(inbox_item("in-pending-old", OLD))
    store.finish_inbox("default", "in-done-old", owner="a", at=OLD)
    store.finish_inbox("default", "in-done-recent", owner="a", at=RECENT)
    store.finish_inbox("default", "in-failed-old", owner="a", at=OLD, error="boom")
    # Claims: old ones go unless they name a request still live; recent ones stay.
    for key, made in (
        ("digest:P-dave:2026-W41", OLD),
        ("nudge:unacked:R-1:e0", OLD),
        ("nudge:unacked:R-2:e0", OLD),
        ("escalate:R-12:e0", OLD),
        ("nudge-lease:P-bob:2026-10-15T09:00", OLD),
        ("digest:P-dave:2026-W47", RECENT),
    ):
        assert store.claim("default", key, at=made)
    # Idempotency keys, dated by the change they made.
    first, _ = store.create_request(request(created_at=OLD), idempotency_key="slack:cmd:old")
    second, _ = store.create_request(request(created_at=RECENT), idempotency_key="slack:cmd:recent")
    # A card posted long ago, of a request still open: its reference must stay.
    store.save_card_ref(CardRef(card_key="default:R-1:card", platform="slack", ref="C1:1700000000.1"))

    pruned = store.prune("default", before=BEFORE, keep_requests={1})

    assert pruned == {"outbox": 1, "inbox": 1, "claims": 4, "idempotency": 1}
    assert store.get_outbox_item("out-sent-old") is None
    for key in ("out-sent-recent", "out-failed-old", "out-pending-old"):
        assert store.get_outbox_item(key) is not None, key
    assert store.get_inbox_item("default", "in-done-old") is None
    for key in ("in-done-recent", "in-failed-old", "in-pending-old"):
        assert store.get_inbox_item("default", key) is not None, key
    for key, kept in (
        ("digest:P-dave:2026-W41", False),
        ("nudge:unacked:R-1:e0", True),
        ("nudge:unacked:R-2:e0", False),
        ("escalate:R-12:e0", False),
        ("nudge-lease:P-bob:2026-10-15T09:00", False),
        ("digest:P-dave:2026-W47", True),
    ):
        assert store.claim("default", key, at=NOW) is not kept, key  # a pruned key can be claimed again
    assert store.was_seen("default", "slack:cmd:recent") and not store.was_seen("default", "slack:cmd:old")
    assert store.get_request("default", first.number) is not None  # requests are never pruned
    assert store.get_request("default", second.number) is not None
    assert store.get_card_ref("default", "default:R-1:card", "slack") is not None
    assert store.prune("default", before=BEFORE, keep_requests={1}) == {
        "outbox": 0,
        "inbox": 0,
        "claims": 0,
        "idempotency": 0,
    }


def test_prune_touches_one_workspace_only(store: Store) -> None:
    sent(store, "other-sent-old", OLD)
    other = outbox_item("acme-sent-old", created_at=OLD, workspace="acme")
    store.enqueue([other])
    item = store.get_outbox_item("acme-sent-old")
    assert item is not None
    store.save_outbox_item(item.model_copy(update={"state": "sent", "attempts": 1}))
    assert store.claim("acme", "digest:P-x:2026-W41", at=OLD)

    assert store.prune("default", before=BEFORE)["outbox"] == 1
    assert store.get_outbox_item("acme-sent-old") is not None
    assert store.claim("acme", "digest:P-x:2026-W41", at=NOW) is False


class RecordingNotifier:
    """A notifier that remembers each send and answers with a fresh card reference."""

    platform = "slack"

    def __init__(self) -> None:
        self.sends: list[tuple[str, str | None]] = []

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        self.sends.append((message.key, card_ref))
        return card_ref or f"C-{person.id}:{len(self.sends)}"


def test_the_daily_prune_keeps_an_open_requests_card_and_reminders_months_later(store: Store) -> None:
    """R-1 stays open and unacknowledged for 40 days: its card, nudge and escalation went out at
    once. The daily prune then drops the old sent messages, yet no reminder is sent again and
    bob's acknowledgement still updates the card posted 40 days ago, in place."""
    people, teams = small_org()
    store.save_org(people, teams)
    directory = Directory(store, "default")
    alice, bob = directory.by_handle("@alice"), directory.by_handle("@bob")
    assert isinstance(alice, Person) and isinstance(bob, Person)
    notifier = RecordingNotifier()
    jobs = default_registry().build(JobContext(retention_days=30, hours=DEFAULT_HOURS), only=["nudges", "prune"])
    scheduler = Scheduler(store=store, jobs=jobs, workspace="default")
    created = create_request(
        store=store, directory=directory, requester=alice, provider=bob, text="the Q3 numbers", now=OLD
    ).request
    claimed_early: set[str] = set()
    for hour in range(24 * 5):  # five days of hourly passes: the nudge and the escalation go out
        now = OLD + timedelta(hours=hour)
        claimed_early |= {key for job in scheduler.run_due(now).jobs for key in job.claimed}
        deliver_due(store=store, notifiers=[notifier], now=now)
    reminders = {key for key in claimed_early if key.startswith(("nudge:", "escalate:"))}
    assert reminders, "the reminders went out while the request was fresh"
    card_key, first_ref = next((key, ref) for key, ref in notifier.sends if ref is None)
    posted = next(ref for ref in (store.get_card_ref("default", k, "slack") for k in _card_keys(store)) if ref)
    sent_before = {item.key for item in store.list_outbox("default", state="sent")}

    # Another replica (or a restart: no memory of what was claimed) runs the day's first pass.
    replica = Scheduler(
        store=store,
        jobs=default_registry().build(JobContext(hours=DEFAULT_HOURS), only=["prune", "nudges"]),
        workspace="default",
    )
    report = replica.run_due(NOW)

    assert [job.name for job in report.jobs] == ["nudges", "prune"]
    restarted = Scheduler(
        store=store,
        jobs=default_registry().build(JobContext(hours=DEFAULT_HOURS), only=["nudges"]),
        workspace="default",
    )
    report = restarted.run_due(NOW + timedelta(hours=1))  # what a fresh process finds due after the prune
    assert not sent_before & {item.key for item in store.list_outbox("default", state="sent")}, "old sends pruned"
    claimed_later = {key for job in report.jobs for key in job.claimed}
    assert not claimed_later & claimed_early, "a reminder was claimed (and sent) a second time"
    assert store.get_card_ref("default", posted.card_key, "slack") == posted
    act(
        store=store,
        directory=directory,
        workspace="default",
        number=created.number,
        action=ActionId.ACKNOWLEDGE,
        actor=bob,
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    before = len(notifier.sends)
    deliver_due(store=store, notifiers=[notifier], now=NOW + timedelta(minutes=1))
    updates = [ref for _key, ref in notifier.sends[before:] if ref is not None]
    assert posted.ref in updates, "the card posted 40 days ago was updated in place"
    assert card_key and first_ref is None


def _card_keys(store: Store) -> list[str]:
    return sorted({doc["card_key"] for kind, doc in store.export_records() if kind == "card_refs"})
