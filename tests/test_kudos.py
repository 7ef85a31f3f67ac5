"""Kudos: the daily allowance, no self or bot kudos, the public announcement, thanks from a
finished request's card, the leaderboard and App Home's tallies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import cards
from bot.dispatch import run_kudos
from bot.errors import InvalidCommand, InvalidTransition, NotAllowed, NotFound
from bot.kudos import give_kudos, kudos_tally, leaderboard, leaderboard_text, thank_for_request
from bot.models import ActionId, Kudos, Person, Team
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, act, create_request
from bot.workhours import DEFAULT_HOURS
from tests.conftest import NOW

WS = "default"


def who(store: Store, handle: str) -> Person:
    person = store.find_person(WS, handle=handle)
    assert person is not None
    return person


def kudos(store: Store, giver: str, text: str, minutes: int = 0, channel: str | None = None) -> str:
    return run_kudos(
        store=store, actor=who(store, giver), text=text, now=NOW + timedelta(minutes=minutes), channel=channel
    ).text


def test_the_daily_allowance_counts_recipients_and_resets_at_local_midnight(org_store: Store) -> None:
    assert kudos(org_store, "bob", "@carol @dave thanks for the close") == "Kudos sent to Carol, Dave. (2/5 today)"
    assert kudos(org_store, "bob", "@erin @frank @grace well done") == "Kudos sent to Erin, Frank, Grace. (5/5 today)"
    used_up = kudos(org_store, "bob", "@alice thanks")
    assert used_up == "You've used 5 of your 5 kudos for today. Your allowance resets at midnight."
    # bob is in London (UTC in November): NOW is 10:00, so 14 hours later is tomorrow
    assert kudos(org_store, "bob", "@alice thanks", minutes=14 * 60) == "Kudos sent to Alice. (1/5 today)"


def test_a_partial_allowance_says_how_many_are_left(org_store: Store) -> None:
    kudos(org_store, "bob", "@carol @dave @erin @frank thanks")
    assert kudos(org_store, "bob", "@grace @alice thanks") == (
        "You've used 4 of your 5 kudos for today and have 1 left. Your allowance resets at midnight."
    )


def test_no_kudos_to_yourself_or_to_bots(org_store: Store) -> None:
    assert kudos(org_store, "bob", "@bob I'm great") == "Kudos are for others. You can't give kudos to yourself."
    assert kudos(org_store, "bob", "@robot beep") == "robot is a bot; kudos are for people."
    assert org_store.find_kudos(WS) == []


def test_kudos_are_announced_where_they_were_given_with_the_kudos_text_only(org_store: Store) -> None:
    reply = run_kudos(store=org_store, actor=who(org_store, "alice"), text="@bob @carol great launch! #teamwork",
                      now=NOW, channel="C0GENERAL")  # fmt: skip
    assert reply.announcement is not None
    assert reply.announcement.title == "Alice gave kudos to Bob and Carol"
    assert reply.announcement.text == "great launch! #teamwork"
    assert sorted(m.recipient_id for m in reply.messages) == ["P-bob", "P-carol"]
    assert all(m.title == "Kudos from Alice!" for m in reply.messages)
    [stored] = org_store.find_kudos(WS)
    assert (stored.channel, stored.values) == ("C0GENERAL", ["teamwork"])
    quiet = run_kudos(store=org_store, actor=who(org_store, "alice"), text="@dave thanks", now=NOW)
    assert quiet.announcement is None, "a 1:1 chat has no audience to announce to"


def _finished_request(store: Store) -> int:
    directory = Directory(store, WS)
    created = create_request(
        store=store,
        directory=directory,
        requester=who(store, "alice"),
        provider=who(store, "bob"),
        text="the secret Q3 numbers",
        now=NOW,
    )
    number = created.request.number
    for action, minutes in ((ActionId.ACKNOWLEDGE, 5), (ActionId.DONE, 30)):
        act(
            store=store,
            directory=directory,
            workspace=WS,
            number=number,
            action=action,
            actor=who(store, "bob"),
            now=NOW + timedelta(minutes=minutes),
            inputs=ActionInput(),
            hours=DEFAULT_HOURS,
        )
    return number


def test_the_requester_card_offers_thanks_once_the_request_is_done(org_store: Store) -> None:
    number = _finished_request(org_store)
    request = org_store.get_request(WS, number)
    assert request is not None
    card = cards.requester_card(request, Directory(org_store, WS))
    assert [(a.id, a.label, a.inputs) for a in card.actions] == [
        (ActionId.THANK, "Thank Bob", ["message"]),
        (ActionId.REOPEN, "Reopen", ["note"]),
    ]


def test_thanks_from_a_request_go_to_whoever_finished_it_once(org_store: Store) -> None:
    number = _finished_request(org_store)
    directory = Directory(org_store, WS)
    alice = who(org_store, "alice")

    def thank(actor: Person, message: str | None = "spot on, thanks! #quality") -> str:
        return thank_for_request(
            store=org_store, directory=directory, actor=actor, number=number, message=message, now=NOW
        ).text

    with pytest.raises(NotFound):
        thank(who(org_store, "erin"))
    with pytest.raises(NotAllowed, match="Only alice"):
        thank(who(org_store, "dave"))  # bob's manager may see it, but the thanks are alice's to give
    with pytest.raises(InvalidCommand, match="Say what they did"):
        thank(alice, "  ")
    assert thank(alice) == "Kudos sent to Bob. (1/5 today)"
    with pytest.raises(InvalidCommand, match="already thanked Bob for R-1"):
        thank(alice)
    [given] = org_store.find_kudos(WS)
    assert (given.recipient_ids, given.request_number, given.values) == (["P-bob"], number, ["quality"])
    [dm] = [i.message for i in org_store.list_outbox(WS) if i.message.kind == "kudos"]
    assert dm.title == "Kudos from Alice for R-1!" and "secret" not in dm.title + dm.text


def test_thanks_need_a_finished_request(org_store: Store) -> None:
    directory = Directory(org_store, WS)
    created = create_request(
        store=org_store,
        directory=directory,
        requester=who(org_store, "alice"),
        provider=who(org_store, "bob"),
        text="numbers",
        now=NOW,
    )
    with pytest.raises(InvalidTransition, match="isn't done"):
        thank_for_request(
            store=org_store,
            directory=directory,
            actor=who(org_store, "alice"),
            number=created.request.number,
            message="thanks",
            now=NOW,
        )


def _give(store: Store, giver: str, recipients: list[str], days_ago: int, values: list[str] | None = None) -> None:
    at = NOW - timedelta(days=days_ago)
    store.add_kudos(
        Kudos(
            id=f"K-{giver}-{'-'.join(recipients)}-{days_ago}",
            giver_id=f"P-{giver}",
            recipient_ids=[f"P-{r}" for r in recipients],
            message="thanks",
            values=values or [],
            at=at,
        )
    )


def test_the_leaderboard_counts_kudos_received_per_period_and_team(org_store: Store) -> None:
    # NOW is Tuesday 24 Nov: this week started Monday 23, this month on the 1st
    _give(org_store, "alice", ["bob", "carol"], 0, ["teamwork"])
    _give(org_store, "erin", ["bob"], 1, ["speed"])
    _give(org_store, "frank", ["erin"], 5)
    _give(org_store, "bob", ["erin"], 10)
    _give(org_store, "bob", ["frank"], 40)
    board = leaderboard(store=org_store, workspace=WS, period="week", now=NOW, tz="Europe/London")
    assert [(r.rank, r.name, r.received) for r in board] == [(1, "Bob", 2), (2, "Carol", 1)]
    month = leaderboard(store=org_store, workspace=WS, period="month", now=NOW, tz="Europe/London")
    assert [(r.rank, r.name, r.received) for r in month] == [(1, "Bob", 2), (1, "Erin", 2), (3, "Carol", 1)]
    ever = leaderboard(store=org_store, workspace=WS, period="all", now=NOW, tz="Europe/London", team="sales")
    assert [(r.name, r.received) for r in ever] == [("Erin", 2), ("Frank", 1)]
    text = leaderboard_text(store=org_store, workspace=WS, period="week", now=NOW, tz="Europe/London")
    assert text.splitlines() == [
        "Kudos leaderboard this week",
        "1. Bob (Finance) · 2 kudos · #speed #teamwork",
        "2. Carol (Finance) · 1 kudos · #teamwork",
    ]
    assert kudos(org_store, "alice", "top month finance").startswith("Kudos leaderboard this month · Finance\n1. Bob")
    assert "I don't know a team called 'legal'" in kudos(org_store, "alice", "top all legal")


def test_the_leaderboard_of_a_department_includes_its_sub_teams(org_store: Store) -> None:
    org_store.save_org([], [Team(id="T-ap", name="Payables", parent_id="T-fin")])
    org_store.save_org([who(org_store, "erin").model_copy(update={"team_id": "T-ap"})])
    _give(org_store, "alice", ["erin"], 0)
    assert [r.name for r in leaderboard(store=org_store, workspace=WS, period="week", now=NOW, tz=None,
                                        team="Finance")] == ["Erin"]  # fmt: skip


def test_app_home_tallies_what_was_given_and_received(org_store: Store) -> None:
    kudos(org_store, "alice", "@bob @carol thanks")
    kudos(org_store, "carol", "@alice back at you")
    _give(org_store, "dave", ["alice"], 3)
    tally = kudos_tally(store=org_store, person=who(org_store, "alice"), now=NOW)
    assert (len(tally.received), len(tally.given)) == (2, 1)
    assert (tally.received_today, tally.given_today, tally.left_today) == (1, 2, 3)


def test_give_kudos_stores_nothing_twice_for_a_repeated_key(org_store: Store) -> None:
    directory = Directory(org_store, WS)
    args = {
        "store": org_store,
        "directory": directory,
        "giver": who(org_store, "alice"),
        "recipients": [who(org_store, "bob")],
        "message": "thanks",
        "values": [],
        "now": NOW,
        "idempotency_key": "slack:cmd:T0:1",
    }
    assert give_kudos(**args).kudos is not None  # type: ignore[arg-type]
    again = give_kudos(**args)  # type: ignore[arg-type]
    assert again.repeated and again.text == "Those kudos were already given."
    assert len(org_store.find_kudos(WS)) == 1


def test_the_console_thanks_for_a_finished_request_and_shows_the_leaderboard(org_store: Store) -> None:
    import io

    from handlers.console import Console

    number = _finished_request(org_store)
    console = Console(store=org_store, out=io.StringIO(), clock=lambda: NOW + timedelta(hours=1))
    for line in ("as alice", f"click thank R-{number} spot on #quality", f"click thank R-{number} again", "/kudos top"):
        console.handle_line(line)
    out = console.out.getvalue()  # type: ignore[attr-defined]
    assert "[to alice] Kudos sent to Bob. (1/5 today)" in out
    assert "[to bob] Kudos from Alice for R-1!" in out
    assert "[to alice] You already thanked Bob for R-1." in out
    assert "1. Bob (Finance) · 1 kudos · #quality" in out
