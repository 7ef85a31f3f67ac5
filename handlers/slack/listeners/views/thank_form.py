"""Submit of the "Thank <provider>" form of a finished request: kudos from its requester to
whoever finished it, or what to fix shown inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.errors import NotFound
from bot.kudos import thank_for_request
from bot.people import Directory
from handlers.slack.clients import pre_ack_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners._common import touched, view_key
from handlers.slack.listeners.views._errors import inline_errors
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
            outcome = thank_for_request(
                store=deps.store,
                directory=Directory(deps.store, deps.workspace),
                actor=actor,
                number=target.request,
                message=form.text("message"),
                now=deps.clock(),
                allowance=deps.kudos_allowance,
                idempotency_key=view_key(payload.view.id),
            )
        except Exception as error:
            ack(response_action="errors", errors=inline_errors(error, fields, "message", doing="your thanks"))
            return

        def after() -> None:
            if not outcome.repeated:
                deps.replier(client, team_id, payload.user.id, target.response_url).say(outcome.text)
            deps.after_change(client, team_id, touched(actor, outcome.messages))

        deps.work.submit(after, what="after the thank form")
        ack()

    return thank_form_submitted
