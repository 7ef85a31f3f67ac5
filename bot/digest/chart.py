"""The digest's 8-week trends as a neutral :class:`bot.models.Chart` (``bot.charts`` draws it when sent)."""

from __future__ import annotations

from datetime import timedelta

from bot.digest.model import Digest
from bot.metrics import Figures
from bot.models import Chart, ChartPanel, ChartSeries


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def digest_chart(digest: Digest) -> Chart:
    """The 8-week trends as a neutral chart (drawn by ``bot.charts`` when sent)."""
    labels = [name.split("-")[1] for name in digest.weeks.names]
    hours = [_hours(f.median_time_to_acknowledge) for f in digest.service]
    staff = digest.staff_weeks or [Figures() for _ in labels]
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
                    ChartSeries(label="Supported by you", values=[p.manager_support for p in digest.pulse]),
                    ChartSeries(label="Served by others", values=[p.service for p in digest.pulse]),
                    ChartSeries(label="Work rating", values=list(digest.ratings)),
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
                title="Other teams wait for a first answer",
                unit="working h",
                y_min=0,
                series=[ChartSeries(label="Median", values=hours)],
            ),
            ChartPanel(
                title="You to your staff: time to acknowledge",
                unit="working h",
                y_min=0,
                series=[ChartSeries(label="Median", values=[_hours(f.median_time_to_acknowledge) for f in staff])],
            ),
            ChartPanel(
                title="You to your staff: rating",
                unit="1-5",
                y_min=1,
                y_max=5,
                series=[ChartSeries(label="Rating", values=[f.average_rating for f in staff])],
            ),
        ],
        alt_text=(
            f"{weeks}-week trends: pulse, ratings, kudos received and given, requests from other teams and "
            "the median time to acknowledge them, and your own service to your staff (time to acknowledge "
            "and rating). The same figures are in the text."
        ),
    )
