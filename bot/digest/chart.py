"""The digest's 8-week trends as a neutral :class:`bot.models.Chart` (``bot.charts`` draws it when sent)."""

from __future__ import annotations

from bot.digest.model import Digest
from bot.models import Chart, ChartPanel, ChartSeries


def digest_chart(digest: Digest) -> Chart:
    """The 8-week trends as a neutral chart (drawn by ``bot.charts`` when sent)."""
    labels = [name.split("-")[1] for name in digest.weeks.names]
    hours = [
        None if f.median_time_to_acknowledge is None else round(f.median_time_to_acknowledge.total_seconds() / 3600, 2)
        for f in digest.service
    ]
    weeks = len(labels)
    return Chart(
        title=f"{', '.join(digest.team_names) or digest.manager.name} · {weeks} weeks to {digest.week}",
        labels=labels,
        panels=[
            ChartPanel(
                title="Pulse and ratings",
                unit="1-5",
                y_min=1,
                y_max=5,
                series=[
                    ChartSeries(label="Supported by manager", values=[p.manager_support for p in digest.pulse]),
                    ChartSeries(label="Served by other teams", values=[p.service for p in digest.pulse]),
                    ChartSeries(label="Rating of the team's work", values=list(digest.ratings)),
                ],
            ),
            ChartPanel(
                title="Kudos",
                y_min=0,
                series=[
                    ChartSeries(label="Received", values=[float(v) for v in digest.kudos_received]),
                    ChartSeries(label="Given", values=[float(v) for v in digest.kudos_given]),
                ],
            ),
            ChartPanel(
                title="Requests from other teams",
                y_min=0,
                series=[ChartSeries(label="Requests", values=[float(f.volume) for f in digest.service])],
            ),
            ChartPanel(
                title="Median time to acknowledge",
                unit="working hours",
                y_min=0,
                series=[ChartSeries(label="Median", values=hours)],
            ),
        ],
        alt_text=(
            f"{weeks}-week trends: pulse, ratings, kudos received and given, requests from other teams and "
            "the median time to acknowledge them. The same figures are in the text."
        ),
    )
