"""``servechain export`` and ``servechain forget``: one person's data out, or their identity gone."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from handlers.cli.common import EXIT_OK, EXIT_USAGE, with_store

if TYPE_CHECKING:
    from bot.ports import Store
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``export`` and ``forget`` to the command line."""
    export = commands.add_parser(
        "export", help="write everything stored about one person as JSON", description="Export one person's data."
    )
    add_privacy_arguments(export)
    forget = commands.add_parser(
        "forget",
        help="remove or anonymise one person, keeping every figure right (a dry run without --yes)",
        description="Forget one person: their identity and their words go, counts, times and scores stay.",
    )
    add_privacy_arguments(forget, forget=True)


def add_privacy_arguments(parser: argparse.ArgumentParser, *, forget: bool = False) -> None:
    """The arguments of ``servechain export`` (or, with ``forget``, ``servechain forget``)."""
    parser.add_argument("--person", required=True, metavar="HANDLE", help="the person's handle, e.g. alice")
    parser.add_argument("--db", help="TinyDB file or postgresql:// URL (default: $SERVECHAIN_DB)")
    parser.add_argument("--actor", default=None, help="who is doing this, for the audit record (default: $USER)")
    if forget:
        parser.add_argument("--yes", action="store_true", help="really forget them (without it: a dry run)")
    else:
        parser.add_argument("--output", "-o", default="-", metavar="FILE", help="write the JSON here (default: stdout)")


def run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    """Run ``export`` or ``forget`` on the configured store."""
    command = export_command if args.command == "export" else forget_command
    return with_store(
        settings, lambda store: command(args, store=store, workspace=settings.servechain_workspace, now=now)
    )


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or os.environ.get("USER") or "servechain cli")


def export_command(
    args: argparse.Namespace, *, store: Store, workspace: str, now: datetime, out: TextIO | None = None
) -> int:
    """Run ``servechain export --person HANDLE [--output FILE]``; returns the exit code."""
    from bot.errors import NotFound
    from bot.privacy import export_person

    out = out or sys.stdout
    try:
        data = export_person(store=store, workspace=workspace, handle=args.person, now=now, actor=_actor(args))
    except NotFound as error:
        print(f"servechain: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if args.output in (None, "-"):
        out.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
        print(f"Wrote everything stored about {args.person} to {args.output}.", file=out)
    return EXIT_OK


def forget_command(
    args: argparse.Namespace, *, store: Store, workspace: str, now: datetime, out: TextIO | None = None
) -> int:
    """Run ``servechain forget --person HANDLE [--yes]``; without ``--yes`` it only shows what
    would change. Returns the exit code."""
    from bot.errors import NotFound
    from bot.privacy import FORMER, forget_person

    out = out or sys.stdout
    try:
        report = forget_person(
            store=store, workspace=workspace, handle=args.person, now=now, actor=_actor(args), dry_run=not args.yes
        )
    except NotFound as error:
        print(f"servechain: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    if not args.yes:
        print(f"Forgetting {args.person} would change:", file=out)
        print("\n".join(f"  {line}" for line in report.lines()), file=out)
        print("Nothing was changed. Run again with --yes to forget them.", file=out)
        return EXIT_OK
    print(f"Forgot {args.person}; their records now belong to {report.person_id} ({FORMER}).", file=out)
    print("\n".join(f"  {line}" for line in report.lines()), file=out)
    return EXIT_OK
