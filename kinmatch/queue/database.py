"""The review queue's database: SQLite (a file, the default) or PostgreSQL (by URL).

Both engines get the same schema, versioned by :data:`MIGRATIONS` and applied on connect,
and the same behaviour:

* SQLite: WAL journal, ``synchronous=FULL``, foreign keys on; every transaction starts with
  ``BEGIN IMMEDIATE`` so writers queue on the database lock (busy timeout 60 s); a
  :meth:`~Database.snapshot`, which only reads, with a deferred ``BEGIN``.
* PostgreSQL (psycopg 3): every transaction first locks the audit head row
  (``SELECT ... FOR UPDATE``), so transactions that append to the audit log, which is every
  one, run one after another.

Either way a transaction sees and changes the queue alone: claims are exactly-once and the
audit chain has no forks. The audit table refuses ``UPDATE`` and ``DELETE`` by trigger.
One connection per thread and per process (created on first use in each).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from kinmatch.errors import QueueDatabaseError, QueueError
from kinmatch.security.audit import GENESIS

_ITEMS = """
CREATE TABLE items (
    id {serial},
    key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'claimed', 'reviewed', 'escalated', 'confirmed', 'rejected')),
    agency TEXT NOT NULL,
    query_id TEXT NOT NULL,
    reference_ids TEXT NOT NULL,
    father_id TEXT,
    mother_id TEXT,
    case_id TEXT,
    relationship TEXT NOT NULL,
    lr DOUBLE PRECISION NOT NULL,
    log10_lr DOUBLE PRECISION,
    inconsistent_loci TEXT NOT NULL,
    loci TEXT NOT NULL,
    parameters TEXT NOT NULL,
    store_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    pushed_by TEXT NOT NULL,
    claimed_by TEXT,
    lease_expires TEXT,
    reviewed_by TEXT,
    finding TEXT CHECK (finding IN ('supports', 'rejects')),
    review_reason TEXT,
    escalated_by TEXT,
    escalation_reason TEXT,
    decided_by TEXT,
    decision_reason TEXT,
    updated_at TEXT NOT NULL
)"""
_AUDIT = """
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    roles TEXT NOT NULL,
    operation TEXT NOT NULL,
    item_id BIGINT,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)"""
_HEAD = """
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
)"""
_COMMON = [
    _ITEMS,
    "CREATE INDEX items_state ON items (state, agency, id)",
    _AUDIT,
    _HEAD,
    f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
]
_EVIDENCE = [  # version 2: the database-size-aware evidence of the hit (null: not given)
    "ALTER TABLE items ADD COLUMN p_unrelated DOUBLE PRECISION "
    "CHECK (p_unrelated >= 0 AND p_unrelated <= 1)",
    "ALTER TABLE items ADD COLUMN expected_unrelated DOUBLE PRECISION "
    "CHECK (expected_unrelated >= 0)",
    "ALTER TABLE items ADD COLUMN n_searched BIGINT CHECK (n_searched >= 0)",
    "ALTER TABLE items ADD COLUMN database_verdict TEXT",
]
_HANDLERS = [  # version 3: every officer who reviewed or escalated an item (two-person rule)
    "CREATE TABLE item_handlers (item_id BIGINT NOT NULL REFERENCES items (id), "
    "seq INTEGER NOT NULL, officer TEXT NOT NULL, PRIMARY KEY (item_id, officer))",
    # the items of version 2 remember their last reviewer and escalator, not the earlier ones
    "INSERT INTO item_handlers (item_id, seq, officer) "
    "SELECT id, 1, reviewed_by FROM items WHERE reviewed_by IS NOT NULL",
    "INSERT INTO item_handlers (item_id, seq, officer) "
    "SELECT id, 2, escalated_by FROM items WHERE escalated_by IS NOT NULL "
    "AND (reviewed_by IS NULL OR escalated_by <> reviewed_by)",
]
_AGENCY_KEYS = [  # version 4: duplicates per agency, the stored key is "<agency>/<hit key>"
    "UPDATE items SET key = agency || '/' || key",
]
_ANCHOR = [  # version 5: the queue key's public half, signed checkpoints, item digests
    "CREATE TABLE queue_key (id INTEGER PRIMARY KEY CHECK (id = 1), public_key TEXT NOT NULL)",
    "CREATE TABLE audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, "
    "at TEXT NOT NULL, signature TEXT NOT NULL)",
    # the keyed digest of the item a record changed; null: older records, which hash as before
    "ALTER TABLE audit ADD COLUMN item_digest TEXT",
    "CREATE INDEX audit_item ON audit (item_id, seq)",
]
_ITEM_AGENCIES = [  # version 7: the agencies an item belongs to (a cross-agency hit: several)
    "CREATE TABLE item_agencies (item_id BIGINT NOT NULL REFERENCES items (id), "
    "agency TEXT NOT NULL, PRIMARY KEY (item_id, agency))",
    "CREATE INDEX item_agencies_agency ON item_agencies (agency, item_id)",
    "INSERT INTO item_agencies (item_id, agency) SELECT id, agency FROM items",
]
_REVOCATIONS = [  # version 6: revoked tokens (by jti) and officers (tokens issued before a time)
    "CREATE TABLE revoked_tokens (jti TEXT NOT NULL, agency TEXT, revoked_by TEXT NOT NULL, "
    "reason TEXT NOT NULL, revoked_at TEXT NOT NULL)",
    "CREATE INDEX revoked_tokens_jti ON revoked_tokens (jti)",
    "CREATE TABLE revoked_officers (agency TEXT NOT NULL, officer TEXT NOT NULL, "
    "issued_before DOUBLE PRECISION NOT NULL, revoked_by TEXT NOT NULL, reason TEXT NOT NULL, "
    "revoked_at TEXT NOT NULL)",
    "CREATE INDEX revoked_officers_officer ON revoked_officers (agency, officer)",
]
_WITHDRAWALS_TABLE = (  # version 8: withdrawals of samples (kinmatch.queue.withdrawals)
    "CREATE TABLE withdrawals (id TEXT PRIMARY KEY, sample_id TEXT NOT NULL, agency TEXT NOT "
    "NULL, reason TEXT NOT NULL, note TEXT, erased TEXT NOT NULL, closed TEXT NOT NULL, "
    "withdrawn_by TEXT NOT NULL, withdrawn_at TEXT NOT NULL)"
)
BUMP_SCHEMA = "-- bump the schema cookie"
"""A migration step, not SQL: SQLite's ``schema_version`` raised by one (after an edit of the
schema's text, so that every connection reads it again)."""
_WITHDRAWN = {  # version 8: the terminal state 'withdrawn'
    # SQLite cannot alter a CHECK constraint; one that only admits one more value changes
    # nothing stored, so its text is edited in place (SQLite's documented procedure for such
    # changes, "Making Other Kinds Of Table Schema Changes")
    "sqlite": [
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = replace(sql, '''rejected'')', "
        "'''rejected'', ''withdrawn'')') WHERE type = 'table' AND name = 'items'",
        BUMP_SCHEMA,
        "PRAGMA writable_schema = OFF",
        _WITHDRAWALS_TABLE,
    ],
    "postgresql": [
        "ALTER TABLE items DROP CONSTRAINT items_state_check",
        "ALTER TABLE items ADD CONSTRAINT items_state_check CHECK (state IN ('pending', "
        "'claimed', 'reviewed', 'escalated', 'confirmed', 'rejected', 'withdrawn'))",
        _WITHDRAWALS_TABLE,
    ],
}
MIGRATIONS: dict[str, list[list[str]]] = {
    "sqlite": [
        [
            *(s.replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT") for s in _COMMON),
            "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        ],
        _EVIDENCE,
        _HANDLERS,
        _AGENCY_KEYS,
        _ANCHOR,
        _REVOCATIONS,
        _ITEM_AGENCIES,
        _WITHDRAWN["sqlite"],
    ],
    "postgresql": [
        [
            *(
                s.replace("{serial}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
                for s in _COMMON
            ),
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
            "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
        ],
        _EVIDENCE,
        _HANDLERS,
        _AGENCY_KEYS,
        _ANCHOR,
        _REVOCATIONS,
        _ITEM_AGENCIES,
        _WITHDRAWN["postgresql"],
    ],
}
"""Per engine, the statements of each schema version (version n = index n - 1), applied in
order on connect, in one transaction with their ``schema_version`` rows: a database of an
older version is upgraded in place, wholly or not at all. Version 1: the queue; version 2: the
items' database-size-aware evidence (``p_unrelated``, ``expected_unrelated``, ``n_searched``,
``database_verdict``; nullable, so items of version 1 keep null); version 3: the officers who
reviewed or escalated each item (``item_handlers``; items of version 2 start with their last
reviewer and escalator); version 4: an item's stored ``key`` is its agency and its hit's
idempotency key, ``<agency>/<key>`` (agency codes hold no ``/``), so that duplicates are per
agency (the audit chain does not cover keys: it verifies as before); version 5: the public
half of the queue's own key (``queue_key``, recorded on first open), the checkpoints it signed
of the audit head (``audit_checkpoints``) and each record's keyed digest of the item it changed
(``audit.item_digest``; null in older records, whose hashes do not cover it); version 6:
revocations (``revoked_tokens`` by ``jti``, scoped to an issuing agency or, null, to any;
``revoked_officers``: an officer's tokens issued before a time), new tables only; version 7:
the agencies each item belongs to (``item_agencies``, one row per agency; its ``agency`` column
holds them joined by ``+``, as the item's digest covers it), items of version 6 their one
agency."""

SCHEMA_VERSION = len(MIGRATIONS["sqlite"])
ANCHOR_VERSION = MIGRATIONS["sqlite"].index(_ANCHOR) + 1
"""The first schema version with the queue's key, checkpoints and item digests."""


class Transaction(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None: ...
    def one(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...
    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class _Cursor:
    """Runs ``?``-placeholder SQL on either engine."""

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self._cursor = cursor
        self._postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._sql(sql), tuple(parameters))

    def one(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        self.execute(sql, parameters)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, parameters)
        return [tuple(row) for row in self._cursor.fetchall()]


def _enable_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, waiting up to ``timeout`` seconds for other writers.

    Switching a new database file to WAL takes a read lock, then a write lock; when another
    connection takes the write lock in between (another process or thread creating the same new
    queue database), SQLite answers SQLITE_BUSY at once instead of waiting (its busy handler
    would deadlock there), so wait and retry here."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Database:
    """A queue database by URL: ``sqlite:///path/queue.db`` (or a plain path) or
    ``postgresql://...``."""

    def __init__(self, url: str) -> None:
        self.url = url
        if re.match(r"^postgres(ql)?://", url):
            self.engine = "postgresql"
        else:
            self.engine = "sqlite"
            path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
            if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
                raise QueueError(f"SQLite URLs are sqlite:///path, not {url!r}")
            self.path = Path(path)
            if not self.path.parent.is_dir():
                raise QueueError(f"no directory {self.path.parent} for the queue database")
        self._local = threading.local()
        with self.transaction(lock_audit=False) as tx:
            self._migrate(tx)

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        if self.engine == "sqlite":
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=60.0,
                                         check_same_thread=True)  # fmt: skip
            connection.execute("PRAGMA busy_timeout = 60000")
            _enable_wal(connection, timeout=60.0)
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)  # genetic data: owner only
        else:
            import psycopg

            try:
                connection = psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise QueueDatabaseError(f"cannot connect to the queue database: "
                                         f"{type(exc).__name__}") from None  # fmt: skip
        self._local.connection = connection
        self._local.pid = os.getpid()
        return connection

    def transaction(
        self, *, lock_audit: bool = True
    ) -> contextlib.AbstractContextManager[Transaction]:
        """One serialised transaction: committed on success, rolled back on an exception."""
        return self._transaction("BEGIN IMMEDIATE", lock_audit)

    def snapshot(self) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction for reading only: it sees what was committed before it and waits for
        no writer (SQLite: a deferred ``BEGIN`` in WAL mode; PostgreSQL: no lock)."""
        return self._transaction("BEGIN", False)

    @contextlib.contextmanager
    def _transaction(self, begin: str, lock_audit: bool) -> Iterator[Transaction]:
        errors = self._engine_errors()
        try:
            connection = self._connection()
            if self.engine == "sqlite":
                cursor = connection.cursor()
                cursor.execute(begin)
                try:
                    yield _Cursor(cursor, postgres=False)
                except BaseException:
                    connection.rollback()
                    raise
                connection.commit()
            else:
                with connection.transaction(), connection.cursor() as cursor:
                    tx = _Cursor(cursor, postgres=True)
                    if lock_audit:
                        tx.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
                    yield tx
        except errors as exc:
            # the engine's message may quote the statement's values: name the error only
            raise QueueDatabaseError(f"queue database error ({type(exc).__name__})") from None

    def compact(self) -> None:
        """Rewrite the database so that no page keeps a value an update replaced (after an
        erasure): SQLite: checkpoint the write-ahead log into the file, ``VACUUM``, and
        truncate the log; PostgreSQL: ``VACUUM FULL`` of the items (their table rewritten
        into new files, the old ones removed)."""
        errors = self._engine_errors()
        try:
            connection = self._connection()
            if self.engine == "sqlite":
                for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM",
                                  "PRAGMA wal_checkpoint(TRUNCATE)"):  # fmt: skip
                    connection.execute(statement).fetchall()
            else:
                connection.execute("VACUUM FULL items")
        except errors as exc:
            raise QueueDatabaseError(f"queue database error ({type(exc).__name__})") from None

    def _engine_errors(self) -> tuple[type[Exception], ...]:
        if self.engine == "sqlite":
            return (sqlite3.Error,)
        import psycopg

        return (psycopg.Error,)

    def _migrate(self, tx: Transaction) -> None:
        if self.engine == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(4242)")  # one migrator at a time
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = tx.one("SELECT max(version) FROM schema_version")
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise QueueError(f"the queue database has schema version {current}; this kinmatch "
                             f"knows up to {SCHEMA_VERSION}: upgrade kinmatch")  # fmt: skip
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[self.engine][version - 1]:
                if statement == BUMP_SCHEMA:
                    row = tx.one("PRAGMA schema_version")
                    assert row is not None
                    tx.execute(f"PRAGMA schema_version = {int(row[0]) + 1}")
                else:
                    tx.execute(statement)
            tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        self.version = SCHEMA_VERSION  # the schema the queue now has

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local.connection = None
