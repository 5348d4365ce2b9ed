"""The review queue on both real engines: workflow, idempotency, leases, the two-person rule,
token attacks, secrecy of genotypes and the audit chain."""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from queue_support import (
    GENOTYPE_TEXT,
    Agencies,
    evidence_item,
    new_item,
    open_queue,
    queue_key,
)

from kinmatch.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidTransitionError,
    ItemNotFoundError,
    QueueError,
)
from kinmatch.queue import NewItem, ReviewQueue, State
from kinmatch.queue import database as queue_database
from kinmatch.queue import rows as queue_rows
from kinmatch.queue import service as queue_service
from kinmatch.queue.database import SCHEMA_VERSION, Database

ALL_VERSIONS = [(version,) for version in range(1, SCHEMA_VERSION + 1)]
REVOCATIONS_VERSION = queue_database.MIGRATIONS["sqlite"].index(queue_database._REVOCATIONS) + 1
ITEM_AGENCIES_VERSION = queue_database.MIGRATIONS["sqlite"].index(queue_database._ITEM_AGENCIES) + 1
WITHDRAWALS_VERSION = next(
    i + 1
    for i, step in enumerate(queue_database.MIGRATIONS["sqlite"])
    if any("CREATE TABLE withdrawals" in str(s) for s in step)
)


def older_schema(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """Queues opened from here on are as the code of schema ``version`` made them: migrated up
    to it only, without revocations or withdrawals before their version, and with items of
    one agency, in their ``agency`` column only, before cross-agency items."""
    monkeypatch.setattr(queue_database, "SCHEMA_VERSION", version)
    if version < WITHDRAWALS_VERSION:  # no withdrawals: every item reads as stored
        monkeypatch.setattr(queue_service, "withheld", lambda tx, caller, item: item)
    if version < REVOCATIONS_VERSION:
        monkeypatch.setattr(queue_service, "revoked", lambda tx, caller: False)
    if version < ITEM_AGENCIES_VERSION:

        def queue_item(tx: Any, new: NewItem, owners: Any, pushed_by: str, now: str) -> Any:
            (agency,) = owners
            key = f"{agency}/{new.key}"
            row = tx.one(queue_rows.INSERT_ITEM,
                         queue_rows.item_values(new, key, agency, pushed_by, now))  # fmt: skip
            if row is None:
                return int(tx.one("SELECT id FROM items WHERE key = ?", (key,))[0]), False
            return int(row[0]), True

        monkeypatch.setattr(queue_service, "queue_item", queue_item)
        monkeypatch.setattr(queue_service, "ITEMS_OF_AGENCY",
                            "SELECT id FROM items WHERE agency = ?")  # fmt: skip
        monkeypatch.setattr(queue_rows, "ITEMS_OF_AGENCY", "SELECT id FROM items WHERE agency = ?")


@pytest.fixture
def queue(url: str, agencies: Agencies) -> ReviewQueue:
    return open_queue(url, agencies)


def tokens(agencies: Agencies) -> dict[str, str]:
    return {
        "analyst": agencies.token("ana", ["analyst"]),
        "reviewer": agencies.token("rob", ["reviewer"]),
        "reviewer2": agencies.token("rita", ["reviewer"]),
        "supervisor": agencies.token("sue", ["supervisor"]),
        "auditor": agencies.token("aud", ["auditor"]),
        # one person holding both roles: the two-person rule is on the person
        "both": agencies.token("bob", ["reviewer", "supervisor"]),
    }


def test_workflow_from_push_to_confirmation(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    [(item_id, created)] = queue.push(t["analyst"], [new_item()])
    assert created
    assert [i.state for i in queue.list_items(t["reviewer"])] == [State.PENDING]
    claimed = queue.claim(t["reviewer"])
    assert claimed is not None and claimed.id == item_id and claimed.state == State.CLAIMED
    shown = queue.show(t["reviewer"], item_id)
    assert shown.loci[0]["genotypes"]["child"] == "14/17.3"
    assert shown.parameters["theta"] == 0.01 and shown.store_version == "3"
    queue.review(t["reviewer"], item_id, "supports", "every locus consistent")
    queue.confirm(t["supervisor"], item_id, "agree with the reviewer")
    final = queue.show(t["supervisor"], item_id)
    assert final.state == State.CONFIRMED
    assert (final.reviewed_by, final.finding, final.decided_by) == ("rob@A1", "supports",
                                                                    "sue@A1")  # fmt: skip
    operations = [(r.actor, r.operation, r.outcome) for r in queue.audit(t["auditor"])]
    assert operations == [
        ("ana@A1", "push", "allowed"),
        ("rob@A1", "list", "allowed: 1 items"),
        ("rob@A1", "claim", "allowed"),
        ("rob@A1", "show", "allowed"),
        ("rob@A1", "review", "allowed"),
        ("sue@A1", "confirm", "allowed"),
        ("sue@A1", "show", "allowed"),
    ]
    assert queue.verify_audit(t["auditor"]).ok


def test_escalation_is_decided_or_returned(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item("C1"), new_item("C2")])]
    for item_id in ids:
        queue.claim(t["reviewer"], item_id)
        queue.escalate(t["reviewer"], item_id, "two inconsistent loci")
    queue.return_to_pending(t["supervisor"], ids[0], "needs a second look")
    queue.reject(t["supervisor"], ids[1], "excluded at three loci")
    states = {i.id: i.state for i in queue.list_items(t["supervisor"])}
    assert states == {ids[0]: State.PENDING, ids[1]: State.REJECTED}
    assert queue.claim(t["reviewer2"]) is not None  # the returned item is claimable again


def test_pushing_the_same_hit_twice_yields_one_item(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    first = queue.push(t["analyst"], [new_item(), new_item("C2")])
    again = queue.push(agencies.token("al", ["analyst"]), [new_item("C2"), new_item()])
    assert [created for _, created in first] == [True, True]
    assert again == [(first[1][0], False), (first[0][0], False)]
    assert len(queue.list_items(t["supervisor"])) == 2
    other_parameters = new_item()
    changed = type(other_parameters)(**{**other_parameters.__dict__,
                                        "parameters": {"theta": 0.03}})  # fmt: skip
    assert queue.push(t["analyst"], [changed])[0][1]  # other search parameters: new item


@pytest.mark.parametrize(
    ("setup", "operation"),
    [
        ([], "review"),  # pending: review needs a claim
        ([], "release"),
        ([], "escalate"),
        ([], "confirm"),
        ([], "return"),
        (["claim"], "claim"),
        (["claim"], "confirm"),  # claimed: not yet reviewed
        (["claim", "review"], "claim"),
        (["claim", "review"], "review"),
        (["claim", "review"], "return"),  # only escalations return
        (["claim", "review", "confirm"], "reject"),  # decided: final
        (["claim", "review", "confirm"], "claim"),
        (["claim", "escalate"], "review"),
    ],
)
def test_illegal_transitions_are_refused(
    queue: ReviewQueue, agencies: Agencies, setup: list[str], operation: str
) -> None:
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    steps = {
        "claim": lambda: queue.claim(t["reviewer"], item_id),
        "release": lambda: queue.release(t["reviewer"], item_id),
        "review": lambda: queue.review(t["reviewer"], item_id, "supports", "fits"),
        "escalate": lambda: queue.escalate(t["reviewer"], item_id, "unsure"),
        "confirm": lambda: queue.confirm(t["supervisor"], item_id, "yes"),
        "reject": lambda: queue.reject(t["supervisor"], item_id, "no"),
        "return": lambda: queue.return_to_pending(t["supervisor"], item_id, "again"),
    }
    for step in setup:
        steps[step]()
    before = queue.show(t["supervisor"], item_id).state
    with pytest.raises(InvalidTransitionError, match=f"item {item_id} is {before.value}"):
        steps[operation]()
    assert queue.show(t["supervisor"], item_id).state == before
    refused = [r for r in queue.audit(t["auditor"]) if r.outcome.startswith("refused")]
    assert [r.outcome for r in refused] == [f"refused: state {before.value}"]


def test_only_the_holder_acts_on_a_claim(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    queue.claim(t["reviewer"], item_id)
    for act in (
        lambda: queue.review(t["reviewer2"], item_id, "rejects", "no"),
        lambda: queue.release(t["reviewer2"], item_id),
        lambda: queue.escalate(t["reviewer2"], item_id, "why"),
        lambda: queue.show(t["reviewer2"], item_id),  # genotypes: the holder's only
    ):
        with pytest.raises(AccessDeniedError):
            act()
    queue.release(t["reviewer"], item_id)
    with pytest.raises(AccessDeniedError):  # released: no longer the holder's to see
        queue.show(t["reviewer"], item_id)


def test_two_person_rule_is_on_the_person(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item("C1"), new_item("C2")])]
    queue.claim(t["both"], ids[0])
    queue.review(t["both"], ids[0], "supports", "fits")
    queue.claim(t["both"], ids[1])
    queue.escalate(t["both"], ids[1], "unsure")
    for decide in (queue.confirm, queue.reject):
        for item_id in ids:
            with pytest.raises(AccessDeniedError, match="two-person rule"):
                decide(t["both"], item_id, "my own")
    with pytest.raises(AccessDeniedError, match="two-person rule"):
        queue.return_to_pending(t["both"], ids[1], "my own")
    # the same name from another token is the same person
    with pytest.raises(AccessDeniedError, match="two-person rule"):
        queue.confirm(agencies.token("bob", ["supervisor"]), ids[0], "still me")
    queue.confirm(t["supervisor"], ids[0], "second person")
    queue.reject(t["supervisor"], ids[1], "second person")


def test_expired_lease_returns_the_item(url: str, agencies: Agencies) -> None:
    t = tokens(agencies)  # issued first: a token is not valid before its 'iat'
    now = [time.time()]
    queue = open_queue(url, agencies, lease=60.0, clock=lambda: now[0])
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    queue.claim(t["reviewer"], item_id)
    now[0] += 59
    assert queue.claim(t["reviewer2"]) is None  # still held
    now[0] += 2
    again = queue.claim(t["reviewer2"])
    assert again is not None and again.id == item_id
    with pytest.raises(AccessDeniedError):  # the first reviewer lost it
        queue.review(t["reviewer"], item_id, "supports", "late")
    expiries = [r for r in queue.audit(t["auditor"]) if r.operation == "lease-expired"]
    assert [(r.actor, r.item_id) for r in expiries] == [("system", item_id)]
    assert queue.verify_audit(t["auditor"]).ok


def test_jurisdiction_hides_other_agencies_items(queue: ReviewQueue, agencies: Agencies) -> None:
    a1 = tokens(agencies)
    a2_analyst = agencies.token("zoe", ["analyst"], agency="A2")
    a2_supervisor = agencies.token("zed", ["supervisor"], agency="A2")
    national = agencies.token("nat", ["supervisor"], jurisdiction="national")
    [(mine, _)] = queue.push(a1["analyst"], [new_item("C1")])
    [(theirs, _)] = queue.push(a2_analyst, [new_item("C2")])
    assert [i.id for i in queue.list_items(a1["supervisor"])] == [mine]
    assert [i.id for i in queue.list_items(a2_supervisor)] == [theirs]
    assert [i.id for i in queue.list_items(national)] == [mine, theirs]
    missing = 10_000
    for item_id in (theirs, missing):  # another agency's item reads exactly like none
        with pytest.raises(ItemNotFoundError) as caught:
            queue.show(a1["supervisor"], item_id)
        assert str(caught.value) == f"no item {item_id}"
    with pytest.raises(AccessDeniedError):  # nor may an analyst push for another agency
        queue.push(a1["analyst"], [new_item("C3", agency="A2")])


def forged(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token with any header and payload and a garbage signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header or {'alg': 'EdDSA', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def attacks(agencies: Agencies) -> dict[str, str]:
    now = int(time.time())
    good = agencies.token("eve", ["supervisor"])
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    raised = {**claims, "roles": ["supervisor", "auditor"], "jurisdiction": "national"}
    altered = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode()
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    public_pem = (agencies.trust_dir / "A1.pub").read_bytes()
    stranger = Ed25519PrivateKey.generate()
    return {
        "expired": agencies.token("eve", ["supervisor"], now=now - 7200, ttl=3600),
        "future nbf": _signed_a1(agencies, {**claims, "nbf": now + 3600}),
        "altered payload": f"{header}.{altered}.{signature}",
        "altered signature": f"{header}.{payload}.{flipped}",
        "another agency's key": jwt.encode(claims, _key(agencies, "A2"), algorithm="EdDSA"),
        "unknown issuer": agencies.token("eve", ["supervisor"], agency="X9"),
        "unknown key": jwt.encode(claims, stranger, algorithm="EdDSA"),
        "alg none": forged(claims, {"alg": "none", "typ": "JWT"})[: -len("c2lnbmF0dXJl")],
        "HS256 with the public key": _hmac(claims, public_pem),
        "missing roles": _signed_a1(agencies, {k: v for k, v in claims.items() if k != "roles"}),
        "missing exp": _signed_a1(agencies, {k: v for k, v in claims.items() if k != "exp"}),
        "missing sub": _signed_a1(agencies, {k: v for k, v in claims.items() if k != "sub"}),
        "missing jurisdiction": _signed_a1(
            agencies, {k: v for k, v in claims.items() if k != "jurisdiction"}
        ),
        "unknown role": _signed_a1(agencies, {**claims, "roles": ["admin"]}),
        # every token has an id, by which it can be revoked
        "missing jti": _signed_a1(agencies, {k: v for k, v in claims.items() if k != "jti"}),
        "jti not text": _signed_a1(agencies, {**claims, "jti": 7}),
        "jti too long": _signed_a1(agencies, {**claims, "jti": "x" * 129}),
        "jti with a space": _signed_a1(agencies, {**claims, "jti": "a b"}),
        "empty": "",
        "garbage": "not.a.token",
    }


def _key(agencies: Agencies, agency: str) -> Ed25519PrivateKey:
    from kinmatch.security.keys import load_private_key

    return load_private_key(agencies.keys / f"{agency}.key")


def _signed_a1(agencies: Agencies, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, _key(agencies, "A1"), algorithm="EdDSA")


def _hmac(claims: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims)
    mac = hmac.new(secret, signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


def test_token_attacks_are_refused_and_audited(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    forged_tokens = attacks(agencies)
    for token in forged_tokens.values():
        with pytest.raises(AuthenticationError):
            queue.show(token, item_id)
        with pytest.raises(AuthenticationError):
            queue.list_items(token)
    national = agencies.token("nat", ["auditor"], jurisdiction="national")
    refused = [r for r in queue.audit(national) if r.outcome.startswith("refused: token")]
    assert len(refused) == 2 * len(forged_tokens)
    # an agency's auditor sees the refusals of tokens claiming to be from that agency
    claimed_a1 = [r for r in refused if r.actor.endswith("@A1")]
    assert [r.seq for r in queue.audit(t["auditor"]) if r.outcome.startswith("refused: token")
            ] == [r.seq for r in claimed_a1] and len(claimed_a1) == 2 * 17  # fmt: skip
    assert all(r.actor.startswith("unverified:") and r.roles == "" for r in refused)
    assert queue.show(t["supervisor"], item_id).state == State.PENDING  # nothing changed


def test_role_refusals_are_audited(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    with pytest.raises(AccessDeniedError):
        queue.push(t["reviewer"], [new_item()])
    with pytest.raises(AccessDeniedError):
        queue.audit(t["analyst"])
    records = queue.audit(t["auditor"])
    assert [(r.actor, r.operation, r.outcome) for r in records] == [
        ("rob@A1", "push", "refused: role"),
        ("ana@A1", "audit", "refused: role"),
    ]


def test_no_genotype_outside_show(queue: ReviewQueue, agencies: Agencies, url: str) -> None:
    t = tokens(agencies)
    [(item_id, _), _] = queue.push(t["analyst"], [new_item(), evidence_item("C2")])
    seen = [repr(queue.list_items(t["analyst"])), repr(queue.claim(t["reviewer"], item_id))]
    for act in (
        lambda: queue.show(t["reviewer2"], item_id),
        lambda: queue.show(t["analyst"], item_id),
        lambda: queue.confirm(t["supervisor"], item_id, "too early"),
    ):
        with pytest.raises(QueueError) as caught:
            act()
        seen.append(str(caught.value))
    seen.append(repr(queue.audit(t["auditor"])))
    for text in seen:
        assert not any(g in text for g in GENOTYPE_TEXT), text


def test_audit_tampering_is_detected(url: str, agencies: Agencies) -> None:
    queue = open_queue(url, agencies)
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item(f"C{i}") for i in range(3)])]
    for item_id in ids:
        queue.claim(t["reviewer"], item_id)
    assert queue.verify_audit(t["auditor"]).ok  # records 1-6, then this check is record 7
    db = Database(url)

    def tamper(*statements: str) -> None:
        with db.transaction(lock_audit=False) as tx:
            _drop_guards(tx, db.engine)
            for statement in statements:
                tx.execute(statement)

    with pytest.raises(QueueError), db.transaction() as tx:  # the log refuses changes
        tx.execute("UPDATE audit SET outcome = 'allowed' WHERE seq = 2")
    tamper("UPDATE audit SET outcome = 'refused: role' WHERE seq = 3")
    result = queue.verify_audit(t["auditor"])
    assert not result.ok and result.first_bad == 3 and "altered" in result.reason


def _drop_guards(tx: Any, engine: str) -> None:
    """What an attacker with administrator rights on the database would do first."""
    if engine == "sqlite":
        tx.execute("DROP TRIGGER IF EXISTS audit_no_update")
        tx.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    else:
        tx.execute("DROP TRIGGER IF EXISTS audit_no_change ON audit")


@pytest.mark.parametrize("attack", ["edit", "delete", "insert", "reorder", "truncate"])
def test_every_kind_of_tampering_names_the_first_bad_record(
    url: str, agencies: Agencies, attack: str
) -> None:
    queue = open_queue(url, agencies)
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item(f"C{i}") for i in range(4)])]
    assert len(ids) == 4  # audit records 1-4
    db = Database(url)
    statements = {
        "edit": ["UPDATE audit SET actor = 'someone@A1' WHERE seq = 2"],
        "delete": ["DELETE FROM audit WHERE seq = 2"],
        "insert": [
            "UPDATE audit SET seq = seq + 100 WHERE seq >= 3",
            "INSERT INTO audit (seq, at, actor, roles, operation, item_id, outcome, prev_hash, "
            "hash, item_digest) SELECT 3, at, actor, roles, operation, item_id, outcome, "
            "prev_hash, hash, item_digest FROM audit WHERE seq = 2",
            "UPDATE audit SET seq = seq - 99 WHERE seq >= 100",
        ],
        "reorder": [
            "UPDATE audit SET seq = 100 WHERE seq = 2",
            "UPDATE audit SET seq = 2 WHERE seq = 3",
            "UPDATE audit SET seq = 3 WHERE seq = 100",
        ],
        "truncate": ["DELETE FROM audit WHERE seq = 4"],
    }
    with db.transaction(lock_audit=False) as tx:
        _drop_guards(tx, db.engine)
        for statement in statements[attack]:
            tx.execute(statement)
    result = queue.verify_audit(t["auditor"])
    assert not result.ok, attack
    expected = {"edit": 2, "delete": 2, "insert": 3, "reorder": 2, "truncate": 4}[attack]
    assert result.first_bad == expected, result


def test_schema_is_versioned_and_reopened(url: str, agencies: Agencies) -> None:
    first = open_queue(url, agencies)
    t = tokens(agencies)
    first.push(t["analyst"], [new_item()])
    first.close()
    again = open_queue(url, agencies)  # migrations are not re-applied
    assert len(again.list_items(t["supervisor"])) == 1
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
        tx.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(QueueError, match="schema version 99"):
        Database(url)


def test_sqlite_settings(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    with db.transaction(lock_audit=False) as tx:
        assert tx.one("PRAGMA journal_mode") == ("wal",)
        assert tx.one("PRAGMA synchronous") == (2,)  # FULL
        assert tx.one("PRAGMA foreign_keys") == (1,)
    assert (tmp_path / "q.db").stat().st_mode & 0o077 == 0


def test_items_from_search_hits(tmp_path: Path, queue: ReviewQueue, agencies: Agencies) -> None:
    from kinmatch import load_frequencies, read_profiles
    from kinmatch.mutation import MutationModel, MutationRates
    from kinmatch.queue import NewItem
    from kinmatch.search import Searcher
    from kinmatch.store import ReferenceStore

    fixtures = Path(__file__).parent.parent / "fixtures"
    store = ReferenceStore.create(tmp_path / "store")
    store.ingest_csv([fixtures / "examples" / "profiles.csv"])
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6)
    searcher = Searcher(store, load_frequencies(fixtures / "freq_China_GBT37223.csv"),
                        theta=0.01, mutation=model)  # fmt: skip
    child = read_profiles(fixtures / "examples" / "profiles.csv")["U01"]
    duo = searcher.search(child, "parent-child", top_k=2)
    couple = searcher.search(child, "parents-child", top_k=1)
    items = [NewItem.from_hit(h, searcher.parameters, str(store.generation))
             for h in (*duo.hits, *couple.hits)]  # fmt: skip
    t = tokens(agencies)
    ids = [i for i, created in queue.push(t["analyst"], items) if created]
    assert len(ids) == 3
    assert queue.push(t["analyst"], items[:1]) == [(ids[0], False)]  # same hit: same item
    listed = queue.list_items(t["supervisor"])
    assert [i.reference_ids for i in listed] == [("K01-M",), ("K01-F",), ("K01-F", "K01-M")]
    assert listed[2].case_id == "K01" and listed[2].relationship == "parents-child"
    shown = queue.show(t["supervisor"], ids[2])
    assert shown.parameters["theta"] == 0.01
    assert shown.parameters["mutation"]["model"] == "stepwise"
    assert shown.store_version == str(store.generation)
    vwa = next(x for x in shown.loci if x["locus"] == "vWA")
    assert set(vwa["genotypes"]) == {"child", "father", "mother"}
    assert vwa["genotypes"]["child"] == "/".join(child.genotypes["vWA"])
    assert math.isclose(shown.summary.lr, couple.hits[0].lr)


# -- the database-size-aware evidence of a hit ----------------------------------------------


def test_evidence_is_stored_listed_and_shown(queue: ReviewQueue, agencies: Agencies) -> None:
    t = tokens(agencies)
    items = [evidence_item("C1"), evidence_item("C2", caution=False), new_item("C3")]
    ids = [i for i, created in queue.push(t["analyst"], items) if created]
    assert len(ids) == 3
    listed = queue.list_items(t["reviewer"])
    assert [(i.p_unrelated, i.expected_unrelated, i.database_verdict) for i in listed] == [
        (1e-5, 5000 * 1e-5, "support-database-caution"),
        (1e-9, 5000 * 1e-9, "support"),
        (None, None, None),
    ]
    assert [i.cautioned for i in listed] == [True, False, False]
    assert listed[0].caution() == (
        "caution: in the database searched, 0.05 unrelated references are expected to score "
        "this high; confirm with more loci or other evidence"
    )
    assert listed[1].caution() is None and listed[2].caution() is None
    shown = [queue.show(t["supervisor"], i) for i in ids]
    assert [s.n_searched for s in shown] == [5000, 5000, None]
    assert shown[0].caution is not None and shown[0].caution.startswith(
        "caution: in a database of 5000 references, 0.05 unrelated references are expected "
        "to score this high"
    )
    assert shown[1].caution is None and shown[2].caution is None
    assert shown[0].summary == listed[0]
    # the evidence is not part of the idempotency key: the item keeps its first evidence
    later = replace(evidence_item("C1"), p_unrelated=0.5, expected_unrelated=9e6, n_searched=9)
    assert later.key == evidence_item("C1").key == new_item("C1").key
    assert queue.push(t["analyst"], [later, new_item("C2")]) == [(ids[0], False), (ids[1], False)]
    assert queue.show(t["supervisor"], ids[0]).n_searched == 5000
    assert queue.list_items(t["reviewer"]) == listed


def test_couple_caution_counts_couples() -> None:
    item = replace(evidence_item(), reference_ids=("F1", "M1"), relationship="parents-child")
    summary = _summary_of(item)
    assert summary.caution(200) == (
        "caution: in a database of 200 couples, 0.05 unrelated couples are expected to score "
        "this high; confirm with more loci or other evidence"
    )


def _summary_of(item: NewItem) -> Any:
    from kinmatch.queue import ItemSummary

    return ItemSummary(1, State.PENDING, "A1", item.query_id, item.reference_ids, None,
                       item.relationship, item.lr, item.log10_lr, 0, "now", item.p_unrelated,
                       item.expected_unrelated, item.database_verdict)  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("p_unrelated", -1e-300),
        ("p_unrelated", 1.0000001),
        ("p_unrelated", math.nan),
        ("p_unrelated", math.inf),
        ("p_unrelated", "0.5"),
        ("p_unrelated", True),
        ("expected_unrelated", -0.5),
        ("expected_unrelated", math.inf),
        ("expected_unrelated", math.nan),
        ("expected_unrelated", "1"),
        ("n_searched", -1),
        ("n_searched", 1.5),
        ("n_searched", True),
        ("n_searched", 2**63),
        ("database_verdict", ""),
        ("database_verdict", "x" * 65),
        ("database_verdict", "Support"),
        ("database_verdict", "support database caution"),
        ("database_verdict", "support\n14/17.3"),
        ("database_verdict", 3),
    ],
)
def test_evidence_is_validated(field: str, value: Any) -> None:
    with pytest.raises(QueueError, match=field):
        replace(evidence_item(), **{field: value})
    data = {**_as_dict(evidence_item()), field: value}
    with pytest.raises(QueueError):
        NewItem.from_dict(data)


def _as_dict(item: NewItem) -> dict[str, Any]:
    from dataclasses import asdict

    data: dict[str, Any] = json.loads(json.dumps(asdict(item)))
    return data


def test_evidence_from_dict() -> None:
    item = evidence_item()
    assert NewItem.from_dict(_as_dict(item)) == item
    bare = {k: v for k, v in _as_dict(new_item()).items() if k not in (
        "p_unrelated", "expected_unrelated", "n_searched", "database_verdict")}  # fmt: skip
    assert NewItem.from_dict(bare) == new_item()
    # integers for the numbers, an integral float for the count: as other JSON writers send
    loose = {**bare, "p_unrelated": 0, "expected_unrelated": 2, "n_searched": 5000.0,
             "database_verdict": "inconclusive"}  # fmt: skip
    read = NewItem.from_dict(loose)
    assert (read.p_unrelated, read.expected_unrelated, read.n_searched) == (0.0, 2.0, 5000)
    assert isinstance(read.n_searched, int) and isinstance(read.p_unrelated, float)
    assert replace(item, p_unrelated=0.0, expected_unrelated=0.0, n_searched=0).n_searched == 0
    assert replace(item, p_unrelated=1.0).p_unrelated == 1.0


def test_caution_verdict_is_the_evidence_modules() -> None:
    from kinmatch.evidence import SUPPORT_DATABASE_CAUTION
    from kinmatch.queue.models import SUPPORT_DATABASE_CAUTION as QUEUED

    assert QUEUED == SUPPORT_DATABASE_CAUTION


def test_database_refuses_evidence_out_of_range(url: str, agencies: Agencies) -> None:
    queue = open_queue(url, agencies)
    [(item_id, _)] = queue.push(tokens(agencies)["analyst"], [evidence_item()])
    db = Database(url)
    for assignment in ("p_unrelated = 1.5", "p_unrelated = -1", "expected_unrelated = -1",
                       "n_searched = -1"):  # fmt: skip
        with pytest.raises(QueueError), db.transaction() as tx:
            tx.execute(f"UPDATE items SET {assignment} WHERE id = ?", (item_id,))
    db.close()
    assert queue.show(tokens(agencies)["supervisor"], item_id).n_searched == 5000
    queue.close()


_V1_PUSH = (  # the statement version 1 of the queue pushed an item with
    "INSERT INTO items (key, state, agency, query_id, reference_ids, father_id, mother_id, "
    "case_id, relationship, lr, log10_lr, inconsistent_loci, loci, parameters, store_version, "
    "created_at, pushed_by, updated_at) VALUES "
    "(?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


def test_a_version_1_database_is_upgraded_in_place(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    older_schema(monkeypatch, 1)
    old = Database(url)  # the schema of version 1 only
    item = new_item()
    with old.transaction() as tx:
        assert tx.all("SELECT version FROM schema_version") == [(1,)]
        row = tx.one(_V1_PUSH, (item.key, "A1", item.query_id, json.dumps(list(item.reference_ids)),
                                None, None, None, item.relationship, item.lr, item.log10_lr, "[]",
                                json.dumps(list(item.loci)), json.dumps(dict(item.parameters)),
                                item.store_version, "2026-01-01T00:00:00.000000Z", "ana@A1",
                                "2026-01-01T00:00:00.000000Z"))  # fmt: skip
        assert row is not None
    with pytest.raises(QueueError), old.transaction() as tx:
        tx.execute("SELECT p_unrelated FROM items")  # not there yet
    old.close()
    monkeypatch.undo()

    queue = open_queue(url, agencies)  # the current code upgrades it on open
    t = tokens(agencies)
    item_id = int(row[0])
    shown = queue.show(t["supervisor"], item_id)
    assert (shown.summary.query_id, shown.summary.reference_ids, shown.summary.lr) == (
        item.query_id, item.reference_ids, item.lr)  # fmt: skip
    assert shown.loci == item.loci and shown.parameters == item.parameters
    assert (shown.summary.p_unrelated, shown.summary.expected_unrelated, shown.n_searched,
            shown.summary.database_verdict, shown.caution) == (None,) * 5  # fmt: skip
    assert queue.push(t["analyst"], [evidence_item("C1")]) == [(item_id, False)]  # same hit
    [(new_id, created)] = queue.push(t["analyst"], [evidence_item("C2")])
    assert created
    listed = {i.id: i for i in queue.list_items(t["supervisor"])}
    assert listed[item_id].expected_unrelated is None
    assert listed[new_id].database_verdict == "support-database-caution"
    assert queue.show(t["supervisor"], new_id).n_searched == 5000
    queue.close()
    db = Database(url)  # reopened: nothing applied twice
    with db.transaction(lock_audit=False) as tx:
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    db.close()
    queue = open_queue(url, agencies)
    assert queue.verify_audit(t["auditor"]).ok
    assert len(queue.list_items(t["supervisor"])) == 2
    queue.close()


def test_items_from_search_hits_carry_their_evidence(
    tmp_path: Path, queue: ReviewQueue, agencies: Agencies
) -> None:
    from kinmatch import load_frequencies, read_profiles
    from kinmatch.evidence import NullModel, assess
    from kinmatch.search import Searcher
    from kinmatch.store import ReferenceStore

    fixtures = Path(__file__).parent.parent / "fixtures"
    store = ReferenceStore.create(tmp_path / "store")
    store.ingest_csv([fixtures / "examples" / "profiles.csv"])
    searcher = Searcher(store, load_frequencies(fixtures / "freq_China_GBT37223.csv"))
    child = read_profiles(fixtures / "examples" / "profiles.csv")["U01"]
    result = searcher.search(child, "parent-child", top_k=2)
    evidence = assess(NullModel(searcher.tables), result, bound=0.0)  # every support cautioned
    items = [NewItem.from_hit(h, searcher.parameters, str(store.generation), evidence=e)
             for h, e in zip(result.hits, evidence, strict=True)]  # fmt: skip
    plain = NewItem.from_hit(result.hits[0], searcher.parameters, str(store.generation))
    assert plain.key == items[0].key and plain.p_unrelated is None
    with pytest.raises(QueueError, match="another hit"):
        NewItem.from_hit(result.hits[0], searcher.parameters, "1", evidence=evidence[1])
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], items)]
    assert any(e.verdict == "support-database-caution" for e in evidence)
    for item_id, e in zip(ids, evidence, strict=True):
        shown = queue.show(t["supervisor"], item_id)
        assert shown.summary.p_unrelated == pytest.approx(min(e.p_unrelated, 1.0), rel=1e-15)
        assert shown.summary.expected_unrelated == e.expected_unrelated
        assert shown.n_searched == e.n_searched == result.n_scored
        assert shown.summary.database_verdict == e.verdict
        if e.verdict == "support-database-caution":
            assert shown.caution is not None and f"of {e.n_searched} references" in shown.caution


# -- trust: the jurisdictions an agency's tokens may carry ------------------------------------


def test_a_trust_directory_grants_each_agency_its_own_jurisdiction(
    url: str, agencies: Agencies
) -> None:
    from kinmatch.security.tokens import TrustStore

    queue = ReviewQueue(url, TrustStore.from_directory(agencies.trust_dir), key=queue_key(url))
    a2 = agencies.token("zoe", ["analyst"], agency="A2")
    [(theirs, _)] = queue.push(a2, [new_item("C2")])
    roles = ["analyst", "reviewer", "supervisor", "auditor"]
    for widened in ("national", "A2"):  # signed with A1's own key, claiming more than A1
        token = agencies.token("eve", roles, agency="A1", jurisdiction=widened)
        for act in (
            lambda t=token: queue.list_items(t),
            lambda t=token: queue.show(t, theirs),
            lambda t=token: queue.claim(t, theirs),
            lambda t=token: queue.push(t, [new_item("C9", agency="A2")]),
            lambda t=token: queue.audit(t),
        ):
            with pytest.raises(AuthenticationError, match="jurisdiction"):
                act()
    auditor = agencies.token("aud", ["auditor"], agency="A1")
    refused = [r for r in queue.audit(auditor) if r.actor == "unverified:eve@A1"]
    assert len(refused) == 10
    assert all(r.outcome.startswith("refused: token") for r in refused)
    assert queue.list_items(agencies.token("zed", ["supervisor"], agency="A2"))[0].id == theirs
    queue.close()


def test_a_trust_file_says_which_jurisdictions_each_agency_may_grant(
    url: str, agencies: Agencies, tmp_path: Path
) -> None:
    queue = open_queue(url, agencies)
    [(theirs, _)] = queue.push(agencies.token("zoe", ["analyst"], agency="A2"), [new_item("C2")])
    for agency, jurisdiction in (("A1", "national"), ("A1", "A2"), ("A2", "A1"), ("NAT", "A1")):
        token = agencies.token("eve", ["supervisor"], agency=agency, jurisdiction=jurisdiction)
        with pytest.raises(AuthenticationError, match="not one the trust file grants"):
            queue.list_items(token)
    national = agencies.token("nat", ["supervisor"], jurisdiction="national")
    assert [i.id for i in queue.list_items(national)] == [theirs]  # NAT is named national
    refused = [r for r in queue.audit(agencies.token("nat", ["auditor"], jurisdiction="national"))
               if r.actor == "unverified:eve@A1"]  # fmt: skip
    assert [r.outcome for r in refused] == ["refused: token: token 'jurisdiction' is not one "
                                            "the trust file grants its issuer"] * 2  # fmt: skip
    queue.close()
    # a deployment that grants A1 the jurisdiction of A2 (say, a lab working for both)
    wider = agencies.trust_granting(tmp_path / "wider.toml", {"A1": ["A1", "A2"], "A2": ["A2"]})
    queue = ReviewQueue(url, wider, key=queue_key(url))
    helper = agencies.token("eve", ["supervisor"], agency="A1", jurisdiction="A2")
    assert [i.id for i in queue.list_items(helper)] == [theirs]
    with pytest.raises(AuthenticationError):  # but not national, nor NAT, which it omits
        queue.list_items(agencies.token("eve", ["supervisor"], jurisdiction="national"))
    queue.close()


def test_trust_files_are_checked(agencies: Agencies, tmp_path: Path) -> None:
    from kinmatch.security.trust import TrustStore

    pem = (agencies.trust_dir / "A1.pub").read_text()
    as_json = tmp_path / "trust.json"
    national = {"public_key_file": str(agencies.trust_dir / "NAT.pub"),
                "jurisdictions": ["national", "NAT"]}  # fmt: skip
    as_json.write_text(json.dumps({"agencies": {"A1": {"public_key": pem}, "NAT": national}}))
    loaded = TrustStore.load(as_json)
    assert loaded.agencies == ("A1", "NAT")
    assert loaded.jurisdictions("A1") == {"A1"}
    assert loaded.jurisdictions("NAT") == {"national", "NAT"}
    directory = TrustStore.load(agencies.trust_dir)
    assert {a: directory.jurisdictions(a) for a in directory.agencies} == {
        "A1": {"A1"}, "A2": {"A2"}, "A3": {"A3"}, "NAT": {"NAT"}}  # fmt: skip
    key_file = f'public_key_file = "{agencies.trust_dir / "A1.pub"}"'
    bad = {
        "not toml": "[agencies.A1\n",
        "no agencies": "[other]\n",
        "empty": "[agencies]\n",
        "a typo": f"[agencies.A1]\n{key_file}\njurisdiction = ['national']\n",
        "no key": "[agencies.A1]\njurisdictions = ['A1']\n",
        "two keys": f"[agencies.A1]\n{key_file}\npublic_key = '''{pem}'''\n",
        "missing key file": "[agencies.A1]\npublic_key_file = 'nowhere.pub'\n",
        "not a key": "[agencies.A1]\npublic_key = 'hello'\n",
        "no jurisdiction": f"[agencies.A1]\n{key_file}\njurisdictions = []\n",
        "a bad jurisdiction": f"[agencies.A1]\n{key_file}\njurisdictions = ['../x']\n",
        "a repeated one": f"[agencies.A1]\n{key_file}\njurisdictions = ['A1', 'A1']\n",
        "a bad code": f"[agencies.'a/b']\n{key_file}\n",
        "national as a code": f"[agencies.national]\n{key_file}\n",
    }
    for name, text in bad.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(QueueError):  # noqa: PT012 (the name says which case did not raise)
            TrustStore.load(path)
            pytest.fail(name)


# -- token times: finite, and a bounded lifetime ----------------------------------------------


def _signed_raw(agencies: Agencies, payload: bytes) -> str:
    """A token of A1 whose payload is exactly ``payload`` (JSON text as an attacker wrote it)."""
    return jwt.api_jws.PyJWS().encode(payload, _key(agencies, "A1"), algorithm="EdDSA")


def test_token_times_must_be_finite_and_the_lifetime_bounded(url: str, agencies: Agencies) -> None:
    queue = open_queue(url, agencies)
    now = int(time.time())
    base = {"iss": "A1", "sub": "eve", "roles": ["supervisor"], "jurisdiction": "A1",
            "jti": "t-1", "iat": now, "nbf": now, "exp": now + 3600}  # fmt: skip
    refused: dict[str, str] = {}
    for name in ("iat", "nbf", "exp"):
        for text in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400"):
            body = json.dumps({k: v for k, v in base.items() if k != name})
            refused[f"{name}={text}"] = _signed_raw(
                agencies, f'{{"{name}": {text}, {body[1:]}'.encode()
            )
    ten_years = 10 * 365 * 86400
    refused["ten years"] = agencies.token("eve", ["supervisor"], ttl=ten_years)
    refused["12 h 1 s"] = agencies.token("eve", ["supervisor"], ttl=12 * 3600 + 1)
    refused["exp far, iat huge"] = _signed_a1(agencies, {**base, "iat": 10**30, "exp": 10**30 + 60})
    for name, token in refused.items():
        with pytest.raises(AuthenticationError, match="token"):  # noqa: PT012
            queue.list_items(token)
            pytest.fail(name)
    assert queue.list_items(agencies.token("eve", ["supervisor"], ttl=12 * 3600)) == []
    auditor = agencies.token("aud", ["auditor"])
    records = [r for r in queue.audit(auditor) if r.actor == "unverified:eve@A1"]
    assert len(records) == len(refused)
    queue.close()
    # the longest lifetime is configurable
    longer = ReviewQueue(url, agencies.trust, max_token_lifetime=ten_years, key=queue_key(url))
    assert longer.list_items(refused["ten years"]) == []
    with pytest.raises(AuthenticationError):
        longer.list_items(refused["exp=NaN"])
    longer.close()


def test_an_agency_cannot_issue_an_endless_token(agencies: Agencies) -> None:
    from kinmatch.security.keys import issue_token, parse_ttl

    for text in ("inf", "nan", "1e400d", "-1h", "0"):
        with pytest.raises(QueueError, match="lifetime"):
            parse_ttl(text)
    with pytest.raises(QueueError, match="lifetime"):
        issue_token(_key(agencies, "A1"), agency="A1", officer="eve", roles=["auditor"],
                    jurisdiction="A1", ttl=math.inf)  # fmt: skip


def test_invalid_requests_are_refused_after_the_token_and_audited(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    queue.claim(t["reviewer"], item_id)
    with pytest.raises(AuthenticationError):  # a bad token is refused first, whatever else
        queue.review("not.a.token", item_id, "supports", " ")
    with pytest.raises(AuthenticationError):
        queue.escalate("not.a.token", item_id, "")
    invalid = [
        (lambda: queue.list_items(t["reviewer"], limit=0), "list", None),
        (lambda: queue.list_items(t["reviewer"], state="lost"), "list", None),
        (lambda: queue.audit(t["auditor"], after=-1), "audit", None),
        (lambda: queue.review(t["reviewer"], item_id, "maybe", "x"), "review", item_id),
        (lambda: queue.review(t["reviewer"], item_id, "supports", " "), "review", item_id),
        (lambda: queue.escalate(t["reviewer"], item_id, ""), "escalate", item_id),
        (lambda: queue.confirm(t["supervisor"], item_id, "x" * 2001), "confirm", item_id),
    ]
    for act, _, _ in invalid:
        with pytest.raises(QueueError):
            act()
    records = queue.audit(agencies.token("nat", ["auditor"], jurisdiction="national"))
    refusals = [(r.operation, r.item_id, r.outcome) for r in records if r.outcome != "allowed"]
    assert refusals == [
        ("review", None, "refused: token: malformed token"),
        ("escalate", None, "refused: token: malformed token"),
        *((operation, target, "refused: invalid request") for _, operation, target in invalid),
    ]


def test_the_audit_tells_foreign_items_from_missing_ones_no_better(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    t = tokens(agencies)
    [(theirs, _)] = queue.push(agencies.token("zoe", ["analyst"], agency="A2"), [new_item("C2")])
    missing = theirs + 1000
    for item_id in (theirs, missing):
        with pytest.raises(ItemNotFoundError):
            queue.show(t["supervisor"], item_id)
        with pytest.raises(ItemNotFoundError):
            queue.claim(t["reviewer"], item_id)
    mine = [r for r in queue.audit(t["auditor"]) if r.operation in ("show", "claim")]
    assert [(r.operation, r.item_id, r.outcome) for r in mine] == [
        (operation, item_id, "refused: no such item")
        for item_id in (theirs, missing)
        for operation in ("show", "claim")
    ]


def test_agency_codes_are_compared_exactly(url: str, agencies: Agencies, tmp_path: Path) -> None:
    from kinmatch.security.keys import issue_token, load_private_key, new_key_pair
    from kinmatch.security.trust import TrustStore

    queue = open_queue(url, agencies)
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    queue.claim(t["reviewer"], item_id)
    private, public = new_key_pair("a1", tmp_path / "lower")
    other = ReviewQueue(url, TrustStore.from_directory(tmp_path / "lower"), key=queue_key(url))
    lower = issue_token(load_private_key(private), agency="a1", officer="aud", roles=["auditor"],
                        jurisdiction="a1", ttl=600)  # fmt: skip
    assert [r.actor for r in other.audit(lower)] == []  # none of A1's records
    assert other.list_items(issue_token(load_private_key(private), agency="a1", officer="x",
                                        roles=["supervisor"], jurisdiction="a1",
                                        ttl=600)) == []  # fmt: skip
    other.close()
    queue.close()
    # and a trust file or directory may not hold two codes that differ only in case
    both = tmp_path / "both"
    both.mkdir()
    (both / "a1.pub").write_bytes(public.read_bytes())
    (both / "A1.pub").write_bytes((agencies.trust_dir / "A1.pub").read_bytes())
    with pytest.raises(QueueError, match="differ only in case"):
        TrustStore.from_directory(both)
    trust_file = tmp_path / "both.toml"
    trust_file.write_text(f'[agencies.A1]\npublic_key_file = "{agencies.trust_dir / "A1.pub"}"\n'
                          f'[agencies.a1]\npublic_key_file = "{public}"\n')  # fmt: skip
    with pytest.raises(QueueError, match="differ only in case"):
        TrustStore.from_file(trust_file)


def test_two_person_rule_remembers_every_reviewer_and_escalator(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    queue.claim(t["both"], item_id)
    queue.escalate(t["both"], item_id, "unsure")  # bob escalates
    queue.return_to_pending(t["supervisor"], item_id, "look again")
    queue.claim(t["reviewer2"], item_id)
    queue.escalate(t["reviewer2"], item_id, "still unsure")  # rita escalates again
    for decide in (queue.confirm, queue.reject, queue.return_to_pending):
        with pytest.raises(AccessDeniedError, match="two-person rule"):
            decide(t["both"], item_id, "bob was first")
    queue.return_to_pending(t["supervisor"], item_id, "once more")
    queue.claim(t["reviewer"], item_id)
    queue.review(t["reviewer"], item_id, "supports", "fits")  # rob reviews
    with pytest.raises(AccessDeniedError, match="two-person rule"):
        queue.confirm(t["both"], item_id, "bob escalated it once")
    shown = queue.show(t["supervisor"], item_id)
    assert shown.handled_by == ("bob@A1", "rita@A1", "rob@A1")
    queue.confirm(t["supervisor"], item_id, "second person")


def test_a_version_2_database_is_upgraded_and_keeps_its_deciders_out(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tokens(agencies)
    older_schema(monkeypatch, 2)
    old = open_queue(url, agencies)  # the schema of version 2 only
    ids = [i for i, _ in old.push(t["analyst"], [new_item("C1"), new_item("C2")])]
    with old.db.transaction() as tx:  # what version 2 left after an escalation and a review
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
        tx.execute("UPDATE items SET state = 'escalated', escalated_by = 'bob@A1', "
                   "escalation_reason = 'unsure' WHERE id = ?", (ids[0],))  # fmt: skip
        tx.execute("UPDATE items SET state = 'reviewed', reviewed_by = 'rob@A1', "
                   "finding = 'supports', review_reason = 'fits' WHERE id = ?",
                   (ids[1],))  # fmt: skip
    assert old.verify_audit(t["auditor"]).ok
    old.close()
    monkeypatch.undo()

    queue = open_queue(url, agencies)  # upgraded in place on open
    assert queue.verify_audit(t["auditor"]).ok  # the old chain still verifies
    assert queue.show(t["supervisor"], ids[0]).handled_by == ("bob@A1",)
    assert queue.show(t["supervisor"], ids[1]).handled_by == ("rob@A1",)
    queue.return_to_pending(t["supervisor"], ids[0], "again")
    queue.claim(t["reviewer2"], ids[0])
    queue.escalate(t["reviewer2"], ids[0], "unsure too")
    with pytest.raises(AccessDeniedError, match="two-person rule"):
        queue.confirm(t["both"], ids[0], "bob escalated it under version 2")
    with pytest.raises(AccessDeniedError, match="two-person rule"):
        queue.confirm(agencies.token("rob", ["supervisor"]), ids[1], "rob reviewed it")
    queue.confirm(t["supervisor"], ids[0], "second person")
    assert queue.verify_audit(t["auditor"]).ok
    with queue.db.transaction(lock_audit=False) as tx:
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    queue.close()


# -- idempotency within an agency ---------------------------------------------------------------


def test_a_push_never_depends_on_other_agencies_items(
    queue: ReviewQueue, agencies: Agencies
) -> None:
    t = tokens(agencies)
    a2 = agencies.token("zoe", ["analyst"], agency="A2")
    [(theirs, created)] = queue.push(a2, [new_item("C1")])
    assert created
    pushed = queue.push(t["analyst"], [new_item("C1"), new_item("C2")])  # A2 holds C1 too
    assert [created for _, created in pushed] == [True, True]
    assert theirs not in [i for i, _ in pushed]
    assert queue.push(t["analyst"], [new_item("C1")]) == [(pushed[0][0], False)]
    assert queue.push(a2, [new_item("C1")]) == [(theirs, False)]
    assert [i.id for i in queue.list_items(t["supervisor"])] == [i for i, _ in pushed]
    outcomes = [r.outcome for r in queue.audit(t["auditor"]) if r.operation == "push"]
    assert outcomes == ["allowed", "allowed", "allowed: already queued"]
    assert queue.verify_audit(t["auditor"]).ok


def test_a_version_3_database_keeps_its_duplicates_per_agency(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tokens(agencies)
    older_schema(monkeypatch, 3)
    old = open_queue(url, agencies)
    [(mine, _)] = old.push(t["analyst"], [new_item("C1")])
    with old.db.transaction() as tx:  # the keys version 3 stored: the hit's, no agency
        tx.execute("UPDATE items SET key = ?", (new_item("C1").key,))
        assert tx.all("SELECT version FROM schema_version ORDER BY version") == [
            (1,), (2,), (3,)]  # fmt: skip
    old.close()
    monkeypatch.undo()

    queue = open_queue(url, agencies)
    assert queue.verify_audit(t["auditor"]).ok
    assert queue.push(t["analyst"], [new_item("C1")]) == [(mine, False)]  # still the same
    [(theirs, created)] = queue.push(agencies.token("zoe", ["analyst"], agency="A2"),
                                     [new_item("C1")])  # fmt: skip
    assert created and theirs != mine
    assert queue.verify_audit(t["auditor"]).ok
    queue.close()
