"""``servechain digest``: one manager's weekly digest as Markdown, or its chart as PNG."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from handlers.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_db_argument, with_store, write_binary

if TYPE_CHECKING:
    from bot.digest import DigestFormat, DigestSettings
    from bot.ports import Store
    from bot.pulse import PulseSettings
    from bot.settings import Settings
    from bot.workhours import WorkingHours
    from handlers.cli.common import Commands

FORMATS = ("md", "png")
"""``bot.digest.FORMATS``, spelled out so that ``--help`` needn't import the core (a test keeps them equal)."""


def register(commands: Commands) -> None:
    """Add ``digest`` to the command line."""
    digest = commands.add_parser(
        "digest",
        help="a manager's weekly digest (md) or its chart (png)",
        description="Render one manager's weekly digest as it would be sent: morale, service to staff, "
        "service to other teams, overdue items and one suggested action; or its 8-week chart as PNG.",
    )
    add_db_argument(add_digest_arguments(digest))


def add_digest_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``servechain digest`` to a (sub)parser."""
    parser.add_argument("--manager", required=True, metavar="HANDLE", help="whose digest, e.g. dave")
    parser.add_argument("--week", help="ISO week, e.g. 2026-W47 (default: last week in the manager's time zone)")
    parser.add_argument("--format", choices=FORMATS, default="md", help="md (the text) or png (the chart)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write here instead of standard output")
    return parser


def run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    """Print or write the digest ``args`` ask for."""
    return with_store(
        settings,
        lambda store: digest_command(
            store=store,
            workspace=settings.servechain_workspace,
            now=now,
            manager=args.manager,
            week=args.week,
            format=args.format,
            output=args.output,
            stdout=sys.stdout,
            stderr=sys.stderr,
            hours=settings.working_hours,
            settings=settings.digest,
            pulse_settings=settings.pulse,
        ),
    )


def digest_command(
    *,
    store: Store,
    workspace: str,
    now: datetime,
    manager: str,
    week: str | None,
    format: DigestFormat,
    output: Path | None,
    stdout: TextIO,
    stderr: TextIO,
    hours: WorkingHours,
    settings: DigestSettings | None = None,
    pulse_settings: PulseSettings | None = None,
) -> int:
    """Print or write one manager's digest; returns the exit code (2 for bad input, 1 when the
    manager is unknown or has no team)."""
    from bot.digest import DEFAULT_DIGEST, digest_markdown, manager_digest
    from bot.errors import DomainError, InvalidCommand, NotFound
    from bot.pulse import DEFAULT_PULSE
    from bot.weeks import last_week

    try:
        person = store.find_person(workspace, handle=manager.lstrip("@").lower())
        if person is None:
            raise NotFound(f"I don't know @{manager.lstrip('@')}.")
        digest = manager_digest(
            store=store,
            manager=person,
            week=(week or last_week(now, person.tz)).upper(),
            now=now,
            hours=hours,
            settings=settings or DEFAULT_DIGEST,
            pulse_settings=pulse_settings or DEFAULT_PULSE,
        )
    except DomainError as error:
        print(f"servechain digest: {error.message}", file=stderr)
        return EXIT_USAGE if isinstance(error, InvalidCommand) else EXIT_FAILED
    if format == "png":
        from bot.charts import chart_png
        from bot.digest import digest_chart

        png = chart_png(digest_chart(digest))
        if output is not None:
            output.write_bytes(png)
            return EXIT_OK
        return write_binary(png, stdout=stdout, stderr=stderr, prog="servechain digest")
    text = digest_markdown(digest)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        print(text, file=stdout, end="")
    return EXIT_OK
