"""Information without chasing (issue 12, item 6): the requester asks for an update at most once
per working day per request; the provider answers with a progress note both see in the history."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from bot.clicks import Click, ClickResult, run_click
from bot.dispatch import run_request
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed
from bot.models import ActionId, EventKind, Person
from bot.ports import Store
from bot.requests import ActionInput
from bot.workhours import DEFAULT_HOURS
from handlers.console import Console
from tests.conftest import NOW


def _person(store: Store, handle: str) -> Person:
    person = store.find_person("default", handle=handle)
    assert person is not None
    return person


def _click(store: Store, who: str, action: ActionId, minutes: int, note: str | None = None) -> ClickResult:
    click = Click(platform="test", actor=_person(store, who), action=action, request=1, inputs=ActionInput(note=note))
    return run_click(store=store, click=click, now=NOW + timedelta(minutes=minutes), hours=DEFAULT_HOURS)


def test_ask_for_an_update_once_a_day_and_the_provider_answers_with_progress(org_store: Store) -> None:
    run_request(
        store=org_store,
        actor=_person(org_store, "alice"),
        text="@bob need the Q3 numbers",
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    acknowledged = _click(org_store, "bob", ActionId.ACKNOWLEDGE, 1)
    alice_card = next(m for m in acknowledged.queued if m.kind == "requester_card")
    assert alice_card.actions[0].label == "Ask for an update"

    asked = _click(org_store, "alice", ActionId.ASK_UPDATE, 2)
    assert asked.reply == "You asked bob for an update on R-1; their answer will show in its history."
    bob_card = next(m for m in asked.queued if m.kind == "provider_card")
    assert bob_card.actions[0].id == ActionId.PROGRESS and bob_card.actions[0].inputs == ["note"]
    assert any(m.recipient_id == "P-bob" and "asked for an update" in m.text for m in asked.queued)

    with pytest.raises(InvalidTransition, match="already asked for an update on R-1 today"):
        _click(org_store, "alice", ActionId.ASK_UPDATE, 3)
    with pytest.raises(NotAllowed):
        _click(org_store, "alice", ActionId.PROGRESS, 3, note="fine")
    with pytest.raises(InvalidCommand, match="progress note"):
        _click(org_store, "bob", ActionId.PROGRESS, 3)

    answered = _click(org_store, "bob", ActionId.PROGRESS, 4, note="half done, the rest by noon")
    for card in (m for m in answered.queued if m.kind in ("provider_card", "requester_card")):
        assert any('bob posted progress: "half done, the rest by noon"' in line for line in card.history)
        assert ActionId.PROGRESS not in [a.id for a in card.actions]
    request = org_store.get_request("default", 1)
    assert request is not None and request.events[-1].kind == EventKind.PROGRESS_NOTED

    _click(org_store, "alice", ActionId.ASK_UPDATE, 60 * 24)  # the next day
    assert org_store.get_request("default", 1).events[-1].kind == EventKind.UPDATE_ASKED  # type: ignore[union-attr]


def test_the_console_asks_for_an_update_and_posts_progress(org_store: Store) -> None:
    console = Console(store=org_store, out=io.StringIO(), clock=lambda: NOW)
    for line in [
        "as alice",
        "/request @bob need the Q3 numbers",
        "as bob",
        "click acknowledge R-1",
        "as alice",
        "show R-1",  # card updates are one line in the console; show prints the buttons' hints
        "click ask_update R-1",
        "click ask_update R-1",
        "as bob",
        "show R-1",
        "click progress R-1 half done",
    ]:
        console.handle_line(line)
    out = console.out
    assert isinstance(out, io.StringIO)
    shown = out.getvalue()
    assert "Ask for an update: click ask_update R-1" in shown
    assert "Post progress: click progress R-1 <how it is going>" in shown
    assert "already asked for an update on R-1 today" in shown
    assert 'bob posted progress: "half done"' in shown


def test_a_waiting_service_recovery_shows_in_the_providers_queue(org_store: Store) -> None:
    run_request(
        store=org_store,
        actor=_person(org_store, "alice"),
        text="@bob need the Q3 numbers",
        now=NOW,
        hours=DEFAULT_HOURS,
    )
    _click(org_store, "bob", ActionId.DONE, 1)
    from bot.requests import make_rating

    run_click(
        store=org_store,
        click=Click(
            platform="test",
            actor=_person(org_store, "alice"),
            action=ActionId.RATE,
            request=1,
            inputs=ActionInput(rating=make_rating(1, {"information": 1}, "no word for days")),
        ),
        now=NOW + timedelta(minutes=2),
        hours=DEFAULT_HOURS,
    )
    queue = run_request(
        store=org_store,
        actor=_person(org_store, "bob"),
        text="queue",
        now=NOW + timedelta(minutes=3),
        hours=DEFAULT_HOURS,
    )
    assert queue.text.startswith("Service recovery waiting on you:\nR-1 ← alice rated it 1/5")
    _click(org_store, "bob", ActionId.RECOVER, 4, note="I'll send weekly updates")
    queue = run_request(
        store=org_store,
        actor=_person(org_store, "bob"),
        text="queue",
        now=NOW + timedelta(minutes=5),
        hours=DEFAULT_HOURS,
    )
    assert queue.text == "Your queue is empty. Nice!"
