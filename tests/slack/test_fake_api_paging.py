"""The fake Web API pages conversation history like Slack: newest first, ``oldest``/``latest``
bounds (exclusive unless ``inclusive``), ``limit`` per page and an opaque ``next_cursor``."""

from __future__ import annotations

from slack_sdk import WebClient

from tests.fakes.slack_api import FakeSlackApi


def test_history_pages_between_oldest_and_latest_newest_first() -> None:
    with FakeSlackApi() as fake:
        fake.add_user("U1", "One")
        client = WebClient(token="xoxb-paging-test", base_url=fake.url)
        stamps = [str(client.chat_postMessage(channel="D1", text=f"m{n}")["ts"]) for n in range(7)]
        assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 7

        seen: list[str] = []
        cursor = None
        while True:
            page = client.conversations_history(
                channel="D1", oldest=stamps[1], latest=stamps[6], limit=2, cursor=cursor
            )
            assert len(page["messages"]) <= 2
            seen += [m["ts"] for m in page["messages"]]
            cursor = page["response_metadata"]["next_cursor"]
            assert bool(cursor) == page["has_more"]
            if not cursor:
                break
        assert seen == stamps[5:1:-1]  # bounds excluded, newest first

        inclusive = client.conversations_history(channel="D1", oldest=stamps[1], latest=stamps[6], inclusive=True)
        assert [m["ts"] for m in inclusive["messages"]] == stamps[6:0:-1]
        assert [m["ts"] for m in client.conversations_history(channel="D1", limit=3)["messages"]] == stamps[:3:-1]
