"""``servechain teams package``: the installable Teams app zip (manifest.json plus both icons).

``handlers/teams/app_package/manifest.json`` (shipped in the wheel) carries a placeholder app id (the zero GUID); the
package gets ``MICROSOFT_APP_ID`` as the app id and the bot id, so one template serves every
installation.
"""

from __future__ import annotations

import json
import zipfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from bot.settings import Settings
from handlers.runtime import ConfigError

TEMPLATE_DIR: Traversable = resources.files("handlers.teams.app_package")
"""The manifest template and icons, read with importlib.resources so an installed wheel has them."""
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
PACKAGE_NAME = "servechain-teams.zip"


def manifest_for(settings: Settings, template_dir: Traversable = TEMPLATE_DIR) -> dict[str, Any]:
    """The manifest with the app id and bot id taken from the settings."""
    app_id = settings.microsoft_app_id.strip()
    if not app_id:
        raise ConfigError("Set MICROSOFT_APP_ID (the bot's Microsoft app id) before building the Teams package.")
    manifest: dict[str, Any] = json.loads((template_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    return manifest


def build_package(settings: Settings, output: Path, *, template_dir: Traversable = TEMPLATE_DIR) -> Path:
    """Write the app package; ``output`` is the zip path or a folder to put ``servechain-teams.zip`` in."""
    manifest = manifest_for(settings, template_dir)
    target = output / PACKAGE_NAME if output.is_dir() or not output.suffix else output
    target.parent.mkdir(parents=True, exist_ok=True)
    icons = [manifest["icons"]["color"], manifest["icons"]["outline"]]
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for icon in icons:
            package.writestr(icon, (template_dir / icon).read_bytes())
    return target
