"""PostgreSQL backend: the same contract as the embedded store, for several replicas.

Each record is a row holding the full pydantic document (jsonb) plus the columns queries
filter on. Correctness under concurrency comes from the database: request numbers from a
per-workspace counter row, drawn in a statement of its own just before the insert (never
twice; a gap only when a create fails for good after its draw, see ``create_request``),
idempotency keys and claims from primary keys, optimistic
updates from ``WHERE version = %s``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.dburl import mask_db, scrub
from bot.delivery import UNSURE
from bot.errors import Conflict, StorageError
from bot.models import CardRef, InboxItem, Kudos, OutboxItem, Person, Request, Team
from bot.ports import DeliveryFacts
from storage._journal import KEY_FIELDS
from storage.retention import REQUEST_IN_KEY_SQL, last_change

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x5E7C4A17  # advisory lock id serialising schema upgrades across replicas
CONNECT_TIMEOUT = 3
"""Seconds to wait for a new connection (libpq ``connect_timeout``)."""
POOL_TIMEOUT = 5.0
"""Seconds a store call waits for a pooled connection before failing."""
PING_TIMEOUT = 0.8
"""Seconds :meth:`PostgresStore.ping` may take in all (``/healthz`` answers within 1 s)."""
_TABLES = (
    "people",
    "teams",
    "counters",
    "requests",
    "idempotency",
    "kudos",
    "claims",
    "outbox",
    "card_refs",
    "docs",
    "inbox",
)


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest applied migration, 0 on an empty database."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def upgrade(url: str) -> list[str]:
    """Apply pending migrations (safe to run from several replicas at once); returns their names."""
    applied: list[str] = []
    try:
        with psycopg.connect(url, autocommit=False, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            current = schema_version(conn)
            for version, name, sql in migrations():
                if version > current:
                    conn.execute(sql)  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                    applied.append(name)
            conn.commit()
    except psycopg.Error as error:
        raise StorageError(f"Could not upgrade the PostgreSQL schema at {_safe(url)}: {_reason(error, url)}") from None
    return applied


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return mask_db(url)


def _reason(error: BaseException, url: str) -> str:
    """A driver error as one line without the password, e.g. 'database "x" does not exist'."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) or type(error).__name__
    return scrub(text, url)


def _connection_lost(error: BaseException) -> bool:
    """True for errors that mean the connection (not the statement) failed: the server closed
    it (terminated backend, restart) or it broke; the transaction did not commit."""
    if isinstance(error, PoolTimeout):
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


_LEASED_FACTS = (
    "SELECT o.key, "
    "(SELECT p.doc::text FROM people p WHERE p.workspace = o.workspace AND p.id = o.doc->'message'->>'recipient_id'), "
    "(SELECT json_agg(json_build_array(c.card_key, c.platform, c.ref, c.revision)) FROM card_refs c "
    "WHERE c.workspace = o.workspace AND c.card_key = o.doc->'message'->>'card_key' "
    "AND c.platform = ANY(%(platforms)s)), "
    "(SELECT json_agg(json_build_array(c.card_key, c.platform, c.ref, c.revision)) FROM card_refs c "
    "WHERE c.workspace = o.workspace AND c.card_key = o.doc->'message'->>'thread_key' "
    "AND c.platform = ANY(%(platforms)s)) "
    "FROM outbox o WHERE o.lease = %(token)s AND o.state = 'pending'"
)
"""The recipient, the card refs and the thread refs of each outbox item a lease token holds (see
:meth:`PostgresStore.lease_outbox_facts`), as subqueries run once per item with its values:
each looks a row up by its whole key whatever the planner's statistics say. (A join of
``card_refs`` on ``card_key IN (card, thread)`` scanned every card of the workspace per item
under a generic plan with no statistics yet, as in a fresh database: 177 ms a lease.)"""

_INDEX_SCANS_ONLY = ("SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off")
"""For the outbox lease, whose every send leaves dead index entries behind (a lease and an
outcome each write a new row version) until autovacuum comes by (migration 6: after 10,000):
a bitmap scan (or a sequential one) visits each dead row's page again on every lease (26 ms
per lease after 12,000 sends in ``benchmarks/delivery_bench.py``, where the planner chose it),
while a plain index scan marks the dead entries it meets so later scans skip their pages (6 ms
at the same point). The lease's scans all have a partial index on pending items to use."""


def _dump(model: Any) -> Jsonb:
    return Jsonb(model.model_dump(mode="json"))


_DRAW = (
    "INSERT INTO counters (workspace, name, value) VALUES (%s, 'request', 1) "
    "ON CONFLICT (workspace, name) DO UPDATE SET value = counters.value + 1 RETURNING value"
)
"""Draw a workspace's next request number (see ``PostgresStore._draw``)."""


_UPSERT_CARD_REF = (
    "INSERT INTO card_refs (workspace, card_key, platform, ref, revision) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (workspace, card_key, platform) DO UPDATE SET ref = EXCLUDED.ref, "
    "revision = GREATEST(card_refs.revision, EXCLUDED.revision)"
)
"""Remember where a card was posted, keeping the highest revision (running it twice changes nothing more)."""


def _card_ref_params(ref: CardRef) -> tuple[str, str, str, str, int]:
    return (ref.workspace, ref.card_key, ref.platform, ref.ref, ref.revision)


class _Stored(Exception):
    """A create's transaction met a row already there (``constraint`` names which)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class PostgresStore:
    """The :class:`bot.ports.Store` on PostgreSQL (psycopg 3 with a connection pool)."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 32, quick_size: int = 4, auto_upgrade: bool = True
    ) -> None:
        """Open a pool of up to ``max_size`` connections, and a quick pool of up to
        ``quick_size``: ``serve`` runs up to 32 commands and 64 sends at once, each holding a
        connection for a statement or a short transaction (most of a send is the chat
        platform's answer, with no connection held); with 16, at 100 commands a second threads
        queued for a connection (card p99 54 s against 18 s with 32). Both grow only under
        load. With a delivery process (``handlers.delivery_process``) the server opens 24 + 4
        and the delivery process 16 + 1, so two replicas fit in PostgreSQL's default 100
        ``max_connections``."""
        self.url = url
        if auto_upgrade:
            applied = upgrade(url)
            if applied:
                log.info("applied migrations %s to %s", ", ".join(applied), _safe(url))
        try:
            self.pool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                open=True,
                timeout=POOL_TIMEOUT,
                # No check at checkout (a round trip per call): a connection the server dropped
                # fails at its first statement, and _run retries once on a fresh one. Autocommit:
                # a read is one statement, one round trip; writes open their own transaction.
                kwargs={"row_factory": tuple_row, "connect_timeout": CONNECT_TIMEOUT, "autocommit": True},
                name="servechain",
            )
            self._quick = ConnectionPool(
                url,
                min_size=1,
                max_size=quick_size,
                open=True,
                timeout=POOL_TIMEOUT,
                kwargs={"row_factory": tuple_row, "connect_timeout": CONNECT_TIMEOUT, "autocommit": True},
                name="servechain-quick",
            )
        except psycopg.Error as error:
            raise StorageError(f"Could not connect to PostgreSQL at {_safe(url)}: {_reason(error, url)}") from None

    def __repr__(self) -> str:
        return f"PostgresStore({_safe(self.url)!r})"

    def _run(
        self,
        work: Callable[[psycopg.Connection[Any]], Any],
        *,
        idempotent: bool = False,
        transaction: bool = True,
        quick: bool = False,
    ) -> Any:
        """Run ``work`` in one transaction (``transaction=False``: as it is, for a read that is a
        single statement, atomic on its own, in one round trip instead of three with BEGIN and
        COMMIT); database faults become StorageError, Conflict passes.

        A lost connection (terminated backend, server restart, or one that died while idle in
        the pool, which is not checked at checkout) is retried once on a fresh one when that is
        safe: always when it broke before COMMIT was sent (the server rolled the transaction
        back, so nothing happened), and after an unanswered COMMIT only when ``idempotent``
        (running ``work`` again cannot do anything twice; each caller says why).

        ``quick``: on the small pool kept for one-statement writes a person waits on (the ack's
        inbox write, a request's number), which never wait behind the sends and commands that
        fill the main pool at a busy hour."""
        pool = self._quick if quick else self.pool
        for attempt in (1, 2):
            committing = False
            try:
                with pool.connection() as conn:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        result = work(conn)
                        committing = True
                    return result
            except (Conflict, StorageError):
                raise
            except psycopg.errors.UniqueViolation as error:
                raise Conflict(str(error)) from error
            except (psycopg.Error, TimeoutError) as error:
                if attempt == 1 and _connection_lost(error) and (idempotent or not committing):
                    log.info("PostgreSQL connection lost (%s); retrying once", type(error).__name__)
                    self._purge(pool)
                    continue
                raise StorageError(f"PostgreSQL at {_safe(self.url)} failed: {_reason(error, self.url)}") from None
        raise AssertionError("unreachable")

    def _purge(self, pool: ConnectionPool) -> None:
        """After a lost connection, test the idle ones and replace the dead: when the server
        dropped one (restart, failover, terminated backends) it has often dropped the others,
        and the pool would otherwise hand them out one by one, backing off after each."""
        try:
            pool.check()
        except Exception as error:  # best effort: the retry reports any real fault
            log.debug("checking the pool's idle connections failed: %s", error)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read of one statement: retrying it after a lost connection is always safe (it
        changes nothing), and it needs no transaction (one statement sees one snapshot)."""
        return self._run(  # type: ignore[no-any-return]
            lambda conn: conn.execute(sql, params).fetchall(),  # type: ignore[arg-type]
            idempotent=True,
            transaction=False,
        )

    def ping(self) -> None:
        """Raise StorageError unless the database answers within about a second and accepts
        writes (not a read-only standby, not a read-only session); for ``/healthz``."""
        self._purge(self._quick)  # dead idle connections would cost the pool's back-off, and prove nothing
        try:
            # The quick pool: at a busy hour sends and commands can hold every connection of the
            # main pool for longer than the ping may wait, which is busy, not unhealthy.
            with self._quick.connection(timeout=PING_TIMEOUT) as conn, conn.transaction():
                # SET LOCAL: the timeout ends with this transaction, whatever happens (the pool's
                # connections are in autocommit, where a plain SET would outlive a failed reset).
                conn.execute(f"SET LOCAL statement_timeout = {int(PING_TIMEOUT * 1000)}")
                row = conn.execute(
                    "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"
                ).fetchone()
        except (psycopg.Error, TimeoutError) as error:
            raise StorageError(f"PostgreSQL at {_safe(self.url)} is unavailable: {_reason(error, self.url)}") from None
        if not row or not row[0]:
            raise StorageError(f"PostgreSQL at {_safe(self.url)} is read-only")

    def count_outbox(self, workspace: str, state: str | None = None) -> int:
        """How many outbox items the workspace has (in ``state``), counted by the database."""
        sql, params = "SELECT count(*) FROM outbox WHERE workspace = %s", [workspace]
        if state is not None:
            sql += " AND state = %s"
            params.append(state)
        return int(self._rows(sql, params)[0][0])

    def reset(self) -> None:
        """Empty every table (tests only)."""
        self._run(lambda conn: conn.execute("TRUNCATE " + ", ".join(_TABLES) + " RESTART IDENTITY"))

    def close(self) -> None:
        """Close the pools."""
        self.pool.close()
        self._quick.close()

    # --- people and teams -----------------------------------------------------------------
    def get_person(self, workspace: str, person_id: str) -> Person | None:
        rows = self._rows("SELECT doc::text FROM people WHERE workspace = %s AND id = %s", (workspace, person_id))
        return Person.model_validate_json(rows[0][0]) if rows else None

    def find_person(
        self,
        workspace: str,
        *,
        handle: str | None = None,
        email: str | None = None,
        slack_id: tuple[str, str] | None = None,
        teams_id: str | None = None,
    ) -> Person | None:
        if handle is not None:
            where, param = "lower(handle) = lower(%s)", handle.lstrip("@")
        elif email is not None:
            where, param = "lower(email) = lower(%s)", email
        elif slack_id is not None:
            where, param = "doc @> %s", Jsonb({"slack_ids": {slack_id[0]: slack_id[1]}})  # type: ignore[assignment]
        elif teams_id is not None:
            where, param = "teams_id = %s", teams_id
        else:
            return None
        rows = self._rows(
            f"SELECT doc::text FROM people WHERE workspace = %s AND {where} ORDER BY id LIMIT 1", (workspace, param)
        )
        return Person.model_validate_json(rows[0][0]) if rows else None

    def list_people(self, workspace: str) -> list[Person]:
        rows = self._rows("SELECT doc FROM people WHERE workspace = %s ORDER BY handle, id", (workspace,))
        return [Person.model_validate(r[0]) for r in rows]

    def get_team(self, workspace: str, team_id: str) -> Team | None:
        rows = self._rows("SELECT doc FROM teams WHERE workspace = %s AND id = %s", (workspace, team_id))
        return Team.model_validate(rows[0][0]) if rows else None

    def list_teams(self, workspace: str) -> list[Team]:
        rows = self._rows("SELECT doc FROM teams WHERE workspace = %s ORDER BY name, id", (workspace,))
        return [Team.model_validate(r[0]) for r in rows]

    def save_org(self, people: Sequence[Person], teams: Sequence[Team] = ()) -> None:
        """Upserts: running them twice stores the same rows, so a retry is safe."""

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                if teams:
                    cur.executemany(
                        "INSERT INTO teams (workspace, id, name, doc) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (workspace, id) DO UPDATE SET name = EXCLUDED.name, doc = EXCLUDED.doc",
                        [(t.workspace, t.id, t.name, _dump(t)) for t in teams],
                    )
                if people:
                    cur.executemany(
                        "INSERT INTO people (workspace, id, handle, email, teams_id, doc) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (workspace, id) DO UPDATE SET "
                        "handle = EXCLUDED.handle, email = EXCLUDED.email, "
                        "teams_id = EXCLUDED.teams_id, doc = EXCLUDED.doc",
                        [(p.workspace, p.id, p.handle, p.email, p.teams_id, _dump(p)) for p in people],
                    )

        self._run(work, idempotent=True)

    # --- requests ---------------------------------------------------------------------------
    def _insert_outbox(self, conn: psycopg.Connection[Any], items: Sequence[OutboxItem]) -> None:
        if not items:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO outbox (key, workspace, state, created_at, next_attempt_at, version, doc, "
                "lane, priority, lease) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                [_outbox_row(i) for i in items],
            )

    def _seen(
        self,
        conn: psycopg.Connection[Any],
        workspace: str,
        key: str,
        kind: str,
        ref: str | None = None,
        *,
        at: datetime,
    ) -> str | bool | None:
        """Record an idempotency key dated ``at``; False when new, else the ref stored with it (maybe None)."""
        row = conn.execute(
            "INSERT INTO idempotency (workspace, key, kind, ref, at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING key",
            (workspace, key, kind, ref, at),
        ).fetchone()
        if row is not None:
            return False
        found = conn.execute(
            "SELECT ref FROM idempotency WHERE workspace = %s AND key = %s", (workspace, key)
        ).fetchone()
        return found[0] if found else None

    def _write_request(self, conn: psycopg.Connection[Any], request: Request, *, insert: bool) -> None:
        params = (
            request.requester_id,
            request.provider_id,
            request.status.is_open,
            request.parent,
            request.created_at,
            request.version,
            _dump(request),
            request.workspace,
            request.number,
        )
        if insert:
            conn.execute(
                "INSERT INTO requests "
                "(requester_id, provider_id, is_open, parent, created_at, version, doc, workspace, number) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                params,
            )
        else:
            cur = conn.execute(
                "UPDATE requests SET requester_id = %s, provider_id = %s, is_open = %s, parent = %s, created_at = %s, "
                "version = %s, doc = %s WHERE workspace = %s AND number = %s AND version = %s",
                (*params, request.version - 1),
            )
            if cur.rowcount != 1:
                raise Conflict(f"{request.ref} changed since it was read")

    def create_request(
        self,
        request: Request,
        *,
        build_outbox: Callable[[Request], Sequence[OutboxItem]] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Store the key, the request and its outbox in one transaction whose number is drawn
        on a connection of its own (:meth:`_draw`), so the counter row is locked only for
        that one statement, not until this transaction commits.

        Why: with the draw inside the transaction, every create in every replica waited for
        the one before it to commit (at 100 commands/s a create took 0.4-0.8 s and cards
        queued behind it). The key is inserted first, so a second create with the same key
        (a retry at another replica) waits for this one and then finds it, drawing nothing.
        The price is a possible gap: a number drawn by a create that then fails for good (the
        database refused the write, or the process died before COMMIT) is not handed out again
        (when the outbox cannot be built it is given back). A retry after a lost connection
        reuses the number already drawn, which is this call's alone: finding it stored means
        the lost attempt committed. Round trips: BEGIN and the key, the draw, the rows and
        COMMIT (pipelined)."""
        workspace = request.workspace
        drawn: list[tuple[Request, Sequence[OutboxItem]]] = []  # kept across a retry

        def numbered() -> tuple[Request, Sequence[OutboxItem]]:
            if not drawn:
                stored = request.model_copy(deep=True, update={"number": self._draw(workspace), "version": 0})
                try:
                    outbox = build_outbox(stored) if build_outbox else ()
                except BaseException:
                    self._give_back(workspace, stored.number)
                    raise
                drawn.append((stored, outbox))
            return drawn[0]

        def work(conn: psycopg.Connection[Any]) -> tuple[Request, bool]:
            try:
                with conn.pipeline(), conn.transaction():
                    if idempotency_key is not None:
                        claimed = conn.execute(
                            "INSERT INTO idempotency (workspace, key, kind, at) VALUES (%s, %s, 'create_request', %s) "
                            "ON CONFLICT DO NOTHING RETURNING key",
                            (workspace, idempotency_key, request.created_at),
                        ).fetchone()
                        if claimed is None:  # stored by an earlier create (this call's lost attempt, maybe)
                            return self._created_by_key(conn, workspace, idempotency_key), False
                    stored, outbox = numbered()
                    self._write_request(conn, stored, insert=True)
                    self._insert_outbox(conn, outbox)
                    if idempotency_key is not None:
                        conn.execute(
                            "UPDATE idempotency SET ref = %s WHERE workspace = %s AND key = %s",
                            (str(stored.number), workspace, idempotency_key),
                        )
            except psycopg.errors.UniqueViolation as error:
                raise _Stored(error.diag.constraint_name) from None
            return stored.model_copy(deep=True), True

        try:
            # Retried after a lost connection whatever the attempt reached: see above.
            result: tuple[Request, bool] = self._run(work, idempotent=True, transaction=False)
        except _Stored as clash:
            if clash.constraint != "requests_pkey" or not drawn:
                raise StorageError(f"creating a request broke {clash.constraint}") from None
            mine = drawn[0][0]
            found = self.get_request(workspace, mine.number)  # the lost attempt did commit
            if found is None or found.model_dump(exclude={"version"}) != mine.model_dump(exclude={"version"}):
                raise StorageError(f"{mine.ref} was stored twice; nothing was created") from None
            return found, True
        return result

    def _draw(self, workspace: str) -> int:
        """The workspace's next request number, drawn and committed by one statement on the
        quick pool (not the main pool: a create holds a main-pool connection while it draws,
        and waiting for a second one there could empty it). Retried once after a lost
        connection; a lost answer may leave a gap, never hand a number out twice."""
        row = self._run(lambda conn: conn.execute(_DRAW, (workspace,)).fetchone(), transaction=False, quick=True)
        assert row is not None
        return int(row[0])

    def _created_by_key(self, conn: psycopg.Connection[Any], workspace: str, key: str) -> Request:
        row = conn.execute("SELECT ref FROM idempotency WHERE workspace = %s AND key = %s", (workspace, key)).fetchone()
        existing = self._get_request(conn, workspace, int(row[0])) if row and row[0] else None
        if existing is None:
            raise StorageError(f"idempotency key {key!r} points at no request")
        return existing

    def _give_back(self, workspace: str, number: int) -> None:
        """Take ``number`` back when it is still the last drawn and no request holds it, so a
        create that surely stored nothing (its outbox could not be built, or its transaction
        was refused) leaves no gap. Never after a fault whose COMMIT may still land. Best
        effort: a failure here leaves the gap."""
        try:
            self._run(
                lambda conn: conn.execute(
                    "UPDATE counters SET value = value - 1 WHERE workspace = %s AND name = 'request' "
                    "AND value = %s AND NOT EXISTS (SELECT 1 FROM requests WHERE workspace = %s AND number = %s)",
                    (workspace, number, workspace, number),
                ),
                transaction=False,
            )
        except StorageError as error:
            log.info("could not give back request number %s in %s: %s", number, workspace, error)

    def update_request(
        self,
        request: Request,
        *,
        outbox: Sequence[OutboxItem] = (),
        idempotency_key: str | None = None,
    ) -> tuple[Request, bool]:
        """Retried after an unanswered COMMIT only with an idempotency key (the retry finds it and
        returns the stored request); without one the version check would refuse the retry."""

        def work(conn: psycopg.Connection[Any]) -> tuple[Request, bool]:
            if (
                idempotency_key is not None
                and self._seen(
                    conn,
                    request.workspace,
                    idempotency_key,
                    "update_request",
                    str(request.number),
                    at=last_change(request),
                )
                is not False
            ):
                current = self._get_request(conn, request.workspace, request.number)
                if current is None:
                    raise StorageError(f"{request.ref} vanished")
                return current, False
            stored = request.model_copy(deep=True, update={"version": request.version + 1})
            self._write_request(conn, stored, insert=False)
            self._insert_outbox(conn, outbox)
            return stored.model_copy(deep=True), True

        result: tuple[Request, bool] = self._run(work, idempotent=idempotency_key is not None)
        return result

    def _get_request(self, conn: psycopg.Connection[Any], workspace: str, number: int) -> Request | None:
        row = conn.execute(
            "SELECT doc::text FROM requests WHERE workspace = %s AND number = %s", (workspace, number)
        ).fetchone()
        return Request.model_validate_json(row[0]) if row else None

    def was_seen(self, workspace: str, key: str) -> bool:
        """True when the idempotency key was used before."""
        return bool(self._rows("SELECT 1 FROM idempotency WHERE workspace = %s AND key = %s", (workspace, key)))

    def get_request(self, workspace: str, number: int) -> Request | None:
        found: Request | None = self._run(
            lambda conn: self._get_request(conn, workspace, number), idempotent=True, transaction=False
        )
        return found

    def find_requests(
        self,
        workspace: str,
        *,
        provider_id: str | None = None,
        requester_id: str | None = None,
        open_only: bool = False,
        parent: int | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Request]:
        where, params = ["workspace = %s"], [workspace]
        for column, value in (("provider_id", provider_id), ("requester_id", requester_id), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)  # type: ignore[arg-type]
        if open_only:
            where.append("is_open")
        if created_since is not None:
            where.append("created_at >= %s")
            params.append(created_since)  # type: ignore[arg-type]
        if created_until is not None:
            where.append("created_at < %s")
            params.append(created_until)  # type: ignore[arg-type]
        # doc::text: pydantic-core parses and validates the JSON in one pass (about half the
        # time of psycopg building dicts and pydantic validating them, which dominated).
        sql = f"SELECT doc::text FROM requests WHERE {' AND '.join(where)} ORDER BY number DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)  # type: ignore[arg-type]
        return [Request.model_validate_json(r[0]) for r in self._rows(sql, params)]

    def iter_requests(self, workspace: str) -> Iterator[Request]:
        last = 0
        while True:
            rows = self._rows(
                "SELECT number, doc::text FROM requests WHERE workspace = %s AND number > %s "
                "ORDER BY number LIMIT 1000",
                (workspace, last),
            )
            if not rows:
                return
            for number, doc in rows:
                last = number
                yield Request.model_validate_json(doc)

    # --- kudos --------------------------------------------------------------------------------
    def add_kudos(self, kudos: Kudos, *, outbox: Sequence[OutboxItem] = (), idempotency_key: str | None = None) -> bool:
        """Retried after an unanswered COMMIT only with an idempotency key (the kudos id is a
        primary key too, so it is never stored twice; the retry answers False)."""

        def work(conn: psycopg.Connection[Any]) -> bool:
            if (
                idempotency_key is not None
                and self._seen(conn, kudos.workspace, idempotency_key, "add_kudos", kudos.id, at=kudos.at) is not False
            ):
                return False
            row = conn.execute(
                "INSERT INTO kudos (workspace, id, giver_id, recipient_ids, at, doc) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workspace, id) DO NOTHING RETURNING id",
                (kudos.workspace, kudos.id, kudos.giver_id, kudos.recipient_ids, kudos.at, _dump(kudos)),
            ).fetchone()
            if row is None:
                return False
            self._insert_outbox(conn, outbox)
            return True

        added: bool = self._run(work, idempotent=idempotency_key is not None)
        return added

    def find_kudos(
        self,
        workspace: str,
        *,
        giver_id: str | None = None,
        recipient_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Kudos]:
        where, params = ["workspace = %s"], [workspace]
        if giver_id is not None:
            where.append("giver_id = %s")
            params.append(giver_id)
        if recipient_id is not None:
            where.append("recipient_ids @> ARRAY[%s]::text[]")
            params.append(recipient_id)
        if since is not None:
            where.append("at >= %s")
            params.append(since)  # type: ignore[arg-type]
        if until is not None:
            where.append("at < %s")
            params.append(until)  # type: ignore[arg-type]
        rows = self._rows(f"SELECT doc FROM kudos WHERE {' AND '.join(where)} ORDER BY at, seq", params)
        return [Kudos.model_validate(r[0]) for r in rows]

    # --- claims, outbox, card refs ----------------------------------------------------------------
    def claim(self, workspace: str, key: str, *, at: datetime, outbox: Sequence[OutboxItem] = ()) -> bool:
        """Not retried after an unanswered COMMIT: the retry would find its own claim and answer
        False, and the caller would skip work that is queued. Retried when lost before COMMIT."""

        def work(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(
                "INSERT INTO claims (workspace, key, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING key",
                (workspace, key, at),
            ).fetchone()
            if row is None:
                return False
            self._insert_outbox(conn, outbox)
            return True

        claimed: bool = self._run(work)
        return claimed

    def enqueue(self, items: Sequence[OutboxItem]) -> None:
        """Inserts keyed by the outbox key, ``ON CONFLICT DO NOTHING``: a retry adds nothing twice."""
        self._run(lambda conn: self._insert_outbox(conn, items), idempotent=True)

    def due_outbox(self, *, now: datetime, limit: int = 100) -> list[OutboxItem]:
        rows = self._rows(
            "SELECT doc, version FROM outbox WHERE state = 'pending' AND next_attempt_at <= %s "
            "ORDER BY next_attempt_at, seq LIMIT %s",
            (now, limit),
        )
        return [OutboxItem.model_validate({**r[0], "version": r[1]}) for r in rows]

    def lease_outbox(self, *, now: datetime, until: datetime, token: str, limit: int = 32) -> list[OutboxItem]:
        return [facts.item for facts in self._lease(now, until, token, limit, limit, None) if facts.item is not None]

    def lease_outbox_facts(
        self,
        *,
        now: datetime,
        until: datetime,
        token: str,
        platforms: Sequence[str],
        limit: int = 32,
        bulk: int | None = None,
    ) -> list[DeliveryFacts]:
        """The lease, and one more read in its pipeline (the same round trip and transaction):
        the recipients of the rows the token now holds, and their card and thread refs."""
        return self._lease(now, until, token, limit, limit if bulk is None else bulk, platforms)

    def _lease(
        self, now: datetime, until: datetime, token: str, limit: int, bulk: int, platforms: Sequence[str] | None
    ) -> list[DeliveryFacts]:
        """``FOR UPDATE SKIP LOCKED`` on each free lane's oldest due item: replicas leasing at
        once take different items (a row another replica just leased fails the re-checked
        ``next_attempt_at <= now``). Two statements pipelined in one transaction (one round trip;
        the dispatcher leases many times a second at a busy hour), with the facts as a third
        when ``platforms`` are given: what ``token`` already holds, and a lease that takes
        nothing when it holds something. At most ``bulk`` bulk items are taken. So a retry after a lost answer
        returns what the lost attempt took instead of more: nothing is left leased for nobody."""
        held_sql = "SELECT doc, version FROM outbox WHERE lease = %s AND state = 'pending'"
        note = (
            "'unconfirmed: attempt ' || ((o.doc->>'attempts')::int + 1) || ' was sending' || "
            f"CASE WHEN o.doc->>'last_error' LIKE 'unconfirmed: %%' THEN '{UNSURE}' ELSE '' END"
        )
        sql = (
            "WITH heads AS (SELECT DISTINCT ON (lane) key, lane, priority, next_attempt_at, seq FROM outbox "
            "WHERE state = 'pending' AND next_attempt_at <= %(now)s ORDER BY lane, created_at, seq), "
            "unblocked AS (SELECT key, priority, next_attempt_at, seq FROM heads WHERE NOT EXISTS (SELECT 1 FROM "
            "outbox b WHERE b.lane = heads.lane AND b.state = 'pending' AND b.lease IS NOT NULL "
            "AND b.next_attempt_at > %(now)s)), "
            "free AS (SELECT key FROM ((SELECT * FROM unblocked WHERE priority = 0 "
            "ORDER BY next_attempt_at, seq LIMIT %(limit)s) UNION ALL (SELECT * FROM unblocked WHERE priority > 0 "
            "ORDER BY next_attempt_at, seq LIMIT %(bulk)s)) AS f ORDER BY priority, next_attempt_at, seq "
            "LIMIT %(limit)s), "
            "locked AS (SELECT o.key FROM outbox o WHERE o.key IN (SELECT key FROM free) AND o.state = 'pending' "
            "AND o.next_attempt_at <= %(now)s AND NOT EXISTS (SELECT 1 FROM outbox h WHERE h.lease = %(token)s "
            "AND h.state = 'pending') FOR UPDATE SKIP LOCKED) "
            "UPDATE outbox o SET lease = %(token)s, next_attempt_at = %(until)s, version = o.version + 1, "
            "doc = o.doc || jsonb_build_object('lease', %(token)s::text, 'next_attempt_at', %(until_text)s::text, "
            f"'attempts', (o.doc->>'attempts')::int + 1, 'last_error', {note}, 'version', o.version + 1) "
            "FROM locked WHERE o.key = locked.key RETURNING o.doc, o.priority, o.next_attempt_at, o.seq"
        )
        params = {
            "now": now,
            "until": until,
            "until_text": until.isoformat(),
            "token": token,
            "limit": limit,
            "bulk": max(bulk, 0),
        }

        def work(conn: psycopg.Connection[Any]) -> list[DeliveryFacts]:
            with conn.pipeline(), conn.transaction():  # one round trip
                for setting in _INDEX_SCANS_ONLY:
                    conn.execute(setting)
                held = conn.execute(held_sql, (token,))
                taken = conn.execute(sql, params)  # type: ignore[arg-type]  # takes nothing when held
                if platforms is not None:  # this transaction sees its own lease: the rows the token holds
                    found = conn.execute(_LEASED_FACTS, {"platforms": list(platforms), "token": token})
            rows = held.fetchall()
            if rows:  # an earlier call with this token went through: return what it took, take no more
                items = [OutboxItem.model_validate({**r[0], "version": r[1]}) for r in rows]
            else:
                rows = taken.fetchall()
                rows.sort(key=lambda r: (r[1], r[3]))
                items = [OutboxItem.model_validate(r[0]) for r in rows]
            items.sort(key=lambda i: (i.priority, i.created_at))
            if platforms is None:
                return [DeliveryFacts(item=item, person=None, cards={}) for item in items]
            facts = {key: (who, [*(card or ()), *(thread or ())]) for key, who, card, thread in found.fetchall()}
            leased = []
            for item in items:
                who, cards = facts.get(item.key, (None, []))
                leased.append(
                    DeliveryFacts(
                        item=item,
                        person=Person.model_validate_json(who) if who else None,
                        cards={
                            (key, platform): CardRef(
                                workspace=item.workspace, card_key=key, platform=platform, ref=ref, revision=revision
                            )
                            for key, platform, ref, revision in cards
                        },
                    )
                )
            return leased

        leased: list[DeliveryFacts] = self._run(work, idempotent=True, transaction=False)
        return leased

    def renew_outbox(self, leases: Sequence[tuple[str, str]], *, until: datetime) -> set[str]:
        """One statement in autocommit; retried after a lost answer (extending again changes nothing)."""
        if not leases:
            return set()

        def work(conn: psycopg.Connection[Any]) -> set[str]:
            rows = conn.execute(
                "UPDATE outbox o SET next_attempt_at = %s, doc = o.doc || jsonb_build_object('next_attempt_at', "
                "%s::text) FROM unnest(%s::text[], %s::text[]) AS h(key, lease) "
                "WHERE o.key = h.key AND o.lease = h.lease AND o.state = 'pending' RETURNING o.key",
                (until, until.isoformat(), [k for k, _ in leases], [t for _, t in leases]),
            ).fetchall()
            return {r[0] for r in rows}

        renewed: set[str] = self._run(work, idempotent=True, transaction=False)  # one statement
        return renewed

    def get_outbox_item(self, key: str) -> OutboxItem | None:
        rows = self._rows("SELECT doc, version FROM outbox WHERE key = %s", (key,))
        return OutboxItem.model_validate({**rows[0][0], "version": rows[0][1]}) if rows else None

    def list_outbox(self, workspace: str, *, state: str | None = None) -> list[OutboxItem]:
        sql, params = "SELECT doc, version FROM outbox WHERE workspace = %s", [workspace]
        if state is not None:
            sql += " AND state = %s"
            params.append(state)
        rows = self._rows(sql + " ORDER BY created_at, seq", params)
        return [OutboxItem.model_validate({**r[0], "version": r[1]}) for r in rows]

    def save_outbox_item(self, item: OutboxItem, *, card_ref: CardRef | None = None) -> OutboxItem:
        """One statement in autocommit (one round trip and one commit; a send records its
        outcome with it). With ``card_ref`` the statement upserts the ref in a data-modifying
        ``WITH`` ahead of the guarded UPDATE: a version that no longer matches updates no row,
        which is no error, so the ref still commits and only then is ``Conflict`` raised.

        Retried after a lost connection even when the statement may have run: the ref's upsert
        runs again (it keeps the highest revision, so a second run changes nothing more), the
        retry's version check fails, and a row holding exactly what this call wrote is this
        call's own write, not a Conflict."""
        stored = item.model_copy(deep=True, update={"version": item.version + 1})
        doc = stored.model_dump(mode="json")
        update = (
            "UPDATE outbox SET state = %s, next_attempt_at = %s, version = %s, doc = %s, lease = %s "
            "WHERE key = %s AND version = %s RETURNING key"
        )
        params: tuple[Any, ...] = (
            stored.state,
            stored.next_attempt_at,
            stored.version,
            Jsonb(doc),
            stored.lease,
            item.key,
            item.version,
        )
        if card_ref is not None:
            update = f"WITH card AS ({_UPSERT_CARD_REF}) {update}"
            params = (*_card_ref_params(card_ref), *params)
        attempts = 0

        def work(conn: psycopg.Connection[Any]) -> None:
            nonlocal attempts
            attempts += 1
            row = conn.execute(update, params).fetchone()
            if row is not None:
                return
            if attempts > 1:
                now = conn.execute("SELECT doc, version FROM outbox WHERE key = %s", (item.key,)).fetchone()
                if now is not None and now[1] == stored.version and now[0] == doc:
                    return  # the lost attempt's write
            raise Conflict(f"outbox item {item.key} changed since it was read")

        self._run(work, idempotent=True, transaction=False)
        return stored

    def get_card_ref(self, workspace: str, card_key: str, platform: str) -> CardRef | None:
        rows = self._rows(
            "SELECT ref, revision FROM card_refs WHERE workspace = %s AND card_key = %s AND platform = %s",
            (workspace, card_key, platform),
        )
        if not rows:
            return None
        return CardRef(workspace=workspace, card_key=card_key, platform=platform, ref=rows[0][0], revision=rows[0][1])

    def delivery_facts(self, item: OutboxItem, *, card_keys: Sequence[str], platforms: Sequence[str]) -> DeliveryFacts:
        """Three reads pipelined: one round trip, one pool checkout."""
        workspace = item.workspace

        def work(conn: psycopg.Connection[Any]) -> DeliveryFacts:
            with conn.pipeline():
                stored = conn.execute("SELECT doc, version FROM outbox WHERE key = %s", (item.key,))
                person = conn.execute(
                    "SELECT doc::text FROM people WHERE workspace = %s AND id = %s",
                    (workspace, item.message.recipient_id),
                )
                cards = conn.execute(
                    "SELECT card_key, platform, ref, revision FROM card_refs "
                    "WHERE workspace = %s AND card_key = ANY(%s) AND platform = ANY(%s)",
                    (workspace, list(card_keys), list(platforms)),
                )
            row, who = stored.fetchone(), person.fetchone()
            return DeliveryFacts(
                item=OutboxItem.model_validate({**row[0], "version": row[1]}) if row else None,
                person=Person.model_validate_json(who[0]) if who else None,
                cards={
                    (key, platform): CardRef(
                        workspace=workspace, card_key=key, platform=platform, ref=ref, revision=revision
                    )
                    for key, platform, ref, revision in cards.fetchall()
                },
            )

        facts: DeliveryFacts = self._run(work, idempotent=True, transaction=False)
        return facts

    def save_card_ref(self, ref: CardRef) -> None:
        """An upsert keeping the highest revision: running it twice changes nothing more."""
        self._run(
            lambda conn: conn.execute(_UPSERT_CARD_REF, _card_ref_params(ref)),
            idempotent=True,
            transaction=False,  # one statement: no BEGIN and COMMIT round trips
        )

    # --- small documents ----------------------------------------------------------------------------
    def put_doc(self, kind: str, workspace: str, key: str, doc: dict[str, Any]) -> None:
        """An upsert of the whole document: running it twice stores the same row."""
        self._run(
            lambda conn: conn.execute(
                "INSERT INTO docs (kind, workspace, key, doc) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (kind, workspace, key) DO UPDATE SET doc = EXCLUDED.doc",
                (kind, workspace, key, Jsonb(json.loads(json.dumps(doc, default=str)))),
            ),
            idempotent=True,
        )

    def get_doc(self, kind: str, workspace: str, key: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT doc FROM docs WHERE kind = %s AND workspace = %s AND key = %s", (kind, workspace, key)
        )
        return dict(rows[0][0]) if rows else None

    def get_docs(self, kind: str, workspace: str, keys: Collection[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        rows = self._rows(
            "SELECT key, doc FROM docs WHERE kind = %s AND workspace = %s AND key = ANY(%s)",
            (kind, workspace, list(keys)),
        )
        return {r[0]: dict(r[1]) for r in rows}

    def list_docs(self, kind: str, workspace: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._rows(
            "SELECT key, doc FROM docs WHERE kind = %s AND workspace = %s ORDER BY key", (kind, workspace)
        )
        return [(r[0], dict(r[1])) for r in rows]

    def delete_doc(self, kind: str, workspace: str, key: str) -> bool:
        """Not retried after an unanswered COMMIT (the retry would answer False for its own delete)."""
        deleted: bool = self._run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM docs WHERE kind = %s AND workspace = %s AND key = %s", (kind, workspace, key)
                ).rowcount
                == 1
            )
        )
        return deleted

    # --- inbox -----------------------------------------------------------------------------------
    def accept_inbox(self, item: InboxItem) -> bool:
        """Retried after an unanswered COMMIT too: a retry that finds the key tells its own row
        (same owner and receipt time, untouched since) from one accepted before. Otherwise the
        person would be told "nothing was done" about a command that was stored and that a
        takeover runs once its lease is over (the churn drill caught it)."""
        attempts = 0

        def work(conn: psycopg.Connection[Any]) -> bool:
            nonlocal attempts
            attempts += 1
            row = conn.execute(
                "INSERT INTO inbox (workspace, key, state, received_at, lease_until, owner, version, doc) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING key",
                _inbox_row(item.model_dump(mode="json")),
            ).fetchone()
            if row is not None or attempts == 1:
                return row is not None
            own = conn.execute(
                "SELECT 1 FROM inbox WHERE workspace = %s AND key = %s AND owner = %s AND received_at = %s "
                "AND version = %s AND state = 'pending'",
                (item.workspace, item.key, item.owner, item.received_at, item.version),
            ).fetchone()
            return own is not None

        # One statement, atomic on its own: no BEGIN and COMMIT round trips before the ack.
        accepted: bool = self._run(work, idempotent=True, transaction=False, quick=True)
        return accepted

    def lease_inbox(
        self, *, now: datetime, until: datetime, owner: str, limit: int = 50, key: tuple[str, str] | None = None
    ) -> list[InboxItem]:
        """``FOR UPDATE SKIP LOCKED``: replicas leasing at once take different items. Not retried
        after an unanswered COMMIT: what that lease took is taken over once it runs out."""
        where, params = "state = 'pending' AND lease_until <= %s", list[Any]([now])
        if key is not None:
            where += " AND workspace = %s AND key = %s"
            params += list(key)
        sql = (
            "UPDATE inbox SET lease_until = %s, owner = %s, version = version + 1, "
            "doc = doc || jsonb_build_object('lease_until', %s::text, 'owner', %s::text, "
            "'attempts', (doc->>'attempts')::int + 1, 'version', version + 1) "
            f"WHERE (workspace, key) IN (SELECT workspace, key FROM inbox WHERE {where} "
            "ORDER BY received_at, key LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING doc"
        )
        rows = self._run(
            lambda conn: conn.execute(sql, [until, owner, until.isoformat(), owner, *params, limit]).fetchall()
        )
        items = [InboxItem.model_validate(r[0]) for r in rows]
        items.sort(key=lambda i: (i.received_at, i.key))
        return items

    def finish_inbox(self, workspace: str, key: str, *, owner: str, at: datetime, error: str | None = None) -> bool:
        """One statement in autocommit (one round trip, once per command). Retried after a lost
        answer: the retry, finding the item no longer pending, tells this call's own finish
        (same owner, state and time) from anyone else's, which answers "not yours"."""
        state = "failed" if error else "done"
        attempts = 0

        def work(conn: psycopg.Connection[Any]) -> bool:
            nonlocal attempts
            attempts += 1
            row = conn.execute(
                "UPDATE inbox SET state = %s, version = version + 1, doc = doc || jsonb_build_object("
                "'state', %s::text, 'payload', '{}'::jsonb, 'finished_at', %s::text, 'last_error', %s::text, "
                "'version', version + 1) WHERE workspace = %s AND key = %s AND owner = %s AND state = 'pending' "
                "RETURNING key",
                (state, state, at.isoformat(), error, workspace, key, owner),
            ).fetchone()
            if row is not None or attempts == 1:
                return row is not None
            own = conn.execute(
                "SELECT 1 FROM inbox WHERE workspace = %s AND key = %s AND owner = %s AND state = %s "
                "AND doc->>'finished_at' = %s",
                (workspace, key, owner, state, at.isoformat()),
            ).fetchone()
            return own is not None

        finished: bool = self._run(work, idempotent=True, transaction=False)
        return finished

    def release_inbox(self, workspace: str, key: str, *, owner: str, at: datetime) -> bool:
        """Not retried after an unanswered COMMIT (the retry would answer "not yours"); a lost
        release leaves the item to be taken over when its lease runs out."""

        def work(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(
                "UPDATE inbox SET lease_until = %s, owner = '', version = version + 1, doc = doc || "
                "jsonb_build_object('lease_until', %s::text, 'owner', '', 'version', version + 1) "
                "WHERE workspace = %s AND key = %s AND owner = %s AND state = 'pending' RETURNING key",
                (at, at.isoformat(), workspace, key, owner),
            ).fetchone()
            return row is not None

        released: bool = self._run(work)
        return released

    def prune(self, workspace: str, *, before: datetime, keep_requests: Collection[int] = ()) -> dict[str, int]:
        """One transaction of four DELETEs on indexed dates (see the contract); a claim naming a
        request to keep (``...:R-<n>:...``) stays."""
        keep = sorted(set(keep_requests))
        statements = {
            "outbox": ("DELETE FROM outbox WHERE workspace = %s AND state = 'sent' AND created_at < %s", ()),
            "inbox": ("DELETE FROM inbox WHERE workspace = %s AND state = 'done' AND received_at < %s", ()),
            "claims": (
                "DELETE FROM claims WHERE workspace = %s AND at < %s AND coalesce("
                "substring(key from %s)::bigint <> ALL(%s::bigint[]), true)",
                (REQUEST_IN_KEY_SQL, keep),
            ),
            "idempotency": ("DELETE FROM idempotency WHERE workspace = %s AND at < %s", ()),
        }

        def work(conn: psycopg.Connection[Any]) -> dict[str, int]:
            return {
                kind: conn.execute(sql, (workspace, before, *extra)).rowcount
                for kind, (sql, extra) in statements.items()
            }

        pruned: dict[str, int] = self._run(work)
        return pruned

    def oldest_pending(self, workspace: str) -> tuple[datetime | None, datetime | None]:
        rows = self._rows(
            "SELECT (SELECT min(received_at) FROM inbox WHERE workspace = %s AND state = 'pending'), "
            "(SELECT min(created_at) FROM outbox WHERE workspace = %s AND state = 'pending')",
            (workspace, workspace),
        )
        return rows[0][0], rows[0][1]

    def count_inbox(self, workspace: str, *, state: str = "pending") -> int:
        rows = self._rows("SELECT count(*) FROM inbox WHERE workspace = %s AND state = %s", (workspace, state))
        return int(rows[0][0])

    def get_inbox_item(self, workspace: str, key: str) -> InboxItem | None:
        rows = self._rows("SELECT doc FROM inbox WHERE workspace = %s AND key = %s", (workspace, key))
        return InboxItem.model_validate(rows[0][0]) if rows else None

    # --- whole-store copy ---------------------------------------------------------------------------
    def export_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every record as ``(kind, document)`` in the neutral shapes of ``storage.migrate``."""
        for kind in ("people", "teams", "requests", "kudos"):
            for (doc,) in self._rows(f"SELECT doc FROM {kind}"):
                yield kind, doc
        for workspace, value in self._rows("SELECT workspace, value FROM counters WHERE name = 'request'"):
            yield "counters", {"workspace": workspace, "last": int(value)}
        for doc, version in self._rows("SELECT doc, version FROM outbox ORDER BY seq"):
            yield "outbox", {**doc, "version": version}
        for workspace, key, at in self._rows("SELECT workspace, key, at FROM claims"):
            yield "claims", {"workspace": workspace, "key": key, "at": at.isoformat()}
        for workspace, key, op, ref in self._rows("SELECT workspace, key, kind, ref FROM idempotency"):
            record: dict[str, Any] = {"workspace": workspace, "key": key, "op": op}
            if ref is not None:
                record.update({"kudos_id": ref} if op == "add_kudos" else {"number": int(ref)})
            yield "idempotency", record
        for workspace, card_key, platform, ref, revision in self._rows(
            "SELECT workspace, card_key, platform, ref, revision FROM card_refs"
        ):
            yield (
                "card_refs",
                {
                    "workspace": workspace,
                    "card_key": card_key,
                    "platform": platform,
                    "ref": ref,
                    "revision": revision,
                },
            )
        for kind, workspace, key, doc in self._rows("SELECT kind, workspace, key, doc FROM docs"):
            yield "docs", {"kind": kind, "workspace": workspace, "key": key, "doc": doc}
        for (doc,) in self._rows("SELECT doc FROM inbox ORDER BY received_at, key"):
            yield "inbox", doc

    def import_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert the records not stored yet in one transaction; counters only rise."""
        if kind not in _IMPORTS:
            raise ValueError(f"unknown record kind {kind!r}")
        if not docs:
            return 0
        sql, to_row = _IMPORTS[kind]

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.cursor() as cur:
                cur.executemany(sql, [to_row(doc) for doc in docs])  # rowcount sums every row inserted
                return max(cur.rowcount, 0)

        inserted: int = self._run(work)  # not retried after COMMIT: the count would be wrong
        return inserted

    def replace_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Insert or replace (by key) these records in one transaction."""
        if kind not in _IMPORTS:
            raise ValueError(f"unknown record kind {kind!r}")
        sql, to_row = _IMPORTS[kind]

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(_delete_sql(kind), [_key_of(kind, doc) for doc in docs])
                cur.executemany(sql, [to_row(doc) for doc in docs])

        self._run(work, idempotent=True)  # delete-then-insert by key: a rerun leaves the same rows
        return len(docs)

    def delete_records(self, kind: str, docs: Sequence[dict[str, Any]]) -> int:
        """Delete the records with these keys in one transaction."""
        if kind not in _IMPORTS:
            raise ValueError(f"unknown record kind {kind!r}")
        if not docs:
            return 0

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.cursor() as cur:
                cur.executemany(_delete_sql(kind), [_key_of(kind, doc) for doc in docs])
                return max(cur.rowcount, 0)

        deleted: int = self._run(work)  # not retried after COMMIT: the count would be wrong
        return deleted


def _key_of(kind: str, doc: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(doc[field] for field in KEY_FIELDS[kind])


def _delete_sql(kind: str) -> str:
    """Delete one record of ``kind`` by its neutral key (a counter row is the 'request' counter)."""
    where = " AND ".join(f"{column} = %s" for column in KEY_FIELDS[kind])
    if kind == "counters":
        where += " AND name = 'request'"
    return f"DELETE FROM {kind} WHERE {where}"


def _request_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    r = Request.model_validate(doc)
    return (
        r.requester_id,
        r.provider_id,
        r.status.is_open,
        r.parent,
        r.created_at,
        r.version,
        _dump(r),
        r.workspace,
        r.number,
    )


def _person_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    p = Person.model_validate(doc)
    return (p.workspace, p.id, p.handle, p.email, p.teams_id, _dump(p))


def _kudos_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    k = Kudos.model_validate(doc)
    return (k.workspace, k.id, k.giver_id, k.recipient_ids, k.at, _dump(k))


def _outbox_row(item: dict[str, Any] | OutboxItem) -> tuple[Any, ...]:
    i = item if isinstance(item, OutboxItem) else OutboxItem.model_validate(item)
    return (
        i.key,
        i.workspace,
        i.state,
        i.created_at,
        i.next_attempt_at,
        i.version,
        _dump(i),
        i.lane,
        i.priority,
        i.lease,
    )


def _inbox_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    i = InboxItem.model_validate(doc)
    return (i.workspace, i.key, i.state, i.received_at, i.lease_until, i.owner, i.version, _dump(i))


def _idempotency_row(doc: dict[str, Any]) -> tuple[Any, ...]:
    ref = doc.get("kudos_id") or (str(doc["number"]) if doc.get("number") is not None else None)
    return (doc["workspace"], doc["key"], doc["op"], ref)


_IMPORTS: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    "people": (
        "INSERT INTO people (workspace, id, handle, email, teams_id, doc) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        _person_row,
    ),
    "teams": (
        "INSERT INTO teams (workspace, id, name, doc) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        lambda d: (d["workspace"], d["id"], d["name"], Jsonb(Team.model_validate(d).model_dump(mode="json"))),
    ),
    "requests": (
        "INSERT INTO requests (requester_id, provider_id, is_open, parent, created_at, version, doc, workspace, "
        "number) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        _request_row,
    ),
    "kudos": (
        "INSERT INTO kudos (workspace, id, giver_id, recipient_ids, at, doc) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        _kudos_row,
    ),
    "counters": (
        "INSERT INTO counters (workspace, name, value) VALUES (%s, 'request', %s) ON CONFLICT (workspace, name) "
        "DO UPDATE SET value = EXCLUDED.value WHERE counters.value < EXCLUDED.value",
        lambda d: (d["workspace"], int(d["last"])),
    ),
    "outbox": (
        "INSERT INTO outbox (key, workspace, state, created_at, next_attempt_at, version, doc, lane, priority, lease) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        _outbox_row,
    ),
    "claims": (
        "INSERT INTO claims (workspace, key, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        lambda d: (d["workspace"], d["key"], d["at"]),
    ),
    "idempotency": (
        "INSERT INTO idempotency (workspace, key, kind, ref) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        _idempotency_row,
    ),
    "card_refs": (
        "INSERT INTO card_refs (workspace, card_key, platform, ref, revision) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        lambda d: (d["workspace"], d["card_key"], d["platform"], d["ref"], d.get("revision", 0)),
    ),
    "docs": (
        "INSERT INTO docs (kind, workspace, key, doc) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        lambda d: (d["kind"], d["workspace"], d["key"], Jsonb(d["doc"])),
    ),
    "inbox": (
        "INSERT INTO inbox (workspace, key, state, received_at, lease_until, owner, version, doc) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        _inbox_row,
    ),
}
"""Per neutral record kind: the idempotent insert and how a document becomes its row."""
