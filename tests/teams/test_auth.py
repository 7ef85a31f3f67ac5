"""With an app id set, only requests carrying a valid Bot Framework token get in: no token and a
malformed token both answer 401 (botbuilder alone answers 500 to the latter), and nothing is
stored or sent. These paths fail before any key download, so no Microsoft endpoint is called."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp import ClientSession, web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from bot.ports import Store
from bot.settings import Settings
from handlers.runtime import ConfigError, Runtime
from handlers.server import build_web_app
from handlers.teams.adapter import BotFrameworkConfig, messages_handler
from handlers.teams.bot import ServechainTeamsBot
from tests.fakes.bot_openid import ISSUER, OpenIdServer, channel_token
from tests.fakes.bot_openid import signing_key as _signing_key
from tests.teams.conftest import ALICE, TeamsHarness, as_user, load, run, teams_settings

APP_ID = "11111111-2222-3333-4444-555555555555"


def secured() -> Settings:
    return teams_settings(microsoft_app_id=APP_ID, microsoft_app_password=SecretStr("test-only-not-a-secret"))


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "Bearer not.a.jwt", "Basic YWxpY2U6aHVudGVyMg==", ""],
    ids=["missing", "malformed", "three-dots", "basic", "empty"],
)
def test_without_a_valid_token_the_answer_is_401_and_nothing_is_stored(
    org_store: Store, authorization: str | None
) -> None:
    people_before = org_store.list_people("default")

    async def main() -> None:
        async with TeamsHarness(org_store, settings=secured()) as h:
            payload = as_user(load("message_personal"), ALICE)
            payload["text"] = "request @bob the invoices"
            headers = {} if authorization is None else {"Authorization": authorization}
            status, _ = await h.post(payload, headers=headers)
            assert status == 401
            assert h.connector.calls == []

    run(main())
    assert org_store.list_people("default") == people_before
    assert org_store.get_request("default", 1) is None
    assert org_store.list_outbox("default") == []
    assert org_store.list_docs("teams_conversation", "default") == []


def test_with_an_app_id_there_is_no_unauthenticated_warning(org_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="handlers.teams"):
        build_web_app(secured(), org_store, deliver=False)
    assert not [r for r in caplog.records if "WITHOUT authentication" in r.getMessage()]


def test_single_tenant_without_a_tenant_id_is_a_config_error(org_store: Store) -> None:
    settings = teams_settings(microsoft_app_id=APP_ID, microsoft_app_type="SingleTenant")
    with pytest.raises(ConfigError, match="MICROSOFT_APP_TYPE=SingleTenant"):
        build_web_app(settings, org_store, deliver=False)


# --- a valid token gets in --------------------------------------------------------------------
# The public-cloud authenticator fetches Microsoft's signing keys, so this test uses the same
# botbuilder authenticator pointed at a local OpenID endpoint serving a key made for the test.


def _token(key: rsa.RSAPrivateKey, kid: str, service_url: str, **claims: Any) -> str:
    return channel_token(key, kid, app_id=APP_ID, service_url=service_url, **claims)


def test_a_valid_bot_framework_token_is_accepted_and_forgeries_are_not(org_store: Store) -> None:
    trusted, jwk = _signing_key("test-key")
    forger, _ = _signing_key("test-key")
    service_url = "http://127.0.0.1:9/teams/"  # never contacted: the activity needs no reply
    joined = load("conversation_update_bot_added")
    joined["membersAdded"] = [{"id": "29:1someone-new"}]
    joined["serviceUrl"] = service_url

    with OpenIdServer({"keys": [jwk]}) as openid:
        settings = secured()
        config = BotFrameworkConfig(settings)
        config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = openid.url  # type: ignore[attr-defined]
        config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = ISSUER  # type: ignore[attr-defined]
        adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
        bot = ServechainTeamsBot(Runtime(settings=settings, store=org_store))

        async def post(client: ClientSession, url: str, token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            async with client.post(url, json=joined, headers=headers) as response:
                return response.status

        async def main() -> dict[str, int]:
            app = web.Application()
            app.router.add_post("/api/messages", messages_handler(adapter, bot))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            url = f"http://{host}:{port}/api/messages"
            try:
                async with ClientSession() as client:
                    return {
                        "valid": await post(client, url, _token(trusted, "test-key", service_url)),
                        "forged": await post(client, url, _token(forger, "test-key", service_url)),
                        "unknown key": await post(client, url, _token(trusted, "other-key", service_url)),
                        "other bot": await post(client, url, _token(trusted, "test-key", service_url, aud="bot-2")),
                        "expired": await post(
                            client, url, _token(trusted, "test-key", service_url, exp=int(time.time()) - 3600)
                        ),
                        "other service": await post(
                            client, url, _token(trusted, "test-key", "http://127.0.0.1:9/elsewhere/")
                        ),
                    }
            finally:
                await runner.cleanup()

        statuses = run(main())

    assert statuses == {
        "valid": 201,
        "forged": 401,
        "unknown key": 401,
        "other bot": 401,
        "expired": 401,
        "other service": 401,
    }
