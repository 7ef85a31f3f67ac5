"""Persistence: one repository contract (``bot.ports.Store``) and its backends."""

from __future__ import annotations

from bot.ports import Store


def open_store(url: str) -> Store:
    """Open the backend named by ``url``: ``postgresql://...`` or a TinyDB file path."""
    if url.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresStore

        return PostgresStore(url)
    from storage.tinydb_store import TinyDBStore

    path = url.removeprefix("tinydb://").removeprefix("file://")
    return TinyDBStore(path)


__all__ = ["Store", "open_store"]
