"""Slack user -> :class:`bot.models.Person`: a short-lived cache, then the store, then
``users.info`` on first contact (name, email, time zone), linked through ``link_person``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import commands
from bot.dispatch import MentionResolver
from bot.errors import NotFound
from bot.models import Person
from bot.people import link_person
from bot.ports import Store
from handlers.slack.errors import slack_error_code

log = logging.getLogger(__name__)

_UNKNOWN_USER = frozenset({"user_not_found", "user_not_visible", "users_not_found"})


class SlackIdentity:
    """Finds (or, on first contact, creates) the person behind a Slack user id; thread-safe."""

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[tuple[str, str], tuple[float, Person]] = {}
        self._lock = threading.Lock()

    def person(self, client: WebClient, team_id: str, user_id: str) -> Person | None:
        """The person for ``user_id`` in ``team_id``; None when Slack doesn't know the user."""
        key = (team_id, user_id)
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        person = self.store.find_person(self.workspace, slack_id=key)
        if person is None:
            person = self._first_contact(client, team_id, user_id)
        if person is not None:
            with self._lock:
                self._cache[key] = (now + self.ttl, person)
        return person

    def require(self, client: WebClient, team_id: str, user_id: str) -> Person:
        """Like :meth:`person`, for the user who is talking to us (they must exist)."""
        person = self.person(client, team_id, user_id)
        if person is None:
            raise NotFound("Slack couldn't tell me who you are. Please try again in a moment.")
        return person

    def forget(self, team_id: str, user_id: str) -> None:
        """Drop a cached person (e.g. after their record changed)."""
        with self._lock:
            self._cache.pop((team_id, user_id), None)

    def resolver(self, client: WebClient, team_id: str) -> MentionResolver:
        """Resolve ``<@U123|name>`` mentions of a command typed in ``team_id``."""

        def resolve(mention: commands.Mention) -> Person | None:
            if mention.kind != "platform" or not mention.value.startswith(("U", "W")):
                return None
            return self.person(client, team_id, mention.value)

        return resolve

    def _first_contact(self, client: WebClient, team_id: str, user_id: str) -> Person | None:
        try:
            response = client.users_info(user=user_id)
        except SlackApiError as error:
            if slack_error_code(error) in _UNKNOWN_USER:
                return None
            raise
        user: dict[str, Any] = response.get("user") or {}
        profile: dict[str, Any] = user.get("profile") or {}
        name = (
            profile.get("real_name")
            or user.get("real_name")
            or profile.get("display_name")
            or user.get("name")
            or user_id
        )
        person = link_person(
            self.store,
            self.workspace,
            name=str(name),
            email=profile.get("email") or None,
            tz=user.get("tz") or None,
            slack_id=(team_id, user_id),
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        log.info("linked Slack user %s/%s to %s", team_id, user_id, person.id)
        return person
