"""Copy one store into another (``servechain db migrate``) and verify counts per kind.

Records travel in the neutral shapes every backend exports; importing skips records the
target already has, so re-running a migration is harmless.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.ports import Store
from storage._journal import KINDS as RECORD_KINDS

KINDS = RECORD_KINDS
"""Record kinds, in the order they are copied: the embedded store's tables are the neutral format."""

BATCH = 2_000


@dataclass
class MigrationReport:
    """What a migration copied and what each store holds afterwards."""

    copied: Counter[str] = field(default_factory=Counter)
    source: Counter[str] = field(default_factory=Counter)
    target: Counter[str] = field(default_factory=Counter)

    @property
    def verified(self) -> bool:
        """True when the target holds at least every record of the source, kind by kind."""
        return all(self.target[kind] >= count for kind, count in self.source.items())

    def lines(self) -> list[str]:
        """A per-kind table for people."""
        rows = [f"{'kind':<12} {'source':>8} {'target':>8} {'copied':>8}"]
        for kind in KINDS:
            if self.source[kind] or self.target[kind]:
                rows.append(f"{kind:<12} {self.source[kind]:>8} {self.target[kind]:>8} {self.copied[kind]:>8}")
        return rows


def count(store: Store) -> Counter[str]:
    """Records per kind in a store."""
    return Counter(kind for kind, _doc in store.export_records())


def migrate(source: Store, target: Store, *, progress: Callable[[str, int], None] | None = None) -> MigrationReport:
    """Copy every record of ``source`` into ``target`` in batches, then count both sides."""
    report = MigrationReport()
    batches: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}

    def flush(kind: str) -> None:
        if batches[kind]:
            report.copied[kind] += target.import_records(kind, batches[kind])
            batches[kind] = []
            if progress:
                progress(kind, report.copied[kind])

    for kind, doc in source.export_records():
        batches.setdefault(kind, []).append(doc)
        if len(batches[kind]) >= BATCH:
            flush(kind)
    for kind in list(batches):
        flush(kind)
    report.source = count(source)
    report.target = count(target)
    return report
