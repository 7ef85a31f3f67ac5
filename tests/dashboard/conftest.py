"""The dashboard on the seeded org (:mod:`tests.dashboard.seed`), served by aiohttp's test server
on 127.0.0.1, with a cookie-session stand-in for sign-in (:class:`CookieAuth`)."""

from __future__ import annotations

import asyncio
import hmac
import shutil
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.models import Person
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS
from handlers.dashboard import local_app
from handlers.dashboard.viewer import same_origin
from tests.dashboard.seed import NOW, seed

T = TypeVar("T")
SESSION_COOKIE = "test_session"


class CookieAuth:
    """A stand-in for the OpenID Connect sign-in with the same shape (``Authenticator``): the
    cookie ``test_session=<handle>:<mac>`` names who signed in; a wrong mac or an unknown handle
    is a forged session (no viewer). Each person's CSRF token is derived from their handle."""

    SECRET = b"dashboard-tests"
    sign_out_path = ""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def cookie(cls, handle: str) -> str:
        return f"{handle}:{hmac.new(cls.SECRET, handle.encode(), 'sha256').hexdigest()[:16]}"

    @classmethod
    def token(cls, handle: str) -> str:
        return hmac.new(cls.SECRET, f"csrf:{handle}".encode(), "sha256").hexdigest()

    def routes(self) -> list[web.RouteDef]:
        async def sign_in(request: web.Request) -> web.Response:
            return web.Response(text="sign in here", content_type="text/html")

        return [web.get("/dashboard/sign-in", sign_in)]

    def _handle(self, request: web.Request) -> str | None:
        value = request.cookies.get(SESSION_COOKIE, "")
        handle, _, _mac = value.partition(":")
        if not handle or not hmac.compare_digest(value, self.cookie(handle)):
            return None
        return handle

    async def viewer(self, request: web.Request) -> Person | None:
        handle = self._handle(request)
        return self.store.find_person("default", handle=handle) if handle else None

    def csrf_token(self, request: web.Request) -> str:
        handle = self._handle(request)
        return self.token(handle) if handle else ""

    def csrf_ok(self, request: web.Request, submitted: str | None) -> bool:
        handle = self._handle(request)
        if not handle or not submitted:
            return False
        return hmac.compare_digest(submitted, self.token(handle)) and same_origin(request)

    def sign_in_url(self, request: web.Request) -> str:
        return f"/dashboard/sign-in?next={request.path}"


@pytest.fixture(scope="session")
def seeded_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the seeded org's embedded store, closed (seeded once per session)."""
    from storage.tinydb_store import TinyDBStore

    folder = Path(tmp_path_factory.mktemp("dash-seed"))
    store = TinyDBStore(folder / "servechain.json")
    try:
        seed(store)
    finally:
        store.close()
    return folder


def _open_copy(seeded_files: Path, target: Path) -> Store:
    from storage.tinydb_store import TinyDBStore

    shutil.copytree(seeded_files, target)
    return TinyDBStore(target / "servechain.json")


@pytest.fixture(scope="module")
def seeded(seeded_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The seeded org, shared by a module's read-only tests."""
    store = _open_copy(seeded_files, tmp_path_factory.mktemp("dash") / "store")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def fresh(seeded_files: Path, tmp_path: Path) -> Iterator[Store]:
    """A copy of the seeded org of its own, for a test that changes something."""
    store = _open_copy(seeded_files, tmp_path / "store")
    try:
        yield store
    finally:
        store.close()


def dashboard_app(store: Store, auth: Any = None) -> web.Application:
    return local_app(
        store=store, workspace="default", auth=auth or CookieAuth(store), clock=lambda: NOW, hours=DEFAULT_HOURS
    )


def with_client(app: web.Application, body: Callable[[TestClient], Awaitable[T]]) -> T:
    """Run ``body`` against ``app`` served on 127.0.0.1 (an ephemeral port)."""

    async def scenario() -> T:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await body(client)

    return asyncio.run(scenario())
