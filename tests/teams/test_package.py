"""The Teams app manifest and the installable package built from it."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from handlers.runtime import ConfigError
from handlers.teams.package import PLACEHOLDER_ID, TEMPLATE_DIR, build_package
from tests.teams.conftest import teams_settings

APP_ID = "6b7d3c1e-0f3a-4b8e-9c55-2a1d9e8f7a10"
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _manifest() -> dict[str, Any]:
    return json.loads((TEMPLATE_DIR / "manifest.json").read_text())


def _png_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, color type) from a PNG's IHDR."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, color_type


def test_manifest_has_the_required_fields_of_a_current_schema() -> None:
    manifest = _manifest()
    version = float(manifest["manifestVersion"])
    assert version >= 1.17
    assert manifest["$schema"].endswith(f"/teams/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json")
    for required in ("manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor"):
        assert required in manifest, required
    assert SEMVER.match(manifest["version"])
    assert GUID.match(manifest["id"])
    developer = manifest["developer"]
    assert len(developer["name"]) <= 32
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert developer[url].startswith("https://")
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["name"]["full"]) <= 100
    assert len(manifest["description"]["short"]) <= 80 and len(manifest["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", manifest["accentColor"])
    [bot] = manifest["bots"]
    assert GUID.match(bot["botId"])
    assert set(bot["scopes"]) <= {"personal", "team", "groupChat"} and "personal" in bot["scopes"]
    for command_list in bot["commandLists"]:
        for command in command_list["commands"]:
            assert len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert {c["title"] for c in bot["commandLists"][0]["commands"]} >= {"request", "kudos", "digest"}


def test_icons_are_the_sizes_teams_asks_for() -> None:
    icons = _manifest()["icons"]
    color = _png_size((TEMPLATE_DIR / icons["color"]).read_bytes())
    outline = _png_size((TEMPLATE_DIR / icons["outline"]).read_bytes())
    assert color[:2] == (192, 192)
    assert outline == (32, 32, 6)  # RGBA: a transparent outline icon


def test_outline_icon_is_white_on_transparent() -> None:
    data = (TEMPLATE_DIR / _manifest()["icons"]["outline"]).read_bytes()
    chunks: list[bytes] = []
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        tag = data[position + 4 : position + 8]
        if tag == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    rows = [raw[y * (1 + 32 * 4) + 1 : (y + 1) * (1 + 32 * 4)] for y in range(32)]
    assert all(raw[y * (1 + 32 * 4)] == 0 for y in range(32))  # unfiltered rows, as written
    pixels = [row[x * 4 : x * 4 + 4] for row in rows for x in range(32)]
    assert {p[:3] for p in pixels} == {b"\xff\xff\xff"}
    assert pixels[0][3] == 0 and any(p[3] == 255 for p in pixels)


def test_package_takes_the_bot_id_from_settings(tmp_path: Path) -> None:
    path = build_package(teams_settings(microsoft_app_id=APP_ID), tmp_path)
    assert path == tmp_path / "servechain-teams.zip"
    with zipfile.ZipFile(path) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert package.read("color.png") == (TEMPLATE_DIR / "color.png").read_bytes()
    assert manifest["id"] == APP_ID
    assert [bot["botId"] for bot in manifest["bots"]] == [APP_ID]
    assert PLACEHOLDER_ID not in json.dumps(manifest)


def test_package_can_be_written_to_a_named_zip(tmp_path: Path) -> None:
    target = tmp_path / "out" / "app.zip"
    assert build_package(teams_settings(microsoft_app_id=APP_ID), target) == target
    assert zipfile.is_zipfile(target)


def test_package_needs_an_app_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MICROSOFT_APP_ID"):
        build_package(teams_settings(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_teams_package_writes_the_zip_or_says_what_to_set(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import zipfile

    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSOFT_")}
    cli = [sys.executable, "-m", "handlers.cli", "teams", "package", "--output", str(tmp_path)]
    missing = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "MICROSOFT_APP_ID" in missing.stderr
    app_id = "11111111-2222-3333-4444-555555555555"
    done = subprocess.run(cli, capture_output=True, text=True, env={**env, "MICROSOFT_APP_ID": app_id}, check=True)
    zip_path = tmp_path / "servechain-teams.zip"
    assert str(zip_path) in done.stdout
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert app_id in archive.read("manifest.json").decode()
