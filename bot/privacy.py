"""Data rights: export everything stored about one person, or forget them.

``export_person`` gathers every record that is about a person (their record, the requests
they were part of, kudos, the messages sent to them, card references, documents keyed by one
of their identities) as one JSON-ready dict.

``forget_person`` removes their identity while keeping the figures right:

- Their person record is replaced by a *former colleague* under a fresh random id, and every
  reference is moved to it (requests, events, kudos, outbox, managers of people and teams).
  A fresh id matters: ids of people met on Slack or Teams are derived from their platform
  ids, so keeping it would let a returning user inherit the anonymised history.
- Requests keep their numbers, times, states and ratings; the free text the person wrote
  (request text, notes, alternatives, rating comments) is removed, and in anyone else's text
  their mentions, ``@handle``, name (as written) and email become *former colleague*.
- Kudos keep their count; the messages the person wrote are removed.
- Messages to them are blanked (and no longer sent); other messages that quote them are
  scrubbed; their card references and the documents keyed by their identities are deleted.
- Both operations write an audit document (``audit`` kind) naming the actor, never the person.

The storage contract can update requests, outbox items, people and documents, but cannot
rewrite kudos, card references, claims or idempotency records, nor delete a person. A store
that also implements :class:`Rewritable` gets those erased too; on any other store the
:class:`ForgetReport` lists what is left (``left``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.errors import Conflict, NotFound
from bot.models import Event, Fact, Kudos, Message, OutboxItem, Person, Rating, Request, Team
from bot.people import new_person_id
from bot.ports import Store

AUDIT_DOC = "audit"
PENDING_DOC = "forget_pending"
"""Document (key: the old person id) holding a half-done forget's new id, so a re-run after a
crash moves everything to the same former colleague; deleted when the forget completes."""
FORMER = "Former colleague"
REMOVED = "(removed at the person's request)"
MIN_QUOTED = 4
"""Shorter texts they wrote ("ok") are not hunted down inside other messages."""
_MAX_RETRIES = 8


@runtime_checkable
class Rewritable(Protocol):
    """Optional store methods for rewriting records the contract can't (kudos, card refs,
    claims, idempotency keys, people). Records are in the neutral shapes of
    ``Store.export_records``; each call is one atomic write."""

    def replace_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert or replace (by key) these records; returns how many were written."""
        ...

    def delete_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Delete the records with these records' keys; returns how many existed."""
        ...


@dataclass
class ForgetReport:
    """What ``forget_person`` changed (or, as a dry run, would change)."""

    person_id: str
    """The former colleague's new id."""
    requests: int = 0
    kudos: int = 0
    messages: int = 0
    card_refs: int = 0
    documents: int = 0
    people: int = 0
    open_requests: list[int] = field(default_factory=list)
    """Requests still open with them as provider: reassign these."""
    left: list[str] = field(default_factory=list)
    """What this store could not erase (see :class:`Rewritable`)."""

    def counts(self) -> dict[str, int]:
        """The numbers, for the audit record and the command's output."""
        return {
            "requests": self.requests,
            "kudos": self.kudos,
            "messages": self.messages,
            "card_refs": self.card_refs,
            "documents": self.documents,
            "people": self.people,
        }

    def lines(self) -> list[str]:
        """What happened, for people."""
        rows = [f"{name}: {count}" for name, count in self.counts().items()]
        if self.open_requests:
            refs = ", ".join(f"R-{n}" for n in self.open_requests)
            rows.append(f"still open with them (reassign these): {refs}")
        rows += [f"left in place: {item}" for item in self.left]
        return rows


# --------------------------------------------------------------------------- who is who


@dataclass(frozen=True)
class _Identity:
    person: Person
    platform_ids: frozenset[str]
    """Slack user ids, the Teams id, Teams user ids (``29:...``)."""

    @property
    def ids(self) -> frozenset[str]:
        return self.platform_ids | {self.person.id}


def _find(store: Store, workspace: str, handle: str) -> Person:
    person = store.find_person(workspace, handle=handle.strip().lstrip("@").lower())
    if person is None:
        raise NotFound(f"Nobody has the handle {handle!r} in workspace {workspace!r}.")
    return person


def _identity(store: Store, person: Person) -> _Identity:
    ids = set(person.slack_ids.values())
    if person.teams_id:
        ids.add(person.teams_id)
    for key, doc in store.list_docs("teams_user", person.workspace):
        if doc.get("person_id") == person.id:
            ids.add(key)
    return _Identity(person, frozenset(ids))


def _mentions(value: Any, ids: frozenset[str]) -> bool:
    """True when ``value`` (any JSON) holds one of ``ids`` as a string or a mapping key."""
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(k in ids or _mentions(v, ids) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, ids) for v in value)
    return False


def _involved(request: Request, person_id: str) -> bool:
    if person_id in (request.requester_id, request.provider_id):
        return True
    return any(person_id in (e.actor_id, e.from_id, e.to_id) for e in request.events)


def _roles(request: Request, person_id: str) -> list[str]:
    roles = []
    if request.requester_id == person_id:
        roles.append("requester")
    if request.provider_id == person_id:
        roles.append("provider")
    elif person_id in request.provider_history():
        roles.append("previous provider")
    if any(e.actor_id == person_id for e in request.events) and not roles:
        roles.append("participant")
    return roles or ["mentioned"]


def _records(store: Store, workspace: str, kinds: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    wanted = set(kinds)
    return [(k, d) for k, d in store.export_records() if k in wanted and d.get("workspace") == workspace]


def _keyed_by(doc: dict[str, Any], ids: frozenset[str]) -> bool:
    return str(doc.get("key", "")) in ids


def _key_mentions(key: str, ids: frozenset[str]) -> bool:
    return any(part in ids for part in re.split(r"[:|/]", key))


# --------------------------------------------------------------------------- export


def export_person(
    *, store: Store, workspace: str, handle: str, now: datetime, actor: str = "servechain export"
) -> dict[str, Any]:
    """Everything stored about the person with ``handle``, as JSON-ready data (and an audit record)."""
    person = _find(store, workspace, handle)
    who = _identity(store, person)
    requests = [r for r in store.iter_requests(workspace) if _involved(r, person.id)]
    team = store.get_team(workspace, person.team_id) if person.team_id else None
    managed = [t for t in store.list_teams(workspace) if t.manager_id == person.id]
    reports = [p.handle for p in store.list_people(workspace) if p.manager_id == person.id]
    messages = [i for i in store.list_outbox(workspace) if i.message.recipient_id == person.id]
    records = _records(store, workspace, ("card_refs", "docs"))
    theirs = {f"{workspace}:{r.ref}:requester" for r in requests if r.requester_id == person.id}
    card_refs = [
        d
        for k, d in records
        if k == "card_refs" and (d["card_key"] in theirs or _key_mentions(str(d["card_key"]), who.ids))
    ]
    documents = [
        {"kind": d["kind"], "key": d["key"], "doc": d["doc"]}
        for k, d in records
        if k == "docs" and (_keyed_by(d, who.ids) or _mentions(d["doc"], who.ids))
    ]
    export = {
        "exported_at": now.isoformat(),
        "workspace": workspace,
        "person": person.model_dump(mode="json"),
        "team": team.model_dump(mode="json") if team else None,
        "teams_managed": [t.model_dump(mode="json") for t in managed],
        "direct_reports": reports,
        "requests": [{"roles": _roles(r, person.id), "request": r.model_dump(mode="json")} for r in requests],
        "kudos_given": [k.model_dump(mode="json") for k in store.find_kudos(workspace, giver_id=person.id)],
        "kudos_received": [k.model_dump(mode="json") for k in store.find_kudos(workspace, recipient_id=person.id)],
        "messages": [i.model_dump(mode="json") for i in messages],
        "card_refs": card_refs,
        "documents": documents,
    }
    _audit(store, workspace, now, actor=actor, action="export", person_id=person.id, counts=_export_counts(export))
    return export


def _export_counts(export: dict[str, Any]) -> dict[str, int]:
    return {name: len(value) for name, value in export.items() if isinstance(value, list)}


def _audit(store: Store, workspace: str, now: datetime, **doc: Any) -> None:
    key = f"{now.isoformat()}:{doc['action']}:{uuid.uuid4().hex[:8]}"
    store.put_doc(AUDIT_DOC, workspace, key, {"at": now.isoformat(), **doc})


# --------------------------------------------------------------------------- forget


class _Scrubber:
    """Rewrites references from the old id to the new one and removes the person's identity
    (name, handle, email, platform mentions) from text."""

    def __init__(self, who: _Identity, new_id: str, wrote: Iterable[str] = ()) -> None:
        self.old = who.person.id
        self.new = new_id
        self.wrote = sorted({t for t in wrote if len(t.strip()) >= MIN_QUOTED}, key=len, reverse=True)
        """Free text the person wrote, longest first: removed wherever a message quotes it."""
        person = who.person
        platform = [re.escape(i) for i in who.platform_ids]
        self._mention = re.compile(r"<@(?:" + "|".join(platform) + r")(?:\|[^<>]*)?>") if platform else None
        # In people's words, exact identities only: their name as written (so "Mark" goes, "mark it
        # done" stays), @handle in any case, their email. A lowercase first name is not hunted.
        handle = re.escape(person.handle)
        patterns = [rf"(?i:(?<![\w.])@{handle}(?![\w]))"]
        exact = [re.escape(w) for w in (person.name, person.email) if w and len(w) >= 2]
        if exact:
            patterns.append(rf"(?<![\w@.])(?:{'|'.join(exact)})(?![\w])")
        self._words = re.compile("|".join(patterns))
        # Messages we rendered also name them by bare handle ("alice acknowledged").
        self._handle = re.compile(rf"(?<![\w@.]){handle}(?![\w])")

    def id(self, value: str | None) -> str | None:
        return self.new if value == self.old else value

    def mentions(self, text: str) -> str:
        """Platform mentions of the person become ``@former colleague``."""
        return self._mention.sub("@former colleague", text) if self._mention else text

    def text(self, text: str, *, rendered: bool = False) -> str:
        """Their words are removed; mentions, name, @handle and email become *former colleague*
        (and, in text we ``rendered`` ourselves, their bare handle too)."""
        for quoted in self.wrote:
            text = text.replace(quoted, REMOVED)
        text = self.mentions(text)
        text = self._words.sub(lambda m: "@former colleague" if m.group(0).startswith("@") else FORMER.lower(), text)
        return self._handle.sub(FORMER.lower(), text) if rendered else text

    def event(self, event: Event) -> Event:
        wrote = event.actor_id == self.old
        rating = event.rating
        if rating is not None and wrote and rating.comment:
            rating = Rating(score=rating.score, needs=dict(rating.needs), comment=None)
        return event.model_copy(
            update={
                "actor_id": self.id(event.actor_id),
                "from_id": self.id(event.from_id),
                "to_id": self.id(event.to_id),
                "alternative_id": self.id(event.alternative_id),
                "no_alternative": (
                    None
                    if wrote and event.no_alternative
                    else (self.text(event.no_alternative) if event.no_alternative else None)
                ),
                "note": None if wrote and event.note else (self.text(event.note) if event.note else None),
                "alternative": (
                    None
                    if wrote and event.alternative
                    else (self.text(event.alternative) if event.alternative else None)
                ),
                "rating": rating,
            }
        )

    def request(self, request: Request) -> Request:
        wrote = request.requester_id == self.old
        return request.model_copy(
            update={
                "requester_id": self.id(request.requester_id),
                "provider_id": self.id(request.provider_id),
                "text": REMOVED if wrote else self.text(request.text),
                "events": [self.event(e) for e in request.events],
            }
        )

    def message(self, message: Message, *, blank: bool) -> Message:
        if blank:
            return message.model_copy(
                update={
                    "recipient_id": self.id(message.recipient_id),
                    "title": REMOVED,
                    "text": "",
                    "facts": [],
                    "history": [],
                    "actions": [],
                }
            )
        return message.model_copy(
            update={
                "recipient_id": self.id(message.recipient_id),
                "title": self.text(message.title, rendered=True),
                "text": self.text(message.text, rendered=True),
                "facts": [Fact(label=f.label, value=self.text(f.value, rendered=True)) for f in message.facts],
                "history": [self.text(line, rendered=True) for line in message.history],
            }
        )


def forget_person(
    *, store: Store, workspace: str, handle: str, now: datetime, actor: str, dry_run: bool = False
) -> ForgetReport:
    """Remove or anonymise everything about the person with ``handle`` (see the module doc);
    with ``dry_run`` only count what would change."""
    person = _find(store, workspace, handle)
    who = _identity(store, person)
    pending = store.get_doc(PENDING_DOC, workspace, person.id)
    new_id = str(pending["new_id"]) if pending else new_person_id()
    if not dry_run and not pending:
        store.put_doc(PENDING_DOC, workspace, person.id, {"new_id": new_id})
    every_request = list(store.iter_requests(workspace))
    all_kudos = store.find_kudos(workspace)
    involved = [r for r in every_request if _involved(r, person.id)]
    scrub = _Scrubber(who, new_id, _their_words(person.id, involved, all_kudos))
    requests = [r for r in every_request if _involved(r, person.id) or scrub.request(r) != r]
    report = ForgetReport(person_id=new_id)
    rewritable = store if isinstance(store, Rewritable) else None

    # The former colleague first, so every reference moved below points at someone.
    former = Person(
        id=new_id,
        workspace=workspace,
        handle=f"former-{new_id.removeprefix('P-')[:8]}",
        name=FORMER,
        team_id=person.team_id,
        manager_id=person.manager_id,
        is_bot=person.is_bot,
        mute_nudges=True,
        active=False,
    )
    moved_people = [
        p.model_copy(update={"manager_id": new_id}) for p in store.list_people(workspace) if p.manager_id == person.id
    ]
    moved_teams: list[Team] = [
        t.model_copy(update={"manager_id": new_id}) for t in store.list_teams(workspace) if t.manager_id == person.id
    ]
    report.people = 1 + len(moved_people)
    if not dry_run:
        store.save_org([former, *moved_people], moved_teams)

    # Requests: ids moved, their free text removed, everyone's mentions of them scrubbed.
    for request in requests:
        report.requests += 1
        if request.provider_id == person.id and request.status.is_open:
            report.open_requests.append(request.number)
        if not dry_run:
            _rewrite_request(store, workspace, request.number, scrub)

    # Kudos: counts stay; their messages go.
    kudos = [k for k in all_kudos if _kudos(k, scrub) != k]
    report.kudos = len(kudos)
    if kudos:
        if rewritable is None:
            report.left.append(f"{len(kudos)} kudos still name them (the store can't rewrite kudos)")
        elif not dry_run:
            rewritable.replace_records("kudos", [_kudos(k, scrub).model_dump(mode="json") for k in kudos])

    # Outbox: messages to them blanked (and no longer sent), messages quoting them scrubbed.
    keyed = 0
    for item in store.list_outbox(workspace):
        to_them = item.message.recipient_id == person.id
        if not to_them and scrub.message(item.message, blank=False) == item.message:
            continue
        report.messages += 1
        if not dry_run:
            _rewrite_outbox(store, item.key, scrub, to_them=to_them, rewritable=rewritable)
        if rewritable is None and person.id in item.key:
            keyed += 1

    if keyed:
        report.left.append(f"{keyed} outbox keys still carry their old id (the store can't re-key them)")

    # Card references, claims and idempotency keys that name them; documents keyed by them.
    records = _records(store, workspace, ("card_refs", "claims", "idempotency", "docs", "people"))
    cards = [d for k, d in records if k == "card_refs" and _key_mentions(str(d["card_key"]), who.ids)]
    mine = {f"{workspace}:R-{n}:requester" for n in _requested_by(store, workspace, person.id, new_id)}
    cards += [d for k, d in records if k == "card_refs" and d["card_key"] in mine and d not in cards]
    report.card_refs = len(cards)
    keys = {
        k: [d for kind, d in records if kind == k and _key_mentions(str(d["key"]), who.ids)]
        for k in ("claims", "idempotency")
    }
    if rewritable is not None and not dry_run:
        rewritable.delete_records("card_refs", cards)
        for kind, found in keys.items():
            rewritable.delete_records(kind, found)
            rewritable.replace_records(kind, [{**d, "key": _scrub_key(str(d["key"]), who, new_id)} for d in found])
        old = [d for k, d in records if k == "people" and d["id"] == person.id]
        rewritable.delete_records("people", old)
    elif rewritable is None:
        if cards:
            report.left.append(f"{len(cards)} card references (the store can't delete them)")
        if keys["claims"] or keys["idempotency"]:
            count = len(keys["claims"]) + len(keys["idempotency"])
            report.left.append(f"{count} claim and idempotency keys naming their platform ids")
    for kind, key, doc in [(d["kind"], d["key"], d["doc"]) for k, d in records if k == "docs"]:
        if kind == PENDING_DOC:
            continue
        if kind == AUDIT_DOC:
            if doc.get("person_id") == person.id and not dry_run:
                store.put_doc(AUDIT_DOC, workspace, key, {**doc, "person_id": new_id})
            continue
        if key in who.ids or _mentions(doc, who.ids):
            report.documents += 1
            if not dry_run:
                store.delete_doc(kind, workspace, key)

    # Their old record: deleted when the store can, else emptied (nothing points at it now).
    if not dry_run:
        if rewritable is None:
            ghost = Person(id=person.id, workspace=workspace, handle=f"erased-{uuid.uuid4().hex[:8]}", name=FORMER)
            store.save_org([ghost.model_copy(update={"active": False, "mute_nudges": True})])
        _audit(store, workspace, now, actor=actor, action="forget", person_id=new_id, counts=report.counts())
        store.delete_doc(PENDING_DOC, workspace, person.id)
    return report


def _their_words(person_id: str, requests: Sequence[Request], kudos: Sequence[Kudos]) -> list[str]:
    """Every piece of free text the person wrote."""
    words = [r.text for r in requests if r.requester_id == person_id]
    for request in requests:
        for event in request.events:
            if event.actor_id == person_id:
                words += [t for t in (event.note, event.alternative, event.no_alternative) if t]
                if event.rating is not None and event.rating.comment:
                    words.append(event.rating.comment)
    words += [k.message for k in kudos if k.giver_id == person_id]
    return words


def _requested_by(store: Store, workspace: str, *ids: str) -> list[int]:
    return [r.number for r in store.iter_requests(workspace) if r.requester_id in ids]


def _scrub_key(key: str, who: _Identity, new_id: str) -> str:
    parts = re.split(r"([:|/])", key)
    return "".join(new_id if p == who.person.id else "forgotten" if p in who.platform_ids else p for p in parts)


def _kudos(kudos: Kudos, scrub: _Scrubber) -> Kudos:
    return kudos.model_copy(
        update={
            "giver_id": scrub.id(kudos.giver_id),
            "recipient_ids": [scrub.id(r) or r for r in kudos.recipient_ids],
            "message": REMOVED if kudos.giver_id == scrub.old else scrub.text(kudos.message),
        }
    )


def _rewrite_request(store: Store, workspace: str, number: int, scrub: _Scrubber) -> None:
    for _attempt in range(_MAX_RETRIES):
        current = store.get_request(workspace, number)
        if current is None:
            return
        try:
            store.update_request(scrub.request(current))
            return
        except Conflict:
            continue
    raise Conflict(f"R-{number} kept changing while it was being anonymised; run forget again.")


def _rewrite_outbox(store: Store, key: str, scrub: _Scrubber, *, to_them: bool, rewritable: Rewritable | None) -> None:
    for _attempt in range(_MAX_RETRIES):
        item = store.get_outbox_item(key)
        if item is None:
            return
        update: dict[str, Any] = {"message": scrub.message(item.message, blank=to_them or item.state != "pending")}
        if to_them:
            update["platform_ref"] = None  # where it was posted: their DM
        if to_them and item.state == "pending":
            update.update(state="failed", last_error="not sent: the recipient's data was erased")
        rewritten = OutboxItem.model_validate({**item.model_dump(), **update})
        if rewritable is not None and scrub.old in key:
            # The key names them: store the item under a key naming the former colleague.
            new_key = key.replace(scrub.old, scrub.new)
            message = rewritten.message
            message = message.model_copy(
                update={
                    "key": message.key.replace(scrub.old, scrub.new),
                    "card_key": message.card_key.replace(scrub.old, scrub.new) if message.card_key else None,
                    "thread_key": message.thread_key.replace(scrub.old, scrub.new) if message.thread_key else None,
                }
            )
            moved = rewritten.model_copy(update={"key": new_key, "message": message})
            rewritable.replace_records("outbox", [moved.model_dump(mode="json")])
            rewritable.delete_records("outbox", [{"key": key}])
            return
        try:
            store.save_outbox_item(rewritten)
            return
        except Conflict:
            continue
    raise Conflict(f"outbox item {key} kept changing while it was being anonymised; run forget again.")
