"""Fuzzing ``POST /slack/events`` and ``POST /api/messages`` over real HTTP (hypothesis).

Malformed bodies, wrong content types, huge fields, unknown action ids, foreign teams and
replayed payloads, all correctly signed (Slack) so they get past the front door. For every
one: the answer is a 4xx, or an ack / a friendly message (never a 5xx, never "something went
wrong on my side", no error logged), the process stays up, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.models import ActionId
from bot.ports import Store
from handlers.server import RUNTIME_KEY, build_web_app
from tests.conftest import NOW
from tests.drills import seed_linked_org, slack_app
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.slack_api import ServerThread
from tests.slack.conftest import SIGNING_SECRET, SlackHarness
from tests.teams.conftest import ALICE, BOB, EVERYONE, TENANT, Clock, as_user, load, teams_settings

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
UNEXPECTED = ("Something went wrong on my side", "something went wrong on my side")


class ErrorLog(logging.Handler):
    """Every ERROR (or worse) logged while the fuzzing runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def snapshot(store: Store) -> str:
    """Everything stored, as one comparable string; the inbox's record that a payload was taken
    (and, once run, holds no payload) is bookkeeping, like the idempotency keys of a refusal."""
    records = (r for r in store.export_records() if r[0] != "inbox")
    return json.dumps(sorted(json.dumps(r, sort_keys=True, default=str) for r in records))


@dataclass
class Tally:
    """How the cases went, for the report at the end of the module."""

    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.cases += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


TALLY: dict[str, Tally] = {}


def _tally(name: str, status: int) -> None:
    TALLY.setdefault(name, Tally()).add(status)


# --------------------------------------------------------------------------- Slack


@pytest.fixture(scope="module")
def slack(tmp_path_factory: pytest.TempPathFactory, errors: ErrorLog) -> Iterator[SlackHarness]:
    from storage.tinydb_store import TinyDBStore

    store = TinyDBStore(Path(tmp_path_factory.mktemp("fuzz-slack")) / "store.json")
    seed_linked_org(store)
    with slack_app(store) as app:
        # one request exists, so fuzzed clicks and forms have something real to aim at
        assert app.command("U0ALICE", "<@U0BOB|bob> the Q3 numbers").status == 200
        app.settle()
        yield app
        with urllib.request.urlopen(f"{app.server.base}/healthz", timeout=5) as health:
            assert health.status == 200, "the process stayed up"
    store.close()
    assert not errors.records, [r.getMessage() for r in errors.records]


def _check_slack(app: SlackHarness, before: str, answer_status: int, name: str, errors: ErrorLog) -> None:
    _tally(name, answer_status)
    assert answer_status < 500, f"{name}: server error {answer_status}"
    assert app.slack.work.wait_idle(10)
    app.worker.run_once()
    assert snapshot(app.store) == before, f"{name}: something was stored"
    said = [str(c.params.get("text")) for c in app.fake.calls("response_url")] + [
        str(c.params.get("text")) for c in app.fake.calls("chat.postMessage")
    ]
    assert not [t for t in said if any(u in t for u in UNEXPECTED)], said
    assert not errors.records, [r.getMessage() for r in errors.records]
    app.fake.clear()


CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
        "application/x-www-form-urlencoded; charset=latin-1",
        "application/json; charset=utf-8",
    ]
)


@FUZZ
@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES)
def test_slack_any_bytes_with_any_content_type(
    slack: SlackHarness, errors: ErrorLog, body: bytes, content_type: str
) -> None:
    before = snapshot(slack.store)
    answer = _post_bytes(slack.url, body, content_type)
    _check_slack(slack, before, answer, "slack: raw bytes", errors)


def _post_bytes(url: str, body: bytes, content_type: str) -> int:
    ts = int(time.time())
    # signed over the raw bytes: slack_sdk's generator decodes the body as UTF-8, and these bodies need not be
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
KINDS = st.sampled_from(
    ["block_actions", "view_submission", "message_action", "shortcut", "event_callback", "url_verification", "x"]
)


@FUZZ
@given(
    kind=KINDS,
    extra=st.dictionaries(
        st.sampled_from(
            ["user", "team", "actions", "view", "trigger_id", "event", "team_id", "message", "callback_id", "challenge"]
        ),
        JSON,
        max_size=6,
    ),
    as_form=st.booleans(),
)
def test_slack_payloads_of_every_type_with_garbage_fields(
    slack: SlackHarness, errors: ErrorLog, kind: str, extra: dict[str, Any], as_form: bool
) -> None:
    before = snapshot(slack.store)
    payload = {"type": kind, **extra}
    answer = slack.post_payload(payload) if as_form else slack.post(json.dumps(payload), "application/json")
    _check_slack(slack, before, answer.status, "slack: garbage payloads", errors)


# Text that can't name anyone real (no @, no <): so no request can be created by accident.
PLAIN = st.text(st.characters(blacklist_characters="@<>", blacklist_categories=("Cs",)), max_size=200)


@FUZZ
@given(
    command=st.sampled_from(["/request"] * 6 + ["/kudos"] * 3 + ["/unknown", "", "request", "/two words"]),
    text=PLAIN | st.sampled_from(["list", "queue", "show R-1", "show R-999", "help", "stats", "chain R-1", ""]),
    huge=st.sampled_from([0, 0, 0, 5_000, 40_000]),
    user=st.sampled_from(["U0ERIN", "U0ALICE", "U0ALICE", "U0ALICE", "UNOBODY", ""]),
    team=st.sampled_from(["T0ACME"] * 6 + ["T0OTHER", ""]),
    mention=st.sampled_from(["", "<@U0GHOST|ghost> ", "<@UNOBODY> ", "@nobody "]),
)
def test_slack_slash_commands_with_odd_fields(
    slack: SlackHarness,
    errors: ErrorLog,
    command: str,
    text: str,
    huge: int,
    user: str,
    team: str,
    mention: str,
) -> None:
    before = snapshot(slack.store)
    form = slack.command_form(user or "U0ERIN", mention + text + "x" * huge, command="/request")
    form.update(command=command, user_id=user, team_id=team)
    answer = slack.post_form(form)
    _check_slack(slack, before, answer.status, "slack: slash commands", errors)


CLICKABLE = [a.value for a in ActionId if a.value not in ("mute", "unmute")]
"""Muting one's own nudges is a personal setting any click may change, so it is left out."""


@FUZZ
@given(
    action_id=st.sampled_from(CLICKABLE) | st.text(max_size=30),
    value=st.sampled_from(['{"n":1,"w":"default"}', '{"n":1,"w":"other"}', '{"n":-3}', '{"n":99999}', "", "null"])
    | st.text(max_size=60),
    user=st.sampled_from(["U0ERIN", "UNOBODY"]),
    team=st.sampled_from(["T0ACME", "T0OTHER"]),
)
def test_slack_clicks_on_unknown_actions_or_other_peoples_requests(
    slack: SlackHarness, errors: ErrorLog, action_id: str, value: str, user: str, team: str
) -> None:
    before = snapshot(slack.store)
    payload = slack.click_payload(
        user, {"action_id": action_id, "text": {"type": "plain_text", "text": "x"}, "value": value}
    )
    payload["team"]["id"] = team
    payload["user"]["team_id"] = team
    answer = slack.post_payload(payload)
    _check_slack(slack, before, answer.status, "slack: clicks", errors)


@FUZZ
@given(
    callback=st.sampled_from(["new_request", "action_form", "unknown_view"]),
    metadata=st.sampled_from(['{"n":1,"a":"acknowledge","w":"default"}', "{}", "not json", '{"n":1,"a":"fly"}'])
    | st.text(max_size=50),
    note=PLAIN | st.just("y" * 5000),
)
def test_slack_form_submissions_with_odd_metadata(
    slack: SlackHarness, errors: ErrorLog, callback: str, metadata: str, note: str
) -> None:
    before = snapshot(slack.store)
    view = {"callback_id": callback, "private_metadata": metadata, "blocks": []}
    payload = slack.submission(
        "U0ERIN",
        view,
        {"note": {"type": "plain_text_input", "value": note}, "text": {"type": "plain_text_input", "value": note}},
        view_id=f"VFUZZ{abs(hash((callback, metadata, note)))}",
    )
    answer = slack.post_payload(payload)
    _check_slack(slack, before, answer.status, "slack: form submissions", errors)


def test_slack_bodies_over_a_megabyte_are_refused(slack: SlackHarness, errors: ErrorLog) -> None:
    before = snapshot(slack.store)
    form = slack.command_form("U0ALICE", "<@U0BOB|bob> " + "z" * (1024 * 1024 + 10))
    answer = slack.post_form(form)
    assert answer.status == 413
    _check_slack(slack, before, answer.status, "slack: huge bodies", errors)


def test_slack_replayed_requests_change_nothing_the_second_time(slack: SlackHarness, errors: ErrorLog) -> None:
    form = slack.command_form("U0ALICE", "<@U0BOB|bob> the Q4 numbers")
    body, ts = urlencode(form), int(time.time())
    first = slack.post(body, "application/x-www-form-urlencoded", timestamp=ts)
    assert first.status == 200
    slack.settle()
    assert len(slack.store.find_requests("default")) == 2
    for _replay in range(3):
        before = snapshot(slack.store)
        again = slack.post(body, "application/x-www-form-urlencoded", timestamp=ts)
        _check_slack(slack, before, again.status, "slack: replays", errors)
    stale = slack.post(body, "application/x-www-form-urlencoded", timestamp=ts - 3600)
    assert stale.status == 401  # a replay older than Slack's 5 minutes is refused outright
    _tally("slack: replays", stale.status)


def test_slack_a_foreign_team_is_told_and_nothing_is_done(slack: SlackHarness, errors: ErrorLog) -> None:
    before = snapshot(slack.store)
    form = slack.command_form("U0ALICE", "show R-1")
    form["team_id"] = "T0OTHER"
    answer = slack.post_form(form)
    assert answer.status == 200 and "serves another Slack workspace" in answer.json()["text"]
    _check_slack(slack, before, answer.status, "slack: foreign team", errors)
    assert not slack.fake.calls()


def _nested(levels: int, kind: str = "list") -> str:
    """JSON nested ``levels`` deep (arrays or objects), built as text: Python can't dump it."""
    if kind == "list":
        return "[" * levels + "]" * levels
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [200, 50_000])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_slack_deeply_nested_json_is_refused(slack: SlackHarness, errors: ErrorLog, levels: int, kind: str) -> None:
    before = snapshot(slack.store)
    click = slack.click_payload("U0ERIN", {"action_id": "x", "text": {"type": "plain_text", "text": "x"}})
    as_payload = json.dumps(click)[:-1] + f', "deep": {_nested(levels, kind)}}}'
    event = '{"type": "event_callback", "team_id": "T0ACME", "event": {"type": "x", "deep": ' + _nested(levels, kind)
    for answer in (
        slack.post(urlencode({"payload": as_payload}), "application/x-www-form-urlencoded"),
        slack.post(event + "}}", "application/json"),
    ):
        assert answer.status == 400, answer.body
        _check_slack(slack, before, answer.status, "slack: deeply nested JSON", errors)


@pytest.mark.parametrize("drop", ["type", "callback_id", "id"])
def test_slack_a_form_submission_without_its_view_fields_is_refused(
    slack: SlackHarness, errors: ErrorLog, drop: str
) -> None:
    before = snapshot(slack.store)
    payload = slack.submission("U0ERIN", {"callback_id": "new_request", "blocks": []}, {})
    del payload["view"][drop]
    answer = slack.post_payload(payload)
    assert answer.status == 400
    _check_slack(slack, before, answer.status, "slack: views missing fields", errors)


# --------------------------------------------------------------------------- Teams


@dataclass
class TeamsApp:
    """The app serving Teams on a thread of its own, and a fake Bot Connector in that loop."""

    store: Store
    server: ServerThread
    connector: FakeBotConnector

    @property
    def url(self) -> str:
        return f"{self.server.base}/api/messages"

    def post(self, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
        headers = {"Content-Type": content_type} if content_type else {}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode("utf-8", "replace")

    def activity(self, payload: dict[str, Any]) -> tuple[int, str]:
        payload = {**payload, "locale": "en-US", "serviceUrl": self.connector.url}  # one locale: no contact changes
        return self.post(json.dumps(payload).encode())

    def said(self) -> list[str]:
        return [c.text or "" for c in self.connector.calls]


@pytest.fixture(scope="module")
def teams(tmp_path_factory: pytest.TempPathFactory, errors: ErrorLog) -> Iterator[TeamsApp]:
    from storage.tinydb_store import TinyDBStore

    store = TinyDBStore(Path(tmp_path_factory.mktemp("fuzz-teams")) / "store.json")
    seed_linked_org(store)
    app = build_web_app(teams_settings(), store, clock=Clock(NOW), deliver=False)
    server = ServerThread(app).start()
    connector = FakeBotConnector()
    asyncio.run_coroutine_threadsafe(connector.start(), server.loop).result(timeout=10)
    for account in EVERYONE:
        connector.add_member(
            account.user_id, name=account.name, aad_object_id=account.aad, email=account.email, tenant_id=TENANT
        )
    running = TeamsApp(store, server, connector)
    for account in (ALICE, BOB):  # first contact stores who they are: done before the fuzzing
        assert running.activity({**as_user(load("message_personal"), account), "text": "hi"})[0] == 201
    assert (
        running.activity({**as_user(load("message_personal"), ALICE), "text": "request @bob the Q3 numbers"})[0] == 201
    )
    for fixture_name in ("message_card_submit", "invoke_adaptive_card_action"):  # each shape's contact details
        running.activity({**as_user(load(fixture_name), ALICE), "value": {}, "text": ""})
    assert app[RUNTIME_KEY] is not None
    yield running
    with urllib.request.urlopen(f"{server.base}/healthz", timeout=5) as health:
        assert health.status == 200, "the process stayed up"
    asyncio.run_coroutine_threadsafe(connector.close(), server.loop).result(timeout=10)
    server.stop()
    store.close()
    assert not errors.records, [r.getMessage() for r in errors.records]


def _check_teams(app: TeamsApp, before: str, status: int, name: str, errors: ErrorLog, seen: int) -> None:
    _tally(name, status)
    assert status < 500, f"{name}: server error {status}"
    after = snapshot(app.store)
    if after != before:
        # The one thing allowed: an answer Teams refused (e.g. to a made-up conversation id) is
        # queued for the sender's 1:1 chat instead of being lost.
        added = set(json.loads(after)) - set(json.loads(before))
        refused = [c for c in app.connector.calls[seen:] if c.status >= 300 and c.kind == "reply"]
        queued = [r for r in added if '"outbox"' in r and ":reply:" in r]
        assert refused and len(queued) == len(added), f"{name}: something was stored"
        _tally(f"{name} (answer queued after Teams refused it)", status)
    new = app.said()[seen:]
    assert not [t for t in new if any(u in t for u in UNEXPECTED)], new
    assert not errors.records, [r.getMessage() for r in errors.records]


@FUZZ
@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES)
def test_teams_any_bytes_with_any_content_type(
    teams: TeamsApp, errors: ErrorLog, body: bytes, content_type: str
) -> None:
    before, seen = snapshot(teams.store), len(teams.connector.calls)
    status, _ = teams.post(body, content_type)
    _check_teams(teams, before, status, "teams: raw bytes", errors, seen)


@FUZZ
@given(
    kind=st.sampled_from(["message", "invoke", "conversationUpdate", "installationUpdate", "event", "typing", "x", ""]),
    extra=st.dictionaries(
        st.sampled_from(
            ["text", "value", "name", "entities", "channelData", "conversation", "from", "recipient", "id"]
        ),
        JSON,
        max_size=5,
    ),
)
def test_teams_activities_with_garbage_fields(
    teams: TeamsApp, errors: ErrorLog, kind: str, extra: dict[str, Any]
) -> None:
    before, seen = snapshot(teams.store), len(teams.connector.calls)
    payload = {**as_user(load("message_personal"), ALICE), "type": kind, **extra}
    status, _ = teams.activity(payload)
    _check_teams(teams, before, status, "teams: garbage activities", errors, seen)


@FUZZ
@given(
    text=PLAIN
    | st.sampled_from(["request list", "request queue", "request show R-1", "request show R-77", "digest", "kudos"]),
    huge=st.sampled_from([0, 0, 0, 5_000, 40_000]),
    tenant=st.sampled_from([TENANT, TENANT, "tenant-someone-else"]),
)
def test_teams_typed_commands_with_odd_text(
    teams: TeamsApp, errors: ErrorLog, text: str, huge: int, tenant: str
) -> None:
    before, seen = snapshot(teams.store), len(teams.connector.calls)
    payload = as_user(load("message_personal"), ALICE)
    payload["text"] = text + "y" * huge
    payload["conversation"]["tenantId"] = tenant
    payload["channelData"]["tenant"]["id"] = tenant
    payload["id"] = f"fuzz-{time.monotonic_ns()}"
    status, _ = teams.activity(payload)
    _check_teams(teams, before, status, "teams: typed commands", errors, seen)


@FUZZ
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "action": st.sampled_from(CLICKABLE) | st.text(max_size=20) | st.integers(),
            "request": st.integers(-5, 10**12) | st.text(max_size=10) | st.none(),
            "value": JSON,
            "decline.note": PLAIN,
            "rate.score": st.text(max_size=5),
            "rate.comment": st.just("c" * 4000),
            "handoff.to": PLAIN,
        },
    )
    | JSON,
    as_execute=st.booleans(),
)
def test_teams_card_clicks_with_unknown_actions_and_odd_data(
    teams: TeamsApp, errors: ErrorLog, data: Any, as_execute: bool
) -> None:
    before, seen = snapshot(teams.store), len(teams.connector.calls)
    if as_execute:
        payload = as_user(load("invoke_adaptive_card_action"), ALICE)  # R-1's requester, not its provider
        payload["value"] = {"action": {"type": "Action.Execute", "verb": "x", "data": data}}
    else:
        payload = as_user(load("message_card_submit"), ALICE)
        payload["value"] = data
        payload["text"] = ""
    payload["id"] = f"fuzz-{time.monotonic_ns()}"
    status, body = teams.activity(payload)
    if as_execute:
        assert not any(u in body for u in UNEXPECTED), body
    _check_teams(teams, before, status, "teams: card clicks", errors, seen)


@pytest.mark.parametrize("levels", [200, 50_000])
@pytest.mark.parametrize("field_name", ["value", "channelData", "entities"])
def test_teams_deeply_nested_activities_are_refused(
    teams: TeamsApp, errors: ErrorLog, levels: int, field_name: str
) -> None:
    before, seen = snapshot(teams.store), len(teams.connector.calls)
    payload = {**as_user(load("message_personal"), ALICE), "locale": "en-US", "serviceUrl": teams.connector.url}
    payload.pop(field_name, None)
    text = json.dumps(payload)[:-1] + f', "{field_name}": [{_nested(levels)}]}}'
    status, _ = teams.post(text.encode())
    assert status == 400
    _check_teams(teams, before, status, "teams: deeply nested JSON", errors, seen)


def test_teams_replayed_activities_change_nothing_the_second_time(teams: TeamsApp, errors: ErrorLog) -> None:
    payload = {**as_user(load("message_personal"), ALICE), "text": "request @bob the Q4 numbers", "id": "replay-1"}
    assert teams.activity(payload)[0] == 201
    assert len(teams.store.find_requests("default")) == 2
    for _replay in range(3):
        before, seen = snapshot(teams.store), len(teams.connector.calls)
        status, _ = teams.activity(payload)
        _check_teams(teams, before, status, "teams: replays", errors, seen)


def test_zz_report_the_fuzzing(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: one line per family of cases, for the record."""
    with capsys.disabled():
        total = sum(t.cases for t in TALLY.values())
        print(f"\nfuzz cases: {total}")
        for name, tally in sorted(TALLY.items()):
            print(f"  {name}: {tally.cases} cases, statuses {dict(sorted(tally.statuses.items()))}")
    assert total > 0
