"""``servechain serve`` for ``benchmarks/delivery_bench.py``, with Teams' identity endpoints
pointed at loopback fakes, so activities are authenticated as in production without reaching
Microsoft.

- Incoming: botbuilder checks every activity's token against the OpenID metadata and signing
  keys at ``$BENCH_TEAMS_OPENID_URL`` (``tests/fakes/bot_openid.py``), issuer
  ``$BENCH_TEAMS_ISSUER``: the same check, and the same cost, as against Microsoft's keys.
- Outgoing: the Bot Connector client would ask Microsoft Entra for a token (msal, which only
  takes an https authority, so a loopback fake can't stand in); here it gets a fixed token,
  which the fake connector does not check. Entra's token is cached for an hour in production,
  so this leaves out one call per hour.

    python benchmarks/bench_serve.py serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def patch() -> None:
    """Point botbuilder at the fakes (see above)."""
    from botframework.connector.auth import MicrosoftAppCredentials

    from handlers.teams.adapter import BotFrameworkConfig

    config: type = BotFrameworkConfig  # botbuilder reads these attributes with getattr
    config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = os.environ["BENCH_TEAMS_OPENID_URL"]  # type: ignore[attr-defined]
    config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = os.environ["BENCH_TEAMS_ISSUER"]  # type: ignore[attr-defined]

    def fixed_token(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        return "bench-connector-token-not-real"

    MicrosoftAppCredentials.get_access_token = fixed_token  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    from handlers.cli import main as servechain

    return servechain(argv)


if "BENCH_TEAMS_OPENID_URL" in os.environ:
    # At import, not in main(): the delivery process (DELIVERY_PROCESS) is started with
    # multiprocessing's spawn, which imports this script again (as __mp_main__) but does not
    # run main(); it sends to Teams, so it needs the fixed token too.
    patch()

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
