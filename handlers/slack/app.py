"""Build the Bolt app: the Web API client, request verification, our authorize, the listeners."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import cast

import urllib3
from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult

from bot.ports import NO_TELEMETRY, Telemetry
from handlers.slack.clients import interactive_client
from handlers.slack.deps import SlackDeps
from handlers.slack.listeners import register_listeners
from handlers.slack.transport import pooled_copy


def build_bolt_app(
    *,
    bot_token: str,
    signing_secret: str | None,
    api_url: str,
    deps: SlackDeps,
    executor: Executor,
    admit: Callable[[str | None], bool] = lambda _team: True,
    refusal: str | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
    pool: urllib3.PoolManager | None = None,
) -> App:
    """A Bolt app that makes no network call at start-up (``authorize`` answers from the token
    we were given instead of calling ``auth.test``) and acks before doing any work.

    Without a signing secret (Socket Mode only) requests are not signed, so not verified.
    Listeners only hand work to ``deps.work`` and ack, so Bolt runs them in the thread that
    dispatches the request (``process_before_response``): on ``executor`` (now only for lazy
    listeners, which we have none of) the dispatching thread polled for the ack every 10 ms.
    A team that
    ``admit`` refuses is not authorized (Bolt then answers ``refusal``): the HTTP endpoint
    refuses such teams before Bolt, this covers Socket Mode. Every Web API call the listeners
    make is counted to ``telemetry`` and goes over ``pool``'s keep-alive connections (a new
    pool if None).

    Bolt gives each request its own plain ``WebClient``, built from ``app.client``'s settings
    (``App._init_context``): our client class does not survive that, so a middleware, which runs
    after Bolt's own (authorization included), swaps it for the same client on our pool."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        if not admit(team_id):
            return None
        deps.seen_team(team_id or "")
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=bot_token)

    client = interactive_client(api_url, telemetry=telemetry, pool=pool)

    def on_our_pool(context: BoltContext, next_: Callable[[], BoltResponse]) -> BoltResponse:
        if context.client is not None:
            context["client"] = pooled_copy(context.client, client.pool)
        return next_()

    app = App(
        name="servechain",
        client=client,
        signing_secret=signing_secret or None,
        request_verification_enabled=bool(signing_secret),
        authorize=cast(Callable[..., AuthorizeResult], authorize),  # Bolt takes None as "not installed here"
        process_before_response=True,
        listener_executor=executor,
        user_facing_authorize_error_message=refusal,
    )
    app.use(on_our_pool)
    register_listeners(app, deps)
    return app
