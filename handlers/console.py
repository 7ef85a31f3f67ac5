"""A chat workspace in the terminal: switch between people, run /request and /kudos, click buttons.

The console is one more thin front end over the core (it has the
:class:`handlers.frontend.FrontEnd` shape), on the embedded store: it turns a typed line into
the same calls the Slack and Teams handlers make. It runs the same :class:`handlers.runtime.Runtime`
as ``servechain serve``, in the foreground: after each line the runtime delivers the outbox
through :class:`ConsoleNotifier`, which prints each message with :func:`render_text` (and each
later update of a request's card as one line, :func:`compact_line`), and
``tick`` runs the runtime's scheduler, both at the console's (possibly simulated) clock.
It reads a script from stdin when stdin is not a terminal, so demos and tests can pipe it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import clicks, commands
from bot.clicks import run_click
from bot.dburl import mask_db
from bot.dispatch import Reply, run_digest, run_kudos, run_request
from bot.errors import Conflict, DomainError, InvalidCommand, NotFound, StorageError
from bot.home import LISTED, TEAM_PREVIEW, Home, HomeItem, home
from bot.models import NEEDS, Action, ActionId, Message, Person, Rating
from bot.nudges import NUDGE_ACTIONS
from bot.org import OrgImportError, import_org
from bot.people import Directory
from bot.ports import Clock, Store
from bot.pulse import week_code
from bot.requests import ActionInput
from bot.settings import Settings
from bot.team_view import GROUPS
from handlers.runtime import Runtime
from storage import open_store

if TYPE_CHECKING:
    from aiohttp import web  # the console serves no HTTP

log = logging.getLogger(__name__)

DEFAULT_ORG = resources.files("handlers.samples") / "org.yml"
"""The sample org a fresh console store is seeded with (shipped in the package, like its CSV twin)."""

PLATFORM = "console"


def describe_db(url: str) -> str:
    """The store's location for messages, with any database password masked."""
    return mask_db(url)


def real_now() -> datetime:
    """The real current time in UTC."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- rendering

CLICK_USAGE: dict[ActionId, str] = {
    ActionId.ACKNOWLEDGE: "click acknowledge R-<n>",
    ActionId.START: "click start R-<n>",
    ActionId.DONE: "click done R-<n> [resolution]",
    ActionId.DECLINE: "click decline R-<n> <reason> -- <@handle | R-<m> | option | none: why>",
    ActionId.HANDOFF: "click handoff R-<n> @handle <context note>",
    ActionId.REASSIGN: "click reassign R-<n> @handle [note]",
    ActionId.CANCEL: "click cancel R-<n> [reason]",
    ActionId.REOPEN: "click reopen R-<n> [note]",
    ActionId.RATE: "click rate R-<n> <1-5> [need=score ...] [comment]",
    ActionId.RECOVER: "click recover R-<n> <what we'll do>",
    ActionId.FOLLOW_UP: "click follow_up R-<n> yes|no [note]",
    ActionId.CLOSE_RECOVERY: "click close_recovery R-<n> <why it is settled>",
    ActionId.ASK_INSTEAD: "click ask_instead R-<n>",
    ActionId.ACCEPT_ALTERNATIVE: "click accept_alternative R-<n>",
    ActionId.ASK_AGAIN: "click ask_again R-<n> <what changed>",
    ActionId.COMMENT: "click comment R-<n> <text>",
    ActionId.SET_DUE: "click due R-<n> <when>",
    ActionId.PROPOSE_DUE: "click propose R-<n> <when> [-- <reason>]",
    ActionId.ACCEPT_DUE: "click accept R-<n>",
    ActionId.DECLINE_DUE: "click decline_date R-<n> [reason]",
    ActionId.ASK_UPDATE: "click ask_update R-<n>",
    ActionId.NUDGE: "click nudge R-<n>",
    ActionId.EXTEND_DUE: "click extend R-<n> <when> -- <reason>",
    ActionId.PROGRESS: "click progress R-<n> <how it is going>",
    ActionId.SNOOZE: "click snooze R-<n> [30m|4h|1d]",
    ActionId.MUTE: "click mute R-<n>",
    ActionId.UNMUTE: "click unmute R-<n>",
    ActionId.THANK: "click thank R-<n> <what they did>",
    ActionId.PULSE: "click pulse <week> <1-5> <1-5> [comment]",
}
"""How to press each button in the console; cards show these as hints."""


def action_hint(action: Action) -> str:
    """How to press one button of a card, e.g. ``Hand off: click handoff R-1 @handle <context note>``."""
    usage = CLICK_USAGE.get(action.id, f"click {action.id.value} R-<n>")
    answer = (action.value or "").partition(":")[0]
    if action.id == ActionId.FOLLOW_UP and answer in ("yes", "no"):
        usage = "click follow_up R-<n> yes" if answer == "yes" else "click follow_up R-<n> no [note]"
    if action.id == ActionId.PULSE:
        return f"{action.label}: {usage.replace('<week>', action.value or '<week>')}"
    return f"{action.label}: {usage.replace('R-<n>', f'R-{action.request}')}"


def _is_note(message: Message) -> bool:
    return message.kind in ("update", "text") and not (
        message.actions or message.facts or message.history or message.sections
    )


def render_text(message: Message, person: Person, *, updated: bool = False) -> str:
    """A neutral message as console text for its recipient: title, text, facts, history and
    the buttons as ``click ...`` hints; thread notes are one line."""
    to = f"[to {person.handle}]"
    if _is_note(message):
        body = " ".join(message.text.split())
        if not body:
            return f"{to} {message.title}"
        return f"{to} {body}" if body.startswith(message.title) else f"{to} {message.title}: {body}"
    lines = [f"{to} {message.title}" + (" (updated)" if updated else "")]
    lines += [f"  {line}" for line in message.text.splitlines() if line.strip()]
    if message.facts:
        lines.append("  " + " · ".join(f"{fact.label}: {fact.value}" for fact in message.facts))
    if message.history:
        lines.append("  History:")
        lines += [f"    {entry}" for entry in message.history]
    for section in message.sections:
        if section.title:
            lines.append(f"  {section.title}:")
        lines += [f"    {line}" for line in section.lines]
        lines += [f"      {action_hint(action)}" for action in section.actions]
    if message.chart is not None:
        lines.append(f"  [chart: {message.chart.title}; servechain digest --format png draws it]")
    if message.actions:
        lines.append("  Actions:")
        lines += [f"    {action_hint(action)}" for action in message.actions]
    return "\n".join(lines)


REQUEST_CARDS = ("provider_card", "requester_card")
"""Card kinds that track a request's state; their updates print as one line (:func:`compact_line`)."""


def click_word(action: ActionId) -> str:
    """The word after ``click`` that presses ``action``, e.g. ``propose`` for "Propose a date"."""
    usage = CLICK_USAGE.get(action)
    return usage.split()[1] if usage else action.value


def compact_line(message: Message, person: Person, parties: tuple[str, str] | None = None) -> str:
    """An update of a request card as one line, from what the card shows, e.g.
    ``[to bob] R-3 · alice → bob · acknowledged · due Fri 04 Dec 17:00 EST · ⚠️ overdue by 3 working h ·
    you can: start, done, decline, handoff, propose``; ``parties`` are the (requester, provider)
    handles, else the card's names. ``show R-3`` prints the whole card."""
    facts = {fact.label: fact.value for fact in message.facts}
    requester, provider = parties or (facts.get("From", "?"), facts.get("To", "?"))
    due = facts.get("Due", "no due date")
    parts = [f"R-{message.request}", f"{requester} → {provider}", facts.get("Status", message.title)]
    parts.append(due if due == "no due date" else f"due {due}")
    if "Overdue" in facts:
        parts.append(facts["Overdue"])
    if "Proposed" in facts:
        parts.append(f"proposed {facts['Proposed']}")
    words = list(dict.fromkeys(click_word(action.id) for action in message.actions))
    if words:
        parts.append(f"you can: {', '.join(words)}")
    return f"[to {person.handle}] " + " · ".join(parts)


def _home_item(item: HomeItem) -> list[str]:
    due = f" · due {item.due}" if item.due else ""
    due += f" · ⚠️ {item.overdue}" if item.overdue else ""
    request = item.request
    return [f"    {request.ref} {item.direction} · {request.status.label}{due}", f"      {request.text}"]


def _home_listing(title: str, items: list[HomeItem], empty: str) -> list[str]:
    lines = [f"  {title} ({len(items)}):"]
    if not items:
        return [*lines, f"    {empty}"]
    for item in items[:LISTED]:
        lines += _home_item(item)
    if len(items) > LISTED:
        lines.append(f"    …and {len(items) - LISTED} more. Try /request list or /request queue.")
    return lines


def home_text(shown: Home) -> str:
    """:func:`bot.home.home` as console text: the same sections as the Slack App Home."""
    person, summary, tally = shown.person, shown.summary, shown.kudos
    lines = [f"[to {person.handle}] Your home (what the App Home shows)"]
    lines += _home_listing("Waiting on you", shown.waiting_on_you, "Nothing is waiting on you. Nice!")
    if shown.recoveries:
        lines.append(f"  Service recovery waiting on you ({len(shown.recoveries)}):")
        lines += [f"    {line}" for line in shown.recoveries[:LISTED]]
    lines += _home_listing("Your open requests", shown.your_requests, "You have no open requests.")
    lines += [
        "  Your responsiveness this month:",
        f"    Median time to acknowledge: {shown.median_to_acknowledge} · Promises kept: {shown.promises_kept}",
        f"    Requests received: {summary.received} · Still open: {summary.open_now}"
        f" · Still waiting for your first answer: {summary.waiting_to_acknowledge}",
    ]
    if shown.team is not None:
        lines.append("  What is stuck on your team:")
        for group in GROUPS:
            items = shown.team.groups[group]
            lines.append(f"    {group.capitalize()} ({len(items)}):" + ("" if items else " nothing"))
            lines += [f"      {item.line}" for item in items[:TEAM_PREVIEW]]
            if len(items) > TEAM_PREVIEW:
                lines.append(f"      …and {len(items) - TEAM_PREVIEW} more")
        lines.append("    /request team lists them all with what you can do about each.")
    received = f"  Kudos received ({len(tally.received)})"
    if not tally.received:
        lines.append(f"{received}: none yet. Give some with /kudos @name what they did.")
    else:
        lines.append(f"{received}:" + (f" {tally.received_today} of them today." if tally.received_today else ""))
    lines += [f"    {giver}: {message}" for giver, message in shown.kudos_received]
    lines.append(
        f"  Kudos given ({len(tally.given)}): {tally.given_today} today; you can give {tally.left_today} more."
        " /kudos top shows this week's leaderboard."
    )
    lines += [f"    To {names}: {message}" for names, message in shown.kudos_given]
    return "\n".join(lines)


def _indent_rest(text: str) -> str:
    first, *rest = text.splitlines() or [""]
    return "\n".join([first, *(f"  {line}" for line in rest)])


Parties = Callable[[Message], tuple[str, str] | None]
"""The (requester, provider) handles of the request a message is about, if known."""


class ConsoleNotifier:
    """The console's :class:`bot.delivery.Notifier`: prints every message; reaches everyone.

    A request card is printed whole when it is first posted; its later updates are one line
    each (:func:`compact_line`), with the request's parties from ``parties``."""

    platform = PLATFORM

    def __init__(self, write: Callable[[str], None], parties: Parties | None = None) -> None:
        self._write = write
        self._parties = parties
        self._posted = 0

    def can_reach(self, person: Person) -> bool:
        """Everyone is at the same terminal."""
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        """Print the message; an update of a posted card keeps that card's reference."""
        if card_ref is not None and message.kind in REQUEST_CARDS and message.request is not None:
            parties = self._parties(message) if self._parties is not None else None
            self._write(compact_line(message, person, parties))
        else:
            self._write(render_text(message, person, updated=card_ref is not None))
        if card_ref is not None:
            return card_ref
        self._posted += 1
        return f"{PLATFORM}:{self._posted}"


# --------------------------------------------------------------------------- clicks


class ConsoleError(DomainError):
    """A problem with a console command itself (as, clock), printed as the console's own line."""


class ClickUsage(InvalidCommand):
    """A ``click`` line that doesn't fit its action's syntax; the message is the usage line."""


@dataclass
class Click:
    """A parsed ``click <action> R-<n> [args]`` line."""

    action: ActionId
    number: int
    inputs: ActionInput


_NEED_SCORE = re.compile(r"([A-Za-z_]+)=(\S*)\s*")
_ACTION_ALIASES = {
    "due": "set_due",
    "propose": "propose_due",
    "accept": "accept_due",
    "decline_date": "decline_due",
    "extend": "extend_due",
    "ack": "acknowledge",
    "followup": "follow_up",
    "hand_off": "handoff",
    "finish": "done",
    "instead": "ask_instead",
    "accept_alt": "accept_alternative",
    "again": "ask_again",
}


def _usage(action: ActionId) -> ClickUsage:
    return ClickUsage(f"Usage: {CLICK_USAGE[action]}")


def parse_click(text: str, directory: Directory) -> Click:
    """Parse the text after ``click``; raise ClickUsage (or NotFound for an unknown @handle)."""
    parts = text.split(maxsplit=2)
    if not parts:
        raise ClickUsage("Usage: click <action> R-<n> [...]; type help for the actions.")
    name = parts[0].lower().replace("-", "_")
    name = _ACTION_ALIASES.get(name, name)
    try:
        action = ActionId(name)
    except ValueError:
        action = None
    if action is None or action not in CLICK_USAGE:
        known = ", ".join(click_word(a) for a in CLICK_USAGE)
        raise InvalidCommand(f"There's no '{parts[0]}' button. The actions are: {known}.")
    if action == ActionId.PULSE:
        try:
            number = week_code(parts[1]) if len(parts) > 1 else None
        except InvalidCommand:
            number = None
    else:
        number = commands.parse_request_id(parts[1]) if len(parts) > 1 else None
    if number is None:
        raise _usage(action)
    args = parts[2].strip() if len(parts) > 2 else ""
    return Click(action, number, _inputs(action, args, directory))


def _inputs(action: ActionId, args: str, directory: Directory) -> ActionInput:
    match action:
        case ActionId.ACKNOWLEDGE | ActionId.START:
            if args:
                raise _usage(action)
            return ActionInput()
        case ActionId.DONE | ActionId.CANCEL | ActionId.REOPEN:
            return ActionInput(note=args or None)
        case ActionId.DECLINE:
            reason, _sep, alternative = args.partition("--")
            if not reason.strip():
                raise _usage(action)
            return _alternative(ActionInput(note=reason.strip()), alternative.strip(), directory)
        case ActionId.HANDOFF | ActionId.REASSIGN:
            who, _sep, note = args.partition(" ")
            if not who.startswith("@") or len(who) < 2 or (action == ActionId.HANDOFF and not note.strip()):
                raise _usage(action)
            person = directory.by_handle(who)
            if person is None:
                raise NotFound(f"I don't know {who}. Type who to see everyone's handle.")
            return ActionInput(to=person, note=note.strip() or None)
        case ActionId.RATE:
            return ActionInput(rating=_rating(args))
        case ActionId.RECOVER | ActionId.COMMENT | ActionId.PROGRESS | ActionId.ASK_AGAIN | ActionId.CLOSE_RECOVERY:
            if not args:
                raise _usage(action)
            return ActionInput(note=args)
        case ActionId.SNOOZE | ActionId.MUTE | ActionId.UNMUTE:
            return ActionInput(note=args or None)  # the snooze length, if any
        case ActionId.THANK | ActionId.PULSE:
            if not args:
                raise _usage(action)
            return ActionInput(note=args)  # the thanks, or the pulse's scores and comment
        case ActionId.SET_DUE:
            if not args:
                raise _usage(action)
            return ActionInput(due=args)
        case ActionId.PROPOSE_DUE:
            when, _sep, reason = args.partition("--")
            if not when.strip():
                raise _usage(action)
            return ActionInput(due=when.strip(), note=reason.strip() or None)
        case ActionId.EXTEND_DUE:
            when, _sep, reason = args.partition("--")
            if not when.strip() or not reason.strip():
                raise _usage(action)
            return ActionInput(due=when.strip(), note=reason.strip())
        case (
            ActionId.ACCEPT_DUE
            | ActionId.ASK_UPDATE
            | ActionId.NUDGE
            | ActionId.ASK_INSTEAD
            | ActionId.ACCEPT_ALTERNATIVE
        ):
            if args:
                raise _usage(action)
            return ActionInput()
        case ActionId.DECLINE_DUE:
            return ActionInput(note=args or None)
        case ActionId.FOLLOW_UP:
            answer, _sep, note = args.partition(" ")
            verdict = {"yes": True, "y": True, "no": False, "n": False}.get(answer.lower().rstrip(".!,"))
            if verdict is None:
                raise _usage(action)
            return ActionInput(satisfied=verdict, note=note.strip() or None)
    raise _usage(action)


_NO_ALTERNATIVE = re.compile(r"^(?:none|no alternative)\b[\s:,.-]*", re.IGNORECASE)


def _alternative(inputs: ActionInput, text: str, directory: Directory) -> ActionInput:
    """A decline's alternative as typed after ``--``: ``@carol`` (someone who could do it),
    ``R-12`` (another request that covers it), other words (an option), in any mix; or
    ``none <why>`` when there is none. The core insists on one or the other."""
    if (none := _NO_ALTERNATIVE.match(text)) is not None:
        inputs.no_alternative = text[none.end() :].strip() or None
        if inputs.no_alternative is None:
            raise InvalidCommand("Say why there is no alternative, e.g. -- none: we stopped doing these.")
        return inputs
    words = []
    for word in text.split():
        bare = word.rstrip(".,;:!?")
        if bare.startswith("@") and len(bare) > 1 and inputs.alternative_to is None:
            person = directory.by_handle(bare)
            if person is None:
                raise NotFound(f"I don't know {bare}. Type who to see everyone's handle.")
            inputs.alternative_to = person
        elif (
            inputs.alternative_request is None
            and bare.lower().lstrip("#").startswith("r-")
            and (number := commands.parse_request_id(bare)) is not None
        ):
            inputs.alternative_request = number
        else:
            words.append(word)
    inputs.alternative = " ".join(words) or None
    return inputs


def neutral_click(click: Click, actor: Person) -> clicks.Click:
    """A parsed ``click`` line as the core's neutral click (the console keeps no idempotency keys)."""
    match click.action:
        case ActionId.THANK:
            return clicks.Click(
                platform=PLATFORM,
                actor=actor,
                action=click.action,
                request=click.number,
                fields={"message": click.inputs.note or ""},
            )
        case ActionId.PULSE:
            support, service, comment = ([*(click.inputs.note or "").split(maxsplit=2), "", ""])[:3]
            if not support or not service:
                raise _usage(ActionId.PULSE)
            answers = {"manager_support": support, "service": service, "comment": comment}
            return clicks.Click(
                platform=PLATFORM,
                actor=actor,
                action=click.action,
                request=click.number,
                fields={name: text for name, text in answers.items() if text},
            )
        case action if action in NUDGE_ACTIONS:
            return clicks.Click(
                platform=PLATFORM, actor=actor, action=action, request=click.number, value=click.inputs.note
            )
    return clicks.Click(platform=PLATFORM, actor=actor, action=click.action, request=click.number, inputs=click.inputs)


def _rating(args: str) -> Rating:
    score_text, _sep, rest = args.partition(" ")
    if not score_text.isdigit() or not 1 <= int(score_text) <= 5:
        raise _usage(ActionId.RATE)
    needs: dict[str, int] = {}
    rest = rest.strip()
    while (match := _NEED_SCORE.match(rest)) is not None:
        need, value = match.group(1).lower(), match.group(2)
        if need not in NEEDS:
            raise InvalidCommand(f"There's no need called '{need}'. The needs are: {', '.join(NEEDS)}.")
        if not value.isdigit() or not 1 <= int(value) <= 5:
            raise InvalidCommand(f"Score {need} from 1 to 5, e.g. {need}=4.")
        needs[need] = int(value)
        rest = rest[match.end() :]
    return Rating(score=int(score_text), needs=needs, comment=rest.strip() or None)


# --------------------------------------------------------------------------- the console

HELP = """\
Commands:
  who                           list everyone (handle, name, team, manager)
  as <handle>                   act as that person
  /request ...                  as in chat; /request help shows everything it can do
  /kudos ...                    as in chat, e.g. /kudos @bob thanks for the numbers, /kudos top month
  /digest [now|<week>]          your team's weekly digest (managers)
  show R-<n>                    the whole card of a request (updates print as one line each)
  home                          what the Slack App Home shows you: your queue, your requests, figures, kudos
  tick                          run the scheduler once (nudges, the Friday pulse, Monday's digests)
  click <action> R-<n> ...      press a button on a card:
{clicks}
  clock <ISO-8601 datetime>     simulate the time (clock +2h / +1d moves it on, clock real goes back)
  help                          this help
  quit                          leave (so does exit or Ctrl-D)
Lines starting with # are ignored, so scripts can have comments."""

_DELIVERY_BATCH = 100
_CLOCK_STEP = re.compile(r"\+(\d{1,5})\s*([mhd])")
_STEP_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class Console:
    """One console session: who is speaking, the (possibly simulated) clock, and the output.

    It is the console front end of its own :class:`Runtime` (no background threads: it
    delivers after each line and runs the scheduler on ``tick``)."""

    name = PLATFORM

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings | None = None,
        out: TextIO | None = None,
        clock: Clock = real_now,
    ) -> None:
        settings = settings if settings is not None else Settings.model_construct()  # the defaults, no environment
        self.store = store
        self.hours = settings.working_hours
        self.nudges = settings.nudges
        self.digest = settings.digest
        self.pulse = settings.pulse
        self.workspace = settings.servechain_workspace
        self.out = out if out is not None else sys.stdout
        self.clock = clock
        self.simulated: datetime | None = None
        self.kudos_allowance = settings.kudos_daily_allowance
        self.actor_id: str | None = None
        self.notifier = ConsoleNotifier(self.say, self._parties)
        self.runtime = Runtime(settings=settings, store=store, clock=self.now, background=False)
        self.runtime.attach(self)

    # the FrontEnd shape -------------------------------------------------------------
    def who(self, user_id: str) -> Person | None:
        """The person with this handle (console users are named by handle)."""
        return self.store.find_person(self.workspace, handle=user_id.strip().lstrip("@").lower())

    def render(self, message: Message, recipient: Person) -> str:
        """The message as console text."""
        return render_text(message, recipient)

    def mount(self, app: web.Application) -> None:
        """No routes: the console's loop is the terminal (:meth:`run`)."""

    def start(self) -> None:
        """Nothing to start: ``servechain console`` runs :meth:`run` in the foreground."""

    def close(self) -> None:
        """Nothing to close."""

    def _parties(self, message: Message) -> tuple[str, str] | None:
        """The (requester, provider) handles of the request a card is about, as the store has it now
        (the console delivers right after each line, so that is the state the card shows)."""
        if message.request is None:
            return None
        request = self.store.get_request(message.workspace, message.request)
        if request is None:
            return None
        directory = Directory(self.store, message.workspace)
        return directory.handle(request.requester_id), directory.handle(request.provider_id)

    # output --------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Print one block of output."""
        print(text, file=self.out, flush=True)

    def reply(self, actor: Person | None, text: str) -> None:
        """What the bot tells the person speaking, e.g. ``[to alice] Sent R-1 to Bob Brennan``."""
        self.say(_indent_rest(f"[to {actor.handle}] {text}" if actor else text))

    # state ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The simulated time if one is set, else the real time."""
        return self.simulated or self.clock()

    def actor(self) -> Person | None:
        """The person the console is speaking as, fresh from the store."""
        if self.actor_id is None:
            return None
        return self.store.get_person(self.workspace, self.actor_id)

    def prompt(self) -> str:
        """``servechain (alice)> `` once someone is chosen."""
        actor = self.actor()
        return f"servechain ({actor.handle})> " if actor else "servechain> "

    # lines ---------------------------------------------------------------------------
    def handle_line(self, line: str) -> bool:
        """Run one typed line and deliver what it queued; False when the session should end.

        Nothing a line does ends the session by accident: domain errors are replies,
        storage faults are reported, and anything unexpected is logged with an id."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        if text.lower() in ("quit", "exit"):
            return False
        self._guarded(lambda: self._run(text))
        self._guarded(self.deliver)
        return True

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except ConsoleError as error:
            self.say(error.message)
        except DomainError as error:
            self.reply(self._actor_or_none(), error.message)
        except StorageError as error:
            self.say(
                f"The store failed: {error or type(error).__name__}. That command may not have been saved; try again."
            )
        except Conflict as error:
            self.say(str(error) or "Someone else changed that at the same time; please try again.")
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("console command failed (error id %s)", error_id)
            self.say(f"Sorry, something went wrong (error id {error_id}). The details are in the log.")

    def _actor_or_none(self) -> Person | None:
        try:
            return self.actor()
        except StorageError:
            return None

    def _run(self, text: str) -> None:
        word, _sep, rest = text.partition(" ")
        rest = rest.strip()
        match word.lower():
            case "help" | "?":
                clicks = "\n".join(f"      {usage}" for usage in CLICK_USAGE.values())
                self.say(HELP.format(clicks=clicks))
            case "who":
                self.say(self._who())
            case "as":
                self._switch(rest)
            case "clock":
                self._set_clock(rest)
            case "/request":
                self._request(rest)
            case "show":
                self._show(rest)
            case "home":
                self._home(rest)
            case "/kudos":
                actor = self._require_actor()
                reply = run_kudos(
                    store=self.store, actor=actor, text=rest, now=self.now(), allowance=self.kudos_allowance
                )
                self._show_reply(actor, reply)
            case "/digest" | "digest":
                actor = self._require_actor()
                self._show_reply(
                    actor,
                    run_digest(
                        store=self.store,
                        actor=actor,
                        text=rest,
                        now=self.now(),
                        hours=self.hours,
                        settings=self.digest,
                        pulse=self.pulse,
                    ),
                )
            case "tick":
                self._tick()
            case "click":
                self._click(rest)
            case _:
                self.say(f"I don't know '{word}'. Type help to see what you can do.")

    def deliver(self) -> None:
        """Send everything due in the outbox through the runtime (the console notifier)."""
        while True:
            # one at a time: the console prints every message to one terminal, in order
            report = self.runtime.deliver_due(limit=_DELIVERY_BATCH, concurrency=1)
            if report.sent + report.failed + report.retried < _DELIVERY_BATCH:
                return

    # commands ------------------------------------------------------------------------
    def _require_actor(self) -> Person:
        actor = self.actor()
        if actor is None:
            raise ConsoleError("Pick who you are first: as <handle> (type who to see everyone).")
        return actor

    def _who(self) -> str:
        people = self.store.list_people(self.workspace)
        if not people:
            return "Nobody here yet. Import an org with: servechain org import FILE (YAML or CSV)"
        directory = Directory(self.store, self.workspace)
        rows = [("handle", "name", "team", "manager")]
        for person in people:
            team = directory.team(person.team_id)
            manager = directory.manager_of(person.id)
            rows.append(
                (person.handle, person.name, team.name if team else "-", directory.handle(manager) if manager else "-")
            )
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
            for row in rows
        )

    def _switch(self, handle: str) -> None:
        handle = handle.strip().lstrip("@").lower()
        if not handle:
            raise ConsoleError("Usage: as <handle>, e.g. as alice (type who to see everyone).")
        person = self.store.find_person(self.workspace, handle=handle)
        if person is None:
            handles = ", ".join(p.handle for p in self.store.list_people(self.workspace)) or "nobody yet"
            raise ConsoleError(f"I don't know '{handle}'. People here: {handles}. Type who for details.")
        self.actor_id = person.id
        team = Directory(self.store, self.workspace).team(person.team_id)
        about = f"{person.name}, {team.name}" if team else person.name
        self.say(f"You are now {person.handle} ({about}).")

    def _set_clock(self, text: str) -> None:
        text = text.strip()
        if not text:
            shown = self.now().isoformat(timespec="minutes")
            self.say(f"The clock says {shown} ({'simulated' if self.simulated else 'real time'}).")
            return
        if text.lower() in ("real", "now", "reset"):
            self.simulated = None
            self.say("The clock follows real time again.")
            return
        step = _CLOCK_STEP.fullmatch(text)
        if step is not None:
            moment = self.now() + timedelta(**{_STEP_UNITS[step.group(2)]: int(step.group(1))})
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ConsoleError(
                    "Usage: clock <ISO-8601 datetime>, e.g. clock 2026-11-23T09:00:00+00:00, clock +2h or clock real."
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        self.simulated = moment
        self.say(f"The clock is now {moment.isoformat(timespec='minutes')}.")

    def _request(self, text: str) -> None:
        actor = self._require_actor()
        self._show_reply(
            actor,
            run_request(
                store=self.store,
                actor=actor,
                text=text,
                now=self.now(),
                hours=self.hours,
                person_figures=self.runtime.settings.person_figures,
            ),
        )

    def _show(self, text: str) -> None:
        """``show R-n``: the whole card of one request (``/request show R-n``); updates print as one line."""
        self._require_actor()
        if commands.parse_request_id(text) is None:
            raise InvalidCommand("Usage: show R-<n>, e.g. show R-1 (the whole card of a request you can see).")
        self._request(f"show {text}")

    def _home(self, text: str) -> None:
        """``home``: what the Slack App Home shows the person speaking (:func:`bot.home.home`)."""
        actor = self._require_actor()
        if text:
            raise InvalidCommand("Usage: home (what the App Home shows you; as <handle> to see someone else's).")
        shown = home(store=self.store, person=actor, now=self.now(), allowance=self.kudos_allowance, hours=self.hours)
        self.say(home_text(shown))

    def _show_reply(self, actor: Person, reply: Reply) -> None:
        if reply.open_form:
            no_forms = "The console has no forms; type the whole request on one line."
            self.reply(actor, f"{no_forms}\n{commands.REQUEST_USAGE}")
            return
        self.reply(actor, reply.text)
        if reply.card is not None:
            self.say(render_text(reply.card, actor))

    def _click(self, text: str) -> None:
        actor = self._require_actor()
        directory = Directory(self.store, self.workspace)
        directory.remember(actor)
        result = run_click(
            store=self.store,
            click=neutral_click(parse_click(text, directory), actor),
            now=self.now(),
            nudges=self.nudges,
            hours=self.hours,
            kudos_allowance=self.kudos_allowance,
        )
        self.reply(actor, result.reply)

    def _tick(self) -> None:
        """One pass of the runtime's scheduler at the console's clock; what it queues is delivered next."""
        report = self.runtime.run_scheduler()
        self.say(f"The scheduler queued {len(report.sent)} message(s).")

    # the loop ------------------------------------------------------------------------
    def run(self, stdin: TextIO, *, interactive: bool) -> None:
        """Read lines until quit or end of input; with a terminal, prompt and edit lines."""
        if not interactive:
            for line in stdin:
                if not self.handle_line(line):
                    return
            return
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - gives input() history and line editing
        while True:
            try:
                line = input(self.prompt())
            except (EOFError, KeyboardInterrupt):
                self.say("")
                return
            if not self.handle_line(line):
                return


def seed(store: Store, *, workspace: str, org: Path | None, out: TextIO) -> None:
    """Import ``org`` when given, else the sample org into a store that has no people yet."""
    if org is None:
        if store.list_people(workspace):
            return
        with resources.as_file(DEFAULT_ORG) as sample:
            report = import_org(store=store, path=sample, workspace=workspace)
        print(f"Loaded {report.people} people and {report.teams} teams from the sample org.", file=out)
        return
    report = import_org(store=store, path=org, workspace=workspace)
    print(f"Loaded {report.people} people and {report.teams} teams from {org}.", file=out)


def run_console(
    settings: Settings,
    *,
    org: Path | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    interactive: bool | None = None,
) -> int:
    """``servechain console``: open the store, seed it, and run the session; returns the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if interactive is None:
        interactive = stdin.isatty()
    try:
        store = open_store(settings.servechain_db)
    except StorageError as error:
        print(f"servechain: can't open the store {describe_db(settings.servechain_db)}: {error}", file=stderr)
        return 1
    try:
        try:
            seed(store, workspace=settings.servechain_workspace, org=org, out=stderr)
        except OrgImportError as error:
            for line in error.errors:
                print(line, file=stderr)
            print("Nothing was imported.", file=stderr)
            return 2
        except StorageError as error:
            print(f"servechain: the store failed while loading the org: {error}", file=stderr)
            return 1
        if interactive:
            print("servechain console. Type help to see what you can do, who to see everyone.", file=stderr)
        console = Console(store=store, settings=settings, out=stdout)
        console.runtime.start()
        try:
            console.run(stdin, interactive=interactive)
        finally:
            console.runtime.stop()
    finally:
        store.close()
    return 0
