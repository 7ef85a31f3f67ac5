"""Bot Framework's side of Teams authentication, faked on 127.0.0.1: the OpenID metadata and
signing keys (JWKS) botbuilder fetches to check an incoming activity's token, a signing key
made per run (so no key or token is ever committed), and tokens signed with it.

Point botbuilder at it with ``TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL`` = :attr:`OpenIdServer.url`
and ``TO_BOT_FROM_CHANNEL_TOKEN_ISSUER`` = :data:`ISSUER` on the configuration it reads."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"
"""The issuer of the tokens the Bot Framework channel sends to bots."""


class OpenIdServer:
    """OpenID metadata and JWKS on 127.0.0.1 in a thread (botbuilder fetches them with blocking
    ``requests``, which must not wait on the test's own event loop)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        keys = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://{self.headers['Host']}"
                body = keys if self.path == "/keys" else json.dumps({"jwks_uri": f"{base}/keys"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/.well-known/openidconfiguration"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenIdServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def signing_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A fresh RSA key and its public JWK (endorsed for ``msteams``), named ``kid``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "endorsements": ["msteams"]})
    return key, jwk


def channel_token(
    key: rsa.RSAPrivateKey, kid: str, *, app_id: str, service_url: str, lifetime: float = 600, **claims: Any
) -> str:
    """A token as the Bot Framework channel signs it for bot ``app_id`` and ``service_url``."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": app_id, "serviceurl": service_url, "nbf": now - 60, "exp": now + int(lifetime)}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})
