"""Escalations are recorded once, on every backend: two replicas (two store handles, two nudge jobs)
running at the same moment send the manager one escalation and leave one ``escalated`` event."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bot.models import Event, EventKind, Request
from bot.nudges import NudgeJob
from bot.requests import status_after
from bot.workhours import DEFAULT_HOURS
from tests.conftest import small_org
from tests.contract.conftest import StoreOpener

WS = "default"


def test_two_replicas_escalate_once_and_record_it_once(open_store: StoreOpener) -> None:
    first = open_store()
    reset = getattr(first, "reset", None)
    if callable(reset):
        reset()
    first.save_org(*small_org())
    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday; Bob (London) never answers
    log = [Event(kind=EventKind.CREATED, at=created, actor_id="P-alice", to_id="P-bob")]
    first.create_request(
        Request(
            requester_id="P-alice",
            provider_id="P-bob",
            text="q3",
            created_at=created,
            events=log,
            status=status_after(log),
        )
    )
    second = open_store()
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday, in Dave's working hours
    with ThreadPoolExecutor(2) as pool:
        reports = list(
            pool.map(lambda s: NudgeJob(hours=DEFAULT_HOURS).run(store=s, workspace=WS, now=now), (first, second))
        )
    sent_to_dave = [m for report in reports for m in report.sent if m.recipient_id == "P-dave"]
    assert len(sent_to_dave) == 1
    request = first.get_request(WS, 1)
    assert request is not None
    assert [(e.at, e.to_id) for e in request.events if e.kind == EventKind.ESCALATED] == [(now, "P-dave")]
