"""`request stats` and `request chain` answer in Teams like anywhere else."""

from __future__ import annotations

from bot.ports import Store
from tests.teams.conftest import ALICE, BOB, TeamsHarness, run, with_harness


def test_stats_and_chain_answer_in_a_teams_chat(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        assert await h.say(ALICE, "request @bob need the Q3 numbers") in (200, 201)
        assert await h.say(BOB, "request @carol split it by region for R-1") in (200, 201)
        assert await h.say(BOB, "request stats") in (200, 201)
        stats = h.replies_to(BOB)[-1]
        assert "As provider" in stats and "As customer" in stats
        assert await h.say(BOB, "request chain R-2") in (200, 201)
        chain = h.replies_to(BOB)[-1]
        assert chain.startswith("R-1") and "bob is waiting on carol" in chain
        assert await h.say(ALICE, "request chain R-2") in (200, 201)
        assert h.replies_to(ALICE)[-1] == "I can't find R-2."

    run(with_harness(org_store, main))
