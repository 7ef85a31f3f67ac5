"""A last line of defence for secrets in logs: every record the process's log handlers write has
each configured secret value (tokens, signing secret, app password, database password) replaced
by ``***``, in the message and in a traceback's text. servechain's own code never logs them;
this catches a library (or an exception) quoting one."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, unquote

from bot.dburl import MASK, db_password
from bot.settings import Settings

MIN_SECRET_LENGTH = 4
"""Shorter values are not masked (masking 'ab' everywhere would garble the logs and hide nothing)."""


def secret_values(settings: Settings) -> list[str]:
    """Every secret value in the settings, with the forms it may be quoted in."""
    values = [
        secret.get_secret_value()
        for secret in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.microsoft_app_password,
            settings.dashboard_slack_client_secret,
            settings.dashboard_entra_client_secret,
            settings.dashboard_session_secret,
        )
        if secret is not None
    ]
    password = db_password(settings.servechain_db)
    if password:
        values += [password, unquote(password), quote(unquote(password), safe="")]
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Masks the given secret values in every record it sees (never drops a record)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def mask_secrets_in_logs(settings: Settings, logger: logging.Logger | None = None) -> SecretFilter:
    """Add a :class:`SecretFilter` for ``settings``' secrets to every handler of ``logger``
    (the root logger by default), so records from any library pass through it."""
    secret_filter = SecretFilter(secret_values(settings))
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(secret_filter)
    return secret_filter
