"""Cards turn overdue when the due date passes (issue 12, item 3), on every backend: both parties'
posted cards are updated once per due date, replicas send it once, a request closed in time gets
nothing, a later agreed date arms it again, and the refresh never overwrites a newer card."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bot.claims import claim_and_send
from bot.clicks import Click, run_click
from bot.delivery import deliver_due
from bot.dispatch import run_request
from bot.models import ActionId, Message, Person
from bot.overdue import OverdueCardsJob, overdue_cards, overdue_claim_key
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput
from bot.workhours import DEFAULT_HOURS
from tests.conftest import small_org
from tests.contract.conftest import StoreOpener

WS = "default"
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FRIDAY_5PM_NEW_YORK = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
"""``by friday`` as alice (New York) asks it."""
MONDAY_3PM = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
"""6 of bob's working hours (London) and 2 of alice's past the due date (see tests/test_overdue.py)."""


class RecordingNotifier:
    """Remembers each send (the message and the card it updates) and answers with a card reference."""

    platform = "slack"

    def __init__(self) -> None:
        self.sends: list[tuple[Message, str | None]] = []

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        self.sends.append((message, card_ref))
        return card_ref or f"C-{person.id}:{len(self.sends)}"


def _setup(store: Store) -> None:
    reset = getattr(store, "reset", None)
    if callable(reset):
        reset()
    store.save_org(*small_org())


def _person(store: Store, handle: str) -> Person:
    person = store.find_person(WS, handle=handle)
    assert person is not None
    return person


def _ask(store: Store) -> None:
    reply = run_request(
        store=store,
        actor=_person(store, "alice"),
        text="@bob need the Q3 numbers by friday",
        now=TUESDAY,
        hours=DEFAULT_HOURS,
    )
    assert reply.ok, reply.text
    request = store.get_request(WS, 1)
    assert request is not None and request.due_at == FRIDAY_5PM_NEW_YORK


def _click(store: Store, who: str, action: ActionId, now: datetime, **inputs: object) -> None:
    value = inputs.pop("value", None)
    click = Click(
        platform="test",
        actor=_person(store, who),
        action=action,
        request=1,
        value=value,  # type: ignore[arg-type]
        inputs=ActionInput(**inputs),  # type: ignore[arg-type]
    )
    run_click(store=store, click=click, now=now, hours=DEFAULT_HOURS)


def _overdue(message: Message) -> str | None:
    return {f.label: f.value for f in message.facts}.get("Overdue")


def test_both_cards_are_updated_in_place_once_the_due_date_passes(store: Store) -> None:
    _setup(store)
    _ask(store)
    notifier = RecordingNotifier()
    deliver_due(store=store, notifiers=[notifier], now=TUESDAY)
    posted = {m.card_key for m, _card_ref in notifier.sends if m.card_key}
    assert len(posted) == 2
    before = store.get_request(WS, 1)
    assert before is not None
    job = OverdueCardsJob(hours=DEFAULT_HOURS)

    assert job.run(store=store, workspace=WS, now=FRIDAY_5PM_NEW_YORK).sent == []  # due, not yet past
    report = job.run(store=store, workspace=WS, now=MONDAY_3PM)

    request = store.get_request(WS, 1)
    assert request is not None
    assert {m.recipient_id: _overdue(m) for m in report.sent} == {
        "P-bob": "⚠️ overdue by 6 working h",
        "P-alice": "⚠️ overdue by 2 working h",
    }
    assert {m.card_key for m in report.sent} == posted
    assert {m.revision for m in report.sent} == {len(request.events)}, "the same state: no event, no new revision"
    assert request.events == before.events, "nothing is added to the history"
    assert report.claimed == {overdue_claim_key(request): "P-bob"}

    notifier.sends.clear()
    delivered = deliver_due(store=store, notifiers=[notifier], now=MONDAY_3PM)
    assert delivered.sent == 2 and delivered.skipped == 0
    assert sorted((m.recipient_id, card_ref is not None) for m, card_ref in notifier.sends) == [
        ("P-alice", True),
        ("P-bob", True),
    ], "both posted cards are edited in place, nothing new is posted"

    assert job.run(store=store, workspace=WS, now=MONDAY_3PM + timedelta(hours=1)).sent == []
    again = OverdueCardsJob(hours=DEFAULT_HOURS).run(store=store, workspace=WS, now=MONDAY_3PM + timedelta(days=1))
    assert again.sent == [] and again.already == [overdue_claim_key(request)], "a restarted scheduler sends none"


def test_two_replicas_refresh_the_cards_once(open_store: StoreOpener) -> None:
    first = open_store()
    _setup(first)
    _ask(first)
    second = open_store()
    with ThreadPoolExecutor(2) as pool:
        reports = list(
            pool.map(
                lambda s: OverdueCardsJob(hours=DEFAULT_HOURS).run(store=s, workspace=WS, now=MONDAY_3PM),
                (first, second),
            )
        )
    assert sorted(m.recipient_id for r in reports for m in r.sent) == ["P-alice", "P-bob"]
    overdue_items = [i for i in first.list_outbox(WS) if ":overdue:" in i.key]
    assert len(overdue_items) == 2


def test_a_request_done_before_its_due_date_gets_nothing(store: Store) -> None:
    _setup(store)
    _ask(store)
    _click(store, "bob", ActionId.DONE, TUESDAY + timedelta(hours=2))
    assert OverdueCardsJob(hours=DEFAULT_HOURS).run(store=store, workspace=WS, now=MONDAY_3PM).sent == []


def test_a_later_agreed_date_arms_it_again(store: Store) -> None:
    _setup(store)
    _ask(store)
    _click(store, "bob", ActionId.ACKNOWLEDGE, TUESDAY + timedelta(minutes=1))
    job = OverdueCardsJob(hours=DEFAULT_HOURS)
    assert len(job.run(store=store, workspace=WS, now=MONDAY_3PM).sent) == 2

    _click(store, "bob", ActionId.PROPOSE_DUE, MONDAY_3PM, due="wednesday 5pm", note="waiting on the auditors")
    _click(store, "alice", ActionId.ACCEPT_DUE, MONDAY_3PM + timedelta(minutes=5))
    request = store.get_request(WS, 1)
    assert request is not None and request.due_at is not None and request.due_at > MONDAY_3PM
    assert job.run(store=store, workspace=WS, now=request.due_at - timedelta(minutes=1)).sent == []

    later = job.run(store=store, workspace=WS, now=request.due_at + timedelta(hours=2))

    assert sorted(m.recipient_id for m in later.sent) == ["P-alice", "P-bob"]
    assert all(_overdue(m) for m in later.sent)
    assert list(later.claimed) == [overdue_claim_key(request)] != [f"overdue:R-1:{FRIDAY_5PM_NEW_YORK.isoformat()}"]


def test_a_refresh_computed_before_a_change_never_overwrites_the_newer_card(store: Store) -> None:
    """The job read R-1, then bob acknowledged it and his card went out before the job's write
    landed: the refresh carries the older revision, so delivery refuses it."""
    _setup(store)
    _ask(store)
    notifier = RecordingNotifier()
    deliver_due(store=store, notifiers=[notifier], now=TUESDAY)
    stale = store.get_request(WS, 1)
    assert stale is not None
    _click(store, "bob", ActionId.ACKNOWLEDGE, MONDAY_3PM)
    deliver_due(store=store, notifiers=[notifier], now=MONDAY_3PM)
    notifier.sends.clear()

    refresh = overdue_cards(stale, Directory(store, WS), MONDAY_3PM + timedelta(seconds=1), hours=DEFAULT_HOURS)
    assert claim_and_send(store, WS, overdue_claim_key(stale), refresh, MONDAY_3PM)
    report = deliver_due(store=store, notifiers=[notifier], now=MONDAY_3PM + timedelta(seconds=1))

    assert notifier.sends == [] and report.skipped == 2
    superseded = [store.get_outbox_item(m.key) for m in refresh]
    assert all(i is not None and i.last_error == "superseded by a newer card" for i in superseded)
