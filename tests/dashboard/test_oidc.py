"""Dashboard sign-in (``handlers/dashboard/oidc.py``) against a loopback fake OpenID provider.

A tiny aiohttp app mounts ``OidcAuth.routes()`` plus a protected page and a protected POST that
use ``viewer()`` and ``csrf_ok()`` the way the dashboard's pages do; a real HTTP client with a
cookie jar walks the whole flow (page → sign-in page → provider → callback → page)."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from itsdangerous import URLSafeTimedSerializer

from bot.access import HOME_DOC
from bot.models import Person
from bot.ports import Store
from bot.settings import Settings
from handlers.dashboard.oidc import OidcAuth, sign_in_configured
from tests.conftest import small_org
from tests.fakes.oidc_provider import FakeOidcProvider

SESSION_SECRET = "session-secret-0123456789-abcdefghij-XYZ"
SLACK_TEAM = "T0SERVED"
TENANT = "11111111-2222-3333-4444-555555555555"


class Clock:
    """The time the authenticator sees; tests move it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def linked_org(store: Store) -> Store:
    """The small org, with alice linked to Slack and bob to Entra (Teams AAD object id)."""
    people, teams = small_org()
    linked: list[Person] = []
    for person in people:
        if person.handle == "alice":
            person = person.model_copy(update={"slack_ids": {SLACK_TEAM: "U0ALICE"}})
        if person.handle == "bob":
            person = person.model_copy(update={"teams_id": "aad-bob"})
        if person.handle == "erin":
            person = person.model_copy(update={"active": False})
        linked.append(person)
    store.save_org(linked, teams)
    return store


def make_settings(provider: FakeOidcProvider | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {"dashboard_session_secret": SESSION_SECRET, "slack_team_ids": SLACK_TEAM}
    if provider is not None:
        values.update(provider.settings_env())
    values.update(extra)
    return Settings(**values)


@dataclass
class Harness:
    auth: OidcAuth
    base: str
    http: aiohttp.ClientSession
    clock: Clock

    def url(self, path: str) -> str:
        return self.base + path

    async def sign_in(self, provider: str, page: str = "/dashboard/me") -> aiohttp.ClientResponse:
        """Open ``page`` signed out, click the provider's button, and follow every redirect."""
        response = await self.http.get(self.url(page))
        assert response.url.path == "/dashboard/sign-in", response.url
        text = await response.text()
        found = re.search(rf'href="(/dashboard/auth/{provider}/start[^"]*)"', text)
        assert found, text
        return await self.http.get(self.url(html.unescape(found.group(1))))

    async def whoami(self) -> str | None:
        """The handle the protected page greets, or None when it sends us to sign in."""
        response = await self.http.get(self.url("/dashboard/me"), allow_redirects=False)
        if response.status == 302:
            assert response.headers["Location"].startswith("/dashboard/sign-in?next=")
            return None
        assert response.status == 200
        return (await response.json())["handle"]

    def session_cookie(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key.endswith("servechain-session"):
                return cookie.value
        return None


def protected_app(auth: OidcAuth) -> web.Application:
    """What PAGES does with an Authenticator: pages redirect to sign-in, POSTs need csrf_ok."""

    async def me(request: web.Request) -> web.StreamResponse:
        person = await auth.viewer(request)
        if person is None:
            return web.Response(status=302, headers={"Location": auth.sign_in_url(request)})
        return web.json_response({"handle": person.handle, "csrf": auth.csrf_token(request)})

    async def change(request: web.Request) -> web.StreamResponse:
        if await auth.viewer(request) is None:
            return web.json_response({"error": "sign in"}, status=401)
        form = await request.post()
        submitted = form.get("csrf") or request.headers.get("X-CSRF-Token")
        if not auth.csrf_ok(request, submitted if isinstance(submitted, str) else None):
            return web.json_response({"error": "csrf"}, status=403)
        return web.json_response({"changed": True})

    app = web.Application()
    app.add_routes([*auth.routes(), web.get("/dashboard/me", me), web.post("/dashboard/api/change", change)])
    return app


@asynccontextmanager
async def harness(store: Store, settings: Settings, **kwargs: Any) -> AsyncIterator[Harness]:
    clock = Clock()
    auth = OidcAuth(store, settings, clock=clock, timeout=kwargs.pop("timeout", 5.0), **kwargs)
    # No access log, as in `servechain serve` (handlers/server.py): a callback URL carries the one-time code.
    server = TestServer(protected_app(auth), host="127.0.0.1")
    await server.start_server(access_log=None)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        yield Harness(auth, str(server.make_url("")).rstrip("/"), http, clock)
    finally:
        await http.close()
        await auth.close()
        await server.close()


@contextmanager
def fake(shape: str, **user: Any) -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider(shape=shape, tenant=TENANT if shape == "entra" else "organizations") as provider:  # type: ignore[arg-type]
        provider.user = dict(user)
        yield provider


def slack_user(user_id: str = "U0ALICE", team: str = SLACK_TEAM, **more: Any) -> dict[str, Any]:
    return {"https://slack.com/user_id": user_id, "https://slack.com/team_id": team, **more}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- round trips -----------------------------------------------------------------------


def test_slack_sign_in_round_trip_maps_the_slack_user_id_with_pkce_state_and_nonce(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user(email="not-alice@example.org", email_verified=False)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                landed = await h.sign_in("slack", "/dashboard/me?window=30d")
                assert landed.status == 200 and landed.url.path == "/dashboard/me"
                assert landed.url.query_string == "window=30d"
                assert (await landed.json())["handle"] == "alice"
                assert await h.whoami() == "alice"
                # On the wire: PKCE S256, a state, a nonce, the served team; the verifier at the token endpoint.
                (authorize,) = provider.endpoint_calls("authorize")
                assert authorize.params["code_challenge_method"] == "S256"
                assert len(authorize.params["state"]) >= 32 and len(authorize.params["nonce"]) >= 32
                assert authorize.params["team"] == SLACK_TEAM
                assert authorize.params["redirect_uri"] == h.url("/dashboard/auth/slack/callback")
                (token,) = provider.endpoint_calls("token")
                assert token.params["code_verifier"] and token.params["client_secret"] == provider.client_secret
                assert token.params["redirect_uri"] == authorize.params["redirect_uri"]

        run(scenario())


def test_session_cookie_is_signed_httponly_samesite_lax_and_expires(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider, dashboard_session_hours=8)) as h:
                response = await h.sign_in("slack")
                set_cookies = [
                    header
                    for hop in (*response.history, response)
                    for header in hop.headers.getall("Set-Cookie", [])
                    if header.startswith("servechain-session=")
                ]
                (cookie,) = set_cookies
                assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
                assert "Max-Age=28800" in cookie
                assert "Secure" not in cookie  # plain http on loopback

        run(scenario())


def test_cookies_are_secure_and_host_prefixed_when_the_dashboard_is_https(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            settings = make_settings(provider, dashboard_url="https://servechain.example.com")
            async with harness(store, settings) as h:
                response = await h.http.get(h.url("/dashboard/auth/slack/start?next=/dashboard"), allow_redirects=False)
                assert response.status == 302
                assert (
                    "redirect_uri=https%3A%2F%2Fservechain.example.com%2Fdashboard%2Fauth%2Fslack%2Fcallback"
                    in (response.headers["Location"])
                )
                (cookie,) = response.headers.getall("Set-Cookie")
                assert cookie.startswith("__Host-servechain-sign-in=")
                assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie

        run(scenario())


def test_entra_sign_in_round_trip_maps_the_aad_object_id(store: Store) -> None:
    linked_org(store)
    with fake("entra", oid="aad-bob", tid=TENANT, email="someone@example.org") as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                landed = await h.sign_in("entra")
                assert (await landed.json())["handle"] == "bob"
                (authorize,) = provider.endpoint_calls("authorize")
                assert authorize.params["code_challenge_method"] == "S256"
                assert provider.endpoint_calls("discovery")[0].params == {"tenant": TENANT}

        run(scenario())


def test_entra_multi_tenant_checks_the_issuer_of_the_tokens_own_tenant(store: Store) -> None:
    """With DASHBOARD_ENTRA_TENANT_ID=organizations the issuer is a template; the token's tid fills it in
    and must be a tenant this deployment serves."""
    linked_org(store)
    with FakeOidcProvider(shape="entra", tenant="organizations") as provider:
        provider.user = {"oid": "aad-bob", "tid": TENANT}

        async def scenario() -> None:
            async with harness(store, make_settings(provider, teams_tenant_ids=TENANT)) as h:
                assert (await (await h.sign_in("entra")).json())["handle"] == "bob"

        run(scenario())


def test_a_verified_email_finds_a_person_not_linked_by_id(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user("U0CAROL", email="Carol@Example.com", email_verified=True)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                assert (await (await h.sign_in("slack")).json())["handle"] == "carol"

        run(scenario())


def test_entra_email_counts_only_when_the_domain_is_verified(store: Store) -> None:
    linked_org(store)
    with fake("entra", oid="aad-unknown", tid=TENANT, email="carol@example.com") as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                refused = await h.sign_in("entra")
                assert refused.status == 403 and "verified" in await refused.text()
                assert await h.whoami() is None
                provider.user["xms_edov"] = True
                assert (await (await h.sign_in("entra")).json())["handle"] == "carol"

        run(scenario())


def test_an_unverified_email_is_refused_with_a_page_saying_who_to_ask(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user("U0CAROL", email="carol@example.com", email_verified=False)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider, dashboard_help_contact="#it-help")) as h:
                refused = await h.sign_in("slack")
                text = await refused.text()
                assert refused.status == 403
                assert "servechain doesn't know you yet" in text and "#it-help" in text
                assert "isn't verified" in text or "is verified" in text
                assert h.session_cookie() is None and await h.whoami() is None

        run(scenario())


def test_an_unknown_person_gets_no_session(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user("U0STRANGER", email="stranger@example.org", email_verified=True)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                refused = await h.sign_in("slack")
                assert refused.status == 403
                assert "whoever runs servechain in your organisation" in await refused.text()
                assert await h.whoami() is None

        run(scenario())


def test_an_inactive_person_is_refused(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user("U0ERIN", email="erin@example.com", email_verified=True)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                refused = await h.sign_in("slack")
                assert refused.status == 403 and "inactive" in await refused.text()
                assert await h.whoami() is None

        run(scenario())


def test_a_slack_workspace_this_deployment_does_not_serve_is_refused(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user(team="T0FOREIGN", email="alice@example.com", email_verified=True)) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                refused = await h.sign_in("slack")
                assert refused.status == 403 and "workspace" in await refused.text()
                assert await h.whoami() is None

        run(scenario())


def test_without_slack_team_ids_the_workspace_the_bot_learned_is_served(store: Store) -> None:
    linked_org(store)
    store.put_doc(HOME_DOC, "default", "slack", {"org_id": SLACK_TEAM})
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider, slack_team_ids="")) as h:
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                (authorize,) = provider.endpoint_calls("authorize")
                assert "team" not in authorize.params

        run(scenario())


def test_a_tenant_this_deployment_does_not_serve_is_refused(store: Store) -> None:
    linked_org(store)
    with fake("entra", oid="aad-bob", tid="99999999-0000-0000-0000-000000000000") as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                refused = await h.sign_in("entra")
                assert refused.status in (400, 403)
                assert await h.whoami() is None

        run(scenario())


# --- every failure: a friendly page, no session, nothing secret in the log -----------------


@dataclass(frozen=True)
class Fault:
    name: str
    status: int
    says: str
    setup: dict[str, Any]


FAULTS = [
    Fault("access_denied", 403, "Sign-in cancelled", {"deny": True}),
    Fault("token endpoint 500", 502, "had a problem", {"token_status": 500}),
    Fault("token endpoint slow", 504, "taking too long", {"token_delay": 4.0}),
    Fault("token endpoint 429", 503, "Try again in 17 seconds", {"rate_limit": 17}),
    Fault("code refused", 400, "already used or has expired", {"token_error": "invalid_grant"}),
    Fault("JWKS unreachable", 503, "can't be reached", {"jwks_unreachable": True}),
    Fault("JWKS 503", 502, "had a problem", {"jwks_status": 503}),
    Fault("wrong audience", 400, "couldn't verify this sign-in", {"id_token_overrides": {"aud": "another-app"}}),
    Fault("expired token", 400, "couldn't verify this sign-in", {"id_token_overrides": {"exp": 1_000_000_000}}),
    Fault("nonce mismatch", 400, "couldn't verify this sign-in", {"id_token_overrides": {"nonce": "not-ours"}}),
    Fault("no nonce", 400, "couldn't verify this sign-in", {"id_token_overrides": {"nonce": None}}),
    Fault("wrong issuer", 400, "couldn't verify this sign-in", {"id_token_overrides": {"iss": "https://evil.test"}}),
    Fault("forged signature", 400, "couldn't verify this sign-in", {"foreign_key": True}),
    Fault(
        "at_hash mismatch",
        400,
        "couldn't verify this sign-in",
        {"id_token_overrides": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}},
    ),
]


@pytest.mark.parametrize("shape", ["slack", "entra"])
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_each_provider_failure_gets_a_friendly_page_and_no_session(
    store: Store, shape: str, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    linked_org(store)
    user = slack_user() if shape == "slack" else {"oid": "aad-bob", "tid": TENANT}
    with fake(shape, **user) as provider:
        for name, value in fault.setup.items():
            setattr(provider, name, value)

        async def scenario() -> None:
            # 2 s per call to the provider: a loaded machine answers in time, the slow fake (4 s) does not.
            async with harness(store, make_settings(provider), timeout=2.0) as h:
                with caplog.at_level(logging.DEBUG):
                    page = await h.sign_in(shape)
                text = await page.text()
                assert page.status == fault.status, text
                assert fault.says in text, text
                assert "<h1>" in text and "Traceback" not in text
                if fault.name == "token endpoint 429":
                    assert page.headers["Retry-After"] == "17"
                assert h.session_cookie() is None
                assert await h.whoami() is None

        run(scenario())
    logged = caplog.text
    assert "dashboard sign-in with" in logged  # the refusal is logged, with its reason
    for secret in (provider.client_secret, SESSION_SECRET, *provider.issued):
        assert secret not in logged


def test_new_signing_keys_are_fetched_when_the_provider_rotates_them(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                h.http.cookie_jar.clear()
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                assert len(provider.endpoint_calls("jwks")) == 1  # cached
                assert len(provider.endpoint_calls("discovery")) == 1
                provider.rotate_key()
                h.http.cookie_jar.clear()
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                assert len(provider.endpoint_calls("jwks")) == 2  # the unknown key id fetched them again

        run(scenario())


def test_a_signed_in_person_opening_the_sign_in_page_goes_straight_on(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                await h.sign_in("slack")
                page = await h.http.get(h.url("/dashboard/sign-in?next=/dashboard/me"), allow_redirects=False)
                assert page.status == 303 and page.headers["Location"] == "/dashboard/me"

        run(scenario())


def test_a_callback_whose_state_is_not_this_browsers_is_refused(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                start = await h.http.get(h.url("/dashboard/auth/slack/start"), allow_redirects=False)
                to_provider = await h.http.get(start.headers["Location"], allow_redirects=False)
                callback = to_provider.headers["Location"].replace("state=", "state=x")
                page = await h.http.get(callback)
                assert page.status == 400 and "didn't start here" in await page.text()
                assert await h.whoami() is None
                # The code was never exchanged.
                assert provider.endpoint_calls("token") == []

        run(scenario())


def test_a_callback_without_the_sign_in_cookie_or_too_late_is_refused(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                start = await h.http.get(h.url("/dashboard/auth/slack/start"), allow_redirects=False)
                h.clock.now += timedelta(minutes=11)
                page = await h.http.get(start.headers["Location"])
                assert page.status == 400 and "expired" in await page.text()
                assert await h.whoami() is None

                h.clock.now = datetime.now(UTC)
                start = await h.http.get(h.url("/dashboard/auth/slack/start"), allow_redirects=False)
                to_provider = await h.http.get(start.headers["Location"], allow_redirects=False)
                async with aiohttp.ClientSession() as other_browser:
                    page = await other_browser.get(to_provider.headers["Location"])
                    assert page.status == 400 and "expired" in await page.text()

        run(scenario())


def test_discovery_unreachable_at_start_is_a_friendly_page(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:
        settings = make_settings(provider)
    # The provider is gone now.

    async def scenario() -> None:
        async with harness(store, settings, timeout=2.0) as h:
            page = await h.sign_in("slack")
            assert page.status == 503 and "can't be reached" in await page.text()

    run(scenario())


def test_after_sign_in_only_a_local_dashboard_page_is_a_destination(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                for target in ("https://evil.example/x", "//evil.example/x", "/dashboard/auth/slack/start"):
                    h.http.cookie_jar.clear()
                    landed = await h.http.get(h.url("/dashboard/sign-in?" + f"next={target}"))
                    assert landed.status == 200
                    found = re.search(r'href="(/dashboard/auth/slack/start[^"]*)"', await landed.text())
                    assert found
                    page = await h.http.get(h.url(html.unescape(found.group(1))), allow_redirects=True)
                    assert page.url.host == "127.0.0.1" and page.url.path == "/dashboard"

        run(scenario())


# --- sessions ----------------------------------------------------------------------------


def test_forged_tampered_and_expired_sessions_are_not_signed_in(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider, dashboard_session_hours=2)) as h:
                await h.sign_in("slack")
                assert await h.whoami() == "alice"
                genuine = h.session_cookie()
                assert genuine

                async def as_cookie(value: str) -> str | None:
                    h.http.cookie_jar.clear()
                    async with h.http.get(
                        h.url("/dashboard/me"), headers={"Cookie": f"servechain-session={value}"}, allow_redirects=False
                    ) as response:
                        return (await response.json())["handle"] if response.status == 200 else None

                assert await as_cookie(genuine) == "alice"
                # Signed with another secret, claiming to be dave.
                forged = URLSafeTimedSerializer(
                    "another-secret-0123456789abcdefghij", salt="servechain.dashboard.session"
                )
                assert await as_cookie(forged.dumps({"p": "P-dave", "w": "default", "c": "x"})) is None
                # The genuine cookie with one character of its signature changed, or with its payload
                # swapped. The signature's first character, not its last: base64's last character
                # carries padding bits, so changing it can decode to the same bytes (a flaky test once).
                at = genuine.rindex(".") + 1
                tampered = genuine[:at] + ("A" if genuine[at] != "A" else "B") + genuine[at + 1 :]
                assert await as_cookie(tampered) is None
                assert await as_cookie("P-dave." + genuine.split(".", 1)[1]) is None
                assert await as_cookie("") is None and await as_cookie("garbage") is None
                # Expired: past DASHBOARD_SESSION_HOURS.
                h.clock.now += timedelta(hours=2, seconds=1)
                assert await as_cookie(genuine) is None

        run(scenario())


def test_a_session_ends_when_the_person_leaves(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                await h.sign_in("slack")
                assert await h.whoami() == "alice"
                alice = store.find_person("default", handle="alice")
                assert alice is not None
                store.save_org([alice.model_copy(update={"active": False})])
                assert await h.whoami() is None

        run(scenario())


def test_sign_out_clears_the_session_and_needs_a_same_origin_token(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                await h.sign_in("slack")
                stolen = h.session_cookie()
                page = await h.http.get(h.url("/dashboard/logout"))
                token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
                assert token
                cross_site = await h.http.post(
                    h.url("/dashboard/logout"),
                    data={"csrf": token.group(1)},
                    headers={"Origin": "https://evil.example"},
                )
                assert cross_site.status == 403 and await h.whoami() == "alice"
                done = await h.http.post(
                    h.url("/dashboard/logout"), data={"csrf": token.group(1)}, headers={"Origin": h.base}
                )
                assert done.status == 200 and done.url.path == "/dashboard/sign-in"
                assert "You are signed out" in await done.text()
                assert h.session_cookie() is None and await h.whoami() is None
                # A copy of the cookie taken before signing out is void too, and signing in again works.
                async with h.http.get(
                    h.url("/dashboard/me"), headers={"Cookie": f"servechain-session={stolen}"}, allow_redirects=False
                ) as replay:
                    assert replay.status == 302
                h.http.cookie_jar.clear()
                await h.sign_in("slack")
                assert await h.whoami() == "alice"

        run(scenario())


def test_state_changing_posts_need_the_session_token_and_our_origin(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:

                async def post(headers: dict[str, str], csrf: str | None) -> int:
                    data = {"csrf": csrf} if csrf is not None else {}
                    async with h.http.post(h.url("/dashboard/api/change"), data=data, headers=headers) as response:
                        return response.status

                assert await post({"Origin": h.base}, "anything") == 401  # not signed in
                await h.sign_in("slack")
                token = (await (await h.http.get(h.url("/dashboard/me"))).json())["csrf"]
                assert token
                assert await post({"Origin": h.base}, token) == 200
                assert await post({"Referer": h.base + "/dashboard/team"}, token) == 200
                assert await post({"Origin": h.base, "Sec-Fetch-Site": "same-origin"}, token) == 200
                assert await post({"Origin": "https://evil.example"}, token) == 403
                assert await post({"Referer": "https://evil.example/page"}, token) == 403
                assert await post({"Origin": h.base, "Sec-Fetch-Site": "cross-site"}, token) == 403
                assert await post({}, token) == 403  # neither Origin nor Referer
                assert await post({"Origin": "null", "Referer": h.base + "/dashboard"}, token) == 403
                assert await post({"Origin": h.base}, None) == 403
                assert await post({"Origin": h.base}, token[:-1] + ("x" if token[-1] != "x" else "y")) == 403

        run(scenario())


def test_each_sign_in_gets_its_own_csrf_token(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as provider:

        async def scenario() -> None:
            async with harness(store, make_settings(provider)) as h:
                await h.sign_in("slack")
                first = (await (await h.http.get(h.url("/dashboard/me"))).json())["csrf"]
                h.http.cookie_jar.clear()
                await h.sign_in("slack")
                second = (await (await h.http.get(h.url("/dashboard/me"))).json())["csrf"]
                assert first and second and first != second

        run(scenario())


# --- configuration ------------------------------------------------------------------------


def test_configuration_says_what_is_missing() -> None:
    assert "DASHBOARD_SLACK_CLIENT_ID" in (sign_in_configured(Settings()) or "")
    short = Settings(
        dashboard_slack_client_id="id", dashboard_slack_client_secret="secret", dashboard_session_secret="short"
    )
    assert "DASHBOARD_SESSION_SECRET" in (sign_in_configured(short) or "")
    with pytest.raises(ValueError, match="DASHBOARD_SESSION_SECRET"):
        OidcAuth(None, short)  # type: ignore[arg-type]
    ready = Settings(
        dashboard_entra_client_id="id", dashboard_entra_client_secret="secret", dashboard_session_secret=SESSION_SECRET
    )
    assert sign_in_configured(ready) is None


def test_the_sign_in_page_offers_each_configured_provider(store: Store) -> None:
    linked_org(store)
    with fake("slack", **slack_user()) as slack, fake("entra", oid="aad-bob", tid=TENANT) as entra:
        settings = make_settings(None, **slack.settings_env(), **entra.settings_env())

        async def scenario() -> None:
            async with harness(store, settings) as h:
                page = await h.http.get(h.url("/dashboard/sign-in?next=/dashboard/me?team=T-fin"))
                text = await page.text()
                assert "Sign in with Slack" in text and "Sign in with Microsoft" in text
                assert 'lang="en"' in text and "<h1>" in text and "http" not in text.split("<body>")[1]
                assert "default-src 'none'" in page.headers["Content-Security-Policy"]
                assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
                assert (await (await h.sign_in("entra", "/dashboard/me?team=T-fin")).json())["handle"] == "bob"

        run(scenario())


# --- both store backends -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["tinydb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sign_in_mapping_and_sign_out_everywhere_on_each_backend(backend: str, tmp_path: Any) -> None:
    """The store calls sign-in makes (people by Slack id, AAD id and email; the sign-out count) behave
    the same on the embedded store and on PostgreSQL."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        if backend == "postgres":
            from storage.postgres import PostgresStore
            from tests.pg import fresh_database

            store: Store = PostgresStore(stack.enter_context(fresh_database("servechain_oidc")))
        else:
            from storage.tinydb_store import TinyDBStore

            store = TinyDBStore(tmp_path / "servechain.json")
        stack.callback(store.close)
        linked_org(store)
        slack = stack.enter_context(fake("slack", **slack_user()))
        entra = stack.enter_context(fake("entra", oid="aad-nobody", tid=TENANT, email="CAROL@example.com"))
        entra.user["xms_edov"] = True
        settings = make_settings(None, **slack.settings_env(), **entra.settings_env())

        async def scenario() -> None:
            async with harness(store, settings) as h:
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                copy = h.session_cookie()
                token = (await (await h.http.get(h.url("/dashboard/me"))).json())["csrf"]
                signed_out = await h.http.post(
                    h.url("/dashboard/logout"), data={"csrf": token}, headers={"Origin": h.base}
                )
                assert signed_out.status == 200 and await h.whoami() is None
                async with h.http.get(
                    h.url("/dashboard/me"), headers={"Cookie": f"servechain-session={copy}"}, allow_redirects=False
                ) as replay:
                    assert replay.status == 302
                h.http.cookie_jar.clear()
                assert (await (await h.sign_in("slack")).json())["handle"] == "alice"
                h.http.cookie_jar.clear()
                assert (await (await h.sign_in("entra")).json())["handle"] == "carol"

        run(scenario())
