"""``servechain serve``'s dashboard behind real sign-in: :func:`handlers.server.build_web_app` with
the ``DASHBOARD_*`` settings mounts the pages with :class:`handlers.dashboard.oidc.OidcAuth`, and a
person signs in through a loopback fake OpenID provider (Slack and Entra shapes) and reads their
pages; without complete settings ``/dashboard`` stays off and the log says what to set."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.ports import Store
from bot.settings import Settings
from handlers.server import DASHBOARD_KEY, build_web_app
from tests.fakes.oidc_provider import FakeOidcProvider

SESSION_SECRET = "serve-session-secret-0123456789-abcdefgh"
TENANT = "11111111-2222-3333-4444-555555555555"


def _settings(provider: FakeOidcProvider, **extra: Any) -> Settings:
    return Settings(
        dashboard_session_secret=SESSION_SECRET,
        slack_team_ids="T0SEED",
        **provider.settings_env(),
        **extra,
    )


async def _signed_in_session(store: Store, settings: Settings, provider: str) -> dict[str, Any]:
    """Sign in through the provider's button on the real app, then read what a person sees."""
    app = build_web_app(settings, store, deliver=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)
    base = str(server.make_url("")).rstrip("/")
    seen: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            before = await http.get(f"{base}/dashboard/api/me")
            seen["data_signed_out"] = before.status
            page = await http.get(f"{base}/dashboard/me")
            assert page.url.path == "/dashboard/sign-in", page.url
            found = re.search(rf'href="(/dashboard/auth/{provider}/start[^"]*)"', await page.text())
            assert found, await page.text()
            landed = await http.get(base + html.unescape(found.group(1)))
            seen["landed"] = (landed.status, landed.url.path)
            seen["sign_out_button"] = '<form class="sign-out" method="post" action="/dashboard/logout">' in (
                await landed.text()
            )
            me = await http.get(f"{base}/dashboard/api/me")
            seen["me"] = (me.status, (await me.json()).get("handle") if me.status == 200 else None)
            chain = await http.get(f"{base}/dashboard/api/map?window=90d")
            seen["map"] = chain.status
            forged = await http.post(f"{base}/dashboard/api/requests/1/ask-update", headers={"Origin": base})
            seen["post_without_token"] = forged.status
    finally:
        await server.close()
    return seen


@pytest.fixture(autouse=True)
def teams_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve needs a chat front end; local Teams needs no credentials."""
    monkeypatch.setenv("SERVECHAIN_TEAMS", "1")


def test_serve_mounts_the_dashboard_behind_sign_in_with_slack(fresh: Store) -> None:
    with FakeOidcProvider(shape="slack") as provider:
        provider.user = {"https://slack.com/user_id": "UDANA", "https://slack.com/team_id": "T0SEED"}
        seen = asyncio.run(_signed_in_session(fresh, _settings(provider), "slack"))
    assert seen == {
        "data_signed_out": 401,
        "landed": (200, "/dashboard/me"),
        "sign_out_button": True,
        "me": (200, "dana"),
        "map": 200,
        "post_without_token": 403,
    }


def test_serve_mounts_the_dashboard_behind_sign_in_with_entra_by_verified_email(fresh: Store) -> None:
    with FakeOidcProvider(shape="entra", tenant=TENANT) as provider:
        provider.user = {"oid": "aad-dana", "tid": TENANT, "email": "dana@example.com", "xms_edov": True}
        seen = asyncio.run(_signed_in_session(fresh, _settings(provider), "entra"))
    assert seen["me"] == (200, "dana") and seen["map"] == 200 and seen["data_signed_out"] == 401


@pytest.mark.parametrize(
    ("values", "warned", "says"),
    [
        ({}, False, "servechain dashboard --as"),
        ({"dashboard_session_secret": SESSION_SECRET}, True, "DASHBOARD_SLACK_CLIENT_ID"),
        (
            {"dashboard_slack_client_id": "id", "dashboard_slack_client_secret": "secret"},
            True,
            "DASHBOARD_SESSION_SECRET",
        ),
    ],
)
def test_without_complete_settings_the_dashboard_is_off_and_start_up_says_what_to_set(
    fresh: Store, caplog: pytest.LogCaptureFixture, values: dict[str, str], warned: bool, says: str
) -> None:
    """Off by choice (nothing set) is said only in the one start-up line; a half-done
    configuration is also a warning of its own."""
    caplog.set_level(logging.INFO, logger="handlers.server")
    app = build_web_app(Settings(slack_team_ids="T0SEED", **values), fresh, deliver=False)

    async def status() -> int:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(access_log=None)
        try:
            async with aiohttp.ClientSession() as http:
                return (await http.get(str(server.make_url("/dashboard/")), allow_redirects=False)).status
        finally:
            await server.close()

    assert asyncio.run(status()) == 404
    assert app[DASHBOARD_KEY].startswith("off") and says in app[DASHBOARD_KEY]
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "dashboard" in r.getMessage()
    ]
    assert len(warnings) == (1 if warned else 0) and all(says in w for w in warnings)


def test_the_start_up_state_names_the_sign_in_providers_when_it_is_on(fresh: Store) -> None:
    with FakeOidcProvider(shape="slack") as provider:
        app = build_web_app(_settings(provider), fresh, deliver=False)
    assert app[DASHBOARD_KEY] == "at /dashboard behind sign-in (slack)"
