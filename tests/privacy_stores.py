"""A store seen through a narrower contract, so the privacy tests also cover stores without
``replace_records`` / ``delete_records`` (``forget`` then lists what it had to leave)."""

from __future__ import annotations

from typing import Any


class ContractOnly:
    """A store seen through the storage contract alone: optional extensions are hidden, so the
    privacy tests keep covering stores without them once the real backends grow them."""

    _HIDDEN = frozenset({"replace_records", "delete_records"})

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in self._HIDDEN:
            raise AttributeError(name)
        return getattr(self._store, name)
