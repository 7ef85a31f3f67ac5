"""A TinyDB store with the optional :class:`bot.privacy.Rewritable` methods, written the way the
real backend would implement them (one journal transaction per call), so the privacy tests can
show what ``forget`` erases once a store offers them."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from storage import _journal as files
from storage.tinydb_store import TinyDBStore


class RewritableTinyDBStore(TinyDBStore):
    """TinyDBStore plus ``replace_records`` / ``delete_records``."""

    def replace_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert or replace (by key) these records in one atomic write."""
        ops: list[Any] = [["put", kind, copy.deepcopy(doc)] for doc in docs]
        return self._write(lambda _state: (ops, len(ops)))

    def delete_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Delete the records with these keys in one atomic write."""

        def plan(state: Any) -> tuple[list[Any], int]:
            keys = {files.key_of(kind, doc) for doc in docs}
            present = [key for key in keys if key in state.tables[kind]]
            return [["del", kind, list(key)] for key in present], len(present)

        return self._write(plan)


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
