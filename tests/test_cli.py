"""The ``servechain`` command line is a public contract: every command's help, usage errors,
messages and exit codes stay as they are (``tests/data/cli`` holds the help as it was)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers import cli

HELP = Path(__file__).resolve().parent / "data" / "cli"
COMMANDS = [
    "",
    "console",
    "org",
    "org import",
    "org sync",
    "db",
    "db upgrade",
    "db migrate",
    "db check",
    "db repair",
    "db backup",
    "db restore",
    "stats",
    "patterns",
    "chain",
    "digest",
    "export",
    "forget",
    "teams",
    "teams package",
    "slack",
    "slack manifest",
    "doctor",
    "serve",
    "dashboard",
]


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """80 columns, no servechain settings from the outside, and no logging set up for the test run."""
    for name in list(os.environ):
        if name.startswith("SERVECHAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    yield


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "servechain")
def test_every_command_keeps_its_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*command.split(), "--help"]) == 0
    golden = HELP / f"help_{command.replace(' ', '_') or 'servechain'}.txt"
    assert capsys.readouterr().out == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "servechain: error: the following arguments are required: <command>"),
        (["digest"], "servechain digest: error: the following arguments are required: --manager"),
        (["forget"], "servechain forget: error: the following arguments are required: --person"),
        (["db", "migrate"], "servechain db migrate: error: the following arguments are required: --from, --to"),
        (["stats", "--window", "x"], "servechain stats: I don't understand the window 'x'; try 30d, 2w or 12h."),
        (["chain", "R-x"], "servechain chain: 'R-x' is not a request id; write it like R-12."),
        (["forget", "--person", "ghost"], "servechain: "),
        (["export", "--person", "ghost"], "servechain: "),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = [] if not argv or argv[-1] in ("digest", "forget", "migrate") else ["--db", str(tmp_path / "s.json")]
    assert cli.main([*argv, *db]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "@ghost"], "servechain stats: I don't know @ghost."),
        (["digest", "--manager", "ghost"], "servechain digest: I don't know @ghost."),
    ],
)
def test_unknown_people_exit_1(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*argv, "--db", str(tmp_path / "s.json")]) == 1
    assert capsys.readouterr().err.strip() == message


def test_an_image_is_never_written_to_a_terminal() -> None:
    """``--format png`` without ``--output`` on a terminal is refused with a hint, and nothing is written."""
    import io

    from handlers.cli.common import EXIT_USAGE, write_binary

    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    raw = io.BytesIO()
    terminal, stderr = Terminal(raw, encoding="utf-8"), io.StringIO()
    assert write_binary(b"\x89PNG", stdout=terminal, stderr=stderr, prog="servechain chain") == EXIT_USAGE
    terminal.flush()
    assert raw.getvalue() == b""
    assert "not writing a PNG image to the terminal; use --output FILE" in stderr.getvalue()
    piped, raw_pipe = None, io.BytesIO()
    piped = io.TextIOWrapper(raw_pipe, encoding="utf-8")
    assert write_binary(b"\x89PNG", stdout=piped, stderr=stderr, prog="servechain chain") == 0
    assert raw_pipe.getvalue() == b"\x89PNG"


def test_readme_command_lines_are_shell_safe() -> None:
    """Every ``servechain ...`` and ``/request`` example in the README reads the same in bash: no
    unquoted ``>``/``<`` (a redirect), so team links are written ``sales:finance`` or quoted."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"`((?:servechain|printf) [^`]*)`", readme)
    assert any("sales:finance" in s or "'sales->finance'" in s for s in re.findall(r"`[^`]*`", readme))
    for snippet in snippets:
        lexer = shlex.shlex(snippet.replace("\\|", "|"), posix=True, punctuation_chars="<>")
        tokens = list(lexer)
        assert not any(token in ("<", ">", ">>") for token in tokens), f"a redirect in {snippet!r}"


ROOT = Path(__file__).resolve().parents[1]
SLOW_IMPORTS = (
    "slack_sdk",
    "slack_bolt",
    "botbuilder",
    "matplotlib",
    "psycopg",
    "psycopg_pool",
    "prometheus_client",
    "aiohttp",
)
"""What a command imports only when it needs it (chat SDKs, charts, PostgreSQL, metrics, the web server)."""


def _modules_after(argv: list[str], *, stdin: str = "", cwd: Path = ROOT) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``servechain <argv>``."""
    import json
    import subprocess
    import sys

    code = (
        "import contextlib, io, json, sys\n"
        "from handlers.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVECHAIN_", "SLACK_", "MICROSOFT_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["console", "--help"], ["db", "restore", "--help"]])
def test_help_imports_only_the_standard_library_and_the_command_line(argv: list[str]) -> None:
    import sys

    loaded = _modules_after(argv)
    ours = {m for m in loaded if m.split(".")[0] in ("bot", "handlers", "storage")}
    assert ours <= {"bot", "bot.errors", "bot.dburl", "handlers"} | {m for m in ours if m.startswith("handlers.cli")}, (
        ours
    )
    others = {m.split(".")[0] for m in loaded} - set(sys.stdlib_module_names) - {"bot", "handlers"}
    assert not {m for m in others if not m.startswith(("_", "sitecustomize"))}, others  # _: the editable finder
    assert not loaded & set(SLOW_IMPORTS)


def test_the_console_starts_without_chat_sdks_charts_postgresql_metrics_or_a_web_server(tmp_path: Path) -> None:
    loaded = _modules_after(["console", "--db", str(tmp_path / "servechain.json")], stdin="", cwd=tmp_path)
    assert "handlers.console" in loaded and "storage.tinydb_store" in loaded  # it did start
    assert not {m.split(".")[0] for m in loaded} & set(SLOW_IMPORTS)


def test_the_command_lines_format_choices_are_the_cores() -> None:
    from bot.chain import FORMATS as MAP_FORMATS
    from bot.digest import FORMATS as DIGEST_FORMATS
    from handlers.cli import chain, digest

    assert chain.FORMATS == MAP_FORMATS
    assert digest.FORMATS == DIGEST_FORMATS
