"""The access policy of the issue, cell by cell: every role x operation x jurisdiction (own
agency, another agency, national), on both engines, for an item of one agency (A1) and for a
cross-agency item (A1 and A2: a child entered by one, its mother registered by the other),
which A2 reaches as its partner and A3 not. Written from the issues' tables, not from
kinmatch.security.policy, so that a wrong policy fails here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from queue_support import ENGINES, Agencies, new_item, open_queue, queue_url

from kinmatch.errors import AccessDeniedError, ItemNotFoundError
from kinmatch.queue import ReviewQueue, State
from kinmatch.queue.revocations import Revocation
from kinmatch.queue.withdrawals import Withdrawal
from kinmatch.submission import Submissions

ROLES = ("analyst", "reviewer", "supervisor", "auditor")
# the table: which role may do what (deny by default)
TABLE: dict[str, set[str]] = {
    "push": {"analyst"},
    "list": {"analyst", "reviewer", "supervisor"},
    "show": {"reviewer", "supervisor"},  # a reviewer: the item they hold claimed
    "claim": {"reviewer"},
    "release": {"reviewer"},
    "review": {"reviewer"},
    "escalate": {"reviewer"},
    "confirm": {"supervisor"},
    "reject": {"supervisor"},
    "return": {"supervisor"},
    "audit": {"auditor"},
    "verify-audit": {"auditor"},
    "checkpoint": {"auditor"},  # sign the audit head (issue 13, item 6)
    "checkpoints": {"auditor"},  # export the signed checkpoints
    "revoke": {"supervisor"},  # a token of the caller's own agency (or any, if national)
    "submit": {"analyst"},  # profiles of the caller's own agency (issue 16), never another's
    "withdraw": {"supervisor"},  # a sample of the caller's agency, or any if national (17)
}
ITEM_OPERATIONS = {"show", "claim", "release", "review", "escalate", "confirm", "reject",
                   "return"}  # fmt: skip
# (the item's agencies, the caller): "other" is outside the item, "partner" its second agency
CELLS = [("A1", "own"), ("A1", "other"), ("A1", "national"), ("A1+A2", "own"),
         ("A1+A2", "partner"), ("A1+A2", "other"), ("A1+A2", "national")]  # fmt: skip
CALLER_AGENCY = {"own": "A1", "partner": "A2", "national": "NAT"}
_cases = itertools.count()


@pytest.fixture(scope="module", params=ENGINES)
def queue(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, agencies: Agencies
) -> Iterator[ReviewQueue]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    queue = open_queue(queue_url(request.param, Path(tmp_path_factory.mktemp("q")), server),
                       agencies)  # fmt: skip
    yield queue
    queue.close()


@pytest.fixture(scope="module")
def setup_queue(
    queue: ReviewQueue, agencies: Agencies, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReviewQueue]:
    """The same queue for preparing items, with a trust file that lets every agency's
    officers act nationally (so that a caller of any agency can hold an item of A1)."""
    everywhere = {"A1": ["A1", "national"], "A2": ["A2", "national"],
                  "A3": ["A3", "national"], "NAT": ["national"]}  # fmt: skip
    trust = agencies.trust_granting(tmp_path_factory.mktemp("t") / "all.toml", everywhere)
    setup = ReviewQueue(queue.db.url, trust, key=queue.key.path if queue.key else None)
    yield setup
    setup.close()


@pytest.fixture(scope="module")
def submissions(queue: ReviewQueue, tmp_path_factory: pytest.TempPathFactory) -> Submissions:
    """Submissions of profiles into a store, authorised and audited by ``queue``."""
    return Submissions(tmp_path_factory.mktemp("store"), queue)


def submit(submissions: Submissions, token: str, agency: str) -> object:
    """A batch of one profile for ``agency``."""
    sample = f"S{next(_cases)}"
    body = {"agency": agency, "profiles": [{"sample_id": sample,
                                            "genotypes": {"D3S1358": "15/16"}}]}  # fmt: skip
    return submissions.submit(token, sample, json.dumps(body).encode(), "application/json")


def caller_agency(kind: str, jurisdiction: str) -> str:
    if jurisdiction == "other":  # outside the item: A2 for an item of A1 alone, else A3
        return "A2" if kind == "A1" else "A3"
    return CALLER_AGENCY[jurisdiction]


def caller(agencies: Agencies, role: str, agency: str, officer: str) -> str:
    """A token of ``role`` of ``agency`` (NAT: national)."""
    if agency == "NAT":
        return agencies.token(officer, [role], agency="NAT", jurisdiction="national")
    return agencies.token(officer, [role], agency=agency)


def prepare(queue: ReviewQueue, agencies: Agencies, operation: str, officer: str,
            agency: str, kind: str) -> int:  # fmt: skip
    """An item of the agencies ``kind`` in the state the operation applies to; claims are
    held by the caller (the same officer of the same agency), reviews and escalations by
    someone else."""
    analyst = agencies.token("setup-analyst", ["analyst"], agency="A1")
    [(item_id, _)] = queue.push(analyst, [new_item(f"Q{next(_cases)}",
                                                   agencies=tuple(kind.split("+")))])  # fmt: skip
    holder = agencies.token(officer, ["reviewer"], agency=agency,
                            jurisdiction="national" if agency != "A1" else "A1")  # fmt: skip
    other = agencies.token("setup-reviewer", ["reviewer"], agency="A1")
    if operation in ("show", "release", "review", "escalate"):
        queue.claim(holder, item_id)
    elif operation in ("confirm", "reject"):
        queue.claim(other, item_id)
        queue.review(other, item_id, "supports", "setup")
    elif operation == "return":
        queue.claim(other, item_id)
        queue.escalate(other, item_id, "setup")
    return item_id


def act(queue: ReviewQueue, operation: str, token: str, item_id: int,
        kind: str, submissions: Submissions, watcher: str) -> Callable[[], object]:  # fmt: skip
    owners = tuple(kind.split("+"))
    calls: dict[str, Callable[[], object]] = {
        "push": lambda: queue.push(token, [new_item(f"P{next(_cases)}", agencies=owners)]),
        "list": lambda: queue.list_items(token),
        "show": lambda: queue.show(token, item_id),
        "claim": lambda: queue.claim(token, item_id),
        "release": lambda: queue.release(token, item_id),
        "review": lambda: queue.review(token, item_id, "rejects", "policy test"),
        "escalate": lambda: queue.escalate(token, item_id, "policy test"),
        "confirm": lambda: queue.confirm(token, item_id, "policy test"),
        "reject": lambda: queue.reject(token, item_id, "policy test"),
        "return": lambda: queue.return_to_pending(token, item_id, "policy test"),
        "audit": lambda: queue.audit(token),
        "verify-audit": lambda: queue.verify_audit(token),
        "checkpoint": lambda: queue.checkpoint(token),
        "checkpoints": lambda: queue.checkpoints(token),
        "revoke": lambda: queue.revoke(token, Revocation("policy test", jti=f"J{next(_cases)}")),
        "submit": lambda: submit(submissions, token, owners[0]),
        # the item's query, a sample of its first agency (as the store would say)
        "withdraw": lambda: queue.withdraw(
            token,
            Withdrawal(
                f"W{next(_cases)}",
                queue.show(watcher, item_id).summary.query_id,
                owners[0],
                "case-closed",
            ),
        ),
    }
    return calls[operation]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("operation", "kind", "jurisdiction"), [
    (operation, kind, jurisdiction) for operation in TABLE for kind, jurisdiction in CELLS
    # the other operations do not read an item's agencies: one kind of item is enough
    if kind == "A1" or operation in {*ITEM_OPERATIONS, "push", "list", "audit", "withdraw"}
])  # fmt: skip
def test_policy_cell(
    queue: ReviewQueue,
    setup_queue: ReviewQueue,
    submissions: Submissions,
    agencies: Agencies,
    operation: str,
    role: str,
    kind: str,
    jurisdiction: str,
) -> None:
    officer = f"{role}-{operation}-{kind}-{jurisdiction}"
    agency = caller_agency(kind, jurisdiction)
    item_id = prepare(setup_queue, agencies, operation, officer, agency, kind)
    supervisor = agencies.token("watcher", ["supervisor"], jurisdiction="national")
    before = queue.show(supervisor, item_id).state
    token = caller(agencies, role, agency, officer)
    covered = jurisdiction != "other"
    call = act(queue, operation, token, item_id, kind, submissions, supervisor)
    if role not in TABLE[operation]:
        with pytest.raises(AccessDeniedError):
            call()
        outcome = "refused: role"
    elif operation in ITEM_OPERATIONS and not covered:
        with pytest.raises(ItemNotFoundError, match=f"^no item {item_id}$"):
            call()
        outcome = "refused: no such item"  # as for a missing item, in the audit too
    elif operation == "push" and not covered:
        with pytest.raises(AccessDeniedError):
            call()
        outcome = "refused: outside jurisdiction"
    elif operation == "withdraw" and jurisdiction not in ("own", "national"):  # A1's sample
        with pytest.raises(ItemNotFoundError):
            call()
        outcome = "refused: no such sample"
    elif operation == "submit" and jurisdiction != "own":  # national too: not its profiles
        with pytest.raises(AccessDeniedError):
            call()
        outcome = "refused: another agency"
    else:
        result = call()
        outcome = "allowed"
        if operation == "list":  # allowed everywhere; another agency's items are omitted
            assert isinstance(result, list)
            assert (item_id in {i.id for i in result}) == covered
    after = queue.show(supervisor, item_id).state
    changes = {"claim": State.CLAIMED, "release": State.PENDING, "review": State.REVIEWED,
               "escalate": State.ESCALATED, "confirm": State.CONFIRMED,
               "reject": State.REJECTED, "return": State.PENDING,
               "withdraw": State.WITHDRAWN}  # fmt: skip
    if outcome == "allowed" and operation in changes:
        assert after == changes[operation]
    else:
        assert after == before
    auditor = agencies.token("auditor", ["auditor"], jurisdiction="national")
    mine = [r for r in queue.audit(auditor) if r.actor == f"{officer}@{agency}"
            and r.operation == operation]  # fmt: skip
    assert [r.outcome.split(":")[0] for r in mine][-1:] == [outcome.split(":")[0]]
    if outcome.startswith("refused"):
        assert mine[-1].outcome == outcome
