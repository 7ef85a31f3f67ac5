"""Shared fixtures: a real TinyDB store in a temp folder and a small org."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import Person, Team
from bot.ports import Store

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday


def small_org(workspace: str = "default") -> tuple[list[Person], list[Team]]:
    """alice (sales) asks bob (finance); carol is bob's teammate; dave manages finance; erin is unrelated."""
    teams = [
        Team(id="T-sales", workspace=workspace, name="Sales", manager_id="P-frank"),
        Team(id="T-fin", workspace=workspace, name="Finance", manager_id="P-dave"),
    ]

    def person(handle: str, team: str, manager: str | None, tz: str = "Europe/London", **kw: object) -> Person:
        return Person(
            id=f"P-{handle}",
            workspace=workspace,
            handle=handle,
            name=handle.capitalize(),
            email=f"{handle}@example.com",
            tz=tz,
            team_id=team,
            manager_id=manager,
            **kw,  # type: ignore[arg-type]
        )

    people = [
        person("alice", "T-sales", "P-frank", "America/New_York"),
        person("bob", "T-fin", "P-dave"),
        person("carol", "T-fin", "P-dave", "Asia/Tokyo"),
        person("dave", "T-fin", "P-grace"),
        person("erin", "T-sales", "P-frank"),
        person("frank", "T-sales", "P-grace"),
        person("grace", "T-fin", None),
        person("robot", "T-sales", None, is_bot=True),
    ]
    return people, teams


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh embedded store on a real file."""
    from storage.tinydb_store import TinyDBStore

    s = TinyDBStore(tmp_path / "servechain.json")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def org_store(store: Store) -> Store:
    """The store with :func:`small_org` loaded."""
    people, teams = small_org()
    store.save_org(people, teams)
    return store


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One visible line when the PostgreSQL tests were skipped, instead of one per test."""
    from tests.pg import skipped_reason

    for reason in skipped_reason:
        terminalreporter.write_line(f"PostgreSQL tests skipped: {reason}", yellow=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this session's PostgreSQL test database."""
    from tests.pg import drop_created

    drop_created()
