"""``servechain teams package``: the installable Microsoft Teams app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.cli.common import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``teams package`` to the command line."""
    teams = commands.add_parser("teams", help="Microsoft Teams app", description="Microsoft Teams app.")
    teams_commands = teams.add_subparsers(dest="teams_command", metavar="<teams command>", required=True)
    package = teams_commands.add_parser(
        "package",
        help="write the installable Teams app zip",
        description="Write the Teams app package (manifest.json with the bot id from MICROSOFT_APP_ID, and icons).",
    )
    package.add_argument("--output", type=Path, default=Path("."), help="folder or .zip path (default: .)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Write the Teams app package to ``args.output``."""
    from handlers.runtime import ConfigError
    from handlers.teams.package import build_package

    try:
        written = build_package(settings, args.output)
    except ConfigError as error:
        print(f"servechain: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Wrote the Teams app package to {written}.")
    return EXIT_OK
