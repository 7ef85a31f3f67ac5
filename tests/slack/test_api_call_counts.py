"""Every Web API attempt an interactive Slack client makes is counted once, by method and
outcome, through the retry-handler hook slack_sdk calls after each attempt (and which Bolt's
per-request client copies), against the loopback fake Web API."""

from __future__ import annotations

import socket

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.slack.clients import counted_calls, interactive_client, pre_ack_client
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.conftest import BOT_TOKEN


class Calls:
    """A Telemetry that keeps the platform calls reported."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def work_finished(self, *, platform: str, kind: str, outcome: str, seconds: float) -> None:
        pass

    def request_received(self, *, platform: str, kind: str) -> None:
        pass

    def request_answered(self, *, platform: str, kind: str, acked: bool, seconds: float) -> None:
        pass

    def message_sent(self, *, platform: str, seconds: float) -> None:
        pass

    def platform_call(self, *, platform: str, method: str, outcome: str) -> None:
        self.seen.append((platform, method, outcome))


def test_ok_error_answers_and_a_retried_rate_limit_are_each_counted_once(fake: FakeSlackApi) -> None:
    calls = Calls()
    client = interactive_client(fake.url, token=BOT_TOKEN, telemetry=calls)
    fake.fail("views.publish", "ratelimited", status=429, retry_after=1)
    fake.fail("users.info", "user_not_found")

    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [{"type": "divider"}]})
    with pytest.raises(SlackApiError):
        client.users_info(user="U0NOBODY")
    client.auth_test()

    assert calls.seen == [
        ("slack", "views.publish", "rate_limited"),
        ("slack", "views.publish", "ok"),
        ("slack", "users.info", "failed"),
        ("slack", "auth.test", "ok"),
    ]


def test_a_connection_fault_retried_then_given_up_is_a_retry_and_a_failure() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    calls = Calls()
    client = interactive_client(f"http://127.0.0.1:{port}/api/", token=BOT_TOKEN, telemetry=calls)

    with pytest.raises(OSError):
        client.auth_test()

    assert calls.seen == [("slack", "auth.test", "retry"), ("slack", "auth.test", "failed")]


def test_calls_before_an_ack_are_counted_and_never_wait_out_a_rate_limit(fake: FakeSlackApi) -> None:
    calls = Calls()
    fake.fail("users.info", "ratelimited", status=429, retry_after=1)
    lookup = pre_ack_client(interactive_client(fake.url, token=BOT_TOKEN, telemetry=calls))

    with pytest.raises(SlackApiError):
        lookup.users_info(user="U0ALICE")

    assert calls.seen == [("slack", "users.info", "rate_limited")]
    assert len(fake.calls("users.info")) == 1


def test_bolts_per_request_copy_of_the_client_keeps_the_counter(fake: FakeSlackApi) -> None:
    calls = Calls()
    original = interactive_client(fake.url, telemetry=calls)
    copied = WebClient(base_url=original.base_url, token=BOT_TOKEN, retry_handlers=original.retry_handlers.copy())

    copied.auth_test()

    assert counted_calls(copied) is counted_calls(original)
    assert calls.seen == [("slack", "auth.test", "ok")]
