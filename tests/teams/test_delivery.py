"""Proactive delivery through the Teams notifier: failures are retried or recorded, never lost."""

from __future__ import annotations

from datetime import timedelta

from bot.delivery import DeliveryError
from bot.models import Person
from bot.ports import Store
from handlers.teams.notifier import CardTarget, delivery_error, retry_after
from tests.teams.conftest import ALICE, BOB, TeamsHarness, run, with_harness


def test_bot_removed_403_fails_for_good_and_the_requester_is_told(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(ALICE, "request @bob the invoices")
        h.connector.fail_next(403, conversation_id=BOB.chat)
        report = await h.deliver()  # alice's card, and the notice about bob's, in one pass
        assert (report.sent, report.failed) == (2, 1)
        assert h.sent_to(ALICE)[-1].text == (
            "R-1: Bob could not be notified about R-1: "
            "Teams refused (403): the bot was removed from this chat or the chat is gone"
        )

    run(with_harness(org_store, main))
    [failed] = org_store.list_outbox("default", state="failed")
    assert failed.message.recipient_id == "P-bob"
    assert "403" in (failed.last_error or "")


def test_throttling_429_is_retried_after_the_time_teams_asks_for(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(ALICE, "request @bob the invoices")
        h.connector.fail_next(429, retry_after=7, conversation_id=BOB.chat)
        report = await h.deliver()
        assert (report.sent, report.retried) == (1, 1)
        [waiting] = org_store.list_outbox("default", state="pending")
        wait = waiting.next_attempt_at - h.clock()
        assert timedelta(seconds=7) <= wait <= timedelta(seconds=7.7), "what Teams asked, with a little jitter"
        assert waiting.last_error == "Teams is throttling the bot (429)"
        assert (await h.deliver()).sent == 0  # not yet due
        h.clock.advance(seconds=8)
        assert (await h.deliver()).sent == 1
        assert len(h.sent_to(BOB)) == 1

    run(with_harness(org_store, main))
    assert org_store.list_outbox("default", state="pending") == []


def test_a_server_error_is_retried(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(ALICE, "request @bob the invoices")
        h.connector.fail_next(502, conversation_id=BOB.chat)
        assert (await h.deliver()).retried == 1
        h.clock.advance(minutes=5)
        assert (await h.deliver()).sent == 1

    run(with_harness(org_store, main))


def test_a_card_deleted_in_teams_is_posted_again(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(BOB, "hi")
        await h.say(ALICE, "request @bob the invoices")
        await h.deliver()
        h.connector.fail_next(404, kinds=["update"], conversation_id=BOB.chat)
        await h.execute(BOB, {"action": "acknowledge", "request": 1})
        report = await h.deliver()
        assert report.failed == 0
        assert len(h.sent_to(BOB)) == 2  # the original card, then a fresh one replacing the deleted card

    run(with_harness(org_store, main))
    ref = org_store.get_card_ref("default", "default:R-1:provider:P-bob", "teams")
    assert ref is not None
    target = CardTarget.load(ref.ref)
    assert target is not None and target.conversation_id == BOB.chat


def test_someone_teams_has_never_seen_is_recorded_as_unreachable(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob the invoices")
        bob = org_store.get_person("default", "P-bob")
        assert bob is not None
        org_store.save_org([bob.model_copy(update={"teams_id": BOB.aad})])
        h.connector.fail_next(403, kinds=["create"])  # the app is not installed for Bob
        report = await h.deliver()
        assert report.failed == 1

    run(with_harness(org_store, main))
    [failed] = org_store.list_outbox("default", state="failed")
    assert failed.message.recipient_id == "P-bob"


def test_can_reach_only_people_known_to_teams(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "hi")
        assert h.runtime is not None
        [notifier] = h.runtime.notifiers
        alice = org_store.get_person("default", "P-alice")
        erin = org_store.get_person("default", "P-erin")
        assert isinstance(alice, Person) and isinstance(erin, Person)
        assert notifier.can_reach(alice)
        assert not notifier.can_reach(erin)

    run(with_harness(org_store, main))


def test_error_mapping_and_retry_after() -> None:
    assert delivery_error(TimeoutError()).permanent is False
    assert delivery_error(ConnectionError("refused")).reason == "could not reach Teams (ConnectionError)"
    known = DeliveryError("x", permanent=True)
    assert delivery_error(known) is known
    assert retry_after({"Retry-After": "12"}) == 12.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({}) is None
    assert CardTarget.load("not json") is None


def test_teams_statuses_to_retry_are_retried_and_the_rest_refused() -> None:
    """Microsoft's guidance: retry 429, 412, 502 and 504 with backoff and jitter."""
    from msrest.exceptions import HttpOperationError

    def answered(status: int) -> DeliveryError:
        response = type("Response", (), {"status_code": status, "headers": {}, "reason": "", "text": ""})()
        error = HttpOperationError.__new__(HttpOperationError)
        error.response = response
        return delivery_error(error)

    assert [answered(s).permanent for s in (412, 429, 502, 504)] == [False] * 4
    assert [answered(s).permanent for s in (400, 403, 404, 413)] == [True] * 4
