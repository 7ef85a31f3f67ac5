"""Place an error from the core on the form field it is about (presentation only)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import DomainError
from handlers.slack.errors import friendly


def inline_errors(error: BaseException, fields: Sequence[str], guess: str | None, *, doing: str) -> dict[str, str]:
    """``{block_id: message}`` for ``response_action: errors``: on the field the error names
    (``error.field`` when the core sets it), else on ``guess``, else on the first field."""
    message = friendly(error, doing=doing)
    named = getattr(error, "field", None) if isinstance(error, DomainError) else None
    for candidate in (named, guess):
        if candidate in fields:
            return {str(candidate): message}
    return {fields[0]: message} if fields else {}
