"""The web dashboard's read model: the chain map, a link, a team and a person's own page, as
JSON-ready dicts, for one viewer.

Every figure comes from :mod:`bot.metrics` (``docs/metrics.md`` defines them: censored-aware
medians, complaints), :mod:`bot.chain` (responsiveness colours, slowest-first), :mod:`bot.patterns`,
:mod:`bot.team_view` and :mod:`bot.pulse`; nothing is recomputed here, only grouped and shaped.

Who sees what is the chat's rules (:mod:`bot.access`):

- team and team-link figures are aggregates and visible to everyone (as in ``/request chain``);
- a request is listed (its words, its people) only to those who may view it (:func:`can_view`);
  the rest are counted, never shown;
- a team's stuck requests, complaint patterns, kudos and pulse are for the people who manage it
  (its manager and their managers); pulse figures only where the anonymity thresholds allow,
  per team and week, never per person;
- a person's own page is theirs alone.

:class:`MetricsCache` keeps one window's loaded facts for a short time, so a page after the first
load is sliced from memory instead of re-reading 100,000 requests.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import cards
from bot.access import can_view
from bot.chain import acknowledge_estimate, link_estimate_text, responsiveness, slowest_first
from bot.errors import NotAllowed, NotFound
from bot.kudos import kudos_tally
from bot.metrics import NO_TEAM, Figures, OrgMetrics, RequestFacts, figures
from bot.models import Kudos, Person, Request, Team
from bot.patterns import patterns_lines, patterns_of
from bot.people import Directory
from bot.ports import Store
from bot.promises import promised_due
from bot.pulse import DEFAULT_PULSE, PulseIndex, PulseSettings
from bot.stats import format_duration, format_estimate
from bot.team_view import GROUPS, TeamView, team_view
from bot.weeks import iso_week, shift_week, week_start
from bot.workhours import WorkingHours, working_time

Json = dict[str, Any]

log = logging.getLogger(__name__)

LISTED = 8
"""Requests listed per list (slowest, most complained about, stuck per group)."""
_CANDIDATES = 200
"""How far down a ranking we look for requests the viewer may see."""
_PREVIEW = 90


# --------------------------------------------------------------------------- shapes


def duration(value: timedelta | None) -> Json | None:
    """A working-time duration as seconds and the text chat shows."""
    if value is None:
        return None
    return {"seconds": int(value.total_seconds()), "text": format_duration(value)}


def figures_data(figs: Figures) -> Json:
    """One set of figures, each with the words chat uses for it."""
    estimate = acknowledge_estimate(figs)
    return {
        "volume": figs.volume,
        "open": figs.open,
        "responsiveness": responsiveness(figs),
        "acknowledge_estimate": duration(estimate),
        "acknowledge_text": link_estimate_text(figs) if figs.volume else "no requests",
        "median_time_to_acknowledge": format_estimate(
            figs.median_time_to_acknowledge, figs.longest_wait_to_acknowledge
        ),
        "median_time_to_acknowledge_seconds": _seconds(figs.median_time_to_acknowledge),
        "p90_time_to_acknowledge": format_estimate(figs.p90_time_to_acknowledge, figs.longest_wait_to_acknowledge),
        "median_time_to_resolve": format_estimate(figs.median_time_to_resolve, figs.longest_wait_to_resolve),
        "median_time_to_resolve_seconds": _seconds(figs.median_time_to_resolve),
        "waiting_to_acknowledge": figs.waiting_to_acknowledge,
        "waiting_to_resolve": figs.waiting_to_resolve,
        "promises_kept": figs.promises_kept,
        "promises_total": figs.promises_total,
        "promise_rate": figs.promise_rate,
        "renegotiations": figs.renegotiations,
        "rated": figs.rated,
        "average_rating": figs.average_rating,
        "needs": figs.needs,
        "declined": figs.declined,
        "reopened": figs.reopened,
    }


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


# --------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class Window:
    """Requests created in ``[since, until)``, figures as of ``now``."""

    since: datetime
    until: datetime
    now: datetime

    @classmethod
    def ending(cls, now: datetime, length: timedelta) -> Window:
        return cls(now - length, now, now)

    @property
    def length(self) -> timedelta:
        return self.until - self.since


class MetricsCache:
    """Loaded :class:`OrgMetrics` per window, and results computed from them (the map of one
    window and tag), reused for ``ttl`` seconds: figures may be that much behind the store (the
    personal page and the request lists read the store directly).

    Only the first load of a window makes someone wait: concurrent first loads wait for one read.
    Once an entry is older than ``ttl`` the next call still gets it, and queues one reload; the
    reloads run one at a time in one background thread (so they take one core, not all), and the
    call after a reload gets the new entry (stale while revalidating). Entries unused for
    ``3 * ttl`` are dropped."""

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        ttl: float = 300.0,
        hours: WorkingHours,
        monotonic: Callable[[], float] = time.monotonic,
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.ttl = ttl
        self.keep = 3 * ttl
        """Entries not refreshed for this long are dropped."""
        self.hours = hours
        self._monotonic = monotonic
        # threads start on the first reload; submit never blocks (it is called under self._lock)
        self._reloader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-cache-reload")
        self._background = background or self._in_reloader
        self._entries: dict[tuple[object, ...], tuple[float, Any]] = {}
        self._refreshing: set[tuple[object, ...]] = set()
        self._loading: dict[tuple[object, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def org(self, now: datetime, length: timedelta, *, previous: bool = False) -> OrgMetrics:
        """The facts of the ``length`` before ``now`` (``previous``: the ``length`` before that)."""
        until = now - length if previous else now

        def load() -> OrgMetrics:
            return OrgMetrics.load(
                store=self.store, workspace=self.workspace, since=until - length, until=until, now=now, hours=self.hours
            )

        return self.derived(("org", length, previous), load)  # type: ignore[no-any-return]

    def derived(self, key: tuple[object, ...], make: Callable[[], Any]) -> Any:
        """The entry ``key``, made by ``make`` on the first call (see the class)."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                if self._monotonic() - hit[0] >= self.ttl and key not in self._refreshing:
                    self._refreshing.add(key)
                    self._background(lambda: self._refresh(key, make))
                return hit[1]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                hit = self._entries.get(key)
            if hit is not None:
                return hit[1]
            value = make()
            self._put(key, value)
            return value

    def _in_reloader(self, work: Callable[[], None]) -> None:
        self._reloader.submit(work)

    def _refresh(self, key: tuple[object, ...], make: Callable[[], Any]) -> None:
        try:
            self._put(key, make())
        except Exception:  # the store is down: keep serving what we have, try again next time
            log.warning("dashboard: reloading %s failed; serving the previous figures", key[:2], exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _put(self, key: tuple[object, ...], value: Any) -> None:
        now = self._monotonic()
        with self._lock:
            self._entries[key] = (now, value)
            for old in [k for k, (at, _v) in self._entries.items() if now - at > self.keep]:
                del self._entries[old]
                self._loading.pop(old, None)


# --------------------------------------------------------------------------- the map


def _group(facts: Iterable[RequestFacts], key: Callable[[RequestFacts], str]) -> dict[str, list[RequestFacts]]:
    grouped: dict[str, list[RequestFacts]] = defaultdict(list)
    for fact in facts:
        grouped[key(fact)].append(fact)
    return grouped


def _department(team: Team | None, teams: dict[str, Team]) -> Team | None:
    """The top of a team's parent chain (cycle-safe): what the map groups teams by."""
    seen: set[str] = set()
    while team is not None and team.parent_id and team.parent_id in teams and team.id not in seen:
        seen.add(team.id)
        team = teams[team.parent_id]
    return team


MAP_LINKS = 200
"""Links the map draws at first: the busiest, and the slowest (a 100-team org has thousands)."""


def map_data(org: OrgMetrics, *, tag: str | None = None, focus: str | None = None, limit: int = MAP_LINKS) -> Json:
    """The chain map of one window: every team with requests as a node (grouped by department),
    and the directed links (``source`` asked ``target``) with their figures and complaints: the
    ``limit`` busiest plus the five slowest, or with ``focus`` (a team id) every link of that team. A team's
    requests to itself are the node's ``internal_volume``."""
    facts = [f for f in org.facts if not tag or tag in f.tags]
    pairs: dict[tuple[str, str], list[RequestFacts]] = defaultdict(list)
    for fact in facts:
        pairs[(fact.requester_team, fact.provider_team)].append(fact)
    served = _group(facts, lambda f: f.provider_team)
    asked = _group(facts, lambda f: f.requester_team)
    teams = dict(org.teams)
    ids = set(teams) | {t for pair in pairs for t in pair}
    nodes: list[Json] = []
    idle = 0
    for team_id in ids:
        if not served.get(team_id) and not asked.get(team_id):
            idle += 1  # a department with no requests of its own, a team without any yet
            continue
        team = teams.get(team_id)
        department = _department(team, teams)
        internal = pairs.get((team_id, team_id), [])
        nodes.append(
            {
                "id": team_id or "-",
                "name": org.team_name(team_id),
                "department": department.name if department else org.team_name(team_id),
                "as_provider": figures_data(figures(served.get(team_id, []))),
                "as_customer_volume": len(asked.get(team_id, [])),
                "internal_volume": len(internal),
                "complaints": sum(1 for f in served.get(team_id, []) if f.complaints),
            }
        )
    nodes.sort(key=lambda n: (n["department"].lower(), n["name"].lower(), n["id"]))
    links: list[tuple[Json, Figures]] = []
    for (source, target), rows in sorted(pairs.items()):
        if source == target:
            continue
        figs = figures(rows)
        links.append(
            (
                {
                    "source": source or "-",
                    "target": target or "-",
                    "label": f"{org.team_name(source)} → {org.team_name(target)}",
                    "figures": figures_data(figs),
                    "complaints": sum(1 for f in rows if f.complaints),
                },
                figs,
            )
        )
    slowest = slowest_first(links, key=lambda pair: pair[1])[:5]
    slowest_labels = [link["label"] for link, _figs in slowest]
    total = len(links)
    if focus is not None:
        wanted = _team_id(org, focus) or "-"
        shown = [link for link, _figs in links if wanted in (link["source"], link["target"])]
    else:
        busiest = sorted(links, key=lambda pair: -pair[0]["figures"]["volume"])[:limit]
        keep = {id(link) for link, _figs in busiest + slowest}
        shown = [link for link, _figs in links if id(link) in keep]
    return {
        "since": org.since.isoformat(),
        "until": org.until.isoformat(),
        "tag": tag or "",
        "focus": focus or "",
        "tags": sorted({t for f in org.facts for t in f.tags}),
        "requests": len(facts),
        "nodes": nodes,
        "idle_teams": idle,
        "links": shown,
        "links_total": total,
        "slowest": slowest_labels,
    }


# --------------------------------------------------------------------------- one link


def _week_buckets(org: OrgMetrics, tz: str) -> list[tuple[str, datetime, datetime]]:
    """The ISO weeks (in ``tz``) the window touches, oldest first, as (name, start, end)."""
    names: list[str] = []
    week = iso_week(org.since, tz)
    last = iso_week(org.until - timedelta(seconds=1), tz)
    while True:
        names.append(week)
        if week == last or len(names) > 60:
            break
        week = shift_week(week, 1)
    return [(name, week_start(name, tz), week_start(shift_week(name, 1), tz)) for name in names]


def _series(org: OrgMetrics, facts: Sequence[RequestFacts], tz: str) -> list[Json]:
    """Figures per week: volume, medians (censored-aware), promises, rating, complaints."""
    buckets = _week_buckets(org, tz)
    per: list[list[RequestFacts]] = [[] for _ in buckets]
    starts = [start for _name, start, _end in buckets]
    for fact in facts:
        for index in range(len(starts) - 1, -1, -1):
            if fact.created_at >= starts[index]:
                per[index].append(fact)
                break
    series = []
    for (name, _start, _end), rows in zip(buckets, per, strict=True):
        figs = figures(rows)
        series.append(
            {
                "week": name,
                "volume": figs.volume,
                "acknowledge_hours": _hours(acknowledge_estimate(figs)),
                "acknowledge_known": figs.median_time_to_acknowledge is not None,
                "resolve_hours": _hours(figs.median_time_to_resolve),
                "promise_rate": figs.promise_rate,
                "average_rating": figs.average_rating,
                "needs": figs.needs,
                "complaints": sum(1 for f in rows if f.complaints),
            }
        )
    return series


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def _request_row(request: Request, fact: RequestFacts | None, directory: Directory, tz: str) -> Json:
    wait = None
    if fact is not None:
        wait = fact.time_to_acknowledge or fact.waited_to_acknowledge
    return {
        "ref": request.ref,
        "number": request.number,
        "text": _preview(request.text),
        "requester": directory.name(request.requester_id),
        "provider": directory.name(request.provider_id),
        "status": request.status.label,
        "open": request.status.is_open,
        "acknowledge": "-"
        if wait is None
        else format_duration(wait) + ("" if fact is not None and fact.time_to_acknowledge else " so far"),
        "acknowledged": fact is not None and fact.time_to_acknowledge is not None,
        "complaints": list(fact.complaints) if fact else [],
        "rating": fact.rating.score if fact and fact.rating else None,
        "due": cards.when(request.due_at, tz) if request.due_at else None,
    }


def _visible(
    ranked: Sequence[RequestFacts], *, store: Store, viewer: Person, directory: Directory
) -> tuple[list[Json], int]:
    """The first :data:`LISTED` of ``ranked`` the viewer may see, and how many before the last
    one listed (or in the whole ranking, when fewer are listed) they may not."""
    shown: list[Json] = []
    hidden = 0
    for fact in ranked[:_CANDIDATES]:
        request = store.get_request(viewer.workspace, fact.number)
        if request is None:
            continue
        if not can_view(request, viewer, directory):
            hidden += 1
            continue
        shown.append(_request_row(request, fact, directory, viewer.tz))
        if len(shown) >= LISTED:
            break
    return shown, hidden


def link_data(org: OrgMetrics, source: str, target: str, *, store: Store, viewer: Person, directory: Directory) -> Json:
    """One link (``source`` team asked ``target`` team): its figures, per week, and its slowest
    and most complained-about requests among those the viewer may see."""
    source, target = _team_id(org, source), _team_id(org, target)
    rows = [f for f in org.facts if f.requester_team == source and f.provider_team == target]
    figs = figures(rows)

    def wait(f: RequestFacts) -> timedelta:
        return f.time_to_acknowledge or f.waited_to_acknowledge or timedelta(0)

    slowest = sorted(rows, key=lambda f: (wait(f), f.number), reverse=True)
    complained = sorted(
        (f for f in rows if f.complaints),
        key=lambda f: (len(f.complaints), -(f.rating.score if f.rating else 6), f.number),
        reverse=True,
    )
    slow_rows, slow_hidden = _visible(slowest, store=store, viewer=viewer, directory=directory)
    complaint_rows, complaint_hidden = _visible(complained, store=store, viewer=viewer, directory=directory)
    return {
        "source": source or "-",
        "target": target or "-",
        "label": f"{org.team_name(source)} → {org.team_name(target)}",
        "since": org.since.isoformat(),
        "until": org.until.isoformat(),
        "figures": figures_data(figs),
        "complaints": sum(1 for f in rows if f.complaints),
        "weeks": _series(org, rows, viewer.tz),
        "slowest": slow_rows,
        "slowest_hidden": slow_hidden,
        "complained": complaint_rows,
        "complained_hidden": complaint_hidden,
    }


def _team_id(org: OrgMetrics, team_id: str) -> str:
    """A team id as the URL names it (``-`` for people without a team); NotFound for others."""
    if team_id in ("-", NO_TEAM):
        return NO_TEAM
    if team_id not in org.teams:
        raise NotFound(f"I don't know the team {team_id!r}.")
    return team_id


# --------------------------------------------------------------------------- a team


def manages_team(viewer: Person, team: Team, directory: Directory) -> bool:
    """Whether ``viewer`` manages ``team``: its manager, or anyone above that manager, or the
    manager of a team above it."""
    if team.manager_id is None:
        return False
    if team.manager_id == viewer.id or directory.manages(viewer.id, team.manager_id):
        return True
    parent = directory.team(team.parent_id)
    seen = {team.id}
    while parent is not None and parent.id not in seen:
        if parent.manager_id == viewer.id:
            return True
        seen.add(parent.id)
        parent = directory.team(parent.parent_id)
    return False


def team_data(
    current: OrgMetrics,
    previous: OrgMetrics,
    team_id: str,
    *,
    store: Store,
    viewer: Person,
    directory: Directory,
    now: datetime,
    pulse_settings: PulseSettings = DEFAULT_PULSE,
    hours: WorkingHours,
    cache: MetricsCache | None = None,
) -> Json:
    """A team's page: its service as provider and as customer (with sub-teams) and per week, its
    partners; for those who manage it also what is stuck now, complaint patterns, kudos and pulse.
    With ``cache``, the store reads behind the last four (open requests, kudos, pulse answers) are
    kept as long as the cached facts, so what is stuck may be that much behind too."""

    def cached(key: tuple[object, ...], make: Callable[[], Any]) -> Any:
        return cache.derived(key, make) if cache is not None else make()

    team_id = _team_id(current, team_id)
    team = current.teams.get(team_id)
    ids = current.team_ids(team_id) if team_id else frozenset({NO_TEAM})
    by_provider, by_requester = cached(
        ("by-team", current.since, current.until, current.now), lambda: _by_team(current)
    )
    served = [f for t in sorted(ids) for f in by_provider.get(t, [])]
    asked = [f for t in sorted(ids) for f in by_requester.get(t, [])]
    partners_in = _group((f for f in served if f.requester_team not in ids), lambda f: f.requester_team)
    partners_out = _group((f for f in asked if f.provider_team not in ids), lambda f: f.provider_team)
    data: Json = {
        "id": team_id or "-",
        "name": current.team_name(team_id),
        "manager": directory.name(team.manager_id) if team and team.manager_id else None,
        "sub_teams": sorted(current.team_name(t) for t in ids if t != team_id),
        "since": current.since.isoformat(),
        "until": current.until.isoformat(),
        "as_provider": figures_data(figures(served)),
        "as_customer": figures_data(figures(asked)),
        "weeks": _series(current, served, viewer.tz),
        "customers": _partners(current, partners_in),
        "providers": _partners(current, partners_out),
        "manages": False,
    }
    if team is None or not manages_team(viewer, team, directory):
        data["restricted"] = (
            "What is stuck, complaint patterns, kudos and pulse are shown to the people who manage this team."
        )
        return data
    data["manages"] = True
    view = cached(
        ("stuck", team.id), lambda: _team_view(store=store, team=team, directory=directory, now=now, hours=hours)
    )
    data["stuck"] = _stuck(view, viewer=viewer, directory=directory)
    before, _asked_before = cached(
        ("by-team", previous.since, previous.until, previous.now), lambda: _by_team(previous)
    )
    patterns = patterns_of(  # as scope_patterns(current, previous, target=team) does, from the index
        served,
        [f for t in sorted(ids) for f in before.get(t, [])],
        scope=f"{current.team_name(team_id)} (team)",
        since=current.since,
        until=current.until,
        counterpart=lambda f: current.team_name(f.requester_team),
    )
    data["patterns"] = {
        "complaints": patterns.complaints,
        "requests": patterns.requests,
        "previous": patterns.previous,
        "trend": patterns.trend,
        "by_kind": patterns.by_kind,
        "by_need": patterns.by_need,
        "by_tag": patterns.by_tag,
        "by_counterpart": patterns.by_counterpart,
        "themes": [{"word": t.word, "count": t.count, "refs": list(t.refs[:6])} for t in patterns.themes[:6]],
        "lines": patterns_lines(patterns),
    }
    members = {p.id for p in current.people.values() if p.team_id in ids and p.active and not p.is_bot}
    received = cached(
        ("kudos", current.since),
        lambda: _kudos_by_recipient(store.find_kudos(current.workspace, since=current.since, until=current.until)),
    )
    data["kudos"] = _kudos_per_week([at for m in members for at in received.get(m, [])], current, viewer.tz)
    weeks = [name for name, _s, _e in _week_buckets(current, viewer.tz)]
    pulse = cached(
        ("pulse", tuple(weeks)),
        lambda: PulseIndex.load(
            store=store, workspace=current.workspace, people=current.people.values(), teams=current.teams, weeks=weeks
        ),
    )
    data["pulse"] = _pulse(pulse, ids, weeks, pulse_settings)
    return data


def _partners(org: OrgMetrics, grouped: dict[str, list[RequestFacts]]) -> list[Json]:
    rows: list[Json] = [
        {"id": team or "-", "name": org.team_name(team), "figures": figures_data(figures(facts))}
        for team, facts in grouped.items()
    ]
    rows.sort(key=lambda r: (-r["figures"]["volume"], r["name"].lower()))
    return rows[:12]


def _team_view(
    *, store: Store, team: Team, directory: Directory, now: datetime, hours: WorkingHours
) -> TeamView | None:
    """``/request team`` for the team's manager; None when there is none or nobody reports to them."""
    manager = directory.get(team.manager_id) if team.manager_id else None
    if manager is None:
        return None
    try:
        return team_view(store=store, manager=manager, now=now, hours=hours)
    except NotAllowed:  # nobody reports to that manager yet: nothing is stuck
        return None


def _stuck(view: TeamView | None, *, viewer: Person, directory: Directory) -> Json:
    """The stuck requests by group, listing only those the viewer may see."""
    if view is None:
        return {group: [] for group in GROUPS}
    return {
        group: [
            {"ref": item.request.ref, "number": item.request.number, "line": item.line, "actions": list(item.actions)}
            for item in view.groups[group]
            if can_view(item.request, viewer, directory)
        ][:LISTED]
        for group in GROUPS
    }


def _by_team(org: OrgMetrics) -> tuple[dict[str, list[RequestFacts]], dict[str, list[RequestFacts]]]:
    """The window's facts by provider team and by requester team (kept with the cached facts)."""
    return _group(org.facts, lambda f: f.provider_team), _group(org.facts, lambda f: f.requester_team)


def _kudos_by_recipient(kudos: Sequence[Kudos]) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = defaultdict(list)
    for item in kudos:
        for recipient in item.recipient_ids:
            found[recipient].append(item.at)
    return dict(found)


def _kudos_per_week(received: Sequence[datetime], org: OrgMetrics, tz: str) -> list[Json]:
    buckets = _week_buckets(org, tz)
    starts = [start for _name, start, _end in buckets]
    counts = [0] * len(buckets)
    for at in received:
        index = bisect.bisect_right(starts, at) - 1
        if index >= 0:
            counts[index] += 1
    return [{"week": name, "received": count} for (name, _s, _e), count in zip(buckets, counts, strict=True)]


def _pulse(index: PulseIndex, ids: frozenset[str], weeks: Sequence[str], settings: PulseSettings) -> list[Json]:
    """The team's pulse per week where the anonymity rules allow (:meth:`PulseIndex.summary`:
    enough answers in a big enough team); otherwise only how many answered."""
    rows = []
    for week in weeks:
        summary = index.summary(sorted(ids), week, settings)
        rows.append(
            {
                "week": week,
                "shown": summary.shown,
                "asked": summary.asked,
                "answered": summary.answered,
                "manager_support": summary.manager_support,
                "service": summary.service,
            }
        )
    return rows


# --------------------------------------------------------------------------- my page


ChatLink = Callable[[Request, Person, str], list[Json]]
"""``(request, viewer, side)`` -> links back into chat (``side``: requester or provider)."""


def personal_data(
    *,
    store: Store,
    viewer: Person,
    now: datetime,
    chat_links: ChatLink | None = None,
    hours: WorkingHours,
) -> Json:
    """The viewer's own page: open requests both ways, promises, kudos, their figures (30 days)."""
    directory = Directory(store, viewer.workspace)
    asked = store.find_requests(viewer.workspace, requester_id=viewer.id, open_only=True)
    held = store.find_requests(viewer.workspace, provider_id=viewer.id, open_only=True)

    def row(request: Request, side: str) -> Json:
        counterpart = request.provider_id if side == "requester" else request.requester_id
        person = directory.get(request.provider_id)
        waited = working_time(
            request.created_at, now, tz=person.tz if person else "UTC", hours=hours.for_person(person)
        )
        due = promised_due(request) or request.due_at
        return {
            "ref": request.ref,
            "number": request.number,
            "text": _preview(request.text),
            "with": directory.name(counterpart),
            "status": request.status.label,
            "waited": format_duration(waited),
            "due": cards.when(due, viewer.tz) if due else None,
            "overdue": due is not None and due < now,
            "links": chat_links(request, viewer, side) if chat_links else [],
        }

    tally = kudos_tally(store=store, person=viewer, now=now)
    org = OrgMetrics.load(
        store=store, workspace=viewer.workspace, since=now - timedelta(days=30), until=now, now=now, hours=hours
    )
    mine = org.person(viewer.id)
    promises = sorted(
        (r for r in held if promised_due(r) is not None),
        key=lambda r: (promised_due(r) or now, r.number),
    )
    return {
        "name": viewer.name,
        "handle": viewer.handle,
        "team": directory.team(viewer.team_id).name if directory.team(viewer.team_id) else None,  # type: ignore[union-attr]
        "team_id": viewer.team_id or "",
        "asked": [row(r, "requester") for r in sorted(asked, key=lambda r: r.number)],
        "held": [row(r, "provider") for r in sorted(held, key=lambda r: r.number)],
        "promises": [row(r, "provider") for r in promises],
        "promises_kept": mine.as_provider.promises_kept,
        "promises_total": mine.as_provider.promises_total,
        "as_provider": figures_data(mine.as_provider),
        "as_customer": figures_data(mine.as_customer),
        "kudos_received": [
            {
                "from": directory.name(k.giver_id),
                "message": _preview(k.message),
                "at": cards.when(k.at, viewer.tz),
            }
            for k in reversed(tally.received[-10:])
        ],
        "kudos_received_total": len(tally.received),
        "kudos_given_total": sum(len(k.recipient_ids) for k in tally.given),
        "kudos_left_today": tally.left_today,
    }
