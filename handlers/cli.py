"""The ``servechain`` command: ``console``, ``org import``, ``serve`` and ``db``.

This is the entry point, so it is the one place that reads the settings and configures
logging; everything below it gets what it needs passed in.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from bot.chain import add_chain_arguments, chain_command
from bot.digest import add_digest_arguments, digest_command
from bot.errors import StorageError
from bot.org import OrgImportError, load_org, save_org_file
from bot.ports import Store
from bot.privacy import add_privacy_arguments, export_command, forget_command
from bot.settings import Settings
from bot.stats import add_stats_arguments, stats_command
from handlers.console import describe_db, run_console
from storage import open_store

log = logging.getLogger(__name__)

LOG_LEVEL_VARIABLE = "SERVECHAIN_LOG_LEVEL"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="servechain",
        description="A Slack and Microsoft Teams bot that treats coworkers as each other's internal customers.",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    db_help = "TinyDB file or postgresql:// URL (default: $SERVECHAIN_DB, else servechain.json)"

    console = commands.add_parser(
        "console",
        help="a chat workspace in your terminal, on the embedded store",
        description="Act as anyone in the org: /request, /kudos and click buttons. Reads a script from stdin "
        "when it is not a terminal.",
    )
    console.add_argument("--db", help=db_help)
    console.add_argument("--org", type=Path, metavar="FILE", help="import this org file (YAML or CSV) first")

    org = commands.add_parser("org", help="manage people and teams", description="Manage people and teams.")
    org_commands = org.add_subparsers(dest="org_command", metavar="<org command>", required=True)
    org_import = org_commands.add_parser(
        "import",
        help="import people and teams from a YAML or CSV file",
        description="Import people and teams; an invalid file imports nothing. Re-importing updates people "
        "in place (matched by handle, then email).",
    )
    org_import.add_argument("file", type=Path, metavar="FILE")
    org_import.add_argument("--db", help=db_help)

    db = commands.add_parser("db", help="database schema and copies", description="Database schema and copies.")
    db_commands = db.add_subparsers(dest="db_command", metavar="<db command>", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending PostgreSQL schema migrations",
        description="Apply pending schema migrations (safe while other replicas run; a no-op for TinyDB).",
    )
    upgrade.add_argument("--db", help=db_help)
    # --- db check / db repair (storage/repair.py) ---
    for name, summary in (
        ("check", "list damaged records of the embedded store (exit 1 if any)"),
        ("repair", "move damaged records of the embedded store aside, keeping every intact one"),
    ):
        db_commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".").add_argument(
            "--db", help=db_help
        )
    # --- end db check / db repair ---
    copy = db_commands.add_parser(
        "migrate",
        help="copy one store into another and verify counts per kind",
        description="Copy every record of one store into another (e.g. servechain.json into PostgreSQL) and "
        "verify the counts per kind. Records the target already has are skipped, so re-running is harmless.",
    )
    stats = commands.add_parser(
        "stats",
        help="responsiveness figures for a person, a team, a team link or everyone",
        description="Responsiveness in working hours: volume, time to acknowledge and resolve, promises kept, "
        "declines, hand-offs, reopens and ratings, both as provider and as customer.",
    )
    add_stats_arguments(stats).add_argument("--db", help=db_help)
    chain = commands.add_parser(
        "chain",
        help="the team-to-team service map, or one request's chain",
        description="Render who serves whom between teams (text, dot or png), naming the slowest links; "
        "or, given R-<n>, that request's tree from its origin down.",
    )
    add_chain_arguments(chain).add_argument("--db", help=db_help)

    digest = commands.add_parser(
        "digest",
        help="a manager's weekly digest (md) or its chart (png)",
        description="Render one manager's weekly digest as it would be sent: morale, service to staff, "
        "service to other teams, overdue items and one suggested action; or its 8-week chart as PNG.",
    )
    add_digest_arguments(digest).add_argument("--db", help=db_help)

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

    teams = commands.add_parser("teams", help="Microsoft Teams app", description="Microsoft Teams app.")
    teams_commands = teams.add_subparsers(dest="teams_command", metavar="<teams command>", required=True)
    package = teams_commands.add_parser(
        "package",
        help="write the installable Teams app zip",
        description="Write the Teams app package (manifest.json with the bot id from MICROSOFT_APP_ID, and icons).",
    )
    package.add_argument("--output", type=Path, default=Path("."), help="folder or .zip path (default: .)")
    copy.add_argument("--from", dest="source", required=True, metavar="SOURCE", help="TinyDB file or URL")
    copy.add_argument("--to", dest="target", required=True, metavar="TARGET", help="TinyDB file or URL")

    serve = commands.add_parser(
        "serve", help="run the Slack and Teams bot server", description="Run the Slack and Teams bot server."
    )
    serve.add_argument("--socket", action="store_true", help="connect to Slack with Socket Mode")
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT, else 3000)")
    serve.add_argument("--host", help="interface to bind (default: $HOST, else 0.0.0.0)")
    return parser


def _configure_logging(default_level: str) -> bool:
    """Log to stderr at ``$SERVECHAIN_LOG_LEVEL`` (else ``default_level``); False if it names no level."""
    name = os.environ.get(LOG_LEVEL_VARIABLE, "").strip().upper() or default_level
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        print(
            f"servechain: bad setting {LOG_LEVEL_VARIABLE}: {name!r} is not a log level "
            "(use DEBUG, INFO, WARNING or ERROR)",
            file=sys.stderr,
        )
        return False
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return True


def _load_settings(db: str | None) -> Settings | None:
    """Read the settings once; print one line naming each malformed setting and return None."""
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{str(problem['loc'][0]).upper() if problem['loc'] else 'settings'}: {problem['msg']}"
            for problem in error.errors()
        )
        print(f"servechain: bad setting {problems}", file=sys.stderr)
        return None
    if db:
        settings = settings.model_copy(update={"servechain_db": db})
    return settings


def _org_import(settings: Settings, path: Path) -> int:
    try:
        org = load_org(path, workspace=settings.servechain_workspace)
    except OrgImportError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        print("Nothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    where = describe_db(settings.servechain_db)
    try:
        store = open_store(settings.servechain_db)
        try:
            report = save_org_file(store=store, org=org)
        finally:
            store.close()
    except OrgImportError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        print("Nothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        print(f"servechain: the store {where} failed: {error}. Nothing was imported.", file=sys.stderr)
        return EXIT_FAILED
    print(f"Imported {report.people} people and {report.teams} teams into {where}.")
    return EXIT_OK


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.migrate import migrate
    from storage.postgres import upgrade

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


def _with_store(settings: Settings, run: Callable[[Store], int]) -> int:
    """Open the store, run ``run`` on it, close it; storage faults become one clear line."""
    try:
        store = open_store(settings.servechain_db)
        try:
            return run(store)
        finally:
            store.close()
    except StorageError as error:
        print(f"servechain: the store {describe_db(settings.servechain_db)} failed: {error}", file=sys.stderr)
        return EXIT_FAILED


def _teams_package(settings: Settings, output: Path) -> int:
    from handlers.server import ConfigError
    from handlers.teams.package import build_package

    try:
        written = build_package(settings, output)
    except ConfigError as error:
        print(f"servechain: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Wrote the Teams app package to {written}.")
    return EXIT_OK


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        server = importlib.import_module("handlers.server")
    except ModuleNotFoundError as error:
        if error.name != "handlers.server":
            print(f"servechain serve can't start: {error}. Is servechain fully installed?", file=sys.stderr)
            return EXIT_FAILED
        print("servechain serve isn't available: handlers/server.py is missing from this install.", file=sys.stderr)
        return EXIT_FAILED
    result = server.main(settings, socket=args.socket, port=args.port, host=args.host)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    """Run ``servechain`` with ``argv`` (default: the command line); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if not _configure_logging("INFO" if args.command == "serve" else "WARNING"):
        return EXIT_USAGE
    settings = _load_settings(getattr(args, "db", None))
    if settings is None:
        return EXIT_USAGE
    try:
        if args.command == "console":
            return run_console(settings, org=args.org)
        if args.command == "org":
            return _org_import(settings, args.file)
        if args.command == "db":
            return _db(settings, args)
        if args.command == "teams":
            return _teams_package(settings, args.output)
        workspace, hours, now = settings.servechain_workspace, settings.working_hours, datetime.now(UTC)
        if args.command == "stats":
            return _with_store(
                settings,
                lambda store: stats_command(
                    store=store,
                    workspace=workspace,
                    now=now,
                    target=args.target,
                    window=args.window,
                    stdout=sys.stdout,
                    stderr=sys.stderr,
                    hours=hours,
                ),
            )
        if args.command in ("export", "forget"):
            run = export_command if args.command == "export" else forget_command
            return _with_store(settings, lambda store: run(args, store=store, workspace=workspace, now=now))
        if args.command == "digest":
            return _with_store(
                settings,
                lambda store: digest_command(
                    store=store,
                    workspace=workspace,
                    now=now,
                    manager=args.manager,
                    week=args.week,
                    format=args.format,
                    output=args.output,
                    stdout=sys.stdout,
                    stderr=sys.stderr,
                    hours=hours,
                    settings=settings.digest,
                    pulse_settings=settings.pulse,
                ),
            )
        if args.command == "chain":
            return _with_store(
                settings,
                lambda store: chain_command(
                    store=store,
                    workspace=workspace,
                    now=now,
                    request=args.request,
                    window=args.window,
                    format=args.format,
                    output=args.output,
                    stdout=sys.stdout,
                    stderr=sys.stderr,
                    hours=hours,
                ),
            )
        return _serve(settings, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StorageError as error:  # e.g. a damaged store at start-up: one line, no traceback
        print(f"servechain: the store {describe_db(settings.servechain_db)} can't be used: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
