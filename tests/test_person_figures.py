"""Who may see one person's responsiveness figures: the person and their management chain by
default (``PERSON_FIGURES=private``), everyone with ``PERSON_FIGURES=everyone``; team and link
figures are aggregates and visible to everyone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.access import PersonFigures
from bot.dispatch import run_request
from bot.errors import NotAllowed
from bot.ports import Store
from bot.settings import Settings
from bot.stats import request_stats
from bot.workhours import DEFAULT_HOURS

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def stats_of(store: Store, viewer: str, target: str, policy: PersonFigures = "private") -> str:
    viewer_person = store.find_person("default", handle=viewer)
    target_person = store.find_person("default", handle=target)
    assert viewer_person is not None and target_person is not None
    return request_stats(
        store=store,
        workspace="default",
        viewer=viewer_person,
        now=NOW,
        person=target_person,
        person_figures=policy,
        hours=DEFAULT_HOURS,
    )


@pytest.mark.parametrize(
    ("viewer", "allowed"),
    [
        ("bob", True),  # themselves
        ("dave", True),  # bob's manager
        ("grace", True),  # dave's manager, so above bob too
        ("carol", False),  # a teammate
        ("alice", False),  # a customer
        ("frank", False),  # another team's manager
    ],
)
def test_a_persons_figures_are_theirs_and_their_management_chains(org_store: Store, viewer: str, allowed: bool) -> None:
    if allowed:
        assert "As provider" in stats_of(org_store, viewer, "bob")
    else:
        with pytest.raises(NotAllowed, match="Bob's own figures are for them and their managers"):
            stats_of(org_store, viewer, "bob")


def test_everyone_may_see_them_when_the_org_chooses_so(org_store: Store) -> None:
    assert "As provider" in stats_of(org_store, "alice", "bob", policy="everyone")


def test_a_handle_typed_where_a_team_goes_is_held_to_the_same_rule(org_store: Store) -> None:
    alice = org_store.find_person("default", handle="alice")
    assert alice is not None
    with pytest.raises(NotAllowed):
        request_stats(store=org_store, workspace="default", viewer=alice, now=NOW, team="bob", hours=DEFAULT_HOURS)


def test_team_and_link_figures_stay_visible_to_everyone(org_store: Store) -> None:
    alice = org_store.find_person("default", handle="alice")
    assert alice is not None
    assert "Finance" in request_stats(
        store=org_store, workspace="default", viewer=alice, now=NOW, team="finance", hours=DEFAULT_HOURS
    )
    link = request_stats(
        store=org_store, workspace="default", viewer=alice, now=NOW, team="sales->finance", hours=DEFAULT_HOURS
    )
    assert "Sales → Finance" in link


def test_the_refusal_reaches_the_person_as_a_friendly_reply_and_private_is_the_default(org_store: Store) -> None:
    alice = org_store.find_person("default", handle="alice")
    assert alice is not None
    reply = run_request(store=org_store, actor=alice, text="stats @bob", now=NOW, hours=DEFAULT_HOURS)
    assert reply.ok is False
    assert "their managers" in reply.text and "/request stats Finance" in reply.text
    assert Settings.model_construct().person_figures == "private"
