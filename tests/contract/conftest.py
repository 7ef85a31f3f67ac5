"""The ``store`` fixture, parameterized over every backend of :class:`bot.ports.Store`.

``tinydb`` always runs (a real file in ``tmp_path``). ``postgres`` runs against the test
database named in ``tests/pg.py`` (``reset()`` empties it before each test); without a
server it skips, or fails when ``SERVECHAIN_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.ports import Store
from tests.pg import postgres_url

StoreOpener = Callable[[], Store]


def _opener(backend: str, tmp_path: Path) -> StoreOpener:
    """A function opening one more handle on the same store of ``backend``."""
    if backend == "tinydb":
        from storage.tinydb_store import TinyDBStore

        path = tmp_path / "contract.json"
        return lambda: TinyDBStore(path)
    from storage.postgres import PostgresStore

    url = postgres_url()
    return lambda: PostgresStore(url)


@pytest.fixture(params=["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test."""
    return str(request.param)


@pytest.fixture
def open_store(backend: str, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens further handles on the test's store (e.g. to act as a second process); all are
    closed after the test."""
    opener = _opener(backend, tmp_path)
    opened: list[Store] = []

    def open_one() -> Store:
        store = opener()
        opened.append(store)
        return store

    yield open_one
    for store in reversed(opened):
        store.close()


@pytest.fixture
def store(open_store: StoreOpener) -> Store:
    """A fresh, empty store of the backend under test."""
    store = open_store()
    reset = getattr(store, "reset", None)
    if callable(reset):
        reset()
    return store
