"""Submit of the "Thank <provider>" form of a finished request: kudos from its requester to
whoever finished it, or what to fix shown inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.clicks import Click
from bot.errors import NotFound
from bot.models import ActionId
from handlers.slack.clients import pre_ack_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners._common import run, touched, view_key
from handlers.slack.listeners.views._errors import inline_errors
from handlers.slack.notifier import PLATFORM
from handlers.slack.payloads import ViewSubmission
from handlers.slack.views import FormTarget, FormValues


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of the thank form's Submit."""

    def thank_form_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = ViewSubmission.model_validate(body)
        form = FormValues(payload.view.state.values)
        fields = list(payload.view.state.values)
        team_id = payload.team_id
        try:
            target = FormTarget.load(payload.view.private_metadata)
            if target.workspace != deps.workspace:
                raise NotFound(f"I can't find R-{target.request}.")
            actor = deps.identity.require(pre_ack_client(client), team_id, payload.user.id)
            message = form.text("message")
            result = run(
                deps,
                Click(
                    platform=PLATFORM,
                    actor=actor,
                    action=ActionId.THANK,
                    request=target.request,
                    fields={"message": message} if message is not None else {},
                    key=view_key(payload.view.id),
                ),
            )
        except Exception as error:
            ack(response_action="errors", errors=inline_errors(error, fields, "message", doing="your thanks"))
            return

        def after() -> None:
            if not result.repeated:
                deps.replier(client, team_id, payload.user.id, target.response_url).say(result.reply)
            deps.after_change(client, team_id, touched(actor, result.queued))

        deps.work.submit(after, what="after the thank form")
        ack()

    return thank_form_submitted
