"""The digest in words: title, summary and sections shared by the DM and the Markdown export."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot import cards
from bot.digest.chart import digest_chart
from bot.digest.model import Digest, Link, RollupRow, format_score
from bot.metrics import Figures
from bot.models import NEEDS, Message, Section
from bot.patterns import patterns_lines
from bot.stats import acknowledge_median, format_estimate, promises_phrase
from bot.workhours import zone


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _trend(values: Sequence[float | None], weeks: int) -> str:
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    first, last = known[0], known[-1]
    if abs(last - first) < 0.25:
        return f"steady over {weeks} weeks"
    return f"{'up' if last > first else 'down'} from {first:.1f} over {weeks} weeks"


def _service_line(figs: Figures) -> str:
    if figs.volume == 0:
        return "none"
    parts = [f"{_plural(figs.volume, 'request')}"]
    parts.append(f"median {acknowledge_median(figs)} to acknowledge ({figs.waiting_to_acknowledge} still waiting)")
    if figs.median_time_to_resolve is not None or figs.longest_wait_to_resolve is not None:
        parts.append(f"{format_estimate(figs.median_time_to_resolve, figs.longest_wait_to_resolve)} to resolve")
    promises = promises_phrase(figs)
    if promises:
        parts.append(promises)
    if figs.average_rating is not None:
        parts.append(f"rating {figs.average_rating:.1f}/5")
    return " · ".join(parts)


def _link_line(label: str, link: Link) -> str:
    figs = link.figures
    return (
        f"{label}: {link.source} → {link.target}, "
        f"median {acknowledge_median(figs)} to acknowledge "
        f"({_plural(figs.volume, 'request')}, {figs.waiting_to_acknowledge} still waiting)"
    )


@dataclass(frozen=True)
class _Rendered:
    title: str
    summary: str
    sections: list[Section]


def _pulse_lines(digest: Digest) -> list[str]:
    pulse = digest.pulse[-1]
    settings = digest.pulse_settings
    if not pulse.shown:
        return [
            f"Pulse: not enough answers to keep them anonymous ({pulse.answered} of {pulse.asked} answered; "
            f"figures show from {settings.min_answers} answers in a team of at least {settings.min_team_size})."
        ]
    lines = [
        f"Pulse ({pulse.counted} of {pulse.asked} answered): felt supported by you "
        f"{format_score(pulse.manager_support)}"
        f" · served by other teams {format_score(pulse.service)}"
    ]
    trend = _trend([p.manager_support for p in digest.pulse], len(digest.pulse))
    if trend:
        lines[0] += f" · support {trend}"
    if pulse.hidden_teams:
        lines.append(f"({_plural(pulse.hidden_teams, 'team')} left out: too few answers to keep them anonymous.)")
    lines += [f"“{comment}”" for comment in pulse.comments[:5]]
    return lines


def render(digest: Digest) -> _Rendered:
    """The digest's title, one-line summary and sections (shared by the message and markdown)."""
    tz = digest.manager.tz
    start = digest.weeks.start.astimezone(zone(tz))
    end = (digest.weeks.end - timedelta(days=1)).astimezone(zone(tz))
    span = f"{start:%a %d %b} – {end:%a %d %b %Y}"
    so_far = "" if digest.complete else " (so far)"
    teams = ", ".join(digest.team_names) or "your team"
    title = f"Weekly digest · {teams} · {digest.week}{so_far}"
    why = (
        f"the last full week, Monday to Sunday, in your time zone ({tz})"
        if digest.complete
        else f"this week so far, in your time zone ({tz})"
    )
    summary = (
        f"{span}, {why}: how your team of {digest.team_size} felt, how you served your staff, "
        "how your team served others, and one thing to try."
    )
    kudos_line = (
        f"Kudos: your team received {digest.kudos_received[-1]} and gave {digest.kudos_given[-1]} this week "
        f"({len(digest.weeks.names)}-week average received: {statistics.fmean(digest.kudos_received):.1f})."
    )
    rating = digest.ratings[-1]
    rating_line = (
        f"Ratings of your team's work: {rating:.1f}/5 from {_plural(digest.rated, 'rating')} this week"
        if rating is not None
        else "Ratings of your team's work: none this week"
    )
    rating_trend = _trend(digest.ratings, len(digest.ratings))
    rating_line += f" ({rating_trend})." if rating_trend else "."
    morale = Section(title="Morale", lines=[kudos_line, *_pulse_lines(digest), rating_line, _needs_line(digest.served)])

    weeks = len(digest.weeks.names)
    staff = Section(
        title=f"Service to your staff (last {weeks} weeks)",
        lines=[
            f"Your staff asked you: {_service_line(digest.to_staff)}.",
            f"Everyone else asked you: {_service_line(digest.to_others)}.",
        ],
    )

    week = digest.this_week
    service_lines = [f"Requests from other teams this week: {_service_line(week)}."]
    if week.volume:
        service_lines[0] = service_lines[0][:-1] + f" ({week.open} still open)."
    volumes = [f.volume for f in digest.service]
    service_lines.append(f"Volume over {weeks} weeks: " + ", ".join(str(v) for v in volumes) + ".")
    if digest.slowest is not None:
        service_lines.append(_link_line("Slowest link", digest.slowest) + ".")
    if digest.fastest is not None:
        service_lines.append(_link_line("Fastest link", digest.fastest) + ".")
    service = Section(title="Your team's service to other teams", lines=service_lines)

    if digest.overdue:
        overdue_lines = [
            f"{item.ref} held by {item.holder}, due {cards.when(item.due_at, tz)}: {_preview(item.text)}"
            for item in digest.overdue
        ]
        if digest.overdue_total > len(digest.overdue):
            overdue_lines.append(f"…and {digest.overdue_total - len(digest.overdue)} more.")
    else:
        overdue_lines = ["Nothing overdue. Nice!"]
    overdue = Section(title=f"Open and overdue ({digest.overdue_total})", lines=overdue_lines)

    sections = [morale, staff, service, overdue]
    if digest.patterns is not None:
        sections.append(
            Section(title="Complaint patterns (this week)", lines=patterns_lines(digest.patterns, refs=False))
        )
    if digest.rollup:
        sections.append(Section(title="Your teams at a glance", lines=[_rollup_line(row) for row in digest.rollup]))
    sections.append(Section(title="Suggested action", lines=[digest.suggestion]))
    return _Rendered(title, summary, sections)


def _needs_line(figs: Figures) -> str:
    """The six needs of this week's ratings, lowest named; every need listed, unscored ones as ``-``."""
    if not figs.needs:
        return "Six needs: none scored this week."
    scored = [
        f"{need} {figs.needs[need]:.1f} ({figs.needs_counts[need]})" if need in figs.needs else f"{need} -"
        for need in NEEDS
    ]
    lowest = min(figs.needs, key=lambda need: (figs.needs[need], need))
    return f"Six needs this week: {' · '.join(scored)}; lowest: {lowest}."


def _preview(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"“{text}”" if len(text) <= limit else f"“{text[: limit - 1]}…”"


def _rollup_line(row: RollupRow) -> str:
    figs = row.served
    pulse = (
        f"pulse {format_score(row.pulse.manager_support)} / {format_score(row.pulse.service)}"
        if row.pulse.shown
        else "pulse: too few answers"
    )
    promises = f"promises {figs.promises_kept}/{figs.promises_total}" if figs.promises_total else "no promises due"
    if figs.renegotiations:
        promises += f", {figs.renegotiations} moved by agreement"
    waiting = f" ({figs.waiting_to_acknowledge} waiting)" if figs.volume else ""
    return (
        f"{row.team} ({row.manager}): {_plural(figs.volume, 'request')} · median "
        f"{acknowledge_median(figs)} to acknowledge{waiting} · {promises} · {pulse} · "
        f"{row.kudos_received} kudos"
    )


def digest_message(digest: Digest) -> Message:
    """The neutral DM: title, summary, one section per part, and the chart."""
    rendered = render(digest)
    manager = digest.manager
    return Message(
        key=f"{manager.workspace}:digest:{manager.id}:{digest.week}",
        workspace=manager.workspace,
        recipient_id=manager.id,
        kind="digest",
        title=rendered.title,
        text=rendered.summary,
        sections=rendered.sections,
        chart=digest_chart(digest),
    )


def digest_markdown(digest: Digest) -> str:
    """The digest as Markdown (``servechain digest --format md``)."""
    rendered = render(digest)
    lines = [f"# {rendered.title}", "", rendered.summary]
    for section in rendered.sections:
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {line}" for line in section.lines]
    return "\n".join(lines) + "\n"
