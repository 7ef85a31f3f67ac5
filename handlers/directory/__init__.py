"""Directory adapters: the org from Slack (``users.list``) or Microsoft Graph (``/users``),
implementing :class:`bot.orgsync.DirectorySource`. Each is imported when it is asked for, so a
process that syncs no org never loads slack_sdk for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from bot.orgsync import DirectoryError, DirectorySource
from bot.ports import Telemetry

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.directory.graph import GraphDirectory
    from handlers.directory.slack import SlackDirectory

__all__ = ["GraphDirectory", "SlackDirectory", "directory_from_settings"]


def __getattr__(name: str) -> Any:
    if name == "GraphDirectory":
        from handlers.directory.graph import GraphDirectory

        return GraphDirectory
    if name == "SlackDirectory":
        from handlers.directory.slack import SlackDirectory

        return SlackDirectory
    raise AttributeError(name)


def directory_from_settings(
    settings: Settings,
    source: Literal["slack", "graph"],
    *,
    telemetry: Telemetry,
    sleep: Callable[[float], None] = time.sleep,
) -> DirectorySource:
    """The adapter for ``source`` built from the settings, counting its API calls to ``telemetry``
    (the runtime's: ``serve``'s ``/metrics``); a DirectoryError names a missing setting."""
    from handlers.directory.graph import GraphDirectory
    from handlers.directory.slack import SlackDirectory

    if source == "slack":
        if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
            raise DirectoryError(
                "SLACK_BOT_TOKEN is not set; org sync slack needs a bot token with users:read and users:read.email."
            )
        return SlackDirectory(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            max_wait=settings.directory_max_wait_seconds,
            sleep=sleep,
            telemetry=telemetry,
        )
    missing = [
        name
        for name, value in (
            ("GRAPH_TENANT_ID", settings.graph_tenant_id),
            ("GRAPH_CLIENT_ID", settings.graph_client_id),
            ("GRAPH_CLIENT_SECRET", settings.graph_client_secret.get_secret_value()),
        )
        if not value
    ]
    if missing:
        raise DirectoryError(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; org sync graph needs an app "
            "registration with the User.Read.All application permission."
        )
    return GraphDirectory(
        tenant_id=settings.graph_tenant_id,
        client_id=settings.graph_client_id,
        client_secret=settings.graph_client_secret.get_secret_value(),
        api_url=settings.graph_api_url,
        login_url=settings.graph_login_url,
        max_wait=settings.directory_max_wait_seconds,
        sleep=sleep,
        telemetry=telemetry,
    )
