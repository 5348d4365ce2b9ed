"""Worker process for the withdrawal and compaction crash tests, SIGKILLed at a chosen step.

    python tests/withdrawal_worker.py   # settings as one JSON line on stdin

Settings: ``store``, ``queue`` (URL), ``trust`` (trust file), ``key_file`` (the queue's key),
``token``, ``request`` (the fields of a WithdrawalRequest) or ``compact: true`` (the store's
compaction alone), ``kill`` (a step below, or null to finish) and ``nth`` (kill after that
step's n-th call, from 1). The hooks are monkeypatched into this process only; kinmatch has
no such hook. Steps, each killed right after the call returns:

* ``authorize``: the queue's check of the token, before anything is recorded;
* ``receive``: the withdrawal recorded in the store's ledger;
* ``manifest``: a store manifest replaced (the tombstone's, then the compaction's);
* ``audit``: an audit record's statement run inside the queue's transaction, not committed;
* ``queue``: the queue's withdrawal committed (its database compacted when erasing);
* ``vacuum``: the queue database's compaction;
* ``ledger-erase``: the ledger's items deleted and its file rewritten;
* ``fragment``: a compacted fragment written as a temporary file;
* ``rename``: a fragment renamed into place;
* ``unlink``: a file the compaction left behind deleted;
* ``done``: the ledger's record marked done.

Prints ``done`` when it finishes.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from collections.abc import Callable
from pathlib import Path

from killing import after

import kinmatch.store
from kinmatch.ledger import Ledger
from kinmatch.queue import ReviewQueue
from kinmatch.queue.database import Database, _Cursor
from kinmatch.security.trust import TrustStore
from kinmatch.withdrawal import WithdrawalRequest, Withdrawals


def main() -> None:
    settings = json.loads(sys.stdin.readline())
    kill, nth = settings["kill"], int(settings.get("nth", 1))
    fragments = Path(settings["store"]) / "fragments"
    hooks: dict[str, Callable[[], None]] = {
        "authorize": lambda: after(ReviewQueue, "authorize", nth),
        "receive": lambda: after(Ledger, "receive_withdrawal", nth),
        "manifest": lambda: after(kinmatch.store, "write_manifest", nth),
        "audit": lambda: after(_Cursor, "execute", nth,
                               lambda cursor, sql, *rest: sql.startswith("INSERT INTO audit")),
        "queue": lambda: after(ReviewQueue, "withdraw_as", nth),
        "vacuum": lambda: after(Database, "compact", nth),
        "ledger-erase": lambda: after(Ledger, "erase", nth),
        "fragment": lambda: after(kinmatch.store, "write_fragment", nth),
        "rename": lambda: after(os, "rename", nth, lambda source, *rest: fragments
                                in Path(source).parents),
        "unlink": lambda: after(pathlib.Path, "unlink", nth,
                                lambda path, *rest: path.parent == fragments),
        "done": lambda: after(Ledger, "withdrawal_done", nth),
    }  # fmt: skip
    if kill is not None:
        hooks[kill]()
    if settings.get("compact"):
        kinmatch.store.ReferenceStore.open(settings["store"]).compact()
    else:
        queue = ReviewQueue(settings["queue"], TrustStore.from_file(Path(settings["trust"])),
                            key=settings["key_file"])  # fmt: skip
        withdrawals = Withdrawals(settings["store"], queue)
        withdrawals.withdraw(settings["token"], WithdrawalRequest(**settings["request"]))
    print("done", flush=True)


if __name__ == "__main__":
    main()
