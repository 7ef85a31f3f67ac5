"""The anonymous weekly pulse: two questions by DM, answers stored without anyone's identity.

Every Friday afternoon (local time, :class:`PulseSettings`) each person with a team gets a DM
asking, from 1 to 5, "How well supported by your manager did you feel this week?" and "How
well did other teams serve you this week?", plus an optional comment. The scheduler claims
``pulse:<person>:<iso week>`` with the message, so each person is asked once a week.

How an answer stays anonymous, and why each piece is the way it is:

- **The answer** is its own small document (kind :data:`ANSWER_DOC`) holding only the team,
  the ISO week, the two scores and the comment. Its key is ``<team>:<week>:<random token>``:
  no person id, handle, email or platform id; no time finer than the week; and listing the
  answers (which sorts by key) gives a random order, not the order people answered in.
- **Preventing a second answer** needs to know *that* someone answered, so a separate
  marker is claimed, ``pulse-answered:<mac>``, where ``mac`` is an HMAC of (person id, week)
  keyed by a random per-workspace salt (its own document) and an optional secret pepper
  from the settings. The marker holds no team, score or comment, and the answer holds no
  hash, so the two share nothing to join on; the claim's time is the start of the week, not
  the moment of answering. Claims are first-wins across replicas, so a double click counts once.
- **Nothing else** about an answer is written: no outbox message, no idempotency key (a
  click's key names the Slack user), no log line with the scores.
- **Showing figures**: a manager sees a team's figures for a week only when at least
  ``min_answers`` people answered and the team has at least ``min_team_size`` members.
  Sums over several teams (a manager of two teams, a department head's roll-up) include
  only teams that pass on their own, so a hidden team can never be worked out by subtracting.

What this does not hide: the salt sits in the database, so someone holding the database (and,
without a pepper, nothing more) can test whether a given person answered a given week, though
not what they answered. Someone with the store's write log (TinyDB journal, PostgreSQL WAL)
or the servers' request logs can line an answer up with the click that wrote it: keep those
as closely held as the database itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.claims import JobReport, claim_and_send
from bot.errors import InvalidCommand, NotAllowed
from bot.models import Action, ActionId, Message, Person, Team
from bot.ports import Store
from bot.weeks import iso_week, week_end, week_start
from bot.workhours import WorkingHours, is_working_time, zone

log = logging.getLogger(__name__)

ANSWER_DOC = "pulse_answer"
"""Document kind of answers; key ``<team>:<week>:<random token>``."""
SALT_DOC = "pulse_salt"
"""Document kind of the per-workspace salt of answered markers; key ``salt``."""
MARKER_PREFIX = "pulse-answered:"

MIN_ANSWERS = 3
MIN_TEAM_SIZE = 5
MAX_COMMENT = 1000

QUESTIONS: dict[str, str] = {
    "manager_support": "How well supported by your manager did you feel this week?",
    "service": "How well did other teams serve you this week?",
}
"""The two questions, by the field name their answers carry."""
INPUTS: list[str] = [*QUESTIONS, "comment"]
SCALE = "1 = not at all, 5 = very well"
ANONYMITY_NOTE = (
    "Anonymous: your answers are stored without your name, and your manager sees averages only "
    "when at least {min_answers} people on a team of at least {min_team_size} answered. "
    "Comments are shown word for word, so leave out anything that gives you away."
)


class PulseSettings(BaseModel):
    """When the pulse goes out and when its figures may be shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="Send the weekly pulse at all.")
    weekday: int = Field(default=4, ge=0, le=6, description="Local weekday it is sent, Monday=0 (default Friday).")
    send_time: time = Field(default=time(14, 0), description="Local time it is sent from (then during working hours).")
    min_answers: int = Field(
        default=MIN_ANSWERS, ge=1, description="Answers a team needs in a week before its figures are shown."
    )
    min_team_size: int = Field(
        default=MIN_TEAM_SIZE, ge=1, description="Members a team needs before its figures are ever shown."
    )
    answer_days: int = Field(default=7, ge=0, description="Days after the week ends that answers are still taken.")


DEFAULT_PULSE = PulseSettings()


# --------------------------------------------------------------------------- weeks


def week_code(week: str) -> int:
    """``2026-W47`` -> ``202647``: the week as the positive number a button carries."""
    start = week_start(week)
    year, number, _ = start.date().isocalendar()
    return year * 100 + number


def week_from_code(code: int) -> str:
    """``202647`` -> ``2026-W47``; InvalidCommand when it is not a week."""
    week = f"{code // 100}-W{code % 100:02d}"
    week_start(week)
    return week


# --------------------------------------------------------------------------- who belongs where


def pulse_team(person: Person, teams: Mapping[str, Team]) -> str | None:
    """The team a person's answers count for: their own team, or, when they manage it, the
    team above it (their answer is about their own manager, not about themselves). Someone
    heading a team with nothing above it has no team to answer for and is not asked."""
    team = teams.get(person.team_id or "")
    if team is None:
        return None
    if team.manager_id == person.id:
        return team.parent_id if team.parent_id in teams else None
    return team.id


def askable(person: Person) -> bool:
    """People who get the pulse: active humans."""
    return person.active and not person.is_bot


def team_sizes(people: Iterable[Person], teams: Mapping[str, Team]) -> Counter[str]:
    """How many people answer for each team (see :func:`pulse_team`)."""
    sizes: Counter[str] = Counter()
    for person in people:
        team = pulse_team(person, teams) if askable(person) else None
        if team is not None:
            sizes[team] += 1
    return sizes


# --------------------------------------------------------------------------- sending


def pulse_key(person_id: str, week: str) -> str:
    """The scheduler's claim key for asking one person one week."""
    return f"pulse:{person_id}:{week}"


def message_key(workspace: str, person_id: str, week: str) -> str:
    """The outbox key of the pulse DM (also how an answer checks the person was asked)."""
    return f"{workspace}:pulse:{person_id}:{week}"


def pulse_message(person: Person, week: str, settings: PulseSettings = DEFAULT_PULSE) -> Message:
    """The DM asking ``person`` this week's two questions; the button opens the form."""
    questions = "\n".join(f"{n}. {q}" for n, q in enumerate(QUESTIONS.values(), start=1))
    note = ANONYMITY_NOTE.format(min_answers=settings.min_answers, min_team_size=settings.min_team_size)
    return Message(
        key=message_key(person.workspace, person.id, week),
        workspace=person.workspace,
        recipient_id=person.id,
        kind="pulse",
        title=f"Weekly pulse · {week}",
        text=f"Two quick questions about your week ({SCALE}):\n{questions}\n{note}",
        actions=[
            Action(
                id=ActionId.PULSE,
                label="Answer (1 minute)",
                request=week_code(week),
                style="primary",
                inputs=list(INPUTS),
                value=week,
            )
        ],
    )


def due_at(now: datetime, tz: str | None, settings: PulseSettings = DEFAULT_PULSE) -> datetime:
    """When this week's pulse is due for someone in ``tz``."""
    local = now.astimezone(zone(tz))
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday + timedelta(days=settings.weekday), settings.send_time, tzinfo=zone(tz))


@dataclass(kw_only=True)
class PulseJob:
    """Asks everyone with a team the weekly pulse, once per ISO week (their local week)."""

    settings: PulseSettings = DEFAULT_PULSE
    hours: WorkingHours
    name: str = "pulse"
    # Claims are permanent; remembering the ones seen only saves store round trips.
    _known_claimed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)

    def run(self, *, store: Store, workspace: str, now: datetime) -> JobReport:
        """Claim and queue the pulse of everyone it is due for at ``now``."""
        report = JobReport(self.name)
        if not self.settings.enabled:
            return report
        teams = {t.id: t for t in store.list_teams(workspace)}
        for person in store.list_people(workspace):
            if not askable(person) or pulse_team(person, teams) is None:
                continue
            week = iso_week(now, person.tz)
            key = pulse_key(person.id, week)
            if (workspace, key) in self._known_claimed or now < due_at(now, person.tz, self.settings):
                continue
            if not is_working_time(now, tz=person.tz, hours=self.hours.for_person(person)):
                report.held.append(key)
                continue
            message = pulse_message(person, week, self.settings)
            if claim_and_send(store, workspace, key, [message], now):
                report.sent.append(message)
                report.claimed[key] = person.id
            else:
                report.already.append(key)
            self._known_claimed.add((workspace, key))
        return report


# --------------------------------------------------------------------------- answering


def _salt(store: Store, workspace: str) -> bytes:
    doc = store.get_doc(SALT_DOC, workspace, "salt")
    if doc is None or not isinstance(doc.get("salt"), str):
        # Two replicas creating it at once: both write, the last one wins, and both re-read it.
        store.put_doc(SALT_DOC, workspace, "salt", {"salt": secrets.token_hex(32)})
        doc = store.get_doc(SALT_DOC, workspace, "salt") or {}
    return bytes.fromhex(str(doc["salt"]))


def answered_marker(store: Store, workspace: str, person_id: str, week: str, pepper: bytes = b"") -> str:
    """The claim key saying "this person answered this week", without saying who."""
    mac = hmac.new(pepper + _salt(store, workspace), f"{person_id}\x1f{week}".encode(), hashlib.sha256)
    return MARKER_PREFIX + mac.hexdigest()


def _score(value: object, question: str) -> int:
    try:
        score = int(str(value).strip())
    except ValueError:
        score = 0
    if not 1 <= score <= 5:
        raise InvalidCommand(f"Please answer \u201c{QUESTIONS[question]}\u201d from 1 to 5.", field=question)
    return score


def answer_pulse(
    *,
    store: Store,
    person: Person,
    week: str,
    manager_support: object,
    service: object,
    comment: str | None,
    now: datetime,
    settings: PulseSettings = DEFAULT_PULSE,
    pepper: bytes = b"",
    rng: random.Random | None = None,
) -> str:
    """Store one person's answers for ``week`` anonymously (see the module docstring); returns
    the reply for them. Scores are 1-5; answering twice changes nothing."""
    scores = {"manager_support": _score(manager_support, "manager_support"), "service": _score(service, "service")}
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_COMMENT:
        raise InvalidCommand(f"The comment is {len(text)} characters; the limit is {MAX_COMMENT}.", field="comment")
    workspace = person.workspace
    start = week_start(week)
    if store.get_outbox_item(message_key(workspace, person.id, week)) is None:
        raise NotAllowed(f"I haven't asked you the pulse for {week}, so there is nothing to answer.")
    if now >= week_end(week, person.tz) + timedelta(days=settings.answer_days):
        raise NotAllowed(f"The pulse for {week} is closed. The next one comes on Friday.")
    teams = {t.id: t for t in store.list_teams(workspace)}
    team = pulse_team(person, teams)
    if team is None:
        raise NotAllowed("You're not in a team yet, so your answers would have nowhere to count.")
    marker = answered_marker(store, workspace, person.id, week, pepper)
    if not store.claim(workspace, marker, at=start.astimezone(UTC)):
        return f"You've already answered the pulse for {week}. Thanks!"
    token = f"{(rng or secrets.SystemRandom()).getrandbits(128):032x}"
    answer = {"team": team, "week": week, **scores, "comment": text}
    store.put_doc(ANSWER_DOC, workspace, f"{team}:{week}:{token}", answer)
    return f"Thanks! Your answers for {week} are in, without your name."


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class PulseAnswer:
    """One stored answer: a team, a week, two scores and maybe a comment (no identity)."""

    team: str
    week: str
    manager_support: int
    service: int
    comment: str | None = None


def _answer(doc: Mapping[str, Any]) -> PulseAnswer | None:
    try:
        return PulseAnswer(
            team=str(doc["team"]),
            week=str(doc["week"]),
            manager_support=int(doc["manager_support"]),
            service=int(doc["service"]),
            comment=str(doc["comment"]) if doc.get("comment") else None,
        )
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring an unreadable pulse answer document")
        return None


@dataclass(frozen=True)
class PulseIndex:
    """Every stored answer by (team, week), and each team's size today."""

    answers: Mapping[tuple[str, str], list[PulseAnswer]]
    sizes: Mapping[str, int]

    @classmethod
    def load(
        cls,
        *,
        store: Store,
        workspace: str,
        people: Iterable[Person],
        teams: Mapping[str, Team],
        weeks: Iterable[str] | None = None,
    ) -> PulseIndex:
        """Read the answers of the workspace once (only those of ``weeks``, when given)."""
        wanted = None if weeks is None else set(weeks)
        grouped: dict[tuple[str, str], list[PulseAnswer]] = defaultdict(list)
        for key, doc in store.list_docs(ANSWER_DOC, workspace):
            parts = key.rsplit(":", 2)  # <team>:<week>:<token>: skip other weeks without parsing them
            if wanted is not None and (len(parts) < 3 or parts[1] not in wanted):
                continue
            answer = _answer(doc)
            if answer is not None:
                grouped[(answer.team, answer.week)].append(answer)
        return cls(answers=dict(grouped), sizes=team_sizes(people, teams))

    def shown(self, team: str, week: str, settings: PulseSettings = DEFAULT_PULSE) -> bool:
        """True when the team's answers for ``week`` may be shown (enough answers, big enough team)."""
        return (
            self.sizes.get(team, 0) >= settings.min_team_size
            and len(self.answers.get((team, week), ())) >= settings.min_answers
        )

    def summary(self, teams: Iterable[str], week: str, settings: PulseSettings = DEFAULT_PULSE) -> PulseSummary:
        """The figures of ``teams`` for ``week``, counting only teams that may be shown."""
        shown: list[PulseAnswer] = []
        asked = answered = 0
        hidden = 0
        for team in dict.fromkeys(teams):
            answers = self.answers.get((team, week), [])
            asked += self.sizes.get(team, 0)
            answered += len(answers)
            if self.shown(team, week, settings):
                shown += answers
            elif self.sizes.get(team, 0):
                hidden += 1
        if not shown:
            return PulseSummary(week=week, asked=asked, answered=answered, hidden_teams=hidden)
        return PulseSummary(
            week=week,
            asked=asked,
            answered=answered,
            counted=len(shown),
            manager_support=sum(a.manager_support for a in shown) / len(shown),
            service=sum(a.service for a in shown) / len(shown),
            comments=sorted(a.comment for a in shown if a.comment),
            hidden_teams=hidden,
        )


@dataclass(frozen=True)
class PulseSummary:
    """Pulse figures of one or more teams for one week; averages are None when nothing may be shown."""

    week: str
    asked: int = 0
    answered: int = 0
    counted: int = 0
    manager_support: float | None = None
    service: float | None = None
    comments: list[str] = field(default_factory=list)
    hidden_teams: int = 0

    @property
    def shown(self) -> bool:
        """True when there are figures to show."""
        return self.manager_support is not None
