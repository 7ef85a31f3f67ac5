"""Draw a neutral :class:`bot.models.Chart` as a small PNG with matplotlib.

Notifiers call :func:`chart_png` when they send a message that has a chart, so the outbox
keeps numbers, not images. The Agg canvas is used directly (no pyplot, no global state), so
drawing is safe from any thread. The image is reduced to a small palette: line charts need
few colours, and a small PNG travels well inline (Teams cards carry it as a data URI).
"""

from __future__ import annotations

import base64
import io
import math

from bot.models import Chart

PNG_SIZE = (900, 560)
"""Width and height in pixels."""
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
_DPI = 100


def chart_png(chart: Chart, *, size: tuple[int, int] = PNG_SIZE) -> bytes:
    """The chart as PNG bytes: one small panel per :class:`bot.models.ChartPanel`, two per row;
    gaps where a value is None (no data, or hidden to keep pulse answers anonymous)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    width, height = size
    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    figure.suptitle(chart.title, fontsize=12)
    panels = chart.panels or []
    columns = 2 if len(panels) > 1 else 1
    rows = max(1, math.ceil(len(panels) / columns))
    positions = list(range(len(chart.labels)))
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for number, series in enumerate(panel.series):
            values = [math.nan if v is None else v for v in series.values]
            axes.plot(
                positions[: len(values)],
                values,
                marker="o",
                markersize=3,
                linewidth=1.8,
                color=COLOURS[number % len(COLOURS)],
                label=series.label,
            )
        axes.set_title(panel.title + (f" ({panel.unit})" if panel.unit else ""), fontsize=10)
        axes.set_xticks(positions)
        axes.set_xticklabels(chart.labels, fontsize=7)
        axes.tick_params(axis="y", labelsize=8)
        known = [v for series in panel.series for v in series.values if v is not None]
        if known and all(float(v).is_integer() for v in known):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if not known:
            axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes, color="#777777")
        if panel.y_min is not None or panel.y_max is not None:
            axes.set_ylim(panel.y_min, panel.y_max if panel.y_max is not None else (None if known else 1))
        axes.grid(True, linewidth=0.4, alpha=0.5)
        if len(panel.series) > 1:
            axes.legend(fontsize=7, loc="best", frameon=False)
    if not panels:
        figure.text(0.5, 0.5, "No figures yet.", ha="center", va="center")
    # fixed margins: tight_layout would draw everything twice
    figure.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.07, hspace=0.42, wspace=0.16)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
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
