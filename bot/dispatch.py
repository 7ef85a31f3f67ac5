"""Run one parsed chat command for one person: the single entry every front end calls.

Front ends resolve *who* is speaking and how their platform's mentions map to people,
then hand the raw command text here and render the :class:`Reply`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot import cards, commands
from bot.access import PersonFigures
from bot.chain import chain_lines
from bot.digest import DEFAULT_DIGEST, DigestSettings, digest_preview
from bot.errors import DomainError, NotFound
from bot.kudos import DEFAULT_KUDOS_ALLOWANCE, give_kudos, leaderboard_text
from bot.models import Message, Person, Request
from bot.patterns import request_patterns
from bot.people import Directory
from bot.ports import Store
from bot.pulse import DEFAULT_PULSE, PulseSettings
from bot.recovery import recoveries_waiting_on, recovery_line
from bot.requests import Outcome, can_view, create_request
from bot.stats import request_stats
from bot.team_view import team_view, team_view_card, team_view_text
from bot.workhours import WorkingHours

MentionResolver = Callable[[commands.Mention], Person | None]


@dataclass
class Reply:
    """What the speaker sees (ephemerally): text, optionally a card, or a request to open a form."""

    text: str
    card: Message | None = None
    open_form: bool = False
    ok: bool = True
    request: Request | None = None
    messages: list[Message] = field(default_factory=list)
    announcement: Message | None = None
    """A public post for the conversation the command was typed in (kudos), if any."""


def resolver_for(directory: Directory, platform: MentionResolver | None = None) -> MentionResolver:
    """Resolve ``@handle`` through the directory and ``<@ID>`` through the platform's resolver."""

    def resolve(mention: commands.Mention) -> Person | None:
        if mention.kind == "handle":
            return directory.by_handle(mention.value)
        if platform is not None:
            return platform(mention)
        return directory.by_handle(mention.label or mention.value)

    return resolve


def _require(resolve: MentionResolver, mention: commands.Mention) -> Person:
    person = resolve(mention)
    if person is None:
        shown = mention.label or mention.value
        raise NotFound(f"I don't know @{shown}. Check the name, or ask them to say hi to me first.")
    return person


def _line(request: Request, directory: Directory, viewer: Person, now: datetime, hours: WorkingHours) -> str:
    other = request.provider_id if viewer.id == request.requester_id else request.requester_id
    arrow = "→" if viewer.id == request.requester_id else "←"
    due = f" · due {cards.when(request.due_at, viewer.tz)}" if request.due_at else ""
    late = cards.overdue(request, now, viewer, hours)
    due += f" · ⚠️ {late}" if late else ""
    text = request.text if len(request.text) <= 60 else request.text[:57] + "..."
    return f"{request.ref} {arrow} {directory.handle(other)} · {request.status.label}{due} · {text}"


def run_request(
    *,
    store: Store,
    actor: Person,
    text: str,
    now: datetime,
    platform_resolver: MentionResolver | None = None,
    idempotency_key: str | None = None,
    hours: WorkingHours,
    person_figures: PersonFigures = "private",
) -> Reply:
    """Parse and run a ``/request`` command; domain errors become friendly replies.
    ``person_figures`` is the ``PERSON_FIGURES`` setting (who may see a person's stats)."""
    directory = Directory(store, actor.workspace)
    directory.remember(actor)
    command = commands.parse_request(text, now=now, tz=actor.tz, hours=hours.for_person(actor))
    resolve = resolver_for(directory, platform_resolver)
    try:
        return _run_request(command, store, directory, actor, now, resolve, idempotency_key, hours, person_figures)
    except DomainError as error:
        return Reply(error.message, ok=False)


def _run_request(
    command: commands.Command | commands.Usage,
    store: Store,
    directory: Directory,
    actor: Person,
    now: datetime,
    resolve: MentionResolver,
    idempotency_key: str | None,
    hours: WorkingHours,
    person_figures: PersonFigures = "private",
) -> Reply:
    match command:
        case commands.Usage():
            return Reply(command.text(), ok=False)
        case commands.Help():
            return Reply(commands.REQUEST_USAGE)
        case commands.OpenForm():
            return Reply("Opening the request form.", open_form=True)
        case commands.CreateRequest():
            provider = _require(resolve, command.provider)
            outcome = create_request(
                store=store,
                directory=directory,
                requester=actor,
                provider=provider,
                text=command.text,
                now=now,
                due_at=command.due,
                priority=command.priority,
                tags=command.tags,
                parent=command.parent,
                external=command.external,
                idempotency_key=idempotency_key,
            )
            reply = _from_outcome(outcome)
            if command.due_unreadable and not outcome.repeated:
                reply.text += "\n" + unreadable_due_note(command.due_unreadable, outcome.request.ref)
            return reply
        case commands.ListMine():
            mine = store.find_requests(actor.workspace, requester_id=actor.id, limit=20)
            if not mine:
                return Reply("You have no requests yet. Try /request @name what you need by friday.")
            lines = [_line(r, directory, actor, now, hours) for r in mine]
            return Reply("Your requests (newest first):\n" + "\n".join(lines))
        case commands.Queue():
            queue = store.find_requests(actor.workspace, provider_id=actor.id, open_only=True)
            recoveries = recoveries_waiting_on(store, actor)
            if not queue and not recoveries:
                return Reply("Your queue is empty. Nice!")
            queue.sort(key=lambda r: (r.due_at is None, r.due_at or r.created_at, r.number))
            parts = []
            if queue:
                waiting = "\n".join(_line(r, directory, actor, now, hours) for r in queue)
                parts.append("Waiting on you (soonest due first):\n" + waiting)
            if recoveries:
                owed = "\n".join(recovery_line(r, directory) for r in recoveries)
                parts.append("Service recovery waiting on you:\n" + owed)
            return Reply("\n".join(parts))
        case commands.Show():
            request = store.get_request(actor.workspace, command.number)
            if request is None or not can_view(request, actor, directory):
                raise NotFound(f"I can't find R-{command.number}.")
            if actor.id == request.provider_id:
                card = cards.provider_card(request, directory, as_of=cards.AsOf(now, hours))
            else:
                card = cards.requester_card(request, directory, as_of=cards.AsOf(now, hours))
                if actor.id != request.requester_id:
                    card.actions = []
            return Reply(f"{request.ref}: {request.status.label}", card=card, request=request)
        case commands.Stats():
            person = _require(resolve, command.target) if command.target else None
            text = request_stats(
                store=store,
                workspace=actor.workspace,
                viewer=actor,
                now=now,
                person=person,
                team=command.team,
                hours=hours,
                person_figures=person_figures,
            )
            return Reply(text)
        case commands.Patterns():
            return Reply(
                request_patterns(
                    store=store,
                    directory=directory,
                    viewer=actor,
                    now=now,
                    person=_require(resolve, command.target) if command.target else None,
                    scope=command.scope,
                    hours=hours,
                )
            )
        case commands.TeamStuck():
            view = team_view(store=store, manager=actor, now=now, hours=hours)
            return Reply(team_view_text(view), card=team_view_card(view, now=now))
        case commands.Chain():
            lines = chain_lines(
                store=store, workspace=actor.workspace, number=command.number, now=now, viewer=actor, hours=hours
            )
            return Reply("\n".join(lines))


def unreadable_due_note(phrase: str, ref: str) -> str:
    """What the requester is told when a date-like phrase couldn't be read: plainly, and how to fix it."""
    shown = phrase if len(phrase) <= 60 else phrase[:59] + "…"
    return (
        f"⚠️ I couldn't read the due date in {shown!r}, so {ref} has no due date yet. "
        f'Pick one with "Set due date" on your card for {ref}.'
    )


def _from_outcome(outcome: Outcome) -> Reply:
    return Reply(outcome.reply, request=outcome.request, messages=outcome.messages)


def run_kudos(
    *,
    store: Store,
    actor: Person,
    text: str,
    now: datetime,
    platform_resolver: MentionResolver | None = None,
    channel: str | None = None,
    allowance: int = DEFAULT_KUDOS_ALLOWANCE,
    idempotency_key: str | None = None,
) -> Reply:
    """Parse and run a ``/kudos`` command (give kudos, or the leaderboard); domain errors become
    friendly replies. The reply's ``announcement`` is for the conversation it was typed in."""
    directory = Directory(store, actor.workspace)
    directory.remember(actor)
    command = commands.parse_kudos(text)
    try:
        match command:
            case commands.Usage():
                return Reply(command.text(), ok=False)
            case commands.Help():
                return Reply(commands.KUDOS_USAGE)
            case commands.KudosTop():
                return Reply(
                    leaderboard_text(
                        store=store,
                        workspace=actor.workspace,
                        period=command.period,
                        now=now,
                        tz=actor.tz,
                        team=command.team,
                    )
                )
            case commands.GiveKudos():
                recipients = [_require(resolver_for(directory, platform_resolver), m) for m in command.recipients]
                outcome = give_kudos(
                    store=store,
                    directory=directory,
                    giver=actor,
                    recipients=recipients,
                    message=command.message,
                    values=command.values,
                    now=now,
                    channel=channel,
                    allowance=allowance,
                    idempotency_key=idempotency_key,
                )
                return Reply(outcome.text, messages=outcome.messages, announcement=outcome.announcement)
    except DomainError as error:
        return Reply(error.message, ok=False)


def run_digest(
    *,
    store: Store,
    actor: Person,
    text: str,
    now: datetime,
    hours: WorkingHours,
    settings: DigestSettings = DEFAULT_DIGEST,
    pulse: PulseSettings = DEFAULT_PULSE,
) -> Reply:
    """``/digest [last|now|2026-W47]``: a manager's own weekly digest as a card, for their eyes only
    (front ends show it ephemerally, or in the 1:1 chat); domain errors become friendly replies."""
    try:
        card = digest_preview(
            store=store, manager=actor, text=text, now=now, hours=hours, settings=settings, pulse_settings=pulse
        )
    except DomainError as error:
        return Reply(error.message, ok=False)
    return Reply(f"Your digest preview (only you can see it): {card.title}", card=card)
