"""Slack front end on slack-bolt: :class:`SlackFrontEnd` serves ``POST /slack/events`` for
``servechain serve`` (HTTP) or holds the Socket Mode connection for ``servechain serve --socket``."""

from __future__ import annotations

from handlers.slack.frontend import EVENTS_PATH, SLACK_KEY, SlackConfigError, SlackFrontEnd, delivery_notifier

__all__ = ["EVENTS_PATH", "SLACK_KEY", "SlackConfigError", "SlackFrontEnd", "delivery_notifier"]
