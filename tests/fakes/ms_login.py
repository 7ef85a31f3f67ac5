"""A fake Microsoft identity platform token endpoint on 127.0.0.1 (an ephemeral port).

``POST /{tenant}/oauth2/v2.0/token`` with client credentials answers an access token when the
client id and secret are the ones registered, and ``401 invalid_client`` with an AADSTS
description (as Entra ID does) when they are not. Every request is recorded (secrets included,
so tests can check what was sent; the fake never logs them)."""

from __future__ import annotations

import threading
from typing import Any

from aiohttp import web

from tests.fakes.slack_api import ServerThread


class FakeTokenEndpoint:
    """Use as a context manager; :meth:`token_url` is what ``--teams-token-url`` takes."""

    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._server = ServerThread(app)

    def __enter__(self) -> FakeTokenEndpoint:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def token_url(self, tenant: str = "botframework.com") -> str:
        return f"{self._server.base}/{tenant}/oauth2/v2.0/token"

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        with self._lock:
            self.requests.append({"tenant": request.match_info["tenant"], **form})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != self.client_id:
            return web.json_response(
                {
                    "error": "unauthorized_client",
                    "error_description": "AADSTS700016: Application with identifier "
                    f"'{form.get('client_id')}' was not found in the directory.\r\nTrace ID: 0",
                },
                status=400,
            )
        if form.get("client_secret") != self.client_secret:
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. "
                    "Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: 0",
                },
                status=401,
            )
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": "fake-access-token"})
