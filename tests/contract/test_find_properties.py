"""Property test: ``find_requests`` (indexed in the embedded store) agrees with filtering
``iter_requests`` by hand, whatever sequence of creates and updates came before."""

from __future__ import annotations

import uuid
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import Request, Status
from bot.ports import Store
from tests.contract.factories import at, request

PEOPLE = ["P-a", "P-b", "P-c"]

create = st.tuples(
    st.just("create"),
    st.sampled_from(PEOPLE),
    st.sampled_from(PEOPLE),
    st.integers(min_value=0, max_value=5),
    st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
)
update = st.tuples(
    st.just("update"),
    st.integers(min_value=1, max_value=12),
    st.sampled_from(list(Status)),
    st.one_of(st.none(), st.sampled_from(PEOPLE)),
)
filters = st.fixed_dictionaries(
    {},
    optional={
        "provider_id": st.sampled_from(PEOPLE),
        "requester_id": st.sampled_from(PEOPLE),
        "open_only": st.booleans(),
        "parent": st.integers(min_value=1, max_value=4),
        "created_since": st.integers(min_value=0, max_value=5).map(lambda h: at(h * 60)),
        "created_until": st.integers(min_value=0, max_value=5).map(lambda h: at(h * 60)),
        "limit": st.integers(min_value=1, max_value=5),
    },
)


def _brute_force(requests: list[Request], query: dict[str, object]) -> list[int]:
    found = []
    for r in sorted(requests, key=lambda r: r.number, reverse=True):
        if "provider_id" in query and r.provider_id != query["provider_id"]:
            continue
        if "requester_id" in query and r.requester_id != query["requester_id"]:
            continue
        if query.get("open_only") and not r.status.is_open:
            continue
        if "parent" in query and r.parent != query["parent"]:
            continue
        since, until = query.get("created_since"), query.get("created_until")
        if isinstance(since, datetime) and r.created_at < since:
            continue
        if isinstance(until, datetime) and r.created_at >= until:
            continue
        found.append(r.number)
    limit = query.get("limit")
    return found[: limit if isinstance(limit, int) else None]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(create, update), max_size=15), queries=st.lists(filters, min_size=1, max_size=6))
def test_find_requests_agrees_with_filtering_every_request(
    store: Store, steps: list[tuple[object, ...]], queries: list[dict[str, object]]
) -> None:
    workspace = f"prop-{uuid.uuid4().hex[:12]}"  # a fresh, empty namespace in the shared store
    for step in steps:
        if step[0] == "create":
            _, requester, provider, hour, parent = step
            store.create_request(
                request(
                    str(requester),
                    str(provider),
                    workspace=workspace,
                    created_at=at(int(hour) * 60),  # type: ignore[call-overload]
                    parent=parent,
                )
            )
        else:
            _, number, status, provider = step
            current = store.get_request(workspace, int(number))  # type: ignore[call-overload]
            if current is not None:
                change = {"status": status, **({"provider_id": provider} if provider else {})}
                store.update_request(current.model_copy(update=change))

    everything = list(store.iter_requests(workspace))
    assert [r.number for r in everything] == list(range(1, len(everything) + 1))
    for query in queries:
        found = store.find_requests(workspace, **query)  # type: ignore[arg-type]
        assert [r.number for r in found] == _brute_force(everything, query), query
