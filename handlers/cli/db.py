"""``servechain db upgrade``, ``db migrate``, ``db check``, ``db repair``, ``db backup`` and
``db restore``: schema, copies, damage and backups."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import StorageError
from handlers.cli.common import EXIT_FAILED, EXIT_OK, add_db_argument

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``db upgrade``, ``db migrate``, ``db check`` and ``db repair`` to the command line."""
    db = commands.add_parser("db", help="database schema and copies", description="Database schema and copies.")
    db_commands = db.add_subparsers(dest="db_command", metavar="<db command>", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending PostgreSQL schema migrations",
        description="Apply pending schema migrations (safe while other replicas run; a no-op for TinyDB).",
    )
    add_db_argument(upgrade)
    for name, summary in (
        ("check", "list damaged records of the embedded store (exit 1 if any)"),
        ("repair", "move damaged records of the embedded store aside, keeping every intact one"),
    ):
        add_db_argument(db_commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + "."))
    copy = db_commands.add_parser(
        "migrate",
        help="copy one store into another and verify counts per kind",
        description="Copy every record of one store into another (e.g. servechain.json into PostgreSQL) and "
        "verify the counts per kind. Records the target already has are skipped, so re-running is harmless.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="SOURCE", help="TinyDB file or URL")
    copy.add_argument("--to", dest="target", required=True, metavar="TARGET", help="TinyDB file or URL")
    backup = db_commands.add_parser(
        "backup",
        help="write a consistent copy of the embedded store to a new file (safe while the bot runs)",
        description="Write every record of the embedded store, read in one consistent snapshot, to a new "
        "file; safe while the bot runs. PostgreSQL: use pg_dump (see the README).",
    )
    backup.add_argument("file", metavar="FILE", help="the backup file to create (never overwritten)")
    add_db_argument(backup)
    restore = db_commands.add_parser(
        "restore",
        help="load a backup into the store and verify the counts per kind",
        description="Load a backup made by `servechain db backup` into the store and verify the counts per kind. "
        "A store that holds records is only replaced with --yes (stop every servechain process first).",
    )
    restore.add_argument("file", metavar="FILE", help="a file made by servechain db backup")
    restore.add_argument("--yes", action="store_true", help="replace the records of a store that holds some")
    add_db_argument(restore)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Upgrade the schema, or copy ``--from`` into ``--to`` and verify the counts."""
    from handlers.console import describe_db
    from storage import open_store
    from storage.migrate import migrate
    from storage.postgres import upgrade

    if args.db_command in ("backup", "restore"):
        return _backup_or_restore(settings, args)
    if args.db_command in ("check", "repair"):
        from storage.repair import db_command

        url = settings.servechain_db
        return db_command(
            url, args.db_command, where=describe_db(url), now=datetime.now(UTC), stdout=sys.stdout, stderr=sys.stderr
        )
    try:
        if args.db_command == "upgrade":
            url = settings.servechain_db
            if not url.startswith(("postgresql://", "postgres://")):
                print(f"{describe_db(url)} is an embedded store; it needs no migrations.")
                return EXIT_OK
            applied = upgrade(url)
            print(f"Applied {', '.join(applied)}." if applied else "The schema is up to date.")
            return EXIT_OK
        source, target = open_store(args.source), None
        try:
            target = open_store(args.target)
            report = migrate(source, target)
        finally:
            source.close()
            if target is not None:
                target.close()
    except StorageError as error:
        print(f"servechain: {error}", file=sys.stderr)
        return EXIT_FAILED
    print("\n".join(report.lines()))
    if not report.verified:
        print("The counts do not match: the target is missing records (see above).", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"Copied {sum(report.copied.values())} new records from {describe_db(args.source)} to "
        f"{describe_db(args.target)}; counts verified."
    )
    return EXIT_OK


def _backup_or_restore(settings: Settings, args: argparse.Namespace) -> int:
    """``db backup FILE`` / ``db restore FILE [--yes]`` on the configured store."""
    from handlers.console import describe_db
    from storage import open_store
    from storage.backup import restore_backup, write_backup

    url = settings.servechain_db
    try:
        store = open_store(url)
    except StorageError as error:
        print(f"servechain: can't open the store {describe_db(url)}: {error}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.db_command == "backup":
            report = write_backup(store, args.file, now=datetime.now(UTC))
            print("\n".join(report.lines()))
            print(f"Backed up {sum(report.counts.values())} records of {describe_db(url)} to {args.file}.")
            return EXIT_OK
        report = restore_backup(args.file, store, replace=args.yes)
    except StorageError as error:
        print(f"servechain: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        store.close()
    print("\n".join(report.lines()))
    if not report.verified:
        print("The counts do not match the backup (see above): the store is missing records.", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"Restored {sum(report.counts.values())} records from {args.file} (taken {report.created_at}) "
        f"into {describe_db(url)}; counts verified."
    )
    return EXIT_OK
