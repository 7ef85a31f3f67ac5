"""Nudges, escalations and follow-up reminders: what is due, and sending each exactly once.

What is due at ``now`` is computed from the stored request logs alone, so a scheduler that
was down catches up, and every replica computes the same thing. Each reminder has a claim
key (``nudge:unacked:R-7:e0``, ``escalate:R-7:e0``, ...; ``eN`` is the log entry that put the
request in its current provider's hands), and the store's first-wins claim makes sure it is
sent at most once. A person's reminders of one run go out as one grouped message (a
per-person, per-minute lease keeps replicas from splitting it), only during the recipient's
working hours; people can snooze a request's reminders or mute nudges.

Rules (the numbers are :class:`NudgeSettings`, counted in the working hours of the person
being waited on: the provider, or the requester for follow-ups):

- *unacknowledged*: a provider who has not acknowledged within ``unacknowledged_hours`` of
  receiving a request gets one nudge;
- *overdue*: a provider holding an open request past its due time gets one nudge;
- *escalation*: no acknowledgement within ``escalate_hours`` escalates once to the
  provider's manager (escalations ignore snoozes and mutes: they are the safety net). Once the
  manager's message is queued, the job appends an ``escalated`` event to the request's log:
  that event, not a wait re-computed later, is what ``/request team``, complaint patterns and
  the digest count as an escalation (see :func:`record_escalations`);
- *recovery*: a poor rating the provider has not answered within ``follow_up_days``
  working days reminds the provider once;
- *follow-up*: a recovery answer the requester has not answered within ``follow_up_days``
  reminds the requester once;
- *snoozed*: when a snooze ends and the request still needs the person, one reminder.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot import cards
from bot.claims import JobReport, claim_and_send
from bot.errors import Conflict, InvalidCommand, NotFound
from bot.models import Action, ActionId, Event, EventKind, Fact, Message, Person, Request, Status
from bot.people import Directory
from bot.ports import Store
from bot.recovery import recovery
from bot.stats import format_duration
from bot.workhours import WorkingHours, add_working_time, is_working_time

log = logging.getLogger(__name__)

SNOOZE_DOC = "nudge_snooze"
"""Document kind of snoozes; key ``<person id>:R-<n>``."""
MUTE_DOC = "nudge_mute"
"""Document kind of mutes; key ``<person id>``."""

SNOOZE_ACTION = "snooze"
MUTE_ACTION = "mute"
UNMUTE_ACTION = "unmute"
NUDGE_ACTIONS: frozenset[str] = frozenset({SNOOZE_ACTION, MUTE_ACTION, UNMUTE_ACTION})
"""Button ids that belong to nudge messages, not to a request's lifecycle."""

NudgeKind = Literal["unacknowledged", "overdue", "escalation", "recovery", "follow_up", "snoozed"]
ALL_RULES: frozenset[NudgeKind] = frozenset(
    {"unacknowledged", "overdue", "escalation", "recovery", "follow_up", "snoozed"}
)

_NEW_HOLDER = (EventKind.CREATED, EventKind.HANDED_OFF, EventKind.REASSIGNED, EventKind.REOPENED)
_SNOOZE_RE = re.compile(r"\s*(\d{1,3})\s*(m|h|d)?\s*", re.IGNORECASE)


class NudgeSettings(BaseModel):
    """When reminders are due; hours and days are working time of the person concerned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Send nudges, escalations and follow-up reminders at all.")
    unacknowledged_hours: float = Field(
        default=4, gt=0, description="Working hours without acknowledgement before the provider is nudged once."
    )
    escalate_hours: float = Field(
        default=16, gt=0, description="Working hours without acknowledgement before the manager is told once."
    )
    overdue: bool = Field(default=True, description="Nudge a provider once when their open request is overdue.")
    follow_up_days: float = Field(
        default=2, gt=0, description="Working days an unanswered recovery or follow-up prompt waits for a reminder."
    )
    snooze_hours: float = Field(default=4, gt=0, description="Working hours a snooze lasts unless told otherwise.")
    lookback_days: int = Field(
        default=90, gt=0, description="Closed requests created longer ago than this are not checked for follow-ups."
    )


DEFAULT_NUDGES = NudgeSettings()


@dataclass(frozen=True)
class Due:
    """One reminder that is due: who gets it, about which request, and its claim key."""

    key: str
    kind: NudgeKind
    recipient_id: str
    request: int
    due_at: datetime
    line: str

    @property
    def snoozable(self) -> bool:
        """Escalations go to managers and cannot be snoozed or muted."""
        return self.kind != "escalation"


# --------------------------------------------------------------------------- what is due


def holder_since(request: Request) -> tuple[int, datetime]:
    """The log index and time of the event that put the request in its current provider's hands."""
    for index in range(len(request.events) - 1, -1, -1):
        if request.events[index].kind in _NEW_HOLDER:
            return index, request.events[index].at
    return 0, request.created_at


def pending_after_rating(request: Request) -> tuple[int, Event] | None:
    """What an open service recovery waits on, with its log index: the poor rating or a "not yet"
    (the provider's plan is due), or a plan (the requester's answer is due); see ``bot.recovery``."""
    if request.status not in (Status.DONE, Status.DECLINED):
        return None
    found = recovery(request)
    if found is None or not found.is_open:
        return None
    return found.last_index, found.last


def _tz(directory: Directory, person_id: str) -> str:
    person = directory.get(person_id)
    return person.tz if person else "UTC"


def due_for_request(
    request: Request,
    *,
    directory: Directory,
    now: datetime,
    settings: NudgeSettings = DEFAULT_NUDGES,
    hours: WorkingHours,
    rules: frozenset[NudgeKind] = ALL_RULES,
) -> list[Due]:
    """The reminders about one request that are due at ``now`` (before quiet hours, snoozes and mutes)."""
    found: list[Due] = []
    ref = request.ref
    requester = directory.handle(request.requester_id)
    provider_tz = _tz(directory, request.provider_id)
    provider_hours = hours.for_person(directory.get(request.provider_id))
    if request.status.is_open:
        index, since = holder_since(request)
        if request.status == Status.OPEN:
            unacked_at = add_working_time(
                since, timedelta(hours=settings.unacknowledged_hours), tz=provider_tz, hours=provider_hours
            )
            if "unacknowledged" in rules and now >= unacked_at:
                waited = format_duration(timedelta(hours=settings.unacknowledged_hours))
                found.append(
                    Due(
                        f"nudge:unacked:{ref}:e{index}",
                        "unacknowledged",
                        request.provider_id,
                        request.number,
                        unacked_at,
                        f"from {requester}: not acknowledged after {waited} of your working time",
                    )
                )
            escalate_at = add_working_time(
                since, timedelta(hours=settings.escalate_hours), tz=provider_tz, hours=provider_hours
            )
            manager_id = directory.manager_of(request.provider_id)
            if "escalation" in rules and now >= escalate_at and manager_id is not None:
                waited = format_duration(timedelta(hours=settings.escalate_hours))
                found.append(
                    Due(
                        f"escalate:{ref}:e{index}",
                        "escalation",
                        manager_id,
                        request.number,
                        escalate_at,
                        f"{directory.handle(request.provider_id)} has not acknowledged {requester}'s request "
                        f"after {waited} of working time",
                    )
                )
        if "overdue" in rules and settings.overdue and request.due_at is not None:
            overdue_at = max(request.due_at, since)
            if now >= overdue_at:
                found.append(
                    Due(
                        f"nudge:overdue:{ref}:e{index}",
                        "overdue",
                        request.provider_id,
                        request.number,
                        overdue_at,
                        f"from {requester}: overdue since {cards.when(request.due_at, provider_tz)}",
                    )
                )
        return found
    pending = pending_after_rating(request)
    if pending is None:
        return found
    index, event = pending
    wait = settings.follow_up_days * hours.day_length
    if event.kind in (EventKind.RATED, EventKind.FOLLOWED_UP) and "recovery" in rules:
        remind_at = add_working_time(event.at, wait, tz=provider_tz, hours=provider_hours)
        if now >= remind_at:
            score = event.rating.score if event.rating else "?"
            waiting = (
                f"{requester} rated it {score}/5 and is waiting to hear what you will do about it"
                if event.kind == EventKind.RATED
                else f"{requester} is still not satisfied and is waiting for another plan"
            )
            found.append(
                Due(
                    f"followup:recovery:{ref}:e{index}",
                    "recovery",
                    request.provider_id,
                    request.number,
                    remind_at,
                    waiting,
                )
            )
    elif event.kind == EventKind.RECOVERY_PLANNED and "follow_up" in rules:
        requester_tz = _tz(directory, request.requester_id)
        remind_at = add_working_time(
            event.at, wait, tz=requester_tz, hours=hours.for_person(directory.get(request.requester_id))
        )
        if now >= remind_at:
            found.append(
                Due(
                    f"followup:answer:{ref}:e{index}",
                    "follow_up",
                    request.requester_id,
                    request.number,
                    remind_at,
                    f"{directory.handle(event.actor_id)} answered your rating; are you satisfied now?",
                )
            )
    return found


def needs_person(request: Request, person_id: str, now: datetime) -> bool:
    """True while the request waits for something from this person that a reminder is about
    (for snooze reminders): an acknowledgement or an overdue delivery from its provider, an
    answer to a poor rating from its provider, an answer to a recovery from its requester."""
    if request.status.is_open:
        overdue = request.due_at is not None and request.due_at <= now
        return request.provider_id == person_id and (request.status == Status.OPEN or overdue)
    pending = pending_after_rating(request)
    if pending is None:
        return False
    _index, event = pending
    if event.kind in (EventKind.RATED, EventKind.FOLLOWED_UP):
        return request.provider_id == person_id
    return request.requester_id == person_id


SCHEDULER_ACTOR = "servechain"
"""The ``actor_id`` of events the scheduler records itself (nobody clicked anything)."""
_RECORD_RETRIES = 8


def escalation_recorded(request: Request, since_index: int) -> bool:
    """True when the log has an ``escalated`` event for the wait that started at ``since_index``."""
    return any(e.kind == EventKind.ESCALATED for e in request.events[since_index + 1 :])


def record_escalations(
    store: Store, workspace: str, items: Sequence[Due], now: datetime, *, late: bool = False
) -> list[int]:
    """Append an ``escalated`` event (to: the manager told) to each escalated request's log, once per
    wait; returns the numbers recorded. ``late``: the claim was taken by an earlier run that didn't
    get to record it (a crash between queuing the message and this write, or a version before these
    events): recorded at the time it fell due, never earlier than the log's last entry."""
    recorded: list[int] = []
    for item in items:
        if item.kind != "escalation":
            continue
        for _attempt in range(_RECORD_RETRIES):
            request = store.get_request(workspace, item.request)
            if request is None or not request.status.is_open:
                break
            index, _since = holder_since(request)
            if f":e{index}" != item.key[item.key.rfind(":") :] or escalation_recorded(request, index):
                break  # a new wait began since, or it is recorded already
            at = max(item.due_at, request.events[-1].at) if late else now
            updated = request.model_copy(deep=True)
            updated.events.append(
                Event(kind=EventKind.ESCALATED, at=at, actor_id=SCHEDULER_ACTOR, to_id=item.recipient_id)
            )
            try:
                store.update_request(updated)
            except Conflict:
                continue  # someone changed it meanwhile: read it again
            recorded.append(item.request)
            break
        else:
            log.warning("could not record the escalation of R-%s: it kept changing", item.request)
    return recorded


# --------------------------------------------------------------------------- snooze and mute


@dataclass(frozen=True)
class Snooze:
    """Reminders about ``request`` for ``person_id`` are held until ``until``."""

    person_id: str
    request: int
    until: datetime

    @property
    def doc_key(self) -> str:
        """Where it is stored."""
        return snooze_key(self.person_id, self.request)

    @property
    def reminder_key(self) -> str:
        """The claim key of the one reminder sent when it ends."""
        return f"nudge:snoozed:R-{self.request}:{self.person_id}:{self.until.isoformat()}"


def snooze_key(person_id: str, number: int) -> str:
    """The document key of a person's snooze of one request."""
    return f"{person_id}:R-{number}"


def load_snoozes(store: Store, workspace: str) -> dict[tuple[str, int], Snooze]:
    """Every stored snooze by (person, request)."""
    found: dict[tuple[str, int], Snooze] = {}
    for _key, doc in store.list_docs(SNOOZE_DOC, workspace):
        try:
            snooze = Snooze(str(doc["person_id"]), int(doc["request"]), datetime.fromisoformat(doc["until"]))
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed snooze document: %r", doc)
            continue
        found[(snooze.person_id, snooze.request)] = snooze
    return found


def parse_snooze(value: str | None, *, hours: WorkingHours, settings: NudgeSettings = DEFAULT_NUDGES) -> timedelta:
    """``30m``, ``4h`` or ``1d`` (working days of ``hours``) as working time; None means the default length."""
    if value is None or not value.strip():
        return timedelta(hours=settings.snooze_hours)
    match = _SNOOZE_RE.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise InvalidCommand(f"I don't understand snoozing for {value!r}; try 30m, 4h or 1d.")
    amount, unit = int(match.group(1)), (match.group(2) or "h").lower()
    if unit == "m":
        return timedelta(minutes=amount)
    if unit == "h":
        return timedelta(hours=amount)
    return amount * hours.day_length


def snooze(
    *,
    store: Store,
    person: Person,
    number: int,
    now: datetime,
    length: timedelta | None = None,
    settings: NudgeSettings = DEFAULT_NUDGES,
    hours: WorkingHours,
) -> datetime:
    """Hold ``person``'s reminders about ``R-<number>`` for ``length`` of their working time (default
    ``settings.snooze_hours``), then remind them once if it still needs them. Returns the end."""
    request = store.get_request(person.workspace, number)
    if request is None or person.id not in (request.provider_id, request.requester_id):
        raise NotFound(f"I can't find R-{number} among your requests.")
    length = length if length is not None else timedelta(hours=settings.snooze_hours)
    until = add_working_time(now, length, tz=person.tz, hours=hours.for_person(person))
    doc = {"person_id": person.id, "request": number, "until": until.isoformat(), "at": now.isoformat()}
    store.put_doc(SNOOZE_DOC, person.workspace, snooze_key(person.id, number), doc)
    return until


def set_muted(*, store: Store, person: Person, muted: bool, now: datetime) -> None:
    """Mute (or unmute) nudges and follow-up reminders for ``person``; the stored choice overrides
    ``Person.mute_nudges``. Escalations to managers are never muted."""
    store.put_doc(MUTE_DOC, person.workspace, person.id, {"muted": muted, "at": now.isoformat()})


def is_muted(person: Person, mutes: Mapping[str, dict[str, Any]]) -> bool:
    """The person's own stored choice if they made one, else ``Person.mute_nudges``."""
    doc = mutes.get(person.id)
    if doc is not None and isinstance(doc.get("muted"), bool):
        return bool(doc["muted"])
    return person.mute_nudges


def handle_nudge_action(
    *,
    store: Store,
    actor: Person,
    action: str,
    request: int,
    value: str | None,
    now: datetime,
    settings: NudgeSettings = DEFAULT_NUDGES,
    hours: WorkingHours,
) -> str:
    """A click on a nudge message's button (``snooze``, ``mute`` or ``unmute``); returns the reply."""
    if action == SNOOZE_ACTION:
        until = snooze(
            store=store,
            person=actor,
            number=request,
            now=now,
            length=parse_snooze(value, hours=hours, settings=settings),
            settings=settings,
            hours=hours,
        )
        return f"Snoozed R-{request} until {cards.when(until, actor.tz)}. I'll remind you then if it still needs you."
    if action == MUTE_ACTION:
        set_muted(store=store, person=actor, muted=True, now=now)
        return "Nudges muted. Your manager still hears about requests nobody acknowledges."
    if action == UNMUTE_ACTION:
        set_muted(store=store, person=actor, muted=False, now=now)
        return "Nudges are back on."
    raise InvalidCommand(f"That button ({action}) doesn't belong to a nudge.")


# --------------------------------------------------------------------------- messages


def _action_id(name: str) -> ActionId | None:
    """The ActionId for a nudge button, once the enum has it (SNOOZE/MUTE are added by the wiring)."""
    try:
        return ActionId(name)
    except ValueError:
        return None


def nudge_message(
    *,
    workspace: str,
    recipient: Person,
    items: Sequence[Due],
    requests: Mapping[int, Request],
    settings: NudgeSettings = DEFAULT_NUDGES,
) -> Message:
    """One grouped message for everything due to one person in one run, a line per request."""
    by_request: dict[int, list[Due]] = defaultdict(list)
    for item in items:
        by_request[item.request].append(item)
    facts = []
    for number in sorted(by_request):
        request = requests.get(number)
        quoted = f'"{_short(request.text)}" — ' if request else ""
        reasons = "; ".join(dict.fromkeys(i.line for i in by_request[number]))
        facts.append(Fact(label=f"R-{number}", value=f"{quoted}{reasons}"))
    escalations = {i.request for i in items if i.kind == "escalation"}
    mine = set(by_request) - escalations
    if len(by_request) == 1:
        only = next(iter(by_request))
        title = f"Escalation: R-{only} needs attention" if escalations else f"R-{only} is waiting on you"
    elif not mine:
        title = f"Escalation: {len(by_request)} requests need attention"
    else:
        title = f"{len(by_request)} requests need your attention"
    actions: list[Action] = []
    snooze_id, mute_id = _action_id(SNOOZE_ACTION), _action_id(MUTE_ACTION)
    snoozable = sorted({i.request for i in items if i.snoozable})
    if snooze_id is not None:
        label = format_duration(timedelta(hours=settings.snooze_hours))
        # value None: the default snooze length; a front end may offer others ("30m", "1d")
        actions += [Action(id=snooze_id, label=f"Snooze R-{n} {label}", request=n) for n in snoozable]
    if mute_id is not None and snoozable:
        actions.append(Action(id=mute_id, label="Mute nudges", request=snoozable[0]))
    digest = hashlib.sha1("\n".join(sorted(i.key for i in items)).encode()).hexdigest()[:16]
    return Message(
        key=f"{workspace}:nudges:{recipient.id}:{digest}",
        workspace=workspace,
        recipient_id=recipient.id,
        kind="nudge",
        title=title,
        text=(
            "Nobody has acknowledged these yet; you may want to check in or reassign them."
            if not mine
            else "A reminder, sent once, about requests that need you."
        ),
        facts=facts,
        actions=actions,
        request=next(iter(by_request)) if len(by_request) == 1 else None,
    )


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- the job


@dataclass(kw_only=True)
class NudgeJob:
    """Unacknowledged and overdue nudges, escalations, follow-up and snooze reminders, grouped per person."""

    settings: NudgeSettings = DEFAULT_NUDGES
    hours: WorkingHours
    rules: frozenset[NudgeKind] = ALL_RULES
    name: str = "nudges"
    # Claims are permanent, so remembering the keys seen claimed only saves store round trips
    # for reminders that stay due (an open request nobody acknowledges); it is never needed
    # for correctness, and a new process starts without it.
    _known_claimed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def due(self, *, store: Store, workspace: str, now: datetime) -> tuple[list[Due], dict[int, Request], Directory]:
        """Everything due at ``now`` (before quiet hours, snoozes and mutes), with the requests read."""
        directory = Directory(store, workspace)
        requests: dict[int, Request] = {r.number: r for r in store.find_requests(workspace, open_only=True)}
        since = now - timedelta(days=self.settings.lookback_days)
        for request in store.find_requests(workspace, created_since=since):
            requests.setdefault(request.number, request)
        found: list[Due] = []
        for request in requests.values():
            found += due_for_request(
                request, directory=directory, now=now, settings=self.settings, hours=self.hours, rules=self.rules
            )
        return found, requests, directory

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Claim and queue every reminder that may be sent at ``now``; see the module docstring."""
        report = JobReport(self.name)
        if not self.settings.enabled:
            return report
        found, requests, directory = self.due(store=store, workspace=workspace, now=now)
        snoozes = load_snoozes(store, workspace)
        if "snoozed" in self.rules:
            found += self._snooze_ends(snoozes, requests, store, workspace, now)
        mutes = dict(store.list_docs(MUTE_DOC, workspace))
        by_recipient: dict[str, list[Due]] = defaultdict(list)
        for item in sorted(found, key=lambda i: (i.recipient_id, i.request, i.key)):
            by_recipient[item.recipient_id].append(item)
        for recipient_id, items in by_recipient.items():
            recipient = directory.get(recipient_id)
            if recipient is None or recipient.is_bot or not recipient.active:
                continue
            muted = is_muted(recipient, mutes)
            sendable: list[Due] = []
            for item in items:
                if (workspace, item.key) in self._known_claimed:
                    continue
                if item.snoozable and muted:
                    self._known_claimed.add((workspace, item.key))
                    if store.claim(workspace, item.key, at=now):
                        report.suppressed.append(item.key)
                    else:
                        report.already.append(item.key)
                    continue
                held = snoozes.get((recipient_id, item.request))
                if item.snoozable and item.kind != "snoozed" and held is not None and held.until > now:
                    report.held.append(item.key)
                    continue
                if not is_working_time(now, tz=recipient.tz, hours=self.hours.for_person(recipient)):
                    report.held.append(item.key)
                    continue
                sendable.append(item)
            self._send(store, workspace, recipient, sendable, requests, now, report)
        self._forget_spent_snoozes(store, workspace, snoozes, requests, now, report)
        return report

    def _snooze_ends(
        self,
        snoozes: Mapping[tuple[str, int], Snooze],
        requests: dict[int, Request],
        store: Store,
        workspace: str,
        now: datetime,
    ) -> list[Due]:
        found = []
        for snoozed in snoozes.values():
            if snoozed.until > now:
                continue
            request = requests.get(snoozed.request) or store.get_request(workspace, snoozed.request)
            if request is None or not needs_person(request, snoozed.person_id, now):
                continue
            requests[request.number] = request
            found.append(
                Due(
                    snoozed.reminder_key,
                    "snoozed",
                    snoozed.person_id,
                    request.number,
                    snoozed.until,
                    "your snooze is over and it still needs you",
                )
            )
        return found

    def _send(
        self,
        store: Store,
        workspace: str,
        recipient: Person,
        items: Sequence[Due],
        requests: Mapping[int, Request],
        now: datetime,
        report: JobReport,
    ) -> None:
        # A per-person lease for this minute keeps replicas running at the same moment from
        # splitting one person's reminders over two messages; the loser leaves them to the
        # winner (or, if the winner dies, to the next run).
        if not items:
            return
        if not store.claim(workspace, f"nudge-lease:{recipient.id}:{now.astimezone(UTC):%Y-%m-%dT%H:%M}", at=now):
            report.held += [item.key for item in items]
            return
        # Items are claimed one by one before the message is queued (one atomic claim with it):
        # a replica that lost an item's claim never mentions it, so nothing is sent twice. A
        # crash between the two writes loses that message rather than risk sending it twice.
        won, lost = [], []
        for item in items:
            if store.claim(workspace, item.key, at=now):
                won.append(item)
                report.claimed[item.key] = recipient.id
            else:
                lost.append(item)
                report.already.append(item.key)
            self._known_claimed.add((workspace, item.key))
        # an escalation claimed before without its event (see record_escalations) gets it now
        unrecorded = [i for i in lost if i.kind == "escalation" and _unrecorded(requests.get(i.request))]
        record_escalations(store, workspace, unrecorded, now, late=True)
        if not won:
            return
        message = nudge_message(
            workspace=workspace, recipient=recipient, items=won, requests=requests, settings=self.settings
        )
        if claim_and_send(store, workspace, message.key, [message], now):
            report.sent.append(message)
        record_escalations(store, workspace, won, now)

    def _forget_spent_snoozes(
        self,
        store: Store,
        workspace: str,
        snoozes: Mapping[tuple[str, int], Snooze],
        requests: Mapping[int, Request],
        now: datetime,
        report: JobReport,
    ) -> None:
        """Drop snoozes that are over and were answered by a reminder or are no longer needed."""
        handled = {*report.claimed, *report.already, *report.suppressed}
        for snoozed in snoozes.values():
            if snoozed.until > now:
                continue
            request = requests.get(snoozed.request)
            key = snoozed.reminder_key
            reminded = key in handled or (workspace, key) in self._known_claimed
            if reminded or request is None or not needs_person(request, snoozed.person_id, now):
                store.delete_doc(SNOOZE_DOC, workspace, snoozed.doc_key)


def _unrecorded(request: Request | None) -> bool:
    if request is None or not request.status.is_open:
        return False
    return not escalation_recorded(request, holder_since(request)[0])


def due_reminders(
    *,
    store: Store,
    workspace: str,
    now: datetime,
    settings: NudgeSettings = DEFAULT_NUDGES,
    hours: WorkingHours,
) -> list[Due]:
    """Every reminder due at ``now`` before quiet hours, snoozes and mutes (for reports and tests)."""
    job = NudgeJob(settings=settings, hours=hours)
    found, _requests, _directory = job.due(store=store, workspace=workspace, now=now)
    return found


def sent_nudges(store: Store, workspace: str) -> list[Message]:
    """Every nudge message queued so far, oldest first (for reports and tests)."""
    return [item.message for item in store.list_outbox(workspace) if item.message.kind == "nudge"]
