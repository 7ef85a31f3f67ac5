"""What both backends need to prune after ``RETENTION_DAYS`` (:meth:`bot.ports.Store.prune`):
the date an idempotency key is stored with, and the request a claim key names."""

from __future__ import annotations

import re
from datetime import datetime

from bot.models import Request

_REQUEST_IN_KEY = re.compile(r"(?:^|:)R-(\d+)(?::|$)")
"""``R-<n>`` as one ``:``-separated part of a claim key; the PostgreSQL backend uses the same pattern."""

REQUEST_IN_KEY_SQL = "(?:^|:)R-([0-9]+)(?::|$)"


def claim_request(key: str) -> int | None:
    """The request a claim key names (``nudge:unacked:R-7:e0`` -> 7), if any."""
    match = _REQUEST_IN_KEY.search(key)
    return int(match.group(1)) if match else None


def last_change(request: Request) -> datetime:
    """When a request last changed (its newest event), to date its idempotency key."""
    return request.events[-1].at if request.events else request.created_at
