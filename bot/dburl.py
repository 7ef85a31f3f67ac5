"""Where the store lives (``SERVECHAIN_DB``): checking it, and naming it without its password.

A store is a PostgreSQL URL (``postgresql://`` or ``postgres://``) or a plain file path for the
embedded store. Anything else that looks like a connection string (libpq ``key=value`` pairs,
another scheme) is refused, because taken as a file name it would create a file named after the
connection string, password included. :func:`mask_db` is the one way a store is named in log
lines, errors, ``db migrate`` output and ``/healthz``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
FILE_PREFIXES = ("tinydb://", "file://")
"""Prefixes accepted (and stripped) in front of an embedded store's file path."""
MASK = "***"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_KEYWORD = re.compile(r"(?:^|\s)([A-Za-z_]+)\s*=")
_SECRET_KEYS = frozenset({"password", "sslpassword"})
_KEYWORD_SECRET = re.compile(r"(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


class BadDatabaseLocation(ValueError):
    """``SERVECHAIN_DB`` names no usable store; the message never repeats the value."""


def is_postgres(location: str) -> bool:
    """True for a PostgreSQL URL."""
    return location.strip().lower().startswith(POSTGRES_SCHEMES)


def check_db(location: str) -> str:
    """``location`` when it is a PostgreSQL URL or a plain file path, else BadDatabaseLocation
    with a message that names the problem but never the value (it may hold a password)."""
    text = location.strip()
    if not text:
        raise BadDatabaseLocation("SERVECHAIN_DB is empty; give a file path or a postgresql:// URL")
    if is_postgres(text):
        try:
            urlsplit(text).port  # noqa: B018 - parsing the port validates it
        except ValueError:
            raise BadDatabaseLocation("SERVECHAIN_DB is a postgresql:// URL with an invalid port") from None
        return location
    scheme = _SCHEME.match(text)
    if scheme and not text.lower().startswith(FILE_PREFIXES):
        raise BadDatabaseLocation(
            f"SERVECHAIN_DB uses the unsupported scheme {scheme.group(1)!r}; use a postgresql:// URL or a file path"
        )
    keywords = [k.lower() for k in _KEYWORD.findall(text)]
    if keywords:
        raise BadDatabaseLocation(
            f"SERVECHAIN_DB looks like a libpq keyword string ({', '.join(sorted(set(keywords)))}); "
            "write it as a URL: postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        )
    return location


def db_password(location: str) -> str | None:
    """The password a database location carries (in the URL's user info or query), if any."""
    if not is_postgres(location):
        match = _KEYWORD_SECRET.search(location)
        return match.group(2).strip("'") if match else None
    parts = urlsplit(location.strip())
    try:
        if parts.password:
            return parts.password
    except ValueError:
        pass
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SECRET_KEYS and value:
            return value
    return None


def mask_db(location: str) -> str:
    """The store's location for people to read: a database URL with its password replaced by
    ``***`` (in the user info and in ``?password=``), a keyword string with its password
    masked, a file path as it is."""
    if not is_postgres(location):
        return _KEYWORD_SECRET.sub(lambda m: m.group(1) + MASK, location)
    parts = urlsplit(location.strip())
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrub(text: str, location: str) -> str:
    """``text`` with the location's password (raw and URL-decoded forms) replaced by ``***``:
    for driver errors and other messages that might quote a connection string."""
    from urllib.parse import unquote

    password = db_password(location)
    if password:
        for form in {password, unquote(password)}:
            if form:
                text = text.replace(form, MASK)
    return text
