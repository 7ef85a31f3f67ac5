"""Install and uninstall: the conversation reference is kept and dropped; one welcome per install."""

from __future__ import annotations

from bot.models import Person
from bot.ports import Store
from handlers.teams import references
from tests.teams.conftest import BOB, TeamsHarness, as_user, load, run, with_harness

TEAM = "19:sales-team@thread.tacv2"


def test_personal_install_saves_the_chat_and_welcomes_once(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        assert await h.install(BOB) == 201
        added = as_user(load("conversation_update_bot_added"), BOB)
        status, _ = await h.post(added)  # Teams sends both activities for one install
        assert status == 201
        [welcome] = h.replies_to(BOB)
        assert welcome.startswith("Hi, I'm servechain.")

    run(with_harness(org_store, main))
    reference = references.personal(org_store, "default", "P-bob")
    assert reference is not None
    assert reference.conversation.id == BOB.chat
    assert reference.activity_id is None
    bob = org_store.find_person("default", teams_id=BOB.aad)
    assert isinstance(bob, Person) and bob.id == "P-bob"  # linked to the org person by email


def test_personal_uninstall_forgets_the_chat(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.install(BOB)
        status, _ = await h.post(as_user(load("installation_update_remove"), BOB))
        assert status == 201

    run(with_harness(org_store, main))
    assert references.personal(org_store, "default", "P-bob") is None


def test_reinstall_welcomes_again(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.install(BOB)
        await h.post(as_user(load("installation_update_remove"), BOB))
        await h.install(BOB)
        assert len(h.replies_to(BOB)) == 2

    run(with_harness(org_store, main))


def test_team_install_welcomes_the_channel_and_removal_forgets_it(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        status, _ = await h.post(load("conversation_update_bot_added"))
        assert status == 201
        [welcome] = h.connector.of("send", "reply", conversation_id=TEAM)
        assert (welcome.text or "").startswith("Hi, I'm servechain.")
        assert org_store.get_doc(references.TEAM_KIND, "default", TEAM) is not None
        status, _ = await h.post(load("conversation_update_bot_removed"))
        assert status == 201

    run(with_harness(org_store, main))
    assert org_store.get_doc(references.TEAM_KIND, "default", TEAM) is None
    service = references.service(org_store, "default")
    assert service is not None and service["tenant_id"] == "tenant-0000-servechain"


def test_other_members_joining_is_ignored(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        joined = load("conversation_update_bot_added")
        joined["membersAdded"] = [{"id": "29:1someone-else"}]
        status, _ = await h.post(joined)
        assert status == 201
        assert h.connector.calls == []

    run(with_harness(org_store, main))
