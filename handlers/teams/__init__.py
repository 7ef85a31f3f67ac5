"""The Microsoft Teams front end: ``POST /api/messages`` on botbuilder, plus a Teams notifier.

``add_routes`` is the one entry ``handlers.server`` calls when Teams is enabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.access import WorkspaceGate, org_ids
from handlers.teams.adapter import build_adapter, messages_handler
from handlers.teams.bot import ServechainTeamsBot
from handlers.teams.notifier import TeamsNotifier

if TYPE_CHECKING:
    from handlers.server import Runtime

MESSAGES_PATH = "/api/messages"


def add_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve Bot Framework activities at ``/api/messages`` and deliver through Teams."""
    settings = runtime.settings
    adapter = build_adapter(settings)
    bot = ServechainTeamsBot(runtime)
    tenants = org_ids(f"{settings.teams_tenant_ids} {settings.microsoft_app_tenant_id}")
    gate = WorkspaceGate(runtime.store, settings.servechain_workspace, platform="teams", allowed=tenants)
    app.router.add_post(MESSAGES_PATH, messages_handler(adapter, bot, gate))
    runtime.notifiers.append(
        TeamsNotifier(adapter=adapter, store=runtime.store, app_id=runtime.settings.microsoft_app_id)
    )


__all__ = ["MESSAGES_PATH", "add_routes"]
