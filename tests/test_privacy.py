"""Data rights: ``export_person`` gathers everything about one person; ``forget_person`` removes
their identity and their words while every count, time, state and rating stays as it was."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from bot.delivery import deliver_due
from bot.errors import NotFound
from bot.kudos import give_kudos
from bot.models import ActionId, Message, Person, Rating, Request
from bot.people import Directory, link_person
from bot.ports import Store
from bot.privacy import (
    AUDIT_DOC,
    FORMER,
    REMOVED,
    Rewritable,
    export_person,
    forget_person,
)
from bot.requests import ActionInput, act, create_request
from bot.workhours import DEFAULT_HOURS
from handlers.cli.privacy import add_privacy_arguments, export_command, forget_command
from tests.conftest import NOW, small_org
from tests.pg import postgres_url
from tests.privacy_stores import ContractOnly

# What alice wrote or is known by: none of it may survive a forget.
ALICE_SAYS = [
    "Q3 numbers for the board deck",
    "thanks bob, perfect as always",
    "no time before the audit",
    "maybe ask the controller",
    "I will look at it tomorrow morning",
    "you saved my quarter",
]
ALICE_IS = ["alice", "Alice", "alice@example.com", "U0ALICE", "aad-0000-alice", "29:1alice-teams-user-id", "P-alice"]


@dataclass
class Recorder:
    """A notifier that reaches everyone and records card references."""

    platform: str = "slack"

    def can_reach(self, person: Person) -> bool:
        return True

    def send(self, message: Message, person: Person, *, card_ref: str | None, thread_ref: str | None) -> str | None:
        return card_ref or f"D{person.id}:{message.key}"


def _act(store: Store, number: int, action: ActionId, actor: str, **inputs: Any) -> None:
    directory = Directory(store, "default")
    act(
        store=store,
        directory=directory,
        workspace="default",
        number=number,
        action=action,
        actor=directory.require(actor),
        now=NOW + timedelta(hours=number),
        inputs=ActionInput(**inputs),
        hours=DEFAULT_HOURS,
    )


def _ask(store: Store, requester: str, provider: str, text: str) -> None:
    directory = Directory(store, "default")
    create_request(
        store=store,
        directory=directory,
        requester=directory.require(requester),
        provider=directory.require(provider),
        text=text,
        now=NOW,
    )


def build_history(store: Store) -> None:
    """alice's working life: requests asked and served, comments, a rating, kudos both ways,
    Slack and Teams identities with their documents, cards delivered."""
    people, teams = small_org()
    store.save_org(people, teams)
    alice = store.get_person("default", "P-alice")
    assert alice is not None
    store.save_org([alice.model_copy(update={"slack_ids": {"T0ACME": "U0ALICE"}, "teams_id": "aad-0000-alice"})])
    store.put_doc("teams_conversation", "default", "P-alice", {"conversation": {"id": "a:1personal-chat-alice"}})
    store.put_doc("teams_user", "default", "29:1alice-teams-user-id", {"person_id": "P-alice"})
    store.put_doc("slack_home_seen", "default", "U0ALICE", {"seen": True})
    store.put_doc("teams_service", "default", "bot", {"service_url": "https://smba.example/"})

    _ask(store, "P-alice", "P-bob", ALICE_SAYS[0])  # alice asks bob; done, rated
    _act(store, 1, ActionId.ACKNOWLEDGE, "P-bob")
    _act(store, 1, ActionId.DONE, "P-bob", note="in the finance folder")
    _act(store, 1, ActionId.RATE, "P-alice", rating=Rating(score=4, needs={"empathy": 5}, comment=ALICE_SAYS[1]))
    _ask(store, "P-bob", "P-alice", "review the vendor contract")  # alice declines
    _act(store, 2, ActionId.COMMENT, "P-alice", note=ALICE_SAYS[4])
    _act(store, 2, ActionId.DECLINE, "P-alice", note=ALICE_SAYS[2], alternative=ALICE_SAYS[3])
    _ask(store, "P-carol", "P-bob", "loop in <@U0ALICE> on the forecast, Alice knows it, ping @alice")  # a mention
    _ask(store, "P-frank", "P-alice", "the pipeline report")  # open, with alice
    _ask(store, "P-erin", "P-carol", "nothing to do with her")  # unrelated, but carol names alice instead
    _act(store, 5, ActionId.DECLINE, "P-carol", note="not mine", alternative_to=store.get_person("default", "P-alice"))
    directory = Directory(store, "default")
    give_kudos(
        store=store,
        directory=directory,
        giver=directory.require("P-alice"),
        recipients=[directory.require("P-bob")],
        message=ALICE_SAYS[5],
        values=[],
        now=NOW,
    )
    give_kudos(
        store=store,
        directory=directory,
        giver=directory.require("P-carol"),
        recipients=[directory.require("P-alice")],
        message="Alice rocks, mark my words",
        values=[],
        now=NOW,
    )
    deliver_due(store=store, notifiers=[Recorder()], now=NOW + timedelta(days=1))
    _act(store, 4, ActionId.ACKNOWLEDGE, "P-alice")  # queued, not delivered yet: pending to frank
    _ask(store, "P-dave", "P-alice", "pending card for Alice")  # a card to alice still pending


def figures(store: Store) -> list[tuple[Any, ...]]:
    """What aggregates are made of: per request its state, times, rating and log shape."""
    rows: list[tuple[Any, ...]] = []
    for r in store.iter_requests("default"):
        rating = r.rating
        rows.append(
            (
                r.number,
                r.status,
                r.created_at,
                r.closed_at,
                rating.score if rating else None,
                dict(rating.needs) if rating else None,
                [(e.kind, e.at) for e in r.events],
            )
        )
    return rows


def dump(store: Store) -> str:
    return json.dumps(list(store.export_records()), default=str, ensure_ascii=False)


@pytest.fixture(params=["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def rewritable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with the whole contract (replace_records / delete_records included), on each backend."""
    if request.param == "tinydb":
        from storage.tinydb_store import TinyDBStore

        store: Store = TinyDBStore(tmp_path / "store.json")
    else:
        from storage.postgres import PostgresStore

        pg = PostgresStore(postgres_url())
        pg.reset()
        store = pg
    assert isinstance(store, Rewritable)
    build_history(store)
    yield store
    store.close()


@pytest.fixture(params=["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def plain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with only the contract's methods, on each backend."""
    if request.param == "tinydb":
        from storage.tinydb_store import TinyDBStore

        store: Store = TinyDBStore(tmp_path / "plain.json")
    else:
        from storage.postgres import PostgresStore

        pg = PostgresStore(postgres_url())
        pg.reset()
        store = pg
    contract_only = cast(Store, ContractOnly(store))
    assert not isinstance(contract_only, Rewritable)
    build_history(contract_only)
    yield contract_only
    store.close()


# --------------------------------------------------------------------------- export


def test_export_holds_everything_about_the_person_and_nothing_unrelated(rewritable: Store) -> None:
    data = export_person(store=rewritable, workspace="default", handle="@Alice", now=NOW)
    json.dumps(data)  # JSON-ready as it is
    assert data["person"]["id"] == "P-alice" and data["person"]["slack_ids"] == {"T0ACME": "U0ALICE"}
    roles = {item["request"]["number"]: item["roles"] for item in data["requests"]}
    assert roles == {1: ["requester"], 2: ["provider"], 4: ["provider"], 6: ["provider"]}
    assert [k["message"] for k in data["kudos_given"]] == [ALICE_SAYS[5]]
    assert [k["message"] for k in data["kudos_received"]] == ["Alice rocks, mark my words"]
    assert data["messages"] and all(m["message"]["recipient_id"] == "P-alice" for m in data["messages"])
    assert {(d["kind"], d["key"]) for d in data["documents"]} == {
        ("teams_conversation", "P-alice"),
        ("teams_user", "29:1alice-teams-user-id"),
        ("slack_home_seen", "U0ALICE"),
    }
    assert {d["card_key"] for d in data["card_refs"]} == {
        "default:R-1:requester",
        "default:R-2:provider:P-alice",
        "default:R-4:provider:P-alice",
    }
    assert data["team"]["id"] == "T-sales" and data["direct_reports"] == []
    [(_key, audit)] = rewritable.list_docs(AUDIT_DOC, "default")
    assert audit["action"] == "export" and audit["person_id"] == "P-alice"


def test_export_of_an_unknown_handle_is_not_found(rewritable: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        export_person(store=rewritable, workspace="default", handle="nobody", now=NOW)
    with pytest.raises(NotFound):
        export_person(store=rewritable, workspace="elsewhere", handle="alice", now=NOW)


# --------------------------------------------------------------------------- forget


def test_forget_leaves_no_trace_of_them_and_keeps_every_figure(rewritable: Store) -> None:
    before = figures(rewritable)
    kudos_before = len(rewritable.find_kudos("default"))
    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="privacy-officer")
    everything = dump(rewritable)
    for trace in ALICE_SAYS + ALICE_IS:
        assert trace not in everything, f"{trace!r} survived the forget"
    assert report.left == []
    assert report.open_requests == [4, 6]
    assert figures(rewritable) == before
    assert len(rewritable.find_kudos("default")) == kudos_before
    former = rewritable.get_person("default", report.person_id)
    assert former is not None and former.name == FORMER and not former.active and former.team_id == "T-sales"
    assert rewritable.get_person("default", "P-alice") is None
    assert [r.number for r in rewritable.find_requests("default", requester_id=report.person_id)] == [1]
    assert [r.number for r in rewritable.find_requests("default", provider_id=report.person_id)] == [6, 4, 2]
    assert [k.message for k in rewritable.find_kudos("default", giver_id=report.person_id)] == [REMOVED]
    assert [k.message for k in rewritable.find_kudos("default", recipient_id=report.person_id)] == [
        "former colleague rocks, mark my words"
    ]
    r1 = rewritable.get_request("default", 1)
    assert r1 is not None and r1.text == REMOVED and r1.rating is not None and r1.rating.comment is None
    r3 = rewritable.get_request("default", 3)
    assert r3 is not None and r3.text == (
        "loop in @former colleague on the forecast, former colleague knows it, ping @former colleague"
    )
    r5 = rewritable.get_request("default", 5)
    assert r5 is not None and r5.text == "nothing to do with her"


def test_messages_to_them_are_blanked_and_no_longer_sent(rewritable: Store) -> None:
    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    to_former = [i for i in rewritable.list_outbox("default") if i.message.recipient_id == report.person_id]
    assert to_former and all(i.message.title == REMOVED and not i.message.text for i in to_former)
    assert all(i.state != "pending" for i in to_former)
    pending_to_others = rewritable.list_outbox("default", state="pending")
    assert pending_to_others and all(i.message.recipient_id != report.person_id for i in pending_to_others)
    assert report.messages >= len(to_former)


def test_the_forget_is_audited_without_naming_them(rewritable: Store) -> None:
    export_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    audits = [doc for _key, doc in rewritable.list_docs(AUDIT_DOC, "default")]
    assert [a["action"] for a in sorted(audits, key=lambda a: a["action"])] == ["export", "forget"]
    assert all(a["person_id"] == report.person_id and a["actor"] == "dpo" for a in audits)
    forget = next(a for a in audits if a["action"] == "forget")
    assert forget["counts"]["requests"] == 6 and forget["counts"]["kudos"] == 2


def test_someone_returning_after_being_forgotten_starts_afresh(rewritable: Store) -> None:
    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    back = link_person(rewritable, "default", name="Alice Archer", email="alice@example.com", slack_id=("T0", "U0X"))
    assert back.id != report.person_id
    assert rewritable.find_requests("default", requester_id=back.id) == []
    assert rewritable.find_kudos("default", recipient_id=back.id) == []


def test_a_dry_run_changes_nothing(rewritable: Store) -> None:
    before = dump(rewritable)
    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo", dry_run=True)
    assert dump(rewritable) == before
    assert report.requests == 6 and report.kudos == 2 and report.documents == 3 and report.open_requests == [4, 6]


def test_on_a_contract_only_store_forget_erases_what_it_can_and_names_the_rest(plain: Store) -> None:
    before = figures(plain)
    report = forget_person(store=plain, workspace="default", handle="alice", now=NOW, actor="dpo")
    assert figures(plain) == before
    assert any("kudos" in item for item in report.left) and any("card references" in item for item in report.left)
    assert plain.find_person("default", handle="alice") is None
    assert plain.find_person("default", email="alice@example.com") is None
    assert plain.find_person("default", slack_id=("T0ACME", "U0ALICE")) is None
    kept = {ALICE_SAYS[5], "Alice rocks"}  # kudos messages: the contract can't rewrite kudos
    everything = "".join(
        json.dumps(doc, default=str, ensure_ascii=False) for kind, doc in plain.export_records() if kind != "kudos"
    )
    for trace in [*ALICE_SAYS, "alice@example.com", "U0ALICE", "aad-0000-alice", "29:1alice-teams-user-id"]:
        if trace not in kept:
            assert trace not in everything, f"{trace!r} survived the forget"
    ghost = plain.get_person("default", "P-alice")
    assert ghost is not None and ghost.name == FORMER and ghost.email is None and not ghost.slack_ids


def test_forgetting_someone_twice_finds_nobody_the_second_time(rewritable: Store) -> None:
    forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    with pytest.raises(NotFound):
        forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")


# --------------------------------------------------------------------------- command line


def _parse(forget: bool, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_privacy_arguments(parser, forget=forget)
    return parser.parse_args(list(argv))


def test_the_export_command_writes_json_to_a_file(rewritable: Store, tmp_path: Path) -> None:
    target = tmp_path / "alice.json"
    out = io.StringIO()
    args = _parse(False, "--person", "alice", "--output", str(target), "--actor", "dpo")
    assert export_command(args, store=rewritable, workspace="default", now=NOW, out=out) == 0
    assert json.loads(target.read_text())["person"]["handle"] == "alice"
    assert "Wrote everything stored about alice" in out.getvalue()
    assert export_command(_parse(False, "--person", "ghost"), store=rewritable, workspace="default", now=NOW) == 2


def test_the_forget_command_needs_yes_and_reports_what_it_did(rewritable: Store) -> None:
    out = io.StringIO()
    assert (
        forget_command(_parse(True, "--person", "alice"), store=rewritable, workspace="default", now=NOW, out=out) == 0
    )
    assert "Nothing was changed" in out.getvalue() and "(reassign these): R-4, R-6" in out.getvalue()
    assert rewritable.find_person("default", handle="alice") is not None
    out = io.StringIO()
    args = _parse(True, "--person", "alice", "--yes", "--actor", "dpo")
    assert forget_command(args, store=rewritable, workspace="default", now=NOW, out=out) == 0
    assert "Forgot alice" in out.getvalue()
    assert rewritable.find_person("default", handle="alice") is None


def test_the_request_cards_after_a_forget_name_a_former_colleague(rewritable: Store) -> None:
    from bot import cards

    report = forget_person(store=rewritable, workspace="default", handle="alice", now=NOW, actor="dpo")
    request = rewritable.get_request("default", 1)
    assert isinstance(request, Request)
    card = cards.provider_card(request, Directory(rewritable, "default"))
    assert card.title == f"R-1 from {FORMER}" and card.text == REMOVED
    assert report.person_id in request.provider_history() or request.requester_id == report.person_id
