"""Neutral :class:`bot.models.Message` -> Block Kit, within Slack's limits.

Buttons carry the neutral action id as their ``action_id`` (suffixed ``:<n>`` when one
message has the same action twice) and a small JSON ``value`` naming the request, so a
click finds its way back to ``bot.requests.act``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import Action, ActionId, Fact, Message, Section

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_FALLBACK_TEXT = 3000
MAX_HISTORY_LINE = 400

_CARD_KINDS = frozenset({"provider_card", "requester_card", "digest"})
_KEEP_TOKEN = re.compile(r"<(?:@[UW][A-Z0-9]+|#C[A-Z0-9]+)(?:\|[^<>]*)?>")
_SUFFIX = re.compile(r":\d+$")


# --------------------------------------------------------------------------- text helpers


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_FOREIGN_MENTION = re.compile(r"<@(?![UW][A-Z0-9]+[|>])[^\s|<>]+(?:\|([^<>]*))?>")
"""A mention from another platform (a Teams user id), e.g. ``<@29:1abc|Carol Chen>``."""


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for mrkdwn, keeping Slack user and channel mentions; a
    mention of someone on another platform (typed in Teams) reads ``@Their Name``."""
    text = _FOREIGN_MENTION.sub(lambda m: "@" + (m.group(1) or "someone").strip(), text)
    out: list[str] = []
    position = 0
    for match in _KEEP_TOKEN.finditer(text):
        out.append(_escape_plain(text[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_escape_plain(text[position:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Escaped ``text`` no longer than ``limit`` characters (cut before escaping, so no
    half entity or half mention is left behind)."""
    escaped = escape(text)
    raw = text
    while len(escaped) > limit:
        raw = raw[: max(len(raw) - (len(escaped) - limit) - 1, 0)].rstrip()
        escaped = escape(raw) + "…"
    return escaped


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object (never empty, never over ``limit``)."""
    return {"type": "plain_text", "text": clip(text.strip() or "-", limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object of already escaped and fitted text."""
    return {"type": "mrkdwn", "text": text or " "}


def section(text: str) -> Block:
    """A section of already escaped text, cut to Slack's 3000 characters."""
    return {"type": "section", "text": mrkdwn(clip(text, MAX_SECTION_TEXT))}


def header(text: str) -> Block:
    """A header block (plain text, 150 characters)."""
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def context(text: str) -> Block:
    """A context line of already escaped text."""
    return {"type": "context", "elements": [mrkdwn(clip(text, MAX_SECTION_TEXT))]}


# --------------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class ButtonValue:
    """What a button carries back: the request, the form fields to collect, a preset value."""

    request: int
    workspace: str = "default"
    inputs: list[str] = field(default_factory=list)
    value: str | None = None

    def dump(self) -> str:
        """Compact JSON for the button's ``value``."""
        data: dict[str, Any] = {"n": self.request, "w": self.workspace}
        if self.inputs:
            data["i"] = self.inputs
        if self.value is not None:
            data["v"] = self.value
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> ButtonValue:
        """Parse a button value; ValueError when it is not one of ours."""
        try:
            data = json.loads(raw or "")
            number = int(data["n"])
            inputs = [str(i) for i in data.get("i", [])]
            value = data.get("v")
            workspace = str(data.get("w", "default"))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"not a servechain button value: {raw!r}") from error
        if number <= 0:
            raise ValueError(f"bad request number in button value: {raw!r}")
        return cls(request=number, workspace=workspace, inputs=inputs, value=None if value is None else str(value))


def action_of(action_id: str) -> ActionId:
    """The neutral action a button's ``action_id`` stands for; ValueError if none."""
    return ActionId(_SUFFIX.sub("", action_id))


ACTION_ID_PATTERN = re.compile("^(?:" + "|".join(a.value for a in ActionId) + r")(?::\d+)?$")
"""Matches every ``action_id`` :func:`buttons` produces (listeners register on it)."""


def buttons(actions: Sequence[Action], workspace: str, *, block_id: str = "actions") -> Block:
    """An actions block with one button per neutral action (unique action ids)."""
    elements: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, action in enumerate(actions[:MAX_ACTIONS]):
        action_id = action.id.value
        if action_id in seen:
            action_id = f"{action_id}:{index}"
        seen.add(action_id)
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": plain(action.label, MAX_BUTTON_TEXT),
            "value": ButtonValue(action.request, workspace, list(action.inputs), action.value).dump()[
                :MAX_BUTTON_VALUE
            ],
        }
        if action.style != "default":
            button["style"] = action.style
        elements.append(button)
    return {"type": "actions", "block_id": block_id, "elements": elements}


# --------------------------------------------------------------------------- messages


def facts_blocks(facts: Sequence[Fact]) -> list[Block]:
    """Facts as label/value fields, ten per section."""
    blocks: list[Block] = []
    for start in range(0, len(facts), MAX_FIELDS):
        fields = [
            mrkdwn(clip(f"*{fit(f.label, 100)}*\n{fit(f.value, MAX_FIELD_TEXT - 110)}", MAX_FIELD_TEXT))
            for f in facts[start : start + MAX_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    return blocks


def history_text(lines: Sequence[str], limit: int = MAX_SECTION_TEXT) -> str:
    """The history as bullet lines in ``limit`` characters: when it is too long the first
    entry (who asked whom) and the newest entries stay, and the middle is summarised."""
    title = "*History*"
    bullets = [f"• {fit(line, MAX_HISTORY_LINE)}" for line in lines]
    full = "\n".join([title, *bullets])
    if len(full) <= limit:
        return full
    first, rest = bullets[0], bullets[1:]
    kept: list[str] = []
    budget = limit - len(title) - len(first) - 40  # room for the "n earlier entries" line
    for bullet in reversed(rest):
        if budget - len(bullet) - 1 < 0:
            break
        kept.insert(0, bullet)
        budget -= len(bullet) + 1
    skipped = len(rest) - len(kept)
    return "\n".join([title, first, f"• _… {skipped} more {'entry' if skipped == 1 else 'entries'} …_", *kept])


def _is_note(message: Message) -> bool:
    return message.kind in ("update", "text") and not (
        message.actions or message.facts or message.history or message.sections
    )


def message_blocks(message: Message) -> list[Block]:
    """Block Kit for one neutral message (at most 50 blocks)."""
    if _is_note(message):
        prefix = f"*{fit(message.title, 150)}* · " if message.title and message.title not in message.text else ""
        return [section(prefix + fit(message.text, MAX_SECTION_TEXT - len(prefix)))]
    blocks: list[Block] = []
    if message.kind in _CARD_KINDS:
        blocks.append(header(message.title))
        if message.text:
            blocks.append(section(fit(message.text, MAX_SECTION_TEXT)))
    else:
        title = fit(message.title, 300)
        icon = ":tada: " if message.kind == "kudos" else ""
        body = fit(message.text, MAX_SECTION_TEXT - len(title) - 20)
        if message.kind == "kudos":
            body = "\n".join(f">{line}" for line in body.splitlines())
        blocks.append(section(f"{icon}*{title}*" + (f"\n{body}" if body else "")))
    blocks += facts_blocks(message.facts)
    for index, part in enumerate(message.sections):
        blocks.append(section_block(part))
        if part.actions:
            blocks.append(buttons(part.actions, message.workspace, block_id=f"actions-{index}"))
    if message.history:
        blocks.append(section(history_text(message.history)))
    if message.actions:
        blocks.append(buttons(message.actions, message.workspace))
    return blocks[:MAX_MESSAGE_BLOCKS]


def section_block(part: Section) -> Block:
    """A titled part of a long message (the digest's parts): bold title, then bullet lines (no
    title line for an untitled part, e.g. one stuck request above its own buttons)."""
    title = [f"*{fit(part.title, 150)}*"] if part.title else []
    lines = [f"• {fit(line, MAX_HISTORY_LINE * 2)}" for line in part.lines]
    text = "\n".join([*title, *lines])
    while len(text) > MAX_SECTION_TEXT and len(lines) > 1:
        lines = [*lines[:-2], "• …"]
        text = "\n".join([*title, *lines])
    return section(text)


def fallback_text(message: Message) -> str:
    """The notification text that goes with the blocks (and is all some clients show)."""
    if message.text and message.title and message.title not in message.text:
        joiner = " " if message.title[-1] in "?!.:" else ": "
        return fit(f"{message.title}{joiner}{message.text}", MAX_FALLBACK_TEXT)
    return fit(message.text or message.title or "servechain", MAX_FALLBACK_TEXT)
