"""Review items of cross-agency hits, on both engines: a child entered by A1 and its mother
registered by A2 make one item that belongs to both; each sees it within its jurisdiction,
either pushing it again hears "already queued", and A3, outside it, cannot tell whether it
exists."""

from __future__ import annotations

import pytest
from queue_support import Agencies, new_item, open_queue

from kinmatch.errors import AccessDeniedError, ItemNotFoundError
from kinmatch.queue import ReviewQueue

BOTH = ("A1", "A2")


@pytest.fixture
def queue(url: str, agencies: Agencies) -> ReviewQueue:
    return open_queue(url, agencies)


def analyst(agencies: Agencies, agency: str) -> str:
    return agencies.token(f"ana-{agency}", ["analyst"], agency=agency)


def test_one_item_for_both_agencies_and_already_queued_for_either(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    [(item_id, created)] = queue.push(analyst(agencies, "A1"), [new_item("C1", agencies=BOTH)])
    assert created
    assert queue.push(analyst(agencies, "A2"), [new_item("C1", agencies=BOTH)]) == [
        (item_id, False)]  # fmt: skip
    national = agencies.token("nat", ["analyst"], agency="NAT", jurisdiction="national")
    assert queue.push(national, [new_item("C1", agencies=BOTH)]) == [(item_id, False)]
    for agency in BOTH:  # each sees it, listed and shown, within its own jurisdiction
        reviewer = agencies.token(f"rob-{agency}", ["reviewer"], agency=agency)
        supervisor = agencies.token(f"sue-{agency}", ["supervisor"], agency=agency)
        assert item_id in {i.id for i in queue.list_items(reviewer)}
        assert queue.show(supervisor, item_id).agencies == BOTH
    outsider = agencies.token("rob-A3", ["reviewer"], agency="A3")
    assert item_id not in {i.id for i in queue.list_items(outsider)}
    with pytest.raises(ItemNotFoundError, match=f"^no item {item_id}$"):
        queue.show(agencies.token("sue-A3", ["supervisor"], agency="A3"), item_id)


def test_a_pusher_outside_cannot_learn_that_the_item_exists(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    """A3 pushing the queued hit and a hit nobody queued: the same refusal, nothing added,
    and the same outcome in the audit."""
    queue.push(analyst(agencies, "A1"), [new_item("C1", agencies=BOTH)])
    refusals = []
    for query in ("C1", "C9"):  # queued, and not
        with pytest.raises(AccessDeniedError) as refused:
            queue.push(analyst(agencies, "A3"), [new_item(query, agencies=BOTH)])
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    national = agencies.token("sue", ["supervisor"], jurisdiction="national")
    assert [i.query_id for i in queue.list_items(national)] == ["C1"]
    auditor = agencies.token("aud", ["auditor"], jurisdiction="national")
    outcomes = [r.outcome for r in queue.audit(auditor) if r.actor == "ana-A3@A3"]
    assert outcomes == ["refused: outside jurisdiction"] * 2


def test_an_item_of_one_agency_stays_that_agencys(queue: ReviewQueue, agencies: Agencies) -> None:
    """Without the profiles' agencies an item is the pusher's (or its ``agency``), as before;
    the same hit of another set of agencies is another item."""
    [(mine, _)] = queue.push(analyst(agencies, "A1"), [new_item("C1")])
    [(both, created)] = queue.push(analyst(agencies, "A1"), [new_item("C1", agencies=BOTH)])
    assert created and both != mine
    reviewer = agencies.token("rob-A2", ["reviewer"], agency="A2")
    assert {i.id for i in queue.list_items(reviewer)} == {both}
    auditor = agencies.token("aud-A2", ["auditor"], agency="A2")
    assert {r.item_id for r in queue.audit(auditor) if r.item_id is not None} == {both}
