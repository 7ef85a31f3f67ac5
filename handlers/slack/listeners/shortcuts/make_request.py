""" "Make this a request" on a message: open the request form filled in from the message."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from handlers.slack.deps import SlackDeps, guarded
from handlers.slack.payloads import MessageShortcut
from handlers.slack.views import new_request_modal


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The message shortcut listener."""

    def make_request(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = MessageShortcut.model_validate(body)
        replier = deps.replier(client, payload.team_id, payload.user.id, payload.response_url)
        author = payload.message.user
        provider = author if author and author != payload.user.id else None
        text = html.unescape(payload.message.text)

        def job() -> None:
            client.views_open(
                trigger_id=payload.trigger_id, view=new_request_modal(text=text, provider_user_id=provider)
            )

        deps.work.submit(guarded(replier, "opening the request form", job), what="make this a request")
        ack()

    return make_request
