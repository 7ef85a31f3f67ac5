"""Submit of an action form (decline, hand off, done, rate, recover, follow-up...):
apply the action, or show what to fix inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.clicks import Click
from bot.commands import parse_request_id
from bot.errors import InvalidCommand, NotFound
from bot.models import NEEDS, Rating
from bot.requests import ActionInput, make_rating
from handlers.slack.clients import pre_ack_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners._common import run, touched, view_key
from handlers.slack.listeners.views._errors import inline_errors
from handlers.slack.notifier import PLATFORM
from handlers.slack.payloads import ViewSubmission
from handlers.slack.views import FormTarget, FormValues


class FieldError(InvalidCommand):
    """A form value the core can't take as it is, on a named field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _rating(form: FormValues) -> Rating | None:
    if not form.has("score"):
        return None
    score = form.option("score")
    if score is None:
        raise FieldError("Please pick a score from 1 to 5.", "score")
    needs = {need: value for need in NEEDS if (value := form.option(need)) is not None}
    return make_rating(score, needs, form.text("comment"))


def _request_number(form: FormValues) -> int | None:
    typed = form.text("alternative_request")
    if typed is None:
        return None
    number = parse_request_id(typed)
    if number is None:
        raise FieldError(f"{typed[:40]!r} isn't a request number; write it like R-12.", "alternative_request")
    return number


def listener(deps: SlackDeps) -> Callable[..., None]:
    """The listener of every action form's Submit."""

    def action_form_submitted(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        payload = ViewSubmission.model_validate(body)
        form = FormValues(payload.view.state.values)
        fields = list(payload.view.state.values)
        team_id = payload.team_id
        lookup = pre_ack_client(client)
        try:
            target = FormTarget.load(payload.view.private_metadata)
        except ValueError:
            message = "This form is out of date. Close it and click the button on the card again."
            ack(response_action="errors", errors={fields[0]: message} if fields else None)
            return
        try:
            if target.workspace != deps.workspace:
                raise NotFound(f"I can't find R-{target.request}.")
            actor = deps.identity.require(lookup, team_id, payload.user.id)
            people = {}
            for name in ("to", "alternative_to"):
                if (user := form.user(name)) is not None:
                    people[name] = deps.identity.person(lookup, team_id, user)
                    if people[name] is None:
                        raise FieldError("I couldn't find that person in Slack. Pick someone else.", name)
            inputs = ActionInput(
                note=form.text("note"),
                alternative=form.text("alternative"),
                alternative_to=people.get("alternative_to"),
                alternative_request=_request_number(form),
                no_alternative=form.text("no_alternative"),
                to=people.get("to"),
                rating=_rating(form),
                due=form.due("due", actor.tz),
            )
            result = run(
                deps,
                Click(
                    platform=PLATFORM,
                    actor=actor,
                    action=target.action,
                    request=target.request,
                    value=target.value,
                    inputs=inputs,
                    key=view_key(payload.view.id),
                ),
            )
        except Exception as error:
            ack(response_action="errors", errors=inline_errors(error, fields, None, doing=f"R-{target.request}"))
            return

        def after() -> None:
            if not result.repeated:
                deps.replier(client, team_id, payload.user.id, target.response_url).say(result.reply)
            deps.after_change(client, team_id, touched(actor, result.queued))

        deps.work.submit(after, what=f"after {target.action.value} form")
        ack()

    return action_form_submitted
