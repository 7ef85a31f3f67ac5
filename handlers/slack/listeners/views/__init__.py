"""Modal submissions: the new-request form and the action forms.

Unlike clicks and commands, a submission is checked by the core *before* the ack, because
Slack shows a form's errors inline only when they come back in the ack
(``response_action: errors``). That is one store read and one write; Web API calls (card
delivery, App Home) still happen after the ack.
"""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.views import action_form, new_request, pulse_form, thank_form
from handlers.slack.views import ACTION_FORM, NEW_REQUEST, PULSE_FORM, THANK_FORM


def register(app: App, deps: SlackDeps) -> None:
    """Register the view submission listeners."""
    deps.subscriptions.views.update({NEW_REQUEST, ACTION_FORM, THANK_FORM, PULSE_FORM})
    app.view(NEW_REQUEST)(new_request.listener(deps))
    app.view(ACTION_FORM)(action_form.listener(deps))
    app.view(THANK_FORM)(thank_form.listener(deps))
    app.view(PULSE_FORM)(pulse_form.listener(deps))
