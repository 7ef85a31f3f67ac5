"""One place turns failures into words: storage faults and surprises get an error id the
person can quote (and the log has it with the traceback); mrkdwn is escaped."""

from __future__ import annotations

import logging
import re
from typing import Any, NoReturn

import pytest

from bot.errors import StorageError
from tests.slack.conftest import SlackHarness


def _storage_down(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise StorageError("disk full")


def _bug(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RuntimeError("boom")


def test_a_storage_fault_asks_to_try_again_with_an_error_id_that_is_logged(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(harness.store, "create_request", _storage_down)
    with caplog.at_level(logging.ERROR, logger="handlers.slack"):
        harness.command("U0ALICE", "<@U0BOB|bob> need the Q3 numbers")
        harness.settle()
    (reply,) = harness.replies("U0ALICE")
    match = re.search(r"I couldn't save that right now, please try again \(error id (\w+)\)", reply)
    assert match, reply
    assert any(match.group(1) in record.getMessage() for record in caplog.records)


def test_an_unexpected_error_is_answered_with_an_id_and_logged_with_its_traceback(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(harness.store, "find_requests", _bug)
    with caplog.at_level(logging.ERROR, logger="handlers.slack"):
        harness.command("U0ALICE", "queue")
        harness.settle()
    (reply,) = harness.replies("U0ALICE")
    error_id = re.search(r"error id (\w+)", reply)
    assert error_id and "Something went wrong on my side" in reply
    (record,) = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert record.exc_info is not None


def test_a_storage_fault_on_a_form_shows_inline_and_keeps_the_form_open(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.command("U0ALICE", "")
    harness.settle()
    view = harness.last_view()
    monkeypatch.setattr(harness.store, "create_request", _storage_down)
    answer = harness.submit(
        "U0ALICE",
        view,
        {
            "provider": {"type": "users_select", "selected_user": "U0BOB"},
            "text": {"type": "plain_text_input", "value": "budget sheet"},
        },
    )
    errors = answer.json()["errors"]
    assert "couldn't save that right now" in next(iter(errors.values()))


def test_replies_are_escaped_for_mrkdwn(harness: SlackHarness) -> None:
    harness.command("U0ALICE", "help")
    harness.settle()
    (reply,) = harness.replies("U0ALICE")
    assert "[by &lt;when&gt;]" in reply and "<when>" not in reply
