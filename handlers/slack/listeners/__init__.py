"""Every listener group registers itself here."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners import actions, commands, events, shortcuts, views


def register_listeners(app: App, deps: SlackDeps) -> None:
    """Register all commands, actions, views, events and shortcuts on ``app``."""
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    events.register(app, deps)
    shortcuts.register(app, deps)
