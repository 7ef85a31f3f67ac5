"""``app_home_opened``: publish the person's App Home, ahead of refreshes (Bolt acks events by itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from handlers.slack.deps import SlackDeps
from handlers.slack.payloads import AppHomeOpened


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The ``app_home_opened`` listener."""

    def app_home_opened(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        opened = AppHomeOpened.model_validate(event)
        if opened.tab != "home":
            return
        team_id = str(body.get("team_id") or "")

        def publish() -> None:
            person = deps.identity.require(client, team_id, opened.user)
            deps.homes.opened(client, person, opened.user)

        deps.work.submit(publish, what="App Home")

    return app_home_opened
