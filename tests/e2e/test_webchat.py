"""A client nobody here wrote: Microsoft Web Chat, rendering our Adaptive Cards with the official
renderer in headless Chromium, drives the bot through a Direct Line emulator.

alice asks bob for something by typing in her Web Chat; bob acknowledges and finishes it by
clicking the card Web Chat rendered for him; alice rates it from her card; the store has it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.models import Status
from storage.tinydb_store import TinyDBStore
from tests.e2e.stack import ALICE, BOB, OUTPUT, WORKSPACE, Stack, WebChatUser

if TYPE_CHECKING:  # playwright may be missing: then the fixtures skip before anything uses it
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

DOCS = Path(__file__).resolve().parents[2] / "docs"
UPDATE_DOCS_ENV = "SERVECHAIN_E2E_UPDATE_DOCS"
WAIT_MS = 20_000  # proactive cards go through the outbox worker (about a second) and Web Chat's polling


def say(page: Page, text: str) -> None:
    """Type a message into Web Chat's send box and send it."""
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")


def said(page: Page, text: str) -> Locator:
    """A visible message containing ``text`` (Web Chat also keeps hidden copies for screen readers)."""
    return page.get_by_text(text, exact=False).filter(visible=True).first


def card(page: Page, title: str) -> Locator:
    """The Adaptive Card Web Chat rendered with this title (updated cards replace it in place)."""
    return page.locator(".ac-adaptiveCard").filter(has=page.get_by_text(title, exact=True))


def saved(locator: Locator, name: str) -> Path:
    """Screenshot one card into the output folder (and into docs/ when asked to refresh them)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / name
    locator.screenshot(path=path, animations="disabled")
    if os.environ.get(UPDATE_DOCS_ENV) == "1":
        shutil.copyfile(path, DOCS / f"webchat-{name}")
    return path


def test_a_request_goes_from_requester_to_provider_and_back_to_a_rating_in_web_chat(
    stack: Stack, open_chat: Callable[[WebChatUser], Page]
) -> None:
    from playwright.sync_api import expect

    bob = open_chat(BOB)
    alice = open_chat(ALICE)

    # bob says hello first, so the bot knows his chat (and links him to the org's bob by email).
    say(bob, "hi")
    expect(said(bob, "help you ask coworkers")).to_be_visible(timeout=WAIT_MS)

    # alice asks, mentioning bob by handle (Web Chat has no @mention picker).
    say(alice, "request @bob need the Q3 numbers by friday")
    expect(said(alice, "Sent R-1 to Bob Brennan (bob)")).to_be_visible(timeout=WAIT_MS)
    expect(card(alice, "R-1 to Bob Brennan: open")).to_be_visible(timeout=WAIT_MS)

    # bob's card arrives on its own (a proactive send by the outbox worker).
    provider = card(bob, "R-1 from Alice Adams")
    expect(provider).to_be_visible(timeout=WAIT_MS)
    expect(provider).to_contain_text("need the Q3 numbers")
    saved(provider, "provider-card.png")

    provider.get_by_role("button", name="Acknowledge", exact=True).click()
    expect(said(bob, "You acknowledged R-1.")).to_be_visible(timeout=WAIT_MS)
    # The bot updates the card (same activity id): Web Chat replaces it in place, no second card.
    expect(provider.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0, timeout=WAIT_MS)
    expect(provider).to_contain_text("acknowledged")
    expect(provider).to_have_count(1)

    # Done opens an inline form; the note is optional, but a person would write one.
    provider.get_by_role("button", name="Done", exact=True).click()
    provider.get_by_label("Note for the requester (optional)").fill("In the Q3 folder, tab Summary")
    provider.get_by_role("button", name="Mark done", exact=True).click()
    expect(said(bob, "You finished R-1.")).to_be_visible(timeout=WAIT_MS)
    expect(provider.get_by_role("button", name="Done", exact=True)).to_have_count(0, timeout=WAIT_MS)

    # alice is told, and asked to rate.
    expect(said(alice, "In the Q3 folder, tab Summary")).to_be_visible(timeout=WAIT_MS)
    expect(card(alice, "R-1 to Bob Brennan: done")).to_be_visible(timeout=WAIT_MS)
    expect(card(alice, "R-1 to Bob Brennan: open")).to_have_count(0)
    rating = card(alice, "How did Bob Brennan do on R-1?")
    expect(rating).to_be_visible(timeout=WAIT_MS)
    rating.get_by_role("button", name="Rate", exact=True).click()
    rating.get_by_role("radio", name="4", exact=True).check()
    rating.get_by_label("Friendliness (optional)").select_option("5")
    rating.get_by_label("Comment (optional)").fill("Quick and clear, thanks!")
    saved(rating, "rating-card.png")
    rating.get_by_role("button", name="Send rating", exact=True).click()
    expect(said(alice, "Thanks for rating R-1.")).to_be_visible(timeout=WAIT_MS)

    # Nothing went wrong on the way: no console errors (an unsendable click logs one), no
    # failed bot call, no error in the server log.
    for page in (alice, bob):
        assert page.console_errors == []  # type: ignore[attr-defined]
    assert stack.emulator.forward_errors == []
    assert [call for call in stack.emulator.bot_calls if call.status >= 400] == []
    # Web Chat can't send Action.Execute: the bot gave it plain Action.Submit buttons only.
    sent = json.dumps([call.body for call in stack.emulator.bot_calls])
    assert '"Action.Submit"' in sent and '"Action.Execute"' not in sent
    stack.stop_server()
    assert " ERROR " not in stack.server_log(), stack.server_log()

    store = TinyDBStore(stack.db)
    try:
        request = store.get_request(WORKSPACE, 1)
        people = store.list_people(WORKSPACE)
    finally:
        store.close()
    assert request is not None
    assert request.status == Status.DONE
    assert request.rating is not None
    assert (request.rating.score, request.rating.needs, request.rating.comment) == (
        4,
        {"friendliness": 5},
        "Quick and clear, thanks!",
    )
    # Both Web Chat users were linked to the imported people by email, not created anew.
    assert sorted((p.handle, p.teams_id) for p in people) == [("alice", "aad-alice"), ("bob", "aad-bob")]
