"""Due dates never fail silently (issue 12, item 1): a due phrase is found anywhere in the text,
a date-like phrase that can't be read is reported with a one-click way to set the date, and the
requester's "Set due date" button works through the one core door for clicks."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clicks import Click, run_click
from bot.commands import CreateRequest, Usage, parse_request
from bot.dates import find_due
from bot.dispatch import run_request
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.models import ActionId, EventKind, Person
from bot.ports import Store
from bot.requests import ActionInput
from bot.workhours import DEFAULT_HOURS
from handlers.console import Console
from tests.conftest import NOW

FRIDAY_5PM_UTC = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
_PUNCT = ",;:.!?)\"'"


def _words(text: str | None) -> list[str]:
    return sorted(w for w in (t.strip(_PUNCT) for t in (text or "").split()) if w)


def create(text: str) -> CreateRequest:
    result = parse_request(text, now=NOW, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(result, CreateRequest), result
    return result


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("text", "body", "clause"),
    [
        ("need the Q3 numbers by friday, split by region", "need the Q3 numbers, split by region", "by friday"),
        ("by friday for the board", "for the board", "by friday"),
        ("need it by friday 🚀", "need it 🚀", "by friday"),
        ("send the deck in 3 days, with the appendix", "send the deck, with the appendix", "in 3 days"),
        ("need it by tomorrow 3pm. thanks!", "need it. thanks!", "by tomorrow 3pm"),
    ],
)
def test_a_due_phrase_is_found_anywhere_and_the_rest_of_the_text_is_kept(text: str, body: str, clause: str) -> None:
    result = create(f"@alice {text}")
    assert (result.text, result.due_text, result.due_unreadable) == (body, clause, None)
    assert result.due is not None and result.due > NOW


def test_the_issues_example_is_due_friday_with_its_text_kept() -> None:
    result = create("@alice need the Q3 numbers by friday, split by region")
    assert result.due == FRIDAY_5PM_UTC
    assert "split by region" in result.text


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("need it by blursday", "by blursday"),
        ("need it in -3 days", "in -3 days"),
        ("need it in 99999999 days", "in 99999999 days"),
        ("numbers by tuesdya for the board", "by tuesdya"),
        ("numbers by march", "by march"),
        ("numbers in 3 months", "in 3 months"),
        ("sales by next blursday please", "by next blursday"),
    ],
)
def test_a_date_like_phrase_that_cant_be_read_is_reported_and_kept_in_the_text(text: str, phrase: str) -> None:
    result = create(f"@alice {text}")
    assert result.due is None and result.due_text is None
    assert result.due_unreadable == phrase
    assert result.text == text, "nothing is dropped from what the requester wrote"


@pytest.mark.parametrize("text", ["need help by the way", "how did we do in 2024", "sent by email", "in the sheet"])
def test_ordinary_words_after_by_or_in_are_not_reported(text: str) -> None:
    result = create(f"@alice {text}")
    assert (result.text, result.due, result.due_unreadable) == (text, None, None)


@pytest.mark.parametrize("ref", ["R-0", "r-0", "#R-0", "R-", "R-0000000000"])
def test_an_impossible_parent_reference_answers_with_usage(ref: str) -> None:
    result = parse_request(f"@alice pull the invoices for {ref} by friday", now=NOW, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(result, Usage)
    assert "is not a request id" in result.error and "for R-12" in result.error


def test_a_due_date_alone_in_the_middle_still_asks_what_is_needed() -> None:
    result = parse_request("@alice by friday, !high", now=NOW, tz="UTC", hours=DEFAULT_HOURS)
    assert isinstance(result, Usage) and result.error.startswith("Tell @alice what you need")


WORDS = st.sampled_from(
    [
        "by", "in", "friday", "friday,", "blursday", "3", "-3", "days", "99999999", "next", "the", "way",
        "tomorrow", "3pm", "dec", "3rd", "2026-12-01", "months", "a", "week", "region", "split", ",", ".",
        "🚀", "march", "eod", "noon", "working", "hours",
    ]
)  # fmt: skip
TEXTS = st.one_of(st.lists(WORDS, max_size=14).map(" ".join), st.text(max_size=80))


@given(TEXTS)
@settings(max_examples=400, deadline=None)
def test_find_due_never_raises_and_reports_whatever_it_drops(text: str) -> None:
    found = find_due(text)
    assert sorted(_words(found.text) + _words(found.clause)) == _words(text), (found, text)
    if found.clause is None:
        assert found.text == text.strip()
    if found.unreadable is not None:
        assert found.clause is None and found.unreadable in found.text


@given(st.lists(WORDS, min_size=1, max_size=14).map(" ".join), st.sampled_from(["UTC", "Asia/Tokyo", "Mars/Base"]))
@settings(max_examples=300, deadline=None)
def test_a_created_request_keeps_every_word_but_the_due_clause_it_reports(text: str, tz: str) -> None:
    result = parse_request(f"@alice {text}", now=NOW, tz=tz, hours=DEFAULT_HOURS)
    assert isinstance(result, CreateRequest | Usage)
    if isinstance(result, CreateRequest):
        assert sorted(_words(result.text) + _words(result.due_text)) == _words(text), (result, text)
        assert (result.due is None) == (result.due_text is None)
        if result.due_unreadable is not None:
            assert result.due is None and result.due_unreadable in result.text


@given(st.text(max_size=200), st.sampled_from(["UTC", "Asia/Tokyo", "Mars/Base"]))
@settings(max_examples=300, deadline=None)
def test_parse_request_never_raises_on_any_text(text: str, tz: str) -> None:
    assert parse_request(f"@alice {text}", now=NOW, tz=tz, hours=DEFAULT_HOURS) is not None


# --------------------------------------------------------------------------- the core


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _set_due(store: Store, who: str, due: str | None, minutes: int = 5):  # type: ignore[no-untyped-def]
    click = Click(
        platform="test", actor=_person(store, who), action=ActionId.SET_DUE, request=1, inputs=ActionInput(due=due)
    )
    return run_click(store=store, click=click, now=NOW + timedelta(minutes=minutes), hours=DEFAULT_HOURS)


def test_an_unreadable_due_date_creates_the_request_and_says_so_plainly(org_store: Store) -> None:
    reply = run_request(
        store=org_store,
        actor=_person(org_store, "alice"),
        text="@bob numbers by blursday",
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    assert reply.ok and reply.text.startswith("Sent R-1 to")
    assert "I couldn't read the due date in 'by blursday', so R-1 has no due date yet" in reply.text
    assert 'Pick one with "Set due date" on your card for R-1.' in reply.text
    request = org_store.get_request("default", 1)
    assert request is not None and request.due_at is None and request.text == "numbers by blursday"
    [card] = [m for m in reply.messages if m.kind == "requester_card"]
    assert [a.id for a in card.actions] == [ActionId.SET_DUE, ActionId.CANCEL]
    assert card.actions[0].inputs == ["due"]
    [provider_card] = [m for m in reply.messages if m.kind == "provider_card"]
    assert ActionId.SET_DUE not in [a.id for a in provider_card.actions]


def test_the_requester_sets_the_due_date_with_one_click_and_the_provider_is_told(org_store: Store) -> None:
    run_request(
        store=org_store,
        actor=_person(org_store, "alice"),
        text="@bob numbers by blursday",
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    alice = _person(org_store, "alice")
    result = _set_due(org_store, "alice", "2026-11-27")
    friday_5pm_for_alice = datetime(2026, 11, 27, 17, 0, tzinfo=ZoneInfo(alice.tz)).astimezone(UTC)
    request = org_store.get_request("default", 1)
    assert request is not None and request.due_at == friday_5pm_for_alice
    event = request.events[-1]
    assert (event.kind, event.actor_id, event.due_at) == (EventKind.DUE_SET, "P-alice", friday_5pm_for_alice)
    assert result.reply.startswith("R-1 is now due Fri 27 Nov 17:00 ") and result.reply.endswith(" has been told.")
    assert result.card is not None and ActionId.SET_DUE not in [a.id for a in result.card.actions]
    notes = [m for m in result.queued if m.recipient_id == "P-bob" and m.kind == "update"]
    assert notes and "set the due date" in notes[0].text
    provider_cards = [m for m in result.queued if m.kind == "provider_card"]
    assert provider_cards and any(f.label == "Due" and f.value != "no due date" for f in provider_cards[0].facts)


@pytest.mark.parametrize(
    ("due", "message"),
    [
        (None, "Please pick a due date"),
        ("2026-01-01", "is in the past"),
        ("blursday", "couldn't understand the due date 'blursday'"),
    ],
)
def test_a_bad_due_date_is_refused_on_its_field_and_changes_nothing(
    org_store: Store, due: str | None, message: str
) -> None:
    run_request(store=org_store, actor=_person(org_store, "alice"), text="@bob numbers", now=NOW, hours=DEFAULT_HOURS)
    before = org_store.get_request("default", 1)
    with pytest.raises(InvalidCommand, match=message) as info:
        _set_due(org_store, "alice", due)
    assert info.value.field == "due"
    assert org_store.get_request("default", 1) == before


def test_only_the_requester_sets_a_missing_due_date_on_an_open_request(org_store: Store) -> None:
    run_request(store=org_store, actor=_person(org_store, "alice"), text="@bob numbers", now=NOW, hours=DEFAULT_HOURS)
    with pytest.raises(NotAllowed):
        _set_due(org_store, "bob", "friday")
    with pytest.raises(NotAllowed, match="Only alice can set the due date of R-1"):
        _set_due(org_store, "dave", "friday")  # bob's manager sees it, but it is alice's promise to ask for
    with pytest.raises(NotFound):
        _set_due(org_store, "erin", "friday")
    _set_due(org_store, "alice", "friday")
    with pytest.raises(InvalidTransition, match="already has a due date"):
        _set_due(org_store, "alice", "monday", minutes=6)
    run_request(
        store=org_store, actor=_person(org_store, "alice"), text="@bob more numbers", now=NOW, hours=DEFAULT_HOURS
    )
    run_click(
        store=org_store,
        click=Click(platform="test", actor=_person(org_store, "alice"), action=ActionId.CANCEL, request=2),
        now=NOW + timedelta(minutes=1),
        hours=DEFAULT_HOURS,
    )
    with pytest.raises(InvalidTransition, match="was cancelled"):
        run_click(
            store=org_store,
            click=Click(
                platform="test",
                actor=_person(org_store, "alice"),
                action=ActionId.SET_DUE,
                request=2,
                inputs=ActionInput(due="friday"),
            ),
            now=NOW + timedelta(minutes=2),
            hours=DEFAULT_HOURS,
        )


# --------------------------------------------------------------------------- the console


@pytest.fixture
def console(org_store: Store) -> Console:
    return Console(store=org_store, out=io.StringIO(), clock=lambda: NOW)


def said(console: Console, *lines: str) -> str:
    out = console.out
    assert isinstance(out, io.StringIO)
    start = len(out.getvalue())
    for line in lines:
        assert console.handle_line(line) is True
    return out.getvalue()[start:]


def test_the_console_tells_the_requester_and_sets_the_date_with_click_due(console: Console) -> None:
    shown = said(console, "as alice", "/request @bob numbers by blursday")
    assert "I couldn't read the due date in 'by blursday'" in shown
    assert "Set due date: click due R-1 <when>" in shown
    shown = said(console, "click due R-1 friday 3pm")
    assert "R-1 is now due Fri 27 Nov 15:00" in shown
    # the card's update is one line; show R-1 prints the whole card with its history
    assert "[to alice] R-1 · alice → bob · open · due Fri 27 Nov 15:00 EST · you can: cancel" in shown
    assert "set the due date: Fri 27 Nov 15:00" in said(console, "show R-1")
    assert said(console, "click due R-1") == "[to alice] Usage: click due R-<n> <when>\n"
    assert "R-1 already has a due date." in said(console, "click due R-1 monday")


def test_the_console_refuses_a_past_date_and_keeps_the_request_as_it_was(console: Console) -> None:
    said(console, "as alice", "/request @bob numbers")
    shown = said(console, "click due R-1 2026-01-01")
    assert "is in the past" in shown
    assert console.store.get_request("default", 1).due_at is None  # type: ignore[union-attr]
