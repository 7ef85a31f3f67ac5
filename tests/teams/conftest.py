"""Teams test kit: payload fixtures, the Adaptive Cards schema, and a harness that runs the real
``/api/messages`` (``build_web_app`` on 127.0.0.1, port 0) against a local fake Bot Connector.

Tests are plain functions that ``run(...)`` one async scenario; no pytest-asyncio needed.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import json
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pytest
from aiohttp import ClientSession, web

from bot.delivery import DeliveryReport, deliver_due
from bot.ports import Store
from bot.settings import Settings
from handlers.runtime import Runtime
from handlers.server import RUNTIME_KEY, build_web_app
from tests.conftest import NOW
from tests.fakes.bot_connector import FakeBotConnector

DATA = Path(__file__).resolve().parents[1] / "data"
TEAMS_DATA = DATA / "teams"
CARD_SCHEMA = DATA / "adaptive-card-1.5.schema.json"
BOT_ID = "28:servechain-bot-id"
TENANT = "tenant-0000-servechain"

T = TypeVar("T")

_activity_ids = itertools.count(1)


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run one async scenario to completion."""
    return asyncio.run(scenario)


def load(name: str) -> dict[str, Any]:
    """A raw payload fixture from ``tests/data/teams``."""
    return json.loads((TEAMS_DATA / f"{name}.json").read_text())


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may reach a real Microsoft endpoint: name lookups outside loopback fail."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK:
            raise OSError(f"network access to {name!r} is disabled in the Teams tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@functools.cache
def _card_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(CARD_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="session")
def card_validator() -> jsonschema.protocols.Validator:
    """A validator for the official Adaptive Cards 1.5 schema."""
    return _card_validator()


def assert_valid_cards(validator: jsonschema.protocols.Validator, cards: list[dict[str, Any]]) -> None:
    """Every card validates against the schema (all errors listed on failure)."""
    problems = [
        f"{card.get('fallbackText', '?')}: {error.message} at {list(error.absolute_path)}"
        for card in cards
        for error in validator.iter_errors(card)
    ]
    assert not problems, "\n".join(problems)


def action_types(element: Any) -> set[str]:
    """The type of every action in a card (or list of cards), fallbacks and nested cards included."""
    if isinstance(element, list):
        return {kind for item in element for kind in action_types(item)}
    if not isinstance(element, dict):
        return set()
    kind = element.get("type")
    found = {kind} if isinstance(kind, str) and kind.startswith("Action.") else set()
    return found.union(*(action_types(value) for value in element.values()))


@dataclass(frozen=True)
class TeamsAccount:
    """One Teams user of the tests: ids as Teams would send them, and their 1:1 chat."""

    handle: str
    name: str

    @property
    def user_id(self) -> str:
        return f"29:1{self.handle}-teams-user-id"

    @property
    def aad(self) -> str:
        return f"aad-0000-{self.handle}"

    @property
    def email(self) -> str:
        return f"{self.handle}@example.com"

    @property
    def chat(self) -> str:
        return f"a:1personal-chat-{self.handle}"


ALICE = TeamsAccount("alice", "Alice Anders")
BOB = TeamsAccount("bob", "Bob Brown")
CAROL = TeamsAccount("carol", "Carol Chen")
DAVE = TeamsAccount("dave", "Dave Doyle")
EVERYONE = (ALICE, BOB, CAROL, DAVE)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def teams_settings(**overrides: Any) -> Settings:
    """Settings for Teams alone (no Slack), without auth unless an app id is given."""
    values: dict[str, Any] = {
        "servechain_teams": True,
        "microsoft_app_id": "",
        "slack_bot_token": None,
        "slack_signing_secret": None,
    }
    values.update(overrides)
    return Settings(**values)


def as_user(payload: dict[str, Any], account: TeamsAccount, *, personal: bool = True) -> dict[str, Any]:
    """The payload sent by ``account`` (in their 1:1 chat unless ``personal`` is False)."""
    activity = copy.deepcopy(payload)
    activity["from"] = {"id": account.user_id, "name": account.name, "aadObjectId": account.aad}
    if personal:
        activity["conversation"] = {"conversationType": "personal", "tenantId": TENANT, "id": account.chat}
    return activity


class TeamsHarness:
    """The servechain web app and a fake Bot Connector, both on 127.0.0.1 ephemeral ports."""

    def __init__(
        self, store: Store, *, settings: Settings | None = None, clock: Clock | None = None, deliver: bool = False
    ) -> None:
        self.store = store
        self.deliver_in_background = deliver
        self.settings = settings or teams_settings()
        self.clock = clock or Clock()
        self.connector = FakeBotConnector()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.runtime: Runtime | None = None
        self.kicks = 0
        self.returned_cards: list[dict[str, Any]] = []

    async def __aenter__(self) -> TeamsHarness:
        await self.connector.start()
        for account in EVERYONE:
            self.connector.add_member(
                account.user_id, name=account.name, aad_object_id=account.aad, email=account.email, tenant_id=TENANT
            )
        app = build_web_app(self.settings, self.store, clock=self.clock, deliver=self.deliver_in_background)
        self.runtime = app[RUNTIME_KEY]
        if not self.deliver_in_background:
            self.runtime.kick = self._count_kick  # type: ignore[method-assign]
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/api/messages"
        self._session = ClientSession()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:  # every card the bot emitted in this test, sent or returned, is valid
            assert_valid_cards(_card_validator(), self.connector.all_cards() + self.returned_cards)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.connector.close()

    def _count_kick(self) -> None:
        self.kicks += 1

    # --- sending activities ---------------------------------------------------------------
    def prepare(self, payload: dict[str, Any], *, keep_id: bool = False) -> dict[str, Any]:
        """Point the payload at the fake connector and (unless ``keep_id``) give it a fresh id."""
        activity = copy.deepcopy(payload)
        activity["serviceUrl"] = self.connector.url
        if not keep_id:
            activity["id"] = f"{activity.get('id', 'activity')}-{next(_activity_ids)}"
        return activity

    async def post(
        self, payload: dict[str, Any], *, headers: dict[str, str] | None = None, keep_id: bool = False
    ) -> tuple[int, Any]:
        """POST one activity to /api/messages; returns the status and the JSON body (if any)."""
        assert self._session is not None
        activity = self.prepare(payload, keep_id=keep_id)
        async with self._session.post(self.url, json=activity, headers=headers or {}) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body

    async def say(self, account: TeamsAccount, text: str) -> int:
        """``account`` writes ``text`` in their 1:1 chat with the bot."""
        payload = as_user(load("message_personal"), account)
        payload["text"] = text
        status, _ = await self.post(payload)
        return status

    async def execute(self, account: TeamsAccount, data: dict[str, Any], *, card_id: str = "card-1") -> Any:
        """``account`` clicks an ``Action.Execute`` button whose data (inputs merged) is ``data``."""
        payload = as_user(load("invoke_adaptive_card_action"), account)
        payload["replyToId"] = card_id
        payload["value"]["action"]["verb"] = data["action"]
        payload["value"]["action"]["data"] = data
        status, body = await self.post(payload)
        assert status == 200, body
        if body.get("type") == "application/vnd.microsoft.card.adaptive":
            self.returned_cards.append(body["value"])
        return body

    async def submit(self, account: TeamsAccount, data: dict[str, Any], *, card_id: str = "card-1") -> int:
        """``account`` clicks an ``Action.Submit`` button (a message with ``value``)."""
        payload = as_user(load("message_card_submit"), account)
        payload["replyToId"] = card_id
        payload["value"] = data
        status, _ = await self.post(payload)
        return status

    async def install(self, account: TeamsAccount) -> int:
        """``account`` installs the app for themselves."""
        status, _ = await self.post(as_user(load("installation_update_add"), account))
        return status

    async def deliver(self) -> DeliveryReport:
        """One outbox pass through the app's notifiers (in a thread, as the worker would)."""
        assert self.runtime is not None
        runtime = self.runtime
        return await asyncio.to_thread(deliver_due, store=self.store, notifiers=runtime.notifiers, now=self.clock())

    # --- what the bot sent ----------------------------------------------------------------
    def replies_to(self, account: TeamsAccount) -> list[str]:
        """Texts the bot replied in ``account``'s 1:1 chat."""
        return [c.text or "" for c in self.connector.of("reply", conversation_id=account.chat)]

    def sent_to(self, account: TeamsAccount) -> list[Any]:
        """Proactive sends to ``account``'s 1:1 chat (or a chat opened for them)."""
        chats = {account.chat, f"a:personal-{account.aad}"}
        return [c for c in self.connector.of("send") if c.conversation_id in chats]


async def with_harness(store: Store, body: Callable[[TeamsHarness], Awaitable[None]]) -> None:
    """Run ``body`` against a fresh harness on ``store``."""
    async with TeamsHarness(store) as harness:
        await body(harness)
