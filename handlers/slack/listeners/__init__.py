"""Every listener group registers itself here."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.inbox import Handler
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners import actions, commands, events, shortcuts, views


def register_listeners(app: App, deps: SlackDeps) -> None:
    """Register all commands, actions, views, events and shortcuts on ``app``."""
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    events.register(app, deps)
    shortcuts.register(app, deps)


def inbox_handlers(deps: SlackDeps, client: WebClient) -> dict[str, Handler]:
    """What runs each kind of stored Slack work (``client`` carries the bot token)."""
    return {
        commands.KIND: commands.run_item(deps, client),
        actions.request_button.KIND: actions.request_button.run_item(deps, client),
    }
