"""``servechain serve``: the Slack and Teams bot server."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from handlers.cli.common import EXIT_FAILED

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``serve`` to the command line."""
    serve = commands.add_parser(
        "serve", help="run the Slack and Teams bot server", description="Run the Slack and Teams bot server."
    )
    serve.add_argument("--socket", action="store_true", help="connect to Slack with Socket Mode")
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT, else 3000)")
    serve.add_argument("--host", help="interface to bind (default: $HOST, else 0.0.0.0)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until stopped; a missing server module is one clear line, not a traceback."""
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
