"""The Microsoft Teams front end: ``POST /api/messages`` on botbuilder, plus a Teams notifier.

:class:`TeamsFrontEnd` has the :class:`handlers.frontend.FrontEnd` shape; the server attaches
it to the runtime when Teams is enabled.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.access import WorkspaceGate, org_ids
from bot.models import Message, Person
from bot.ports import NO_TELEMETRY, Telemetry
from handlers.teams.adapter import build_adapter, messages_handler
from handlers.teams.authentication import AuthenticationGuard
from handlers.teams.bot import ServechainTeamsBot
from handlers.teams.identity import known_person
from handlers.teams.notifier import TeamsNotifier
from handlers.teams.render import render_card

if TYPE_CHECKING:
    from bot.ports import Store
    from bot.settings import Settings
    from handlers.runtime import Runtime

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


def delivery_notifier(settings: Settings, store: Store, telemetry: Telemetry = NO_TELEMETRY) -> TeamsNotifier:
    """The Teams notifier alone, for a delivery process beside ``serve``'s (``DELIVERY_PROCESS``):
    the same adapter and credentials as :class:`TeamsFrontEnd`'s, without the routes."""
    return TeamsNotifier(adapter=build_adapter(settings, telemetry), store=store, app_id=settings.microsoft_app_id)


class TeamsFrontEnd:
    """Bot Framework activities at ``/api/messages``, and delivery through Teams."""

    name = "teams"

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.adapter = build_adapter(settings, runtime.telemetry)
        self.bot = ServechainTeamsBot(runtime)
        self.gate = workspace_gate(settings, runtime.store)
        self.guard = AuthenticationGuard(self.adapter.bot_framework_authentication)
        self.notifier = TeamsNotifier(adapter=self.adapter, store=runtime.store, app_id=settings.microsoft_app_id)

    def who(self, user_id: str) -> Person | None:
        """The person already linked to this Teams user id (or AAD object id)."""
        return known_person(self.runtime.store, self.runtime.workspace, user_id)

    def render(self, message: Message, recipient: Person) -> dict[str, Any]:
        """The Adaptive Card for ``message``."""
        return render_card(message)

    def mount(self, app: web.Application) -> None:
        """``POST /api/messages``."""
        app.router.add_post(MESSAGES_PATH, messages_handler(self.adapter, self.bot, self.gate, self.guard))

    def start(self) -> None:
        """Nothing to start: Teams calls us."""

    def close(self) -> None:
        """Stop the authentication guard's threads."""
        self.guard.close()


__all__ = ["MESSAGES_PATH", "TeamsFrontEnd", "delivery_notifier"]
