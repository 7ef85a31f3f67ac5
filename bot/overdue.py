"""Cards turn overdue when the due date passes, not only at the request's next change.

Once an open request's due date has passed, :class:`OverdueCardsJob` queues one update of both
parties' cards (the current provider's and the requester's, same ``card_key``, so Slack and
Teams edit the posted message in place through the outbox) rendered at that moment, so they
say ``⚠️ overdue by N working h``. It is claimed once per request per due date
(``overdue:R-7:<due date, UTC ISO>``) in the same write as the two cards: replicas and a
restarted scheduler send it once, and a due date moved later arms it again.

Why no event, and the same revision: a refresh is not something that happened to the request,
so it stays out of its history. The cards carry ``revision = len(request.events)`` of the
state they were rendered from, and the outbox only refuses a card *older* than the one posted
(``posted.revision > message.revision``); an equal revision re-renders the same state. So the
refresh updates a card showing that state, any later change of the request (a higher revision)
is never overwritten by it, and a refresh computed just before such a change is itself
refused as older. An ``overdue`` event would instead bump the revision of a state nobody
changed, add a line to every history and need a retry loop against concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import cards
from bot.claims import JobReport, claim_and_send
from bot.models import Message, Request
from bot.people import Directory
from bot.ports import Store
from bot.workhours import WorkingHours

__all__ = ["OVERDUE_CARDS_JOB", "OverdueCardsJob", "overdue_cards", "overdue_claim_key"]

OVERDUE_CARDS_JOB = "overdue-cards"
"""The job's name in :func:`bot.jobs.default_registry`."""


def _due_iso(request: Request) -> str:
    assert request.due_at is not None
    return request.due_at.astimezone(UTC).isoformat()


def overdue_claim_key(request: Request) -> str:
    """The claim of one request's overdue refresh for its present due date, e.g.
    ``overdue:R-7:2026-12-04T22:00:00+00:00``."""
    return f"overdue:{request.ref}:{_due_iso(request)}"


def is_past_due(request: Request, now: datetime) -> bool:
    """True for an open request whose due date has passed (what the cards flag as overdue)."""
    return request.status.is_open and request.due_at is not None and now > request.due_at


def overdue_cards(request: Request, directory: Directory, now: datetime, hours: WorkingHours) -> list[Message]:
    """Both parties' cards rendered at ``now`` (with the overdue flag, counted in ``hours`` as
    ``list``, ``queue`` and the App Home count it), as updates of the posted cards: same
    ``card_key`` and ``revision``, their own message keys."""
    suffix = f":overdue:{_due_iso(request)}"
    rendered = [
        cards.provider_card(request, directory, as_of=cards.AsOf(now, hours)),
        cards.requester_card(request, directory, as_of=cards.AsOf(now, hours)),
    ]
    return [card.model_copy(update={"key": card.key + suffix}) for card in rendered]


@dataclass(kw_only=True)
class OverdueCardsJob:
    """Refresh both parties' cards once when an open request's due date passes (see the module)."""

    hours: WorkingHours
    name: str = OVERDUE_CARDS_JOB
    # Claims are permanent, so remembering the keys seen claimed only saves a store round trip
    # per overdue request per run; a new process starts without it and asks the store.
    _known_claimed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Queue the card refresh of every open request whose due date passed and has none yet."""
        report = JobReport(self.name)
        directory: Directory | None = None
        for request in store.find_requests(workspace, open_only=True):
            if not is_past_due(request, now):
                continue
            key = overdue_claim_key(request)
            if (workspace, key) in self._known_claimed:
                continue
            directory = directory or Directory(store, workspace)
            messages = overdue_cards(request, directory, now, self.hours)
            self._known_claimed.add((workspace, key))
            if claim_and_send(store, workspace, key, messages, now):
                report.sent += messages
                report.claimed[key] = request.provider_id
            else:
                report.already.append(key)
        return report
