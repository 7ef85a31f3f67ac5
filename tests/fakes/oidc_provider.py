"""A fake OpenID provider on 127.0.0.1 (an ephemeral port), shaped like Sign in with Slack or
Microsoft Entra ID v2.0.

It serves the discovery document, the signing keys (JWKS), ``/authorize`` (which approves at
once as :attr:`FakeOidcProvider.user` and redirects back with ``code`` and ``state``) and the
token endpoint (which checks the client, the code, the redirect URI and the PKCE verifier, and
answers a real RS256-signed ID token carrying the nonce). Every call is recorded in
:attr:`calls`. Faults are attributes a test sets: :attr:`deny`, :attr:`token_status`,
:attr:`token_delay`, :attr:`rate_limit`, :attr:`jwks_status`, :attr:`jwks_unreachable`,
:attr:`id_token_overrides` (``None`` removes a claim), :attr:`foreign_key` (sign with a key the
JWKS doesn't hold).

The signing key is made per instance, so no token or key is ever committed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import BasicAuth, web
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.slack_api import ServerThread

Shape = Literal["slack", "entra"]


@dataclass
class OidcCall:
    """One request the provider got: which endpoint and its parameters (secrets included, for
    the test's eyes only; the fake never logs them)."""

    endpoint: str
    params: dict[str, str]
    status: int = 200


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    method: str | None
    claims: dict[str, Any] = field(default_factory=dict)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeOidcProvider:
    """Use as a context manager; :meth:`settings_env` gives the servechain settings pointing at it."""

    def __init__(
        self,
        *,
        shape: Shape,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret-5b1d",
        tenant: str = "organizations",
    ) -> None:
        self.shape = shape
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant = tenant
        self.user: dict[str, Any] = {}
        """Claims of the person who approves (e.g. ``https://slack.com/user_id``, ``oid``, ``tid``, ``email``)."""
        self.calls: list[OidcCall] = []
        self.issued: list[str] = []
        """Every code, access token and ID token handed out (so a test can check none was logged)."""
        self.deny = False
        self.token_status: int | None = None
        self.token_error: str | None = None
        self.token_delay = 0.0
        self.rate_limit: int | None = None
        """Answer the token endpoint 429 with this Retry-After."""
        self.jwks_status: int | None = None
        self.jwks_unreachable = False
        self.id_token_overrides: dict[str, Any] = {}
        self.foreign_key = False
        self._key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig"}, private=True)
        self._foreign_key = RSAKey.generate_key(2048, parameters={"kid": str(self._key.kid)}, private=True)
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._dead_port = _closed_port()
        app = web.Application()
        if shape == "slack":
            app.router.add_get("/.well-known/openid-configuration", self._discovery)
            app.router.add_get("/openid/connect/authorize", self._authorize)
            app.router.add_post("/api/openid.connect.token", self._token)
            app.router.add_get("/openid/connect/keys", self._jwks)
        else:
            app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery)
            app.router.add_get("/{tenant}/oauth2/v2.0/authorize", self._authorize)
            app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
            app.router.add_get("/{tenant}/discovery/v2.0/keys", self._jwks)
        self._server = ServerThread(app)

    def __enter__(self) -> FakeOidcProvider:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def base(self) -> str:
        return self._server.base

    def settings_env(self) -> dict[str, str]:
        """The ``DASHBOARD_*`` settings that point servechain at this provider."""
        if self.shape == "slack":
            return {
                "dashboard_slack_client_id": self.client_id,
                "dashboard_slack_client_secret": self.client_secret,
                "dashboard_slack_issuer": self.base,
            }
        return {
            "dashboard_entra_client_id": self.client_id,
            "dashboard_entra_client_secret": self.client_secret,
            "dashboard_entra_tenant_id": self.tenant,
            "dashboard_entra_authority": self.base + "/",
        }

    def rotate_key(self) -> None:
        """Sign with a new key (new key id) from now on, as providers do from time to time."""
        self._key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig"}, private=True)

    def endpoint_calls(self, endpoint: str) -> list[OidcCall]:
        with self._lock:
            return [call for call in self.calls if call.endpoint == endpoint]

    # --- endpoints ----------------------------------------------------------------------

    def _record(self, endpoint: str, params: dict[str, str], status: int = 200) -> None:
        with self._lock:
            self.calls.append(OidcCall(endpoint, params, status))

    def _issuer(self, tenant: str | None = None) -> str:
        if self.shape == "slack":
            return self.base
        return f"{self.base}/{tenant or self.tenant}/v2.0"

    def _paths(self, tenant: str) -> dict[str, str]:
        if self.shape == "slack":
            return {
                "authorization_endpoint": f"{self.base}/openid/connect/authorize",
                "token_endpoint": f"{self.base}/api/openid.connect.token",
                "jwks_uri": f"{self.base}/openid/connect/keys",
            }
        return {
            "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
            "jwks_uri": f"{self.base}/{tenant}/discovery/v2.0/keys",
        }

    async def _discovery(self, request: web.Request) -> web.Response:
        tenant = request.match_info.get("tenant", "")
        self._record("discovery", {"tenant": tenant} if tenant else {})
        issuer = self._issuer("{tenantid}" if tenant in ("common", "organizations") else tenant)
        paths = self._paths(tenant)
        if self.jwks_unreachable:
            paths["jwks_uri"] = f"http://127.0.0.1:{self._dead_port}/keys"
        return web.json_response(
            {
                "issuer": issuer,
                **paths,
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "email"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        status = self.jwks_status or 200
        self._record("jwks", {}, status)
        if status != 200:
            return web.json_response({"error": "temporarily_unavailable"}, status=status)
        return web.json_response({"keys": [self._key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self._record("authorize", params)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or not redirect_uri:
            return web.Response(status=400, text="unknown client or no redirect_uri")
        if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
            return web.Response(status=400, text="unsupported request")
        state = params.get("state", "")
        if self.deny:
            answer = {"error": "access_denied", "error_description": "The user cancelled.", "state": state}
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self.issued.append(code)
                self._grants[code] = _Grant(
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    nonce=params.get("nonce"),
                    challenge=params.get("code_challenge"),
                    method=params.get("code_challenge_method"),
                    claims=dict(self.user),
                )
            answer = {"code": code, "state": state}
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    def _oauth_error(self, error: str, status: int) -> web.Response:
        if self.shape == "slack":  # Slack's Web API: 200 with ok false
            return web.json_response({"ok": False, "error": error})
        return web.json_response({"error": error, "error_description": f"AADSTS: {error}"}, status=status)

    async def _token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self.rate_limit is not None:
            self._record("token", form, 429)
            return web.json_response(
                {"error": "ratelimited"}, status=429, headers={"Retry-After": str(self.rate_limit)}
            )
        if self.token_status is not None:
            self._record("token", form, self.token_status)
            return web.json_response({"error": "server_error"}, status=self.token_status)
        self._record("token", form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if "Authorization" in request.headers:
            basic = BasicAuth.decode(request.headers["Authorization"])
            client_id, client_secret = basic.login, basic.password
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._oauth_error("invalid_client", 401)
        if self.token_error:
            return self._oauth_error(self.token_error, 400)
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return self._oauth_error("invalid_grant", 400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._oauth_error("invalid_grant", 400)
        if grant.challenge is not None:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if grant.method != "S256" or digest != grant.challenge:
                return self._oauth_error("invalid_grant", 400)
        access_token = secrets.token_urlsafe(24)
        id_token = self._id_token(grant, access_token)
        with self._lock:
            self.issued.extend([access_token, id_token])
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }
        if self.shape == "slack":
            body["ok"] = True
        return web.json_response(body)

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        now = int(time.time())
        half = hashlib.sha256(access_token.encode()).digest()[:16]  # at_hash, as Slack sends it
        claims: dict[str, Any] = {
            "iss": self._issuer(str(grant.claims.get("tid") or self.tenant)),
            "aud": grant.client_id,
            "sub": str(grant.claims.get("https://slack.com/user_id") or grant.claims.get("oid") or "subject"),
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "at_hash": base64.urlsafe_b64encode(half).rstrip(b"=").decode(),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if self.shape == "entra":
            claims["ver"] = "2.0"
        claims.update(grant.claims)
        for name, value in self.id_token_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self._foreign_key if self.foreign_key else self._key  # same key id, another key: can't verify
        return jwt.encode({"alg": "RS256", "kid": str(self._key.kid), "typ": "JWT"}, claims, key)
