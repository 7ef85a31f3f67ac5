"""``servechain stats``: responsiveness figures for a person, a team, a team link or everyone."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from handlers.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_db_argument, with_store

if TYPE_CHECKING:
    from bot.ports import Store
    from bot.settings import Settings
    from bot.workhours import WorkingHours
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``stats`` to the command line."""
    stats = commands.add_parser(
        "stats",
        help="responsiveness figures for a person, a team, a team link or everyone",
        description="Responsiveness in working hours: volume, time to acknowledge and resolve, promises kept, "
        "declines, hand-offs, reopens and ratings, both as provider and as customer.",
    )
    add_db_argument(add_stats_arguments(stats))


def add_stats_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``servechain stats`` to a (sub)parser."""
    parser.add_argument(
        "target", nargs="?", help="@handle, a team name, or 'team->team' (default: the whole organisation)"
    )
    parser.add_argument("--window", default="30d", help="how far back requests were created, e.g. 30d, 2w, 12h")
    return parser


def run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    """Print the figures ``args`` ask for."""
    return with_store(
        settings,
        lambda store: stats_command(
            store=store,
            workspace=settings.servechain_workspace,
            now=now,
            target=args.target,
            window=args.window,
            stdout=sys.stdout,
            stderr=sys.stderr,
            hours=settings.working_hours,
        ),
    )


def stats_command(
    *,
    store: Store,
    workspace: str,
    now: datetime,
    target: str | None,
    window: str,
    stdout: TextIO,
    stderr: TextIO,
    hours: WorkingHours,
) -> int:
    """Print the figures for ``target`` (``@handle``, team, ``team->team`` or None for everyone);
    returns the exit code (2 for a malformed window, 1 for an unknown target)."""
    from bot.errors import DomainError, InvalidCommand, NotFound
    from bot.metrics import OrgMetrics, parse_window
    from bot.stats import stats_text

    try:
        length = parse_window(window)
        org = OrgMetrics.load(store=store, workspace=workspace, since=now - length, until=now, now=now, hours=hours)
        person = None
        if target and target.startswith("@"):
            person = store.find_person(workspace, handle=target[1:].lower())
            if person is None:
                raise NotFound(f"I don't know {target}.")
        text = stats_text(org=org, person=person, team=None if person else target, tz="UTC")
    except DomainError as error:
        print(f"servechain stats: {error.message}", file=stderr)
        return EXIT_USAGE if isinstance(error, InvalidCommand) else EXIT_FAILED
    print(text, file=stdout)
    return EXIT_OK
