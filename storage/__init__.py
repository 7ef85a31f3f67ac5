"""Persistence: one repository contract (``bot.ports.Store``) and its backends."""

from __future__ import annotations

from bot.dburl import FILE_PREFIXES, BadDatabaseLocation, check_db, is_postgres, mask_db
from bot.errors import StorageError
from bot.ports import Store


def open_store(url: str, *, pool_size: int | None = None) -> Store:
    """Open the backend named by ``url``: ``postgresql://...`` or a TinyDB file path. On
    PostgreSQL ``pool_size`` caps the main connection pool (default: the store's own).

    Anything else that looks like a connection string is refused with a StorageError that
    never repeats it (it may hold a password), rather than becoming a file of that name."""
    try:
        check_db(url)
    except BadDatabaseLocation as error:
        raise StorageError(str(error)) from None
    if is_postgres(url):
        from storage.postgres import PostgresStore

        return PostgresStore(url.strip()) if pool_size is None else PostgresStore(url.strip(), max_size=pool_size)
    from storage.tinydb_store import TinyDBStore

    path = url
    for prefix in FILE_PREFIXES:
        path = path.removeprefix(prefix)
    return TinyDBStore(path)


__all__ = ["Store", "mask_db", "open_store"]
