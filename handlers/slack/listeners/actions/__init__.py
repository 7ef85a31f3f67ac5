"""Button clicks: the request cards' buttons and App Home's New request."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.actions import new_request, request_button
from handlers.slack.render import ACTION_ID_PATTERN
from handlers.slack.views import NEW_REQUEST


def register(app: App, deps: SlackDeps) -> None:
    """Register the block action listeners."""
    deps.subscriptions.actions.update({ACTION_ID_PATTERN.pattern, NEW_REQUEST})
    app.action(ACTION_ID_PATTERN)(request_button.listener(deps))
    app.action(NEW_REQUEST)(new_request.listener(deps))
