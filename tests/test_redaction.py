"""The log filter that masks configured secret values in every record, message and traceback."""

from __future__ import annotations

import io
import logging

from pydantic import SecretStr

from bot.settings import Settings
from handlers.redaction import SecretFilter, mask_secrets_in_logs, secret_values


def _settings() -> Settings:
    return Settings(
        slack_bot_token=SecretStr("xoxb-redact-me-1"),
        slack_signing_secret=SecretStr("signing-redact-me"),
        microsoft_app_password=SecretStr("app-pw-redact-me"),
        dashboard_slack_client_secret=SecretStr("slack-oidc-redact-me"),
        dashboard_entra_client_secret=SecretStr("entra-oidc-redact-me"),
        dashboard_session_secret=SecretStr("session-signing-redact-me-0123456789"),
        servechain_db="postgresql://app:p%40ss-redact@db:5432/sc",
    )


def test_every_secret_and_the_database_password_in_each_quoted_form_is_known() -> None:
    values = secret_values(_settings())
    for value in (
        "xoxb-redact-me-1",
        "signing-redact-me",
        "app-pw-redact-me",
        "slack-oidc-redact-me",
        "entra-oidc-redact-me",
        "session-signing-redact-me-0123456789",
        "p%40ss-redact",
        "p@ss-redact",
    ):
        assert value in values


def test_records_from_any_logger_are_masked_in_message_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction.root")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        mask_secrets_in_logs(_settings(), logger)
        child = logging.getLogger("tests.redaction.root.library")
        child.warning("token %s and url %s", "xoxb-redact-me-1", "postgresql://app:p%40ss-redact@db/sc")
        try:
            raise RuntimeError("auth failed with app-pw-redact-me")
        except RuntimeError:
            child.exception("call failed for p@ss-redact")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "token *** and url postgresql://app:***@db/sc" in written
    assert "auth failed with ***" in written and "call failed for ***" in written
    for secret in ("redact-me", "p%40ss-redact", "p@ss-redact"):
        assert secret not in written


def test_short_values_and_records_without_secrets_pass_unchanged() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    assert SecretFilter(["xoxb-long-secret"]).filter(record)
    assert record.getMessage() == "plain text" and record.args == ("text",)
    assert secret_values(Settings(slack_bot_token=SecretStr("ab"))) == []
