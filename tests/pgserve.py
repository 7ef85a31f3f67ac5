"""Kit for black-box tests of ``servechain serve`` on PostgreSQL: a database of its own owned by
a role with a password (trust auth accepts any password, but the URL carries it, so every place
that could leak it is exercised), and the server as a child process on an ephemeral port."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from tests.fakes.slack_api import FakeSlackApi
from tests.pg import postgres_url
from tests.slack.conftest import signed_slash_command


@contextmanager
def own_database(password: str) -> Iterator[str]:
    """A fresh database owned by a fresh login role with ``password``; yields its URL (password
    in it) and drops both afterwards."""
    admin = conninfo.make_conninfo(postgres_url(), dbname="postgres", connect_timeout="3")
    tag = f"{os.getpid()}_{secrets.token_hex(3)}"
    role, dbname = f"sc_role_{tag}", f"servechain_serve_{tag}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(role)))
    host = conninfo.conninfo_to_dict(postgres_url()).get("host", "127.0.0.1")
    port = conninfo.conninfo_to_dict(postgres_url()).get("port", "5432")
    try:
        yield f"postgresql://{role}:{password}@{host}:{port}/{dbname}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def admin_connection(url: str) -> psycopg.Connection[Any]:
    """A superuser connection to the server of ``url`` (to terminate its backends)."""
    return psycopg.connect(
        conninfo.make_conninfo(postgres_url(), dbname="postgres", connect_timeout="3"), autocommit=True
    )


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


QUIET_CALENDAR = {"DIGEST": '{"enabled": false}', "PULSE": '{"enabled": false}'}
"""A served drill's settings unless it says otherwise: no weekly digest or pulse from the wall
clock, so a drill that waits for the outbox to drain doesn't find a Monday-morning digest to a
manager with no chat account waiting there (they failed every Monday after 09:00 London)."""


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without any servechain, Slack or Microsoft setting, plus ``settings``
    (digest and pulse off unless ``settings`` turns them on: :data:`QUIET_CALENDAR`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SERVECHAIN_", "MICROSOFT_"))}
    env.update(QUIET_CALENDAR)
    env.update(settings)
    return env


def servechain(*args: str, env: dict[str, str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the ``servechain`` CLI to the end."""
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Serve:
    """``servechain serve`` as a child process on 127.0.0.1 and a free port."""

    def __init__(self, env: dict[str, str], *, cwd: Path, log: Path) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "handlers.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = log.open("ab")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)
        self._wait_ready()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "servechain serve exited at start-up"
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("servechain serve did not come up")

    def health(self) -> tuple[int, dict[str, Any], float]:
        """``/healthz``: status, body and seconds taken."""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=10) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, json.loads(body), time.monotonic() - started

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST to the server; the HTTP status."""
        request = urllib.request.Request(f"{self.base}{path}", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def command(
        self,
        fake: FakeSlackApi,
        user: str,
        text: str,
        trigger: str,
        *,
        secret: str,
        command: str = "/request",
        reply_to: str | None = None,
    ) -> int:
        """A slash command signed with ``secret``; the HTTP status."""
        body, headers = signed_slash_command(
            fake,
            user=user,
            text=text,
            trigger=trigger,
            reply_to=reply_to or f"cmd-{trigger}",
            command=command,
            secret=secret,
        )
        return self.post("/slack/events", body, headers)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()
