"""The one entry every front end calls: stats, chain, list and show go through the same rules."""

from __future__ import annotations

from datetime import timedelta

from bot.dispatch import run_request
from bot.ports import Store
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW


def _ask(store: Store, who: str, text: str, minutes: int = 0) -> str:
    actor = store.find_person("default", handle=who)
    assert actor is not None
    return run_request(
        store=store, actor=actor, text=text, now=NOW + timedelta(minutes=minutes), hours=DEFAULT_HOURS
    ).text


def test_stats_and_chain_answer_in_chat(org_store: Store) -> None:
    assert _ask(org_store, "alice", "@bob need the Q3 numbers").startswith("Sent R-1")
    assert _ask(org_store, "bob", "@carol split by region for R-1", 5).startswith("Sent R-2")
    stats = _ask(org_store, "bob", "stats", 10)
    assert "As provider" in stats and "As customer" in stats
    chain = _ask(org_store, "bob", "chain R-2", 10)
    assert chain.splitlines()[0].startswith("R-1") and "R-2" in chain and "bob is waiting on carol" in chain
    assert _ask(org_store, "alice", "chain R-2", 10) == "I can't find R-2.", "alice can't see bob's sub-request"
    from_origin = _ask(org_store, "alice", "chain R-1", 10)
    assert "R-2" in from_origin and "split by region" not in from_origin, "the tree shows it, not its text"
    team = _ask(org_store, "dave", "stats Finance", 10)
    assert "Finance" in team


def test_someone_elses_request_is_not_found_in_show_and_chain(org_store: Store) -> None:
    _ask(org_store, "alice", "@bob need the Q3 numbers")
    assert _ask(org_store, "erin", "show R-1") == "I can't find R-1."
    assert "R-1" in _ask(org_store, "erin", "chain R-1") and "need the Q3" not in _ask(org_store, "erin", "chain R-1")


def test_unknown_mentions_and_bad_syntax_answer_with_help(org_store: Store) -> None:
    assert "I don't know @zed" in _ask(org_store, "alice", "@zed hello")
    assert "/request @" in _ask(org_store, "alice", "please do things")
