"""The chain: a request's tree from its origin down, and the team-to-team map.

``/request chain R-12`` shows every request linked through ``for R-n`` parents, from the
origin down, with each one's status and who is waiting on whom. ``servechain chain``
renders the team map (text, Graphviz DOT or a PNG drawn with matplotlib, so no Graphviz
binaries are needed): edge width by volume, colour by responsiveness, slowest links named.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from bot import cards
from bot.errors import InvalidCommand, NotFound
from bot.metrics import DEFAULT_WINDOW, Figures, OrgMetrics
from bot.models import EventKind, Person, Request, Status
from bot.people import Directory
from bot.ports import Store
from bot.promises import renegotiations
from bot.requests import can_view
from bot.stats import acknowledge_median, format_duration, link_line, promises_phrase
from bot.workhours import WorkingHours, working_time

MapFormat = Literal["text", "dot", "png"]
FORMATS: tuple[MapFormat, ...] = ("text", "dot", "png")

FAST = timedelta(hours=1)
"""A link whose median time to acknowledge is at most this is drawn green."""
SLOW = timedelta(hours=4)
"""Above this (the default nudge threshold) a link is drawn red; between the two, amber."""

COLOURS = {"fast": "#2ca02c", "ok": "#ff7f0e", "slow": "#d62728", "no data": "#7f7f7f"}
PNG_SIZE = (1000, 700)
"""Width and height in pixels of the PNG team map."""

_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}
_LEGEND_TITLE = (
    "width = volume\nlabel: requests · median to acknowledge\nkept: promises kept · moved: dates moved by agreement"
)
_MAX_DEPTH = 50
_NEW_WAIT = (EventKind.CREATED, EventKind.HANDED_OFF, EventKind.REASSIGNED, EventKind.REOPENED)
_TEXT_PREVIEW = 60
_L = TypeVar("_L")


# --------------------------------------------------------------------------- request tree


@dataclass
class ChainNode:
    """A request and the requests made for it."""

    request: Request
    children: list[ChainNode] = field(default_factory=list)


def find_origin(store: Store, workspace: str, number: int) -> Request:
    """The top of the chain ``R-<number>`` belongs to (parents followed up, cycle-safe)."""
    request = store.get_request(workspace, number)
    if request is None:
        raise NotFound(f"I can't find R-{number}.")
    seen = {request.number}
    while request.parent is not None and request.parent not in seen:
        parent = store.get_request(workspace, request.parent)
        if parent is None:
            break
        seen.add(parent.number)
        request = parent
    return request


def request_tree(store: Store, workspace: str, number: int) -> ChainNode:
    """The whole tree ``R-<number>`` belongs to, from its origin down, children by number."""
    origin = find_origin(store, workspace, number)
    seen = {origin.number}

    def grow(node: ChainNode, depth: int) -> None:
        if depth >= _MAX_DEPTH:
            return
        children = sorted(store.find_requests(workspace, parent=node.request.number), key=lambda r: r.number)
        for child in children:
            if child.number in seen:
                continue
            seen.add(child.number)
            child_node = ChainNode(child)
            node.children.append(child_node)
            grow(child_node, depth + 1)

    root = ChainNode(origin)
    grow(root, 0)
    return root


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TEXT_PREVIEW else text[: _TEXT_PREVIEW - 1] + "…"


def _waiting_since(request: Request) -> datetime:
    """When the current provider got it (created, handed off, reassigned or reopened)."""
    for event in reversed(request.events):
        if event.kind in _NEW_WAIT:
            return event.at
    return request.created_at


def _node_line(
    request: Request,
    directory: Directory,
    *,
    now: datetime,
    tz: str,
    visible: bool,
    hours: WorkingHours,
) -> str:
    requester, provider = directory.handle(request.requester_id), directory.handle(request.provider_id)
    parts = [request.ref, request.status.label]
    if request.status.is_open:
        provider_person = directory.get(request.provider_id)
        waited = working_time(
            _waiting_since(request),
            now,
            tz=provider_person.tz if provider_person else "UTC",
            hours=hours.for_person(provider_person),
        )
        parts.append(f"{requester} is waiting on {provider} ({format_duration(waited)} so far)")
        if request.due_at is not None:
            late = "overdue since" if request.due_at < now else "due"
            parts.append(f"{late} {cards.when(request.due_at, tz)}")
    elif request.status == Status.DONE:
        parts.append(f"{provider} did it for {requester}")
    elif request.status == Status.DECLINED:
        parts.append(f"{provider} declined it for {requester}")
    else:
        parts.append(f"{requester} withdrew it (asked {provider})")
    moved = renegotiations(request)
    if moved:
        parts.append(f"due date moved by agreement {_times(moved)}")
    if request.external:
        parts.append("for an external customer")
    parts.append(f'"{_preview(request.text)}"' if visible else "(details private)")
    return " · ".join(parts)


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def chain_lines(
    *,
    store: Store,
    workspace: str,
    number: int,
    now: datetime,
    viewer: Person | None = None,
    hours: WorkingHours,
) -> list[str]:
    """``/request chain R-<number>``: the tree from its origin down, one line per request, then who
    is waiting on whom. A ``viewer`` must be able to see ``R-<number>``; texts of requests they
    may not see are left out."""
    directory = Directory(store, workspace)
    asked = store.get_request(workspace, number)
    if asked is None or (viewer is not None and not can_view(asked, viewer, directory)):
        raise NotFound(f"I can't find R-{number}.")
    tz = viewer.tz if viewer else "UTC"
    root = request_tree(store, workspace, number)
    lines: list[str] = []
    waiting: list[str] = []

    def walk(node: ChainNode, lead: str, branch: str) -> None:
        request = node.request
        visible = viewer is None or can_view(request, viewer, directory)
        line = _node_line(request, directory, now=now, tz=tz, visible=visible, hours=hours)
        marker = "  ◀" if request.number == number else ""
        lines.append(f"{lead}{branch}{line}{marker}")
        if request.status.is_open:
            waiting.append(
                f"{directory.handle(request.requester_id)} on {directory.handle(request.provider_id)} ({request.ref})"
            )
        child_lead = lead + ("" if not branch else ("│  " if branch == "├─ " else "   "))
        for index, child in enumerate(node.children):
            walk(child, child_lead, "└─ " if index == len(node.children) - 1 else "├─ ")

    walk(root, "", "")
    total = len(lines)
    if waiting:
        lines.append(f"Waiting: {len(waiting)} of {total} open · " + "; ".join(waiting))
    else:
        lines.append(f"Nobody is waiting: all {total} closed.")
    return lines


# --------------------------------------------------------------------------- team map


def acknowledge_estimate(figs: Figures) -> timedelta | None:
    """What a link is ranked and coloured by: the Kaplan-Meier median time to acknowledge or, when
    too many still wait to know it, the longest wait so far (the median is beyond it). None only
    with no requests at all."""
    if figs.median_time_to_acknowledge is not None:
        return figs.median_time_to_acknowledge
    return figs.longest_wait_to_acknowledge


def responsiveness(figs: Figures) -> str:
    """``fast``, ``ok``, ``slow`` or ``no data``, by the median working time to acknowledge. A link
    whose median is not known yet is never fast: ``slow`` once its waits pass the slow threshold,
    ``no data`` before."""
    median = figs.median_time_to_acknowledge
    if median is None:
        longest = figs.longest_wait_to_acknowledge
        return "slow" if longest is not None and longest > SLOW else "no data"
    if median <= FAST:
        return "fast"
    return "ok" if median <= SLOW else "slow"


@dataclass(frozen=True)
class TeamLink:
    """Requests from one team (``source``) to another (``target``) and their figures."""

    source: str
    target: str
    figures: Figures

    @property
    def colour(self) -> str:
        """Hex colour for its responsiveness."""
        return COLOURS[responsiveness(self.figures)]


@dataclass(frozen=True)
class TeamMap:
    """The team-to-team graph of one window."""

    org: OrgMetrics
    links: tuple[TeamLink, ...]

    @property
    def team_ids(self) -> list[str]:
        """Teams that appear in a link, by name."""
        ids = {link.source for link in self.links} | {link.target for link in self.links}
        return sorted(ids, key=lambda t: (self.org.team_name(t).lower(), t))

    def name(self, team_id: str) -> str:
        """A team's display name."""
        return self.org.team_name(team_id)

    def slowest(self, count: int = 3) -> list[TeamLink]:
        """The links slowest to acknowledge, slowest first (:func:`slowest_first`)."""
        return slowest_first(self.links, key=lambda link: link.figures)[:count]

    def label(self, link: TeamLink) -> str:
        """``Sales → Finance``."""
        return f"{self.name(link.source)} → {self.name(link.target)}"

    def slowest_text(self) -> str:
        """One sentence naming the slowest links."""
        slowest = self.slowest()
        if not slowest:
            return "Slowest links: none acknowledged yet."
        named = [f"{self.label(link)} ({link_estimate_text(link.figures)})" for link in slowest]
        return "Slowest links: " + "; ".join(named)


def link_estimate_text(figs: Figures) -> str:
    """``9h median to acknowledge, 2 of 4 still waiting``."""
    text = f"{acknowledge_median(figs)} median to acknowledge"
    if figs.waiting_to_acknowledge:
        text += f", {figs.waiting_to_acknowledge} of {figs.volume} still waiting"
    return text


def slowest_first(links: Iterable[_L], *, key: Callable[[_L], Figures]) -> list[_L]:
    """Links ordered slowest first by :func:`acknowledge_estimate`; a median not reached yet ranks
    above a known one of the same length (it is longer than that), then more still waiting, then
    volume. Links without evidence either way (none acknowledged, none waiting) are left out."""
    measured = [link for link in links if acknowledge_estimate(key(link)) is not None]

    def rank(link: _L) -> tuple[timedelta, bool, int, int]:
        figs = key(link)
        return (
            acknowledge_estimate(figs) or timedelta(0),
            figs.median_time_to_acknowledge is None,
            figs.waiting_to_acknowledge,
            figs.volume,
        )

    return sorted(measured, key=rank, reverse=True)


def team_map_from(org: OrgMetrics) -> TeamMap:
    """The team map of loaded metrics."""
    return TeamMap(org, tuple(TeamLink(src, dst, figs) for (src, dst), figs in org.links().items()))


def build_team_map(
    *,
    store: Store,
    workspace: str,
    now: datetime,
    window_length: timedelta = DEFAULT_WINDOW,
    hours: WorkingHours,
) -> TeamMap:
    """The team map of the requests created in the ``window_length`` before ``now``."""
    org = OrgMetrics.load(store=store, workspace=workspace, since=now - window_length, until=now, now=now, hours=hours)
    return team_map_from(org)


def _title(team_map: TeamMap) -> str:
    org = team_map.org
    return f"Team map · requests created {org.since:%d %b %Y} – {org.until:%d %b %Y} (UTC) · times in working hours"


def _map_text(team_map: TeamMap) -> str:
    lines = [_title(team_map)]
    if not team_map.links:
        lines.append("No requests between teams in this window.")
        return "\n".join(lines)
    for link in team_map.links:
        lines.append(
            f"{link_line(team_map.org, (link.source, link.target), link.figures)} [{responsiveness(link.figures)}]"
        )
    lines.append(team_map.slowest_text())
    return "\n".join(lines)


def _dot_id(team_id: str) -> str:
    return _dot_quote(team_id or "(no team)")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _width(figs: Figures, largest: int) -> float:
    """Edge width in points: 1 for the smallest possible link, 8 for the busiest."""
    return round(1 + 7 * figs.volume / max(largest, 1), 2)


def _map_dot(team_map: TeamMap) -> str:
    largest = max((link.figures.volume for link in team_map.links), default=1)
    lines = [
        "digraph team_map {",
        f"  graph [rankdir=LR, labelloc=t, label={_dot_quote(_title(team_map))}];",
        '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    lines += [f"  {_dot_id(t)} [label={_dot_quote(team_map.name(t))}];" for t in team_map.team_ids]
    for link in team_map.links:
        figs = link.figures
        label = f"{figs.volume} · {acknowledge_median(figs)}"
        tooltip = " · ".join(part for part in (responsiveness(figs), promises_phrase(figs)) if part)
        lines.append(
            f"  {_dot_id(link.source)} -> {_dot_id(link.target)} [penwidth={_width(figs, largest)}, "
            f'color="{link.colour}", label={_dot_quote(label)}, '
            f"tooltip={_dot_quote(tooltip)}];"
        )
    lines += [f"  // slowest: {team_map.label(link)}" for link in team_map.slowest()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _png_label(figs: Figures) -> str:
    """An edge's label: volume and median to acknowledge, then (when there is any) promises kept
    and dates moved by agreement, short enough to sit on the arrow."""
    label = f"{figs.volume} · {acknowledge_median(figs)}"
    promises = []
    if figs.promises_total:
        promises.append(f"kept {figs.promises_kept}/{figs.promises_total}")
    if figs.renegotiations:
        promises.append(f"{figs.renegotiations} moved")
    return label + ("\n" + " · ".join(promises) if promises else "")


def _map_png(team_map: TeamMap) -> bytes:
    """Draw the map with matplotlib's Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Arc, FancyArrowPatch

    width_px, height_px = PNG_SIZE
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.1, 0.96, 0.8))
    ax.set_xlim(-1.5, 1.5)
    ax.set_ylim(-1.3, 1.3)
    ax.axis("off")
    fig.suptitle(_title(team_map), fontsize=11)

    teams = team_map.team_ids
    positions: dict[str, tuple[float, float]] = {}
    for index, team_id in enumerate(teams):
        angle = math.pi / 2 - 2 * math.pi * index / max(len(teams), 1)
        radius = 0.0 if len(teams) == 1 else 1.0
        positions[team_id] = (radius * math.cos(angle), radius * math.sin(angle))

    largest = max((link.figures.volume for link in team_map.links), default=1)
    for link in team_map.links:
        line_width = _width(link.figures, largest)
        x1, y1 = positions[link.source]
        label = _png_label(link.figures)
        if link.source == link.target:
            # a loop on the outer side of the node, away from the other teams' arrows
            norm = math.hypot(x1, y1) or 1.0
            ux, uy = (x1 / norm, y1 / norm) if (x1, y1) != (0.0, 0.0) else (0.0, 1.0)
            angle = math.degrees(math.atan2(uy, ux))
            centre = (x1 + 0.17 * ux, y1 + 0.17 * uy)
            ax.add_patch(
                Arc(centre, 0.22, 0.22, theta1=angle - 120, theta2=angle + 120, lw=line_width, color=link.colour)
            )
            ax.text(x1 + 0.34 * ux, y1 + 0.34 * uy, label, ha="center", va="center", fontsize=9)
            continue
        x2, y2 = positions[link.target]
        ax.add_patch(
            FancyArrowPatch(
                (x1, y1),
                (x2, y2),
                connectionstyle="arc3,rad=0.15",
                arrowstyle="-|>",
                mutation_scale=12 + 2 * line_width,
                lw=line_width,
                color=link.colour,
                shrinkA=30,
                shrinkB=30,
            )
        )
        # the arc bends to the right of the travel direction; put the count on the bulge
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        dx, dy = x2 - x1, y2 - y1
        ax.text(mx + 0.1 * dy, my - 0.1 * dx, label, ha="center", va="center", fontsize=9, bbox=_LABEL_BOX, zorder=4)
    for team_id, (x, y) in positions.items():
        ax.text(
            x,
            y,
            team_map.name(team_id),
            ha="center",
            va="center",
            fontsize=11,
            bbox={"boxstyle": "round,pad=0.5", "fc": "#f5f5f5", "ec": "#333333"},
            zorder=5,
        )
    if not team_map.links:
        ax.text(0, 0, "No requests between teams in this window.", ha="center", va="center", fontsize=12)
    handles = [
        Line2D([0], [0], color=COLOURS[key], lw=4, label=label)
        for key, label in (
            ("fast", f"acknowledged ≤ {format_duration(FAST)} (median)"),
            ("ok", f"≤ {format_duration(SLOW)}"),
            ("slow", f"> {format_duration(SLOW)}"),
            ("no data", "too few answers yet"),
        )
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=False, title=_LEGEND_TITLE, title_fontsize=8)
    slowest = team_map.slowest()
    footer = "Slowest links (median working time to acknowledge): " + (
        " · ".join(
            f"{team_map.label(link)} {acknowledge_median(link.figures)}"
            + (f" ({link.figures.waiting_to_acknowledge} still waiting)" if link.figures.waiting_to_acknowledge else "")
            for link in slowest
        )
        or "no requests yet"
    )
    fig.text(0.02, 0.02, textwrap.fill(footer, 140), fontsize=9, va="bottom")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render_team_map(team_map: TeamMap, *, format: MapFormat = "text") -> str | bytes:
    """The team map as text lines, Graphviz DOT source (str) or a PNG image (bytes)."""
    if format == "text":
        return _map_text(team_map)
    if format == "dot":
        return _map_dot(team_map)
    if format == "png":
        return _map_png(team_map)
    raise InvalidCommand(f"Unknown format {format!r}; use one of {', '.join(FORMATS)}.")


def request_number(text: str) -> int:
    """``R-12``, ``r12`` or ``12`` -> 12; InvalidCommand for anything else."""
    cleaned = text.strip().upper().removeprefix("R-").removeprefix("R")
    if not cleaned.isdigit():
        raise InvalidCommand(f"{text!r} is not a request id; write it like R-12.")
    return int(cleaned)
