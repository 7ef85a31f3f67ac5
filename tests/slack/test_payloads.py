"""The payload check never lets anything but MalformedPayload escape, whatever the body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.slack.payloads import MalformedPayload, check
from tests.slack.conftest import fixture

_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _accepts(body: str, content_type: str) -> bool:
    try:
        check(body, content_type)
    except MalformedPayload:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    body=st.text(max_size=300),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
)
def test_any_text_is_accepted_or_rejected_as_malformed(body: str, content_type: str) -> None:
    _accepts(body, content_type)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["block_actions", "view_submission", "message_action"]),
    path=st.lists(
        st.sampled_from(["user", "team", "actions", "view", "message", "id", "value", "state", "0"]), max_size=3
    ),
    junk=_json,
)
def test_documented_payloads_with_any_part_replaced_never_crash_the_check(
    kind: str, path: list[str], junk: Any
) -> None:
    payload = fixture(
        {"block_actions": "block_actions", "view_submission": "view_submission"}.get(kind, "message_action")
    )
    target: Any = payload
    for key in path[:-1]:
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and target and key == "0":
            target = target[0]
    if path and isinstance(target, dict):
        target[path[-1]] = junk
    _accepts(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def test_the_documented_fixtures_are_accepted() -> None:
    for name in ("block_actions", "view_submission", "message_action"):
        assert _accepts(urlencode({"payload": json.dumps(fixture(name))}), "application/x-www-form-urlencoded"), name
    assert _accepts(urlencode(fixture("slash_command")), "application/x-www-form-urlencoded")
    assert _accepts(json.dumps(fixture("app_home_opened")), "application/json")
    assert _accepts(json.dumps(fixture("url_verification")), "application/json")


@pytest.mark.parametrize("kind", ["url_verification", "app_rate_limited", "event_callback"])
def test_a_json_body_whose_event_is_not_an_object_is_refused(kind: str) -> None:
    # Found by the endpoint fuzzing: Bolt's self-event middleware reads body["event"].get(...),
    # so {"type": "url_verification", "challenge": "", "event": null} answered 500.
    with pytest.raises(MalformedPayload, match="event is not an object"):
        check(f'{{"type": "{kind}", "challenge": "", "team_id": "T1", "event": null}}', "application/json")
