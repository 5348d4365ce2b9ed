"""Revocation on both engines (one token by its jti, an officer's tokens issued before a time;
within the revoker's agency unless national; audited; in force from the next request, in every
queue open on the database; older databases upgraded in place), and the trust file read again
when it changes, failing closed."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import jwt
import pytest
from queue_support import Agencies, new_item, open_queue, write_trust_file
from test_queue import REVOCATIONS_VERSION, older_schema, tokens

from kinmatch.errors import AccessDeniedError, AuthenticationError, QueueError
from kinmatch.queue import ReviewQueue
from kinmatch.queue.database import SCHEMA_VERSION
from kinmatch.queue.revocations import Revocation, parse_time
from kinmatch.security.policy import Operation
from kinmatch.security.tokens import Caller, TokenVerifier
from kinmatch.security.trust import WatchedTrust


def jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def audited(queue: ReviewQueue, agencies: Agencies) -> list[tuple[str, str, str, str]]:
    auditor = agencies.token("nat-aud", ["auditor"], jurisdiction="national")
    return [(r.actor, r.roles, r.operation, r.outcome) for r in queue.audit(auditor)]


def test_a_revoked_token_is_refused_from_the_next_request(url: str, agencies: Agencies) -> None:
    queue, elsewhere = open_queue(url, agencies), open_queue(url, agencies)  # two servers
    t = tokens(agencies)
    lost, kept = t["reviewer"], agencies.token("rob", ["reviewer"])
    assert queue.list_items(lost) == [] and elsewhere.list_items(lost) == []
    stored = queue.revoke(t["supervisor"], Revocation("laptop stolen", jti=jti(lost)))
    assert (stored.jti, stored.agency, stored.target) == (jti(lost), "A1",
                                                          f"token {jti(lost)} of A1")  # fmt: skip
    for server in (queue, elsewhere):
        with pytest.raises(AuthenticationError, match=r"^token revoked$"):
            server.list_items(lost)
        with pytest.raises(AuthenticationError, match=r"^token revoked$"):
            server.authorize(lost, Operation.LIST)  # the HTTP front's check
    assert queue.list_items(kept) == []  # the officer's other token still works
    records = audited(queue, agencies)
    assert ("sue@A1", "supervisor", "revoke", f"allowed: token {jti(lost)} of A1") in records
    refusals = [r for r in records if r[0] == "rob@A1" and r[3].startswith("refused")]
    assert refusals == [("rob@A1", "reviewer", "list", "refused: token: token revoked")] * 4
    with queue.db.transaction() as tx:  # the reason is kept with the revocation
        assert tx.all("SELECT jti, agency, revoked_by, reason FROM revoked_tokens") == [
            (jti(lost), "A1", "sue@A1", "laptop stolen")]  # fmt: skip
    assert queue.verify_audit(t["auditor"]).ok
    queue.close()
    elsewhere.close()


def test_a_token_revoked_after_its_check_is_refused_in_its_transaction(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = open_queue(url, agencies)
    t = tokens(agencies)
    [(item_id, _)] = queue.push(t["analyst"], [new_item()])
    # the revocation commits after the claim's token check, before its transaction
    checked = queue._authorize

    def check_then_revoke(token: str, operation: Operation) -> Caller:
        caller = checked(token, operation)
        if token == t["reviewer"]:
            monkeypatch.setattr(queue, "_authorize", checked)
            queue.revoke(t["supervisor"], Revocation("left", officer="rob"))
        return caller

    monkeypatch.setattr(queue, "_authorize", check_then_revoke)
    with pytest.raises(AuthenticationError, match=r"^token revoked$"):
        queue.claim(t["reviewer"], item_id)
    assert queue.list_items(t["supervisor"])[0].state == "pending"  # nothing was claimed
    assert audited(queue, agencies)[-2][::3] == ("rob@A1", "refused: token: token revoked")
    queue.close()


def test_an_officers_tokens_issued_before_a_time_are_refused(url: str, agencies: Agencies) -> None:
    queue = open_queue(url, agencies)
    now = time.time()
    old = agencies.token("rob", ["reviewer"], now=now - 600)
    recent = agencies.token("rob", ["reviewer"], now=now - 60)
    namesake = agencies.token("rob", ["reviewer"], agency="A2", now=now - 600)
    supervisor = agencies.token("sue", ["supervisor"])
    stored = queue.revoke(supervisor, Revocation("reissued", officer="rob", before=now - 300))
    assert (stored.officer, stored.agency, stored.before) == ("rob", "A1", now - 300)
    with pytest.raises(AuthenticationError, match="revoked"):
        queue.list_items(old)
    assert queue.list_items(recent) == [] and queue.list_items(namesake) == []
    # by default before the revocation itself: every token the officer holds
    queue.revoke(supervisor, Revocation("left the unit", officer="rob"))
    with pytest.raises(AuthenticationError, match="revoked"):
        queue.list_items(recent)
    assert queue.list_items(namesake) == []  # rob@A2 is another officer
    outcome = audited(queue, agencies)[-3][3]
    assert outcome.startswith("allowed: tokens of rob@A1 issued before 20")
    queue.close()


def test_a_supervisor_revokes_within_their_own_agency(url: str, agencies: Agencies) -> None:
    queue = open_queue(url, agencies)
    a1, a2 = agencies.token("sue", ["supervisor"]), agencies.token("zoe", ["reviewer"], agency="A2")
    national = agencies.token("nat", ["supervisor"], jurisdiction="national")
    with pytest.raises(AccessDeniedError, match="outside the caller's jurisdiction"):
        queue.revoke(a1, Revocation("not mine", officer="zoe", agency="A2"))
    with pytest.raises(AccessDeniedError, match="outside the caller's jurisdiction"):
        queue.revoke(a1, Revocation("not mine", jti=jti(a2), agency="A2"))
    # a jti names no agency: A1's revocation of it refuses A1's tokens only
    queue.revoke(a1, Revocation("guessing", jti=jti(a2)))
    assert queue.list_items(a2) == []
    for role in ("analyst", "reviewer", "auditor"):
        with pytest.raises(AccessDeniedError, match="not allowed"):
            queue.revoke(agencies.token("x", [role]), Revocation("no", jti="j"))
    refused = [r[3] for r in audited(queue, agencies) if r[2] == "revoke"]
    assert refused[:2] == ["refused: outside jurisdiction"] * 2
    assert refused[3:] == ["refused: role"] * 3
    # a national supervisor revokes any agency's tokens: a jti of any agency unless one is named
    other = agencies.token("zoe", ["reviewer"], agency="A2")
    queue.revoke(national, Revocation("compromised", jti=jti(other), agency="A1"))
    assert queue.list_items(other) == []
    queue.revoke(national, Revocation("compromised", jti=jti(a2)))
    with pytest.raises(AuthenticationError, match="revoked"):
        queue.list_items(a2)
    queue.revoke(national, Revocation("left", officer="zoe", agency="A2"))
    with pytest.raises(AuthenticationError, match="revoked"):
        queue.list_items(other)
    assert queue.verify_audit(agencies.token("aud", ["auditor"])).ok
    queue.close()


@pytest.mark.parametrize(
    "revocation",
    [
        Revocation("both", jti="j", officer="rob"),
        Revocation("neither"),
        Revocation("spaced", jti="a b"),
        Revocation("long", jti="j" * 129),
        Revocation("before a token", jti="j", before=0.0),
        Revocation("nan", officer="rob", before=float("nan")),
        Revocation("far", officer="rob", before=1e20),
        Revocation("control", officer="rob\x1b[31m"),
        Revocation("bad agency", officer="rob", agency="A/1"),
        Revocation("   ", jti="j"),
    ],
)
def test_revocations_are_validated_and_refusals_audited(
    url: str, agencies: Agencies, revocation: Revocation
) -> None:
    queue = open_queue(url, agencies)
    supervisor = agencies.token("sue", ["supervisor"])
    with pytest.raises(QueueError):
        queue.revoke(supervisor, revocation)
    assert audited(queue, agencies)[0] == ("sue@A1", "supervisor", "revoke",
                                           "refused: invalid request")  # fmt: skip
    assert queue.list_items(agencies.token("rob", ["reviewer"])) == []  # nothing was revoked
    queue.close()


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:01:00Z") == 60.0
    assert parse_time("1970-01-01T08:00:00+08:00") == 0.0
    for text in ("2026-03-01T12:00:00", "yesterday", ""):
        with pytest.raises(QueueError):
            parse_time(text)


@pytest.mark.parametrize("version", [2, REVOCATIONS_VERSION - 1])
def test_an_older_database_is_upgraded_and_its_chain_verifies(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    t = tokens(agencies)
    older_schema(monkeypatch, version)
    old = open_queue(url, agencies)
    old.push(t["analyst"], [new_item()])
    assert len(old.list_items(t["reviewer"])) == 1
    with old.db.transaction() as tx:
        assert len(tx.all("SELECT version FROM schema_version")) == version
    assert old.verify_audit(t["auditor"]).ok
    old.close()
    monkeypatch.undo()

    queue = open_queue(url, agencies)  # upgraded in place on open
    assert queue.verify_audit(t["auditor"]).ok
    with queue.db.transaction() as tx:
        versions = tx.all("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    queue.revoke(t["supervisor"], Revocation("after the upgrade", jti=jti(t["reviewer"])))
    with pytest.raises(AuthenticationError, match="revoked"):
        queue.list_items(t["reviewer"])
    assert len(queue.list_items(agencies.token("rob", ["reviewer"]))) == 1
    assert queue.verify_audit(t["auditor"]).ok
    queue.close()


# -- the trust file, read again when it changes ------------------------------------------------


def replace_file(path: Path, text: str | bytes) -> None:
    """Write ``path`` anew, as deployments and editors do (a new file renamed over it)."""
    temporary = path.with_name(path.name + ".new")
    data = text.encode() if isinstance(text, str) else text
    temporary.write_bytes(data)
    os.replace(temporary, path)


@pytest.fixture
def deployment(tmp_path: Path, agencies: Agencies) -> Path:
    """A trust file of A1 and A2 with keys of their own, in the deployment's directory."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for agency in ("A1", "A2", "NAT"):
        (keys / f"{agency}.pub").write_bytes((agencies.trust_dir / f"{agency}.pub").read_bytes())
    path = tmp_path / "trust.toml"
    write_trust_file(path, {"A1": ["A1"], "A2": ["A2"]}, keys)
    return path


def test_a_key_removed_from_the_trust_file_stops_working_on_the_next_request(
    deployment: Path, agencies: Agencies, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = TokenVerifier(WatchedTrust(deployment))
    a1, a2 = agencies.token("sue", ["supervisor"]), agencies.token("zoe", ["analyst"], agency="A2")
    assert verifier.verify(a1).agency == "A1" and verifier.verify(a2).agency == "A2"
    caplog.set_level(logging.WARNING, "kinmatch.security.trust")
    write_trust_file(deployment, {"A1": ["A1"]}, deployment.parent / "keys")  # in place
    with pytest.raises(AuthenticationError, match="not a trusted agency"):
        verifier.verify(a2)
    assert verifier.verify(a1).agency == "A1"
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # read again, once
    assert "agencies A1" in caplog.records[0].getMessage()
    # a key file the trust file names, changed without the trust file: read again too
    replace_file(deployment.parent / "keys" / "A1.pub", (agencies.keys / "X9.pub").read_bytes())
    with pytest.raises(AuthenticationError, match="signature"):
        verifier.verify(a1)


@pytest.mark.parametrize(
    "broken",
    ["not toml [", "[agencies.A1]\npublic_key_file = 'keys/missing.pub'\n", None],
)
def test_a_trust_file_that_cannot_be_read_again_refuses_every_token(
    deployment: Path, agencies: Agencies, caplog: pytest.LogCaptureFixture, broken: str | None
) -> None:
    queue = ReviewQueue(f"sqlite:///{deployment.parent / 'queue.db'}", WatchedTrust(deployment))
    good = deployment.read_text()
    a1 = agencies.token("sue", ["supervisor"])
    assert queue.list_items(a1) == []
    caplog.set_level(logging.WARNING, "kinmatch.security.trust")
    if broken is None:
        deployment.unlink()
    else:
        replace_file(deployment, broken)
    for _ in range(3):  # no stale permission: refused until a valid file is read
        with pytest.raises(AuthenticationError, match="trust file is not valid"):
            queue.list_items(a1)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and str(deployment) in errors[0].getMessage()  # logged once
    replace_file(deployment, good)
    assert queue.list_items(a1) == []
    national = agencies.token("nat", ["auditor"], jurisdiction="national")
    replace_file(deployment, good + '[agencies.NAT]\npublic_key_file = "keys/NAT.pub"\n'
                 'jurisdictions = ["national"]\n')  # fmt: skip
    refused = [r for r in queue.audit(national) if r.outcome.startswith("refused")]
    assert [r.outcome for r in refused] == [
        "refused: token: the server's trust file is not valid: every token is refused until it is"
    ] * 3
    queue.close()


def test_a_trust_directory_is_read_again_when_a_key_changes(
    tmp_path: Path, agencies: Agencies
) -> None:
    folder = tmp_path / "trust"
    folder.mkdir()
    for agency in ("A1", "A2"):
        (folder / f"{agency}.pub").write_bytes((agencies.trust_dir / f"{agency}.pub").read_bytes())
    verifier = TokenVerifier(WatchedTrust(folder))
    a1, a2 = agencies.token("sue", ["supervisor"]), agencies.token("zoe", ["analyst"], agency="A2")
    assert verifier.verify(a2).agency == "A2"
    (folder / "A2.pub").unlink()
    with pytest.raises(AuthenticationError, match="not a trusted agency"):
        verifier.verify(a2)
    time.sleep(0.05)  # a key added: the directory's times must move past their last reading
    (folder / "A2.pub").write_bytes((agencies.trust_dir / "A2.pub").read_bytes())
    assert verifier.verify(a2).agency == "A2"
    replace_file(folder / "A1.pub", (agencies.keys / "X9.pub").read_bytes())
    with pytest.raises(AuthenticationError, match="signature"):
        verifier.verify(a1)
    (folder / "A1.pub").unlink()
    (folder / "A2.pub").unlink()
    with pytest.raises(AuthenticationError, match="trust file is not valid"):
        verifier.verify(a2)


def test_serve_watches_its_trust_file(
    agencies: Agencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from kinmatch.queue import http

    opened: list[ReviewQueue] = []
    monkeypatch.setattr(http, "create_app", lambda queue, extensions=(): opened.append(queue))
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    http.serve(f"sqlite:///{tmp_path / 'q.db'}", agencies.trust_file)
    assert isinstance(opened[0].verifier.trust, WatchedTrust)
