"""App Home's New request button: open the request form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from handlers.slack.deps import SlackDeps, guarded
from handlers.slack.payloads import BlockActions
from handlers.slack.views import new_request_modal


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of the New request button."""

    def open_new_request(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = BlockActions.model_validate(body)
        replier = deps.replier(client, payload.team_id, payload.user.id, payload.response_url)

        def job() -> None:
            client.views_open(trigger_id=payload.trigger_id, view=new_request_modal())

        deps.work.submit(guarded(replier, "opening the request form", job), what="new request form")
        ack()

    return open_new_request
