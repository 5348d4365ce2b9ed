"""Submissions: an analyst's batch of profiles committed to the store once, then compared.

:meth:`Submissions.submit`, in order:

1. the caller's token and role (``submit``: analysts), through the review queue, which
   audits a refusal (:meth:`~kinmatch.queue.ReviewQueue.authorize`);
2. the idempotency key and the body (:func:`~kinmatch.submission.batch.read_batch`): every
   profile the caller's agency's; a refusal is audited;
3. under a lock, the key: a key already committed with the same body answers that batch
   again (audited, nothing written), with another body it is refused; otherwise the
   submission is recorded in the store's ledger as received, the batch ingested as one store
   version (validated whole, as ``kinmatch ingest``; refused: the record is forgotten, so the
   key may be used again) and the record marked committed with its version, then audited.
   A process killed between the store's commit and that mark leaves a received record whose
   samples are all stored: the service (when it starts and before each submission) finds
   their version and completes the record, so a retried request commits nothing twice.

The batch's id is its store version. After each commit the server compares everything
outstanding (:class:`~kinmatch.submission.comparing.Comparer`) and pushes the hits of each
submitted version as its analyst, with the caller verified at submission (no token and no
signing key are held by the server).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kinmatch.errors import (
    AccessDeniedError,
    InputError,
    SubmissionConflictError,
    SubmissionError,
)
from kinmatch.ledger import Ledger, Submission
from kinmatch.queue import ReviewQueue
from kinmatch.queue.service import INVALID
from kinmatch.security.policy import Operation
from kinmatch.security.tokens import Caller, caller_of, caller_record
from kinmatch.store import IngestError, ReferenceStore
from kinmatch.submission.batch import SHOWN, Batch, read_batch

MAX_KEY = 128
"""Longest idempotency key (visible ASCII)."""
SUBMITTING_LOCK = ".submitting.lock"
SPOOL = ".submissions"
"""Directory of the store where a batch's CSV file waits for its ingest (owner-only)."""


@dataclass(frozen=True)
class Submitted:
    """A committed batch: its id (the store version), the profiles added, and whether this
    request was a retry of one committed before."""

    batch: int
    profiles: int
    replayed: bool


class Submissions:
    """Submissions into the store at ``store_path``, authorised and audited by ``queue``."""

    def __init__(self, store_path: str | Path, queue: ReviewQueue) -> None:
        self.store = ReferenceStore.open_or_create(store_path)
        self.queue = queue
        spool = self.store.path / SPOOL
        spool.mkdir(mode=0o700, exist_ok=True)
        with self._locked(), Ledger(self.store.path) as ledger:
            for leftover in spool.iterdir():  # a batch a killed process was ingesting
                shutil.rmtree(leftover, ignore_errors=True)
            self._recover(ledger)

    def submit(
        self, token: str, key: str, body: bytes, content_type: str,
        register_again: Sequence[str] = (),
    ) -> Submitted:  # fmt: skip
        """Commit the batch of ``body`` under idempotency ``key`` (module docstring); the
        withdrawn samples of ``register_again`` are registered again as new profiles."""
        caller = self.queue.authorize(token, Operation.SUBMIT)
        again = tuple(sorted(set(register_again)))
        try:
            if not (0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable()
                    and " " not in key):  # fmt: skip
                raise SubmissionError([InputError(f"1 to {MAX_KEY} visible ASCII characters",
                                                  field="Idempotency-Key")])  # fmt: skip
            batch = read_batch(body, content_type, caller.agency)
            if stray := [s for s in again if s not in set(batch.samples)]:
                raise SubmissionError([InputError("not a sample of this batch", sample=sample,
                                                  field="Register-Again")
                                       for sample in stray])  # fmt: skip
        except SubmissionError:
            self.queue.audit_refusal(caller, Operation.SUBMIT, None, INVALID)
            raise
        except AccessDeniedError:
            self.queue.audit_refusal(caller, Operation.SUBMIT, None, "another agency")
            raise
        asked = ",".join(again).encode()
        digest = hashlib.sha256(asked + b"\n" + content_type.encode() + b"\n" + body).hexdigest()
        with self._locked(), Ledger(self.store.path) as ledger:
            self._recover(ledger)
            known = ledger.submission(caller.agency, key)
            if known is not None and known.digest != digest:
                self.queue.audit_refusal(caller, Operation.SUBMIT, None, "key reused")
                raise SubmissionConflictError("this Idempotency-Key was used for another body")
            if known is not None and known.version is not None:
                replay = f"allowed: already committed as batch {known.version}"
                self.queue.record(caller, Operation.SUBMIT, replay)
                return Submitted(known.version, len(known.samples), True)
            submission = Submission(caller.agency, key, digest, caller_record(caller),
                                    batch.samples, register_again=again)  # fmt: skip
            ledger.receive(submission)  # (one received before was recovered or forgotten)
            version = self._ingest(ledger, submission, batch, caller)
            self._audit_commit(ledger, dataclasses.replace(submission, version=version), "")
        return Submitted(version, len(batch.samples), False)

    def _ingest(self, ledger: Ledger, submission: Submission, batch: Batch, caller: Caller) -> int:
        spool = self.store.path / SPOOL
        with tempfile.TemporaryDirectory(dir=spool) as scratch:
            path = Path(scratch) / "batch.csv"
            batch.write(path)
            try:
                again = submission.register_again
                report = self.store.ingest_csv([path], rejects=Path(scratch) / "rejects.csv",
                                               register_again=again)  # fmt: skip
            except (IngestError, InputError) as exc:  # bad records, or a bad header
                ledger.forget(submission)
                self.queue.audit_refusal(caller, Operation.SUBMIT, None, INVALID)
                errors = exc.errors if isinstance(exc, IngestError) else (exc,)
                total = exc.total if isinstance(exc, IngestError) else 1
                raise SubmissionError(_from_body(errors, path), total,
                                      by_line=batch.by_line) from None  # fmt: skip
        ledger.committed(submission, report.generation)
        return report.generation

    def _recover(self, ledger: Ledger) -> None:
        """Finish the submissions a killed process left: committed (all its samples stored
        in one version) but not marked or not audited, or never committed (forgotten)."""
        self.store.refresh()
        for submission in ledger.unfinished():
            version = submission.version or self._version_of(submission.samples)
            if version is None:  # its commit never happened: a retry ingests it
                ledger.forget(submission)
                continue
            if submission.version is None:
                ledger.committed(submission, version)
            found = dataclasses.replace(submission, version=version)
            self._audit_commit(ledger, found, ", recorded on recovery")

    def _audit_commit(self, ledger: Ledger, submission: Submission, note: str) -> None:
        """The audit record of a committed submission, then the ledger's mark of it (killed
        between the two, the recovery audits it again: at least once, never lost)."""
        caller = caller_of(dict(submission.caller))
        if submission.register_again:
            note = f", registered again: {', '.join(submission.register_again)}{note}"
        self.queue.record(caller, Operation.SUBMIT, f"allowed: batch {submission.version}, "
                          f"{len(submission.samples)} profiles{note}")  # fmt: skip
        ledger.audited(submission)

    def _version_of(self, samples: tuple[str, ...]) -> int | None:
        """The version that holds exactly ``samples``, if one does (a sample ID is stored
        once, so only the first sample's version can)."""
        fragments = self.store.fragments
        version = next((f.info.generation for f in fragments
                        if samples and f.find(samples[0]) is not None), None)  # fmt: skip
        rows = [f for f in fragments if f.info.generation == version]
        held = sum(f.rows for f in rows) == len(samples) and all(
            any(f.find(sample) is not None for f in rows) for sample in samples)  # fmt: skip
        return version if version is not None and held else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.store.path / SUBMITTING_LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _from_body(errors: tuple[InputError, ...], path: Path) -> list[InputError]:
    """The ingest's errors with the spooled file's name removed (lines are the body's)."""
    return [error if error.source != str(path) else type(error)(
        error.reason, line=error.line, sample=error.sample, locus=error.locus,
        field=error.field) for error in errors[:SHOWN]]  # fmt: skip
