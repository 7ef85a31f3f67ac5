"""The authorization matrix, exhaustively: every role x every permission x every state, and every
role x every request action x every state, against an expected table written out here by hand
(not derived from ``bot.access``), plus the same rules seen through ``act`` and the front ends."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import access
from bot.access import HOME_DOC, Permission, Role, WorkspaceGate, org_ids
from bot.errors import InvalidTransition, NotAllowed, NotFound
from bot.models import ActionId, Event, EventKind, Person, Request, Status
from bot.people import Directory
from bot.ports import Store
from bot.requests import ActionInput, act, check_allowed, create_request, states_from
from bot.workhours import DEFAULT_HOURS
from handlers.teams.adapter import FOREIGN_TENANT
from handlers.teams.chat import IN_PRIVATE
from tests.conftest import NOW, small_org
from tests.drills import seed_linked_org, slack_app
from tests.slack.conftest import SlackHarness, button
from tests.teams.conftest import ALICE, BOB, CAROL, DAVE, TeamsHarness, as_user, load, run, with_harness

# The cast (see tests.conftest.small_org): alice asked bob, bob handed off to carol.
# carol's manager chain is dave, then grace. frank manages alice (the requester's manager has
# no business with the request); erin is unrelated.
CAST: dict[Role, str] = {
    Role.REQUESTER: "P-alice",
    Role.PROVIDER: "P-carol",
    Role.PREVIOUS_PROVIDER: "P-bob",
    Role.MANAGER: "P-dave",
    Role.OTHER: "P-erin",
}
ALSO = {"P-grace": Role.MANAGER, "P-frank": Role.OTHER}
"""More people per role: the manager's manager, and the requester's own manager."""

INVOLVED = {Role.REQUESTER, Role.PROVIDER, Role.PREVIOUS_PROVIDER, Role.MANAGER}

EXPECTED_GRANTS: dict[Permission, set[Role]] = {
    Permission.VIEW: INVOLVED,
    Permission.HISTORY: INVOLVED,
    Permission.COMMENT: INVOLVED,
    Permission.ACT: {Role.PROVIDER},
    Permission.REASSIGN: {Role.MANAGER},
    Permission.RATE: {Role.REQUESTER},
    Permission.STEER: {Role.REQUESTER},
    Permission.NEGOTIATE: {Role.REQUESTER, Role.PROVIDER},
    Permission.MANAGE: {Role.MANAGER},
    Permission.CLOSE_RECOVERY: {Role.MANAGER},
}

OPEN = {Status.OPEN, Status.ACKNOWLEDGED, Status.IN_PROGRESS}
CLOSED = {Status.DONE, Status.DECLINED, Status.CANCELLED}
SERVED = {Status.DONE, Status.DECLINED}

EXPECTED_ACTIONS: dict[ActionId, tuple[Permission, set[Status]]] = {
    ActionId.ACKNOWLEDGE: (Permission.ACT, {Status.OPEN}),
    ActionId.START: (Permission.ACT, {Status.OPEN, Status.ACKNOWLEDGED}),
    ActionId.DONE: (Permission.ACT, OPEN),
    ActionId.DECLINE: (Permission.ACT, OPEN),
    ActionId.HANDOFF: (Permission.ACT, OPEN),
    ActionId.RECOVER: (Permission.ACT, SERVED),
    ActionId.REASSIGN: (Permission.REASSIGN, OPEN),
    ActionId.RATE: (Permission.RATE, SERVED),
    ActionId.CANCEL: (Permission.STEER, OPEN),
    ActionId.REOPEN: (Permission.STEER, CLOSED),
    ActionId.FOLLOW_UP: (Permission.STEER, SERVED),
    ActionId.COMMENT: (Permission.COMMENT, OPEN | CLOSED),
    ActionId.SET_DUE: (Permission.STEER, OPEN),
    ActionId.PROPOSE_DUE: (Permission.NEGOTIATE, OPEN),
    ActionId.ACCEPT_DUE: (Permission.NEGOTIATE, OPEN),
    ActionId.DECLINE_DUE: (Permission.NEGOTIATE, OPEN),
    ActionId.ASK_UPDATE: (Permission.STEER, OPEN),
    ActionId.NUDGE: (Permission.MANAGE, OPEN),
    ActionId.EXTEND_DUE: (Permission.MANAGE, OPEN),
    ActionId.PROGRESS: (Permission.ACT, OPEN),
    ActionId.ASK_INSTEAD: (Permission.STEER, {Status.DECLINED}),
    ActionId.ACCEPT_ALTERNATIVE: (Permission.STEER, {Status.DECLINED}),
    ActionId.ASK_AGAIN: (Permission.STEER, {Status.DECLINED}),
    ActionId.CLOSE_RECOVERY: (Permission.CLOSE_RECOVERY, SERVED),
}
"""Per action: the permission it needs and the states it may start from."""

_LAST_EVENT: dict[Status, EventKind | None] = {
    Status.OPEN: None,
    Status.ACKNOWLEDGED: EventKind.ACKNOWLEDGED,
    Status.IN_PROGRESS: EventKind.STARTED,
    Status.DONE: EventKind.DONE,
    Status.DECLINED: EventKind.DECLINED,
    Status.CANCELLED: EventKind.CANCELLED,
}


def request_in(status: Status, number: int = 1) -> Request:
    """R-<number> from alice, handed from bob to carol, now in ``status``."""
    events = [
        Event(kind=EventKind.CREATED, at=NOW, actor_id="P-alice", to_id="P-bob"),
        Event(kind=EventKind.HANDED_OFF, at=NOW, actor_id="P-bob", from_id="P-bob", to_id="P-carol", note="ctx"),
    ]
    last = _LAST_EVENT[status]
    if last is not None:
        actor = "P-alice" if last == EventKind.CANCELLED else "P-carol"
        events.append(Event(kind=last, at=NOW + timedelta(hours=1), actor_id=actor, note="x"))
    return Request(
        number=number,
        requester_id="P-alice",
        provider_id="P-carol",
        text="the Q3 numbers",
        created_at=NOW,
        status=status,
        events=events,
    )


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    from storage.tinydb_store import TinyDBStore

    store = TinyDBStore(Path(tmp_path_factory.mktemp("access")) / "store.json")
    store.save_org(*small_org())
    yield Directory(store, "default")
    store.close()


def person(directory: Directory, person_id: str) -> Person:
    return directory.require(person_id)


def test_the_cast_holds_the_roles_it_is_meant_to(directory: Directory) -> None:
    request = request_in(Status.OPEN)
    for role, person_id in CAST.items():
        assert access.roles(request, person(directory, person_id), directory) == {role}
    for person_id, role in ALSO.items():
        assert access.roles(request, person(directory, person_id), directory) == {role}


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("permission", list(Permission), ids=lambda p: p.value)
@pytest.mark.parametrize("who", [*CAST.values(), *ALSO], ids=lambda p: p.removeprefix("P-"))
def test_every_role_has_exactly_its_permissions_in_every_state(
    directory: Directory, who: str, permission: Permission, status: Status
) -> None:
    role = ALSO.get(who) or next(r for r, pid in CAST.items() if pid == who)
    request = request_in(status)
    expected = role in EXPECTED_GRANTS[permission]
    assert access.may(permission, request, person(directory, who), directory) is expected
    if permission == Permission.VIEW:
        assert access.can_view(request, person(directory, who), directory) is expected


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
@pytest.mark.parametrize("action", list(EXPECTED_ACTIONS), ids=lambda a: a.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_role_may_take_exactly_its_actions_in_exactly_their_states(
    directory: Directory, role: Role, action: ActionId, status: Status
) -> None:
    request = request_in(status)
    actor = person(directory, CAST[role])
    permission, states = EXPECTED_ACTIONS[action]
    if role not in EXPECTED_GRANTS[Permission.VIEW]:
        with pytest.raises(NotFound, match="can't find R-1"):
            check_allowed(request, action, actor, directory)
    elif role not in EXPECTED_GRANTS[permission]:
        with pytest.raises(NotAllowed, match=r"^Only .* R-1\.$"):
            check_allowed(request, action, actor, directory)
    elif status not in states:
        with pytest.raises(InvalidTransition):
            check_allowed(request, action, actor, directory)
    else:
        check_allowed(request, action, actor, directory)


def test_the_table_covers_every_permission_and_every_lifecycle_action() -> None:
    assert set(access.GRANTS) == set(Permission) == set(EXPECTED_GRANTS)
    assert set(access.ACTION_PERMISSIONS) == {*EXPECTED_ACTIONS, ActionId.THANK}
    for action in ActionId:
        if action in EXPECTED_ACTIONS:
            assert states_from(action) == EXPECTED_ACTIONS[action][1], action
        else:  # thanks, snoozes and mutes don't change a request, so no state machine rule applies
            with pytest.raises(KeyError):
                states_from(action)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_only_the_requester_may_thank_for_a_request(directory: Directory, role: Role) -> None:
    request = request_in(Status.DONE)
    actor = person(directory, CAST[role])
    if role == Role.REQUESTER:
        access.check_action(request, ActionId.THANK, actor, directory)
    else:
        expected = NotFound if role == Role.OTHER else NotAllowed
        with pytest.raises(expected):
            access.check_action(request, ActionId.THANK, actor, directory)


def test_a_person_holding_two_roles_gets_both(directory: Directory) -> None:
    """dave asks carol for something: he is her requester and her manager."""
    request = request_in(Status.DONE).model_copy(update={"requester_id": "P-dave"})
    dave = person(directory, "P-dave")
    assert access.roles(request, dave, directory) == {Role.REQUESTER, Role.MANAGER}
    check_allowed(request, ActionId.RATE, dave, directory)
    with pytest.raises(NotAllowed):
        check_allowed(request, ActionId.RECOVER, dave, directory)


def test_someone_from_another_workspace_is_nobody(directory: Directory) -> None:
    stranger = person(directory, "P-alice").model_copy(update={"workspace": "other"})
    assert access.roles(request_in(Status.OPEN), stranger, directory) == {Role.OTHER}


def test_outsiders_are_told_not_found_through_act(org_store: Store) -> None:
    directory = Directory(org_store, "default")
    create_request(
        store=org_store,
        directory=directory,
        requester=directory.require("P-alice"),
        provider=directory.require("P-bob"),
        text="the Q3 numbers",
        now=NOW,
    )
    for outsider in ("P-erin", "P-frank"):
        for action in EXPECTED_ACTIONS:
            with pytest.raises(NotFound, match="can't find R-1"):
                act(
                    store=org_store,
                    directory=directory,
                    workspace="default",
                    number=1,
                    action=action,
                    actor=directory.require(outsider),
                    now=NOW,
                    inputs=ActionInput(note="x"),
                    hours=DEFAULT_HOURS,
                )
    manager = act(
        store=org_store,
        directory=directory,
        workspace="default",
        number=1,
        action=ActionId.REASSIGN,
        actor=directory.require("P-grace"),
        now=NOW,
        inputs=ActionInput(to=directory.require("P-carol"), note="carol has the numbers"),
        hours=DEFAULT_HOURS,
    )
    assert manager.request.provider_id == "P-carol"
    assert [r.number for r in org_store.find_requests("default")] == [1]


# --------------------------------------------------------------------------- through the front ends


@pytest.fixture
def slack(store: Store) -> Iterator[SlackHarness]:
    seed_linked_org(store)
    with slack_app(store) as app:
        yield app


def _snapshot(store: Store) -> str:
    return json.dumps(sorted(json.dumps(r, sort_keys=True, default=str) for r in store.export_records()))


def test_slack_show_answers_not_found_to_anyone_not_on_the_request(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> the merger model, strictly private")
    slack.settle()
    for outsider in ("U0ERIN", "U0NEWBIE"):
        slack.command(outsider, "show R-1")
        slack.settle()
        [reply] = [c for c in slack.fake.calls("response_url") if c.params["_name"] == f"cmd-{outsider}"]
        assert reply.params["text"] == "I can't find R-1." and "merger" not in json.dumps(reply.params)
    slack.command("U0DAVE", "show R-1")  # bob's manager may look
    slack.settle()
    [seen] = [c for c in slack.fake.calls("response_url") if c.params["_name"] == "cmd-U0DAVE"]
    assert "merger model" in json.dumps(seen.params["blocks"])


def test_slack_answers_in_a_public_channel_are_ephemeral_and_nothing_is_posted_there(slack: SlackHarness) -> None:
    for text in ("<@U0BOB|bob> the merger model", "show R-1", "list", "queue", "help", "<@U0BOB|bob>"):
        form = slack.command_form("U0ALICE", text)
        assert form["channel_id"] == "C0GENERAL"
        slack.post_form(form)
        slack.settle()
    answers = slack.fake.calls("response_url")
    assert len(answers) == 6 and all(c.params["response_type"] == "ephemeral" for c in answers)
    in_channels = [c for c in slack.fake.calls("chat.postMessage") if not str(c.params["channel"]).startswith("D")]
    assert in_channels == []


def test_slack_kudos_announced_in_a_channel_never_carry_request_text(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> the merger model, strictly private")
    slack.settle()
    slack.click("U0BOB", button(slack.card("U0BOB", "R-1"), ActionId.DONE))
    slack.settle()
    slack.submit("U0BOB", slack.last_view(), {})
    slack.settle()
    slack.command("U0ALICE", "<@U0BOB|bob> thanks for R-1, great work #teamwork", command="/kudos")
    slack.settle()
    slack.click("U0ALICE", button(slack.card("U0ALICE", "R-1"), ActionId.THANK))
    slack.settle()
    slack.submit("U0ALICE", slack.last_view(), {"message": {"type": "plain_text_input", "value": "you're a star"}})
    slack.settle()
    assert len(slack.store.find_kudos("default")) == 2
    assert any(str(c.params["channel"]) == "C0GENERAL" for c in slack.fake.calls("chat.postMessage"))
    public = [c.params for c in slack.fake.calls("chat.postMessage") if not str(c.params["channel"]).startswith("D")]
    assert all("merger" not in json.dumps(p, ensure_ascii=False) for p in public)
    assert all("merger" not in json.dumps(k.model_dump(mode="json")) for k in slack.store.find_kudos("default"))


def test_slack_another_workspace_can_neither_see_nor_touch_this_ones_requests(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> the merger model")
    slack.settle()
    before = _snapshot(slack.store)
    slack.fake.clear()
    form = slack.command_form("U0ALICE", "show R-1")
    form["team_id"] = "T0OTHER"  # the same user id, another Slack workspace
    answer = slack.post_form(form)
    assert answer.status == 200 and "serves another Slack workspace" in answer.json()["text"]
    click = slack.click_payload("U0BOB", button(slack.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    click["team"]["id"] = click["user"]["team_id"] = "T0OTHER"
    assert slack.post_payload(click).status == 200
    slack.settle()
    assert _snapshot(slack.store) == before and slack.fake.calls() == []
    assert slack.store.get_doc(HOME_DOC, "default", "slack") == {"org_id": "T0ACME"}


def test_the_gate_admits_the_configured_or_first_seen_organisation_only(org_store: Store) -> None:
    configured = WorkspaceGate(org_store, "default", platform="teams", allowed=org_ids("t-1, t-2"), orgless=True)
    assert configured.admits("t-1") and configured.admits("t-2") and not configured.admits("t-3")
    assert configured.admits(None), "an activity naming no tenant (Web Chat, the emulator) is ours"
    pinned = WorkspaceGate(org_store, "default", platform="slack", pin_first_seen=True)  # local development only
    assert pinned.admits("T1") and not pinned.admits("T2")
    again = WorkspaceGate(org_store, "default", platform="slack", pin_first_seen=True)  # after a restart
    assert again.admits("T1") and not again.admits("T2")


def test_the_gate_refuses_a_payload_naming_no_organisation_unless_told_otherwise(org_store: Store) -> None:
    for gate in (
        WorkspaceGate(org_store, "default", platform="slack", allowed=["T1"]),
        WorkspaceGate(org_store, "default", platform="slack", home=lambda: "T1"),
        WorkspaceGate(org_store, "default", platform="slack", pin_first_seen=True),
    ):
        assert not gate.admits(None) and not gate.admits("")
    assert org_store.get_doc(HOME_DOC, "default", "slack") is None


def test_the_gate_learns_its_home_once_from_its_own_credentials_not_from_the_first_caller(org_store: Store) -> None:
    asked: list[str] = []

    def auth_test() -> str:
        asked.append("auth.test")
        return "T0HOME"

    gate = WorkspaceGate(org_store, "default", platform="slack", home=auth_test)
    assert not gate.admits("T0STRANGER"), "a stranger knocking first is refused"
    assert gate.admits("T0HOME") and not gate.admits("T0STRANGER") and gate.admits("T0HOME")
    assert asked == ["auth.test"], "asked once, lazily, then cached"
    assert org_store.get_doc(HOME_DOC, "default", "slack") == {"org_id": "T0HOME"}


def test_a_stranger_pinned_by_an_older_version_is_replaced_by_the_learned_home(org_store: Store) -> None:
    WorkspaceGate(org_store, "default", platform="slack", pin_first_seen=True).admits("T0STRANGER")
    gate = WorkspaceGate(org_store, "default", platform="slack", home=lambda: "T0HOME")
    assert gate.admits("T0HOME") and not gate.admits("T0STRANGER")
    assert org_store.get_doc(HOME_DOC, "default", "slack") == {"org_id": "T0HOME"}


def test_when_the_home_cannot_be_learned_everyone_is_refused_and_it_is_asked_again_later(org_store: Store) -> None:
    now = [0.0]
    answers: list[str | None] = [None, None]

    def auth_test() -> str | None:
        if not answers:
            return "T0HOME"
        answer = answers.pop(0)
        if answer is None:
            raise ConnectionError("Slack is down")
        return answer

    gate = WorkspaceGate(
        org_store, "default", platform="slack", home=auth_test, retry_after=30, monotonic=lambda: now[0]
    )
    assert not gate.admits("T0HOME") and not gate.admits("T0HOME")
    assert len(answers) == 1, "a failure is remembered for a while, not retried per request"
    now[0] = 31
    assert not gate.admits("T0HOME")
    now[0] = 62
    assert gate.admits("T0HOME") and gate.known_home == "T0HOME"


def test_without_a_configured_or_learnable_home_every_organisation_is_refused(org_store: Store) -> None:
    gate = WorkspaceGate(org_store, "default", platform="teams", orgless=True)
    assert not gate.admits("tenant-1") and not gate.admits("tenant-2") and gate.admits(None)
    assert org_store.get_doc(HOME_DOC, "default", "teams") is None


def test_slack_a_click_naming_no_team_is_refused_and_links_nobody(slack: SlackHarness) -> None:
    slack.command("U0ALICE", "<@U0BOB|bob> the merger model")
    slack.settle()
    before = _snapshot(slack.store)
    slack.fake.clear()
    click = slack.click_payload("U0BOB", button(slack.card("U0BOB", "R-1"), ActionId.ACKNOWLEDGE))
    del click["team"]
    click["user"].pop("team_id", None)
    answer = slack.post_payload(click)
    assert 400 <= answer.status < 500
    slack.settle()
    assert _snapshot(slack.store) == before and slack.fake.calls() == []
    assert all("" not in p.slack_ids for p in slack.store.list_people("default"))


def test_slack_a_stranger_writing_first_does_not_lock_the_real_workspace_out(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seed_linked_org(store)
    with slack_app(store) as slack, caplog.at_level(logging.WARNING, logger="handlers.slack"):
        form = slack.command_form("U0ALICE", "list")
        form["team_id"] = "T0STRANGER"
        answer = slack.post_form(form)
        assert answer.status == 200 and "serves another Slack workspace" in answer.json()["text"]
        [refusal] = [r.getMessage() for r in caplog.records if "T0STRANGER" in r.getMessage()]
        assert "serves T0ACME" in refusal and "SLACK_TEAM_IDS" in refusal
        assert slack.command("U0ALICE", "<@U0BOB|bob> the merger model").status == 200
        slack.settle()
        assert store.get_request("default", 1) is not None
        assert [c.method for c in slack.fake.calls("auth.test")] == ["auth.test"]
    assert store.get_doc(HOME_DOC, "default", "slack") == {"org_id": "T0ACME"}


def test_slack_while_auth_test_fails_commands_are_refused_kindly_and_nothing_is_stored(store: Store) -> None:
    seed_linked_org(store)
    with slack_app(store) as slack:
        before = _snapshot(store)
        slack.fake.outage()
        answers = [slack.command("U0ALICE", "<@U0BOB|bob> the merger model") for _ in range(3)]
        assert all(a.status == 200 and "try again in a minute" in a.json()["text"] for a in answers)
        slack.fake.recover()
        slack.settle()
        assert _snapshot(store) == before
        assert len(slack.fake.calls("auth.test")) == 1, "the failure is remembered for a while, not retried per request"


def test_teams_show_answers_not_found_to_anyone_not_on_the_request(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob the merger model")
        await h.say(CAROL, "request show R-1")
        assert h.replies_to(CAROL)[-1] == "I can't find R-1."
        assert "merger" not in json.dumps([c.body for c in h.connector.of("reply", conversation_id=CAROL.chat)])
        await h.say(DAVE, "request show R-1")  # bob's manager
        assert "merger model" in json.dumps(h.connector.of("reply", conversation_id=DAVE.chat)[-1].body)

    run(with_harness(org_store, main))


def test_teams_answers_that_show_requests_go_to_the_1_to_1_chat_not_the_channel(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob the merger model")
        channel = load("message_channel_mention")
        channel_id = channel["conversation"]["id"]
        for command in ("request show R-1", "request list", "request queue"):
            payload = {**channel, "text": f"<at>servechain</at> {command}", "entities": channel["entities"][:1]}
            assert (await h.post(payload))[0] == 201
        in_channel = h.connector.of("reply", conversation_id=channel_id)
        assert [c.text for c in in_channel] == [IN_PRIVATE] * 3
        assert "merger" not in json.dumps([c.body for c in in_channel])
        await h.deliver()
        private = json.dumps([c.body for c in h.sent_to(ALICE)])
        assert "merger model" in private and "Your requests" in private

    run(with_harness(org_store, main))


def test_teams_another_tenant_is_told_and_nothing_is_done(org_store: Store) -> None:
    async def main(h: TeamsHarness) -> None:
        await h.say(ALICE, "request @bob the merger model")
        before = _snapshot(org_store)
        stranger = as_user(load("message_personal"), CAROL)
        stranger["conversation"]["tenantId"] = "tenant-elsewhere"
        stranger["channelData"]["tenant"]["id"] = "tenant-elsewhere"
        stranger["text"] = "request show R-1"
        assert (await h.post(stranger))[0] == 201
        assert h.replies_to(CAROL) == [FOREIGN_TENANT]
        click = as_user(load("invoke_adaptive_card_action"), BOB)
        click["conversation"]["tenantId"] = click["channelData"]["tenant"]["id"] = "tenant-elsewhere"
        click["value"]["action"]["data"] = {"action": "acknowledge", "request": 1}
        status, body = await h.post(click)
        assert status == 200 and body["value"] == FOREIGN_TENANT
        assert _snapshot(org_store) == before

    run(with_harness(org_store, main))


def test_the_gate_answers_without_io_only_what_it_knows_and_agrees_with_admits(org_store: Store) -> None:
    """``admits_now`` lets the HTTP route skip a thread hop; it must never answer differently."""
    asked: list[str] = []

    def auth_test() -> str:
        asked.append("auth.test")
        return "T0HOME"

    learned = WorkspaceGate(org_store, "default", platform="slack", home=auth_test)
    assert learned.admits_now("T0HOME") is None and asked == [], "not learned yet: it can't say without a call"
    pinned = WorkspaceGate(org_store, "default", platform="teams", pin_first_seen=True)
    assert pinned.admits_now("t-1") is None, "pinning reads the store"
    gates = [
        WorkspaceGate(org_store, "default", platform="teams", allowed=org_ids("t-1, t-2"), orgless=True),
        WorkspaceGate(org_store, "default", platform="slack", allowed=["T0HOME"]),
        WorkspaceGate(org_store, "default", platform="slack"),  # nothing set: everyone refused
        learned,
        pinned,
    ]
    for org in ("T0HOME", "t-1", "t-3", None, ""):
        for gate in gates:
            gate.admits(org or "t-1")  # learn or pin first
            now = gate.admits_now(org)
            assert now is not None and now == gate.admits(org), (gate.platform, gate.allowed, org)
    assert asked == ["auth.test"]
