"""The embedded store's outbox lease looks at lane heads only (per-lane indexes kept where the
pending list is kept); it must take exactly what the earlier full scan of every pending item took.

Random pending sets (a few lanes, leased or not, due or waiting, people's or bulk) go through
random leases, completions, a second handle on the same file (another process's lines) and
reopens (journal replay); each lease is compared with :func:`_full_scan`, the old algorithm."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import BULK_KINDS, OutboxItem
from storage.tinydb_store import TinyDBStore
from tests.contract.factories import at, message, outbox_item


def _full_scan(pending: list[OutboxItem], *, now: datetime, token: str, limit: int) -> list[str]:
    """Keys the old ``lease_outbox`` took: ``pending`` in store order (``seq``), every item visited."""
    order = sorted(range(len(pending)), key=lambda n: (pending[n].next_attempt_at, n))
    held = [pending[n].key for n in order if pending[n].lease == token]
    if held:
        return held
    heads: dict[str, tuple[datetime, int]] = {}
    busy: set[str] = set()
    for n in order:
        item = pending[n]
        if item.next_attempt_at > now:
            if item.lease:
                busy.add(item.lane)
        elif item.lane not in heads or (item.created_at, n) < heads[item.lane]:
            heads[item.lane] = (item.created_at, n)
    free = sorted(
        (pending[n].priority, pending[n].next_attempt_at, n) for lane, (_, n) in heads.items() if lane not in busy
    )
    return [pending[n].key for *_, n in free[:limit]]


items = st.lists(
    st.tuples(
        st.sampled_from(["P-a", "P-b", "P-c", "P-d"]),
        st.integers(0, 20),  # created
        st.integers(0, 40),  # due (a lease's end when leased)
        st.sampled_from(["provider_card", "text", *sorted(BULK_KINDS)]),
        st.sampled_from([None, None, "t-old", "t-other"]),
    ),
    max_size=14,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("lease"), st.integers(0, 45), st.sampled_from(["t-old", "t-new", "t-x"]), st.integers(1, 5)),
        st.tuples(st.just("finish"), st.integers(0, 20)),
        st.tuples(st.just("other"), st.integers(0, 45)),
        st.tuples(st.just("reopen")),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=items, actions=steps)
def test_the_lease_takes_what_a_full_scan_of_the_pending_items_took(
    tmp_path_factory: object, generated: list[tuple[str, int, int, str, str | None]], actions: list[tuple]
) -> None:
    path = Path(tmp_path_factory.mktemp("lease")) / "store.json"  # type: ignore[attr-defined]
    enqueued = [
        outbox_item(
            f"k{n}",
            created_at=at(created),
            next_attempt_at=at(due),
            message=message(f"k{n}", recipient=recipient, kind=kind),
            lease=lease,
        )
        for n, (recipient, created, due, kind, lease) in enumerate(generated)
    ]
    order = {item.key: n for n, item in enumerate(enqueued)}
    store, other = TinyDBStore(path), TinyDBStore(path)
    try:
        store.enqueue(enqueued)

        def pending() -> list[OutboxItem]:
            found = store.list_outbox("default", state="pending")
            return sorted(found, key=lambda item: order[item.key])

        for action in actions:
            if action[0] == "lease":
                _, now, token, limit = action
                expected = _full_scan(pending(), now=at(now), token=token, limit=limit)
                taken = store.lease_outbox(now=at(now), until=at(now + 30), token=token, limit=limit)
                assert [item.key for item in taken] == expected
            elif action[0] == "other":  # another handle (process) leases; its lines are replayed here
                now = action[1]
                expected = _full_scan(pending(), now=at(now), token="t-y", limit=3)
                assert [i.key for i in other.lease_outbox(now=at(now), until=at(now + 30), token="t-y", limit=3)] == (
                    expected
                )
            elif action[0] == "finish":
                left = pending()
                if left:
                    done = left[action[1] % len(left)]
                    other.save_outbox_item(done.model_copy(update={"state": "sent", "lease": None}))
            else:
                store.close()
                store = TinyDBStore(path)
        final = pending()
        for now in (0, 20, 45):
            assert [i.key for i in store.lease_outbox(now=at(now), until=at(99), token=f"end-{now}", limit=50)] == (
                _full_scan(final, now=at(now), token=f"end-{now}", limit=50)
            )
            final = pending()
    finally:
        store.close()
        other.close()
