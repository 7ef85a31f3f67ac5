"""``servechain console``: a chat workspace in the terminal."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.cli.common import add_db_argument

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``console`` to the command line."""
    console = commands.add_parser(
        "console",
        help="a chat workspace in your terminal, on the embedded store",
        description="Act as anyone in the org: /request, /kudos and click buttons. Reads a script from stdin "
        "when it is not a terminal.",
    )
    add_db_argument(console)
    console.add_argument("--org", type=Path, metavar="FILE", help="import this org file (YAML or CSV) first")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the console until its input ends."""
    from handlers.console import run_console

    return run_console(settings, org=args.org)
