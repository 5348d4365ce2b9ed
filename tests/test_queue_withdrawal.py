"""Withdrawals in the review queue (issue 17, the queue's part): a withdrawn sample's open
items closed as ``withdrawn`` with the reason code, in every agency; its items' genotypes
erased on request, from every page of the database; supervisors of the sample's agency only;
every refusal audited; the chain verifying after it all."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import pytest
from queue_support import Agencies, new_item, open_queue

from kinmatch.errors import AccessDeniedError, ItemNotFoundError, QueueError
from kinmatch.queue import ReviewQueue, State
from kinmatch.queue.withdrawals import ERASED, WITHHELD, Withdrawal
from kinmatch.security.audit import AuditRecord

CANARY = ("61.3/77.1", "77.1/82.2")
"""Genotypes of no real profile, planted in the withdrawn sample's items."""
_ids = itertools.count()


def canary_item(query: str, reference: str, agencies: tuple[str, ...] = ("A1",)) -> object:
    loci = ({"locus": "vWA", "lr": 2.5, "genotypes": {"child": CANARY[0], "parent": CANARY[1]}},)
    return dataclasses.replace(new_item(query, reference, agencies=agencies), loci=loci)


def withdrawal(sample: str, agency: str | None = "A1", **changes: object) -> Withdrawal:
    return dataclasses.replace(Withdrawal(f"W{next(_ids)}", sample, agency, "consent-withdrawn"),
                               **changes)  # fmt: skip


def national(agencies: Agencies, role: str) -> str:
    return agencies.token(f"nat-{role}", [role], jurisdiction="national")


def withdrawals_audited(queue: ReviewQueue, agencies: Agencies) -> list[AuditRecord]:
    return [r for r in queue.audit(national(agencies, "auditor")) if r.operation == "withdraw"]


@pytest.fixture
def queue(url: str, agencies: Agencies) -> ReviewQueue:
    return open_queue(url, agencies)


def push(queue: ReviewQueue, agencies: Agencies, *items: object) -> list[int]:
    analyst = agencies.token("ana", ["analyst"], jurisdiction="national", agency="NAT")
    return [i for i, _ in queue.push(analyst, list(items))]  # type: ignore[arg-type]


def test_open_items_of_the_sample_are_withdrawn_in_every_agency(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    as_query, as_reference, cross, other, decided = push(
        queue, agencies, canary_item("S1", "F1"), canary_item("C2", "S1"),
        canary_item("S1", "M3", ("A1", "A2")), canary_item("C4", "F4"),
        canary_item("S1", "F5"))  # fmt: skip
    reviewer, supervisor = (agencies.token(f"o-{r}", [r], agency="A1")
                            for r in ("reviewer", "supervisor"))  # fmt: skip
    queue.claim(reviewer, decided)
    queue.review(reviewer, decided, "supports", "match")
    queue.confirm(supervisor, decided, "confirmed")
    queue.claim(reviewer, as_reference)  # a claimed item is withdrawn too
    done = queue.withdraw(supervisor, withdrawal("S1"))
    assert done.closed == (as_query, as_reference, cross) and done.erased == ()
    watcher = national(agencies, "supervisor")
    states = {i.id: i.state for i in queue.list_items(watcher, limit=100)}
    assert states == {as_query: State.WITHDRAWN, as_reference: State.WITHDRAWN,
                      cross: State.WITHDRAWN, other: State.PENDING,
                      decided: State.CONFIRMED}  # fmt: skip
    partner = agencies.token("a2-sup", ["supervisor"], agency="A2")  # the other agency sees it
    shown = queue.show(partner, cross)
    assert (
        shown.state == State.WITHDRAWN and shown.decision_reason == "withdrawn: consent-withdrawn"
    )
    assert shown.loci[0]["genotypes"] == {"child": WITHHELD, "parent": WITHHELD}  # A1's sample
    own = queue.show(supervisor, cross)  # withdrawn, not erased: the sample's agency reads it
    assert own.loci[0]["genotypes"]["child"] == CANARY[0]
    assert queue.show(watcher, cross).loci[0]["genotypes"]["child"] == CANARY[0]  # national
    with pytest.raises(QueueError, match="withdrawn, not pending"):
        queue.claim(reviewer, as_query)  # terminal
    assert queue.verify_audit(national(agencies, "auditor")).ok
    outcomes = [r.outcome for r in withdrawals_audited(queue, agencies)]
    assert outcomes[:3] == ["allowed: withdrawn (consent-withdrawn)"] * 3
    assert re.match(r"allowed: withdrawal W\d+ of sample 'S1' \(consent-withdrawn\): 3 items "
                    r"withdrawn, 0 erased", outcomes[3])  # fmt: skip


def test_the_same_withdrawal_again_changes_nothing(queue: ReviewQueue, agencies: Agencies) -> None:
    push(queue, agencies, canary_item("S1", "F1"))
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    once = withdrawal("S1")
    first = queue.withdraw(supervisor, once)
    again = queue.withdraw(supervisor, once)
    assert again.replayed and again.closed == first.closed
    assert withdrawals_audited(queue, agencies)[-1].outcome.endswith("done before")


@pytest.mark.parametrize("who", ["analyst", "reviewer", "auditor"])
def test_only_supervisors_withdraw(queue: ReviewQueue, agencies: Agencies, who: str) -> None:
    [item] = push(queue, agencies, canary_item("S1", "F1"))
    with pytest.raises(AccessDeniedError):
        queue.withdraw(agencies.token(f"x-{who}", [who], agency="A1"), withdrawal("S1"))
    assert [r.outcome for r in withdrawals_audited(queue, agencies)] == ["refused: role"]
    assert queue.show(national(agencies, "supervisor"), item).state == State.PENDING


@pytest.mark.parametrize("agency", ["A1", None])
def test_another_agencys_or_an_unknown_sample_reads_as_missing(
    queue: ReviewQueue, agencies: Agencies, agency: str | None
) -> None:
    """A supervisor of A2 withdrawing A1's sample, or anyone an unknown one: the same answer,
    so that existence is not learnt, and audited alike."""
    [item] = push(queue, agencies, canary_item("S1", "F1"))
    a2 = agencies.token("a2-sup", ["supervisor"], agency="A2")
    with pytest.raises(ItemNotFoundError, match=r"^no sample 'S1'$"):
        queue.withdraw(a2, withdrawal("S1", agency))
    assert [r.outcome for r in withdrawals_audited(queue, agencies)] == ["refused: no such sample"]
    assert queue.show(national(agencies, "supervisor"), item).state == State.PENDING


INVALID = [{"reason": ""}, {"reason": "because"}, {"reason": "other"},
           {"reason": "other", "note": " "}, {"sample_id": ""}, {"id": ""},
           {"agency": "national"}]  # fmt: skip


@pytest.mark.parametrize("changes", INVALID)
def test_a_withdrawal_needs_a_reason(
    queue: ReviewQueue, agencies: Agencies, changes: dict[str, object]
) -> None:
    push(queue, agencies, canary_item("S1", "F1"))
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    with pytest.raises(QueueError):
        queue.withdraw(supervisor, withdrawal("S1", **changes))
    assert [r.outcome for r in withdrawals_audited(queue, agencies)] == ["refused: invalid request"]


def test_other_with_a_note(queue: ReviewQueue, agencies: Agencies) -> None:
    [item] = push(queue, agencies, canary_item("S1", "F1"))
    supervisor = agencies.token("sup", ["supervisor"], agency="A1")
    queue.withdraw(supervisor, withdrawal("S1", reason="other", note="court order 12/2026"))
    assert queue.show(supervisor, item).decision_reason == "withdrawn: other"


def database_files(queue: ReviewQueue) -> list[Path]:
    """The files of a SQLite queue, its write-ahead log included."""
    path = queue.db.path
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name)]


def test_erasure_removes_the_genotypes_from_every_page(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    pending, decided, kept = push(queue, agencies, canary_item("S1", "F1"),
                                  canary_item("C2", "S1"),
                                  new_item("C3", "F3", agencies=("A1",)))  # fmt: skip
    reviewer, supervisor = (agencies.token(f"o-{r}", [r], agency="A1")
                            for r in ("reviewer", "supervisor"))  # fmt: skip
    queue.claim(reviewer, decided)
    queue.review(reviewer, decided, "rejects", "no")
    queue.reject(supervisor, decided, "no")
    done = queue.withdraw(supervisor, withdrawal("S1", erase=True))
    assert done.closed == (pending,) and done.erased == (pending, decided)
    for item_id in (pending, decided):
        genotypes = queue.show(supervisor, item_id).loci[0]["genotypes"]
        assert genotypes == {"child": ERASED, "parent": ERASED}
    assert queue.show(supervisor, kept).loci[0]["genotypes"]["child"] == "14/17.3"
    assert queue.verify_audit(national(agencies, "auditor")).ok
    erasures = [r for r in withdrawals_audited(queue, agencies)
                if r.outcome == "allowed: genotypes erased"]  # fmt: skip
    assert [r.item_id for r in erasures] == [pending, decided]
    assert all(r.item_digest for r in erasures)  # the items' new digests
    if queue.db.engine == "sqlite":
        files = database_files(queue)
        assert files
        for path in files:
            content = path.read_bytes()
            assert not any(canary.encode() in content for canary in CANARY), path.name
    else:  # the items' heap and TOAST files, written out
        with queue.db.transaction() as tx:
            tx.execute("CHECKPOINT")
            root = tx.one("SHOW data_directory")
            relations = tx.all("SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid IN "
                               "('items'::regclass, (SELECT reltoastrelid FROM pg_class WHERE "
                               "relname = 'items'))")  # fmt: skip
        assert root is not None
        files = [p for (relative,) in relations for p in Path(root[0]).glob(f"{relative}*")]
        assert files
        for path in files:
            content = path.read_bytes()
            assert not any(canary.encode() in content for canary in CANARY), path


def test_another_agency_reads_no_genotype_of_a_withdrawn_sample_but_of_its_new_profile(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    """An item of A1 and A2 holding A1's withdrawn sample shows A2 its state and reason only;
    an item of the sample registered again, pushed after the withdrawal, shows it all."""
    [before] = push(queue, agencies, canary_item("S1", "M3", ("A1", "A2")))
    queue.withdraw(agencies.token("sup", ["supervisor"], agency="A1"), withdrawal("S1"))
    [after] = push(queue, agencies, canary_item("S1", "M4", ("A1", "A2")))
    assert after != before
    partner = agencies.token("a2-sup", ["supervisor"], agency="A2")
    old = queue.show(partner, before)
    assert old.summary.state == State.WITHDRAWN
    assert set(old.loci[0]["genotypes"].values()) == {WITHHELD}
    assert queue.show(partner, after).loci[0]["genotypes"]["child"] == CANARY[0]
