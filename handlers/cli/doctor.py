"""``servechain doctor``: check a configuration before anyone uses it, one line per finding.

Each line starts with ``ok``, ``warn``, ``skip`` (not checked, and why) or ``FAIL``, names the
area, says what was found and, when something is wrong, what to do about it. The exit code is
0 when nothing must be fixed and 1 when something must. Checks: the settings parse; Slack's
bot token (``auth.test``: valid, its scopes against ``manifest.yml`` from the
``x-oauth-scopes`` header, its workspace against ``SLACK_TEAM_IDS``), the signing secret, the
Socket Mode app token (with ``--socket``); the Teams app id, password, type and tenant, and
optionally the token endpoint (``--teams-token-url``); the database (reachable, schema
migrated, or the embedded store's journal intact); every person's time zone. No secret is
ever printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import available_timezones

from bot.dburl import is_postgres, mask_db
from bot.errors import StorageError
from handlers.cli.common import EXIT_FAILED, EXIT_OK, add_db_argument, setting_problems

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.cli.common import Commands

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "FAIL"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SIGNING_SECRET = re.compile(r"^[0-9a-f]{32}$")
APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
HTTP_TIMEOUT = 10
SLACK_APPS = "https://api.slack.com/apps"


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    status: str
    area: str
    what: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.area}: {self.what}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def register(commands: Commands) -> None:
    """Add ``doctor`` to the command line."""
    doctor = commands.add_parser(
        "doctor",
        help="check the configuration (tokens, scopes, secrets, database, time zones) and say what to fix",
        description="Check the configuration before anyone uses it: Slack token and scopes, signing secret, "
        "Socket Mode app token, Teams app credentials, the database and its schema, settings and time zones. "
        "One line per finding; exit 0 when all is well, 1 when something must be fixed.",
    )
    doctor.add_argument("--socket", action="store_true", help="check for Socket Mode (serve --socket)")
    doctor.add_argument(
        "--teams-token-url",
        metavar="URL",
        help="also try the Teams app id and password at this OAuth token endpoint (without it the report "
        "says which URL to use and that it was not checked)",
    )
    add_db_argument(doctor)


def run_from_environment(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """Read the settings (a malformed one is a finding, not a crash), run every check, print the report."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bot.settings import Settings

    out = stdout or sys.stdout
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as error:
        for name, problem in setting_problems(error):
            print(
                Finding(FAIL, "settings", f"{name}: {problem}", f"correct {name} and run doctor again").line(), file=out
            )
        return EXIT_FAILED
    if args.db:
        settings = settings.model_copy(update={"servechain_db": args.db})
    return report(settings, socket=args.socket, teams_token_url=args.teams_token_url, stdout=out)


def report(settings: Settings, *, socket: bool, teams_token_url: str | None, stdout: TextIO) -> int:
    """Print every finding; EXIT_FAILED if any must be fixed."""
    failed = False
    for finding in check_all(settings, socket=socket, teams_token_url=teams_token_url):
        print(finding.line(), file=stdout, flush=True)
        failed = failed or finding.status == FAIL
    return EXIT_FAILED if failed else EXIT_OK


def check_all(settings: Settings, *, socket: bool, teams_token_url: str | None) -> Iterator[Finding]:
    """Every check, in the order a newcomer sets things up."""
    yield Finding(OK, "settings", "every setting parses")
    yield from check_slack(settings, socket=socket)
    yield from check_teams(settings, token_url=teams_token_url)
    if not (_slack_configured(settings) or settings.teams_enabled):
        yield Finding(
            WARN,
            "settings",
            "neither Slack nor Teams is configured, so serve would only answer /healthz",
            "set SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN) and/or MICROSOFT_APP_ID",
        )
    yield from check_database(settings)


# --------------------------------------------------------------------------- Slack


def _secret(value: Any) -> str:
    return value.get_secret_value().strip() if value is not None else ""


def _slack_configured(settings: Settings) -> bool:
    return bool(_secret(settings.slack_bot_token) or _secret(settings.slack_signing_secret))


def check_slack(settings: Settings, *, socket: bool) -> Iterator[Finding]:
    """Bot token (auth.test: valid, scopes, workspace), signing secret, Socket Mode app token."""
    token = _secret(settings.slack_bot_token)
    secret = _secret(settings.slack_signing_secret)
    app_token = _secret(settings.slack_app_token)
    if not (token or secret or app_token or socket):
        yield Finding(SKIP, "slack", "Slack is off (SLACK_BOT_TOKEN is not set)")
        return
    if not token:
        yield Finding(
            FAIL,
            "slack",
            "SLACK_BOT_TOKEN is not set",
            f"copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions at {SLACK_APPS}",
        )
    elif not token.startswith("xoxb-"):
        yield Finding(
            FAIL,
            "slack",
            f"SLACK_BOT_TOKEN starts with {token[:5]!r}, not 'xoxb-'",
            "use the Bot User OAuth Token from OAuth & Permissions, not a user or app-level token",
        )
    else:
        yield from _check_bot_token(settings, token)
    if socket:
        yield from _check_app_token(settings, app_token)
        if secret:
            yield Finding(OK, "slack", "SLACK_SIGNING_SECRET is set (not needed in Socket Mode)")
    elif not secret:
        yield Finding(
            FAIL,
            "slack",
            "SLACK_SIGNING_SECRET is not set (HTTP mode checks every request's signature)",
            f"copy the Signing Secret from Basic Information at {SLACK_APPS}, or check with --socket "
            "if you run serve --socket",
        )
    elif not SIGNING_SECRET.match(secret):
        yield Finding(
            WARN,
            "slack",
            "SLACK_SIGNING_SECRET does not look like a Slack signing secret (32 hex digits)",
            "copy the Signing Secret (not the Client Secret or Verification Token) from Basic Information",
        )
    else:
        yield Finding(OK, "slack", "SLACK_SIGNING_SECRET is set")


def _slack_client(settings: Settings, token: str) -> Any:
    from slack_sdk import WebClient

    return WebClient(token=token, base_url=settings.slack_api_url, timeout=HTTP_TIMEOUT)


def _slack_error(error: Exception) -> str:
    from slack_sdk.errors import SlackApiError

    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or error.response.status_code)
    return f"{type(error).__name__}: {error}"


def _check_bot_token(settings: Settings, token: str) -> Iterator[Finding]:
    from slack_sdk.errors import SlackApiError

    from bot.access import org_ids
    from handlers.slack.manifest import bot_scopes

    try:
        answer = _slack_client(settings, token).auth_test()
    except SlackApiError as error:
        code = _slack_error(error)
        fix = (
            "the token was revoked or the app uninstalled: reinstall the app and copy the new Bot User OAuth Token"
            if code in ("token_revoked", "account_inactive", "invalid_auth", "not_authed")
            else "check SLACK_BOT_TOKEN and try again"
        )
        yield Finding(FAIL, "slack", f"Slack refused SLACK_BOT_TOKEN ({code})", fix)
        return
    except Exception as error:  # connection refused, DNS, timeout: Slack's answer is unknown
        yield Finding(
            FAIL,
            "slack",
            f"could not reach Slack at {settings.slack_api_url} ({_slack_error(error)})",
            "check the network, proxy settings and SLACK_API_URL",
        )
        return
    team_id, team = str(answer.get("team_id") or ""), str(answer.get("team") or "")
    yield Finding(OK, "slack", f"SLACK_BOT_TOKEN is valid for workspace {team} ({team_id})")
    yield from _check_scopes(answer.headers, bot_scopes())
    pinned = org_ids(settings.slack_team_ids)
    if not pinned:
        yield Finding(OK, "slack", f"serving the token's own workspace {team_id} (SLACK_TEAM_IDS is empty)")
    elif team_id in pinned:
        yield Finding(OK, "slack", f"SLACK_TEAM_IDS includes the token's workspace {team_id}")
    else:
        yield Finding(
            FAIL,
            "slack",
            f"the bot token belongs to workspace {team_id}, which SLACK_TEAM_IDS ({', '.join(pinned)}) does not "
            "list, so every request from it would be refused",
            f"add {team_id} to SLACK_TEAM_IDS, or use the bot token of the workspace you meant",
        )


def _check_scopes(headers: Any, wanted: set[str]) -> Iterator[Finding]:
    raw = next((str(v) for k, v in dict(headers or {}).items() if str(k).lower() == "x-oauth-scopes"), None)
    if raw is None:
        yield Finding(SKIP, "slack", "the token's scopes were not checked: Slack sent no x-oauth-scopes header")
        return
    granted = {scope.strip() for scope in raw.split(",") if scope.strip()}
    missing, extra = sorted(wanted - granted), sorted(granted - wanted)
    if missing:
        yield Finding(
            FAIL,
            "slack",
            f"the bot token lacks scopes {', '.join(missing)} that servechain needs",
            "add them under OAuth & Permissions (or update the app from `servechain slack manifest`), reinstall "
            "the app and copy the new token",
        )
    else:
        yield Finding(OK, "slack", "the bot token has every scope in manifest.yml")
    if extra:
        yield Finding(
            WARN,
            "slack",
            f"the bot token also has scopes servechain does not use: {', '.join(extra)}",
            "remove them under OAuth & Permissions and reinstall (least privilege)",
        )


def _check_app_token(settings: Settings, app_token: str) -> Iterator[Finding]:
    from slack_sdk.errors import SlackApiError

    if not app_token:
        yield Finding(
            FAIL,
            "slack",
            "SLACK_APP_TOKEN is not set (Socket Mode needs an app-level token)",
            "create an app-level token with connections:write under Basic Information > App-Level Tokens "
            "and set SLACK_APP_TOKEN",
        )
        return
    if not app_token.startswith("xapp-"):
        yield Finding(
            FAIL,
            "slack",
            f"SLACK_APP_TOKEN starts with {app_token[:5]!r}, not 'xapp-'",
            "use the app-level token (Basic Information > App-Level Tokens), not the bot token",
        )
        return
    try:
        _slack_client(settings, app_token).apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        yield Finding(
            FAIL,
            "slack",
            f"Slack refused SLACK_APP_TOKEN for Socket Mode ({_slack_error(error)})",
            "check the token has connections:write and Socket Mode is on for the app",
        )
        return
    except Exception as error:
        yield Finding(
            FAIL,
            "slack",
            f"could not reach Slack at {settings.slack_api_url} ({_slack_error(error)})",
            "check the network, proxy settings and SLACK_API_URL",
        )
        return
    yield Finding(OK, "slack", "SLACK_APP_TOKEN opens a Socket Mode connection")


# --------------------------------------------------------------------------- Teams


def _token_endpoint_hint(settings: Settings) -> str:
    tenant = settings.microsoft_app_tenant_id.strip()
    authority = tenant if settings.microsoft_app_type == "SingleTenant" and tenant else "botframework.com"
    return f"https://login.microsoftonline.com/{authority}/oauth2/v2.0/token"


def check_teams(settings: Settings, *, token_url: str | None) -> Iterator[Finding]:
    """App id, password, app type, tenants, and the token endpoint when asked."""
    from bot.access import org_ids

    app_id = settings.microsoft_app_id.strip()
    password = _secret(settings.microsoft_app_password)
    tenant = settings.microsoft_app_tenant_id.strip()
    if not settings.teams_enabled:
        why = "SERVECHAIN_TEAMS=0" if app_id else "MICROSOFT_APP_ID is not set"
        yield Finding(SKIP, "teams", f"Teams is off ({why})")
        return
    if not app_id:
        yield Finding(
            WARN,
            "teams",
            "SERVECHAIN_TEAMS=1 without MICROSOFT_APP_ID: Teams runs with no authentication",
            "only for local development; set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD for real use",
        )
        return
    failed = False
    if not GUID.match(app_id):
        failed = True
        yield Finding(
            FAIL,
            "teams",
            "MICROSOFT_APP_ID is not a GUID",
            "copy the Microsoft App ID from the Azure Bot resource's Configuration page",
        )
    else:
        yield Finding(OK, "teams", f"MICROSOFT_APP_ID is {app_id}")
    if settings.microsoft_app_type not in APP_TYPES:
        failed = True
        yield Finding(
            FAIL,
            "teams",
            f"MICROSOFT_APP_TYPE is {settings.microsoft_app_type!r}",
            f"use one of {', '.join(APP_TYPES)}",
        )
    if settings.microsoft_app_type != "UserAssignedMSI" and not password:
        failed = True
        yield Finding(
            FAIL,
            "teams",
            "MICROSOFT_APP_PASSWORD is not set",
            "create a client secret for the app registration (Certificates & secrets) and set it",
        )
    if tenant and not GUID.match(tenant):
        failed = True
        yield Finding(
            FAIL,
            "teams",
            "MICROSOFT_APP_TENANT_ID is not a GUID",
            "copy the Directory (tenant) ID from the app registration's Overview page",
        )
    elif settings.microsoft_app_type == "SingleTenant" and not tenant:
        failed = True
        yield Finding(
            FAIL,
            "teams",
            "MICROSOFT_APP_TYPE is SingleTenant but MICROSOFT_APP_TENANT_ID is not set",
            "set MICROSOFT_APP_TENANT_ID to the Directory (tenant) ID",
        )
    if not org_ids(f"{settings.teams_tenant_ids} {tenant}"):
        yield Finding(
            FAIL,
            "teams",
            "neither TEAMS_TENANT_IDS nor MICROSOFT_APP_TENANT_ID is set, so every Teams tenant would be refused",
            "set TEAMS_TENANT_IDS to your Microsoft 365 tenant id(s)",
        )
    else:
        yield Finding(OK, "teams", f"serving tenants {', '.join(org_ids(f'{settings.teams_tenant_ids} {tenant}'))}")
    if token_url is None:
        yield Finding(
            SKIP,
            "teams",
            "the app id and password were not tried against the token endpoint (pass "
            f"--teams-token-url {_token_endpoint_hint(settings)} to check them)",
        )
    elif not failed and settings.microsoft_app_type != "UserAssignedMSI":
        yield _check_token_endpoint(token_url, app_id, password)


def _check_token_endpoint(url: str, app_id: str, password: str) -> Finding:
    """Ask for a Bot Framework token with client credentials, as the Teams front end will."""
    import urllib.error
    import urllib.parse
    import urllib.request

    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": app_id,
            "client_secret": password,
            "scope": BOT_FRAMEWORK_SCOPE,
        }
    ).encode()
    request = urllib.request.Request(
        url, data=form, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read() or b"{}")
        except ValueError:
            detail = {}
        reason = str(detail.get("error_description") or detail.get("error") or error.reason).splitlines()[0]
        return Finding(
            FAIL,
            "teams",
            f"the token endpoint refused the app id and password ({error.code}: {reason})",
            "check MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD (is the secret expired?) and the tenant",
        )
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = str(getattr(error, "reason", "") or error)
        return Finding(
            FAIL,
            "teams",
            f"could not reach the token endpoint {url} ({reason})",
            "check the network and proxy settings, or the --teams-token-url given",
        )
    if not isinstance(body, dict) or not body.get("access_token"):
        return Finding(
            FAIL,
            "teams",
            f"the token endpoint {url} answered without an access token",
            "check --teams-token-url points at .../oauth2/v2.0/token",
        )
    return Finding(OK, "teams", "the app id and password get a Bot Framework token")


# --------------------------------------------------------------------------- database and time zones


def check_database(settings: Settings) -> Iterator[Finding]:
    """Reachable and migrated (PostgreSQL) or intact (embedded), then every person's time zone."""
    from storage import doctor as storage_doctor

    url = settings.servechain_db
    where = mask_db(url)
    if is_postgres(url):
        try:
            schema = storage_doctor.postgres_schema(url.strip())
        except StorageError as error:
            yield Finding(
                FAIL,
                "database",
                f"can't connect to {where} ({error})",
                "check SERVECHAIN_DB (host, port, user, password, database name) and that the server runs",
            )
            return
        if schema.applied < schema.shipped:
            yield Finding(
                FAIL,
                "database",
                f"{where} is at schema version {schema.applied}; this release needs {schema.shipped}",
                "run `servechain db upgrade` (serve also applies it at start-up)",
            )
            return
        if schema.applied > schema.shipped:
            yield Finding(
                FAIL,
                "database",
                f"{where} is at schema version {schema.applied}, newer than this release ({schema.shipped})",
                "run the servechain release that migrated it, or a newer one",
            )
            return
        yield Finding(OK, "database", f"{where} is reachable and at schema version {schema.applied}")
    else:
        if not storage_doctor.embedded_exists(url):
            yield Finding(OK, "database", f"the embedded store {where} does not exist yet; the first start creates it")
            return
        from storage.repair import check

        try:
            damage = check(storage_doctor.embedded_path(url))
        except StorageError as error:
            yield Finding(
                FAIL,
                "database",
                f"the embedded store {where} can't be read ({error})",
                "point SERVECHAIN_DB at the store file, or run `servechain db check` for details",
            )
            return
        if not damage.clean:
            first = damage.problems[0].line()
            yield Finding(
                FAIL,
                "database",
                f"the embedded store {where} has {len(damage.problems)} damaged record(s), first at {first}",
                "run `servechain db repair`",
            )
            return
        yield Finding(OK, "database", f"the embedded store {where} is intact ({damage.records} journal records)")
    yield from check_time_zones(settings)


def check_time_zones(settings: Settings) -> Iterator[Finding]:
    """Every person's time zone must be an IANA zone the system knows (working hours count in it)."""
    from storage import doctor as storage_doctor

    try:
        people = storage_doctor.people(settings.servechain_db, settings.servechain_workspace)
    except StorageError as error:
        yield Finding(FAIL, "time zones", f"could not read people from the store ({error})")
        return
    known = available_timezones()
    unknown = [person for person in people if person.tz not in known]
    if not people:
        yield Finding(
            WARN, "time zones", "nobody is in the store yet", "import the org with `servechain org import FILE`"
        )
        return
    if unknown:
        named = ", ".join(f"{person.handle or person.id} ({person.tz!r})" for person in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        yield Finding(
            FAIL,
            "time zones",
            f"unknown time zones for {named}{more}",
            "give each an IANA zone such as Europe/Berlin in the org file and import it again",
        )
        return
    yield Finding(OK, "time zones", f"all {len(people)} people have a known time zone")
