"""Slash commands: ``/request`` and ``/kudos``."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.commands import kudos, request

REQUEST = "/request"
KUDOS = "/kudos"


def register(app: App, deps: SlackDeps) -> None:
    """Register the slash commands."""
    for name, listener in ((REQUEST, request.listener(deps)), (KUDOS, kudos.listener(deps))):
        deps.subscriptions.commands.add(name)
        app.command(name)(listener)
