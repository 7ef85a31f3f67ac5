"""``servechain dashboard --as <handle>``: the web dashboard on this machine, without sign-in,
acting as one person (to try it out, or to look at a copy of the store)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from handlers.cli.common import EXIT_FAILED, add_db_argument, with_store

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands

DEFAULT_PORT = 8050


def register(commands: Commands) -> None:
    """Add ``dashboard`` to the command line."""
    parser = commands.add_parser(
        "dashboard",
        help="the web dashboard on 127.0.0.1, acting as one person (no sign-in)",
        description="Serve the dashboard (chain map, links, team pages, your own page) at "
        "http://127.0.0.1:PORT/dashboard/ on this machine only, without sign-in, as the person you name. "
        "In production, servechain serve mounts it behind Slack or Entra ID sign-in.",
    )
    parser.add_argument("--as", dest="as_handle", required=True, metavar="HANDLE", help="whose eyes to look with")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks one)"
    )
    add_db_argument(parser)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; 1 when nobody has that handle."""
    from handlers.dashboard import LocalAs, local_app, serve_local

    def serve(store: object) -> int:
        handle = args.as_handle.lstrip("@").lower()
        person = store.find_person(settings.servechain_workspace, handle=handle)  # type: ignore[attr-defined]
        if person is None:
            print(
                f"servechain dashboard: nobody is called @{handle} in this store "
                "(servechain org import adds people; handles are in the org file)",
                file=sys.stderr,
            )
            return EXIT_FAILED
        app = local_app(
            store=store,  # type: ignore[arg-type]
            workspace=settings.servechain_workspace,
            auth=LocalAs(person),
            clock=lambda: datetime.now(UTC),
            hours=settings.working_hours,
            pulse_settings=settings.pulse,
        )
        return serve_local(app, port=args.port)

    return with_store(settings, serve)
