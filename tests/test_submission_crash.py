"""A submission SIGKILLed at every step (tests/submission_worker.py), then retried with the
same key: the batch is committed exactly once, its commit audited, and the audit verifies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from queue_support import Agencies, open_queue, queue_key

from kinmatch.ledger import Ledger
from kinmatch.store import ReferenceStore
from kinmatch.submission import Submissions

WORKER = Path(__file__).parent / "submission_worker.py"
BODY = {"profiles": [{"sample_id": f"S{i}", "role": "unknown-origin",
                      "genotypes": {"D3S1358": f"{14 + i}/16", "vWA": "17/18"}}
                     for i in range(3)]}  # fmt: skip
POINTS = [("receive", 1), ("spool", 1), ("fragment", 1), ("manifest", 1), ("committed", 1),
          ("audit", 1), ("ledger", 1), ("ledger", 2), ("ledger", 3), (None, 1)]  # fmt: skip


def run_worker(settings: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WORKER)], input=json.dumps(settings) + "\n",
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize(("kill", "nth"), POINTS)
def test_killed_at_any_step_then_retried_commits_once(
    tmp_path: Path, agencies: Agencies, kill: str | None, nth: int
) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    key = queue_key(url)  # None: the default, beside the database
    open_queue(url, agencies).close()  # the queue and its key exist before the worker
    body = tmp_path / "body.json"
    body.write_text(json.dumps(BODY))
    token = agencies.token("ana", ["analyst"], agency="A1")
    store = tmp_path / "store"
    done = run_worker({"store": str(store), "queue": url, "trust": str(agencies.trust_file),
                       "key_file": key and str(key), "token": token, "key": "K1",
                       "body": str(body), "content_type": "application/json", "kill": kill,
                       "nth": nth})  # fmt: skip
    if kill is None:
        assert done.returncode == 0 and done.stdout == "done 1 False\n", done.stderr
    else:
        assert done.returncode == -9, (done.stdout, done.stderr)  # killed where it was told
    queue = open_queue(url, agencies)
    try:
        retried = Submissions(store, queue).submit(token, "K1", body.read_bytes(),
                                                   "application/json")  # fmt: skip
        assert retried.batch == 1 and retried.profiles == 3
        stored = ReferenceStore.open(store)
        assert stored.generation == 1
        assert sorted(p.sample_id for p in stored.profiles()) == ["S0", "S1", "S2"]
        with Ledger(store) as ledger:
            assert ledger.submission("A1", "K1").version == 1  # type: ignore[union-attr]
            assert ledger.unfinished() == []
        assert list((store / ".submissions").iterdir()) == []  # no batch file left behind
        auditor = agencies.token("nat", ["auditor"], jurisdiction="national")
        assert queue.verify_audit(auditor).ok
        commits = [r.outcome for r in queue.audit(auditor) if r.operation == "submit"
                   and re.match(r"allowed: batch 1, 3 profiles", r.outcome)]  # fmt: skip
        assert commits, "the commit is audited"
        assert len(commits) <= 2  # at least once; twice only when killed between its record
    finally:  # and the ledger's mark of it
        queue.close()
