"""One parser for the /request and /kudos commands, shared by every chat front end.

Front ends pass the text that follows the slash command (Teams handlers first
rewrite their mentions to ``<@ID|Name>``). Parsing never raises: bad input
yields a :class:`Usage` holding a friendly error and the command's usage text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.dates import DueDateError, find_due, parse_due, split_due
from bot.models import Priority
from bot.workhours import WorkingHours

__all__ = [
    "KUDOS_USAGE",
    "MAX_KUDOS_CHARS",
    "MAX_REQUEST_CHARS",
    "REQUEST_USAGE",
    "Chain",
    "Command",
    "CreateRequest",
    "GiveKudos",
    "Help",
    "KudosCommand",
    "KudosTop",
    "ListMine",
    "Mention",
    "OpenForm",
    "Priority",
    "Queue",
    "Show",
    "Stats",
    "Usage",
    "format_request_id",
    "parse_kudos",
    "parse_request",
    "parse_request_id",
]

MAX_REQUEST_CHARS = 3000
MAX_KUDOS_CHARS = 1000
_MAX_NAME_CHARS = 80  # team names and help topics
_MAX_ECHO_CHARS = 40  # user text quoted back in an error
_HUGE_FACTOR = 10  # inputs this many times over the limit are rejected before any parsing

REQUEST_USAGE = """\
Usage:
• /request @name what you need [by <when>] [for R-12] [!low|!high|!urgent] [!customer] [#tag] \
— ask someone for something, e.g. /request @alice need the Q3 numbers by friday !high #finance
    <when> can be: friday, next friday, tomorrow 3pm, eod, end of week, next week, dec 3, \
2026-12-01 09:30 — or write "in 3 days", "in 2 hours", "in 5 working days" instead of "by …"
    for R-12 makes it part of request R-12, e.g. /request @bob pull the invoices for R-12 by tomorrow
• /request — open the request form
• /request list — your open requests, e.g. /request list
• /request queue — requests waiting on you, e.g. /request queue
• /request show R-7 — one request and its history, e.g. /request show R-7
• /request chain R-12 — a request with everything it depends on, e.g. /request chain R-12
• /request stats [@name | team] — response times, e.g. /request stats @bob or /request stats finance
• /request patterns [@name | team | team:team] — complaint patterns, e.g. /request patterns sales:finance
• /request team — managers: what is stuck on your team right now
• /request help — this help"""

KUDOS_USAGE = """\
Usage:
• /kudos @name what they did [#value] — thank someone, \
e.g. /kudos @alice thanks for covering my on-call shift #teamwork
• /kudos @alice @bob what they did — thank several people at once, e.g. /kudos @alice @bob great launch! #ownership
• /kudos top [week|month|all] [team] — the kudos leaderboard, e.g. /kudos top month finance
• /kudos help — this help"""

_REQUEST_EXAMPLE = "/request @alice need the Q3 numbers by friday"
_KUDOS_EXAMPLE = "/kudos @alice thanks for covering my on-call shift #teamwork"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Mention(_Model):
    """A person named in a command: a platform mention ``<@ID|label>`` or a handle ``@alice``."""

    kind: Literal["platform", "handle"]
    value: str
    label: str | None = None

    def display(self) -> str:
        """How to name this person in a reply: ``@label``, ``<@ID>`` or ``@handle``."""
        if self.kind == "handle":
            return f"@{self.value}"
        return f"@{self.label}" if self.label else f"<@{self.value}>"


_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class CreateRequest(_Model):
    """``/request @alice what you need [by friday] [for R-12] [!high] [!customer] [#tag]``."""

    provider: Mention
    text: str
    due: datetime | None = None
    due_text: str | None = None
    due_unreadable: str | None = None
    """A ``by``/``in`` phrase that looks like a date but couldn't be read (kept in ``text``): the
    request is created without a due date and the requester is told, with a way to set one."""
    parent: int | None = None
    priority: Priority = Priority.NORMAL
    tags: list[str] = []
    external: bool = False


class ListMine(_Model):
    """``/request list``: the caller's open requests."""


class Queue(_Model):
    """``/request queue``: requests waiting on the caller."""


class Show(_Model):
    """``/request show R-7``."""

    number: int


class Chain(_Model):
    """``/request chain R-12``."""

    number: int


class Stats(_Model):
    """``/request stats [@name | team]``."""

    target: Mention | None = None
    team: str | None = None


class Patterns(_Model):
    """``/request patterns [@name | team | team->team | team:team]``."""

    target: Mention | None = None
    scope: str | None = None


class TeamStuck(_Model):
    """``/request team``: what is stuck on the manager's team."""


class Help(_Model):
    """``/request help [topic]`` or ``/kudos help`` (topic "kudos")."""

    topic: str | None = None


class OpenForm(_Model):
    """Bare ``/request``: the front end opens its request form."""


class GiveKudos(_Model):
    """``/kudos @alice @bob message #value``."""

    recipients: list[Mention]
    message: str
    values: list[str] = []


class KudosTop(_Model):
    """``/kudos top [week|month|all] [team]``."""

    period: Literal["week", "month", "all"] = "week"
    team: str | None = None


class Usage(_Model):
    """Returned (never raised) for bad input: what was wrong plus the command's usage text."""

    error: str
    usage: str

    def text(self) -> str:
        """The error followed by the usage text, ready to post."""
        return f"{self.error}\n{self.usage}"


Command = CreateRequest | ListMine | Queue | Show | Chain | Stats | Patterns | TeamStuck | Help | OpenForm
KudosCommand = GiveKudos | KudosTop | Help | Usage

# --------------------------------------------------------------------------- tokens

_PLATFORM_MENTION_RE = re.compile(r"<@([^\s|<>]+)(?:\|([^<>]*))?>")
_HANDLE_MENTION_RE = re.compile(r"@(\w(?:[\w.-]*\w)?)")
_MENTION_SEPARATOR_RE = re.compile(r"[\s,;&+]*(?:and\s+)?", re.IGNORECASE)
_LEADING_PUNCT_RE = re.compile(r"(?:\s|[:,;]|[.\-–—](?=\s))+")
_FLAG_RE = re.compile(r"(?<!\S)!(low|normal|high|urgent|customer|external)(?!\S)", re.IGNORECASE)
_TAG_RE = re.compile(r"(?<![^\s(])#([^\W\d_][\w-]*)")
_TAG_TOKEN_RE = re.compile(r"#[^\W\d_][\w-]*")
_REQUEST_ID_RE = re.compile(r"#?(?:r-?)?([0-9]{1,9})", re.IGNORECASE)
_PARENT_ID_RE = re.compile(r"#?r-([0-9]{1,9})[.,;!]?", re.IGNORECASE)
_PARENT_REF_RE = re.compile(r"(?<!\S)for\s+(#?r-[0-9]*)(?=[.,;!]?(?:\s|$))", re.IGNORECASE)
_REQUEST_WORD_RE = re.compile(r"/?request(?!\S)", re.IGNORECASE)
_KUDOS_WORD_RE = re.compile(r"/?kudos(?!\S)", re.IGNORECASE)


def format_request_id(number: int) -> str:
    """The id users see for request ``number``, e.g. ``R-7``."""
    return f"R-{number}"


def parse_request_id(token: str) -> int | None:
    """``"R-7"``, ``"r-7"``, ``"#R-7"`` or ``"7"`` -> 7; anything else -> None."""
    m = _REQUEST_ID_RE.fullmatch(token.strip().rstrip(".,;:!?"))
    if m is None:
        return None
    number = int(m.group(1))
    return number if number > 0 else None


def _echo(text: str) -> str:
    """Shorten user text quoted back in a message."""
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ECHO_CHARS else text[: _MAX_ECHO_CHARS - 1] + "…"


def _take_mention(text: str) -> tuple[Mention, str] | None:
    """A mention at the very start of ``text`` and the text after it, or None."""
    m = _PLATFORM_MENTION_RE.match(text)
    if m is not None:
        label = (m.group(2) or "").strip() or None
        return Mention(kind="platform", value=m.group(1), label=label), text[m.end() :]
    m = _HANDLE_MENTION_RE.match(text)
    if m is not None:
        return Mention(kind="handle", value=m.group(1)), text[m.end() :]
    return None


def _take_mentions(text: str) -> tuple[list[Mention], str]:
    """All leading mentions (separated by spaces, commas or "and"), deduplicated, and the rest."""
    found: list[Mention] = []
    taken = _take_mention(text)
    while taken is not None:
        mention, text = taken
        if mention not in found:
            found.append(mention)
        separator = _MENTION_SEPARATOR_RE.match(text)
        taken = _take_mention(text[separator.end() :] if separator else text)
    return found, text


def _strip_leading_punctuation(text: str) -> str:
    """Drop the whitespace and ``:`` / ``,`` / dash between a mention and the message."""
    m = _LEADING_PUNCT_RE.match(text)
    return text[m.end() :] if m else text


def _join(left: str, right: str) -> str:
    """Join the pieces around a removed token, keeping one whitespace run (a line break if any)."""
    left_body = left.rstrip()
    right_body = right.lstrip()
    left_ws, right_ws = left[len(left_body) :], right[: len(right) - len(right_body)]
    if not left_ws or not right_ws:
        return left + right
    return left_body + (right_ws if "\n" in right_ws or "\n" not in left_ws else left_ws) + right_body


def _extract_flags(text: str) -> tuple[str, Priority, bool]:
    """Remove !priority / !customer / !external tokens: (text, highest priority, external)."""
    priority: Priority | None = None
    external = False
    pieces: list[str] = []
    position = 0
    for m in _FLAG_RE.finditer(text):
        pieces.append(text[position : m.start()])
        position = m.end()
        word = m.group(1).lower()
        if word in ("customer", "external"):
            external = True
            continue
        level = Priority(word)
        if priority is None or _PRIORITY_RANK[level] > _PRIORITY_RANK[priority]:
            priority = level
    result = text[position:]
    for piece in reversed(pieces):
        result = _join(piece, result)
    return result, priority or Priority.NORMAL, external


def _hashtags(text: str) -> list[str]:
    """Lower-cased ``#tag`` words in order, without duplicates or request ids like #R-7."""
    tags: list[str] = []
    for m in _TAG_RE.finditer(text):
        tag = m.group(1).rstrip("-").lower()
        if tag and parse_request_id(tag) is None and tag not in tags:
            tags.append(tag)
    return tags


def _last_token_start(text: str) -> int:
    """Index where the last whitespace-separated token of ``text`` (no trailing space) starts."""
    index = len(text)
    while index > 0 and not text[index - 1].isspace():
        index -= 1
    return index


def _split_tail(body: str) -> tuple[str, str | None, int | None]:
    """Take the due clause and ``for R-12`` off the end (either order, trailing #tags kept): (text, clause, parent)."""
    kept_tail = ""  # trailing #tags, verbatim with their leading whitespace
    clause: str | None = None
    parent: int | None = None
    while True:
        body = body.rstrip()
        start = _last_token_start(body)
        token = body[start:]
        before = body[:start].rstrip()
        if parent is None and _PARENT_ID_RE.fullmatch(token):
            for_start = _last_token_start(before)
            if before[for_start:].lower() == "for":
                parent = parse_request_id(token)
                if parent is not None:
                    body = before[:for_start]
                    continue
        if before and _TAG_TOKEN_RE.fullmatch(token):
            kept_tail = body[len(before) :] + kept_tail
            body = before
            continue
        if clause is None:
            head, clause = split_due(body)
            if clause is not None:
                body = head
                continue
        break
    return (body + kept_tail).strip(), clause, parent


def _request_usage(error: str) -> Usage:
    return Usage(error=error, usage=REQUEST_USAGE)


def _kudos_usage(error: str) -> Usage:
    return Usage(error=error, usage=KUDOS_USAGE)


def _too_long(what: str, length: int, limit: int) -> str:
    return f"That {what} is {length} characters long; the limit is {limit} characters. Please shorten it."


# --------------------------------------------------------------------------- /request


def _parse_request_id_argument(keyword: str, rest: str) -> int | Usage:
    """The single request id after ``show`` / ``chain``, or a Usage explaining what is wrong."""
    args = rest.split()
    if not args:
        return _request_usage(f"Which request? Give its id, e.g. /request {keyword} R-7.")
    if len(args) > 1:
        return _request_usage(f"Give just one request id, e.g. /request {keyword} R-7.")
    number = parse_request_id(args[0])
    if number is None:
        return _request_usage(
            f"{_echo(args[0])} is not a request id. Request ids look like R-7, e.g. /request {keyword} R-7."
        )
    return number


def _parse_stats(rest: str) -> Stats | Usage:
    """``stats``, ``stats @bob`` or ``stats <team>``."""
    rest = rest.strip()
    if not rest:
        return Stats()
    taken = _take_mention(rest)
    if taken is not None:
        mention, after = taken
        if after.strip():
            return _request_usage(
                "Stats take one person or one team, e.g. /request stats @bob or /request stats finance."
            )
        return Stats(target=mention)
    team = " ".join(rest.lstrip("#").split())
    if not team or "@" in team or "<" in team:
        return _request_usage("Stats take one person or one team, e.g. /request stats @bob or /request stats finance.")
    if len(team) > _MAX_NAME_CHARS:
        return _request_usage(f"That team name is too long; the limit is {_MAX_NAME_CHARS} characters.")
    return Stats(team=team)


def _parse_create(text: str, *, now: datetime, tz: str, hours: WorkingHours) -> CreateRequest | Usage:
    """``@name what you need [by friday] [for R-12] [!high] [!customer] [#tag]``."""
    taken = _take_mention(text)
    if taken is None:
        return _request_usage(f"I need someone to ask: start with @name, e.g. {_REQUEST_EXAMPLE}")
    provider, rest = taken
    for ref in _PARENT_REF_RE.finditer(rest):
        if parse_request_id(ref.group(1)) is None:
            return _request_usage(
                f"{_echo(ref.group(1))} is not a request id. Request ids look like R-12, "
                f"e.g. /request {provider.display()} pull the invoices for R-12"
            )
    rest, priority, external = _extract_flags(_strip_leading_punctuation(rest))
    body, clause, parent = _split_tail(rest)
    if not body:
        return _request_usage(
            f"Tell {provider.display()} what you need after the mention. "
            f"For example: /request {provider.display()} need the Q3 numbers by friday"
        )
    if len(body) > MAX_REQUEST_CHARS:
        return _request_usage(_too_long("request", len(body), MAX_REQUEST_CHARS))
    unreadable: str | None = None
    if clause is None:  # not at the end: anywhere in the text, or a date-like phrase to report
        found = find_due(body)
        body, clause, unreadable = found.text, found.clause, found.unreadable
        if not body:
            return _request_usage(
                f"Tell {provider.display()} what you need besides the due date. "
                f"For example: /request {provider.display()} need the Q3 numbers by friday"
            )
    due: datetime | None = None
    if clause is not None:
        try:
            due = parse_due(clause, now=now, tz=tz, hours=hours)
        except DueDateError as exc:
            return _request_usage(exc.message)
    return CreateRequest(
        provider=provider,
        text=body,
        due=due,
        due_text=clause,
        due_unreadable=unreadable,
        parent=parent,
        priority=priority,
        tags=_hashtags(body),
        external=external,
    )


def parse_request(text: str, *, now: datetime, tz: str, hours: WorkingHours) -> Command | Usage:
    """Parse the text after ``/request`` (a leading "request" word is tolerated); never raises.
    ``hours`` is the asker's working calendar, for "in N working days"."""
    text = text.strip()
    if len(text) > MAX_REQUEST_CHARS * _HUGE_FACTOR:
        return _request_usage(_too_long("request", len(text), MAX_REQUEST_CHARS))
    word = _REQUEST_WORD_RE.match(text)
    if word is not None:
        text = text[word.end() :].strip()
    if not text:
        return OpenForm()
    first = text.split(maxsplit=1)[0]
    rest = text[len(first) :].strip()
    keyword = first.lower()
    if keyword in ("list", "queue"):
        if rest:
            return _request_usage(f"/request {keyword} doesn't take anything after it; try just /request {keyword}.")
        return ListMine() if keyword == "list" else Queue()
    if keyword in ("show", "chain"):
        number = _parse_request_id_argument(keyword, rest)
        if isinstance(number, Usage):
            return number
        return Show(number=number) if keyword == "show" else Chain(number=number)
    if keyword == "stats":
        return _parse_stats(rest)
    if keyword == "patterns":
        parsed = _parse_stats(rest)
        if isinstance(parsed, Usage):
            return parsed
        return Patterns(target=parsed.target, scope=parsed.team)
    if keyword == "team":
        if rest:
            return _request_usage("/request team doesn't take anything after it; try just /request team.")
        return TeamStuck()
    if keyword == "help":
        topic = " ".join(rest.lower().split())[:_MAX_NAME_CHARS]
        return Help(topic=topic or None)
    return _parse_create(text, now=now, tz=tz, hours=hours)


# --------------------------------------------------------------------------- /kudos


def _parse_kudos_top(rest: str) -> KudosTop | Usage:
    """``top [week|month|all] [team]``."""
    args = rest.split()
    period: Literal["week", "month", "all"] = "week"
    if args and args[0].lower() in ("week", "month", "all", "all-time", "alltime"):
        first = args.pop(0).lower()
        period = "week" if first == "week" else "month" if first == "month" else "all"
    team = " ".join(args).lstrip("#") or None
    if team is not None and ("@" in team or "<" in team):
        return _kudos_usage("The leaderboard is by team, not person, e.g. /kudos top month finance.")
    if team is not None and len(team) > _MAX_NAME_CHARS:
        return _kudos_usage(f"That team name is too long; the limit is {_MAX_NAME_CHARS} characters.")
    return KudosTop(period=period, team=team)


def parse_kudos(text: str) -> GiveKudos | KudosTop | Help | Usage:
    """Parse the text after ``/kudos`` (a leading "kudos" word is tolerated); never raises."""
    text = text.strip()
    if len(text) > MAX_KUDOS_CHARS * _HUGE_FACTOR:
        return _kudos_usage(_too_long("message", len(text), MAX_KUDOS_CHARS))
    word = _KUDOS_WORD_RE.match(text)
    if word is not None:
        text = text[word.end() :].strip()
    if not text:
        return _kudos_usage(f"Who should get the kudos? Start with @name, e.g. {_KUDOS_EXAMPLE}")
    first = text.split(maxsplit=1)[0]
    rest = text[len(first) :].strip()
    if first.lower() == "help":
        return Help(topic="kudos")
    if first.lower() == "top":
        return _parse_kudos_top(rest)
    recipients, after = _take_mentions(text)
    if not recipients:
        return _kudos_usage(f"Who should get the kudos? Start with @name, e.g. {_KUDOS_EXAMPLE}")
    message = _strip_leading_punctuation(after).strip()
    names = " ".join(r.display() for r in recipients)
    if not message:
        return _kudos_usage(f"Say what {names} did after the mention, e.g. /kudos {names} thanks for the quick review!")
    if len(message) > MAX_KUDOS_CHARS:
        return _kudos_usage(_too_long("message", len(message), MAX_KUDOS_CHARS))
    return GiveKudos(recipients=recipients, message=message, values=_hashtags(message))
