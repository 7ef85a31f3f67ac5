"""``servechain chain``: the team-to-team service map, or one request's chain."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from handlers.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_db_argument, with_store, write_binary

if TYPE_CHECKING:
    from bot.chain import MapFormat
    from bot.ports import Store
    from bot.settings import Settings
    from bot.workhours import WorkingHours
    from handlers.cli.common import Commands

FORMATS = ("text", "dot", "png")
"""``bot.chain.FORMATS``, spelled out so that ``--help`` needn't import the core (a test keeps them equal)."""


def register(commands: Commands) -> None:
    """Add ``chain`` to the command line."""
    chain = commands.add_parser(
        "chain",
        help="the team-to-team service map, or one request's chain",
        description="Render who serves whom between teams (text, dot or png), naming the slowest links; "
        "or, given R-<n>, that request's tree from its origin down.",
    )
    add_db_argument(add_chain_arguments(chain))


def add_chain_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``servechain chain`` to a (sub)parser."""
    parser.add_argument("request", nargs="?", help="show this request's tree (e.g. R-12) instead of the team map")
    parser.add_argument("--window", default="30d", help="how far back requests were created, e.g. 30d, 2w")
    parser.add_argument("--format", choices=FORMATS, default="text", help="text, dot (Graphviz) or png")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write here instead of standard output")
    return parser


def run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    """Print or write what ``args`` ask for."""
    return with_store(
        settings,
        lambda store: chain_command(
            store=store,
            workspace=settings.servechain_workspace,
            now=now,
            request=args.request,
            window=args.window,
            format=args.format,
            output=args.output,
            stdout=sys.stdout,
            stderr=sys.stderr,
            hours=settings.working_hours,
        ),
    )


def chain_command(
    *,
    store: Store,
    workspace: str,
    now: datetime,
    request: str | None,
    window: str,
    format: MapFormat,
    output: Path | None,
    stdout: TextIO,
    stderr: TextIO,
    hours: WorkingHours,
) -> int:
    """Print a request's tree (``request`` given) or render the team map; returns the exit code."""
    from bot.chain import build_team_map, chain_lines, render_team_map, request_number
    from bot.errors import DomainError, InvalidCommand
    from bot.metrics import parse_window

    try:
        if request is not None:
            number = request_number(request)
            rendered: str | bytes = "\n".join(
                chain_lines(store=store, workspace=workspace, number=number, now=now, hours=hours)
            )
        else:
            team_map = build_team_map(
                store=store, workspace=workspace, now=now, window_length=parse_window(window), hours=hours
            )
            rendered = render_team_map(team_map, format=format)
    except DomainError as error:
        print(f"servechain chain: {error.message}", file=stderr)
        return EXIT_USAGE if isinstance(error, InvalidCommand) else EXIT_FAILED
    if output is not None:
        if isinstance(rendered, bytes):
            output.write_bytes(rendered)
        else:
            output.write_text(rendered if rendered.endswith("\n") else rendered + "\n", encoding="utf-8")
        return EXIT_OK
    if isinstance(rendered, bytes):
        return write_binary(rendered, stdout=stdout, stderr=stderr, prog="servechain chain")
    print(rendered, file=stdout, end="" if rendered.endswith("\n") else "\n")
    return EXIT_OK
