"""Settings read once from the environment at start-up and passed down (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.access import PersonFigures
from bot.dburl import check_db
from bot.digest.settings import DigestSettings
from bot.nudges import NudgeSettings
from bot.pulse import PulseSettings
from bot.workhours import WorkingHours


class Settings(BaseSettings):
    """Every setting servechain reads; names are the environment variables."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    servechain_db: str = Field(
        default="servechain.json",
        description="TinyDB file path (embedded default) or a postgresql:// URL; other connection strings "
        "(libpq key=value pairs, other schemes) are refused.",
    )
    servechain_workspace: str = Field(default="default", description="The organisation every record belongs to.")
    port: int = Field(default=3000, ge=0, le=65535, description="HTTP port for `servechain serve`.")
    host: str = Field(default="0.0.0.0", description="Interface `servechain serve` binds to.")

    slack_bot_token: SecretStr | None = Field(default=None, description="Slack bot token (xoxb-...).")
    slack_signing_secret: SecretStr | None = Field(default=None, description="Slack request signing secret.")
    slack_app_token: SecretStr | None = Field(default=None, description="Slack app-level token for Socket Mode.")
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Base URL for every Slack Web API call (tests point it at a local fake).",
    )

    slack_team_ids: str = Field(
        default="",
        description="Slack team ids this deployment serves (comma-separated); empty: the first team seen is "
        "pinned and any other is refused.",
    )
    microsoft_app_id: str = Field(default="", description="Bot Framework app id; empty runs Teams without auth.")
    microsoft_app_password: SecretStr = Field(default=SecretStr(""), description="Bot Framework app password.")
    microsoft_app_tenant_id: str = Field(default="", description="Tenant for single-tenant bots.")
    teams_tenant_ids: str = Field(
        default="",
        description="Microsoft 365 tenant ids served besides MICROSOFT_APP_TENANT_ID (comma-separated); empty: "
        "the first tenant seen is pinned and any other is refused.",
    )
    microsoft_app_type: str = Field(default="MultiTenant", description="MultiTenant, SingleTenant or UserAssignedMSI.")

    servechain_teams: bool | None = Field(
        default=None,
        description="Force the Teams front end on (1) or off (0); by default it is on when MICROSOFT_APP_ID is set.",
    )

    graph_tenant_id: str = Field(default="", description="Microsoft Entra tenant whose users `org sync graph` reads.")
    graph_client_id: str = Field(default="", description="App registration (client) id with User.Read.All.")
    graph_client_secret: SecretStr = Field(default=SecretStr(""), description="That app's client secret.")
    graph_api_url: str = Field(
        default="https://graph.microsoft.com/v1.0/",
        description="Base URL of Microsoft Graph (tests point it at a local fake).",
    )
    graph_login_url: str = Field(
        default="https://login.microsoftonline.com/",
        description="Base URL of the Microsoft Entra token endpoint (tests point it at a local fake).",
    )
    org_sync: Literal["", "slack", "graph"] = Field(
        default="", description="Directory the scheduler syncs the org from daily: slack, graph or empty (off)."
    )
    org_sync_file: str = Field(
        default="", description="Org file (YAML/CSV) the daily sync merges in: teams, managers, countries."
    )
    org_sync_hour: int = Field(default=6, ge=0, le=23, description="UTC hour from which the daily org sync runs.")
    directory_max_wait_seconds: float = Field(
        default=60.0, ge=0, description="Longest Retry-After a directory sync waits before giving up."
    )

    kudos_daily_allowance: int = Field(default=5, ge=0, description="Kudos a person may give per day.")
    working_hours: WorkingHours = Field(
        default_factory=WorkingHours,
        description='Org working hours and holidays as JSON, e.g. {"start": "09:00", "holidays": ["2026-12-25"]}.',
    )
    nudges: NudgeSettings = Field(
        default_factory=NudgeSettings,
        description='Nudge and escalation thresholds as JSON, e.g. {"unacknowledged_hours": 4}.',
    )
    pulse: PulseSettings = Field(
        default_factory=PulseSettings,
        description='Weekly anonymous pulse as JSON, e.g. {"min_answers": 3, "min_team_size": 5}.',
    )
    digest: DigestSettings = Field(
        default_factory=DigestSettings, description="Weekly manager digest timing and trend length as JSON."
    )
    scheduler_interval: float = Field(default=60.0, gt=0, description="Seconds between scheduler passes.")
    person_figures: PersonFigures = Field(
        default="private",
        description="Who may see one person's responsiveness figures: private (the person and their managers) "
        "or everyone. Team and team-link figures are visible to everyone.",
    )
    delivery_concurrency: int = Field(
        default=64,
        ge=1,
        le=256,
        description="How many outbox messages one process sends at once (each conversation's messages "
        "still go one at a time, in order).",
    )
    work_concurrency: int = Field(
        default=32,
        ge=1,
        le=256,
        description="How many acknowledged commands and clicks one process runs at once (mostly waiting on "
        "the chat platform's answers; each person's still run one at a time, in the order they came).",
    )
    delivery_rate_limits: bool = Field(
        default=True,
        description="Keep Slack's and Teams' published rate limits when sending (per conversation and per "
        "workspace or tenant), App Home publishes included; each process keeps its own count, splitting the "
        "workspace and tenant budgets by DELIVERY_REPLICAS. Off only against a test double of the platform "
        "that has none.",
    )
    delivery_process: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Send the outbox from a process of its own beside serve's, so delivery has a core of "
        "its own instead of sharing one with the commands (Python runs one thread at a time per process): "
        "on, off, or auto (on with PostgreSQL; off with the embedded store, whose file both processes "
        "would then share).",
    )
    delivery_replicas: int = Field(
        default=1,
        ge=1,
        le=64,
        description="How many serve replicas send at once: each keeps 1/N of the per-workspace and per-tenant "
        "rate limits (Teams' 50 a second per tenant, Slack's method tiers), so together they stay within them. "
        "Per-conversation limits are not split (a conversation's messages go one at a time across replicas).",
    )
    inbox_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Seconds an acknowledged command or click stays with the process that took it before "
        "another (a restart, another replica) may run it.",
    )
    retention_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Days sent messages, finished inbox work, scheduler claims and idempotency keys are kept "
        "before a daily job prunes them (0: keep everything). Nothing pending and no card reference is pruned.",
    )
    shutdown_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="On SIGTERM, seconds /readyz answers 503 while the server still accepts requests, so load "
        "balancers stop sending new ones before it stops listening.",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="On SIGTERM, seconds the server waits for requests in flight and acknowledged work to finish "
        "before it exits (what is left is taken over by another replica when its lease runs out).",
    )
    dashboard_slack_client_id: str = Field(
        default="", description="Sign in with Slack (OpenID Connect) for the dashboard: the Slack app's client id."
    )
    dashboard_slack_client_secret: SecretStr = Field(
        default=SecretStr(""), description="That Slack app's client secret."
    )
    dashboard_slack_issuer: str = Field(
        default="https://slack.com",
        description="Slack's OpenID issuer; its discovery document is at /.well-known/openid-configuration "
        "(tests point it at a local fake).",
    )
    dashboard_entra_tenant_id: str = Field(
        default="",
        description="Microsoft Entra ID tenant for dashboard sign-in: a tenant id, or organizations for several "
        "tenants (then TEAMS_TENANT_IDS / MICROSOFT_APP_TENANT_ID say which are served).",
    )
    dashboard_entra_client_id: str = Field(default="", description="The Entra app registration (client) id.")
    dashboard_entra_client_secret: SecretStr = Field(
        default=SecretStr(""), description="That app registration's client secret."
    )
    dashboard_entra_authority: str = Field(
        default="https://login.microsoftonline.com/",
        description="Base URL of the Microsoft identity platform (tests point it at a local fake).",
    )
    dashboard_session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs the dashboard's session cookies (at least 32 random characters; changing it signs "
        "everyone out).",
    )
    dashboard_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a dashboard sign-in lasts, in hours."
    )
    dashboard_url: str = Field(
        default="",
        description="The dashboard's public base URL, e.g. https://servechain.example.com: redirect URIs, the "
        "same-origin check and Secure cookies; empty: taken from each request (fine on one host without a proxy).",
    )
    dashboard_help_contact: str = Field(
        default="",
        description="Who a person the dashboard doesn't know should ask, e.g. '#it-help' or it@example.com.",
    )
    servechain_replica: str = Field(
        default="",
        description="This process's name in logs and leases (default: the host name, e.g. the Kubernetes pod).",
    )

    @field_validator("servechain_db")
    @classmethod
    def _known_store(cls, value: str) -> str:
        """A PostgreSQL URL or a file path; the error never repeats the value (it may hold a password)."""
        return check_db(value)

    @model_validator(mode="after")
    def _org_sync_configured(self) -> Settings:
        """The daily org sync's directory needs its credentials (named, never echoed)."""
        if self.org_sync == "slack" and not (self.slack_bot_token and self.slack_bot_token.get_secret_value()):
            raise ValueError("ORG_SYNC=slack needs SLACK_BOT_TOKEN")
        if self.org_sync == "graph":
            missing = [
                name
                for name, value in (
                    ("GRAPH_TENANT_ID", self.graph_tenant_id),
                    ("GRAPH_CLIENT_ID", self.graph_client_id),
                    ("GRAPH_CLIENT_SECRET", self.graph_client_secret.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"ORG_SYNC=graph needs {', '.join(missing)}")
        return self

    @property
    def slack_enabled(self) -> bool:
        """Slack runs when both its bot token and signing secret are set."""
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def teams_enabled(self) -> bool:
        """Teams runs when an app id is set, or when forced on (then without auth if no app id)."""
        if self.servechain_teams is not None:
            return self.servechain_teams
        return bool(self.microsoft_app_id)
