"""Slack's directory: ``users.list`` with cursor pagination, through slack_sdk's WebClient.

Needs a bot token with ``users:read`` (and ``users:read.email`` for email addresses).
Slack knows no manager, team or country: those come from the org file. Each ``users.list``
call is counted to a :class:`bot.ports.Telemetry` (``serve``'s ``/metrics`` when the scheduler
syncs) by outcome, as the Slack front end counts its calls; a connection fault that slack_sdk
retries by itself counts once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.orgsync import DirectoryError, DirectoryUser
from bot.ports import NO_TELEMETRY, Telemetry
from handlers.directory.retry import DEFAULT_MAX_WAIT, count_call, retry_after, wait_or_give_up

PAGE_SIZE = 200
"""Slack recommends no more than 200 users a page."""
MAX_PAGES = 10_000

_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})


class SlackDirectory:
    """Reads every user of the workspace the bot token belongs to."""

    kind: Literal["slack"] = "slack"
    label = "Slack"

    def __init__(
        self,
        *,
        token: str,
        base_url: str = "https://slack.com/api/",
        page_size: int = PAGE_SIZE,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        timeout: int = 30,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout)
        self._telemetry = telemetry
        self._base_url = base_url
        self.page_size = page_size
        self.max_wait = max_wait
        self._sleep = sleep

    def fetch_users(self) -> list[DirectoryUser]:
        """Every member, page by page; any page that fails fails the whole read."""
        users: list[DirectoryUser] = []
        cursor: str | None = None
        for page in range(1, MAX_PAGES + 1):
            data = self._page(cursor, page)
            users.extend(_user(member) for member in data.get("members") or [])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return users
        raise DirectoryError(f"Slack users.list returned more than {MAX_PAGES} pages; nothing was changed.")

    def _page(self, cursor: str | None, page: int) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = self._client.users_list(cursor=cursor, limit=self.page_size)
                self._count("ok")
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as error:
                status = error.response.status_code
                code = str(error.response.get("error") or f"HTTP {status}")
                limited = status == 429 or code == "ratelimited"
                self._count("rate_limited" if limited else "failed")
                if limited:
                    attempt += 1
                    wait = retry_after(error.response.headers)
                    what = f"users.list (page {page})"
                    wait_or_give_up(
                        label="Slack",
                        what=what,
                        seconds=wait,
                        attempt=attempt,
                        max_wait=self.max_wait,
                        sleep=self._sleep,
                    )
                    continue
                raise DirectoryError(_explain(code, error.response.get("needed"), page)) from None
            except (URLError, OSError) as error:
                self._count("failed")
                reason = getattr(error, "reason", error)
                raise DirectoryError(
                    f"couldn't reach Slack at {self._base_url} on page {page} of users.list ({reason}). "
                    "Nothing was changed."
                ) from None

    def _count(self, outcome: str) -> None:
        count_call(self._telemetry, platform="slack", method="users.list", outcome=outcome)


def _explain(code: str, needed: object, page: int) -> str:
    if code in _TOKEN_ERRORS:
        return f"Slack refused the bot token ({code}): check SLACK_BOT_TOKEN. Nothing was changed."
    if code == "missing_scope":
        scope = needed or "users:read"
        return (
            f"the Slack bot token lacks the scope {scope}; add users:read and users:read.email and reinstall "
            "the app. Nothing was changed."
        )
    return f"Slack users.list failed on page {page} ({code}). Nothing was changed; try again later."


def _user(member: dict[str, Any]) -> DirectoryUser:
    profile = member.get("profile") or {}
    name = (
        member.get("real_name")
        or profile.get("real_name")
        or profile.get("display_name")
        or member.get("name")
        or member.get("id", "?")
    )
    return DirectoryUser(
        key=str(member.get("id")),
        name=str(name).strip(),
        email=(profile.get("email") or None),
        handle=member.get("name") or None,
        tz=member.get("tz") or None,
        active=not member.get("deleted", False),
        is_bot=bool(member.get("is_bot") or member.get("is_app_user")),
        slack_team=member.get("team_id") or None,
    )
