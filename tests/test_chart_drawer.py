"""Charts drawn aside (``handlers/charts.py``): in worker processes at a lower CPU priority,
the same image as drawn here, and a hung or dead worker costs one chart, not the next ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import charts
from bot.charts import chart_png
from bot.models import Chart, ChartPanel, ChartSeries
from handlers.charts import ChartDrawer, ChartError

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]


def _chart(panels: int = 2, title: str = "Team · 8 weeks") -> Chart:
    labels = [f"W{n}" for n in range(40, 48)]
    return Chart(
        title=title,
        labels=labels,
        panels=[
            ChartPanel(title=f"Panel {p}", series=[ChartSeries(label="a", values=[float(n % 5) for n in range(8)])])
            for p in range(panels)
        ],
        alt_text="trends",
    )


@pytest.fixture
def drawer() -> Iterator[ChartDrawer]:
    drawing = ChartDrawer(workers=1, idle=30)
    try:
        yield drawing
    finally:
        drawing.close()


def test_a_chart_is_drawn_by_a_worker_at_a_lower_priority_as_it_would_be_here(drawer: ChartDrawer) -> None:
    chart = _chart()

    png = drawer.png(chart)

    assert png == chart_png(chart)
    worker = drawer._running()
    assert worker.submit(os.getpid).result(30) != os.getpid()
    assert worker.submit(os.nice, 0).result(30) == os.nice(0) + 10


def test_a_chart_that_takes_too_long_is_dropped_and_the_next_one_is_drawn(drawer: ChartDrawer) -> None:
    drawer.png(_chart())  # the worker is up
    drawer.timeout = 0.05

    with pytest.raises(ChartError, match=r"took over 0\.05s"):
        drawer.png(_chart(panels=40, title="huge"))

    drawer.timeout = 60
    assert drawer.png(_chart()) == chart_png(_chart())


def test_a_worker_that_died_is_replaced_for_the_next_chart(drawer: ChartDrawer) -> None:
    drawer.png(_chart())
    dying = drawer._running().submit(os._exit, 1)
    with pytest.raises(Exception):  # noqa: B017  # loky's TerminatedWorkerError
        dying.result(30)

    assert drawer.png(_chart()) == chart_png(_chart())


def test_a_closed_drawer_draws_nothing(drawer: ChartDrawer) -> None:
    drawer.close()

    with pytest.raises(ChartError, match="closed"):
        drawer.png(_chart())


def test_the_process_draws_with_the_drawer_it_chose(drawer: ChartDrawer) -> None:
    drawn: list[str] = []

    def counting(chart: Chart) -> bytes:
        drawn.append(chart.title)
        return drawer.png(chart)

    charts.draw_with(counting)
    try:
        assert charts.draw(_chart(title="aside")) == chart_png(_chart(title="aside"))
    finally:
        charts.draw_with(None)
    assert drawn == ["aside"]
    assert charts.draw(_chart(title="here")) == chart_png(_chart(title="here"))
    assert drawn == ["aside"]


SERVER = """
import os, sys, time
from handlers.charts import ChartDrawer
from tests.test_chart_drawer import _chart
drawer = ChartDrawer(workers=1)
drawer.png(_chart())
print(drawer._running().submit(os.getpid).result(30), flush=True)
time.sleep(120)
"""


def test_a_worker_leaves_when_its_server_is_killed() -> None:
    """SIGKILL gives the server no chance to stop its workers: each leaves by itself, instead
    of waiting for work until its idle timeout (or for ever, had it none)."""
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert server.stdout is not None
        worker = int(server.stdout.readline())
        assert _alive(worker)
    finally:
        server.kill()
        server.wait(10)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), f"chart worker {worker} outlived its server"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
