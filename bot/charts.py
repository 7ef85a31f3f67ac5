"""Draw a neutral :class:`bot.models.Chart` as a small PNG with matplotlib.

Notifiers call :func:`draw` when they send a message that has a chart, so the outbox keeps
numbers, not images. :func:`draw` draws with :func:`chart_png` in this process unless the
process chose another drawer (:func:`draw_with`: servers draw in worker processes of their own,
see ``handlers.charts``). The Agg canvas is used directly (no pyplot, no global state), so
drawing is safe from any thread. The image is reduced to a small palette: line charts need
few colours, and a small PNG travels well inline (Teams cards carry it as a data URI).
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Callable

from bot.models import Chart

SHOWN_WIDTH = 400
"""Width in pixels at which cards show the chart (Slack and Teams scale images to about this):
the chart is laid out for it, one panel per row, with labels of 8-10 pt at that size."""
SCALE = 1.5
"""Pixels drawn per shown pixel, so the image stays sharp on high-density screens."""
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_INCH = 100  # shown pixels per inch: font points map to shown pixels at 100 dpi
_PANEL_HEIGHT = 1.2  # inches per panel, at the shown size
_TOP = 0.45  # inches for the title


def chart_png(chart: Chart, *, width: int = SHOWN_WIDTH, scale: float = SCALE) -> bytes:
    """The chart as PNG bytes, laid out to be read at ``width`` pixels (drawn ``scale`` times larger):
    one panel per row; gaps where a value is None (no data, or hidden to keep pulse answers
    anonymous); a panel with no value at all says "no data" instead of drawing an empty axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = chart.panels or []
    rows = max(1, len(panels))
    width_in = width / _INCH
    height_in = _TOP + rows * _PANEL_HEIGHT + 0.1
    figure = Figure(figsize=(width_in, height_in), dpi=_INCH * scale)
    FigureCanvasAgg(figure)
    figure.suptitle(textwrap.fill(chart.title, 48), fontsize=10, y=1 - 0.08 / height_in, va="top")
    positions = list(range(len(chart.labels)))
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, 1, index + 1)
        title = panel.title + (f" ({panel.unit})" if panel.unit else "")
        axes.set_title(title, fontsize=9, loc="left", pad=3)
        known = [v for series in panel.series for v in series.values if v is not None]
        if not known:
            axes.set_axis_off()
            axes.text(
                0.5, 0.4, "no data", ha="center", va="center", transform=axes.transAxes, color="#555555", fontsize=10
            )
            continue
        for number, series in enumerate(panel.series):
            values = [math.nan if v is None else v for v in series.values]
            axes.plot(
                positions[: len(values)],
                values,
                marker="o",
                markersize=3.5,
                linewidth=1.8,
                color=COLOURS[number % len(COLOURS)],
                label=series.label,
            )
        axes.set_xticks(positions)
        axes.set_xticklabels(chart.labels, fontsize=8)
        axes.tick_params(axis="y", labelsize=8)
        axes.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=all(float(v).is_integer() for v in known)))
        top = panel.y_max if panel.y_max is not None else max(max(known) * 1.15, 1)
        axes.set_ylim(panel.y_min, top)
        axes.set_xlim(-0.3, max(len(positions) - 0.7, 0.3))
        axes.grid(True, linewidth=0.4, alpha=0.5)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if len(panel.series) > 1:
            axes.legend(
                fontsize=7.5,
                loc="lower left",
                frameon=True,
                framealpha=0.8,
                ncol=len(panel.series),
                handlelength=1.2,
                columnspacing=0.8,
                borderpad=0.2,
                handletextpad=0.4,
            )
    if not panels:
        figure.text(0.5, 0.5, "No figures yet.", ha="center", va="center", fontsize=10)
    # fixed margins: tight_layout would draw everything twice
    figure.subplots_adjust(left=0.11, right=0.97, top=1 - _TOP / height_in, bottom=0.25 / height_in, hspace=0.75)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_INCH * scale)
    return _small(buffer.getvalue())


def _small(png: bytes) -> bytes:
    """The PNG reduced to a 64-colour palette (a third of the size for line charts)."""
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib; without it the full PNG is fine
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for inline images (Teams cards)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_drawer: Callable[[Chart], bytes] | None = None


def draw(chart: Chart) -> bytes:
    """The chart as PNG bytes, drawn by this process's drawer (:func:`draw_with`), or here."""
    drawer = _drawer
    return drawer(chart) if drawer is not None else chart_png(chart)


def draw_with(drawer: Callable[[Chart], bytes] | None) -> None:
    """Draw this process's charts with ``drawer`` from now on (None: with :func:`chart_png`, here)."""
    global _drawer
    _drawer = drawer
