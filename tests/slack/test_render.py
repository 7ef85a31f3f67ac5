"""Block Kit from neutral messages: parses with slack_sdk.models and keeps Slack's limits,
however long the text and history get."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cards import DECLINE_INPUTS
from bot.models import NEEDS, Action, ActionId, Fact, Message
from handlers.slack.render import ButtonValue, action_of, escape, fallback_text, history_text, message_blocks
from handlers.slack.views import FormTarget, action_modal, new_request_modal
from tests.fakes.slack_api import block_problems, view_problems


def _message(**overrides: object) -> Message:
    fields: dict[str, object] = {
        "key": "k",
        "recipient_id": "P-bob",
        "kind": "provider_card",
        "title": "R-7 from Alice",
        "text": "need the Q3 numbers",
        "facts": [Fact(label="From", value="Alice")],
        "history": ["Tue 24 Nov 10:00 · alice asked bob"],
        "actions": [Action(id=ActionId.ACKNOWLEDGE, label="Acknowledge", request=7, style="primary")],
        "card_key": "c",
    }
    fields.update(overrides)
    return Message.model_validate(fields)


def test_a_huge_card_is_cut_to_slacks_limits_keeping_the_start_and_end_of_its_history() -> None:
    history = ["Tue 24 Nov 10:00 · alice asked bob"] + [
        f"Wed 25 Nov 09:{i % 60:02d} · note {i} " + "x" * 150 for i in range(300)
    ]
    message = _message(
        title="R-7 " + "very long title " * 30,
        text="<b>bold</b> & " * 400,
        facts=[Fact(label=f"Label {i}", value="v" * 2500) for i in range(13)],
        history=history,
        actions=[Action(id=ActionId.DONE, label="Done " * 30, request=7) for _ in range(30)],
    )
    blocks = message_blocks(message)
    assert block_problems(blocks) == []
    text = history_text(history)
    assert "alice asked bob" in text and "note 299" in text and "more entries" in text
    assert len(fallback_text(message)) <= 3000


def test_user_text_is_escaped_but_mentions_stay_mentions() -> None:
    assert escape("a < b && <@U123|bob> <#C1> <!here>") == "a &lt; b &amp;&amp; <@U123|bob> <#C1> &lt;!here&gt;"


def test_repeated_actions_get_distinct_action_ids_that_map_back() -> None:
    message = _message(
        kind="follow_up_prompt",
        actions=[
            Action(id=ActionId.FOLLOW_UP, label="Yes, thanks", request=7, value="yes"),
            Action(id=ActionId.FOLLOW_UP, label="Not yet", request=7, value="no", inputs=["note"]),
        ],
    )
    (actions,) = [b for b in message_blocks(message) if b["type"] == "actions"]
    ids = [e["action_id"] for e in actions["elements"]]
    assert len(set(ids)) == 2 and {action_of(i) for i in ids} == {ActionId.FOLLOW_UP}
    values = [ButtonValue.load(e["value"]) for e in actions["elements"]]
    assert [(v.request, v.value, v.inputs) for v in values] == [(7, "yes", []), (7, "no", ["note"])]


def test_every_form_is_a_valid_modal() -> None:
    assert view_problems(new_request_modal(text="x" * 5000, provider_user_id="U1")) == []
    for action, inputs in [
        (ActionId.DECLINE, list(DECLINE_INPUTS)),
        (ActionId.ASK_AGAIN, ["note"]),
        (ActionId.CLOSE_RECOVERY, ["note"]),
        (ActionId.HANDOFF, ["to", "note"]),
        (ActionId.RATE, ["score", *NEEDS, "comment"]),
        (ActionId.FOLLOW_UP, ["note"]),
        (ActionId.REOPEN, ["note"]),
    ]:
        view = action_modal(FormTarget(1234567, action, response_url="https://hooks.slack.com/x" * 20), inputs, None)
        assert view_problems(view) == [], action


_texts = st.text(max_size=3000)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["provider_card", "requester_card", "update", "rating_prompt", "kudos", "text", "digest"]),
    title=st.text(min_size=1, max_size=400),
    text=_texts,
    history=st.lists(st.text(max_size=3500), max_size=40),
    facts=st.lists(st.tuples(st.text(min_size=1, max_size=50), st.text(max_size=2500)), max_size=14),
    labels=st.lists(st.text(min_size=1, max_size=120), max_size=6),
)
def test_any_message_renders_to_blocks_slack_accepts(
    kind: str, title: str, text: str, history: list[str], facts: list[tuple[str, str]], labels: list[str]
) -> None:
    message = _message(
        kind=kind,
        title=title,
        text=text,
        history=history,
        facts=[Fact(label=label, value=value) for label, value in facts],
        actions=[Action(id=ActionId.COMMENT, label=label, request=3) for label in labels],
    )
    assert block_problems(message_blocks(message)) == []
    assert 0 < len(fallback_text(message)) <= 3000
