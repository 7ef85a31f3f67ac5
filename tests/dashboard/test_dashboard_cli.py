"""``servechain dashboard --as``: refuses someone the store doesn't know, in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers import cli


def test_an_unknown_handle_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dashboard", "--as", "@ghost", "--db", str(tmp_path / "s.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("servechain dashboard: nobody is called @ghost in this store")
