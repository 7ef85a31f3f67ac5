"""Due dates as promises both sides agree to: proposals, answers and the agreed-date history,
all read from the request's event log (pure; no storage, no clock).

- The request's date (``by friday``) is the requester's ask. The provider accepts it by
  acknowledging, or proposes another date; the requester accepts it or proposes back.
- Either side may ask to move an agreed date, with a reason; the other side accepts or declines.
- At most one proposal is open at a time. Only the other side answers it; a newer proposal
  (a counter-proposal) replaces it, and a hand-off, reassignment or closing withdraws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from bot.models import Event, EventKind, Request

__all__ = ["Proposal", "agreed_dates", "due_replayed", "pending_proposal", "promised_due", "renegotiations"]

_WITHDRAWS = frozenset(
    {
        EventKind.DUE_AGREED,
        EventKind.DUE_DECLINED,
        EventKind.DUE_SET,
        EventKind.HANDED_OFF,
        EventKind.REASSIGNED,
        EventKind.DONE,
        EventKind.DECLINED,
        EventKind.CANCELLED,
        EventKind.REOPENED,
    }
)
"""Events after which no proposal is open any more."""
_SETS_DUE = frozenset({EventKind.DUE_SET, EventKind.DUE_AGREED})


@dataclass(frozen=True)
class Proposal:
    """The open proposal: where it is in the log (its id on buttons), who made it, the date."""

    index: int
    event: Event

    @property
    def proposer_id(self) -> str:
        return self.event.actor_id

    @property
    def due_at(self) -> datetime:
        assert self.event.due_at is not None
        return self.event.due_at


def pending_proposal(request: Request) -> Proposal | None:
    """The date proposal waiting for an answer, if any."""
    open_proposal: Proposal | None = None
    for index, event in enumerate(request.events):
        if event.kind == EventKind.DUE_PROPOSED and event.due_at is not None:
            open_proposal = Proposal(index, event)
        elif event.kind in _WITHDRAWS:
            open_proposal = None
    return open_proposal


def due_replayed(request: Request) -> datetime | None:
    """The due date the log leads to: the created date, then every date set or agreed since."""
    due: datetime | None = None
    for event in request.events:
        if event.kind == EventKind.CREATED or (event.kind in _SETS_DUE and event.due_at is not None):
            due = event.due_at
    return due


def agreed_dates(request: Request) -> list[tuple[datetime, datetime]]:
    """(when, date) for every date both sides agreed, oldest first: a requested date once the
    provider acknowledged without proposing another, then every accepted proposal."""
    history: list[tuple[datetime, datetime]] = []
    asked = None
    for event in request.events:
        if event.kind in (EventKind.CREATED, EventKind.DUE_SET):
            asked = event.due_at
        elif event.kind == EventKind.ACKNOWLEDGED and asked is not None and not history:
            history.append((event.at, asked))
        elif event.kind == EventKind.DUE_AGREED and event.due_at is not None:
            history.append((event.at, event.due_at))
    return history


def renegotiations(request: Request) -> int:
    """How many times an agreed date was moved by a later agreement of both sides (docs/metrics.md,
    "Renegotiations"): every agreed date after the first that differs from the one agreed before it.
    The one count ``/request stats``, the team map and the digest show (through ``bot.metrics``)."""
    dates = [due for _, due in agreed_dates(request)]
    return sum(1 for before, after in pairwise(dates) if after != before)


def promised_due(request: Request) -> datetime | None:
    """The date a promise is measured against: the last date set or agreed *before the date then
    in force had passed*. Moving a date that has already passed doesn't mend the broken promise."""
    current: datetime | None = None
    seen = False
    for event in request.events:
        if event.kind == EventKind.CREATED:
            current = event.due_at
        elif event.kind in _SETS_DUE and event.due_at is not None:
            seen = True
            if current is not None and event.at > current:
                return current
            current = event.due_at
    if current is None and not seen:
        return request.due_at  # requests stored before dates were events
    return current
