"""The server's intake: after each submission, everything outstanding compared and pushed.

A :class:`Comparer` runs :func:`~kinmatch.intake.compare_outstanding` under the server's
parameters in a thread of its own whenever it is woken (after a commit, and once at start for
whatever a killed server or a CLI ingest left), then pushes the review items of each version
submitted over HTTP as that batch's analyst (:meth:`~kinmatch.queue.ReviewQueue.push_as`, the
caller verified at submission: the server holds no token and no signing key). Versions
ingested otherwise (``kinmatch ingest``) are compared too, and their items wait in the ledger
for an intake that holds a token; so do those of an analyst whose tokens were revoked since.
It shares the ledger and its locks with ``kinmatch intake``, so the two may run at once.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

from kinmatch.errors import KinmatchError, QueueError
from kinmatch.intake import IntakeSettings, Pusher, compare_outstanding, push_compared
from kinmatch.ledger import Ledger
from kinmatch.queue import ReviewQueue
from kinmatch.queue.models import NewItem
from kinmatch.security.tokens import caller_of
from kinmatch.store import ReferenceStore

_log = logging.getLogger("kinmatch.submission")


class Comparer:
    """Compares and pushes in the background (module docstring); :meth:`run` does one round
    in the caller's thread."""

    def __init__(self, store_path: str | Path, settings: IntakeSettings, queue: ReviewQueue):
        self.store = ReferenceStore.open_or_create(store_path)
        self.settings = settings
        self.queue = queue
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._started = self._finished = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="comparer", daemon=True)
        self._thread.start()
        self.wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def wake(self) -> None:
        """Ask for a round (after a commit)."""
        self._wake.set()

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until a round that began after this call has finished (tests, shutdown)."""
        with self._idle:
            target = self._started + 1
            self.wake()
            return self._idle.wait_for(lambda: self._finished >= target, timeout)

    def run(self) -> None:
        """Compare everything outstanding, then push each submitted version's items."""
        compare_outstanding(self.store, self.settings)
        refused: set[int] = set()  # versions whose analyst may no longer push
        while True:
            pushing: list[int] = []
            try:
                push_compared(self.store, self.settings,
                              functools.partial(self._pusher, refused, pushing))  # fmt: skip
                return
            except QueueError as exc:
                if not pushing:
                    raise
                refused.add(pushing[-1])
                _log.warning("batch %d: hits not pushed (%s); they wait in the ledger",
                             pushing[-1], exc)  # fmt: skip

    def _pusher(self, refused: set[int], pushing: list[int], version: int) -> Pusher | None:
        """The pusher of ``version``'s items: as the analyst who submitted it (None: not
        submitted over HTTP, or refused); ``pushing`` holds the version while it pushes."""
        if version in refused:
            return None
        with Ledger(self.store.path) as ledger:
            submission = ledger.submitted(version)
        if submission is None:
            return None
        caller = caller_of(dict(submission.caller))

        def push(items: list[NewItem]) -> tuple[int, int]:
            pushing.append(version)
            ids = self.queue.push_as(caller, items)
            pushing.pop()
            created = sum(new for _, new in ids)
            return created, len(ids) - created

        return push

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            with self._idle:
                self._wake.clear()
                self._started += 1
            if self._stop.is_set():
                break
            try:
                self.run()
            except KinmatchError as exc:  # retried on the next wake; never a genotype
                _log.warning("intake round failed: %s", exc)
            except Exception as exc:  # the text of a stray error may quote data: its kind
                _log.error("intake round failed: %s", type(exc).__name__)
            with self._idle:
                self._finished += 1
                self._idle.notify_all()
