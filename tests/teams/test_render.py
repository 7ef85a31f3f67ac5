"""Neutral messages to Adaptive Cards: every message the core produces renders to a card the
official 1.5 schema accepts, and every button carries what the click handler needs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema

from bot.dispatch import give_kudos
from bot.models import NEEDS, ActionId, Fact, Message, Rating
from bot.people import Directory
from bot.ports import Store
from bot.pulse import pulse_message
from bot.requests import ActionInput, act, create_request
from bot.workhours import DEFAULT_HOURS
from handlers.teams import render
from handlers.teams.card_actions import parse_submission
from tests.conftest import NOW
from tests.teams.conftest import action_types, assert_valid_cards


def _life_messages(store: Store) -> list[Message]:
    """Every message of a few full request lives (created, handled, rated, recovered, declined...)."""
    directory = Directory(store, "default")
    person = directory.require
    alice, bob, carol = person("P-alice"), person("P-bob"), person("P-carol")
    messages: list[Message] = []

    def step(number: int, action: ActionId, actor: str, minutes: int, **inputs: Any) -> None:
        outcome = act(
            store=store,
            directory=Directory(store, "default"),
            workspace="default",
            number=number,
            action=action,
            actor=person(actor),
            now=NOW + timedelta(minutes=minutes),
            inputs=ActionInput(**inputs),
            hours=DEFAULT_HOURS,
        )
        messages.extend(outcome.messages)

    first = create_request(
        store=store,
        directory=directory,
        requester=alice,
        provider=bob,
        text="Q3 numbers",
        now=NOW,
        due_at=NOW + timedelta(days=3),
        tags=["finance"],
    )
    messages.extend(first.messages)
    step(1, ActionId.ACKNOWLEDGE, "P-bob", 1)
    step(1, ActionId.START, "P-bob", 2)
    step(1, ActionId.DONE, "P-bob", 3, note="in the shared sheet")
    step(1, ActionId.RATE, "P-alice", 4, rating=Rating(score=2, needs={"information": 1}, comment="late"))
    step(1, ActionId.RECOVER, "P-bob", 5, note="I'll send a summary")
    step(1, ActionId.FOLLOW_UP, "P-alice", 6, satisfied=False, note="still missing Q2")
    second = create_request(store=store, directory=directory, requester=alice, provider=bob, text="invoices", now=NOW)
    messages.extend(second.messages)
    step(2, ActionId.HANDOFF, "P-bob", 7, to=carol, note="carol owns invoices")
    step(2, ActionId.DECLINE, "P-carol", 8, note="not ours", alternative="ask dave")
    step(2, ActionId.REOPEN, "P-alice", 9, note="dave said it is yours")
    step(2, ActionId.CANCEL, "P-alice", 10)
    kudos = give_kudos(
        store=store, directory=directory, giver=alice, recipients=[bob], message="thanks!", values=[], now=NOW
    )
    messages.extend(kudos.messages)
    return messages


def test_every_card_of_a_request_life_is_valid_adaptive_card_1_5(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    messages = _life_messages(org_store)
    kinds = {m.kind for m in messages}
    assert {"provider_card", "requester_card", "rating_prompt", "recovery_prompt", "follow_up_prompt", "kudos"} <= kinds
    cards = [render.render_card(m) for m in messages]
    assert_valid_cards(card_validator, cards)
    assert all(card["version"] == "1.5" for card in cards)


def test_buttons_are_execute_only_for_teams_and_plain_submit_for_other_channels(
    org_store: Store, card_validator: jsonschema.protocols.Validator
) -> None:
    alice = Directory(org_store, "default").require("P-alice")
    messages = [*_life_messages(org_store), pulse_message(alice, "2026-W48")]
    for channel in ("webchat", "directline", "emulator"):
        cards = [render.render_card(m, channel_id=channel) for m in messages]
        assert_valid_cards(card_validator, cards)
        buttons = action_types(cards)
        assert "Action.Submit" in buttons and "Action.Execute" not in buttons, channel
    teams = [render.render_card(m, channel_id="msteams") for m in messages]
    assert teams == [render.render_card(m) for m in messages]  # Teams is the default
    assert "Action.Execute" in action_types(teams)


def test_digest_and_notice_cards_are_valid(card_validator: jsonschema.protocols.Validator) -> None:
    digest = Message(
        key="k",
        recipient_id="P-dave",
        kind="digest",
        title="Your week",
        text="3 requests",
        facts=[Fact(label="Done", value="2")],
    )
    assert_valid_cards(
        card_validator, [render.render_card(digest), render.notice_card("R-1", "Thanks for rating R-1.")]
    )


def test_provider_card_buttons_round_trip_to_the_click_handler(org_store: Store) -> None:
    provider_card = next(m for m in _life_messages(org_store) if m.kind == "provider_card")
    card = render.render_card(provider_card)
    by_title = {action["title"]: action for action in card["actions"]}
    assert list(by_title) == ["Acknowledge", "Start", "Done", "Decline", "Hand off", "Propose a date"]
    acknowledge = by_title["Acknowledge"]
    assert acknowledge["type"] == "Action.Execute"
    assert acknowledge["style"] == "positive"
    submission = parse_submission(acknowledge["data"])
    assert submission is not None
    assert (submission.action, submission.request) == (ActionId.ACKNOWLEDGE, 1)

    decline = by_title["Decline"]
    assert decline["type"] == "Action.ShowCard" and decline["style"] == "destructive"
    inputs = {element["id"]: element for element in decline["card"]["body"] if "id" in element}
    assert set(inputs) == {
        "decline.note",
        "decline.alternative_to",
        "decline.alternative_request",
        "decline.alternative",
        "decline.no_alternative",
    }
    assert inputs["decline.note"]["isRequired"] is True
    submit = decline["card"]["actions"][0]
    clicked = {**submit["data"], "decline.note": " not ours ", "decline.alternative": ""}
    submission = parse_submission(clicked)
    assert submission is not None
    assert submission.action == ActionId.DECLINE
    assert submission.fields == {"note": "not ours"}


def test_rating_form_has_required_score_and_six_optional_needs(org_store: Store) -> None:
    prompt = next(m for m in _life_messages(org_store) if m.kind == "rating_prompt")
    form = render.render_card(prompt)["actions"][0]["card"]["body"]
    ids = [element["id"] for element in form]
    assert ids == ["rate.score", *[f"rate.{need}" for need in NEEDS], "rate.comment"]
    score = form[0]
    assert score["type"] == "Input.ChoiceSet" and score["isRequired"] is True
    assert [c["value"] for c in score["choices"]] == ["1", "2", "3", "4", "5"]
    assert all(not element.get("isRequired") for element in form[1:])


def test_follow_up_buttons_carry_their_answer(org_store: Store) -> None:
    prompt = next(m for m in _life_messages(org_store) if m.kind == "follow_up_prompt")
    yes, no = render.render_card(prompt)["actions"]
    assert yes["type"] == "Action.Execute" and yes["data"]["value"] == "yes:1"  # the answer and its round
    assert no["type"] == "Action.ShowCard" and no["card"]["actions"][0]["data"]["value"] == "no:1"


def test_history_is_collapsed_behind_a_toggle(org_store: Store) -> None:
    card = render.render_card(next(m for m in _life_messages(org_store) if m.kind == "provider_card"))
    toggle, history = card["body"][-2:]
    assert toggle["actions"][0]["type"] == "Action.ToggleVisibility"
    assert history["id"] == "history" and history["isVisible"] is False


def test_thread_notes_are_plain_text_and_cards_are_attachments() -> None:
    note = Message(key="k", recipient_id="P-alice", kind="update", title="R-1", text="bob acknowledged")
    assert render.to_activity(note).text == "R-1: bob acknowledged"
    assert not render.to_activity(note).attachments
    kudos = Message(key="k2", recipient_id="P-bob", kind="kudos", title="Kudos from Alice!", text="thanks")
    activity = render.to_activity(kudos)
    assert activity.attachments[0].content_type == render.CARD_CONTENT_TYPE
    assert activity.summary == "Kudos from Alice!"


def test_foreign_submit_data_is_ignored() -> None:
    assert parse_submission({"action": "launch-rockets", "request": 1}) is None
    assert parse_submission({"action": "acknowledge", "request": "R-1"}) is None
    assert parse_submission("acknowledge") is None


def test_the_schema_check_is_strict(card_validator: jsonschema.protocols.Validator) -> None:
    """Guard the guard: the schema rejects what Teams would reject."""
    bad_cards: list[dict[str, Any]] = [
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "txt": "typo"}]},
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Input.Text"}]},  # inputs need an id
        {"type": "AdaptiveCard", "version": "1.5", "actions": [{"type": "Action.Execute", "verbs": "x"}]},
    ]
    for card in bad_cards:
        assert list(card_validator.iter_errors(card)), card
