"""Submit of the weekly pulse's form: store the answers without the person's identity, or show
what to fix inline.

No idempotency key is stored with the answer (a view id would tie it to a person's modal); the
core's "answered" marker makes a repeated submission count once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.clicks import Click
from bot.models import ActionId
from handlers.slack.clients import pre_ack_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners._common import run
from handlers.slack.listeners.views._errors import inline_errors
from handlers.slack.notifier import PLATFORM
from handlers.slack.payloads import ViewSubmission
from handlers.slack.views import FormValues


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of the pulse form's Submit."""

    def pulse_form_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = ViewSubmission.model_validate(body)
        form = FormValues(payload.view.state.values)
        fields = list(payload.view.state.values)
        team_id = payload.team_id
        try:
            metadata = json.loads(payload.view.private_metadata or "{}")
            week = str(metadata["w"])
            response_url = metadata["r"] if isinstance(metadata.get("r"), str) else None
        except (ValueError, KeyError, TypeError):
            message = "This form is out of date. Close it and click the button on the pulse again."
            ack(response_action="errors", errors={fields[0]: message} if fields else None)
            return
        try:
            actor = deps.identity.require(pre_ack_client(client), team_id, payload.user.id)
            answers = {
                "manager_support": form.option("manager_support"),
                "service": form.option("service"),
                "comment": form.text("comment"),
            }
            reply = run(
                deps,
                Click(
                    platform=PLATFORM,
                    actor=actor,
                    action=ActionId.PULSE,
                    request=0,
                    value=week,
                    fields={name: text for name, text in answers.items() if text is not None},
                ),
            ).reply
        except Exception as error:
            ack(response_action="errors", errors=inline_errors(error, fields, None, doing="your answers"))
            return
        replier = deps.replier(client, team_id, payload.user.id, response_url)
        deps.work.submit(lambda: replier.say(reply), what="after the pulse form")
        ack()

    return pulse_form_submitted
