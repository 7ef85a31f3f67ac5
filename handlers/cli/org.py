"""``servechain org import`` (people and teams from a YAML or CSV file) and ``servechain org
sync slack|graph`` (the org from the company directory, merged with an optional org file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import StorageError
from handlers.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_db_argument

if TYPE_CHECKING:
    from bot.org import OrgFile, OrgImportError
    from bot.settings import Settings
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
    org_sync = org_commands.add_parser(
        "sync",
        help="sync people from Slack or Microsoft Graph",
        description="Read every user of the directory (Slack users.list, or Microsoft Graph /users with "
        "department and manager) and update the org in one write: new people are added, changed ones "
        "updated, people who left marked inactive (their history stays). A failure changes nothing.",
    )
    org_sync.add_argument("source", choices=("slack", "graph"), help="the directory to read")
    org_sync.add_argument(
        "--org", type=Path, metavar="FILE", help="YAML/CSV org file adding what the directory lacks (teams, managers)"
    )
    org_sync.add_argument("--dry-run", action="store_true", help="print what would change and change nothing")
    add_db_argument(org_sync)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``org import`` or ``org sync``."""
    if args.org_command == "sync":
        return run_sync(settings, args)
    return run_import(settings, args)


def run_sync(settings: Settings, args: argparse.Namespace) -> int:
    """Sync from ``args.source``; every failure leaves the store as it was."""
    from bot.org import OrgImportError, load_org
    from bot.orgsync import DirectoryError, OrgSyncError, sync_org
    from bot.ports import NO_TELEMETRY
    from handlers.console import describe_db
    from handlers.directory import directory_from_settings
    from storage import open_store

    org: OrgFile | None = None
    if args.org is not None:
        try:
            org = load_org(args.org, workspace=settings.servechain_workspace)
        except OrgImportError as error:
            for line in error.errors:
                print(line, file=sys.stderr)
            print("Nothing was changed.", file=sys.stderr)
            return EXIT_USAGE
    try:
        directory = directory_from_settings(settings, args.source, telemetry=NO_TELEMETRY)  # no /metrics here
    except DirectoryError as error:
        print(f"servechain: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    where = describe_db(settings.servechain_db)
    try:
        store = open_store(settings.servechain_db)
        try:
            report = sync_org(
                store=store,
                workspace=settings.servechain_workspace,
                directory=directory,
                org=org,
                dry_run=args.dry_run,
            )
        finally:
            store.close()
    except (DirectoryError, OrgSyncError) as error:
        message = (
            error.message
            if "Nothing was changed" in error.message or "nothing was changed" in error.message
            else (f"{error.message} Nothing was changed.")
        )
        print(f"servechain: {message}", file=sys.stderr)
        return EXIT_FAILED
    except StorageError as error:
        print(f"servechain: the store {where} failed: {error}. Nothing was changed.", file=sys.stderr)
        return EXIT_FAILED
    for line in report.lines():
        print(line)
    print(report.summary() + (" (dry run: nothing was changed)" if args.dry_run and report.changed else ""))
    return EXIT_OK


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import ``args.file``; an invalid file imports nothing and exits with 2."""
    from bot.org import OrgImportError, load_org, save_org_file
    from handlers.console import describe_db
    from storage import open_store

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
