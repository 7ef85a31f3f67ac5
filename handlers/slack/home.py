"""App Home: my open requests, my queue, my responsiveness this month, kudos received and given
(what is on it is decided by :func:`bot.home.home`, which the console's ``home`` also shows).

Published with ``views.publish`` when someone opens the tab, and again after a change
touches them, but only for people who have opened it once (the rest see it fresh when
they do), so a busy day does not turn into a storm of publishes.

Every publish goes through :class:`HomeRefresher`: one thread, off the command path, booking
each publish against the process's :class:`bot.ratelimit.RateLimiter` (``views.publish`` is
tier 4, about 100 a minute per workspace). A home being opened goes first; refreshes after a
change are bulk work that waits while commands and clicks are being handled, and repeated
refreshes for one person coalesce into one publish, drawn when it is sent, so the latest state
always wins.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.home import LISTED, TEAM_PREVIEW, HomeItem, home
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE
from bot.models import Person
from bot.ports import Store
from bot.ratelimit import RateLimiter
from bot.team_view import GROUPS, TeamView
from bot.workhours import WorkingHours
from handlers.slack.errors import is_rate_limited
from handlers.slack.render import MAX_VIEW_BLOCKS, Block, buttons, clip, context, fit, header, plain, section
from handlers.slack.views import NEW_REQUEST

log = logging.getLogger(__name__)

SEEN_DOC = "slack_home_seen"
"""Document kind marking that a Slack user has opened the App Home (key: user id)."""
OPENED_DOC = "slack_home_opened"
"""The same mark by person (key: person id; ``{"slack": {team id: user id}}``), so the people a
change touched are looked up in one read, before loading any of them."""
MAX_DEFER = 5.0
"""Longest a refresh waits for commands and clicks in progress to finish before it goes anyway."""
BUSY_POLL = 0.1
"""How often a deferred refresh looks again whether people's work is done."""
DEFAULT_RETRY_AFTER = 30.0
"""Seconds to wait after a 429 that names no Retry-After."""


def _line(item: HomeItem) -> str:
    due = f" · due {item.due}" if item.due else ""
    due += f" · ⚠️ *{item.overdue}*" if item.overdue else ""
    request = item.request
    return (
        f"*{request.ref}* {fit(item.direction, 120)} · {request.status.label}{due}\n{fit(clip(request.text, 200), 600)}"
    )


def _team_blocks(view: TeamView | None, workspace: str) -> list[Block]:
    """For managers: what is stuck on their team (``/request team``), a few requests per group, each
    with the manager's Nudge / Reassign / Extend buttons as on the ``/request team`` card."""
    if view is None:
        return []
    blocks: list[Block] = [header("What is stuck on your team")]
    for index, group in enumerate(GROUPS):
        items = view.groups[group]
        blocks.append(section(f"*{group.capitalize()} ({len(items)})*" + ("" if items else "\nnothing")))
        for number, item in enumerate(items[:TEAM_PREVIEW]):
            blocks.append(section(fit(item.line, 300)))
            if item.buttons:
                blocks.append(buttons(item.buttons, workspace, block_id=f"team-{index}-{number}"))
        if len(items) > TEAM_PREVIEW:
            blocks.append(context(f"…and {len(items) - TEAM_PREVIEW} more"))
    blocks.append(context("/request team lists them all with what you can do about each."))
    return blocks


def _listing(title: str, items: list[HomeItem], empty: str) -> list[Block]:
    blocks: list[Block] = [header(title)]
    if not items:
        return [*blocks, context(empty)]
    blocks += [section(_line(item)) for item in items[:LISTED]]
    if len(items) > LISTED:
        blocks.append(context(f"…and {len(items) - LISTED} more. Try /request list or /request queue."))
    return blocks


def _recovery_blocks(lines: list[str]) -> list[Block]:
    """Service recoveries waiting on the person's (next) plan; nothing when there are none."""
    if not lines:
        return []
    shown = [section(fit(line, 600)) for line in lines[:LISTED]]
    return [header(f"Service recovery waiting on you ({len(lines)})"), *shown]


def home_view(
    *,
    store: Store,
    person: Person,
    now: datetime,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    hours: WorkingHours,
) -> dict[str, Any]:
    """The App Home view for ``person`` at ``now``: :func:`bot.home.home` drawn as Block Kit."""
    shown = home(store=store, person=person, now=now, allowance=allowance, hours=hours)
    summary, tally = shown.summary, shown.kudos
    new_button = {
        "type": "actions",
        "block_id": "home_actions",
        "elements": [
            {"type": "button", "action_id": NEW_REQUEST, "text": plain("New request", 75), "style": "primary"}
        ],
    }
    blocks: list[Block] = [new_button]
    blocks += _listing("Waiting on you", shown.waiting_on_you, "Nothing is waiting on you. Nice!")
    blocks += _recovery_blocks(shown.recoveries)
    blocks += _listing("Your open requests", shown.your_requests, "You have no open requests.")
    blocks += [
        header("Your responsiveness this month"),
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*Median time to acknowledge*\n{shown.median_to_acknowledge}",
                },
                {"type": "mrkdwn", "text": f"*Promises kept*\n{shown.promises_kept}"},
                {"type": "mrkdwn", "text": f"*Requests received*\n{summary.received}"},
                {"type": "mrkdwn", "text": f"*Still open*\n{summary.open_now}"},
                {"type": "mrkdwn", "text": f"*Still waiting for your first answer*\n{summary.waiting_to_acknowledge}"},
            ],
        },
        *_team_blocks(shown.team, person.workspace),
        header(f"Kudos received ({len(tally.received)})"),
    ]
    if not tally.received:
        blocks.append(context("No kudos yet. Give some with /kudos @name what they did."))
    elif tally.received_today:
        blocks.append(context(f"{tally.received_today} of them today."))
    for giver, message in shown.kudos_received:
        blocks.append(section(f"*{fit(giver, 100)}*: {fit(clip(message, 300), 900)}"))
    blocks.append(header(f"Kudos given ({len(tally.given)})"))
    blocks.append(
        context(
            f"{tally.given_today} today; you can give {tally.left_today} more. "
            "/kudos top shows this week's leaderboard."
        )
    )
    for names, message in shown.kudos_given:
        blocks.append(section(f"To *{fit(names, 200)}*: {fit(clip(message, 300), 900)}"))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


class HomePublisher:
    """Publishes App Home views; remembers who has opened theirs.

    Two marks are kept: :data:`SEEN_DOC` by Slack user id (as always) and :data:`OPENED_DOC` by
    person id, so that after a change the touched people's marks are read in one round trip,
    before (and instead of) loading anyone (:meth:`opened_among`). Opening is for good (only
    erasure deletes the marks, with the person's record), so a mark once read is kept for the
    process's life: replicas that never saw someone open read it from the store the first time.
    Nothing negative is kept, so a home opened on another replica is refreshed from the next
    change on. A kept mark that erasure deleted does no harm: the erased person's record is gone
    or has no Slack id any more, so :meth:`HomeRefresher` finds nobody to publish to. (Erasure
    runs in ``servechain forget``, another process, so there is nothing here to drop it from.)"""

    def __init__(
        self,
        store: Store,
        workspace: str,
        *,
        kudos_allowance: int = DEFAULT_KUDOS_ALLOWANCE,
        hours: WorkingHours,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.kudos_allowance = kudos_allowance
        self.hours = hours
        self._opened: dict[tuple[str, str], str] = {}
        """(person id, team id) -> the Slack user who opened that person's home in that team."""
        self._backfill_lock = threading.Lock()
        self._backfilled = False

    def opened(self, user_id: str, person: Person | None = None) -> None:
        """Remember that ``user_id`` (``person``, when known) opened the App Home."""
        if self.store.get_doc(SEEN_DOC, self.workspace, user_id) is None:
            self.store.put_doc(SEEN_DOC, self.workspace, user_id, {"seen": True})
        if person is None:
            return
        teams = {team: user for team, user in person.slack_ids.items() if user == user_id}
        if not teams or all(self._opened.get((person.id, team)) == user_id for team in teams):
            return
        self._mark(person.id, teams)

    def _mark(self, person_id: str, teams: dict[str, str]) -> None:
        """Add ``teams`` (team id -> user id) to ``person_id``'s :data:`OPENED_DOC`."""
        doc = self.store.get_doc(OPENED_DOC, self.workspace, person_id) or {}
        slack = {**doc.get("slack", {}), **teams}
        if slack != doc.get("slack"):
            self.store.put_doc(OPENED_DOC, self.workspace, person_id, {"slack": slack})
        self._remember(person_id, slack)

    def _remember(self, person_id: str, slack: dict[str, Any]) -> None:
        for team, user in slack.items():
            self._opened[(person_id, str(team))] = str(user)

    def opened_among(self, person_ids: Iterable[str], team_id: str) -> dict[str, str]:
        """Which of these people opened their home in ``team_id``: person id -> Slack user id.
        At most one read (none when every one of them is known to have opened it)."""
        self._backfill()
        wanted = set(person_ids)
        unknown = [pid for pid in sorted(wanted) if (pid, team_id) not in self._opened]
        if unknown:
            for pid, doc in self.store.get_docs(OPENED_DOC, self.workspace, unknown).items():
                self._remember(pid, doc.get("slack", {}))
        return {pid: user for pid in sorted(wanted) if (user := self._opened.get((pid, team_id))) is not None}

    def _backfill(self) -> None:
        """Once per process: give everyone who opened their home before :data:`OPENED_DOC` existed
        (only a :data:`SEEN_DOC` by user id) the mark by person id. Two listings when every mark is
        there, plus the people when some are missing."""
        if self._backfilled:
            return
        with self._backfill_lock:
            if self._backfilled:
                return
            seen = {user for user, _doc in self.store.list_docs(SEEN_DOC, self.workspace)}
            if seen:
                marked = dict(self.store.list_docs(OPENED_DOC, self.workspace))
                covered = {str(u) for doc in marked.values() for u in doc.get("slack", {}).values()}
                missing = seen - covered
                if missing:
                    for person in self.store.list_people(self.workspace):
                        teams = {t: u for t, u in person.slack_ids.items() if u in missing}
                        if teams:
                            slack = {**marked.get(person.id, {}).get("slack", {}), **teams}
                            self.store.put_doc(OPENED_DOC, self.workspace, person.id, {"slack": slack})
            self._backfilled = True

    def person(self, person_id: str) -> Person | None:
        """The person whose home is about to be published (loaded off the command's path)."""
        return self.store.get_person(self.workspace, person_id)

    def publish(self, client: WebClient, person: Person, user_id: str, now: datetime) -> None:
        """Build and publish ``person``'s home."""
        view = home_view(store=self.store, person=person, now=now, allowance=self.kudos_allowance, hours=self.hours)
        client.views_publish(user_id=user_id, view=view)

    def has_opened(self, user_id: str) -> bool:
        """True once ``user_id`` has opened their App Home (only theirs are refreshed)."""
        return self.store.get_doc(SEEN_DOC, self.workspace, user_id) is not None


@dataclass
class _Pending:
    """One person's App Home waiting to be published (whatever asked for it since the last one)."""

    client: WebClient
    person: Person | None
    """As asked with; None: loaded when published (a refresh after a change, off the command's path)."""
    person_id: str
    team_id: str | None
    user_id: str
    asked_at: float
    """When the oldest request since the last publish came (monotonic seconds)."""
    due: float
    """Not before this (a rate limit or a Retry-After)."""
    opened: bool
    """They opened the tab: publish at once, ahead of refreshes, even if they never opened it before."""
    checked: bool = False
    """Already known to have opened their home (no :meth:`HomePublisher.has_opened` when published)."""
    version: int = 0
    """Which of the queue's heap entries for this home is current (the others are stale)."""


class HomeRefresher:
    """Publishes App Homes one at a time on a thread of its own, within Slack's rate limit.

    Hand-written (a dict, two heaps, a condition and a thread) because what it needs is small and
    specific: requests for one person coalesce while they wait or are being published (a request
    during a publish publishes once more after it, drawn afresh), an opened home jumps the queue,
    refreshes wait while ``busy()`` (people's commands and clicks are being handled) for up to
    :data:`MAX_DEFER`, and every publish is booked with the shared ``limiter`` (a ``Retry-After``
    pauses publishing). :meth:`run_due` does one round on the clocks it was given, so tests drive
    it on a simulated clock (``background=False``); otherwise the first request starts the thread
    that calls it.

    The queue is two heaps with lazy deletion (``heapq``): homes not due yet by due time, and due
    ones by (opened first, then longest waiting); a home whose place changes is pushed again under
    a new ``version`` and its old entries are skipped, so picking the next home no longer looks at
    every waiting one."""

    def __init__(
        self,
        homes: HomePublisher,
        *,
        clock: Callable[[], datetime],
        limiter: RateLimiter | None = None,
        busy: Callable[[], bool] = lambda: False,
        max_defer: float = MAX_DEFER,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        background: bool = True,
    ) -> None:
        self.homes = homes
        self.background = background
        """Publish on a thread of its own; False leaves it to whoever calls :meth:`run_due`."""
        self.clock = clock
        self.limiter = limiter
        self.busy = busy
        self.max_defer = max_defer
        self.monotonic = monotonic
        self.sleep = sleep
        self.publish_key = f"{homes.workspace}/views.publish"
        """What a ``Retry-After`` on ``views.publish`` pauses in the limiter: that method in this
        workspace (its tier is per method per workspace), not people's messages."""
        self._pending: dict[str, _Pending] = {}
        self._later: list[tuple[float, int, str]] = []
        """(due, version, user id) of homes not due when queued."""
        self._ready: list[tuple[bool, float, int, str]] = []
        """(not opened, asked at, version, user id) of due homes: the next to publish on top."""
        self._versions = itertools.count(1)
        self._publishing: str | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ asking

    def opened(self, client: WebClient, person: Person, user_id: str) -> None:
        """``user_id`` opened their App Home: publish it first."""
        self.homes.opened(user_id, person)
        team_id = next((team for team, user in person.slack_ids.items() if user == user_id), None)
        self._ask(client, person, person.id, team_id, user_id, opened=True)

    def refresh(self, client: WebClient, people: Iterable[Person], team_id: str) -> None:
        """Republish these people's homes soon, for those who have opened theirs (checked when
        published, off the command's path)."""
        for person in people:
            user_id = person.slack_ids.get(team_id)
            if user_id is not None:
                self._ask(client, person, person.id, team_id, user_id, opened=False)

    def changed(self, client: WebClient, person_ids: Iterable[str], team_id: str) -> None:
        """A change touched these people: republish soon the homes of those who have opened theirs
        (one read for all of them, none when all are known to have; nobody is loaded here)."""
        for person_id, user_id in self.homes.opened_among(person_ids, team_id).items():
            self._ask(client, None, person_id, team_id, user_id, opened=False, checked=True)

    def _ask(
        self,
        client: WebClient,
        person: Person | None,
        person_id: str,
        team_id: str | None,
        user_id: str,
        *,
        opened: bool,
        checked: bool = False,
    ) -> None:
        with self._changed:
            if self._closed:
                return
            now = self.monotonic()
            pending = self._pending.get(user_id)
            if pending is None:
                pending = _Pending(client, person, person_id, team_id, user_id, now, now, opened, checked)
                self._pending[user_id] = pending
                self._queue(pending, now)
            else:  # coalesce: one publish, drawn from the latest state when it goes
                pending.client, pending.person = client, person
                pending.person_id, pending.team_id = person_id, team_id or pending.team_id
                pending.checked = pending.checked or checked
                if opened and not pending.opened:
                    pending.opened = True
                    self._queue(pending, now)  # it moves ahead
            self._changed.notify_all()
            if self._thread is None and self.background:
                self._thread = threading.Thread(target=self._run, name="slack-home", daemon=True)
                self._thread.start()

    def _queue(self, pending: _Pending, now: float) -> None:
        """(Re)place ``pending`` in the queue; any older entry of it goes stale. Under ``_changed``."""
        pending.version = next(self._versions)
        if pending.due <= now:
            heapq.heappush(self._ready, (not pending.opened, pending.asked_at, pending.version, pending.user_id))
        else:
            heapq.heappush(self._later, (pending.due, pending.version, pending.user_id))

    def _current(self, version: int, user_id: str) -> _Pending | None:
        pending = self._pending.get(user_id)
        return pending if pending is not None and pending.version == version else None

    # ------------------------------------------------------------------ publishing

    def run_due(self) -> float | None:
        """Publish what is due now, one at a time; seconds until more may be (None: nothing waits)."""
        while True:
            with self._changed:
                if self._closed:
                    return None
                chosen, wait = self._next(self.monotonic())
                if chosen is None:
                    return wait
                heapq.heappop(self._ready)
                del self._pending[chosen.user_id]
                self._publishing = chosen.user_id
            try:
                if not chosen.opened and not chosen.checked and not self.homes.has_opened(chosen.user_id):
                    continue  # never opened: they see it fresh when they do (and no budget is spent)
                person = self._person_of(chosen)
                if person is None:
                    continue
                booked = self._book()
                if self.limiter is not None and booked > self.limiter.horizon:
                    self._again(chosen, self.monotonic() + booked, everyone=True)
                    return booked
                if booked > 0:
                    self.sleep(booked)
                self._publish(chosen, person)
            finally:
                with self._changed:
                    self._publishing = None
                    self._changed.notify_all()

    def _person_of(self, pending: _Pending) -> Person | None:
        """Whose home ``pending`` is, loaded now when it was queued by id; None when they are gone
        or no longer that Slack user (then the user they are now is published to if they opened
        their home, as :meth:`refresh` would have)."""
        if pending.person is not None:
            return pending.person
        person = self.homes.person(pending.person_id)
        if person is None or pending.team_id is None:
            return None
        user_id = person.slack_ids.get(pending.team_id)
        if user_id is None:
            return None
        if user_id != pending.user_id:
            if not self.homes.has_opened(user_id):
                return None
            pending.user_id = user_id
        pending.person = person
        return person

    def _book(self) -> float:
        """Seconds until a publish may go (booked for then when within the limiter's horizon)."""
        if self.limiter is None:
            return 0.0
        return self.limiter.reserve(
            platform="slack", scope=self.homes.workspace, conversation=self.publish_key, op="publish"
        )

    def _next(self, now: float) -> tuple[_Pending | None, float | None]:
        """The home to publish now (opened first, then the longest waiting), or how long until one
        may go. The chosen one is on top of ``_ready``. Under ``_changed``."""
        while self._later and self._later[0][0] <= now:
            _due, version, user_id = heapq.heappop(self._later)
            if (pending := self._current(version, user_id)) is not None:
                heapq.heappush(self._ready, (not pending.opened, pending.asked_at, version, user_id))
        while self._ready and self._current(*self._ready[0][2:]) is None:
            heapq.heappop(self._ready)
        if not self._ready:
            while self._later and self._current(*self._later[0][1:]) is None:
                heapq.heappop(self._later)
            return None, (self._later[0][0] - now) if self._later else None
        chosen = self._pending[self._ready[0][3]]
        if not chosen.opened and now - chosen.asked_at < self.max_defer and self.busy():
            return None, BUSY_POLL  # people's commands and clicks first
        return chosen, 0.0

    def _publish(self, pending: _Pending, person: Person) -> None:
        try:
            self.homes.publish(pending.client, person, pending.user_id, self.clock())
        except SlackApiError as error:
            if not is_rate_limited(error):
                log.warning("could not publish the App Home of %s: %s", person.handle, error)
                return
            wait = _retry_after(error)
            log.info("views.publish is rate limited; publishing App Homes again in %.0fs", wait)
            if self.limiter is not None:
                self.limiter.pause(platform="slack", key=self.publish_key, seconds=wait)
            self._again(pending, self.monotonic() + wait)
        except Exception:  # a stale home is not worth failing anything over
            log.warning("could not publish the App Home of %s", person.handle, exc_info=True)

    def _again(self, pending: _Pending, due: float, *, everyone: bool = False) -> None:
        """Put a home that could not go back in the queue (merged with any newer request); with
        ``everyone`` every queued home waits until ``due`` too (the workspace's budget is spent)."""
        with self._changed:
            now = self.monotonic()
            if everyone:
                for waiting in self._pending.values():
                    waiting.due = max(waiting.due, due)
            newer = self._pending.get(pending.user_id)
            if newer is None:
                pending.due = due
                self._pending[pending.user_id] = pending
            else:
                newer.due = max(newer.due, due)
                newer.opened = newer.opened or pending.opened
                newer.checked = newer.checked or pending.checked
                newer.asked_at = min(newer.asked_at, pending.asked_at)
            if everyone:  # every place changed: queue them all afresh
                self._ready.clear()
                self._later.clear()
                for waiting in self._pending.values():
                    self._queue(waiting, now)
            else:
                self._queue(self._pending[pending.user_id], now)

    def _run(self) -> None:
        while True:
            try:
                wait = self.run_due()
            except Exception:
                log.exception("publishing App Homes failed; trying again")
                wait = 1.0
            with self._changed:
                if self._closed:
                    return
                if wait is None and not self._pending:
                    self._changed.wait()
                elif wait is None or wait > 0:
                    self._changed.wait(min(wait or 1.0, 1.0))

    # ------------------------------------------------------------------ lifecycle

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is being published and nothing is due (homes waiting for a rate
        limit or a Retry-After wait on); False on timeout."""

        def idle() -> bool:
            now = self.monotonic()
            return self._publishing is None and all(p.due > now for p in self._pending.values())

        with self._changed:
            return self._changed.wait_for(idle, timeout)

    def close(self) -> None:
        """Stop: the home being published finishes, the queued ones are dropped (each is drawn
        afresh when its person next opens the tab)."""
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._ready.clear()
            self._later.clear()
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(5)


def _retry_after(error: SlackApiError) -> float:
    headers = error.response.headers if error.response is not None else {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 1.0) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
