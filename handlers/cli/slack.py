"""``servechain slack manifest``: the Slack app manifest to paste into "Create New App > From an app manifest"."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from handlers.cli.common import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands


def register(commands: Commands) -> None:
    """Add ``slack manifest`` to the command line."""
    slack = commands.add_parser("slack", help="Slack app set-up", description="Slack app set-up.")
    slack_commands = slack.add_subparsers(dest="slack_command", metavar="<slack command>", required=True)
    manifest = slack_commands.add_parser(
        "manifest",
        help="print the Slack app manifest (Socket Mode, or HTTP mode with --url)",
        description="Print the Slack app manifest as YAML, to paste at https://api.slack.com/apps > Create New App "
        "> From an app manifest. Without --url it is for Socket Mode (servechain serve --socket); with "
        "--url https://HOST it is for HTTP mode, every request URL set to https://HOST/slack/events.",
    )
    mode = manifest.add_mutually_exclusive_group()
    mode.add_argument("--url", metavar="https://HOST", help="public https address of servechain serve (HTTP mode)")
    mode.add_argument("--socket", action="store_true", help="Socket Mode (the default without --url)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Print the manifest for the mode asked for."""
    del settings  # the manifest doesn't depend on the settings
    from handlers.slack.manifest import ManifestUrlError, manifest_for, render

    try:
        manifest = manifest_for(url=args.url, socket=args.socket)
    except ManifestUrlError as error:
        print(f"servechain slack manifest: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render(manifest))
    return EXIT_OK
