"""Service recovery after a poor rating, read from the request's event log (pure; no storage,
no clock): it runs in rounds until the requester is satisfied or a manager closes it.

- A rating at or below :data:`POOR_RATING` opens a recovery; the provider proposes a plan
  ("Here's what we'll do"), the requester answers "Yes, thanks" or "Not yet".
- "Not yet" ends the round: the provider proposes another plan (the next round).
- After :data:`MANAGER_AFTER_ROUNDS` unsuccessful rounds the provider's manager is brought in
  with the whole thread and may close the recovery (``RECOVERY_CLOSED``); the provider may
  still propose plans until then.
- A reopen, or the requester asking someone else after a decline, starts a new closure: the
  old recovery is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.models import Event, EventKind, Person, Rating, Request
from bot.people import Directory
from bot.ports import Store

__all__ = [
    "MANAGER_AFTER_ROUNDS",
    "POOR_RATING",
    "Recovery",
    "RecoveryState",
    "recoveries_waiting_on",
    "recovery",
    "recovery_line",
]

POOR_RATING = 2
"""A rating at or below this starts service recovery."""
MANAGER_AFTER_ROUNDS = 2
"""Unsuccessful rounds after which the provider's manager is brought in (and may close it)."""

RecoveryState = Literal["awaiting_plan", "awaiting_answer", "satisfied", "closed"]

_ENDS_CLOSURE = frozenset({EventKind.REOPENED, EventKind.HANDED_OFF})


@dataclass(frozen=True)
class Recovery:
    """The recovery of a request's current closure: its rating and where the rounds stand."""

    rating_index: int
    """Where the poor rating is in the log."""
    rating: Rating
    state: RecoveryState
    plans: int
    """Plans the provider proposed so far (the current round is ``plans`` while one is
    awaiting the requester's answer, else ``plans + 1``)."""
    failed: int
    """Rounds the requester answered "not yet"."""
    last: Event
    """The newest recovery event (the rating, a plan, an answer or the closing)."""
    last_index: int

    @property
    def is_open(self) -> bool:
        """Still running: waiting for a plan or for the requester's answer."""
        return self.state in ("awaiting_plan", "awaiting_answer")

    @property
    def round(self) -> int:
        """The round under way (1 for the first plan and its answer)."""
        return self.plans if self.state == "awaiting_answer" else self.plans + 1

    @property
    def with_managers(self) -> bool:
        """The provider's manager has been brought in (enough unsuccessful rounds)."""
        return self.failed >= MANAGER_AFTER_ROUNDS


def recovery(request: Request) -> Recovery | None:
    """The recovery of the request's current closure, or None when its latest rating isn't poor."""
    start: int | None = None
    for index in range(len(request.events) - 1, -1, -1):
        event = request.events[index]
        if event.kind in _ENDS_CLOSURE:
            return None
        if event.kind == EventKind.RATED:
            start = index
            break
    if start is None:
        return None
    rated = request.events[start]
    if rated.rating is None or rated.rating.score > POOR_RATING:
        return None
    state: RecoveryState = "awaiting_plan"
    plans = failed = 0
    last, last_index = rated, start
    for index in range(start + 1, len(request.events)):
        event = request.events[index]
        if state in ("satisfied", "closed"):
            break
        if event.kind == EventKind.RECOVERY_PLANNED:
            state, plans = "awaiting_answer", plans + 1
        elif event.kind == EventKind.FOLLOWED_UP:
            if event.satisfied:
                state = "satisfied"
            else:
                state, failed = "awaiting_plan", failed + 1
        elif event.kind == EventKind.RECOVERY_CLOSED:
            state = "closed"
        else:
            continue
        last, last_index = event, index
    return Recovery(
        rating_index=start,
        rating=rated.rating,
        state=state,
        plans=plans,
        failed=failed,
        last=last,
        last_index=last_index,
    )


RECOVERY_SCAN = 200
"""How many of a provider's latest requests are looked through for open recoveries."""


def recoveries_waiting_on(store: Store, provider: Person) -> list[Request]:
    """Closed requests of ``provider`` whose service recovery waits for their (next) plan."""
    found = []
    for request in store.find_requests(provider.workspace, provider_id=provider.id, limit=RECOVERY_SCAN):
        waiting = recovery(request)
        if waiting is not None and waiting.state == "awaiting_plan":
            found.append(request)
    return found


def recovery_line(request: Request, directory: Directory) -> str:
    """One line of a provider's queue (or App Home) for a recovery waiting on their plan."""
    found = recovery(request)
    assert found is not None
    who = directory.handle(request.requester_id)
    if found.failed:
        return (
            f"{request.ref} ← {who} is still not satisfied (round {found.round}) · "
            'propose another plan with "Propose another plan" on its recovery card'
        )
    answer = "answer it with \"Here's what we'll do\" on its rating card"
    return f"{request.ref} ← {who} rated it {found.rating.score}/5 · {answer}"
