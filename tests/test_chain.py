"""The chain: a request's tree with who waits on whom, and the team map as text, DOT and PNG."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from bot.chain import (
    PNG_SIZE,
    build_team_map,
    chain_lines,
    find_origin,
    render_team_map,
    request_tree,
    responsiveness,
)
from bot.errors import InvalidCommand, NotFound
from bot.metrics import Figures
from bot.models import ActionId, Person
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, act, create_request
from bot.workhours import DEFAULT_HOURS
from handlers.cli.chain import add_chain_arguments, chain_command


def chain_main(argv: list[str], **kw: object) -> int:
    """``servechain chain`` from raw arguments, on a given store (the CLI's parser and command)."""
    args = add_chain_arguments(argparse.ArgumentParser(prog="servechain chain")).parse_args(argv)
    return chain_command(  # type: ignore[arg-type]
        request=args.request,
        window=args.window,
        format=args.format,
        output=args.output,
        **{"hours": DEFAULT_HOURS, **kw},
    )


WS = "default"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tuesday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def person(store: Store, handle: str) -> Person:
    found = store.find_person(WS, handle=handle)
    assert found is not None
    return found


def ask(store: Store, requester: str, provider: str, text: str, when: datetime, **kw: object) -> int:
    outcome = create_request(
        store=store,
        directory=Directory(store, WS),
        requester=person(store, requester),
        provider=person(store, provider),
        text=text,
        now=when,
        **kw,  # type: ignore[arg-type]
    )
    return outcome.request.number


def do(store: Store, who: str, number: int, action: ActionId, when: datetime, **inputs: object) -> None:
    act(
        store=store,
        directory=Directory(store, WS),
        workspace=WS,
        number=number,
        action=action,
        actor=person(store, who),
        now=when,
        hours=DEFAULT_HOURS,
        inputs=ActionInput(**inputs),  # type: ignore[arg-type]
    )


@pytest.fixture
def chain(org_store: Store) -> Store:
    """R-1 alice -> bob for a customer; bob asks carol (R-2) and erin (R-3); carol asks dave (R-4)."""
    s = org_store
    ask(s, "alice", "bob", "ACME renewal quote", at(23, 9), external=True)
    ask(s, "bob", "carol", "pricing for ACME", at(23, 10), parent=1, due_at=at(23, 17))
    ask(s, "bob", "erin", "ACME contract history", at(23, 10), parent=1)
    do(s, "carol", 2, ActionId.ACKNOWLEDGE, at(23, 11))
    do(s, "erin", 3, ActionId.DONE, at(23, 12))
    ask(s, "carol", "dave", "discount approval", at(23, 12), parent=2)
    return s


def test_chain_shows_the_tree_from_the_origin_with_who_waits_on_whom(chain: Store) -> None:
    assert chain_lines(store=chain, workspace=WS, number=4, now=NOW, hours=DEFAULT_HOURS) == [
        'R-1 · open · alice is waiting on bob (10h so far) · for an external customer · "ACME renewal quote"',
        "├─ R-2 · acknowledged · bob is waiting on carol (9h so far) · overdue since Mon 23 Nov 17:00"
        ' · "pricing for ACME"',
        '│  └─ R-4 · open · carol is waiting on dave (7h so far) · "discount approval"  ◀',
        '└─ R-3 · done · erin did it for bob · "ACME contract history"',
        "Waiting: 3 of 4 open · alice on bob (R-1); bob on carol (R-2); carol on dave (R-4)",
    ]
    assert find_origin(chain, WS, 4).number == 1
    tree = request_tree(chain, WS, 3)
    assert [c.request.number for c in tree.children] == [2, 3]


def test_chain_hides_the_details_a_viewer_may_not_see(chain: Store) -> None:
    lines = chain_lines(store=chain, workspace=WS, number=3, now=NOW, viewer=person(chain, "erin"), hours=DEFAULT_HOURS)
    assert lines[0].endswith("(details private)")
    assert lines[3] == '└─ R-3 · done · erin did it for bob · "ACME contract history"  ◀'
    assert lines[1].startswith("├─ R-2 · acknowledged · bob is waiting on carol") and "pricing" not in lines[1]
    with pytest.raises(NotFound):
        chain_lines(store=chain, workspace=WS, number=2, now=NOW, viewer=person(chain, "erin"), hours=DEFAULT_HOURS)
    with pytest.raises(NotFound):
        chain_lines(store=chain, workspace=WS, number=99, now=NOW, hours=DEFAULT_HOURS)


def test_a_closed_chain_says_nobody_is_waiting(chain: Store) -> None:
    do(chain, "dave", 4, ActionId.DECLINE, at(24, 9), note="no budget", alternative="ask grace")
    do(chain, "carol", 2, ActionId.DONE, at(24, 9, 30))
    do(chain, "alice", 1, ActionId.CANCEL, at(24, 9, 45))
    lines = chain_lines(store=chain, workspace=WS, number=1, now=NOW, hours=DEFAULT_HOURS)
    assert lines[0].startswith("R-1 · cancelled · alice withdrew it (asked bob)")
    assert lines[2].startswith("│  └─ R-4 · declined · dave declined it for carol")
    assert lines[-1] == "Nobody is waiting: all 4 closed."


def test_a_parent_cycle_in_stored_data_does_not_loop_forever(chain: Store) -> None:
    first = chain.get_request(WS, 1)
    assert first is not None
    chain.update_request(first.model_copy(update={"parent": 4}))
    lines = chain_lines(store=chain, workspace=WS, number=2, now=NOW, hours=DEFAULT_HOURS)
    assert len(lines) == 5 and {line.split(" · ")[0].lstrip("│└├─ ") for line in lines[:4]} == {
        "R-1",
        "R-2",
        "R-3",
        "R-4",
    }


# --------------------------------------------------------------------------- team map


@pytest.fixture
def traffic(org_store: Store) -> Store:
    """Sales -> Finance is slow (3, median 6h), Finance -> Sales fast (30m), Finance -> Finance ok (2h),
    Sales -> Sales never acknowledged."""
    s = org_store
    for hours, day in ((5, 16), (6, 17), (7, 18)):
        number = ask(s, "alice", "bob", "numbers", at(day, 9))
        do(s, "bob", number, ActionId.ACKNOWLEDGE, at(day, 9 + hours))
    number = ask(s, "bob", "erin", "a contract", at(19, 9))
    do(s, "erin", number, ActionId.ACKNOWLEDGE, at(19, 9, 30))
    number = ask(s, "dave", "bob", "approval", at(19, 10))
    do(s, "bob", number, ActionId.ACKNOWLEDGE, at(19, 12))
    ask(s, "erin", "frank", "a demo", at(20, 9))
    return s


def test_team_map_as_text_colours_links_and_names_the_slowest(traffic: Store) -> None:
    team_map = build_team_map(
        store=traffic, workspace=WS, now=NOW, window_length=timedelta(days=30), hours=DEFAULT_HOURS
    )
    assert render_team_map(team_map, format="text") == "\n".join(
        [
            "Team map · requests created 25 Oct 2026 – 24 Nov 2026 (UTC) · times in working hours",
            # open requests count as waiting so far (censored): resolve "over" their wait until now
            "Finance → Finance: 1 request · acknowledge median 2h / p90 2h · resolve median over 27h · 0 waiting [ok]",
            "Finance → Sales: 1 request · acknowledge median 30m / p90 30m · resolve median over 28h · 0 waiting"
            " [fast]",
            "Sales → Finance: 3 requests · acknowledge median 6h / p90 7h · resolve median over 55h · 0 waiting [slow]",
            # never acknowledged, waiting since Fri 20 09:00: 9h + 9h (Mon) + 1h (Tue) = 19h: slow, not "no data"
            "Sales → Sales: 1 request · acknowledge median over 19h / p90 over 19h · resolve median over 19h"
            " · 1 waiting [slow]",
            "Slowest links: Sales → Sales (over 19h median to acknowledge, 1 of 1 still waiting); Sales → Finance"
            " (6h median to acknowledge); Finance → Finance (2h median to acknowledge)",
        ]
    )


def test_team_map_as_dot_has_width_by_volume_and_colour_by_responsiveness(traffic: Store) -> None:
    team_map = build_team_map(store=traffic, workspace=WS, now=NOW, hours=DEFAULT_HOURS)
    dot = render_team_map(team_map, format="dot")
    assert isinstance(dot, str)
    assert dot.startswith("digraph team_map {\n") and dot.endswith("}\n")
    assert '  "T-fin" [label="Finance"];' in dot and '  "T-sales" [label="Sales"];' in dot
    assert '  "T-sales" -> "T-fin" [penwidth=8.0, color="#d62728", label="3 · 6h", tooltip="slow"];' in dot
    assert '  "T-fin" -> "T-sales" [penwidth=3.33, color="#2ca02c", label="1 · 30m", tooltip="fast"];' in dot
    assert '  "T-sales" -> "T-sales" [penwidth=3.33, color="#d62728", label="1 · over 19h", tooltip="slow"];' in dot
    assert "  // slowest: Sales → Finance" in dot
    if shutil.which("dot"):  # check the syntax with Graphviz when it is installed
        subprocess.run(["dot", "-Tsvg"], input=dot.encode(), check=True, capture_output=True)


def _pixels_near(picture: np.ndarray, hex_colour: str, tolerance: float = 0.06) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(picture[:, :, :3] - rgb).max(axis=2) < tolerance).sum())


def test_team_map_as_png_is_a_real_picture_of_the_expected_size(traffic: Store) -> None:
    team_map = build_team_map(store=traffic, workspace=WS, now=NOW, hours=DEFAULT_HOURS)
    png = render_team_map(team_map, format="png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    picture = image.imread(io.BytesIO(png), format="png")
    width, height = PNG_SIZE
    assert picture.shape == (height, width, 4)
    # the slow link is drawn in red, the fast one in green, the unmeasured one in grey
    assert _pixels_near(picture, "#d62728") > 500
    assert _pixels_near(picture, "#2ca02c") > 200
    assert _pixels_near(picture, "#7f7f7f") > 50
    pil = pytest.importorskip("PIL.Image")
    with pil.open(io.BytesIO(png)) as decoded:
        assert decoded.size == (width, height) and decoded.format == "PNG"


def test_an_empty_team_map_still_renders(org_store: Store) -> None:
    team_map = build_team_map(store=org_store, workspace=WS, now=NOW, hours=DEFAULT_HOURS)
    assert str(render_team_map(team_map, format="text")).endswith("No requests between teams in this window.")
    assert "->" not in str(render_team_map(team_map, format="dot"))
    picture = image.imread(io.BytesIO(render_team_map(team_map, format="png")), format="png")  # type: ignore[arg-type]
    assert picture.shape[:2] == (PNG_SIZE[1], PNG_SIZE[0])
    assert _pixels_near(picture, "#d62728") < 500  # only the legend's sample line
    with pytest.raises(InvalidCommand):
        render_team_map(team_map, format="svg")  # type: ignore[arg-type]


def test_responsiveness_bands() -> None:
    assert responsiveness(Figures()) == "no data"
    assert responsiveness(Figures(median_time_to_acknowledge=timedelta(hours=1))) == "fast"
    assert responsiveness(Figures(median_time_to_acknowledge=timedelta(hours=4))) == "ok"
    assert responsiveness(Figures(median_time_to_acknowledge=timedelta(hours=4, minutes=1))) == "slow"


# --------------------------------------------------------------------------- servechain chain


def test_servechain_chain_writes_text_dot_and_png(traffic: Store, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    kw = {"store": traffic, "workspace": WS, "now": NOW, "stderr": err}
    assert chain_main(["--window", "30d"], stdout=out, **kw) == 0  # type: ignore[arg-type]
    assert out.getvalue().startswith("Team map") and "Slowest links: Sales → Sales" in out.getvalue()
    dot_file = tmp_path / "map.dot"
    assert chain_main(["--format", "dot", "--output", str(dot_file)], stdout=out, **kw) == 0  # type: ignore[arg-type]
    assert dot_file.read_text().startswith("digraph team_map {")
    png_file = tmp_path / "map.png"
    assert chain_main(["--format", "png", "--output", str(png_file)], stdout=out, **kw) == 0  # type: ignore[arg-type]
    assert image.imread(png_file).shape == (PNG_SIZE[1], PNG_SIZE[0], 4)
    raw = io.BytesIO()
    binary_stdout = io.TextIOWrapper(raw, encoding="utf-8")
    assert chain_main(["--format", "png"], stdout=binary_stdout, **kw) == 0  # type: ignore[arg-type]
    assert raw.getvalue().startswith(b"\x89PNG")
    assert chain_main(["--format", "png"], stdout=io.StringIO(), **kw) == 2  # type: ignore[arg-type]
    assert "use --output FILE" in err.getvalue()


def test_servechain_chain_prints_one_requests_tree(chain: Store) -> None:
    out, err = io.StringIO(), io.StringIO()
    kw = {"store": chain, "workspace": WS, "now": NOW, "stdout": out, "stderr": err}
    assert chain_main(["R-3"], **kw) == 0  # type: ignore[arg-type]
    assert out.getvalue().splitlines()[0].startswith("R-1 · open · alice is waiting on bob")
    assert chain_main(["R-99"], **kw) == 1  # type: ignore[arg-type]
    assert chain_main(["X-1"], **kw) == 2  # type: ignore[arg-type]
    assert chain_main(["--window", "forever"], **kw) == 2  # type: ignore[arg-type]
    assert "servechain chain: I can't find R-99." in err.getvalue()
