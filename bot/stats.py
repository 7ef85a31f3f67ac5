"""Responsiveness figures as plain text for ``/request stats`` (Slack, Teams) and ``servechain stats``.

Front ends show the returned text as it is (monospace is not needed). Resolution of
``@mentions`` is the front end's job; this module takes a Person, a team name or a
``team->team`` link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.access import PersonFigures, can_see_person_figures
from bot.errors import NotAllowed, NotFound
from bot.metrics import DEFAULT_WINDOW, NO_TEAM, Figures, OrgMetrics, TwoSided
from bot.models import NEEDS, Person, Team
from bot.people import Directory
from bot.ports import Store
from bot.workhours import WorkingHours, zone

_LINK_ARROWS = ("->", "→", ":")
"""``team:team`` is the shell-safe spelling (a bare ``>`` is a redirect in a shell)."""


def format_duration(value: timedelta | None) -> str:
    """A working-time duration for people: ``45m``, ``3h 05m``, ``26h``; ``-`` for none."""
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    if minutes == 0:
        return "0m" if value.total_seconds() == 0 else "<1m"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes}m"
    return f"{hours}h" if minutes == 0 else f"{hours}h {minutes:02d}m"


def format_estimate(value: timedelta | None, longest: timedelta | None) -> str:
    """A survival estimate: the duration, or ``over 33h`` when too many still wait to know it
    (beyond the longest wait so far); ``-`` without any evidence."""
    if value is None and longest is not None:
        return f"over {format_duration(longest)}"
    return format_duration(value)


def acknowledge_median(figs: Figures) -> str:
    """The median time to acknowledge as shown everywhere (``over 9h`` when not reached)."""
    return format_estimate(figs.median_time_to_acknowledge, figs.longest_wait_to_acknowledge)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)}%"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def dates_moved(count: int) -> str:
    """Renegotiations in words: ``no dates moved by agreement``, ``1 date moved by agreement``."""
    if count == 0:
        return "no dates moved by agreement"
    return f"{count} date moved by agreement" if count == 1 else f"{count} dates moved by agreement"


def promises_phrase(figs: Figures) -> str:
    """Promises kept with the renegotiations beside them, for one-line overviews (a team link, a
    digest line): ``promises kept 7 of 9, 3 dates moved by agreement``; the renegotiations only
    when there were any, and ``""`` when there is neither."""
    moved = dates_moved(figs.renegotiations) if figs.renegotiations else ""
    if not figs.promises_total:
        return moved
    kept = f"promises kept {figs.promises_kept} of {figs.promises_total}"
    return f"{kept}, {moved}" if moved else kept


def format_figures(figs: Figures, indent: str = "  ") -> list[str]:
    """The figures as indented lines; one line when there were no requests."""
    if figs.volume == 0:
        return [f"{indent}No requests in this window."]
    extras = [f"{figs.open} open"]
    if figs.external:
        extras.append(f"{figs.external} for external customers")
    lines = [
        f"Requests: {figs.volume} ({', '.join(extras)})",
        f"To acknowledge: median {acknowledge_median(figs)}"
        f" · p90 {format_estimate(figs.p90_time_to_acknowledge, figs.longest_wait_to_acknowledge)}"
        f" ({figs.acknowledged} acknowledged, {figs.waiting_to_acknowledge} still waiting)",
        f"To resolve: median {format_estimate(figs.median_time_to_resolve, figs.longest_wait_to_resolve)}"
        f" · p90 {format_estimate(figs.p90_time_to_resolve, figs.longest_wait_to_resolve)}"
        f" ({figs.resolved} done or declined, {figs.waiting_to_resolve} still open)",
        (
            f"Promises kept: {figs.promises_kept} of {figs.promises_total} ({_percent(figs.promise_rate)})"
            if figs.promises_total
            else "Promises kept: no due dates decided yet"
        )
        + (f" · {dates_moved(figs.renegotiations)}" if figs.promises_total or figs.renegotiations else ""),
        f"Declined: {figs.declined} ({_percent(figs.decline_rate)})"
        + (f" · with an alternative: {figs.declined_with_alternative} of {figs.declined}" if figs.declined else ""),
        f"Handed off: {_plural(figs.handed_off, 'request')} ({_plural(figs.hand_offs, 'hand-off')})",
        f"Reopened: {figs.reopened} of {figs.closed} closed ({_percent(figs.reopen_rate)})",
    ]
    if figs.rated:
        lines.append(f"Rating: {figs.average_rating:.1f}/5 from {_plural(figs.rated, 'rating')}")
        needs = [f"{n} {figs.needs[n]:.1f} ({figs.needs_counts[n]})" for n in NEEDS if n in figs.needs]
        if needs:
            lines.append("Needs: " + " · ".join(needs))
    else:
        lines.append("Rating: no ratings yet")
    return [indent + line for line in lines]


def _header(title: str, org: OrgMetrics, tz: str | None) -> str:
    where = zone(tz)
    since = org.since.astimezone(where).strftime("%a %d %b %Y")
    until = org.until.astimezone(where).strftime("%a %d %b %Y")
    return f"{title} · requests created {since} – {until} · times in working hours"


def two_sided_lines(stats: TwoSided, *, provider_label: str, customer_label: str) -> list[str]:
    """Both sides, provider first."""
    return [
        provider_label,
        *format_figures(stats.as_provider),
        customer_label,
        *format_figures(stats.as_customer),
    ]


def person_report(org: OrgMetrics, person: Person, *, tz: str | None = None) -> str:
    """A person's figures as provider and as customer."""
    team = org.teams.get(person.team_id or "")
    title = f"{person.name} (@{person.handle})" + (f" · {team.name}" if team else "")
    lines = [
        _header(title, org, tz),
        *two_sided_lines(
            org.person(person.id),
            provider_label=f"As provider (what others asked of {person.handle}):",
            customer_label=f"As customer (what {person.handle} asked of others):",
        ),
    ]
    return "\n".join(lines)


def team_report(org: OrgMetrics, team: Team, *, tz: str | None = None) -> str:
    """A team's figures (with sub-teams) as provider and as customer."""
    below = sorted(org.team_name(t) for t in org.team_ids(team.id) if t != team.id)
    title = f"{team.name} (team" + (f", with {', '.join(below)})" if below else ")")
    lines = [
        _header(title, org, tz),
        *two_sided_lines(
            org.team(team.id),
            provider_label=f"As provider (what others asked of {team.name}):",
            customer_label=f"As customer (what {team.name} asked of others):",
        ),
    ]
    return "\n".join(lines)


def link_report(org: OrgMetrics, from_team: str, to_team: str, *, tz: str | None = None) -> str:
    """Figures of the requests one team sent another."""
    title = f"{org.team_name(from_team)} → {org.team_name(to_team)}"
    return "\n".join([_header(title, org, tz), *format_figures(org.link(from_team, to_team))])


def link_line(org: OrgMetrics, pair: tuple[str, str], figs: Figures) -> str:
    """One line per team link for overviews (``/request stats`` of the organisation, the team map's text)."""
    promises = promises_phrase(figs)
    return (
        f"{org.team_name(pair[0])} → {org.team_name(pair[1])}: {_plural(figs.volume, 'request')}"
        f" · acknowledge median {acknowledge_median(figs)}"
        f" / p90 {format_estimate(figs.p90_time_to_acknowledge, figs.longest_wait_to_acknowledge)}"
        f" · resolve median {format_estimate(figs.median_time_to_resolve, figs.longest_wait_to_resolve)}"
        f" · {figs.waiting_to_acknowledge} waiting" + (f" · {promises}" if promises else "")
    )


def org_report(org: OrgMetrics, *, tz: str | None = None) -> str:
    """Every team as provider, then every team-to-team link."""
    lines = [_header("Whole organisation", org, tz)]
    if not org.facts:
        lines.append("No requests in this window.")
        return "\n".join(lines)
    lines.append("Teams as providers:")
    team_ids = sorted({f.provider_team for f in org.facts}, key=org.team_name)
    for team_id in team_ids:
        figs = org.team(team_id).as_provider
        rating = f" · rating {figs.average_rating:.1f}" if figs.average_rating is not None else ""
        moved = f", {dates_moved(figs.renegotiations)}" if figs.renegotiations else ""
        lines.append(
            f"  {org.team_name(team_id)}: {_plural(figs.volume, 'request')}"
            f" · acknowledge median {acknowledge_median(figs)}"
            f" / p90 {format_estimate(figs.p90_time_to_acknowledge, figs.longest_wait_to_acknowledge)}"
            f" · {figs.waiting_to_acknowledge} waiting"
            f" · promises kept {_percent(figs.promise_rate)}{moved}{rating}"
        )
    lines.append("Team links (requester's team → provider's team):")
    lines += [f"  {link_line(org, pair, figs)}" for pair, figs in org.links().items()]
    return "\n".join(lines)


def _find_team(org: OrgMetrics, name: str) -> Team | None:
    wanted = name.strip().lower()
    for team in org.teams.values():
        if team.id.lower() == wanted or team.name.lower() == wanted:
            return team
    return None


def _team_id(org: OrgMetrics, name: str) -> str:
    if name.strip().lower() in ("(no team)", "none"):
        return NO_TEAM
    team = _find_team(org, name)
    if team is None:
        raise NotFound(f"I don't know a team called {name.strip()!r}.")
    return team.id


def stats_text(
    *,
    org: OrgMetrics,
    person: Person | None = None,
    team: str | None = None,
    tz: str | None = None,
    may_see: Callable[[Person], bool] | None = None,
) -> str:
    """The text for ``/request stats``: a person, a team (name or id), a ``team->team`` link, or,
    with neither, the whole organisation. Raises NotFound for an unknown team, and NotAllowed
    for a person whose figures ``may_see`` refuses (the viewer is neither them nor above them)."""

    def person_text(found: Person) -> str:
        if may_see is not None and not may_see(found):
            raise NotAllowed(
                f"{found.name}'s own figures are for them and their managers. Try their team's: "
                f"/request stats {org.team_name(found.team_id) if found.team_id else 'with a team name'}."
            )
        return person_report(org, found, tz=tz)

    if person is not None:
        return person_text(person)
    if team:
        for arrow in _LINK_ARROWS:
            if arrow in team:
                left, right = team.split(arrow, 1)
                return link_report(org, _team_id(org, left), _team_id(org, right), tz=tz)
        found = _find_team(org, team)
        if found is None:
            person_found = next((p for p in org.people.values() if p.handle == team.strip().lstrip("@").lower()), None)
            if person_found is not None:
                return person_text(person_found)
            raise NotFound(f"I don't know a team or person called {team.strip()!r}.")
        return team_report(org, found, tz=tz)
    return org_report(org, tz=tz)


def request_stats(
    *,
    store: Store,
    workspace: str,
    viewer: Person,
    now: datetime,
    person: Person | None = None,
    team: str | None = None,
    window_length: timedelta = DEFAULT_WINDOW,
    hours: WorkingHours,
    person_figures: PersonFigures = "private",
) -> str:
    """``/request stats [@user | team]`` for ``viewer``: without a target, the viewer's own
    figures; another person's only as :func:`bot.access.can_see_person_figures` allows."""
    org = OrgMetrics.load(store=store, workspace=workspace, since=now - window_length, until=now, now=now, hours=hours)
    if person is None and not team:
        person = viewer
    directory = Directory(store, workspace)

    def may_see(found: Person) -> bool:
        return can_see_person_figures(viewer, found, directory, person_figures)

    return stats_text(org=org, person=person, team=team, tz=viewer.tz, may_see=may_see)
