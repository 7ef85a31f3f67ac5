"""The ``servechain`` command: ``console``, ``org import``, ``serve``, ``db`` and the reports.

This is the entry point, so it is the one place that reads the settings and configures
logging; everything below it gets what it needs passed in. Each command group is one module
here with ``register(commands)`` (its arguments) and ``run(settings, args, ...)`` (parse,
call the core, print); the core (``bot/``) returns data and text and never prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import StorageError
from handlers.cli import (
    chain,
    console,
    dashboard,
    db,
    digest,
    doctor,
    org,
    patterns,
    privacy,
    serve,
    slack,
    stats,
    teams,
)
from handlers.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, setting_problems

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

LOG_LEVEL_VARIABLE = "SERVECHAIN_LOG_LEVEL"
LOG_FORMAT_VARIABLE = "SERVECHAIN_LOG_FORMAT"
LOG_FORMATS = ("text", "json")

GROUPS = (console, org, db, stats, patterns, chain, digest, privacy, slack, teams, serve, dashboard, doctor)
"""Command groups in the order ``servechain --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="servechain",
        description="A Slack and Microsoft Teams bot that treats coworkers as each other's internal customers.",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for group in GROUPS:
        group.register(commands)
    return parser


def _configure_logging(default_level: str) -> bool:
    """Log to stderr at ``$SERVECHAIN_LOG_LEVEL`` (else ``default_level``), as text or, with
    ``SERVECHAIN_LOG_FORMAT=json``, one JSON object per line; False if either is malformed."""
    name = os.environ.get(LOG_LEVEL_VARIABLE, "").strip().upper() or default_level
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        print(
            f"servechain: bad setting {LOG_LEVEL_VARIABLE}: {name!r} is not a log level "
            "(use DEBUG, INFO, WARNING or ERROR)",
            file=sys.stderr,
        )
        return False
    log_format = os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        print(f"servechain: bad setting {LOG_FORMAT_VARIABLE}: {log_format!r} (use text or json)", file=sys.stderr)
        return False
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if log_format == "json":
        from handlers.observability import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    return True


def _name_logs(settings: Settings) -> None:
    """Give JSON log lines this process's replica (default: the host name) and workspace."""
    if os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() != "json":
        return  # text logs: nothing to name (and no need to import the metrics module)
    from handlers.observability import JsonFormatter

    replica = settings.servechain_replica or socket.gethostname()
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            handler.formatter.replica = replica
            handler.formatter.workspace = settings.servechain_workspace


def _load_settings(db: str | None) -> Settings | None:
    """Read the settings once; print one line naming each malformed setting and return None."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bot.settings import Settings

    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        problems = "; ".join(f"{name}: {problem}" for name, problem in setting_problems(error))
        print(f"servechain: bad setting {problems}", file=sys.stderr)
        return None
    if db:
        settings = settings.model_copy(update={"servechain_db": db})
    return settings


def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Hand the parsed command to its group."""
    command: str = args.command
    if command == "console":
        return console.run(settings, args)
    if command == "org":
        return org.run(settings, args)
    if command == "db":
        return db.run(settings, args)
    if command == "teams":
        return teams.run(settings, args)
    if command == "slack":
        return slack.run(settings, args)
    if command == "serve":
        return serve.run(settings, args)
    if command == "dashboard":
        return dashboard.run(settings, args)
    now = datetime.now(UTC)
    if command == "stats":
        return stats.run(settings, args, now)
    if command == "patterns":
        return patterns.run(settings, args, now)
    if command in ("export", "forget"):
        return privacy.run(settings, args, now)
    if command == "digest":
        return digest.run(settings, args, now)
    return chain.run(settings, args, now)


def main(argv: list[str] | None = None) -> int:
    """Run ``servechain`` with ``argv`` (default: the command line); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if not _configure_logging("INFO" if args.command == "serve" else "WARNING"):
        return EXIT_USAGE
    if args.command == "doctor":  # a malformed setting is one of the doctor's findings
        return doctor.run_from_environment(args)
    settings = _load_settings(getattr(args, "db", None))
    if settings is None:
        return EXIT_USAGE
    _name_logs(settings)
    try:
        return _run(settings, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StorageError as error:  # e.g. a damaged store at start-up: one line, no traceback
        from handlers.console import describe_db

        print(f"servechain: the store {describe_db(settings.servechain_db)} can't be used: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
