"""The domain models' own rules that every store and front end relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bot.models import Event, EventKind, Request

NAIVE = datetime(2026, 3, 1, 9, 0)
AWARE = NAIVE.replace(tzinfo=UTC)


def test_naive_datetimes_are_refused_in_every_field() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Event(kind=EventKind.CREATED, at=NAIVE, actor_id="U1")
    with pytest.raises(ValidationError, match="timezone"):
        Request(requester_id="U1", provider_id="U2", text="x", created_at=NAIVE)
    with pytest.raises(ValidationError, match="timezone"):
        Request(requester_id="U1", provider_id="U2", text="x", created_at=AWARE, due_at=NAIVE)
    with pytest.raises(ValidationError, match="timezone"):
        Request.model_validate_json(
            b'{"requester_id":"U1","provider_id":"U2","text":"x","created_at":"2026-03-01T09:00:00"}'
        )


def test_aware_datetimes_keep_their_offset() -> None:
    request = Request.model_validate_json(
        b'{"requester_id":"U1","provider_id":"U2","text":"x","created_at":"2026-03-01T09:00:00+02:00"}'
    )
    assert request.created_at.utcoffset() is not None
    assert request.created_at == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
