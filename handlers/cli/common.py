"""What every ``servechain`` command shares: exit codes, the ``--db`` option and opening the store.

The command modules import only the standard library, argparse and this module at the top, so
that ``servechain --help`` starts fast; what a command needs (pydantic settings, the store,
the chat SDKs, matplotlib) is imported when it runs (``tests/test_cli.py`` checks which modules
``--help`` loads)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, TypeAlias

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DB_HELP = "TinyDB file or postgresql:// URL (default: $SERVECHAIN_DB, else servechain.json)"

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bot.ports import Store
    from bot.settings import Settings

    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """What ``add_subparsers()`` returns; each command group adds its parsers to it."""


def setting_problems(error: ValidationError | SettingsError) -> list[tuple[str, str]]:
    """``(VARIABLE, what is wrong)`` for each malformed setting; a JSON setting that does not parse
    (pydantic-settings' SettingsError) names its variable too, never its value."""
    from pydantic_settings import SettingsError

    if isinstance(error, SettingsError):
        field = re.search(r'field "([^"]+)"', str(error))
        name = field.group(1).upper() if field else "settings"
        return [(name, "not valid JSON")]
    return [
        (str(problem["loc"][0]).upper() if problem["loc"] else "settings", str(problem["msg"]))
        for problem in error.errors()
    ]


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--db`` option most commands take."""
    parser.add_argument("--db", help=DB_HELP)


def with_store(settings: Settings, run: Callable[[Store], int]) -> int:
    """Open the store, run ``run`` on it, close it; storage faults become one clear line."""
    from bot.errors import StorageError
    from handlers.console import describe_db
    from storage import open_store

    try:
        store = open_store(settings.servechain_db)
        try:
            return run(store)
        finally:
            store.close()
    except StorageError as error:
        print(f"servechain: the store {describe_db(settings.servechain_db)} failed: {error}", file=sys.stderr)
        return EXIT_FAILED


def write_binary(data: bytes, *, stdout: TextIO, stderr: TextIO, prog: str) -> int:
    """Write ``data`` (a PNG) to standard output's byte stream; a usage error when that is a
    terminal (an image would only garble it) or has no byte stream."""
    isatty = getattr(stdout, "isatty", None)
    if isatty is not None and isatty():
        print(
            f"{prog}: not writing a PNG image to the terminal; use --output FILE, or redirect: > chart.png",
            file=stderr,
        )
        return EXIT_USAGE
    binary = getattr(stdout, "buffer", None)
    if binary is None:
        print(f"{prog}: standard output takes no binary data; use --output FILE", file=stderr)
        return EXIT_USAGE
    stdout.flush()
    binary.write(data)
    binary.flush()
    return EXIT_OK
