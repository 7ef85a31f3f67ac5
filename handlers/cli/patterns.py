"""``servechain patterns``: complaint patterns of a team, a person, a team link or everyone."""

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
    """Add ``patterns`` to the command line."""
    parser = commands.add_parser(
        "patterns",
        help="complaint patterns for a team, a person, a team link or everyone",
        description="Poor ratings, 'still not satisfied', escalations, declines without a taken-up alternative "
        "and missed promises, grouped by need, tag, counterpart team and recurring comment theme, with the trend "
        "against the previous window (docs/metrics.md).",
    )
    parser.add_argument(
        "target", nargs="?", help="@handle, a team name, or team:team (or quoted 'team->team'); default: everyone"
    )
    parser.add_argument("--window", default="30d", help="how far back requests were created, e.g. 30d, 2w")
    add_db_argument(parser)


def run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    """Print the patterns ``args`` ask for."""
    return with_store(
        settings,
        lambda store: patterns_command(
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


def patterns_command(
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
    """Print the patterns; 2 for a malformed window, 1 for an unknown target."""
    from bot.errors import DomainError, InvalidCommand, NotFound
    from bot.metrics import OrgMetrics, parse_window
    from bot.patterns import patterns_text, scope_patterns

    try:
        length = parse_window(window)
        current = OrgMetrics.load(store=store, workspace=workspace, since=now - length, until=now, now=now, hours=hours)
        previous = OrgMetrics.load(
            store=store, workspace=workspace, since=now - 2 * length, until=now - length, now=now, hours=hours
        )
        person = None
        if target and target.startswith("@"):
            person = store.find_person(workspace, handle=target[1:].lower())
            if person is None:
                raise NotFound(f"I don't know {target}.")
        text = patterns_text(scope_patterns(current, previous, target=None if person else target, person=person))
    except DomainError as error:
        print(f"servechain patterns: {error.message}", file=stderr)
        return EXIT_USAGE if isinstance(error, InvalidCommand) else EXIT_FAILED
    print(text, file=stdout)
    return EXIT_OK
