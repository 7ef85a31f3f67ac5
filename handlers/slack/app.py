"""Build the Bolt app: the Web API client, request verification, our authorize, the listeners."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from handlers.slack.clients import interactive_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners import register_listeners


def build_bolt_app(
    *, bot_token: str, signing_secret: str | None, api_url: str, deps: SlackDeps, executor: Executor
) -> App:
    """A Bolt app that makes no network call at start-up (``authorize`` answers from the token
    we were given instead of calling ``auth.test``) and acks before doing any work.

    Without a signing secret (Socket Mode only) requests are not signed, so not verified.
    ``executor`` runs listeners, which only ack and hand work to ``deps.work``."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        deps.seen_team(team_id or "")
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=bot_token)

    app = App(
        name="servechain",
        client=interactive_client(api_url),
        signing_secret=signing_secret or None,
        request_verification_enabled=bool(signing_secret),
        authorize=authorize,
        process_before_response=False,
        listener_executor=executor,
    )
    register_listeners(app, deps)
    return app
