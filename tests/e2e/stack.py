"""The pieces of the end-to-end set-up: the org, the Web Chat users, and the running bot server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.directline import DirectLineEmulator
from tests.pgserve import QUIET_CALENDAR

OUTPUT = Path(__file__).resolve().parent / "output"
WORKSPACE = "default"
ORG = """\
teams:
  - name: Sales
  - name: Finance
people:
  - handle: alice
    name: Alice Adams
    email: alice@example.com
    team: Sales
    tz: Europe/London
  - handle: bob
    name: Bob Brennan
    email: bob@example.com
    team: Finance
    tz: Europe/London
"""


@dataclass(frozen=True)
class WebChatUser:
    """A Web Chat user: the ids Web Chat sends, and what the member lookup says about them."""

    handle: str
    name: str

    @property
    def user_id(self) -> str:
        return f"webchat-{self.handle}"

    @property
    def aad_object_id(self) -> str:
        return f"aad-{self.handle}"

    @property
    def email(self) -> str:
        return f"{self.handle}@example.com"


ALICE = WebChatUser("alice", "Alice Adams")
BOB = WebChatUser("bob", "Bob Brennan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def servechain() -> list[str]:
    """The installed ``servechain`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("servechain")
    return [str(script)] if script.exists() else [sys.executable, "-m", "handlers.cli"]


def environment(db: Path) -> dict[str, str]:
    """This process's environment without any chat, dashboard or servechain setting, plus Teams without auth."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("SLACK_", "MICROSOFT_", "SERVECHAIN_", "DASHBOARD_"))
    }
    env.update(QUIET_CALENDAR)  # no wall-clock digest or pulse in the chats under test
    env.update(SERVECHAIN_TEAMS="1", MICROSOFT_APP_ID="", SERVECHAIN_DB=str(db), SERVECHAIN_LOG_LEVEL="INFO")
    return env


@dataclass
class Stack:
    """The bot server, its store and log, and the Direct Line emulator in front of it."""

    db: Path
    log: Path
    emulator: DirectLineEmulator
    server: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return self.emulator.url

    def stop_server(self) -> None:
        """Stop ``servechain serve`` (idempotent) so the store can be read safely."""
        stop(self.server)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``servechain serve`` on 127.0.0.1 and a free port with ``env``, its output in ``log``;
    the process and the port (not yet answering: see :func:`wait_until_healthy`)."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*servechain(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return server, port


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful shutdown), then kill if it takes too long; idempotent."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def wait_until_healthy(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"servechain serve exited with {server.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"servechain serve did not answer /healthz in {timeout:.0f}s:\n{log.read_text(errors='replace')}")
