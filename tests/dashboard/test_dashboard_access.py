"""Who sees what on the dashboard, exhaustively over its routes: every route x every kind of
viewer against an expected table written out here by hand, then what each viewer is shown.

The viewers (see tests.dashboard.seed): alice (Sales) asked bob (Finance); dana manages Finance;
grace heads Operations, above dana; erin (Legal) is an outsider to all of it; "nobody" has no
session; "forged" carries a session cookie whose signature is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.ports import Store
from handlers.dashboard.app import CSRF_HEADER
from handlers.dashboard.viewer import LocalAs
from tests.dashboard.conftest import SESSION_COOKIE, CookieAuth, dashboard_app, with_client

VIEWERS = ("alice", "dana", "grace", "erin", "nobody", "forged")
SIGNED_IN = ("alice", "dana", "grace", "erin")

PAGES = ("/dashboard/", "/dashboard/me", "/dashboard/team/T-fin", "/dashboard/link/T-sales/T-fin")
DATA = (
    "/dashboard/api/map",
    "/dashboard/api/map?window=30d&tag=budget",
    "/dashboard/api/me",
    "/dashboard/api/team/T-fin",
    "/dashboard/api/team/T-sales",
    "/dashboard/api/link/T-sales/T-fin",
)
POSTS = ("/dashboard/api/requests/{alice_open}/ask-update",)

# (route kind, viewer) -> status; written out, not derived from the code
EXPECTED: dict[tuple[str, str], int] = {
    **{("page", v): 200 for v in SIGNED_IN},
    **{("page", v): 302 for v in ("nobody", "forged")},
    **{("data", v): 200 for v in SIGNED_IN},
    **{("data", v): 401 for v in ("nobody", "forged")},
    # asking for an update is the requester's move (STEER): alice may; bob's manager may see it
    # but not steer it (403 naming who can); erin may not even see it (404, as in chat)
    ("post", "alice"): 200,
    ("post", "dana"): 403,
    ("post", "grace"): 403,
    ("post", "erin"): 404,
    ("post", "nobody"): 401,
    ("post", "forged"): 401,
}
MANAGES_FINANCE = {"alice": False, "dana": True, "grace": True, "erin": False}


def cookies(viewer: str) -> dict[str, str]:
    if viewer == "nobody":
        return {}
    if viewer == "forged":
        return {SESSION_COOKIE: "dana:0000000000000000"}
    return {SESSION_COOKIE: CookieAuth.cookie(viewer)}


def alice_open(store: Store) -> int:
    asked = store.find_requests("default", requester_id="P-alice", open_only=True)
    return max(r.number for r in asked if r.provider_id == "P-bob")


async def _status(client: TestClient, method: str, path: str, viewer: str, headers: dict[str, str]) -> int:
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(cookies(viewer))
    response = await client.request(method, path, headers=headers, allow_redirects=False)
    await response.read()
    if response.status == 302:
        assert response.headers["Location"].startswith("/dashboard/sign-in?next=")
    if path.startswith("/dashboard/api/") and response.status != 200:
        assert "error" in await response.json()  # a message a person can read, never a stack
    return response.status


@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_route_answers_each_viewer_as_the_table_says(fresh: Store, viewer: str) -> None:
    seeded = fresh  # the POST asks for an update, once
    number = alice_open(seeded)

    async def body(client: TestClient) -> dict[str, int]:
        found: dict[str, int] = {}
        for path in PAGES:
            found[path] = await _status(client, "GET", path, viewer, {})
        for path in DATA:
            found[path] = await _status(client, "GET", path, viewer, {})
        for path in POSTS:
            real = path.format(alice_open=number)
            token = CookieAuth.token(viewer) if viewer in SIGNED_IN else "x"
            found[path] = await _status(client, "POST", real, viewer, {CSRF_HEADER: token})
        return found

    found = with_client(dashboard_app(seeded), body)
    expected = {
        **{p: EXPECTED[("page", viewer)] for p in PAGES},
        **{p: EXPECTED[("data", viewer)] for p in DATA},
        **{p: EXPECTED[("post", viewer)] for p in POSTS},
    }
    assert found == expected


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),  # no token
        ({CSRF_HEADER: "wrong"}, 403),
        ({CSRF_HEADER: CookieAuth.token("erin")}, 403),  # someone else's token
        ({CSRF_HEADER: "<alice>", "Origin": "https://evil.example"}, 403),  # cross-site, right token
        ({CSRF_HEADER: "<alice>", "Sec-Fetch-Site": "cross-site"}, 403),
        ({CSRF_HEADER: "<alice>", "Origin": "<self>"}, 200),
    ],
    ids=["no-token", "wrong-token", "other-session-token", "cross-origin", "cross-site-fetch", "same-origin"],
)
def test_a_post_needs_this_sessions_token_from_the_same_origin(
    fresh: Store, headers: dict[str, str], status: int
) -> None:
    seeded = fresh
    number = alice_open(seeded)

    async def body(client: TestClient) -> int:
        sent = {
            k: v.replace("<alice>", CookieAuth.token("alice")).replace("<self>", str(client.make_url("")).rstrip("/"))
            for k, v in headers.items()
        }
        return await _status(client, "POST", f"/dashboard/api/requests/{number}/ask-update", "alice", sent)

    assert with_client(dashboard_app(seeded), body) == status


def _json(store: Store, viewer: str, path: str) -> Any:
    async def body(client: TestClient) -> Any:
        client.session.cookie_jar.update_cookies(cookies(viewer))
        response = await client.get(path)
        assert response.status == 200, await response.text()
        return await response.json()

    return with_client(dashboard_app(store), body)


@pytest.mark.parametrize("viewer", SIGNED_IN)
def test_the_map_is_aggregates_and_the_same_for_everyone(seeded: Store, viewer: str) -> None:
    data = _json(seeded, viewer, "/dashboard/api/map")
    assert data == _json(seeded, "alice", "/dashboard/api/map")
    assert {n["name"] for n in data["nodes"]} >= {"Finance", "Sales", "Legal", "IT"}
    sales_fin = next(link for link in data["links"] if link["source"] == "T-sales" and link["target"] == "T-fin")
    assert sales_fin["figures"]["volume"] > 0
    assert "Could you" not in str(data) and "R-" not in str(data)  # no request, no words on the map


@pytest.mark.parametrize("viewer", SIGNED_IN)
def test_a_link_lists_only_requests_the_viewer_may_see(seeded: Store, viewer: str) -> None:
    data = _json(seeded, viewer, "/dashboard/api/link/T-sales/T-fin")
    listed = data["slowest"] + data["complained"]
    for row in listed:
        request = seeded.get_request("default", row["number"])
        assert request is not None
        people = {request.requester_id, request.provider_id, *request.provider_history()}
        if viewer == "alice":
            assert "P-alice" in people
        elif viewer in ("dana", "grace"):
            assert seeded.get_person("default", request.provider_id).team_id == "T-fin"  # type: ignore[union-attr]
    if viewer == "erin":
        assert listed == []
        assert data["slowest_hidden"] > 0
    if viewer in ("dana", "grace"):
        assert data["slowest"] and data["slowest_hidden"] == 0
    assert data["figures"] == _json(seeded, "erin", "/dashboard/api/link/T-sales/T-fin")["figures"]


@pytest.mark.parametrize("viewer", SIGNED_IN)
def test_a_teams_stuck_work_patterns_and_pulse_are_for_those_who_manage_it(seeded: Store, viewer: str) -> None:
    data = _json(seeded, viewer, "/dashboard/api/team/T-fin")
    assert data["manages"] is MANAGES_FINANCE[viewer]
    assert data["as_provider"]["volume"] > 0  # aggregates for everyone
    private = {"stuck", "patterns", "kudos", "pulse"}
    if MANAGES_FINANCE[viewer]:
        assert private <= set(data)
        assert data["stuck"]["overdue"], "the seeded overdue request of bob"
        for week in data["pulse"]:  # per team and week, never per person
            assert set(week) == {"week", "shown", "asked", "answered", "manager_support", "service"}
            if not week["shown"]:
                assert week["manager_support"] is None and week["service"] is None
        assert any(week["shown"] for week in data["pulse"])
    else:
        assert not private & set(data)
        assert "restricted" in data


def test_pulse_is_hidden_for_a_team_below_the_threshold(seeded: Store) -> None:
    data = _json(seeded, "grace", "/dashboard/api/team/T-fac")  # Facilities: 3 people, under 5
    assert data["manages"] is True
    assert data["pulse"] and not any(week["shown"] for week in data["pulse"])
    assert all(week["manager_support"] is None for week in data["pulse"])


@pytest.mark.parametrize("viewer", SIGNED_IN)
def test_my_page_shows_only_my_own(seeded: Store, viewer: str) -> None:
    data = _json(seeded, viewer, "/dashboard/api/me")
    me = f"P-{viewer}"
    assert data["handle"] == viewer
    for row in data["asked"]:
        assert seeded.get_request("default", row["number"]).requester_id == me  # type: ignore[union-attr]
    for row in data["held"] + data["promises"]:
        assert seeded.get_request("default", row["number"]).provider_id == me  # type: ignore[union-attr]
    if viewer == "alice":
        assert any(row["overdue"] for row in data["asked"])


def test_local_as_is_one_viewer_and_still_guards_posts(fresh: Store) -> None:
    seeded = fresh
    alice = seeded.find_person("default", handle="alice")
    assert alice is not None
    auth = LocalAs(alice, token="local-token")
    number = alice_open(seeded)

    async def body(client: TestClient) -> tuple[int, int, int, str]:
        page = await client.get("/dashboard/me")
        html = await page.text()
        refused = await client.post(f"/dashboard/api/requests/{number}/ask-update")
        taken = await client.post(f"/dashboard/api/requests/{number}/ask-update", headers={CSRF_HEADER: "local-token"})
        return page.status, refused.status, taken.status, html

    page, refused, taken, html = with_client(dashboard_app(seeded, auth), body)
    assert (page, refused, taken) == (200, 403, 200)
    assert 'name="csrf-token" content="local-token"' in html
    assert "Signed in as Alice" in html
    assert "Sign out" not in html  # nobody signed in: nothing to sign out of


def test_unknown_team_and_bad_window_are_clear_messages(seeded: Store) -> None:
    async def body(client: TestClient) -> list[tuple[int, str]]:
        client.session.cookie_jar.update_cookies(cookies("alice"))
        found = []
        for path in (
            "/dashboard/api/team/T-nope",
            "/dashboard/api/map?window=forever",
            "/dashboard/api/map?window=900d",
        ):
            response = await client.get(path)
            found.append((response.status, (await response.json())["error"]))
        return found

    (team, window, long) = with_client(dashboard_app(seeded), body)
    assert team == (404, "I don't know the team 'T-nope'.")
    assert window[0] == 400 and "30d" in window[1]
    assert long[0] == 400 and "a year" in long[1]


def test_static_files_carry_no_data_and_are_served_to_anyone(seeded: Store) -> None:
    async def body(client: TestClient) -> tuple[int, str, int]:
        script = await client.get("/dashboard/static/dashboard.js")
        missing = await client.get("/dashboard/static/../app.py")
        return script.status, script.headers["Content-Type"], missing.status

    status, content_type, missing = with_client(dashboard_app(seeded), body)
    assert (status, content_type.split(";")[0], missing) == (200, "text/javascript", 404)


def test_serve_leaves_dashboard_off_and_says_what_to_set_without_sign_in_settings(
    fresh: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.settings import Settings
    from handlers.server import DASHBOARD_KEY, build_web_app

    monkeypatch.setenv("SERVECHAIN_TEAMS", "1")
    caplog.set_level("INFO", logger="handlers.server")
    app = build_web_app(Settings(), fresh, deliver=False)

    async def body(client: TestClient) -> tuple[int, int]:
        page = await client.get("/dashboard/", allow_redirects=False)
        data = await client.get("/dashboard/api/map")
        return page.status, data.status

    assert with_client(app, body) == (404, 404)
    said = app[DASHBOARD_KEY]  # in the one start-up line
    assert said.startswith("off") and "DASHBOARD_SESSION_SECRET" in said and "servechain dashboard --as" in said
    assert "dashboard" not in caplog.text  # nothing was half set: no warning, no line of its own


def test_my_page_links_back_to_my_card_in_slack_and_teams(fresh: Store) -> None:
    from bot.cards import requester_card_key
    from bot.models import CardRef

    number = alice_open(fresh)
    request = fresh.get_request("default", number)
    assert request is not None
    key = requester_card_key(request)
    fresh.save_card_ref(CardRef(card_key=key, platform="slack", ref="D0ALICE:1732000000.000100"))
    teams_ref = (
        '{"activity_id": "1:abc", "channel_id": "msteams", "conversation_id": "a:1xyz", "service_url": "https://smba"}'
    )
    fresh.save_card_ref(CardRef(card_key=key, platform="teams", ref=teams_ref))
    row = next(r for r in _json(fresh, "alice", "/dashboard/api/me")["asked"] if r["number"] == number)
    assert row["links"] == [
        {"platform": "Slack", "url": "https://slack.com/app_redirect?channel=D0ALICE&team=T0SEED"},
        {
            "platform": "Teams",
            "url": "https://teams.microsoft.com/l/message/a%3A1xyz/1%3Aabc?context=%7B%22contextType%22%3A%22chat%22%7D",
        },
    ]
