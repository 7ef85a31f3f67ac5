"""Slash commands: ``/request``, ``/kudos`` and ``/digest``."""

from __future__ import annotations

from slack_bolt import App

from handlers.slack.deps import SlackDeps
from handlers.slack.listeners.commands import digest, kudos, request

REQUEST = "/request"
KUDOS = "/kudos"
DIGEST = "/digest"


def register(app: App, deps: SlackDeps) -> None:
    """Register the slash commands."""
    for name, listener in (
        (REQUEST, request.listener(deps)),
        (KUDOS, kudos.listener(deps)),
        (DIGEST, digest.listener(deps)),
    ):
        deps.subscriptions.commands.add(name)
        app.command(name)(listener)
