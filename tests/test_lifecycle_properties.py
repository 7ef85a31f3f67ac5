"""Property-based tests of the lifecycle state machine: any sequence of actions by anyone
either applies cleanly or fails with a readable domain error, and the log stays coherent."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import DomainError
from bot.models import ActionId, EventKind, Rating, Request, Status
from bot.people import Directory
from bot.requests import ActionInput, apply_action, status_after
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW, small_org

PEOPLE, TEAMS = small_org()
HANDLES = [p.handle for p in PEOPLE if not p.is_bot]


class MemoryDirectory(Directory):
    """A directory over the in-memory small org (no store needed for pure transitions)."""

    def __init__(self) -> None:
        self.workspace = "default"
        self._people = {p.id: p for p in PEOPLE}  # type: ignore[misc]
        self._teams = {t.id: t for t in TEAMS}  # type: ignore[misc]

    def get(self, person_id: str):  # type: ignore[no-untyped-def]
        return self._people.get(person_id)

    def team(self, team_id: str | None):  # type: ignore[no-untyped-def]
        return self._teams.get(team_id) if team_id else None


step = st.tuples(
    st.sampled_from(list(ActionId)),
    st.sampled_from(HANDLES),
    st.sampled_from([None, "a note", ""]),
    st.sampled_from([None, *HANDLES]),
    st.one_of(st.none(), st.integers(1, 5)),
    st.one_of(st.none(), st.booleans()),
    st.integers(0, 60 * 24 * 20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=25))
def test_any_action_sequence_keeps_the_log_and_status_coherent(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    directory = MemoryDirectory()
    by_handle = {p.handle: p for p in PEOPLE}
    request = Request(
        number=1,
        requester_id="P-alice",
        provider_id="P-bob",
        text="need numbers",
        created_at=NOW,
    )
    from bot.models import Event

    request.events.append(Event(kind=EventKind.CREATED, at=NOW, actor_id="P-alice", to_id="P-bob"))
    clock = NOW
    for action, who, note, to, score, satisfied, minutes in steps:
        clock = clock + timedelta(minutes=minutes)
        inputs = ActionInput(
            note=note,
            to=by_handle[to] if to else None,
            rating=Rating(score=score) if score else None,
            satisfied=satisfied,
        )
        before = request
        try:
            request = apply_action(
                request,
                action,
                actor=by_handle[who],
                directory=directory,
                now=clock,
                inputs=inputs,
                hours=DEFAULT_HOURS,
            )
        except DomainError as error:
            assert error.message and error.message[0].isupper()
            assert request is before
            continue
        assert len(request.events) == len(before.events) + 1
        assert request.events[:-1] == before.events, "the log is append-only"
        assert request.status == status_after(request.events)
        assert request.provider_id != request.requester_id
        ratings = [e for e in request.events if e.kind == EventKind.RATED]
        closures = [e for e in request.events if e.kind in (EventKind.DONE, EventKind.DECLINED)]
        assert len(ratings) <= len(closures), "at most one rating per closure"
        if action == ActionId.ACKNOWLEDGE:
            assert before.status == Status.OPEN and who == directory.handle(before.provider_id)
