"""The local console and the servechain CLI: piped sessions in real subprocesses on real TinyDB
files, plus in-process tests of the line handler's error paths."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StorageError
from bot.models import Action, ActionId, Fact, Message, Person
from bot.org import import_org
from bot.ports import Store
from bot.settings import Settings
from handlers import cli
from handlers.console import Console, ConsoleNotifier, render_text, run_console

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CSV = ROOT / "handlers" / "samples" / "org.csv"
MONDAY = "2026-11-23T09:00:00+00:00"

LIFE = f"""\
# a whole request life, as three people
clock {MONDAY}
as alice
/request @bob need Q3 numbers by friday
as bob
/request queue
click acknowledge R-1
click handoff R-1 @carol she owns the warehouse tables
click acknowledge R-1
click handoff R-1
as carol
click done R-1 numbers are in the shared sheet
as alice
click rate R-1 2 friendliness=2 too slow
as carol
click recover R-1 we will send the numbers on the first of each month
as alice
click follow_up R-1 yes
/request list
/request show R-1
/kudos @bob thanks for the quick hand-off
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVECHAIN_") and k not in ("PORT", "HOST")}
    env.update(extra)
    return env


def _servechain(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        cwd=cwd,
        input=stdin,
        env=env if env is not None else _clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _in_order(output: str, *expected: str) -> None:
    """Each expected line occurs in ``output``, in this order."""
    lines = output.splitlines()
    position = 0
    for line in expected:
        assert line in lines[position:], f"{line!r} not found after line {position}:\n{output}"
        position = lines.index(line, position) + 1


# --------------------------------------------------------------------------- real subprocesses


def test_a_piped_session_runs_a_request_from_ask_to_follow_up(tmp_path: Path) -> None:
    result = _servechain("console", "--db", "life.json", cwd=tmp_path, stdin=LIFE)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    _in_order(
        out,
        "You are now alice (Alice Adams, Sales).",
        "[to alice] Sent R-1 to Bob Brennan (bob), due Fri 27 Nov 17:00.",
        "[to bob] R-1 from Alice Adams",
        "  need Q3 numbers",
        "    Acknowledge: click acknowledge R-1",
        "    Hand off: click handoff R-1 @handle <context note>",
        "[to alice] R-1 to Bob Brennan: open",
        "    Cancel request: click cancel R-1 [reason]",
        "You are now bob (Bob Brennan, Finance).",
        "[to bob] Waiting on you (soonest due first):",
        "[to bob] You acknowledged R-1.",
        # an update of a card is one line; the card itself was printed whole when it was sent
        "[to bob] R-1 · alice → bob · acknowledged · due Fri 27 Nov 12:00 EST"
        " · you can: start, done, decline, handoff, propose",
        "[to alice] R-1 · alice → bob · acknowledged · due Fri 27 Nov 17:00 GMT · you can: ask_update, propose, cancel",
        "[to alice] R-1: bob acknowledged",
        "[to bob] You handed R-1 off to carol, with the full history.",
        "[to carol] R-1 from Alice Adams",
        '[to carol] R-1 is yours now: bob handed off to carol: "she owns the warehouse tables"',
        "[to bob] Only carol can acknowledge R-1.",
        "[to bob] Usage: click handoff R-<n> @handle <context note>",
        "[to carol] You finished R-1. alice will be asked to rate it.",
        "[to carol] R-1 · alice → carol · done · due Sat 28 Nov 02:00 JST",
        "[to alice] R-1 · alice → carol · done · due Fri 27 Nov 17:00 GMT · you can: thank, reopen",
        "[to alice] How did Carol Chen do on R-1?",
        "    Rate: click rate R-1 <1-5> [need=score ...] [comment]",
        "[to alice] Thanks for rating R-1.",
        "[to carol] Alice Adams rated R-1 2/5",
        '  They said: "too slow". Please acknowledge it and tell them what you\'ll do about it.',
        "    Here's what we'll do: click recover R-1 <what we'll do>",
        "[to alice] R-1: Sorry it didn't go well. Carol Chen has been asked to follow up.",
        "[to carol] Thanks. alice will see what you plan to do and be asked again.",
        "[to alice] Carol Chen answered your rating of R-1",
        "    Yes, thanks: click follow_up R-1 yes",
        "[to alice] Thanks for letting us know.",
        "[to carol] R-1: alice is satisfied now",
        "[to alice] Your requests (newest first):",
        "  R-1 → carol · done · due Fri 27 Nov 17:00 · need Q3 numbers",
        "[to alice] R-1: done",
        "[to alice] R-1 to Carol Chen: done",
        "    Mon 23 Nov 09:00 · alice rated it 2/5",
        "[to alice] Kudos sent to Bob Brennan. (1/5 today)",
        "[to bob] Kudos from Alice Adams!",
        "  thanks for the quick hand-off",
    )
    assert "(updated)" not in out  # request cards are printed whole once; `show R-1` prints one again
    assert "servechain (" not in out  # no prompt when stdin is not a terminal
    assert "Loaded 19 people and 3 teams from" in result.stderr


def test_the_store_keeps_the_conversation_between_sessions(tmp_path: Path) -> None:
    first = _servechain(
        "console",
        "--db",
        "kept.json",
        cwd=tmp_path,
        stdin=f"clock {MONDAY}\nas alice\n/request @bob need Q3 numbers by friday\n",
    )
    assert first.returncode == 0, first.stderr

    second = _servechain(
        "console", "--db", "kept.json", cwd=tmp_path, stdin=f"clock {MONDAY}\nas bob\n/request queue\n"
    )

    assert second.returncode == 0, second.stderr
    assert "  R-1 ← alice · open · due Fri 27 Nov 12:00 · need Q3 numbers" in second.stdout.splitlines()
    assert "Loaded" not in second.stderr  # people exist, so the sample org is not loaded again


def test_console_reads_the_db_path_from_the_environment(tmp_path: Path) -> None:
    result = _servechain(
        "console", cwd=tmp_path, stdin="as alice\n", env=_clean_env(SERVECHAIN_DB=str(tmp_path / "env.json"))
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.json").exists()
    assert not (tmp_path / "servechain.json").exists()


def test_console_imports_the_org_file_given_with_org(tmp_path: Path) -> None:
    org = tmp_path / "tiny.csv"
    org.write_text(
        "handle,name,email,team,manager,time_zone\nann,Ann Lee,ann@example.com,Ops,,UTC\n"
        "ben,Ben Ode,ben@example.com,Ops,ann,Asia/Tokyo\n"
    )

    result = _servechain("console", "--db", "tiny.json", "--org", str(org), cwd=tmp_path, stdin="who\nas ben\n")

    assert result.returncode == 0, result.stderr
    assert "You are now ben (Ben Ode, Ops)." in result.stdout
    assert "alice" not in result.stdout
    assert f"Loaded 2 people and 1 teams from {org}." in result.stderr


def test_console_refuses_an_invalid_org_file_and_exits_2(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "data" / "org" / "bad.csv"
    result = _servechain("console", "--db", "bad.json", "--org", str(bad), cwd=tmp_path, stdin="who\n")

    assert result.returncode == 2
    assert f"{bad}:4: field 'manager': unknown handle 'zed'" in result.stderr.splitlines()
    assert result.stdout == ""


def test_servechain_help_lists_the_subcommands(tmp_path: Path) -> None:
    result = _servechain("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("console", "org", "serve"):
        assert command in result.stdout


def test_a_malformed_setting_exits_with_one_line_naming_it(tmp_path: Path) -> None:
    result = _servechain("org", "import", str(EXAMPLE_CSV), cwd=tmp_path, env=_clean_env(PORT="not-a-port"))

    assert result.returncode == 2
    assert result.stderr.strip().startswith("servechain: bad setting PORT:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_log_level_is_named(tmp_path: Path) -> None:
    result = _servechain("console", cwd=tmp_path, env=_clean_env(SERVECHAIN_LOG_LEVEL="chatty"))
    assert result.returncode == 2
    assert "SERVECHAIN_LOG_LEVEL" in result.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_with_a_terminal_the_console_prompts_with_the_current_person(tmp_path: Path) -> None:
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "console", "--db", "tty.json"],
        cwd=tmp_path,
        env=_clean_env(TERM="dumb"),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    os.write(controller, b"as alice\nquit\n")
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed when the process exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0
    shown = b"".join(chunks).decode()
    assert "servechain> " in shown
    assert "servechain (alice)> " in shown


# --------------------------------------------------------------------------- in process


@pytest.fixture
def console(store: Store) -> Console:
    import_org(store=store, path=EXAMPLE_CSV)
    session = Console(store=store, out=io.StringIO(), clock=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))
    return session


def said(console: Console, *lines: str) -> list[str]:
    """Run lines through the console's line handler and return what it printed."""
    out = console.out
    assert isinstance(out, io.StringIO)
    start = len(out.getvalue())
    for line in lines:
        assert console.handle_line(line) is True
    return out.getvalue()[start:].splitlines()


def test_commands_need_someone_to_speak_as_first(console: Console) -> None:
    assert said(console, "/request @bob need numbers") == [
        "Pick who you are first: as <handle> (type who to see everyone)."
    ]


def test_switching_to_an_unknown_person_lists_who_is_here(console: Console) -> None:
    [line] = said(console, "as zed")
    assert line.startswith("I don't know 'zed'. People here: alice, bob, carol,")
    assert line.endswith("Type who for details.")
    assert console.actor() is None


def test_switching_tolerates_an_at_sign_and_capitals(console: Console) -> None:
    assert said(console, "as @Morgan") == ["You are now morgan (Morgan Reyes)."]


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("click acknowledge", "click acknowledge R-<n>"),
        ("click acknowledge R-1 right away", "click acknowledge R-<n>"),
        ("click decline R-1", "click decline R-<n> <reason> -- <@handle | R-<m> | option | none: why>"),
        ("click decline R-1 -- ask ivan", "click decline R-<n> <reason> -- <@handle | R-<m> | option | none: why>"),
        ("click handoff R-1 carol needs a note", "click handoff R-<n> @handle <context note>"),
        ("click handoff R-1 @carol", "click handoff R-<n> @handle <context note>"),
        ("click reassign R-1", "click reassign R-<n> @handle [note]"),
        ("click rate R-1", "click rate R-<n> <1-5> [need=score ...] [comment]"),
        ("click rate R-1 6", "click rate R-<n> <1-5> [need=score ...] [comment]"),
        ("click recover R-1", "click recover R-<n> <what we'll do>"),
        ("click follow_up R-1 maybe", "click follow_up R-<n> yes|no [note]"),
        ("click comment R-1", "click comment R-<n> <text>"),
        ("click done seven", "click done R-<n> [resolution]"),
        ("click nudge R-1 now please", "click nudge R-<n>"),
        ("click extend R-1 friday", "click extend R-<n> <when> -- <reason>"),
        ("click extend R-1 -- the audit", "click extend R-<n> <when> -- <reason>"),
    ],
)
def test_bad_click_syntax_prints_the_usage_of_that_action(console: Console, line: str, usage: str) -> None:
    said(console, "as alice")
    assert said(console, line) == [f"[to alice] Usage: {usage}"]


def test_an_unknown_button_lists_the_actions(console: Console) -> None:
    said(console, "as alice")
    [line] = said(console, "click approve R-1")
    assert line.startswith("[to alice] There's no 'approve' button. The actions are: acknowledge, start, done,")


def test_rating_names_unknown_needs_and_bad_scores(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as bob", "click done R-1", "as alice")
    assert said(console, "click rate R-1 4 speed=5") == [
        "[to alice] There's no need called 'speed'. The needs are: "
        "friendliness, empathy, fairness, options, control, information."
    ]
    assert said(console, "click rate R-1 4 empathy=9") == ["[to alice] Score empathy from 1 to 5, e.g. empathy=4."]
    assert said(console, "click rate R-1 5 empathy=5 options=4 lovely")[0] == "[to alice] Thanks for rating R-1."
    rating = console.store.get_request("default", 1).rating  # type: ignore[union-attr]
    assert rating is not None
    assert (rating.score, rating.needs, rating.comment) == (5, {"empathy": 5, "options": 4}, "lovely")


def test_decline_takes_a_reason_and_an_alternative(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as bob")
    assert said(console, "click decline R-1 not my area -- ask ivan")[0] == (
        "[to bob] You declined R-1; alice has been told why, with your alternative."
    )
    declined = console.store.get_request("default", 1).events[-1]  # type: ignore[union-attr]
    assert (declined.note, declined.alternative) == ("not my area", "ask ivan")


def test_handoff_to_an_unknown_handle_says_so(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as bob")
    assert said(console, "click handoff R-1 @zed over to you") == [
        "[to bob] I don't know @zed. Type who to see everyone's handle."
    ]


def test_a_request_someone_cannot_see_is_not_found(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as raj")
    assert said(console, "click done R-1") == ["[to raj] I can't find R-1."]


def test_the_bare_request_command_explains_there_are_no_forms(console: Console) -> None:
    said(console, "as alice")
    lines = said(console, "/request")
    assert lines[0] == "[to alice] The console has no forms; type the whole request on one line."
    assert "  Usage:" in lines


def test_blank_lines_and_comments_print_nothing_and_quit_ends(console: Console) -> None:
    assert said(console, "", "   ", "# a comment") == []
    assert console.handle_line("quit") is False
    assert console.handle_line("EXIT") is False


def test_unknown_commands_point_to_help(console: Console) -> None:
    assert said(console, "dance") == ["I don't know 'dance'. Type help to see what you can do."]
    assert "  click <action> R-<n> ...      press a button on a card:" in said(console, "help")


def test_the_clock_can_be_set_moved_and_reset(console: Console) -> None:
    assert said(console, "clock 2026-12-01T08:30") == ["The clock is now 2026-12-01T08:30+00:00."]
    assert said(console, "clock +2h") == ["The clock is now 2026-12-01T10:30+00:00."]
    assert said(console, "clock") == ["The clock says 2026-12-01T10:30+00:00 (simulated)."]
    assert said(console, "clock yesterday")[0].startswith("Usage: clock <ISO-8601 datetime>")
    assert said(console, "clock real") == ["The clock follows real time again."]
    assert console.now() == datetime(2026, 11, 23, 9, tzinfo=UTC)


class FaultyStore:
    """A real store whose named methods fail the way a broken disk or a bug would."""

    def __init__(self, inner: Store, failures: dict[str, BaseException]) -> None:
        self._inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        if name in self.failures:
            failure = self.failures[name]

            def fail(*args: object, **kwargs: object) -> None:
                raise failure

            return fail
        return getattr(self._inner, name)


def test_a_storage_fault_is_reported_and_the_console_keeps_going(store: Store) -> None:
    import_org(store=store, path=EXAMPLE_CSV)
    faulty = FaultyStore(store, {"create_request": StorageError("disk full")})
    session = Console(store=faulty, out=io.StringIO())  # type: ignore[arg-type]

    lines = said(session, "as alice", "/request @bob need Q3 numbers by friday")

    assert lines[-1] == "The store failed: disk full. That command may not have been saved; try again."
    faulty.failures.clear()
    assert said(session, "/request @bob need Q3 numbers by friday")[0].startswith("[to alice] Sent R-1 to Bob Brennan")


def test_an_unexpected_error_prints_an_id_and_logs_the_traceback(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    import_org(store=store, path=EXAMPLE_CSV)
    session = Console(store=FaultyStore(store, {"list_people": RuntimeError("boom")}), out=io.StringIO())  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="handlers.console"):
        [line] = said(session, "who")

    assert line.startswith("Sorry, something went wrong (error id ")
    error_id = line.split("error id ")[1][:8]
    [record] = [r for r in caplog.records if r.name == "handlers.console"]
    assert error_id in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert said(session, "as alice") == ["You are now alice (Alice Adams, Sales)."]


def test_run_console_seeds_the_sample_org_and_reads_a_script(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(servechain_db=str(tmp_path / "inproc.json"))

    code = run_console(settings, stdin=io.StringIO("as kofi\nwho\nquit\nas alice\n"), stdout=out, stderr=err)

    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "You are now kofi (Kofi Mensah, Data Engineering)."
    assert lines[1].split() == ["handle", "name", "team", "manager"]
    assert "You are now alice" not in out.getvalue()  # quit stopped the script
    assert err.getvalue().startswith("Loaded 19 people and 3 teams from ")


# --------------------------------------------------------------------------- rendering


def _person(handle: str) -> Person:
    return Person(id=f"P-{handle}", handle=handle, name=handle.title())


def test_thread_notes_render_as_one_line() -> None:
    note = Message(
        key="k", recipient_id="P-alice", kind="update", title="R-3", text="bob acknowledged\n", thread_key="t"
    )
    assert render_text(note, _person("alice")) == "[to alice] R-3: bob acknowledged"


def test_cards_show_buttons_as_click_hints_and_updates_say_so() -> None:
    card = Message(
        key="k",
        recipient_id="P-alice",
        kind="follow_up_prompt",
        title="Bob answered your rating of R-3",
        text='"we will do better"\nAre you satisfied now?',
        actions=[
            Action(id=ActionId.FOLLOW_UP, label="Yes, thanks", request=3, value="yes"),
            Action(id=ActionId.FOLLOW_UP, label="Not yet", request=3, value="no", inputs=["note"]),
        ],
    )
    assert render_text(card, _person("alice"), updated=True).splitlines() == [
        "[to alice] Bob answered your rating of R-3 (updated)",
        '  "we will do better"',
        "  Are you satisfied now?",
        "  Actions:",
        "    Yes, thanks: click follow_up R-3 yes",
        "    Not yet: click follow_up R-3 no [note]",
    ]


def test_a_request_card_update_is_one_line_and_other_cards_stay_whole() -> None:
    card = Message(
        key="k",
        recipient_id="P-bob",
        kind="provider_card",
        title="R-3 from Alice",
        text="need the numbers",
        facts=[
            Fact(label="From", value="Alice Adams"),
            Fact(label="To", value="Bob Brennan"),
            Fact(label="Status", value="acknowledged"),
            Fact(label="Due", value="Fri 27 Nov 17:00 EST"),
            Fact(label="Overdue", value="⚠️ overdue by 3 working h"),
        ],
        actions=[
            Action(id=ActionId.DONE, label="Done", request=3),
            Action(id=ActionId.PROPOSE_DUE, label="Propose a date", request=3),
        ],
        card_key="c",
        request=3,
    )
    printed: list[str] = []
    bob = _person("bob")

    ConsoleNotifier(printed.append, lambda message: ("alice", "bob")).send(
        card, bob, card_ref="console:1", thread_ref=None
    )
    ConsoleNotifier(printed.append).send(card, bob, card_ref="console:1", thread_ref=None)
    ConsoleNotifier(printed.append).send(card, bob, card_ref=None, thread_ref=None)
    prompt = card.model_copy(update={"kind": "rating_prompt", "facts": [], "title": "How did Bob do on R-3?"})
    ConsoleNotifier(printed.append).send(prompt, bob, card_ref="console:2", thread_ref=None)

    assert printed[0] == (
        "[to bob] R-3 · alice → bob · acknowledged · due Fri 27 Nov 17:00 EST · ⚠️ overdue by 3 working h"
        " · you can: done, propose"
    )
    assert printed[1].startswith("[to bob] R-3 · Alice Adams → Bob Brennan · acknowledged")  # no store: names
    assert printed[2].splitlines()[0] == "[to bob] R-3 from Alice"  # a new card is printed whole
    assert printed[3].splitlines()[0] == "[to bob] How did Bob do on R-3? (updated)"


def test_console_notifier_reaches_everyone_and_keeps_card_refs() -> None:
    printed: list[str] = []
    notifier = ConsoleNotifier(printed.append)
    card = Message(key="k", recipient_id="P-bob", kind="provider_card", title="R-1 from Alice", card_key="c")
    bob = _person("bob")

    assert notifier.platform == "console"
    assert notifier.can_reach(bob)
    first = notifier.send(card, bob, card_ref=None, thread_ref=None)
    again = notifier.send(card, bob, card_ref=first, thread_ref=None)
    other = notifier.send(card, bob, card_ref=None, thread_ref=None)

    assert (first, again, other) == ("console:1", "console:1", "console:2")
    assert printed[1] == "[to bob] R-1 from Alice (updated)"


# --------------------------------------------------------------------------- serve


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SERVECHAIN_") or name in ("PORT", "HOST"):
            monkeypatch.delenv(name)
    yield


def test_serve_hands_its_flags_to_the_server(monkeypatch: pytest.MonkeyPatch, no_env: None) -> None:
    calls: list[tuple[Settings, dict[str, object]]] = []
    fake = types.ModuleType("handlers.server")

    def main(settings: Settings, **flags: object) -> int:
        calls.append((settings, flags))
        return 0

    fake.main = main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "handlers.server", fake)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)

    assert cli.main(["serve", "--socket", "--port", "0", "--host", "127.0.0.1"]) == 0
    [(settings, flags)] = calls
    assert flags == {"socket": True, "port": 0, "host": "127.0.0.1"}
    assert settings.servechain_db == "servechain.json"


def test_serve_without_a_server_module_explains_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_env: None
) -> None:
    monkeypatch.setitem(sys.modules, "handlers.server", None)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)

    assert cli.main(["serve"]) == 1
    assert "handlers/server.py is missing" in capsys.readouterr().err


def test_console_snoozes_and_mutes_nudges(tmp_path: Path) -> None:
    result = _servechain(
        "console",
        "--db",
        "n.json",
        cwd=tmp_path,
        stdin=f"clock {MONDAY}\nas alice\n/request @bob need Q3 numbers by friday\n"
        "as bob\nclick snooze R-1 2h\nclick mute R-1\nclick unmute R-1\nclick snooze R-1 forever\n",
    )
    assert result.returncode == 0, result.stderr
    assert "[to bob] Snoozed R-1 until" in result.stdout
    assert "[to bob] Nudges muted." in result.stdout
    assert "[to bob] Nudges are back on." in result.stdout
    assert "I don't understand snoozing for 'forever'" in result.stdout


def test_cli_prints_stats_and_renders_the_team_map(tmp_path: Path) -> None:
    _servechain(
        "console",
        "--db",
        "m.json",
        cwd=tmp_path,
        stdin=f"clock {MONDAY}\nas alice\n/request @bob need Q3 numbers by friday\n",
    )
    stats = _servechain("stats", "--db", "m.json", cwd=tmp_path)
    assert stats.returncode == 0 and "Sales → Finance: 1 request" in stats.stdout
    person = _servechain("stats", "@bob", "--db", "m.json", cwd=tmp_path)
    assert "As provider" in person.stdout
    unknown = _servechain("stats", "@zed", "--db", "m.json", cwd=tmp_path)
    assert unknown.returncode == 1 and "zed" in unknown.stderr
    png = _servechain("chain", "--db", "m.json", "--format", "png", "--output", "map.png", cwd=tmp_path)
    assert png.returncode == 0 and (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = _servechain("chain", "--db", "m.json", "--format", "dot", cwd=tmp_path)
    assert dot.stdout.startswith("digraph") and 'label="Sales"' in dot.stdout and " -> " in dot.stdout


def test_a_manager_nudges_and_extends_from_the_team_view_in_the_console(console: Console) -> None:
    """Hana manages Finance (bob) in the sample org; dana manages alice, the requester."""
    said(console, "as alice", "/request @bob need Q3 numbers by tomorrow")
    console.simulated = datetime(2026, 11, 25, 12, tzinfo=UTC)  # Wednesday: R-1 is overdue
    team = said(console, "as hana", "/request team")
    assert "      Nudge R-1: click nudge R-1" in team
    assert "      Extend R-1: click extend R-1 <when> -- <reason>" in team
    assert said(console, "click nudge R-1")[0] == "[to hana] You nudged bob about R-1; it is in its history."
    assert "You can nudge again from Thu 26 Nov 00:00" in said(console, "click nudge R-1")[0]
    extended = said(console, "click extend R-1 friday -- the audit comes first")
    assert extended[0].startswith("[to hana] You proposed Fri 27 Nov 17:00 JST for R-1; alice has been asked")
    assert said(console, "as dana", "click nudge R-1")[1] == "[to dana] I can't find R-1."
    assert (
        said(console, "as alice", "click nudge R-1")[1]
        == "[to alice] Only bob's manager can nudge the provider of R-1."
    )


# --------------------------------------------------------------------------- the README and make run


def _readme_block(marker: str) -> list[str]:
    """The lines of the fenced block right after ``<!-- marker ...`` in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split(f"<!-- {marker}", 1)[1]
    block = after.split("```", 2)[1]
    return block.strip("\n").splitlines()


def test_the_readme_walk_through_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """Every line of the README's console walk-through runs as written, in the real console,
    and the output the README shows comes out, in that order (``…`` stands for lines left out)."""
    script = _readme_block("console walk-through:")
    shown = [line for line in _readme_block("console walk-through output") if line != "…"]
    assert script[0].startswith("clock ")  # fixed dates: the README reads the same whenever it runs
    assert any("overdue by" in line for line in shown) and any("proposed" in line for line in shown)

    result = _servechain("console", "--db", "readme.json", cwd=tmp_path, stdin="\n".join(script) + "\n")

    assert result.returncode == 0, result.stderr
    _in_order(result.stdout, *shown)
    assert "Usage:" not in result.stdout and "I don't know" not in result.stdout, result.stdout


def test_make_run_says_in_one_line_how_to_see_the_pulse_and_the_digest(tmp_path: Path) -> None:
    """``make run`` prints one line of console commands before the console starts; typed as it
    says, they show the pulse and a manager's digest with the pulse's figures."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "servechain").exists():
        pytest.skip(f"no servechain script next to {sys.executable}")
    probe = subprocess.run(
        [make, "-s", "-C", str(ROOT), "run", "RUN_STAMP=", f"BIN={bin_dir}"],
        input="",
        env=_clean_env(SERVECHAIN_DB=str(tmp_path / "hint.json")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    hint = probe.stdout.splitlines()[0]
    prefix = "To see the pulse and the digest, type: "
    assert hint.startswith(prefix)
    script: list[str] = []
    for step in hint.removeprefix(prefix).split(", "):
        command, _sep, again = step.partition(" (then the same as ")
        script.append(command)
        for other in again.rstrip(")").split(" and as ") if again else []:
            script += [other.removeprefix("as ").join(("as ", "")), command]

    result = subprocess.run(
        [make, "-s", "-C", str(ROOT), "run", "RUN_STAMP=", f"BIN={bin_dir}"],
        input="\n".join(script) + "\n",
        env=_clean_env(SERVECHAIN_DB=str(tmp_path / "pulse.json")),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    _in_order(
        result.stdout,
        hint,
        "You are now alice (Alice Adams, Sales).",
        "[to alice] Thanks! Your answers for 2026-W49 are in, without your name.",
        "[to gina] Thanks! Your answers for 2026-W49 are in, without your name.",
        "[to omar] Thanks! Your answers for 2026-W49 are in, without your name.",
        "[to dana] Weekly digest · Sales · 2026-W49 (so far)",
        "    Pulse (3 of 5 answered): felt supported by you 4.0/5 · served by other teams 5.0/5",
    )


# --------------------------------------------------------------------------- compact cards, show, home


def test_card_updates_are_one_line_and_show_prints_the_whole_card(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as bob")

    assert said(console, "click acknowledge R-1") == [
        "[to bob] You acknowledged R-1.",
        "[to bob] R-1 · alice → bob · acknowledged · due Fri 27 Nov 12:00 EST"
        " · you can: start, done, decline, handoff, propose",
        "[to alice] R-1 · alice → bob · acknowledged · due Fri 27 Nov 17:00 GMT · you can: ask_update, propose, cancel",
        "[to alice] R-1: bob acknowledged",
    ]
    card = said(console, "show R-1")
    assert card[:3] == ["[to bob] R-1: acknowledged", "[to bob] R-1 from Alice Adams", "  need Q3 numbers"]
    assert "    Start: click start R-1" in card and "  History:" in card
    assert said(console, "show r-1") == card


def test_the_one_line_update_carries_the_overdue_flag_and_the_open_proposal(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers by friday", "as bob", "clock 2026-11-30T16:00")

    lines = said(console, "click propose R-1 wednesday 5pm -- month end")

    assert (
        "[to alice] R-1 · alice → bob · open · due Fri 27 Nov 17:00 GMT · ⚠️ overdue by 8 working h"
        " · proposed Wed 02 Dec 22:00 GMT by Bob Brennan · you can: accept, decline_date, propose, cancel"
    ) in lines


def test_home_prints_what_the_app_home_shows(console: Console) -> None:
    said(
        console,
        "as alice",
        "/request @bob need Q3 numbers by friday",
        "/kudos @bob thanks for last week",
        "as carol",
        "/request @bob the warehouse export",
        "clock 2026-11-30T16:00",
        "as bob",
    )

    assert said(console, "home") == [
        "[to bob] Your home (what the App Home shows)",
        "  Waiting on you (2):",
        "    R-1 from Alice Adams · open · due Fri 27 Nov 12:00 · ⚠️ overdue by 8 working h",
        "      need Q3 numbers",
        "    R-2 from Carol Chen · open",
        "      the warehouse export",
        "  Your open requests (0):",
        "    You have no open requests.",
        "  Your responsiveness this month:",
        "    Median time to acknowledge: over 47 h · Promises kept: 0 of 1",
        "    Requests received: 2 · Still open: 2 · Still waiting for your first answer: 2",
        "  Kudos received (1):",
        "    Alice Adams: thanks for last week",
        "  Kudos given (0): 0 today; you can give 5 more. /kudos top shows this week's leaderboard.",
    ]
    said(console, "as hana")
    manager = said(console, "home")
    assert "  What is stuck on your team:" in manager
    assert any(line.startswith("      R-1 ") and "overdue" in line for line in manager), manager


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("/request @bob need the numbers for R-0", "[to alice] R-0 is not a request id."),
        ("/request show R-0", "[to alice] R-0 is not a request id."),
        ("show R-0", "[to alice] Usage: show R-<n>, e.g. show R-1"),
        ("show", "[to alice] Usage: show R-<n>, e.g. show R-1"),
        ("show the numbers", "[to alice] Usage: show R-<n>, e.g. show R-1"),
        ("show R-99", "[to alice] I can't find R-99."),
        ("home R-1", "[to alice] Usage: home"),
        ("click done R-0", "[to alice] Usage: click done R-<n> [resolution]"),
        ("click propose R-1", "[to alice] Usage: click propose R-<n> <when> [-- <reason>]"),
        ("click accept R-1 now", "[to alice] Usage: click accept R-<n>"),
        ("click", "[to alice] Usage: click <action> R-<n> [...]"),
        ("/request @zed need the numbers", "[to alice] I don't know @zed."),
        ("/kudos @zed thanks", "[to alice] I don't know @zed."),
        ("/request stats @zed", "[to alice] I don't know @zed."),
        ("click reassign R-1 @zed", "[to alice] I don't know @zed."),
        ("as", "Usage: as <handle>"),
        ("homepage", "I don't know 'homepage'. Type help to see what you can do."),
    ],
)
def test_bad_input_answers_with_usage_and_changes_nothing(console: Console, line: str, answer: str) -> None:
    said(console, "as alice")

    lines = said(console, line)

    assert lines[0].startswith(answer), lines
    assert console.store.find_requests("default") == []
    assert console.actor() is not None and console.actor().handle == "alice"  # type: ignore[union-attr]


def test_show_and_home_need_someone_to_speak_as(console: Console) -> None:
    pick = "Pick who you are first: as <handle> (type who to see everyone)."
    assert said(console, "show R-1") == [pick]
    assert said(console, "home") == [pick]


def test_the_unknown_button_message_names_the_words_click_takes(console: Console) -> None:
    said(console, "as alice")
    [line] = said(console, "click approve R-1")
    assert "due, propose, accept, decline_date, ask_update" in line
    assert "propose_due" not in line


def test_the_sample_week_plays_every_line_and_ends_with_requests_in_every_state(tmp_path: Path) -> None:
    """``handlers/samples/week.txt`` (a week at the sample org) runs as a script: every line is
    understood, the teams serve each other, its requests end in different states, and Monday's
    digests show each team's anonymous pulse figures."""
    from storage.tinydb_store import TinyDBStore

    script = (ROOT / "handlers" / "samples" / "week.txt").read_text(encoding="utf-8")

    result = _servechain("console", "--db", "week.json", cwd=tmp_path, stdin=script)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    for refusal in ("Usage:", "I don't know", "I can't find", "Only ", "something went wrong", "The store failed"):
        assert refusal not in out, f"{refusal!r} in:\n{out}"
    for manager, team in (("hana", "Finance"), ("kofi", "Data Engineering"), ("dana", "Sales")):
        digest = out.split(f"[to {manager}] Weekly digest · {team} · 2026-W48", 1)[1]
        morale = digest.split("  Service to your staff", 1)[0]
        assert "    Pulse (3 of 5 answered): felt supported by you " in morale, digest
    store = TinyDBStore(tmp_path / "week.json")
    try:
        requests = store.find_requests("default")
        people = {p.id: p for p in store.list_people("default")}
        states = {r.ref: r.status.label for r in requests}
        assert states == {
            "R-1": "acknowledged",
            "R-2": "done",
            "R-3": "done",
            "R-4": "declined",
            "R-5": "open",
            "R-6": "acknowledged",
        }
        assert all(people[r.requester_id].team_id != people[r.provider_id].team_id for r in requests)
        links = {(people[r.requester_id].team_id, people[r.provider_id].team_id) for r in requests}
        assert len(links) >= 4  # several teams serve each other, in both directions
    finally:
        store.close()


def test_the_readme_walk_through_runs_and_takes_up_a_decline_in_one_step(console: Console) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    walk = readme.split("seeded from the sample org", 1)[1].split("```", 2)[1]
    lines = [line for line in walk.splitlines() if line.strip()]
    assert "click ask_instead R-2" in lines
    output = said(console, *lines)
    assert not [line for line in output if "Usage:" in line or "can't" in line or "There's no" in line], output
    assert "[to bob] You declined R-2; alice has been told why, with your alternative." in output
    assert "[to alice] You asked carol instead; R-2 is with them now, with its full history." in output
    assert "[to carol] R-2 is yours now: alice asked carol instead of bob" in output
    request = console.store.get_request("default", 2)
    assert request is not None and request.provider_id == console.store.find_person("default", handle="carol").id  # type: ignore[union-attr]


def test_a_console_decline_reads_a_person_a_request_words_or_none(console: Console) -> None:
    said(console, "as alice", "/request @bob need Q3 numbers", "/request @bob the board pack", "as bob")
    assert said(console, "click decline R-1 no -- @zed") == [
        "[to bob] I don't know @zed. Type who to see everyone's handle."
    ]
    assert "offer an alternative" in said(console, "click decline R-1 not mine --")[0]
    assert said(console, "click decline R-1 no -- none")[0] == (
        "[to bob] Say why there is no alternative, e.g. -- none: we stopped doing these."
    )
    assert said(console, "click decline R-1 we stopped these -- none: nobody does them any more")[0] == (
        "[to bob] You declined R-1; alice has been told why, and why there is no alternative."
    )
    said(console, "click decline R-2 same as the other -- @carol, R-1 or the wiki")
    declined = console.store.get_request("default", 2).events[-1]  # type: ignore[union-attr]
    carol = console.store.find_person("default", handle="carol")
    assert carol is not None
    assert (declined.alternative_id, declined.alternative_request, declined.alternative) == (carol.id, 1, "or the wiki")
    said(console, "as alice")
    assert said(console, "click accept_alternative R-1") == ["[to alice] There is no alternative to accept for R-1."]
    assert "[to alice] You took up the alternative; R-2 is resolved by it." in said(
        console, "click accept_alternative R-2"
    )
