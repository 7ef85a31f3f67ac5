"""Events API subscriptions."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.events import app_home

APP_HOME_OPENED = "app_home_opened"


def register(app: App, deps: SlackDeps) -> None:
    """Register the event listeners."""
    deps.subscriptions.events.add(APP_HOME_OPENED)
    app.event(APP_HOME_OPENED)(app_home.listener(deps))
