"""``servechain org sync slack|graph``: the org from loopback fakes of Slack's ``users.list`` and
Microsoft Graph's ``/users``, merged with an optional org file, into a real TinyDB store.

Every failure (a broken token, a page failing midway, a rate limit longer than we wait, a
manager loop, an org file row with an unknown manager) leaves the store exactly as it was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr, ValidationError

from bot.jobs import JobContext, default_registry
from bot.models import Person
from bot.orgsync import DirectoryError, DirectoryUser, OrgSyncError, OrgSyncJob, plan_sync, sync_org
from bot.people import Directory
from bot.ports import Store
from bot.requests import create_request
from bot.settings import Settings
from bot.workhours import DEFAULT_HOURS
from handlers import cli
from handlers.directory import GraphDirectory, SlackDirectory
from storage import open_store
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.slack_api import FakeSlackApi

WS = "default"
TEAM = "T0ACME"


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("SERVECHAIN_", "SLACK_", "GRAPH_", "ORG_SYNC", "DIRECTORY_")):
            monkeypatch.delenv(name)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    yield


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi(team_id=TEAM) as api:
        api.add_user("U01ANN", "Ann Lee", email="ann@acme.example", tz="America/New_York")
        api.add_user("U02BOB", "Bob Stone", email="bob@acme.example", tz="Asia/Tokyo")
        api.add_user("U03CAT", "Cat Reyes", email="cat@acme.example", tz="Europe/London")
        api.add_user("U04DAN", "Dan Old", email="dan@acme.example", deleted=True)
        api.add_user("U05BOT", "Deploy Bot", is_bot=True)
        yield api


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as api:
        api.add_user("g1", "Gia Boss", mail="gia@contoso.example", department="Ops", usage_location="US")
        api.add_user("g2", "Hal Doe", mail="hal@contoso.example", department="Ops", usage_location="JP", manager="g1")
        api.add_user("g3", "Ivy Lin", mail="ivy@contoso.example", department="Finance", manager="g1")
        api.add_user("g4", "Jon Gone", mail="jon@contoso.example", department="Finance", manager="g3", enabled=False)
        yield api


def _slack_env(monkeypatch: pytest.MonkeyPatch, api: FakeSlackApi, db: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_API_URL", api.url)
    monkeypatch.setenv("SERVECHAIN_DB", str(db))


def _graph_env(monkeypatch: pytest.MonkeyPatch, api: FakeGraphApi, db: Path, secret: str = "s3cret") -> None:
    monkeypatch.setenv("GRAPH_TENANT_ID", api.tenant)
    monkeypatch.setenv("GRAPH_CLIENT_ID", api.client_id)
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", secret)
    monkeypatch.setenv("GRAPH_API_URL", api.api_url)
    monkeypatch.setenv("GRAPH_LOGIN_URL", api.login_url)
    monkeypatch.setenv("SERVECHAIN_DB", str(db))


def _people(db: Path) -> dict[str, Person]:
    store = open_store(str(db))
    try:
        return {p.handle: p for p in store.list_people(WS)}
    finally:
        store.close()


def _snapshot(db: Path) -> list[tuple[str, dict[str, Any]]]:
    store = open_store(str(db))
    try:
        return sorted(((kind, doc) for kind, doc in store.export_records()), key=repr)
    finally:
        store.close()


def _seed(db: Path) -> None:
    """A store with one person already in it (from an earlier org import)."""
    store = open_store(str(db))
    try:
        store.save_org([Person(id="P-old", handle="zed", name="Zed Before", email="zed@acme.example")])
    finally:
        store.close()


# --------------------------------------------------------------------------- Slack


def test_slack_sync_reads_every_page_and_a_second_run_changes_nothing(
    slack: FakeSlackApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    directory = SlackDirectory(token="xoxb-test", base_url=slack.url, page_size=2)
    store = open_store(str(db))
    try:
        report = sync_org(store=store, workspace=WS, directory=directory)
        pages = slack.calls("users.list")
        assert len(pages) == 3 and not pages[0].params.get("cursor")
        assert all(c.params.get("cursor") for c in pages[1:])
        assert all(c.token == "xoxb-test" and str(c.params.get("limit")) == "2" for c in pages)
        people = {p.handle: p for p in store.list_people(WS)}
        assert set(people) == {"ann.lee", "bob.stone", "cat.reyes", "dan.old"}  # no bot
        ann = people["ann.lee"]
        assert (ann.name, ann.email, ann.tz, ann.slack_ids) == (
            "Ann Lee",
            "ann@acme.example",
            "America/New_York",
            {TEAM: "U01ANN"},
        )
        assert ann.active and not people["dan.old"].active  # deactivated in Slack
        assert len(report.created) == 4 and report.changed
        before = sorted(p.model_dump_json() for p in store.list_people(WS))
        again = sync_org(store=store, workspace=WS, directory=directory)
        assert not again.changed and again.lines() == []
        assert sorted(p.model_dump_json() for p in store.list_people(WS)) == before
    finally:
        store.close()


def test_slack_sync_with_an_org_file_adds_teams_managers_and_countries(
    slack: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    org = tmp_path / "org.csv"
    org.write_text(
        "handle,name,email,team,manager,country,region\n"
        "ann,Ann Lee,ann@acme.example,Support,,US,NY\n"
        "bob,Bob Stone,bob@acme.example,Support,ann,JP,\n"
    )
    _slack_env(monkeypatch, slack, db)
    assert cli.main(["org", "sync", "slack", "--org", str(org)]) == 0
    out = capsys.readouterr().out
    assert "+ ann: Ann Lee <ann@acme.example>, Support" in out and "+ team Support" in out
    people = _people(db)
    ann, bob = people["ann"], people["bob"]  # the org file's handles for new people
    assert bob.manager_id == ann.id and ann.team_id == bob.team_id is not None
    assert (ann.country, ann.region, bob.country) == ("US", "NY", "JP")
    assert bob.tz == "Asia/Tokyo" and bob.slack_ids == {TEAM: "U02BOB"}
    snapshot = _snapshot(db)
    assert cli.main(["org", "sync", "slack", "--org", str(org)]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert _snapshot(db) == snapshot


def test_someone_who_left_is_marked_inactive_and_keeps_their_history(slack: FakeSlackApi, tmp_path: Path) -> None:
    db = tmp_path / "org.json"
    directory = SlackDirectory(token="xoxb-test", base_url=slack.url)
    store = open_store(str(db))
    try:
        sync_org(store=store, workspace=WS, directory=directory)
        people = {p.handle: p for p in store.list_people(WS)}
        now = datetime(2026, 11, 30, 10, tzinfo=UTC)
        request = create_request(
            store=store,
            directory=Directory(store, WS),
            requester=people["ann.lee"],
            provider=people["cat.reyes"],
            text="the numbers",
            now=now,
        ).request
        del slack.users["U03CAT"]  # Cat's account is gone from the directory
        report = sync_org(store=store, workspace=WS, directory=directory)
        assert report.deactivated == ["- cat.reyes: left; marked inactive (their history stays)"]
        cat = store.find_person(WS, handle="cat.reyes")
        assert cat is not None and not cat.active and cat.id == people["cat.reyes"].id
        kept = store.get_request(WS, request.number)
        assert kept is not None and kept.provider_id == cat.id
        assert not sync_org(store=store, workspace=WS, directory=directory).changed
    finally:
        store.close()


def test_a_person_imported_before_is_matched_by_email_and_keeps_their_id(slack: FakeSlackApi, tmp_path: Path) -> None:
    db = tmp_path / "org.json"
    store = open_store(str(db))
    try:
        store.save_org([Person(id="P-ann", handle="ann", name="Ann", email="ANN@acme.example", country="US")])
        sync_org(store=store, workspace=WS, directory=SlackDirectory(token="xoxb-test", base_url=slack.url))
        ann = store.get_person(WS, "P-ann")
        assert ann is not None and ann.handle == "ann" and ann.slack_ids == {TEAM: "U01ANN"}
        assert ann.name == "Ann Lee" and ann.country == "US"  # Slack has no country: the stored one stays
    finally:
        store.close()


def test_dry_run_prints_the_changes_and_changes_nothing(
    slack: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    _slack_env(monkeypatch, slack, db)
    assert cli.main(["org", "sync", "slack", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "+ ann.lee: Ann Lee <ann@acme.example>" in out
    assert "+ dan.old: Dan Old <dan@acme.example> (inactive)" in out
    assert out[-1] == (
        "Slack: 5 users read; would change: 4 new, 0 updated, 0 marked inactive, 0 teams. "
        "(dry run: nothing was changed)"
    )
    assert _snapshot(db) == before


def test_a_broken_slack_token_gets_a_clear_message_and_changes_nothing(
    slack: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    slack.fail("users.list", "invalid_auth")
    _slack_env(monkeypatch, slack, db)
    assert cli.main(["org", "sync", "slack"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "servechain: Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN. Nothing was changed."
    )
    assert _snapshot(db) == before


def test_a_missing_email_scope_is_named(slack: FakeSlackApi) -> None:
    slack.fail("users.list", "missing_scope")
    with pytest.raises(DirectoryError, match=r"lacks the scope users:read; add users:read and users:read\.email"):
        SlackDirectory(token="xoxb-test", base_url=slack.url).fetch_users()


def test_a_page_failing_midway_leaves_the_store_as_it_was(
    slack: FakeSlackApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    slack.fail("users.list", "internal_error", status=500, after=1)
    store = open_store(str(db))
    try:
        directory = SlackDirectory(token="xoxb-test", base_url=slack.url, page_size=2)
        with pytest.raises(DirectoryError) as caught:
            sync_org(store=store, workspace=WS, directory=directory)
    finally:
        store.close()
    assert (
        caught.value.message
        == "Slack users.list failed on page 2 (internal_error). Nothing was changed; try again later."
    )
    assert len(slack.calls("users.list")) == 2
    assert _snapshot(db) == before


def test_a_429_is_retried_after_the_time_slack_asks_for(slack: FakeSlackApi, tmp_path: Path) -> None:
    slept: list[float] = []
    slack.fail("users.list", "ratelimited", status=429, retry_after=7, after=1)
    directory = SlackDirectory(token="xoxb-test", base_url=slack.url, page_size=2, sleep=slept.append)
    users = directory.fetch_users()
    assert len(users) == 5 and slept == [7.0]
    cursors = [c.params.get("cursor") for c in slack.calls("users.list")]
    assert cursors[1] == cursors[2]  # the rate-limited page is asked for again, not skipped


def test_a_retry_after_longer_than_the_limit_gives_up_with_a_message(
    slack: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    slack.fail("users.list", "ratelimited", status=429, retry_after=600)
    _slack_env(monkeypatch, slack, db)
    monkeypatch.setenv("DIRECTORY_MAX_WAIT_SECONDS", "30")
    assert cli.main(["org", "sync", "slack"]) == 1
    assert capsys.readouterr().err.strip() == (
        "servechain: Slack is rate limiting users.list (page 1) and asked to wait 600 s, longer than the 30 s "
        "servechain waits. Nothing was changed; try again later."
    )
    assert len(slack.calls("users.list")) == 1 and _snapshot(db) == before


def test_an_org_file_row_with_an_unknown_manager_stops_before_reading_the_directory(
    slack: FakeSlackApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    org = tmp_path / "org.csv"
    org.write_text("handle,name,manager\nann,Ann Lee,\nbob,Bob Stone,ghost\n")
    _slack_env(monkeypatch, slack, db)
    assert cli.main(["org", "sync", "slack", "--org", str(org)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{org}:3: field 'manager': unknown handle 'ghost'",
        "Nothing was changed.",
    ]
    assert slack.calls("users.list") == [] and _snapshot(db) == before


def test_sync_without_a_token_says_which_setting_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVECHAIN_DB", str(tmp_path / "org.json"))
    assert cli.main(["org", "sync", "graph"]) == 2
    assert capsys.readouterr().err.strip() == (
        "servechain: GRAPH_TENANT_ID, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET are not set; org sync graph needs an app "
        "registration with the User.Read.All application permission."
    )


# --------------------------------------------------------------------------- Microsoft Graph


def test_graph_sync_brings_departments_managers_countries_and_leavers(
    graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _graph_env(monkeypatch, graph, db)
    assert cli.main(["org", "sync", "graph"]) == 0
    assert "Microsoft Graph: 4 users read; changed: 4 new" in capsys.readouterr().out
    (token,) = graph.calls("token")
    assert token.path == f"/login/{graph.tenant}/oauth2/v2.0/token"
    assert token.form == {
        "client_id": "app-id",
        "client_secret": "s3cret",
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    (users_call,) = graph.calls("users")
    assert users_call.authorization == "Bearer fake-graph-token"
    assert users_call.query["$expand"] == "manager($select=id)"
    assert {"id", "department", "usageLocation", "accountEnabled"} <= set(users_call.query["$select"].split(","))
    people = _people(db)
    gia, hal, ivy, jon = people["gia"], people["hal"], people["ivy"], people["jon"]
    assert (hal.manager_id, ivy.manager_id, jon.manager_id) == (gia.id, gia.id, ivy.id)
    assert gia.teams_id == "g1" and hal.country == "JP" and gia.country == "US" and ivy.country is None
    assert gia.team_id == hal.team_id != ivy.team_id
    assert not jon.active  # accountEnabled: false
    snapshot = _snapshot(db)
    assert cli.main(["org", "sync", "graph"]) == 0
    assert "nothing to change" in capsys.readouterr().out and _snapshot(db) == snapshot
    # Hal moves to Finance under Ivy; Gia leaves the tenant.
    graph.users["g2"].department, graph.users["g2"].manager = "Finance", "g3"
    graph.users["g3"].manager = None
    del graph.users["g1"]
    assert cli.main(["org", "sync", "graph"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "- gia: left; marked inactive (their history stays)" in out
    assert "~ hal: team Ops -> Finance, manager gia -> ivy" in out


def test_graph_follows_next_links_and_waits_out_a_429_on_page_two(graph: FakeGraphApi) -> None:
    slept: list[float] = []
    graph.fail("users", 429, "TooManyRequests", retry_after=3, after=1)
    directory = GraphDirectory(
        tenant_id=graph.tenant,
        client_id=graph.client_id,
        client_secret=graph.secret,
        api_url=graph.api_url,
        login_url=graph.login_url,
        page_size=2,
        sleep=slept.append,
    )
    users = directory.fetch_users()
    assert [u.key for u in users] == ["g1", "g2", "g3", "g4"] and slept == [3.0]
    calls = graph.calls("users")
    assert [c.status for c in calls] == [200, 429, 200]
    assert "$skiptoken" not in calls[0].query and calls[1].query == calls[2].query
    assert calls[2].query["$skiptoken"] == "2"


def test_a_wrong_client_secret_is_refused_before_any_user_is_read(
    graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    _graph_env(monkeypatch, graph, db, secret="wrong")
    assert cli.main(["org", "sync", "graph"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "servechain: Microsoft Entra refused the app credentials (invalid_client: AADSTS7000215: Invalid client "
        "secret provided.): check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET. Nothing was changed."
    )
    assert "wrong" not in err and graph.calls("users") == [] and _snapshot(db) == before


def test_a_graph_page_failing_midway_changes_nothing(graph: FakeGraphApi, tmp_path: Path) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    graph.fail("users", 500, "generalException", after=1)
    directory = GraphDirectory(
        tenant_id=graph.tenant,
        client_id=graph.client_id,
        client_secret=graph.secret,
        api_url=graph.api_url,
        login_url=graph.login_url,
        page_size=2,
    )
    store = open_store(str(db))
    try:
        with pytest.raises(DirectoryError, match=r"refused /users on page 2 \(generalException\)"):
            sync_org(store=store, workspace=WS, directory=directory)
    finally:
        store.close()
    assert _snapshot(db) == before


def test_a_manager_loop_in_the_directory_is_refused_with_the_names(
    graph: FakeGraphApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "org.json"
    _seed(db)
    before = _snapshot(db)
    graph.users["g1"].manager = "g3"  # Gia -> Ivy -> Gia
    _graph_env(monkeypatch, graph, db)
    assert cli.main(["org", "sync", "graph"]) == 1
    assert capsys.readouterr().err.strip() == (
        "servechain: Microsoft Graph: the managers form a loop, so nothing was changed: Gia Boss (gia) -> "
        "Ivy Lin (ivy) -> Gia Boss (gia). Fix the manager of one of them in the directory or the org file."
    )
    assert _snapshot(db) == before


def test_plan_refuses_a_loop_of_three_and_names_everyone_in_it() -> None:
    users = [
        DirectoryUser(key="a", name="Ana", manager_key="c"),
        DirectoryUser(key="b", name="Ben", manager_key="a"),
        DirectoryUser(key="c", name="Cy", manager_key="b"),
    ]
    with pytest.raises(OrgSyncError, match=r"Ana \(ana\) -> Cy \(cy\) -> Ben \(ben\) -> Ana \(ana\)"):
        plan_sync(kind="graph", label="Graph", users=users, existing_people=[], existing_teams=[], workspace=WS)


# --------------------------------------------------------------------------- daily job


class _FakeDirectory:
    kind: Literal["graph"] = "graph"
    label = "Fake directory"

    def __init__(self, users: list[DirectoryUser]) -> None:
        self.users = users
        self.reads = 0
        self.error: DirectoryError | None = None

    def fetch_users(self) -> list[DirectoryUser]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return list(self.users)


def test_the_daily_job_syncs_once_a_day_from_its_hour_and_retries_after_a_failure(store: Store) -> None:
    directory = _FakeDirectory([DirectoryUser(key="k1", name="Kim Park", email="kim@x.example")])
    (job,) = default_registry().build(
        JobContext(directory=directory, org_sync_hour=6, hours=DEFAULT_HOURS), only=["org-sync"]
    )
    assert isinstance(job, OrgSyncJob)
    day = datetime(2026, 11, 30, tzinfo=UTC)
    job.run(store=store, workspace=WS, now=day.replace(hour=5, minute=59))
    assert directory.reads == 0  # before its hour
    directory.error = DirectoryError("the directory is down")
    job.run(store=store, workspace=WS, now=day.replace(hour=6))
    assert directory.reads == 1 and store.find_person(WS, email="kim@x.example") is None
    directory.error = None
    job.run(store=store, workspace=WS, now=day.replace(hour=6, minute=30))
    assert directory.reads == 1  # waits an hour after a failure
    job.run(store=store, workspace=WS, now=day.replace(hour=7, minute=1))
    assert directory.reads == 2 and store.find_person(WS, email="kim@x.example") is not None
    job.run(store=store, workspace=WS, now=day.replace(hour=20))
    assert directory.reads == 2  # once a day
    job.run(store=store, workspace=WS, now=datetime(2026, 12, 1, 6, tzinfo=UTC))
    assert directory.reads == 3


def test_the_daily_job_is_idle_without_a_directory(store: Store) -> None:
    names = default_registry().names
    assert "org-sync" in names
    (job,) = default_registry().build(JobContext(hours=DEFAULT_HOURS), only=["org-sync"])
    report = job.run(store=store, workspace=WS, now=datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert report.sent == [] and store.get_doc("org_sync", WS, "last") is None


def test_the_runtime_runs_the_daily_sync_from_the_configured_directory(slack: FakeSlackApi, tmp_path: Path) -> None:
    from handlers.runtime import Runtime

    settings = Settings(
        org_sync="slack", slack_bot_token=SecretStr("xoxb-test"), slack_api_url=slack.url, org_sync_hour=6
    )
    store = open_store(str(tmp_path / "org.json"))
    try:
        runtime = Runtime(
            settings=settings, store=store, clock=lambda: datetime(2026, 11, 30, 7, tzinfo=UTC), background=False
        )
        runtime.run_scheduler()
        assert len(slack.calls("users.list")) == 1
        assert store.find_person(WS, slack_id=(TEAM, "U01ANN")) is not None
        runtime.run_scheduler()
        assert len(slack.calls("users.list")) == 1  # once a day
    finally:
        store.close()


def test_a_daily_sync_without_its_credentials_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="ORG_SYNC=graph needs GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET"):
        Settings(org_sync="graph", graph_tenant_id="t")
    with pytest.raises(ValidationError, match="ORG_SYNC=slack needs SLACK_BOT_TOKEN"):
        Settings(org_sync="slack")


def test_a_teams_user_known_only_by_channel_id_is_not_taken_for_a_leaver() -> None:
    web_chat = Person(id="P-w", handle="webby", name="Web Chat", teams_id="29:1abc")
    entra = Person(id="P-e", handle="ento", name="Ent Ra", teams_id="0f3c-entra-id")
    people, _teams, report = plan_sync(
        kind="graph",
        label="Graph",
        users=[DirectoryUser(key="g1", name="Gia Boss")],
        existing_people=[web_chat, entra],
        existing_teams=[],
        workspace=WS,
    )
    assert report.deactivated == ["- ento: left; marked inactive (their history stays)"]
    assert [p.handle for p in people if not p.active] == ["ento"]
