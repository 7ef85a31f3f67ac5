"""The Bot Framework adapter built from Settings, and ``POST /api/messages`` with its auth guard.

With ``MICROSOFT_APP_ID`` empty the adapter accepts unauthenticated activities (local
development; one warning says so). With it set, every activity must carry a valid Bot Framework
token. The request is authenticated before the bot sees it, off the event loop (see
:mod:`handlers.teams.authentication`), and any failure to authenticate is a 401 (503 when the
signing keys can't be fetched or too many requests wait): botbuilder 4.17.1 raises
``jwt.DecodeError`` on a malformed ``Authorization`` header, which its own
``CloudAdapter.process`` turns into a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity

from bot.access import WorkspaceGate
from bot.ports import NO_TELEMETRY, Telemetry
from bot.settings import Settings
from handlers import jsonlimits
from handlers.runtime import ConfigError
from handlers.teams.authentication import AuthenticationGuard, unavailable
from handlers.teams.errors import on_turn_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FOREIGN_TENANT = (
    "servechain here serves another Microsoft 365 organisation, so nothing was done. "
    "An admin can add your tenant id to TEAMS_TENANT_IDS."
)


def tenant_of(body: dict[str, Any]) -> str | None:
    """The Microsoft 365 tenant a raw activity names (``conversation.tenantId``, which botbuilder's
    schema drops, else ``channelData.tenant.id``), if any."""
    conversation = body.get("conversation")
    channel_data = body.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    for value in (
        conversation.get("tenantId") if isinstance(conversation, dict) else None,
        tenant.get("id") if isinstance(tenant, dict) else None,
    ):
        if isinstance(value, str) and value:
            return value
    return None


_STRING_FIELDS = ("type", "id", "name", "text", "replyToId", "serviceUrl", "channelId", "locale", "textFormat")


def _strings_where_strings_belong(body: dict[str, Any]) -> bool:
    """The activity's scalar fields are strings (the SDK would otherwise carry ``{}`` along as an id)."""
    return all(body.get(name) is None or isinstance(body[name], str) for name in _STRING_FIELDS)


def _addressed(activity: Activity) -> bool:
    """True when the activity says who sent it, to which bot and in which conversation (every
    turn needs all three; a reply or a stored conversation reference without them is useless)."""
    parts = (activity.from_property, activity.recipient, activity.conversation)
    return all(bool(getattr(part, "id", None)) for part in parts)


async def _refuse(context: TurnContext) -> None:
    """Tell someone typing from a foreign tenant why nothing happens; nothing else is done."""
    if context.activity.type == "message":
        await context.send_activity(MessageFactory.text(FOREIGN_TENANT))


class BotFrameworkConfig:
    """The attribute names ``ConfigurationBotFrameworkAuthentication`` reads, filled from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.microsoft_app_id
        self.APP_PASSWORD = settings.microsoft_app_password.get_secret_value()
        self.APP_TYPE = settings.microsoft_app_type or "MultiTenant"
        self.APP_TENANTID = settings.microsoft_app_tenant_id


PROACTIVE = "ContinueConversation"
"""The event botbuilder's ``continue_conversation`` turns carry (outbox deliveries, counted by
the delivery metrics, not here)."""


class CountingCloudAdapter(CloudAdapter):
    """botbuilder's CloudAdapter, counting every Bot Connector call a turn makes (replies sent,
    cards updated) by method and outcome to ``telemetry``. The adapter is where botbuilder
    makes those calls (a turn's ``on_send_activities`` hooks run before the send and never see
    its outcome)."""

    def __init__(self, authentication: ConfigurationBotFrameworkAuthentication, telemetry: Telemetry) -> None:
        super().__init__(authentication)
        self.telemetry = telemetry

    def count_call(self, context: TurnContext, method: str, outcome: str, calls: int = 1) -> None:
        """Report ``calls`` connector calls of a turn that answers an incoming activity."""
        if context.activity.type == "event" and context.activity.name == PROACTIVE:
            return
        try:
            for _ in range(calls):
                self.telemetry.platform_call(platform="teams", method=method, outcome=outcome)
        except Exception:  # metrics never fail a turn
            log.exception("telemetry failed")

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> Any:
        calls = sum(1 for a in activities if a.type not in ("invokeResponse", "delay", "trace"))
        try:
            responses = await super().send_activities(context, activities)
        except Exception as error:
            self.count_call(context, "send_activity", call_outcome(error), calls)
            raise
        self.count_call(context, "send_activity", "ok", calls)
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> Any:
        try:
            response = await super().update_activity(context, activity)
        except Exception as error:
            self.count_call(context, "update_activity", call_outcome(error))
            raise
        self.count_call(context, "update_activity", "ok")
        return response


def call_outcome(error: BaseException) -> str:
    """``rate_limited`` for a Bot Connector 429, else ``failed``."""
    response = getattr(error, "response", None)
    return "rate_limited" if getattr(response, "status_code", None) == 429 else "failed"


def build_adapter(settings: Settings, telemetry: Telemetry = NO_TELEMETRY) -> CountingCloudAdapter:
    """A CloudAdapter authenticating with the settings' app id, or with none (logged once),
    counting the connector calls of its turns to ``telemetry``."""
    if not settings.microsoft_app_id:
        log.warning(
            "MICROSOFT_APP_ID is not set: Teams runs WITHOUT authentication (local development only); "
            "anyone who can reach /api/messages can act as any user."
        )
    try:
        authentication = ConfigurationBotFrameworkAuthentication(BotFrameworkConfig(settings))
    except Exception as error:  # the SDK raises bare Exceptions naming the missing setting
        raise ConfigError(
            f"Teams settings are incomplete for MICROSOFT_APP_TYPE={settings.microsoft_app_type}: {error}"
        ) from error
    adapter = CountingCloudAdapter(authentication, telemetry)
    adapter.on_turn_error = on_turn_error
    return adapter


def messages_handler(
    adapter: CloudAdapter, bot: Bot, gate: WorkspaceGate | None = None, guard: AuthenticationGuard | None = None
) -> Handler:
    """``POST /api/messages``: parse, authenticate off the event loop through ``guard`` (401 when
    not authentic, 503 when that can't be decided now), refuse tenants the workspace does not
    serve (see :class:`bot.access.WorkspaceGate`), then run the turn."""
    guard = guard or AuthenticationGuard(adapter.bot_framework_authentication)

    async def messages(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.Response(status=415, text="expected application/json")
        try:
            body = jsonlimits.loads(await request.read())
            activity = Activity().deserialize(body) if isinstance(body, dict) else None
        except Exception:  # not JSON, nested too deeply, or not an activity
            activity = None
        if activity is None or not activity.type or not _strings_where_strings_belong(body):
            return web.Response(status=400, text="expected a Bot Framework activity")
        if not _addressed(activity):
            return web.Response(status=400, text="expected an activity with a sender, a recipient and a conversation")
        header = request.headers.get("Authorization", "")
        try:
            authenticated = await guard.authenticate(activity, header)
        except Exception as error:  # PermissionError, PyJWT errors, bad headers: all "not authenticated"
            if unavailable(error):
                log.warning("couldn't authenticate a Bot Framework request now: %s", error)
                return web.Response(status=503, headers={"Retry-After": "30"}, text="try again later")
            log.warning("rejected a Bot Framework request that failed authentication (%s)", type(error).__name__)
            return web.Response(status=401)
        tenant = tenant_of(body)
        if gate is not None and not await asyncio.to_thread(gate.admits, tenant):
            log.warning(
                "refused an activity from Microsoft 365 tenant %s, which this deployment does not serve; "
                "to serve it, add it to TEAMS_TENANT_IDS",
                tenant,
            )
            if activity.type == "invoke":
                value = {
                    "statusCode": 200,
                    "type": "application/vnd.microsoft.activity.message",
                    "value": FOREIGN_TENANT,
                }
                return web.json_response(value)
            await adapter.process_activity(authenticated, activity, _refuse)
            return web.Response(status=201)
        response = await adapter.process_activity(authenticated, activity, bot.on_turn)
        if response is not None:
            return web.json_response(response.body, status=response.status)
        return web.Response(status=201)

    return messages
