"""What a front end must provide, so one runtime can run any of them (Slack, Teams, the console).

A front end turns its platform's payloads into calls of the core and renders neutral messages
for its platform. The runtime (:mod:`handlers.runtime`) gathers every configured front end's
notifier for the delivery worker, mounts their routes on the one aiohttp app, starts their own
loops (Slack's Socket Mode connection) and closes them at the end. Adding a front end (Google
Chat, a web page) means writing one class of this shape; nothing else imports it but the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.models import Message, Person
from bot.ports import Notifier

if TYPE_CHECKING:
    from aiohttp import web  # the console runs without a web server, so without importing one


@runtime_checkable
class FrontEnd(Protocol):
    """One chat front end in a servechain process."""

    @property
    def name(self) -> str:
        """``slack``, ``teams`` or ``console``: shown by ``/healthz`` and in the logs."""
        ...

    @property
    def notifier(self) -> Notifier:
        """How the delivery worker reaches people on this platform."""
        ...

    def who(self, user_id: str) -> Person | None:
        """The person already linked to this platform user id (a Slack user id, a Teams user id,
        a console handle), without asking the platform; None for a stranger."""
        ...

    def render(self, message: Message, recipient: Person) -> object:
        """A neutral message as this platform shows it to ``recipient`` (Block Kit, an Adaptive
        Card, console text)."""
        ...

    def mount(self, app: web.Application) -> None:
        """Add this front end's HTTP routes to the process's aiohttp app (none for one that runs
        its own loop)."""
        ...

    def start(self) -> None:
        """Start this front end's own loop, if it has one (Slack's Socket Mode connection), and
        return at once; raise :class:`handlers.runtime.StartError` when it can't."""
        ...

    def close(self) -> None:
        """Stop its loop and let queued work finish."""
        ...


__all__ = ["FrontEnd"]
