"""The manager's ``request team`` card in Microsoft Web Chat (the official Adaptive Cards renderer in
headless Chromium): Hana, who manages Finance, sees Bob's overdue request with its own buttons,
nudges him, and proposes a later date to the requester from the card's inline form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.models import Event, EventKind, Request
from bot.requests import status_after
from storage.tinydb_store import TinyDBStore
from tests.e2e.stack import ALICE, BOB, WORKSPACE, Stack, WebChatUser
from tests.e2e.test_webchat import WAIT_MS, card, said, saved, say

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

HANA = WebChatUser("hana", "Hana Sato")
MANAGED_ORG = """\
teams:
  - name: Sales
  - name: Finance
    manager: hana
people:
  - handle: alice
    name: Alice Adams
    email: alice@example.com
    team: Sales
    tz: Europe/London
  - handle: bob
    name: Bob Brennan
    email: bob@example.com
    team: Finance
    manager: hana
    tz: Europe/London
  - handle: hana
    name: Hana Sato
    email: hana@example.com
    team: Finance
    tz: Europe/London
"""


@pytest.fixture
def e2e_org() -> str:
    return MANAGED_ORG


@pytest.fixture
def e2e_users() -> tuple[WebChatUser, ...]:
    return (ALICE, BOB, HANA)


@pytest.fixture
def e2e_seed() -> Callable[[Path], None]:
    """R-1: alice asked bob four days ago for it by yesterday; nobody answered (the server runs on
    the real clock, so the request is dated from now)."""

    def seed(db: Path) -> None:
        now = datetime.now(UTC)
        created, due = now - timedelta(days=4), now - timedelta(days=1)
        log = [Event(kind=EventKind.CREATED, at=created, actor_id="P-alice", to_id="P-bob", due_at=due)]
        store = TinyDBStore(db)
        try:
            people = {p.handle: p.id for p in store.list_people(WORKSPACE)}
            for event in log:
                event.actor_id, event.to_id = people["alice"], people["bob"]
            store.create_request(
                Request(
                    workspace=WORKSPACE,
                    requester_id=people["alice"],
                    provider_id=people["bob"],
                    text="the Q3 numbers for the board pack",
                    created_at=created,
                    due_at=due,
                    events=log,
                    status=status_after(log),
                )
            )
        finally:
            store.close()

    return seed


def test_a_manager_nudges_and_extends_from_the_team_card_in_web_chat(
    stack: Stack, open_chat: Callable[[WebChatUser], Page]
) -> None:
    from playwright.sync_api import expect

    hana = open_chat(HANA)
    say(hana, "request team")
    team = card(hana, "What is stuck on your team (1 person)")
    expect(team).to_be_visible(timeout=WAIT_MS)
    expect(team).to_contain_text("R-1 held by Bob Brennan, asked by Alice Adams: overdue since")
    saved(team, "team-card.png")

    team.get_by_role("button", name="Nudge R-1", exact=True).click()
    expect(said(hana, "You nudged bob about R-1")).to_be_visible(timeout=WAIT_MS)

    team.get_by_role("button", name="Extend R-1", exact=True).click()
    later = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
    team.get_by_label("Due date (your time zone)").fill(later)
    team.get_by_label("Why the new date? (the requester sees it and decides)").fill("the audit comes first")
    saved(team, "team-card-extend.png")
    team.get_by_role("button", name="Propose to the requester", exact=True).click()
    expect(said(hana, "alice has been asked to accept it")).to_be_visible(timeout=WAIT_MS)

    assert hana.console_errors == []  # type: ignore[attr-defined]
    assert stack.emulator.forward_errors == []
    assert [call for call in stack.emulator.bot_calls if call.status >= 400] == []
    stack.stop_server()
    store = TinyDBStore(stack.db)
    try:
        request = store.get_request(WORKSPACE, 1)
    finally:
        store.close()
    assert request is not None
    kinds = [e.kind for e in request.events]
    assert kinds[-2:] == [EventKind.NUDGED, EventKind.DUE_PROPOSED]
    assert request.events[-1].due_at is not None and request.events[-1].due_at.date().isoformat() == later
    assert request.due_at is not None and request.due_at < request.events[-1].due_at  # alice hasn't accepted
