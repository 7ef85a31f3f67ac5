"""Typed domain errors whose messages a chat user can read as they are."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors caused by what a user asked for; the message is shown to them."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        """The form field the error is about (``text``, ``provider``, ``due``, ``note``, ``to``...), if one."""


class NotFound(DomainError):
    """The thing named does not exist (or the user may not see it)."""


class NotAllowed(DomainError):
    """The user may not do this, e.g. ``Only bob can acknowledge R-7``."""


class InvalidCommand(DomainError):
    """The command or its inputs are malformed; the message says how to fix it."""


class InvalidTransition(DomainError):
    """The request's state does not allow this action, e.g. acknowledging a finished request."""


class Conflict(Exception):
    """Optimistic concurrency failure in storage; services reload and retry."""


class StorageError(Exception):
    """A storage backend fault (I/O, connection); reported to the user, never swallowed."""
