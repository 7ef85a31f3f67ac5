"""The Teams activity handler: routes each kind of activity to its module, nothing more."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler

from handlers.teams import card_actions, chat, installation

if TYPE_CHECKING:
    from handlers.runtime import Runtime

ADAPTIVE_CARD_ACTION = "adaptiveCard/action"


class ServechainTeamsBot(TeamsActivityHandler):
    """servechain in Teams: typed commands, card clicks, install and uninstall."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """Typed text is a command; a message with ``value`` is an ``Action.Submit`` click."""
        activity = turn_context.activity
        is_click = activity.value is not None and not (activity.text or "").strip()
        if is_click and await card_actions.on_submit(turn_context, self.runtime):
            return
        await chat.on_text(turn_context, self.runtime)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """``Action.Execute`` clicks; every other invoke is left to the base handler, and one
        it does not know either is a client error (400), not the SDK's 501."""
        if turn_context.activity.name == ADAPTIVE_CARD_ACTION:
            return await card_actions.on_execute(turn_context, self.runtime)
        response = await super().on_invoke_activity(turn_context)
        if response is not None and response.status == int(HTTPStatus.NOT_IMPLEMENTED):
            return InvokeResponse(
                status=int(HTTPStatus.BAD_REQUEST), body={"error": "servechain does not handle this invoke"}
            )
        return response

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await installation.on_installed(turn_context, self.runtime)

    async def on_installation_update_remove(self, turn_context: TurnContext) -> None:
        await installation.on_uninstalled(turn_context, self.runtime)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        """Only the bot's own arrival or departure matters; other members come and go freely."""
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if any(member.id == bot_id for member in activity.members_added or []):
            await installation.on_installed(turn_context, self.runtime)
        elif any(member.id == bot_id for member in activity.members_removed or []):
            await installation.on_uninstalled(turn_context, self.runtime)
