"""Read-only looks at a store for ``servechain doctor``: the PostgreSQL schema version against the
migrations this release ships, and the people a store holds (for the time-zone check).

Nothing here writes: unlike opening a :class:`storage.postgres.PostgresStore`, which upgrades the
schema, the doctor only reports that it is behind."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

from bot.dburl import FILE_PREFIXES, is_postgres, scrub
from bot.errors import StorageError
from bot.models import Person
from bot.ports import Store
from storage.postgres import CONNECT_TIMEOUT, migrations


@dataclass(frozen=True)
class SchemaStatus:
    """The schema version a PostgreSQL database is at and the newest this release ships."""

    applied: int
    shipped: int


def postgres_schema(url: str) -> SchemaStatus:
    """Connect (3 s timeout) and read the applied schema version; StorageError (password masked) if it can't."""
    shipped = max((version for version, _name, _sql in migrations()), default=0)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
            applied = 0
            if row and row[0]:
                version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
                applied = int(version[0]) if version else 0
    except psycopg.Error as error:
        reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
        raise StorageError(scrub(reason, url)) from None
    return SchemaStatus(applied=applied, shipped=shipped)


def embedded_path(url: str) -> str:
    """The TinyDB file a non-PostgreSQL ``SERVECHAIN_DB`` names."""
    path = url
    for prefix in FILE_PREFIXES:
        path = path.removeprefix(prefix)
    return path


def embedded_exists(url: str) -> bool:
    """True when the embedded store's file is there (a fresh deployment has none until the first start)."""
    return os.path.isfile(embedded_path(url))


def people(url: str, workspace: str) -> list[Person]:
    """Everyone the store knows in ``workspace``, without upgrading or creating anything.

    Call it only for a PostgreSQL schema that is up to date, or an embedded store that exists."""
    store: Store
    if is_postgres(url):
        from storage.postgres import PostgresStore

        store = PostgresStore(url.strip(), min_size=1, max_size=1, auto_upgrade=False)
    else:
        from storage.tinydb_store import TinyDBStore

        store = TinyDBStore(embedded_path(url))
    try:
        return store.list_people(workspace)
    finally:
        store.close()
