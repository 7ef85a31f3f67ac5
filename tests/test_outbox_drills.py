"""Fault drills for the durable outbox, in process (a hand-moved clock) and as a real
``servechain serve`` killed with SIGKILL while Slack is down, all with concurrent delivery on:
the in-process harness and the real process send ``DELIVERY_CONCURRENCY`` (default 64) at
once, and the drills that call ``deliver_due`` themselves run one at a time and 16 at a time.

What every drill checks once the platform is back: each queued message arrived exactly once
(per outbox key, read from Slack's message metadata) and each card exists once (later changes
edit it), nothing failed that should not have, and the people who asked were answered.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.error import URLError

import pytest
from slack_sdk import WebClient

from bot.delivery import LEASE, RETRY_WINDOW, UNCONFIRMED, DeliveryError, deliver_due, is_unconfirmed
from bot.models import ActionId, CardRef, Message, OutboxItem, Person
from bot.ports import Store
from handlers.slack.notifier import delivery_error
from tests.drills import Served, posts_per_key, seed_linked_org, slack_app, top_level_cards, until
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN, TEAM, USERS, SlackHarness, button

ROOT = Path(__file__).resolve().parents[1]


class Crash(BaseException):
    """The process dying at a chosen point (not an Exception: nothing may catch it)."""


@pytest.fixture
def app(store: Store) -> Iterator[SlackHarness]:
    seed_linked_org(store)
    # Slack is down from the very first command in some drills, so the home team can't be
    # learned from auth.test then: it is configured, as a production deployment would.
    with slack_app(store, slack_team_ids=TEAM) as harness:
        yield harness


def _exactly_once(app: SlackHarness) -> None:
    store, fake = app.store, app.fake
    twice = {key: n for key, n in posts_per_key(fake).items() if n > 1}
    assert not twice, f"posted more than once: {twice}"
    cards = {card: n for card, n in top_level_cards(fake, store).items() if n > 1}
    assert not cards, f"cards posted more than once: {cards}"
    assert store.list_outbox("default", state="pending") == []
    posted = set(posts_per_key(fake))
    for item in store.list_outbox("default", state="sent"):
        updated_in_place = item.message.card_key and item.platform_ref and item.message.key not in posted
        assert item.message.key in posted or updated_in_place, f"{item.key} is marked sent but never reached Slack"


def _commands_during_an_outage(app: SlackHarness) -> None:
    for n in range(3):
        assert app.command("U0ALICE", f"<@U0BOB|bob> numbers for region {n}").status == 200
    assert app.command("U0CAROL", "<@U0DAVE|dave> the budget sheet !high").status == 200
    assert app.command("U0ERIN", "<@U0BOB|bob> thanks for the report", command="/kudos").status == 200
    assert app.command("U0ALICE", "list").status == 200


OUTAGES = {
    "http-503": {"error": "service_unavailable", "status": 503},
    "rate-limited": {"error": "ratelimited", "status": 429, "retry_after": 120},
    "ok-false": {"error": "fatal_error", "status": 200},
}


@pytest.mark.parametrize("outage", list(OUTAGES), ids=list(OUTAGES))
def test_a_slack_outage_delays_every_message_and_loses_or_doubles_none(app: SlackHarness, outage: str) -> None:
    app.fake.outage(**OUTAGES[outage])  # type: ignore[arg-type]
    _commands_during_an_outage(app)  # every command is acknowledged at once
    app.settle()
    for _minute in range(0, 120, 10):  # two hours of Slack being down, the worker trying on
        app.clock.advance(minutes=10)
        app.settle()
    assert len(app.store.find_requests("default")) == 4
    assert app.store.list_outbox("default", state="failed") == [], "an outage must not fail messages"
    assert not posts_per_key(app.fake)
    app.fake.recover()
    app.clock.advance(minutes=20)
    app.settle()
    _exactly_once(app)
    # the answers that could not be given ephemerally arrived as DMs, once each
    alice_dms = [p["text"] for p in app.posted_to("U0ALICE") if "servechain" in p["text"]]
    assert sum("Sent R-" in t for t in alice_dms) == 3 and sum("Your requests" in t for t in alice_dms) == 1
    assert len([p for p in app.posted_to("U0BOB") if "Kudos from" in p["text"]]) == 1


def _dies_as_slack_answers(store: Store) -> Callable[..., OutboxItem]:
    """A ``save_outbox_item`` that dies before it records a card Slack took (the outcome and
    the card's ref are one write), and records everything else."""
    real_save = store.save_outbox_item

    def save(item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        if card_ref is not None:
            raise Crash(card_ref.card_key)
        return real_save(item)

    return save


def test_a_crash_after_slack_took_a_new_card_does_not_post_it_again(
    app: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app.store

    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    assert app.slack.work.wait_idle(10)
    with monkeypatch.context() as patch:
        patch.setattr(store, "save_outbox_item", _dies_as_slack_answers(store))
        with pytest.raises(Crash):
            app.worker.run_once()  # Slack has bob's card; we died before recording where it is
    # with concurrency on, the other cards in flight at the crash (alice's) were posted unrecorded too
    posted = posts_per_key(app.fake)
    assert posted and set(posted.values()) == {1}
    for leased in [i for i in store.list_outbox("default") if i.key in posted]:
        assert is_unconfirmed(leased) and leased.last_error == f"{UNCONFIRMED}attempt 1 was sending"

    app.clock.advance(seconds=LEASE.total_seconds() + 1)  # the lease runs out; a worker tries again
    app.settle()
    assert all(posts_per_key(app.fake)[key] == 1 for key in posted), "found by their keys, not posted again"
    assert len(app.fake.calls("conversations.history")) == len(posted)
    [posted_at] = [
        ts for (channel, ts), p in app.fake.messages.items() if channel == "DU0BOB" and not p.get("thread_ts")
    ]
    card_ref = store.get_card_ref("default", "default:R-1:provider:P-bob", "slack")
    assert card_ref is not None and card_ref.ref == f"DU0BOB:{posted_at}"
    # later changes edit that very card
    app.click("U0BOB", button(app.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    app.settle()
    edits = [c.params["ts"] for c in app.fake.calls("chat.update") if c.params["channel"] == "DU0BOB"]
    assert edits == [posted_at]
    _exactly_once(app)


def test_a_card_posted_before_more_than_200_newer_messages_is_still_found_after_a_crash(
    app: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconciliation searches the DM from the item's creation on, every page, not the newest 200."""
    store = app.store

    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    assert app.slack.work.wait_idle(10)
    with monkeypatch.context() as patch:
        patch.setattr(store, "save_outbox_item", _dies_as_slack_answers(store))
        with pytest.raises(Crash):
            app.worker.run_once()  # Slack has bob's card; we died before recording where it is
    posted = posts_per_key(app.fake)
    assert posted and set(posted.values()) == {1}
    bot = WebClient(token=BOT_TOKEN, base_url=app.fake.url)
    for n in range(250):  # the bot keeps talking to bob (other replicas, other cards) meanwhile
        bot.chat_postMessage(channel="DU0BOB", text=f"another message {n}")

    app.clock.advance(seconds=LEASE.total_seconds() + 1)
    app.settle()

    assert all(posts_per_key(app.fake)[key] == 1 for key in posted), "found by their keys, not posted again"
    history = app.fake.calls("conversations.history")
    assert len(history) >= 2 and all(c.params.get("oldest") for c in history)
    assert any(c.params.get("cursor") for c in history), "the lookup read the next page"
    _exactly_once(app)


def test_a_crash_after_a_thread_note_was_posted_finds_it_in_the_thread(
    app: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = app.store
    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    app.settle()
    app.click("U0BOB", button(app.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    assert app.slack.work.wait_idle(10)
    real_save = store.save_outbox_item

    def die_on_the_note(item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        if item.state == "sent" and item.message.kind == "update":
            raise Crash(item.key)
        return real_save(item, card_ref=card_ref)

    monkeypatch.setattr(store, "save_outbox_item", die_on_the_note)
    with pytest.raises(Crash):
        app.worker.run_once()
    monkeypatch.setattr(store, "save_outbox_item", real_save)
    app.clock.advance(seconds=LEASE.total_seconds() + 1)
    app.settle()
    assert app.fake.calls("conversations.replies"), "the note is looked for in its thread"
    _exactly_once(app)


def test_a_send_whose_item_was_taken_over_still_records_its_card_so_the_resend_edits_it(
    app: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack took the card, but meanwhile another worker took the item (the lease ran out): the
    outcome's compare-and-set fails, and the card's ref, stored in the same write, is kept."""
    store = app.store
    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    assert app.slack.work.wait_idle(10)
    real_save = store.save_outbox_item

    def taken_over_as_slack_answers(item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        if card_ref is not None:  # another worker leases it (and dies): the version moves on
            current = store.get_outbox_item(item.key)
            assert current is not None
            real_save(current.model_copy(update={"lease": "another-worker"}))
        return real_save(item, card_ref=card_ref)

    monkeypatch.setattr(store, "save_outbox_item", taken_over_as_slack_answers)
    app.worker.run_once()
    monkeypatch.setattr(store, "save_outbox_item", real_save)
    [bobs] = [i for i in store.list_outbox("default") if i.message.card_key == "default:R-1:provider:P-bob"]
    assert bobs.state == "pending", "the outcome was not recorded"
    assert store.get_card_ref("default", "default:R-1:provider:P-bob", "slack") is not None
    app.clock.advance(seconds=LEASE.total_seconds() + 1)
    app.settle()
    assert app.fake.calls("chat.update"), "the card ref was stored, so the resend edits the card"
    assert not app.fake.calls("conversations.history")
    _exactly_once(app)


def test_when_slack_wont_let_us_look_the_message_is_posted_rather_than_lost(app: SlackHarness) -> None:
    app.fake.fail("chat.postMessage", "internal_error", status=500)  # Slack may or may not have posted it
    app.fake.fail("conversations.history", "missing_scope")  # an install without im:history
    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    app.settle()
    [unsure] = [i for i in app.store.list_outbox("default", state="pending")]
    assert is_unconfirmed(unsure)
    app.clock.advance(minutes=5)
    app.settle()
    assert app.store.list_outbox("default", state="pending") == []
    assert app.store.list_outbox("default", state="failed") == []


def test_a_permanent_refusal_is_recorded_and_the_requester_hears_why(app: SlackHarness) -> None:
    app.fake.fail("conversations.open", "channel_not_found", only_for="U0BOB")
    app.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
    app.settle()
    [failed] = app.store.list_outbox("default", state="failed")
    assert failed.message.recipient_id == "P-bob" and "channel_not_found" in (failed.last_error or "")
    notices = [p["text"] for p in app.posted_to("U0ALICE")]
    assert any("Bob could not be notified about R-1" in t and "DM could not be found" in t for t in notices)


def test_slack_errors_after_which_it_may_have_posted_are_unconfirmed() -> None:
    assert delivery_error(TimeoutError("read timed out")).unconfirmed
    assert delivery_error(URLError(TimeoutError("timed out"))).unconfirmed
    assert not delivery_error(URLError(ConnectionRefusedError())).unconfirmed
    assert not delivery_error(ConnectionRefusedError()).unconfirmed


# --------------------------------------------------------------------------- the worker itself


class Flaky:
    """A notifier that raises something unexpected for one recipient."""

    platform = "test"

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.sent: list[str] = []

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        if person.id == self.broken:
            raise ValueError("a bug in a renderer")
        self.sent.append(message.key)
        return f"ref:{message.key}"


def _ask(store: Store) -> None:
    from bot.people import Directory
    from bot.requests import create_request
    from tests.conftest import NOW

    directory = Directory(store, "default")
    create_request(
        store=store,
        directory=directory,
        requester=directory.require("P-alice"),
        provider=directory.require("P-bob"),
        text="numbers",
        now=NOW,
    )


@pytest.mark.parametrize("concurrency", [1, 16])
def test_one_broken_message_does_not_hold_up_the_others_and_fails_in_the_end(
    org_store: Store, concurrency: int
) -> None:
    from tests.conftest import NOW

    _ask(org_store)
    notifier = Flaky(broken="P-bob")
    report = deliver_due(store=org_store, notifiers=[notifier], now=NOW, rng=random.Random(3), concurrency=concurrency)
    assert (report.sent, report.retried) == (1, 1)
    assert [k for k in notifier.sent if "requester_card" in k]
    now = NOW
    while not org_store.list_outbox("default", state="failed"):
        now += timedelta(minutes=30)
        deliver_due(store=org_store, notifiers=[notifier], now=now, concurrency=concurrency)
        assert now - NOW <= RETRY_WINDOW + timedelta(hours=8), "it must give up in the end"
    [failed] = org_store.list_outbox("default", state="failed")
    assert failed.message.recipient_id == "P-bob" and "unexpected error (ValueError)" in (failed.last_error or "")
    assert now - NOW >= RETRY_WINDOW


@pytest.mark.parametrize("concurrency", [1, 16])
def test_retry_after_zero_does_not_spin(org_store: Store, concurrency: int) -> None:
    from tests.conftest import NOW

    _ask(org_store)

    class ZeroWait(Flaky):
        def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
            raise DeliveryError("Teams is throttling the bot (429)", retry_after=0.0)

    report = deliver_due(store=org_store, notifiers=[ZeroWait("nobody")], now=NOW, concurrency=concurrency)
    assert report.retried == 2
    assert deliver_due(store=org_store, notifiers=[ZeroWait("nobody")], now=NOW, concurrency=concurrency).retried == 0
    assert all(i.next_attempt_at >= NOW + timedelta(seconds=1) for i in org_store.list_outbox("default"))


@pytest.mark.parametrize("concurrency", [1, 16])
def test_a_long_outage_is_waited_out_for_the_retry_window(org_store: Store, concurrency: int) -> None:
    from tests.conftest import NOW

    _ask(org_store)

    class Down(Flaky):
        def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str:
            raise DeliveryError("Slack is having trouble (service_unavailable)")

    now = NOW
    while now < NOW + RETRY_WINDOW - timedelta(minutes=30):
        deliver_due(store=org_store, notifiers=[Down("x")], now=now, rng=random.Random(1), concurrency=concurrency)
        now += timedelta(minutes=15)
    assert org_store.list_outbox("default", state="failed") == []
    up = Flaky(broken="nobody")
    deliver_due(store=org_store, notifiers=[up], now=now + timedelta(minutes=16), concurrency=concurrency)
    assert len(up.sent) == 2


# --------------------------------------------------------------------------- Teams


def test_a_teams_outage_delays_replies_and_cards_and_loses_or_doubles_none(org_store: Store) -> None:
    from tests.teams.conftest import ALICE, BOB, TeamsHarness, run, with_harness

    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "hi")
        await h.say(BOB, "hi")
        before = len(h.connector.calls)
        h.connector.fail_next(503, times=10_000)  # the Bot Connector is down
        assert await h.say(ALICE, "request @bob the Q3 numbers") == 201
        assert await h.say(ALICE, "request @bob the Q4 numbers") == 201
        assert await h.say(ALICE, "request list") == 201
        for _ in range(6):
            report = await h.deliver()
            assert report.failed == 0 and report.sent == 0
            h.clock.advance(minutes=20)
        assert all(c.status == 503 for c in h.connector.calls[before:])
        h.connector.failures.clear()
        h.clock.advance(minutes=20)
        while (await h.deliver()).sent:
            pass
        sent = [c for c in h.connector.of("send") if c.status < 300]
        seen = [(c.conversation_id, c.text, json.dumps(c.cards, sort_keys=True)) for c in sent]
        assert len(seen) == len(set(seen)), "something arrived twice"
        to_alice = [c.text or c.cards[0]["body"][0]["text"] for c in h.sent_to(ALICE)]
        assert sum("Sent R-" in t for t in to_alice) == 2 and sum("Your requests" in t for t in to_alice) == 1
        assert sorted(c.cards[0]["body"][0]["text"] for c in h.sent_to(BOB)) == ["R-1 from Alice", "R-2 from Alice"]

    run(with_harness(org_store, main))
    assert org_store.list_outbox("default", state="pending") == []
    assert org_store.list_outbox("default", state="failed") == []


# --------------------------------------------------------------------------- a real process, killed


def _expire_leases(db: Path) -> int:
    """What the passing of LEASE would do, without waiting a minute: every item a dead worker had
    leased becomes due again (its unconfirmed mark stays)."""
    from storage.tinydb_store import TinyDBStore

    store = TinyDBStore(db)
    try:
        now = datetime.now(UTC)
        late = [i for i in store.list_outbox("default", state="pending") if i.next_attempt_at > now]
        for item in late:
            store.save_outbox_item(item.model_copy(update={"next_attempt_at": now}))
        return len(late)
    finally:
        store.close()


@pytest.mark.parametrize("delivery_process", ["off", "on"])
def test_killed_with_sigkill_during_an_outage_and_restarted_every_message_arrives_once(
    tmp_path: Path, delivery_process: str
) -> None:
    """With ``DELIVERY_PROCESS=on`` the post in flight is the delivery process's, killed with the server."""
    from storage.tinydb_store import TinyDBStore

    db, log = tmp_path / "servechain.json", tmp_path / "serve.log"
    seeded = TinyDBStore(db)
    seed_linked_org(seeded)
    seeded.close()
    with FakeSlackApi(team_id=TEAM) as fake:
        for user_id, (name, email, tz) in USERS.items():
            fake.add_user(user_id, name, email=email, tz=tz)
        fake.outage("ratelimited", status=429, retry_after=1)  # Slack down, asking for retries every second
        first = Served(db, fake.url, log, env={"DELIVERY_PROCESS": delivery_process})
        try:
            for n in range(3):
                assert first.command(fake, "U0ALICE", f"<@U0BOB|bob> numbers for region {n}", f"1.{n}.a") == 200
            assert first.command(fake, "U0ERIN", "<@U0CAROL|carol> great demo", "1.9.a", "/kudos") == 200
            until(lambda: first.pending() >= 9, 10, "the commands queued their messages")
            until(lambda: len(fake.calls("conversations.open")) >= 3, 10, "the worker kept trying")
            # Slack comes back but answers chat.postMessage late: it has posted, we don't know yet...
            fake.answer_late("chat.postMessage", 3)
            fake.recover()
            until(lambda: bool(fake.posted_keys()), 10, "Slack took a message")
            first.kill()  # ...and the process dies in that window
        finally:
            first.stop()
        posted_before_the_crash = set(fake.posted_keys())
        fake.outage("ratelimited", status=429, retry_after=1)
        fake.answer_late("chat.postMessage", 0)
        assert _expire_leases(db) >= 1
        second = Served(db, fake.url, log, env={"DELIVERY_PROCESS": delivery_process})
        try:
            assert second.command(fake, "U0CAROL", "<@U0DAVE|dave> the budget", "2.1.a") == 200
            until(lambda: second.pending() >= 12, 10, "the new command queued its messages")
            time.sleep(1.5)  # the restarted worker meets the outage too
            fake.recover()
            until(lambda: second.pending() == 0, 30, "the outbox drained")
        finally:
            second.stop()
    store = TinyDBStore(db)
    try:
        assert len(store.find_requests("default")) == 4
        assert store.list_outbox("default", state="failed") == []
        twice = {key: n for key, n in posts_per_key(fake).items() if n > 1}
        assert not twice, f"posted more than once: {twice}"
        cards = {card: n for card, n in top_level_cards(fake, store).items() if n > 1}
        assert not cards, f"cards posted more than once: {cards}"
        delivered = {i.message.key for i in store.list_outbox("default", state="sent")}
        assert delivered <= set(fake.posted_keys()) | {
            i.message.key for i in store.list_outbox("default") if i.message.card_key
        }
        assert posted_before_the_crash <= delivered, "the post made before the crash was recorded, not repeated"
        assert fake.calls("conversations.history"), "the unconfirmed post was looked up"
        alice_replies = [
            m["text"] for (ch, _ts), m in fake.messages.items() if ch == "DU0ALICE" and "Sent R-" in m["text"]
        ]
        assert len(alice_replies) == 3, "each command's answer arrived once, as a DM"
    finally:
        store.close()
