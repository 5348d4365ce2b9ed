"""Worker process for the review queue's concurrency and crash tests.

    python tests/queue_worker.py review   # one reviewer: claim and review until none pending
    python tests/queue_worker.py crash    # pushes and decisions in a loop, to be SIGKILLed

Both read their settings as one JSON line on stdin: ``url`` (the queue database), ``trust``
(the trust file) and tokens; both open their own :class:`ReviewQueue`.

``review`` (settings ``token``, ``release_every``, optionally ``start_at``, a time.time() to
wait for before opening the queue): prints ``ready`` once the queue is open, waits for a
``go`` line on stdin, runs :func:`review_loop` and prints its report as one JSON line.

``crash`` (settings ``tokens``: officer name -> token, ``run``, ``max_calls``): runs
:func:`crash_loop` and prints one JSON line per completed call: the audit records that call
appended, as ``[operation, item_id, actor]``. It may be told to SIGKILL itself at a chosen point
(the hooks are monkeypatched into this process only; kinmatch has no such hook):

* ``kill_at_statement`` ``[prefix, k]``: right after the k-th SQL statement that starts with
  ``prefix`` (``""``: any) run in a queue transaction, counted from process start, the schema
  migration's included: mid-transaction, before the commit. The statement is written to
  stderr first (``killed after: <sql>``).
* ``kill_after_commit`` k: right after the k-th queue transaction commits (the migration's
  is the first), before the call that made it returns and reports.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from queue_support import new_item

from kinmatch.queue import ReviewQueue
from kinmatch.queue import database as queue_database
from kinmatch.queue.withdrawals import Withdrawal
from kinmatch.security.trust import TrustStore

Record = tuple[str, int | None, str]
"""What one audit record says: operation, item id, actor."""


def review_loop(queue: ReviewQueue, token: str, release_every: int = 0) -> dict[str, Any]:
    """Claim the next pending item and review it (``supports``) until none is pending.

    Every ``release_every``-th claim (0: none) releases the item instead and pauses 10 ms for
    the others to take it, unless this reviewer released that item before (so the loop ends).
    Returns what was done: ``claimed`` (every item claimed, in order), ``reviewed``,
    ``released`` and ``none_pending`` (the claims that found nothing)."""
    claimed: list[int] = []
    reviewed: list[int] = []
    released: list[int] = []
    none_pending = 0
    while True:
        item = queue.claim(token)
        if item is None:
            none_pending += 1
            break
        claimed.append(item.id)
        if release_every and len(claimed) % release_every == 0 and item.id not in released:
            queue.release(token, item.id)
            released.append(item.id)
            time.sleep(0.01)  # give the others a chance to take it
            continue
        queue.review(token, item.id, "supports", "consistent at every locus")
        reviewed.append(item.id)
    return {"claimed": claimed, "reviewed": reviewed, "released": released,
            "none_pending": none_pending}  # fmt: skip


def crash_loop(
    queue: ReviewQueue,
    tokens: dict[str, str],
    run: int,
    report: Callable[[Sequence[Record]], None],
    max_calls: int,
) -> None:
    """Pushes, every kind of decision and withdrawals, round after round, each call reported once it
    returns. Officers: analyst ``ana``, reviewers ``rob`` and ``rita``, supervisors ``sue``
    and ``sam`` (all of agency A1)."""
    calls = itertools.count(1)

    def done(*records: Record) -> None:
        report(records)
        if next(calls) >= max_calls:
            raise SystemExit(0)

    ana, rob, rita, sue, sam = "ana@A1", "rob@A1", "rita@A1", "sue@A1", "sam@A1"
    for i in itertools.count():
        pushed = queue.push(tokens[ana], [new_item(f"R{run}-{i}-a"), new_item(f"R{run}-{i}-b")])
        a, b = (item_id for item_id, _ in pushed)
        done(("push", a, ana), ("push", b, ana))
        queue.claim(tokens[rob], a)
        done(("claim", a, rob))
        queue.review(tokens[rob], a, ("supports", "rejects")[i % 2], "read every locus")
        done(("review", a, rob))
        if i % 2 == 0:
            queue.confirm(tokens[sue], a, "agree")
            done(("confirm", a, sue))
        else:
            queue.reject(tokens[sam], a, "disagree")
            done(("reject", a, sam))
        got = queue.claim(tokens[rita])  # the oldest pending: b, or one an earlier run left
        assert got is not None, "b at least is pending"
        done(("claim", got.id, rita))
        queue.escalate(tokens[rita], got.id, "two inconsistent loci")
        done(("escalate", got.id, rita))
        if i % 3 == 0:
            queue.return_to_pending(tokens[sue], got.id, "needs a second look")
            done(("return", got.id, sue))
        else:
            queue.confirm(tokens[sam], got.id, "consistent after all")
            done(("confirm", got.id, sam))
        if i % 5 == 0:  # a third item, whose sample is withdrawn (erased every other time)
            sample = f"R{run}-{i}-c"
            [(c, _)] = queue.push(tokens[ana], [new_item(sample)])
            done(("push", c, ana))
            gone = queue.withdraw(
                tokens[sue],
                Withdrawal(f"W{run}-{i}", sample, "A1", "sampling-error", erase=i % 2 == 0),
            )
            done(*[("withdraw", c, sue)] * ((c in gone.closed) + (c in gone.erased)),
                 ("withdraw", None, sue))  # fmt: skip
        if i % 4 == 1:
            held = queue.claim(tokens[rob])
            done(("claim", None if held is None else held.id, rob))
            if held is not None:
                queue.release(tokens[rob], held.id)
                done(("release", held.id, rob))


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill_hooks(
    kill_at_statement: tuple[str, int] | None, kill_after_commit: int | None
) -> None:
    """Make this process SIGKILL itself after a statement or a commit (see the module)."""
    prefix, k = kill_at_statement or ("", 0)
    statements = itertools.count(1)
    commits = itertools.count(1)
    execute = queue_database._Cursor.execute
    transaction = queue_database.Database.transaction

    def counting_execute(self: Any, sql: str, parameters: Sequence[Any] = ()) -> None:
        execute(self, sql, parameters)
        text = " ".join(sql.split())
        if text.startswith(prefix) and next(statements) == k:
            sys.stderr.write(f"killed after: {text}\n")
            sys.stderr.flush()
            _kill_self()

    @contextlib.contextmanager
    def counting_transaction(self: Any, **options: Any) -> Iterator[Any]:
        with transaction(self, **options) as tx:
            yield tx
        if next(commits) == kill_after_commit:
            _kill_self()

    queue_database._Cursor.execute = counting_execute  # type: ignore[method-assign]
    queue_database.Database.transaction = counting_transaction  # type: ignore[method-assign]


def main(mode: str) -> None:
    settings = json.loads(sys.stdin.readline())
    if mode == "crash":
        install_kill_hooks(settings.get("kill_at_statement"), settings.get("kill_after_commit"))
    trust = TrustStore.load(settings["trust"])
    time.sleep(max(0.0, settings.get("start_at", 0.0) - time.time()))
    queue = ReviewQueue(settings["url"], trust, key=settings.get("key"))
    if mode == "review":
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("no go")
        result = review_loop(queue, settings["token"], settings.get("release_every", 0))
        print(json.dumps(result), flush=True)
    elif mode == "crash":

        def report(records: Sequence[Record]) -> None:
            print(json.dumps([list(r) for r in records]), flush=True)

        crash_loop(queue, settings["tokens"], settings["run"], report, settings["max_calls"])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1])
