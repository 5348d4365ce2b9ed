"""Withdrawal end to end (kinmatch.withdrawal): the store's tombstone, the review items closed
in every agency, erasure from the store, the ledger and the queue, refusals audited."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from queue_support import Agencies, open_queue, queue_key
from test_intake import PROFILES, SETTINGS, whole_store_pairs
from test_queue_http import Reply, running

from kinmatch.cli import main
from kinmatch.errors import (
    AccessDeniedError,
    ItemNotFoundError,
    QueueError,
    WithdrawalConflictError,
)
from kinmatch.intake import compare_outstanding, push_compared, run_outstanding
from kinmatch.ledger import LEDGER, Ledger
from kinmatch.queue import NewItem, ReviewQueue, State
from kinmatch.queue.withdrawals import ERASED
from kinmatch.store import IngestError, ReferenceStore
from kinmatch.withdrawal import WithdrawalRequest, Withdrawals
from kinmatch.withdrawal.http import withdrawing

# a parent whose ID is found in no other text, of agency A1; every other profile of A1 or A2
FATHER = "zz-father-canary"
_father = next(p for p in PROFILES if p.role == "father")
ENTERED = [dataclasses.replace(p, agency="A1" if i % 2 else "A2",
                               sample_id=FATHER if p is _father else p.sample_id,
                               case_id=p.case_id)
           for i, p in enumerate(PROFILES)]  # fmt: skip
ENTERED = [dataclasses.replace(p, agency="A1") if p.sample_id == FATHER else p for p in ENTERED]


@pytest.fixture
def world(tmp_path: Path, url: str, agencies: Agencies) -> tuple[ReferenceStore, ReviewQueue]:
    """The store, compared by intake, every hit pushed to the queue (a national analyst)."""
    store = ReferenceStore.create(tmp_path / "store")
    store.ingest(ENTERED)
    queue = open_queue(url, agencies)
    analyst = agencies.token("ana", ["analyst"], jurisdiction="national")

    def push(items: list[NewItem]) -> tuple[int, int]:
        created = [c for _, c in queue.push(analyst, items)]
        return sum(created), len(created) - sum(created)

    run_outstanding(store, SETTINGS, push)
    return store, queue


def holding(queue: ReviewQueue, agencies: Agencies, sample: str) -> list[int]:
    watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
    shown = [queue.show(watcher, i.id) for i in queue.list_items(watcher, limit=10_000)]
    return [i.summary.id for i in shown if sample in (i.summary.query_id,
            *i.summary.reference_ids, i.father_id, i.mother_id)]  # fmt: skip


def audited(queue: ReviewQueue, agencies: Agencies) -> list[str]:
    auditor = agencies.token("aud", ["auditor"], jurisdiction="national")
    return [r.outcome for r in queue.audit(auditor) if r.operation == "withdraw"]


def test_a_withdrawal_takes_the_profile_out_of_the_store_and_closes_its_items(
    world: tuple[ReferenceStore, ReviewQueue], agencies: Agencies
) -> None:
    store, queue = world
    items = holding(queue, agencies, FATHER)
    assert items, "the father has review items to withdraw"
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    done = Withdrawals(store.path, queue).withdraw(
        supervisor, WithdrawalRequest("W1", FATHER, "case-closed")
    )
    assert done.closed == tuple(items) and done.erased == () and not done.replayed
    store.refresh()
    assert store.find(FATHER) is None and done.version == store.generation
    assert not any(FATHER in {q, *refs} for q, refs, _ in whole_store_pairs(store))
    watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
    for item in items:
        shown = queue.show(watcher, item)
        assert (
            shown.summary.state == State.WITHDRAWN
            and shown.decision_reason == "withdrawn: case-closed"
        )
    with Ledger(store.path) as ledger:
        assert ledger.withdrawal("W1") is not None and ledger.unfinished_withdrawals() == []
    again = Withdrawals(store.path, queue).withdraw(
        supervisor, WithdrawalRequest("W1", FATHER, "case-closed")
    )
    assert again.replayed and again.version == done.version
    assert ReferenceStore.open(store.path).generation == done.version  # nothing new
    assert queue.verify_audit(agencies.token("aud", ["auditor"], jurisdiction="national")).ok


def test_erasure_leaves_no_trace_in_the_store_the_ledger_or_the_queue(
    world: tuple[ReferenceStore, ReviewQueue], agencies: Agencies
) -> None:
    store, queue = world
    items = holding(queue, agencies, FATHER)
    with Ledger(store.path) as ledger:
        recorded = [i for key in ledger.comparisons() for v in ledger.units(key)
                    for i in ledger.items(key, v) if FATHER in str(i)]  # fmt: skip
    assert recorded, "the ledger recorded the father's items"
    marks = (f'"reference_ids": ["{FATHER}"]'.encode(), f'"father_id": "{FATHER}"'.encode())

    def ledger_holds() -> bool:  # the file and its WAL, if any is left
        return any(m in path.read_bytes() for path in store.path.glob(f"{LEDGER}*") for m in marks)

    assert ledger_holds()  # the grep below can fail
    bad = store.path.parent / "bad.csv"  # a rejected record of the father, quoting its allele
    bad.write_text(f"sample_id,role,D3S1358\n{FATHER},father,61.3q/15\nX1,father,15/16\n")
    with pytest.raises(IngestError):
        store.ingest_csv([bad])
    (rejects,) = (store.path / "rejects").iterdir()
    assert FATHER in rejects.read_text() and "61.3q" in rejects.read_text()
    supervisor = agencies.token("sup", ["supervisor"], jurisdiction="national")
    done = Withdrawals(store.path, queue).withdraw(
        supervisor, WithdrawalRequest("W2", FATHER, "consent-withdrawn", erase=True)
    )
    assert done.erased == tuple(items) and done.ledger_items_erased == len(recorded)
    assert done.compacted == ReferenceStore.open(store.path).generation
    for path in (store.path / "fragments").iterdir():
        assert FATHER.encode() not in path.read_bytes()
    assert not ledger_holds()
    assert FATHER not in rejects.read_text() and "61.3q" not in rejects.read_text()
    watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
    for item in items:
        for entry in queue.show(watcher, item).loci:
            assert set(entry["genotypes"].values()) <= {ERASED, None}
    assert queue.verify_audit(agencies.token("aud", ["auditor"], jurisdiction="national")).ok


@pytest.mark.parametrize(
    ("who", "request_", "error"),
    [
        (("analyst", "A1", None), WithdrawalRequest("W3", FATHER, "other", "x"),
         AccessDeniedError),
        (("supervisor", "A2", None), WithdrawalRequest("W3", FATHER, "sampling-error"),
         ItemNotFoundError),
        (("supervisor", "A1", None), WithdrawalRequest("W3", "nobody", "sampling-error"),
         ItemNotFoundError),
        (("supervisor", "A1", None), WithdrawalRequest("W3", FATHER, ""), QueueError),
        (("supervisor", "A1", None), WithdrawalRequest("W3", FATHER, "other"), QueueError),
    ],
    ids=["analyst", "other-agency", "unknown-sample", "no-reason", "other-without-note"],
)  # fmt: skip
def test_refusals_change_nothing_and_are_audited(
    world: tuple[ReferenceStore, ReviewQueue],
    agencies: Agencies,
    who: tuple[str, str, str | None],
    request_: WithdrawalRequest,
    error: type[Exception],
) -> None:
    store, queue = world
    role, agency, jurisdiction = who
    generation, items = store.generation, holding(queue, agencies, FATHER)
    token = agencies.token("x", [role], agency=agency, jurisdiction=jurisdiction)
    with pytest.raises(error) as refused:
        Withdrawals(store.path, queue).withdraw(token, request_)
    if error is ItemNotFoundError:
        assert str(refused.value) == f"no sample {request_.sample_id!r}"  # as for a missing item
    assert ReferenceStore.open(store.path).generation == generation
    assert ReferenceStore.open(store.path).find(FATHER) is not None
    watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
    assert all(queue.show(watcher, i).summary.state == State.PENDING for i in items)
    with Ledger(store.path) as ledger:
        assert ledger.withdrawal("W3") is None
    assert [o for o in audited(queue, agencies) if o.startswith("refused")]


def test_a_withdrawal_id_used_again_with_other_terms_is_refused(
    world: tuple[ReferenceStore, ReviewQueue], agencies: Agencies
) -> None:
    store, queue = world
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    withdrawals = Withdrawals(store.path, queue)
    withdrawals.withdraw(supervisor, WithdrawalRequest("W4", FATHER, "case-closed"))
    with pytest.raises(WithdrawalConflictError):
        withdrawals.withdraw(supervisor, WithdrawalRequest("W4", FATHER, "case-closed",
                                                           erase=True))  # fmt: skip
    assert audited(queue, agencies)[-1] == "refused: id reused"
    other = agencies.token("sup2", ["supervisor"], agency="A2")
    with pytest.raises(ItemNotFoundError):  # another agency learns nothing from a replay
        withdrawals.withdraw(other, WithdrawalRequest("W4", FATHER, "case-closed"))


def test_withdrawals_over_http(
    world: tuple[ReferenceStore, ReviewQueue], agencies: Agencies
) -> None:
    """``POST /withdrawals``: done once per key, refusals with their codes, all audited, and no
    answer carrying a genotype."""
    store, queue = world
    items = holding(queue, agencies, FATHER)
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    body = {"sample_id": FATHER, "reason": "consent-withdrawn", "erase": True}
    with running(queue, [withdrawing(store.path)]) as client:

        def post(token: str, sent: dict[str, object], key: str | None = "K1") -> Reply:
            headers = {} if key is None else {"Idempotency-Key": key}
            return client.post("/withdrawals", token, body=sent, headers=headers)

        analyst = agencies.token("ana", ["analyst"], agency="A1")
        assert post(analyst, body).status == 403
        other = agencies.token("sup2", ["supervisor"], agency="A2")
        assert post(other, body).status == 404
        assert post(supervisor, {**body, "sample_id": "nobody"}).status == 404
        assert post(supervisor, {**body, "reason": ""}).status == 400
        assert post(supervisor, body, key=None).status == 400
        assert ReferenceStore.open(store.path).find(FATHER) is not None  # nothing yet
        done = post(supervisor, body)
        assert done.status == 200, done.text
        assert done.json["closed"] == items and done.json["erased"] == items
        assert not done.json["replayed"] and done.json["compacted"]
        again = post(supervisor, body)
        assert again.status == 200 and again.json["replayed"]
        assert post(supervisor, {**body, "erase": False}).status == 409
        for reply in (done, again):
            assert "/" not in json.dumps(reply.json)  # no genotype text (a/b) in an answer
    assert ReferenceStore.open(store.path).find(FATHER) is None
    outcomes = audited(queue, agencies)
    assert sum(o.startswith("refused") for o in outcomes) >= 6
    assert queue.verify_audit(agencies.token("aud", ["auditor"], jurisdiction="national")).ok


def test_kinmatch_queue_withdraw_and_store_compact(
    world: tuple[ReferenceStore, ReviewQueue], agencies: Agencies, url: str, tmp_path: Path
) -> None:
    store, queue = world
    if not url.startswith("sqlite"):
        pytest.skip("the command line against SQLite is enough; the service is engine-blind")
    token = tmp_path / "token"
    token.write_text(agencies.token("sup", ["supervisor"], agency="A1"))
    base = ["queue", "--db", url, "--trust", str(agencies.trust_file), "--token", str(token)]
    key = queue_key(url)
    if key is not None:
        base += ["--queue-key", str(key)]
    runner = CliRunner()
    refused = runner.invoke(main, [*base, "withdraw", FATHER, "--store", str(store.path)])
    assert refused.exit_code == 2 and "reason must be one of" in refused.output
    done = runner.invoke(main, [*base, "withdraw", FATHER, "--store", str(store.path),
                                "--reason", "sampling-error", "--id", "W9"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"withdrawal W9: {FATHER} out of the store" in done.output
    compacted = runner.invoke(main, ["store", "compact", "--store", str(store.path)])
    assert compacted.exit_code == 0 and "removed 1 withdrawn profiles" in compacted.output
    again = runner.invoke(main, ["store", "compact", "--store", str(store.path)])
    assert "nothing withdrawn to remove" in again.output
    assert audited(queue, agencies)[0] == "refused: invalid request"


def test_a_withdrawal_waits_for_a_push_in_progress_and_then_closes_its_items(
    tmp_path: Path, url: str, agencies: Agencies
) -> None:
    """A push that read the store before the tombstone holds the withdrawal back until it is
    in the queue; the withdrawal then closes what it pushed (no open item of a withdrawn
    sample is left)."""
    store = ReferenceStore.create(tmp_path / "store")
    store.ingest(ENTERED)
    queue = open_queue(url, agencies)
    compare_outstanding(store, SETTINGS)
    analyst = agencies.token("ana", ["analyst"], jurisdiction="national")
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    withdrawals = Withdrawals(store.path, queue)
    worker: list[threading.Thread] = []

    def push(items: list[NewItem]) -> tuple[int, int]:
        if not worker:  # the first push: a withdrawal begins while it runs
            thread = threading.Thread(target=withdrawals.withdraw, args=(
                supervisor, WithdrawalRequest("W5", FATHER, "case-closed")))  # fmt: skip
            thread.start()
            worker.append(thread)
            time.sleep(0.5)
            assert thread.is_alive(), "the withdrawal did not wait for the push"
        created = [c for _, c in queue.push(analyst, items)]
        return sum(created), len(created) - sum(created)

    push_compared(store, SETTINGS, lambda version: push)
    worker[0].join(60)
    items = holding(queue, agencies, FATHER)
    assert items
    watcher = agencies.token("nat-sup", ["supervisor"], jurisdiction="national")
    assert {queue.show(watcher, i).summary.state for i in items} == {State.WITHDRAWN}
