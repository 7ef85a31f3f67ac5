"""The Slack app manifest: ``handlers/slack/manifest.yml`` (shipped in the wheel) is the one source.

``tests/slack/test_manifest.py`` keeps that file in step with what the listeners register and the
Web API methods called; ``servechain slack manifest`` prints it for Socket Mode (as written) or
for HTTP mode with every request URL filled in, and ``servechain doctor`` compares a token's
scopes with its bot scopes.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

from handlers.slack.frontend import EVENTS_PATH


class ManifestUrlError(ValueError):
    """The ``--url`` given can't be a Slack request URL; the message says why."""


def load_manifest() -> dict[str, Any]:
    """The manifest as shipped (Socket Mode, no request URLs)."""
    text = (resources.files("handlers.slack") / "manifest.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "handlers/slack/manifest.yml must be a mapping"
    return data


def bot_scopes(manifest: dict[str, Any] | None = None) -> set[str]:
    """The bot scopes the app asks for."""
    manifest = manifest if manifest is not None else load_manifest()
    return set(manifest["oauth_config"]["scopes"]["bot"])


def request_url(base: str) -> str:
    """``https://HOST[/prefix]`` → ``https://HOST[/prefix]/slack/events``; ManifestUrlError if it isn't https."""
    parts = urlsplit(base.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ManifestUrlError(
            f"--url must be the public https address of servechain serve, e.g. https://bot.example.com (got {base!r}); "
            "Slack only sends requests to https URLs"
        )
    if parts.query or parts.fragment:
        raise ManifestUrlError(f"--url takes no query or fragment (got {base!r})")
    path = parts.path.rstrip("/")
    if not path.endswith(EVENTS_PATH):
        path += EVENTS_PATH
    return f"https://{parts.netloc}{path}"


def manifest_for(*, url: str | None = None, socket: bool = False) -> dict[str, Any]:
    """The manifest for Socket Mode (``socket`` or no ``url``) or HTTP mode at ``url``.

    HTTP mode turns Socket Mode off and points the slash commands, interactivity and event
    subscriptions at ``<url>/slack/events``, the one route ``servechain serve`` mounts.
    """
    if url is not None and socket:
        raise ManifestUrlError("give --url (HTTP mode) or --socket (Socket Mode), not both")
    manifest = copy.deepcopy(load_manifest())
    settings = manifest["settings"]
    if url is None:
        settings["socket_mode_enabled"] = True
        return manifest
    endpoint = request_url(url)
    settings["socket_mode_enabled"] = False
    for command in manifest["features"].get("slash_commands", []):
        command["url"] = endpoint
    settings["interactivity"]["request_url"] = endpoint
    settings.setdefault("event_subscriptions", {})["request_url"] = endpoint
    return manifest


def render(manifest: dict[str, Any]) -> str:
    """YAML in the manifest's own key order, ready to paste into Slack's "From an app manifest"."""
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
