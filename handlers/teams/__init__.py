"""The Microsoft Teams front end: ``POST /api/messages`` on botbuilder, plus a Teams notifier.

:class:`TeamsFrontEnd` has the :class:`handlers.frontend.FrontEnd` shape; the server attaches
it to the runtime when Teams is enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.access import WorkspaceGate, org_ids
from bot.models import Message, Person
from handlers.teams.adapter import build_adapter, messages_handler
from handlers.teams.bot import ServechainTeamsBot
from handlers.teams.identity import known_person
from handlers.teams.notifier import TeamsNotifier
from handlers.teams.render import render_card

if TYPE_CHECKING:
    from handlers.runtime import Runtime

MESSAGES_PATH = "/api/messages"


class TeamsFrontEnd:
    """Bot Framework activities at ``/api/messages``, and delivery through Teams."""

    name = "teams"

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.adapter = build_adapter(settings)
        self.bot = ServechainTeamsBot(runtime)
        tenants = org_ids(f"{settings.teams_tenant_ids} {settings.microsoft_app_tenant_id}")
        self.gate = WorkspaceGate(runtime.store, settings.servechain_workspace, platform="teams", allowed=tenants)
        self.notifier = TeamsNotifier(adapter=self.adapter, store=runtime.store, app_id=settings.microsoft_app_id)

    def who(self, user_id: str) -> Person | None:
        """The person already linked to this Teams user id (or AAD object id)."""
        return known_person(self.runtime.store, self.runtime.workspace, user_id)

    def render(self, message: Message, recipient: Person) -> dict[str, Any]:
        """The Adaptive Card for ``message``."""
        return render_card(message)

    def mount(self, app: web.Application) -> None:
        """``POST /api/messages``."""
        app.router.add_post(MESSAGES_PATH, messages_handler(self.adapter, self.bot, self.gate))

    def start(self) -> None:
        """Nothing to start: Teams calls us."""

    def close(self) -> None:
        """Nothing to close: the adapter holds no threads."""


__all__ = ["MESSAGES_PATH", "TeamsFrontEnd"]
