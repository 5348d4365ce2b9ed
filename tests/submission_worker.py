"""Worker process for the submission crash tests: one submission, SIGKILLed at a chosen step.

    python tests/submission_worker.py   # settings as one JSON line on stdin

Settings: ``store``, ``queue`` (URL), ``trust`` (trust file), ``key_file`` (the queue's key),
``token``, ``key`` (idempotency), ``body`` (a file), ``content_type``, ``kill`` (a step below,
or null to finish) and ``nth`` (kill at that step's n-th call, from 1). The hooks are
monkeypatched into this process only; kinmatch has no such hook. Steps:

* ``receive``: the submission recorded as received, before the batch is written;
* ``spool``: the batch's CSV file written, before its ingest;
* ``fragment``: a fragment renamed into the store, before the manifest;
* ``manifest``: the store's manifest replaced (the commit), before the ledger's mark;
* ``committed``: the ledger's mark written, before the audit record;
* ``audit``: an audit record's statement run, before its transaction commits (``nth``);
* ``ledger``: any ledger transaction begun, before it commits (``nth``).

Prints ``done <batch> <replayed>`` when it finishes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from killing import after, die

import kinmatch.store
from kinmatch.ledger import Ledger
from kinmatch.queue import ReviewQueue
from kinmatch.queue.database import _Cursor
from kinmatch.security.trust import TrustStore
from kinmatch.submission import Submissions, batch

STEPS = ("receive", "spool", "fragment", "manifest", "committed", "audit", "ledger")


def main() -> None:
    settings = json.loads(sys.stdin.readline())
    kill, nth = settings["kill"], int(settings.get("nth", 1))
    if kill == "receive":
        after(Ledger, "receive", nth)
    elif kill == "spool":
        after(batch.Batch, "write", nth)
    elif kill == "fragment":
        after(os, "rename", nth)  # the store renames each fragment, then writes its manifest
    elif kill == "manifest":
        after(kinmatch.store, "write_manifest", nth)
    elif kill == "committed":
        after(Ledger, "committed", nth)
    elif kill == "audit":
        original = _Cursor.execute
        count = [0]

        def execute(self: _Cursor, sql: str, parameters: Any = ()) -> Any:
            result = original(self, sql, parameters)
            if sql.startswith("INSERT INTO audit"):
                count[0] += 1
                if count[0] == nth:
                    die()
            return result

        _Cursor.execute = execute  # type: ignore[method-assign]
    elif kill == "ledger":
        original_transaction = Ledger._transaction
        opened = [0]

        def transaction(self: Ledger) -> Any:
            manager = original_transaction(self)
            opened[0] += 1
            if opened[0] == nth:
                self._db.execute("BEGIN IMMEDIATE")  # the statement, then never a commit
                die()
            return manager

        Ledger._transaction = transaction  # type: ignore[method-assign]
    elif kill is not None:
        raise SystemExit(f"unknown step {kill!r}: one of {', '.join(STEPS)}")
    queue = ReviewQueue(settings["queue"], TrustStore.from_file(Path(settings["trust"])),
                        key=settings["key_file"])  # fmt: skip
    submissions = Submissions(settings["store"], queue)
    done = submissions.submit(
        settings["token"],
        settings["key"],
        Path(settings["body"]).read_bytes(),
        settings["content_type"],
    )
    print(f"done {done.batch} {done.replayed}", flush=True)


if __name__ == "__main__":
    main()
