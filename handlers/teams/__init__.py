"""The Microsoft Teams front end: ``POST /api/messages`` on botbuilder, plus a Teams notifier.

``add_routes`` is the one entry ``handlers.server`` calls when Teams is enabled.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.access import WorkspaceGate, org_ids
from handlers.teams.adapter import build_adapter, messages_handler
from handlers.teams.authentication import AuthenticationGuard
from handlers.teams.bot import ServechainTeamsBot
from handlers.teams.notifier import TeamsNotifier

if TYPE_CHECKING:
    from bot.ports import Store
    from bot.settings import Settings
    from handlers.server import Runtime

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"


def workspace_gate(settings: Settings, store: Store) -> WorkspaceGate:
    """The tenants this deployment serves: ``TEAMS_TENANT_IDS`` and ``MICROSOFT_APP_TENANT_ID``;
    with an app id and neither set, none (a warning says what to set); without an app id (local
    development, no authentication, nothing to protect) the first tenant seen is pinned."""
    tenants = org_ids(f"{settings.teams_tenant_ids} {settings.microsoft_app_tenant_id}")
    authenticated = bool(settings.microsoft_app_id)
    if authenticated and not tenants:
        log.warning(
            "neither TEAMS_TENANT_IDS nor MICROSOFT_APP_TENANT_ID is set: every Teams tenant will be refused; "
            "set TEAMS_TENANT_IDS to the Microsoft 365 tenant id(s) this deployment serves"
        )
    gate = WorkspaceGate(
        store,
        settings.servechain_workspace,
        platform="teams",
        allowed=tenants,
        orgless=True,  # Web Chat, Direct Line and the emulator name no tenant, and authenticate as our app
        pin_first_seen=not authenticated,  # local development (SERVECHAIN_TEAMS=1): nothing to protect
    )
    return gate


def add_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve Bot Framework activities at ``/api/messages`` and deliver through Teams."""
    settings = runtime.settings
    adapter = build_adapter(settings)
    bot = ServechainTeamsBot(runtime)
    gate = workspace_gate(settings, runtime.store)
    guard = AuthenticationGuard(adapter.bot_framework_authentication)
    app.router.add_post(MESSAGES_PATH, messages_handler(adapter, bot, gate, guard))

    async def stop_guard(_app: web.Application) -> None:
        guard.close()

    app.on_cleanup.append(stop_guard)
    runtime.notifiers.append(
        TeamsNotifier(adapter=adapter, store=runtime.store, app_id=runtime.settings.microsoft_app_id)
    )


__all__ = ["MESSAGES_PATH", "add_routes"]
