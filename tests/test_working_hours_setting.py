"""The deployment's WORKING_HOURS reach every figure, through the real front ends: the console and
the CLI as separate processes reading the setting from the environment, like a deployment.

The week here is Sunday to Thursday, 07:00-15:00: the built-in one (Monday to Friday, 09:00-18:00)
gives a different answer for every figure checked, so a path that forgets the setting fails.
Bob (the provider) works in New York, Alice (the requester) in London, Hana (Bob's manager) in Tokyo.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers import cli

SUNDAY_TO_THURSDAY = json.dumps({"start": "07:00", "end": "15:00", "weekdays": [6, 0, 1, 2, 3]})

SESSION = """\
clock 2026-11-26T12:00:00+00:00
as alice
/request @bob need Q3 numbers by 2026-11-26 14:00
clock 2026-11-26T15:55:00+00:00
tick
clock 2026-11-26T16:05:00+00:00
tick
clock 2026-11-27T14:00:00+00:00
as hana
click nudge R-1
clock 2026-11-28T14:00:00+00:00
click nudge R-1
clock 2026-11-30T13:00:00+00:00
as bob
click acknowledge R-1
/request queue
home
"""
"""Thursday 07:00 in New York Alice asks Bob for something due 09:00 his time; Bob's manager nudges
him on Friday and tries again on Saturday; Bob acknowledges on Monday at 08:00."""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVECHAIN_") and k != "WORKING_HOURS"}
    env.update(extra)
    return env


def _console(tmp_path: Path, script: str, **env: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "console", "--db", "hours.json"],
        cwd=tmp_path,
        input=script,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The session above, played once in a real console process with the setting in its environment."""
    folder = tmp_path_factory.mktemp("hours")
    return folder, _console(folder, SESSION, WORKING_HOURS=SUNDAY_TO_THURSDAY)


def _after(lines: list[str], marker: str) -> list[str]:
    return lines[lines.index(marker) + 1 :]


def _clock(moment: str) -> str:
    """What the console prints when its clock is set to ``moment`` (UTC)."""
    return f"The clock is now {moment}+00:00."


def _between(lines: list[str], start: str, end: str) -> list[str]:
    """The lines printed between setting the clock to ``start`` and to ``end``."""
    return lines[lines.index(_clock(start)) + 1 : lines.index(_clock(end))]


def test_the_unacknowledged_nudge_comes_after_four_hours_of_the_configured_day(
    session: tuple[Path, list[str]],
) -> None:
    """Bob's day starts at 07:00 (12:00 UTC): four working hours end at 16:00 UTC, not at 18:00."""
    _folder, lines = session
    first_tick = _between(lines, "2026-11-26T15:55", "2026-11-26T16:05")
    second_tick = _between(lines, "2026-11-26T16:05", "2026-11-27T14:00")

    assert not any("not acknowledged after 4h" in line for line in first_tick), first_tick
    assert any("from alice: not acknowledged after 4h of your working time" in line for line in second_tick), (
        second_tick
    )


def test_a_managers_nudge_on_a_day_off_counts_for_the_next_working_day(session: tuple[Path, list[str]]) -> None:
    """Friday and Saturday are Bob's weekend: the Friday nudge counts for Sunday, so Saturday's is one
    too many (with the built-in week Friday was a working day and Saturday's nudge went through)."""
    _folder, lines = session
    friday = _after(lines, _clock("2026-11-27T14:00"))
    saturday = _after(lines, _clock("2026-11-28T14:00"))

    assert "[to hana] You nudged bob about R-1; it is in its history." in friday
    assert saturday[0] == (
        "[to hana] Hana Sato already nudged bob about R-1 on Fri 27 Nov 09:00 (their time): one nudge a "
        "working day. You can nudge again from Sun 29 Nov 15:00, their time."
    )


def test_the_overdue_label_counts_the_configured_hours_on_every_card_and_list(
    session: tuple[Path, list[str]],
) -> None:
    """Due Thursday 09:00 in New York, acknowledged Monday 08:00: Thursday 09-15, Sunday 07-15 and
    Monday 07-08 are 15 working hours (the built-in week counts Thursday and Friday: 18); in London
    Thursday 14-15, Sunday 07-15 and Monday 07-13 are 15 as well."""
    _folder, lines = session
    monday = _after(lines, _clock("2026-11-30T13:00"))

    assert (
        "[to bob] R-1 · alice → bob · acknowledged · due Thu 26 Nov 09:00 EST · ⚠️ overdue by 15 working h"
        " · you can: start, done, decline, handoff, propose"
    ) in monday
    assert (
        "[to alice] R-1 · alice → bob · acknowledged · due Thu 26 Nov 14:00 GMT · ⚠️ overdue by 15 working h"
        " · you can: ask_update, propose, cancel"
    ) in monday
    assert "  R-1 ← alice · acknowledged · due Thu 26 Nov 09:00 · ⚠️ overdue by 15 working h · need Q3 numbers" in (
        monday
    )
    assert "    R-1 from Alice Adams · acknowledged · due Thu 26 Nov 09:00 · ⚠️ overdue by 15 working h" in monday


def test_the_home_figures_count_the_configured_hours(session: tuple[Path, list[str]]) -> None:
    """Asked Thursday 07:00, acknowledged Monday 08:00 in New York: Thursday 07-15, Sunday 07-15 and
    Monday 07-08 are 17 working hours (the built-in week: Thursday 09-18 and Friday, 18)."""
    _folder, lines = session
    home = _after(lines, "[to bob] Your home (what the App Home shows)")

    assert "    Median time to acknowledge: 17 h · Promises kept: 0 of 1" in home


class _Monday(datetime):
    """The CLI's clock, pinned: Monday 30 Nov 2026 10:00 UTC (05:00 in New York)."""

    @classmethod
    def now(cls, tz: object = None) -> _Monday:  # type: ignore[override]
        return cls(2026, 11, 30, 10, tzinfo=UTC)


def test_the_cli_counts_the_configured_hours_in_stats_and_the_chain(
    session: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``servechain stats`` and ``servechain chain R-1`` read WORKING_HOURS like ``serve`` does. At
    Monday 05:00 in New York the open R-1 has waited Thursday 07-15 and Sunday 07-15: 16 working
    hours (the built-in week: Thursday 09-18 and Friday, 18)."""
    folder, _lines = session
    for name in [n for n in os.environ if n.startswith("SERVECHAIN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WORKING_HOURS", SUNDAY_TO_THURSDAY)
    monkeypatch.setattr(cli, "datetime", _Monday)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)  # the CLI's, not for this test process
    db = str(folder / "hours.json")

    assert cli.main(["stats", "@bob", "--db", db]) == 0
    stats = capsys.readouterr().out.splitlines()
    assert cli.main(["chain", "R-1", "--db", db]) == 0
    chain = capsys.readouterr().out.splitlines()

    assert "  To acknowledge: median 17h · p90 17h (1 acknowledged, 0 still waiting)" in stats
    assert chain[0].startswith("R-1 · acknowledged · alice is waiting on bob (16h so far) · "), chain
