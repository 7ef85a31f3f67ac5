"""Submit of the new-request form: create the request, or show what to fix inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.commands import parse_request_id
from bot.dates import DueDateError, parse_due
from bot.models import Priority
from bot.people import Directory
from bot.requests import create_request
from handlers.slack.clients import pre_ack_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners._common import touched, view_key
from handlers.slack.listeners.views._errors import inline_errors
from handlers.slack.payloads import ViewSubmission
from handlers.slack.views import FormValues

FIELDS = ("provider", "text", "due", "priority", "parent")


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of the new-request form's Submit."""

    def new_request_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = ViewSubmission.model_validate(body)
        form = FormValues(payload.view.state.values)
        team_id = payload.team_id
        lookup = pre_ack_client(client)
        try:
            actor = deps.identity.require(lookup, team_id, payload.user.id)
            now = deps.clock()
            errors: dict[str, str] = {}
            due_at = None
            if (due := form.due("due", actor.tz)) is not None:
                try:
                    due_at = parse_due(due, now=now, tz=actor.tz, hours=deps.hours.for_person(actor))
                except DueDateError as error:
                    errors["due"] = error.message
            parent = None
            if (parent_text := form.text("parent")) is not None:
                parent = parse_request_id(parent_text)
                if parent is None:
                    errors["parent"] = f"{parent_text[:40]} is not a request id; they look like R-12."
            provider = None
            if (provider_user := form.user("provider")) is not None:
                provider = deps.identity.person(lookup, team_id, provider_user)
            if provider is None:
                errors["provider"] = "I couldn't find that person in Slack. Pick someone else."
            if errors:
                ack(response_action="errors", errors=errors)
                return
            assert provider is not None
            outcome = create_request(
                store=deps.store,
                directory=Directory(deps.store, deps.workspace),
                requester=actor,
                provider=provider,
                text=form.text("text") or "",
                now=now,
                due_at=due_at,
                priority=Priority(form.option("priority") or Priority.NORMAL.value),
                parent=parent,
                idempotency_key=view_key(payload.view.id),
            )
        except Exception as error:
            ack(response_action="errors", errors=inline_errors(error, FIELDS, "provider", doing="your request"))
            return
        people = touched(actor, outcome.messages)
        deps.work.submit(lambda: deps.after_change(client, team_id, people), what="after new request")
        ack()

    return new_request_submitted
