"""Shortcuts: the message shortcut "Make this a request"."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.shortcuts import make_request

MAKE_REQUEST = "make_request"


def register(app: App, deps: SlackDeps) -> None:
    """Register the shortcut listeners."""
    deps.subscriptions.shortcuts.add(MAKE_REQUEST)
    app.message_shortcut(MAKE_REQUEST)(make_request.listener(deps))
