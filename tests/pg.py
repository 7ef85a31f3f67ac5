"""Where the PostgreSQL tests find their server, and what happens when there is none.

By default each test session gets its own database on ``postgres@127.0.0.1:5432``
(``servechain_test_<pid>``, dropped when the session ends), so parallel runs never empty
each other's tables; ``SERVECHAIN_TEST_POSTGRES_URL`` names a database to use instead. Without a server the tests skip
with one summary line, except when ``SERVECHAIN_REQUIRE_POSTGRES=1`` (CI): then they fail.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from storage.postgres import PostgresStore

URL_ENV = "SERVECHAIN_TEST_POSTGRES_URL"
REQUIRE_ENV = "SERVECHAIN_REQUIRE_POSTGRES"
DEFAULT_URL = f"postgresql://postgres@127.0.0.1:5432/servechain_test_{os.getpid()}"

skipped_reason: list[str] = []
created: list[str] = []


@functools.cache
def _probe(url: str) -> str | None:
    """None when the database is reachable (creating it if needed), else why not."""
    import psycopg
    from psycopg import conninfo, sql

    try:
        info = conninfo.conninfo_to_dict(url)
        dbname = str(info.get("dbname") or "servechain_test")
        admin = conninfo.make_conninfo(url, dbname="postgres", connect_timeout="3")
        with psycopg.connect(admin, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                if url == DEFAULT_URL:
                    created.append(admin)
        return None
    except Exception as error:  # any failure means "no usable server"; the reason is shown
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


def postgres_url() -> str:
    """The URL of a usable test database, or skip/fail the calling test."""
    url = os.environ.get(URL_ENV) or DEFAULT_URL
    problem = _probe(url)
    if problem is None:
        return url
    message = f"PostgreSQL is not reachable at {url.split('@')[-1]} ({problem})"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}, and {REQUIRE_ENV}=1 requires it")
    if not skipped_reason:
        skipped_reason.append(f"{message}; set {URL_ENV} to run them")
    pytest.skip(message)


def drop_created() -> None:
    """Drop the per-session database, if this session created one."""
    import psycopg
    from psycopg import conninfo, sql

    for admin in created:
        dbname = str(conninfo.conninfo_to_dict(DEFAULT_URL)["dbname"])
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        except psycopg.Error:
            pass  # best effort: a leftover test database is harmless
    created.clear()


@contextlib.contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """A new, empty database ``<name>_<pid>`` on the test server (dropped afterwards); yields its URL."""
    import psycopg
    from psycopg import conninfo, sql

    base = postgres_url()
    dbname = f"{name}_{os.getpid()}"
    admin = conninfo.make_conninfo(base, dbname="postgres", connect_timeout="3")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        yield base.rsplit("/", 1)[0] + f"/{dbname}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@contextlib.contextmanager
def emptied_store(**options: Any) -> Iterator[PostgresStore]:
    """A :class:`storage.postgres.PostgresStore` on the test database with every table emptied
    (``options`` go to its constructor), closed afterwards."""
    from storage.postgres import PostgresStore

    store = PostgresStore(postgres_url(), **options)
    try:
        store.reset()
        yield store
    finally:
        store.close()
