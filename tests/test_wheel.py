"""The wheel is the product: built from a clean copy of the tree and installed in a fresh venv
outside the checkout, it runs the console on the sample org, writes the Teams package and
migrates a fresh PostgreSQL database. Everything else in the suite runs from an editable
install, which can't notice a data file missing from the wheel.

pip installs the dependencies from the package registry (or its cache); without either the
test skips, naming why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "servechain.json*",
    "node_modules",
)
APP_ID = "6b7d3c1e-0f3a-4b8e-9c55-2a1d9e8f7a10"
OFFLINE = (
    "Could not find a version",
    "NewConnectionError",
    "Failed to establish",
    "No matching distribution",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


def _run(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """(the venv's bin folder, a clean environment) with the freshly built wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "dist"), str(source)], cwd=work)
    output = built.stdout + built.stderr
    if built.returncode != 0 and any(sign in output for sign in OFFLINE):
        pytest.skip(f"the package registry is unreachable, so the build backend can't be fetched: {output[-300:]}")
    assert built.returncode == 0, output
    assert "deprecat" not in output.lower(), f"the build warns:\n{output}"
    wheel = next((work / "dist").glob("servechain-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in (
        "storage/migrations/0001_initial.sql",
        "handlers/teams/app_package/manifest.json",
        "handlers/teams/app_package/color.png",
        "handlers/samples/org.yml",
        "handlers/samples/org.csv",
        "handlers/slack/manifest.yml",
        "handlers/dashboard/static/dashboard.js",
        "handlers/dashboard/static/dashboard.css",
    ):
        assert shipped in names, f"{shipped} is not in the wheel"
    assert not any(name.startswith("tests/") for name in names), "the tests are not part of the package"

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work, timeout=120).check_returncode()
    bin_dir = venv / "bin"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env = {key: value for key, value in env.items() if not key.startswith(("SERVECHAIN_", "SLACK_", "MICROSOFT_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    install = _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)],
        cwd=work,
        env=env,
        timeout=540,
    )
    output = install.stdout + install.stderr
    if install.returncode != 0 and any(sign in output for sign in OFFLINE):
        pytest.skip(f"the package registry is unreachable, so the dependencies can't be installed: {output[-300:]}")
    assert install.returncode == 0, output
    assert "deprecat" not in output.lower(), f"installing warns:\n{output}"
    where = _run(
        [str(bin_dir / "python"), "-c", "import handlers, storage; print(handlers.__file__)"], cwd=work, env=env
    )
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout, where.stdout + where.stderr
    yield bin_dir, env


def test_the_installed_console_runs_on_the_sample_org(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    script = "as alice\n/request @bob need the Q3 numbers by friday\nas bob\nclick acknowledge R-1\n"
    result = _run([str(bin_dir / "servechain"), "console", "--db", "store.json"], cwd=tmp_path, env=env, stdin=script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Loaded 19 people and 3 teams from the sample org." in result.stderr
    assert "[to bob]" in result.stdout and "R-1" in result.stdout


def test_the_installed_command_writes_the_teams_package(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    result = _run(
        [str(bin_dir / "servechain"), "teams", "package", "--output", "out"],
        cwd=tmp_path,
        env={**env, "MICROSOFT_APP_ID": APP_ID},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(tmp_path / "out" / "servechain-teams.zip") as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert APP_ID in package.read("manifest.json").decode()


def test_the_installed_command_prints_the_slack_manifest(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = installed
    result = _run(
        [str(bin_dir / "servechain"), "slack", "manifest", "--url", "https://bot.example.com"], cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "request_url: https://bot.example.com/slack/events" in result.stdout


@pytest.mark.postgres
def test_the_installed_command_migrates_a_fresh_postgres_database(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = installed
    shipped = sorted(p.name for p in (ROOT / "storage" / "migrations").glob("*.sql"))
    with fresh_database("servechain_wheel") as url:
        result = _run([str(bin_dir / "servechain"), "db", "upgrade"], cwd=tmp_path, env={**env, "SERVECHAIN_DB": url})
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == f"Applied {', '.join(shipped)}."
        again = _run([str(bin_dir / "servechain"), "db", "upgrade"], cwd=tmp_path, env={**env, "SERVECHAIN_DB": url})
        assert again.stdout.strip() == "The schema is up to date."
