"""``servechain org import``: people and teams from a YAML or CSV file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import StorageError
from bot.org import OrgImportError, load_org, save_org_file
from bot.settings import Settings
from handlers.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_db_argument
from handlers.console import describe_db
from storage import open_store

if TYPE_CHECKING:
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``org import`` to the command line."""
    org = commands.add_parser("org", help="manage people and teams", description="Manage people and teams.")
    org_commands = org.add_subparsers(dest="org_command", metavar="<org command>", required=True)
    org_import = org_commands.add_parser(
        "import",
        help="import people and teams from a YAML or CSV file",
        description="Import people and teams; an invalid file imports nothing. Re-importing updates people "
        "in place (matched by handle, then email).",
    )
    org_import.add_argument("file", type=Path, metavar="FILE")
    add_db_argument(org_import)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Import ``args.file``; an invalid file imports nothing and exits with 2."""
    path: Path = args.file
    try:
        org = load_org(path, workspace=settings.servechain_workspace)
    except OrgImportError as error:
        return _nothing_imported(error)
    where = describe_db(settings.servechain_db)
    try:
        store = open_store(settings.servechain_db)
        try:
            report = save_org_file(store=store, org=org)
        finally:
            store.close()
    except OrgImportError as error:
        return _nothing_imported(error)
    except StorageError as error:
        print(f"servechain: the store {where} failed: {error}. Nothing was imported.", file=sys.stderr)
        return EXIT_FAILED
    print(f"Imported {report.people} people and {report.teams} teams into {where}.")
    return EXIT_OK


def _nothing_imported(error: OrgImportError) -> int:
    for line in error.errors:
        print(line, file=sys.stderr)
    print("Nothing was imported.", file=sys.stderr)
    return EXIT_USAGE
