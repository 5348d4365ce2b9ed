"""The comparison ledger of a store: which store versions were compared, under which parameters.

Every ingested batch is one store version (its generation, :meth:`ReferenceStore.as_of`), and
commits are totally ordered by the store's lock. A pair of profiles of opposite kinds is
compared in the unit of work of the newer one's version: version v compares its own profiles
with those of every version up to v (the store as of v, new against new included), so that
each pair is compared exactly once, whichever process commits or compares first, and a rerun
does only the units the ledger does not show done.

A unit's state: *compared* (its review items recorded, in one transaction with the state) and
then *pushed* (sent to the review queue, which keeps one item per hit, so a push cut short is
simply sent again). The parameters that define a comparison (:class:`Comparison`) key every
unit: a change of any of them leaves every version pending under the new key, never mixed
with the old.

It also records the batches submitted over HTTP (:mod:`kinmatch.submission`): each
idempotency key with its body's digest, its analyst and the version that committed it.

The ledger is ``ledger.sqlite`` in the store's directory, owner-only like the store: the
recorded items carry the per-locus genotypes the review queue shows its authorised readers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kinmatch.errors import KinmatchError

LEDGER = "ledger.sqlite"
COMPARING_LOCK = ".comparing.lock"
OPENING_LOCK = ".ledger.lock"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS comparisons (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
    "created TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS units (key TEXT NOT NULL REFERENCES comparisons (key), "
    "version INTEGER NOT NULL, compared TEXT NOT NULL, pushed TEXT, comparisons INTEGER NOT "
    "NULL, hits INTEGER NOT NULL, errors TEXT NOT NULL, PRIMARY KEY (key, version))",
    "CREATE TABLE IF NOT EXISTS items (key TEXT NOT NULL, version INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (key, version, seq))",
    # batches submitted over HTTP (kinmatch.submission): version NULL until committed,
    # audited NULL until the commit is in the review queue's audit
    "CREATE TABLE IF NOT EXISTS submissions (agency TEXT NOT NULL, key TEXT NOT NULL, "
    "digest TEXT NOT NULL, caller TEXT NOT NULL, samples TEXT NOT NULL, version INTEGER "
    "UNIQUE, received TEXT NOT NULL, audited TEXT, PRIMARY KEY (agency, key))",
    # withdrawals (kinmatch.withdrawal): recorded before any change, done once all are made
    "CREATE TABLE IF NOT EXISTS withdrawals (id TEXT PRIMARY KEY, record TEXT NOT NULL, "
    "received TEXT NOT NULL, done TEXT)",
)


class LedgerError(KinmatchError):
    """The ledger cannot be read or written."""


@dataclass(frozen=True)
class Comparison:
    """What a comparison's results depend on besides the profiles: the relationships, the
    frequency table (SHA-256 of its file), the search parameters (theta, minimum frequency,
    the mutation model with its rates, :attr:`kinmatch.search.Searcher.parameters`), the
    candidate filter's ``max_inconsistent`` and the reporting threshold ``min_lr``."""

    relationships: tuple[str, ...]
    frequencies_sha256: str
    parameters: Mapping[str, Any]
    max_inconsistent: int
    min_lr: float

    def record(self) -> dict[str, Any]:
        return {"relationships": sorted(self.relationships),
                "frequencies_sha256": self.frequencies_sha256,
                "parameters": dict(self.parameters), "max_inconsistent": self.max_inconsistent,
                "min_lr": self.min_lr}  # fmt: skip

    @property
    def key(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`record`."""
        text = json.dumps(self.record(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Unit:
    """One version's comparisons under one set of parameters."""

    version: int
    compared: str
    pushed: str | None
    comparisons: int
    hits: int
    errors: tuple[tuple[str, str], ...]
    """Profiles of the version that could not be compared: (sample, why)."""


@dataclass(frozen=True)
class Submission:
    """A batch submitted over HTTP under an idempotency ``key`` of an ``agency``: the digest
    of its body, the verified caller (:class:`~kinmatch.security.tokens.Caller` fields), its
    sample IDs and the store version that committed it (None until then)."""

    agency: str
    key: str
    digest: str
    caller: Mapping[str, Any]
    samples: tuple[str, ...]
    version: int | None = None
    register_again: tuple[str, ...] = ()
    """Withdrawn samples of the batch its analyst asked explicitly to register again."""


class Ledger:
    """The ledger of the store at ``store_path`` (see the module docstring)."""

    def __init__(self, store_path: str | Path) -> None:
        self.root = Path(store_path)
        path = self.root / LEDGER
        # one opener at a time: switching to WAL and creating the tables do not wait for
        # another process doing the same
        with (self.root / OPENING_LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                fresh = not path.exists()
                self._db = sqlite3.connect(path, timeout=60.0, isolation_level=None)
                if fresh:
                    path.chmod(0o600)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    self._db.execute(statement)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(submissions)")}
                if "register_again" not in columns:  # a ledger of before withdrawals
                    self._db.execute("ALTER TABLE submissions ADD COLUMN register_again TEXT "
                                     "NOT NULL DEFAULT '[]'")  # fmt: skip
            except sqlite3.Error as exc:
                raise LedgerError(f"{path}: cannot open the comparison ledger ({exc})") from None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextlib.contextmanager
    def comparing(self) -> Iterator[None]:
        """Held while a process compares units, so two never compute the same one."""
        with (self.root / COMPARING_LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.root / LEDGER}: {exc}") from None

    def register(self, comparison: Comparison) -> str:
        """Record the parameters (once) and return their key."""
        with self._transaction() as db:
            db.execute("INSERT INTO comparisons (key, record, created) VALUES (?, ?, ?) "
                       "ON CONFLICT (key) DO NOTHING",
                       (comparison.key, json.dumps(comparison.record(), sort_keys=True),
                        _now()))  # fmt: skip
        return comparison.key

    def comparisons(self) -> dict[str, dict[str, Any]]:
        """Every set of parameters recorded, by key."""
        rows = self._db.execute("SELECT key, record FROM comparisons ORDER BY created, key")
        return {key: json.loads(record) for key, record in rows}

    def units(self, key: str) -> dict[int, Unit]:
        rows = self._db.execute("SELECT version, compared, pushed, comparisons, hits, errors "
                                "FROM units WHERE key = ? ORDER BY version", (key,))  # fmt: skip
        return {version: Unit(version, compared, pushed, comparisons, hits,
                              tuple((str(a), str(b)) for a, b in json.loads(errors)))
                for version, compared, pushed, comparisons, hits, errors in rows}  # fmt: skip

    def outstanding(self, key: str, newest: int) -> list[int]:
        """Versions 1..``newest`` not yet compared under ``key``."""
        done = self.units(key)
        return [version for version in range(1, newest + 1) if version not in done]

    def record_compared(
        self,
        key: str,
        version: int,
        items: Sequence[Mapping[str, Any]],
        comparisons: int,
        errors: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Record a unit's items and mark it compared, all or nothing; False when another
        process recorded it first (its record stands)."""
        with self._transaction() as db:
            found = db.execute("SELECT 1 FROM units WHERE key = ? AND version = ?",
                               (key, version)).fetchone()  # fmt: skip
            if found is not None:
                return False
            db.executemany("INSERT INTO items (key, version, seq, item) VALUES (?, ?, ?, ?)",
                           [(key, version, seq, json.dumps(item, sort_keys=True))
                            for seq, item in enumerate(items)])  # fmt: skip
            db.execute("INSERT INTO units (key, version, compared, pushed, comparisons, hits, "
                       "errors) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                       (key, version, _now(), comparisons, len(items),
                        json.dumps([list(e) for e in errors])))  # fmt: skip
        return True

    def items(self, key: str, version: int) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT item FROM items WHERE key = ? AND version = ? "
                                "ORDER BY seq", (key, version))  # fmt: skip
        return [json.loads(item) for (item,) in rows]

    def unpushed(self, key: str) -> list[int]:
        """Versions compared under ``key`` whose items are not all pushed yet."""
        return [v for v, unit in self.units(key).items() if unit.pushed is None]

    def record_pushed(self, key: str, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE units SET pushed = ? WHERE key = ? AND version = ? AND pushed IS "
                       "NULL", (_now(), key, version))  # fmt: skip

    # -- submissions --------------------------------------------------------------------

    def submission(self, agency: str, key: str) -> Submission | None:
        row = self._db.execute(f"SELECT {_SUBMISSION} FROM submissions WHERE agency = ? AND "
                               "key = ?", (agency, key)).fetchone()  # fmt: skip
        return None if row is None else _submission(row)

    def submitted(self, version: int) -> Submission | None:
        """The submission that committed ``version`` (None: not one over HTTP)."""
        row = self._db.execute(f"SELECT {_SUBMISSION} FROM submissions WHERE version = ?",
                               (version,)).fetchone()  # fmt: skip
        return None if row is None else _submission(row)

    def unfinished(self) -> list[Submission]:
        """Submissions received whose commit is not (known to be) done and audited."""
        rows = self._db.execute(f"SELECT {_SUBMISSION} FROM submissions WHERE audited IS NULL "
                                "ORDER BY received")  # fmt: skip
        return [_submission(row) for row in rows]

    def receive(self, submission: Submission) -> None:
        """Record a submission about to be committed (before the store's commit, so that a
        commit cut short before :meth:`committed` is found again)."""
        with self._transaction() as db:
            db.execute("INSERT INTO submissions (agency, key, digest, caller, samples, version, "
                       "received, register_again) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
                       (submission.agency, submission.key, submission.digest,
                        json.dumps(dict(submission.caller), sort_keys=True),
                        json.dumps(list(submission.samples)), _now(),
                        json.dumps(list(submission.register_again))))  # fmt: skip

    def committed(self, submission: Submission, version: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET version = ? WHERE agency = ? AND key = ?",
                       (version, submission.agency, submission.key))  # fmt: skip

    def audited(self, submission: Submission) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET audited = ? WHERE agency = ? AND key = ?",
                       (_now(), submission.agency, submission.key))  # fmt: skip

    def forget(self, submission: Submission) -> None:
        """Remove an uncommitted submission (refused: its key may be used again)."""
        with self._transaction() as db:
            db.execute("DELETE FROM submissions WHERE agency = ? AND key = ? AND version IS "
                       "NULL", (submission.agency, submission.key))  # fmt: skip

    # -- withdrawals ----------------------------------------------------------------------

    def withdrawal(self, withdrawal_id: str) -> tuple[dict[str, Any], bool] | None:
        """The record of a withdrawal and whether it is done (None: never received)."""
        row = self._db.execute("SELECT record, done FROM withdrawals WHERE id = ?",
                               (withdrawal_id,)).fetchone()  # fmt: skip
        return None if row is None else (json.loads(row[0]), row[1] is not None)

    def unfinished_withdrawals(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self._db.execute("SELECT id, record FROM withdrawals WHERE done IS NULL ORDER "
                                "BY received")  # fmt: skip
        return [(str(i), json.loads(record)) for i, record in rows]

    def receive_withdrawal(self, withdrawal_id: str, record: Mapping[str, Any]) -> None:
        """Record a withdrawal before its first change (no genotype: IDs, codes, caller)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO withdrawals (id, record, received) VALUES (?, ?, ?)",
                (withdrawal_id, json.dumps(dict(record), sort_keys=True), _now()),
            )

    def withdrawal_done(self, withdrawal_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE withdrawals SET done = ? WHERE id = ? AND done IS NULL",
                       (_now(), withdrawal_id))  # fmt: skip

    def erase(self, sample_id: str) -> int:
        """Delete every recorded item holding ``sample_id`` (their genotypes with them), then
        rewrite the file and truncate its write-ahead log so that no page keeps them."""
        pattern = "%" + json.dumps(sample_id).replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_") + "%"  # fmt: skip
        with self._transaction() as db:
            rows = db.execute("SELECT key, version, seq, item FROM items WHERE item LIKE ? "
                              "ESCAPE '\\'", (pattern,)).fetchall()  # fmt: skip
            doomed = [row[:3] for row in rows if _holds(json.loads(row[3]), sample_id)]
            db.executemany("DELETE FROM items WHERE key = ? AND version = ? AND seq = ?", doomed)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise LedgerError(f"{self.root / LEDGER}: cannot compact ({exc})") from None
        return len(doomed)


def _holds(item: Mapping[str, Any], sample_id: str) -> bool:
    persons = (item.get("query_id"), *item.get("reference_ids", ()), item.get("father_id"),
               item.get("mother_id"))  # fmt: skip
    return sample_id in persons


_SUBMISSION = "agency, key, digest, caller, samples, version, register_again"


def _submission(row: Sequence[Any]) -> Submission:
    agency, key, digest, caller, samples, version, again = row
    return Submission(agency, key, digest, json.loads(caller), tuple(json.loads(samples)),
                      None if version is None else int(version),
                      tuple(json.loads(again)))  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
