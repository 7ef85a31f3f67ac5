"""Pydantic models of the domain: people, teams, requests with their event log, kudos.

Every stored record carries its ``workspace`` (one servechain organisation; a Slack
workspace and a Teams tenant map onto it) so nothing crosses between organisations.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

# Datetime fields are pydantic's AwareDatetime: a naive value is refused inside pydantic-core,
# without a Python call per value (the Python validator used before cost 13% of the
# instructions of reading a request back from either store).
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

NEEDS: tuple[str, ...] = ("friendliness", "empathy", "fairness", "options", "control", "information")
"""The six customer needs a requester may score on top of the overall 1-5 rating."""

MAX_TEXT = 3000
"""Longest request text, comment, reason or note we accept (characters)."""


class Model(BaseModel):
    """Base model: forbid unknown fields so typos in stored data surface early."""

    model_config = ConfigDict(extra="forbid")


class Person(Model):
    """One human, linked to their Slack and/or Teams identities so one history serves both."""

    id: str
    workspace: str = "default"
    handle: str
    name: str
    email: str | None = None
    tz: str = "UTC"
    country: str | None = Field(default=None, description="ISO 3166 country for public holidays, e.g. US")
    region: str | None = Field(default=None, description="Subdivision of the country, e.g. NY")
    manager_id: str | None = None
    team_id: str | None = None
    slack_ids: dict[str, str] = Field(default_factory=dict, description="Slack team id -> user id")
    teams_id: str | None = Field(default=None, description="Teams AAD object id")
    is_bot: bool = False
    mute_nudges: bool = False
    active: bool = True


class Team(Model):
    """A team with a manager and an optional parent team (department)."""

    id: str
    workspace: str = "default"
    name: str
    manager_id: str | None = None
    parent_id: str | None = None


class Status(StrEnum):
    """Current state of a request, derived from its event log."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Priority(StrEnum):
    """How urgent the requester says the request is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class EventKind(StrEnum):
    """Kinds of entries in a request's append-only log."""

    CREATED = "created"
    ACKNOWLEDGED = "acknowledged"
    STARTED = "started"
    COMMENTED = "commented"
    HANDED_OFF = "handed_off"
    REASSIGNED = "reassigned"
    DECLINED = "declined"
    DONE = "done"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    RATED = "rated"
    RECOVERY_PLANNED = "recovery_planned"
    FOLLOWED_UP = "followed_up"
    DUE_SET = "due_set"
    DUE_PROPOSED = "due_proposed"
    DUE_AGREED = "due_agreed"
    DUE_DECLINED = "due_declined"
    UPDATE_ASKED = "update_asked"
    NUDGED = "nudged"
    """A manager in the provider's chain nudged the provider (``/request team``'s Nudge)."""
    ESCALATED = "escalated"
    """The scheduler's escalation job told the provider's manager nobody acknowledged it
    (``to_id``: that manager; ``note``: the job's claim key). The one record of an escalation."""
    PROGRESS_NOTED = "progress_noted"
    ALTERNATIVE_ACCEPTED = "alternative_accepted"
    """The requester took up a decline's alternative (another request or option): resolved by it."""
    RECOVERY_CLOSED = "recovery_closed"
    """The provider's manager closed a service recovery the requester was still not satisfied with."""


class Rating(Model):
    """The requester's rating of a closed request: 1-5 overall plus optional six-needs scores."""

    score: int = Field(ge=1, le=5)
    needs: dict[str, int] = Field(default_factory=dict)
    comment: str | None = Field(default=None, max_length=MAX_TEXT)

    def model_post_init(self, __context: object) -> None:
        for need, value in self.needs.items():
            if need not in NEEDS:
                raise ValueError(f"unknown need {need!r}; the needs are {', '.join(NEEDS)}")
            if not 1 <= value <= 5:
                raise ValueError(f"{need} must be scored 1-5")


class Event(Model):
    """One entry of a request's log; which optional fields are set depends on ``kind``."""

    kind: EventKind
    at: AwareDatetime
    actor_id: str
    note: str | None = None
    alternative: str | None = None
    """A decline's alternative in words (an option, a link...)."""
    alternative_id: str | None = None
    """A decline's alternative person: someone who could do it instead."""
    alternative_request: int | None = None
    """A decline's alternative request: another request that covers it."""
    no_alternative: str | None = None
    """Why a decline offers no alternative."""
    from_id: str | None = None
    to_id: str | None = None
    rating: Rating | None = None
    satisfied: bool | None = None
    due_at: AwareDatetime | None = None
    """The due date this event set, proposed or agreed (``DUE_*``), or asked for (``CREATED``)."""

    @property
    def offers_alternative(self) -> bool:
        """True for a decline that names an alternative (a person, a request or words)."""
        return bool(self.alternative or self.alternative_id or self.alternative_request)


class Request(Model):
    """A request from one person (requester) to another (provider) with its full history."""

    workspace: str = "default"
    number: int = 0
    requester_id: str
    provider_id: str
    text: str = Field(max_length=MAX_TEXT)
    created_at: AwareDatetime
    due_at: AwareDatetime | None = None
    priority: Priority = Priority.NORMAL
    tags: list[str] = Field(default_factory=list)
    parent: int | None = None
    external: bool = False
    status: Status = Status.OPEN
    events: list[Event] = Field(default_factory=list)
    version: int = 0

    @property
    def ref(self) -> str:
        """Human id, e.g. ``R-7``."""
        return f"R-{self.number}"

    def provider_history(self) -> list[str]:
        """Everyone who has been this request's provider, in order, current last."""
        seen: list[str] = []
        for event in self.events:
            if event.kind == EventKind.CREATED and event.to_id:
                seen.append(event.to_id)
            elif event.kind in (EventKind.HANDED_OFF, EventKind.REASSIGNED) and event.to_id:
                if event.to_id in seen:
                    seen.remove(event.to_id)
                seen.append(event.to_id)
        if self.provider_id not in seen:
            seen.append(self.provider_id)
        return seen

    def last(self, *kinds: EventKind) -> Event | None:
        """The latest event of one of ``kinds``, if any."""
        for event in reversed(self.events):
            if event.kind in kinds:
                return event
        return None

    @property
    def closed_at(self) -> datetime | None:
        """When the request last reached done/declined/cancelled, if it is closed now."""
        if self.status.is_open:
            return None
        event = self.last(EventKind.DONE, EventKind.DECLINED, EventKind.CANCELLED)
        return event.at if event else None

    @property
    def rating(self) -> Rating | None:
        """The rating given for the current closure, if any (a reopen, or a requester asking
        someone else after a decline, starts a new one)."""
        for event in reversed(self.events):
            if event.kind == EventKind.RATED:
                return event.rating
            if event.kind in (EventKind.REOPENED, EventKind.HANDED_OFF):
                return None
        return None


class Kudos(Model):
    """Thanks from one person to one or more others."""

    id: str
    workspace: str = "default"
    giver_id: str
    recipient_ids: list[str]
    message: str = Field(max_length=1000)
    values: list[str] = Field(default_factory=list)
    at: AwareDatetime
    request_number: int | None = None
    channel: str | None = None


class ActionId(StrEnum):
    """Buttons on neutral messages; front ends hand every click back to ``bot.clicks.run_click``,
    which routes lifecycle actions to ``bot.requests.act``, nudge actions to
    ``bot.nudges.handle_nudge_action``, thanks to ``bot.kudos`` and pulse answers to ``bot.pulse``."""

    ACKNOWLEDGE = "acknowledge"
    START = "start"
    DONE = "done"
    DECLINE = "decline"
    HANDOFF = "handoff"
    REASSIGN = "reassign"
    CANCEL = "cancel"
    REOPEN = "reopen"
    RATE = "rate"
    RECOVER = "recover"
    FOLLOW_UP = "follow_up"
    COMMENT = "comment"
    SET_DUE = "set_due"
    PROPOSE_DUE = "propose_due"
    ACCEPT_DUE = "accept_due"
    DECLINE_DUE = "decline_due"
    ASK_UPDATE = "ask_update"
    NUDGE = "nudge"
    """A manager nudges the provider of a stuck request (at most once per working day)."""
    EXTEND_DUE = "extend_due"
    """A manager proposes a later due date, with a reason, for the requester to accept."""
    PROGRESS = "progress"
    ASK_INSTEAD = "ask_instead"
    """After a decline: re-route the request to the person the decline named (a hand-off)."""
    ACCEPT_ALTERNATIVE = "accept_alternative"
    """After a decline: the requester takes up its alternative; the request is resolved by it."""
    ASK_AGAIN = "ask_again"
    """After a decline: ask the same provider again, with a note (reopens it)."""
    CLOSE_RECOVERY = "close_recovery"
    """A manager closes a service recovery after the rounds that did not satisfy the requester."""
    THANK = "thank"
    SNOOZE = "snooze"
    MUTE = "mute"
    UNMUTE = "unmute"
    PULSE = "pulse"
    """Answer the weekly pulse (``bot.pulse``); the action's ``value`` names the ISO week."""


class Action(Model):
    """A button on a neutral message; ``inputs`` names the fields a form must collect first."""

    id: ActionId
    label: str
    request: int
    style: Literal["primary", "danger", "default"] = "default"
    inputs: list[str] = Field(default_factory=list)
    value: str | None = None


class Fact(Model):
    """A label/value line on a card."""

    label: str
    value: str


MessageKind = Literal[
    "provider_card",
    "requester_card",
    "update",
    "rating_prompt",
    "recovery_prompt",
    "follow_up_prompt",
    "nudge",
    "digest",
    "kudos",
    "pulse",
    "text",
]


class Section(Model):
    """A titled block of lines on a long message such as the weekly digest."""

    title: str
    lines: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    """Buttons about this part, shown right under it (``/request team``'s per-group actions)."""


class ChartSeries(Model):
    """One line of a chart panel; ``None`` leaves a gap (no data, or hidden to keep answers anonymous)."""

    label: str
    values: list[float | None]


class ChartPanel(Model):
    """One small chart: its series share the x-axis labels of the :class:`Chart`."""

    title: str
    series: list[ChartSeries]
    unit: str = ""
    y_min: float | None = None
    y_max: float | None = None


class Chart(Model):
    """A neutral chart description (data, not pixels): notifiers draw it with ``bot.charts`` when
    they send, so the outbox stores numbers instead of an image."""

    title: str
    labels: list[str]
    panels: list[ChartPanel]
    alt_text: str


class Message(Model):
    """A platform-neutral outbound message; renderers turn it into Block Kit, cards or text.

    ``card_key`` identifies a card that later messages with the same key update in place;
    ``thread_key`` names the card whose thread this message belongs in.
    ``key`` is unique per message and makes delivery idempotent.
    """

    key: str
    workspace: str = "default"
    recipient_id: str
    kind: MessageKind
    title: str
    text: str = ""
    facts: list[Fact] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    card_key: str | None = None
    revision: int | None = None
    """For cards: which state of the request this is (its event count). Delivery never lets an
    older state overwrite a newer one, whatever order retries and replicas send them in."""
    thread_key: str | None = None
    request: int | None = None
    sections: list[Section] = Field(default_factory=list)
    chart: Chart | None = None


OutboxState = Literal["pending", "sent", "failed"]


class OutboxItem(Model):
    """A message waiting for (or done with) delivery, stored with the change that caused it."""

    key: str
    workspace: str = "default"
    message: Message
    state: OutboxState = "pending"
    created_at: AwareDatetime
    attempts: int = 0
    next_attempt_at: AwareDatetime
    last_error: str | None = None
    platform: str | None = None
    platform_ref: str | None = None
    version: int = 0
    lease: str | None = None
    """While a worker sends it: that worker's lease token (until ``next_attempt_at``); None otherwise."""

    @property
    def conversation(self) -> str:
        """The conversation it goes to: its recipient's DM, where its card and thread live (the
        platforms' per-conversation rate limits count every message sent there)."""
        return f"{self.workspace}/{self.message.recipient_id}"

    @property
    def lane(self) -> str:
        """Delivery keeps one item of a lane in flight at a time, so a lane's messages keep their
        order: the conversation's, with bulk messages that belong to no card (digests, pulse
        invitations, nudges outside a thread) in a lane of their own beside it (:func:`lane_of`)."""
        return lane_of(
            self.workspace, self.message.recipient_id, self.message.kind, self.message.card_key, self.message.thread_key
        )

    @property
    def priority(self) -> int:
        """0 for what a person is waiting for (cards, replies to their commands and clicks), 1 for
        bulk work (digests, pulse invitations, nudges), which waits behind it."""
        return 1 if self.message.kind in BULK_KINDS else 0


BULK_KINDS = frozenset({"digest", "pulse", "nudge"})
"""Message kinds nobody is waiting for this second (see :attr:`OutboxItem.priority`)."""


def lane_of(workspace: str, recipient_id: str, kind: str, card_key: str | None, thread_key: str | None) -> str:
    """The lane of an outbox message (see :attr:`OutboxItem.lane`). A bulk message of no card
    has a lane of its own beside the conversation's: a digest holds its lane while its chart is
    drawn and uploaded (seconds, with 105 of them at 09:00), and the recipient's cards would
    wait behind it (card p99 28 s in ``benchmarks/delivery_bench.py --digests``). Nothing
    orders a digest against a card; what belongs to a card (its updates, its thread) stays in
    the conversation's lane."""
    conversation = f"{workspace}/{recipient_id}"
    return f"{conversation}/bulk" if kind in BULK_KINDS and not card_key and not thread_key else conversation


class CardRef(Model):
    """Where a card was posted on a platform, so updates edit the same message."""

    workspace: str = "default"
    card_key: str
    platform: str
    ref: str
    revision: int = 0
    """The newest card state posted there (see ``Message.revision``); it only ever rises."""


InboxState = Literal["pending", "done", "failed"]


class InboxItem(Model):
    """A command, click or form a front end acknowledged, stored before the acknowledgement.

    The front end writes it durably first, acknowledges the platform, and then runs it from
    here; a process that dies in between leaves it ``pending`` with a lease that runs out, so a
    restart (or another replica) runs it. ``key`` is the platform's idempotency key (a retried
    delivery of the same command is the same item). Once run, the payload is dropped: a done
    item keeps no words, only that it happened."""

    workspace: str = "default"
    key: str
    platform: str
    kind: str
    """Which handler runs it, e.g. ``slack.command``."""
    payload: dict[str, Any] = Field(default_factory=dict)
    received_at: AwareDatetime
    state: InboxState = "pending"
    attempts: int = 0
    lease_until: AwareDatetime
    """Nobody else takes it before this; the accepting process holds it at first."""
    owner: str = ""
    finished_at: AwareDatetime | None = None
    last_error: str | None = None
    version: int = 0
