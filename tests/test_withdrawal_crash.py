"""A withdrawal with erasure, and a compaction, SIGKILLed at every step
(tests/withdrawal_worker.py): afterwards, once the service has started again, either nothing
changed or all of it did (the store's tombstone, the items' states and genotypes, the ledger,
the fragments), the audit verifies, and a retry finishes it; a killed compaction leaves the
store readable with the same profiles, byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from queue_support import Agencies, open_queue
from test_intake import SETTINGS
from test_store_withdrawal import _rows
from test_withdrawal import ENTERED, FATHER, holding

from kinmatch.intake import run_outstanding
from kinmatch.ledger import LEDGER, Ledger
from kinmatch.queue import NewItem, State
from kinmatch.queue.withdrawals import ERASED
from kinmatch.store import ReferenceStore
from kinmatch.withdrawal import WithdrawalRequest, Withdrawals

WORKER = Path(__file__).parent / "withdrawal_worker.py"
REQUEST = {"id": "W1", "sample_id": FATHER, "reason": "consent-withdrawn", "erase": True}
WITHDRAWAL_POINTS = [("authorize", 1), ("receive", 1), ("manifest", 1), ("audit", 1),
                     ("audit", 3), ("queue", 1), ("vacuum", 1), ("ledger-erase", 1),
                     ("fragment", 1), ("rename", 1), ("manifest", 2), ("unlink", 1),
                     ("done", 1), (None, 1)]  # fmt: skip
COMPACTION_POINTS = [("fragment", 1), ("fragment", 2), ("fragment", 3), ("rename", 1),
                     ("rename", 2), ("rename", 3), ("manifest", 1), ("unlink", 1),
                     ("unlink", 2), ("unlink", 3), (None, 1)]  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, agencies: Agencies) -> Path:
    """A store of three batches compared by intake, every hit in a SQLite queue."""
    root = tmp_path_factory.mktemp("template")
    store = ReferenceStore.create(root / "store")
    third = len(ENTERED) // 3
    for part in (ENTERED[:third], ENTERED[third : 2 * third], ENTERED[2 * third :]):
        store.ingest(part)
    queue = open_queue(f"sqlite:///{root / 'queue.db'}", agencies)
    analyst = agencies.token("ana", ["analyst"], jurisdiction="national")

    def push(items: list[NewItem]) -> tuple[int, int]:
        created = [c for _, c in queue.push(analyst, items)]
        return sum(created), len(created) - sum(created)

    run_outstanding(store, SETTINGS, push)
    queue.close()
    return root


def run_worker(settings: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WORKER)], input=json.dumps(settings) + "\n",
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def observed(root: Path, agencies: Agencies) -> tuple[object, ...]:
    """What a withdrawal changes: the store, the items, the ledger, the files."""
    store = ReferenceStore.open(root / "store")
    queue = open_queue(f"sqlite:///{root / 'queue.db'}", agencies)
    try:
        watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
        items = [queue.show(watcher, i) for i in holding(queue, agencies, FATHER)]
        states = {item.summary.state for item in items}
        erased = {all(set(e["genotypes"].values()) <= {ERASED, None} for e in item.loci)
                  for item in items}  # fmt: skip
        assert queue.verify_audit(agencies.token("aud", ["auditor"],
                                                 jurisdiction="national")).ok  # fmt: skip
    finally:
        queue.close()
    with Ledger(root / "store") as ledger:
        record = ledger.withdrawal("W1")
        recorded = sum(FATHER in json.dumps(i) for key in ledger.comparisons()
                       for v in ledger.units(key) for i in ledger.items(key, v))  # fmt: skip
    in_fragments = any(FATHER.encode() in p.read_bytes()
                       for p in (root / "store" / "fragments").iterdir())  # fmt: skip
    ledger_bytes = any(f'"father_id": "{FATHER}"'.encode() in p.read_bytes()
                       for p in (root / "store").glob(f"{LEDGER}*"))  # fmt: skip
    done = None if record is None else record[1]
    return (store.find(FATHER) is None, len(store.manifest.withdrawn), states, erased, done,
            recorded > 0, in_fragments, ledger_bytes)  # fmt: skip


NOTHING = (False, 0, {State.PENDING}, {False}, None, True, True, True)
ALL = (True, 1, {State.WITHDRAWN}, {True}, True, False, False, False)


@pytest.mark.parametrize(("kill", "nth"), WITHDRAWAL_POINTS)
def test_a_withdrawal_killed_anywhere_is_all_or_nothing(
    template: Path, tmp_path: Path, agencies: Agencies, kill: str | None, nth: int
) -> None:
    root = tmp_path / "world"
    shutil.copytree(template, root)
    assert observed(root, agencies) == NOTHING
    url = f"sqlite:///{root / 'queue.db'}"
    token = agencies.token("sup", ["supervisor"], agency="A1")
    done = run_worker({"store": str(root / "store"), "queue": url,
                       "trust": str(agencies.trust_file), "key_file": None, "token": token,
                       "request": REQUEST, "kill": kill, "nth": nth})  # fmt: skip
    if kill is None:
        assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    else:
        assert done.returncode == -9, (done.stdout, done.stderr)  # killed where it was told
    queue = open_queue(url, agencies)
    try:
        Withdrawals(root / "store", queue)  # starting again finishes what was recorded
    finally:
        queue.close()
    after = observed(root, agencies)
    assert after == (NOTHING if kill == "authorize" else ALL)
    queue = open_queue(url, agencies)
    try:
        retried = Withdrawals(root / "store", queue).withdraw(token, WithdrawalRequest(**REQUEST))
    finally:
        queue.close()
    assert retried.replayed == (kill != "authorize")
    assert observed(root, agencies) == ALL


@pytest.mark.parametrize(("kill", "nth"), COMPACTION_POINTS)
def test_a_compaction_killed_anywhere_reads_the_same_profiles(
    template: Path, tmp_path: Path, kill: str | None, nth: int
) -> None:
    root = tmp_path / "world"
    shutil.copytree(template, root)
    store = ReferenceStore.open(root / "store")
    for n, part in enumerate((ENTERED[1], ENTERED[len(ENTERED) // 2], ENTERED[-1])):
        store.withdraw(part.sample_id, f"w-{n}", "sampling-error")
    before = _rows(store)
    done = run_worker({"store": str(root / "store"), "compact": True, "kill": kill, "nth": nth})
    if kill is None:
        assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    else:
        assert done.returncode == -9, (done.stdout, done.stderr)
    reopened = ReferenceStore.open(root / "store")
    assert _rows(reopened) == before  # the old fragments or the new, the same profiles
    finished = reopened.compact()
    assert finished.removed == (3 if kill in ("fragment", "rename") else 0)
    assert _rows(ReferenceStore.open(root / "store")) == before
    files = {p.name for p in (root / "store" / "fragments").iterdir()}
    assert files == ReferenceStore.open(root / "store").manifest.files()
