"""`kinmatch keys` and `kinmatch queue` through subprocesses: a whole review, refusals with
exit code 2 and no traceback, the audit export and its verification."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from queue_support import GENOTYPE_TEXT, evidence_item, new_item

from kinmatch.queue.client import item_json as _item_json


def kinmatch(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "kinmatch", *map(str, args)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    kinmatch("keys", "new", "--agency", "A1", "--out", root / "agency")
    trust = root / "trust"
    trust.mkdir()
    (trust / "A1.pub").write_bytes((root / "agency" / "A1.pub").read_bytes())
    paths = {"root": root, "trust": trust, "db": root / "queue.db"}
    for officer, roles in (("ana", "analyst"), ("rob", "reviewer"), ("sue", "supervisor"),
                           ("aud", "auditor")):  # fmt: skip
        token = root / f"{officer}.jwt"
        key = root / "agency" / "A1.key"
        kinmatch("keys", "issue", "--key", key, "--sub", officer, "--roles", roles,
                 "--jurisdiction", "A1", "--ttl", "1h", "--out", token)  # fmt: skip
        assert token.stat().st_mode & 0o077 == 0
        paths[officer] = token
    return paths


def queue(setup: dict[str, Path], officer: str, *args: str | Path, ok: bool = True
          ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return kinmatch("queue", "--db", f"sqlite:///{setup['db']}", "--trust", setup["trust"],
                    "--token", setup[officer], *args, ok=ok)  # fmt: skip


def test_a_review_from_the_command_line(setup: dict[str, Path]) -> None:
    items = setup["root"] / "items.jsonl"
    items.write_text("".join(json.dumps(_item_json(new_item(f"C{i}"))) + "\n"
                             for i in range(3)))  # fmt: skip
    assert "3 items added" in queue(setup, "ana", "push", items).stdout
    assert "0 items added, 3 already queued" in queue(setup, "ana", "push", items).stdout
    listing = queue(setup, "rob", "list").stdout
    assert listing.count("pending") == 3
    assert not any(g in listing for g in GENOTYPE_TEXT)
    claimed = queue(setup, "rob", "claim").stdout
    assert claimed.startswith("claimed") and " 1  claimed" in claimed
    shown = json.loads(queue(setup, "rob", "show", "1").stdout)
    assert shown["loci"][0]["genotypes"]["child"] == "14/17.3"
    queue(setup, "rob", "review", "1", "--finding", "supports", "--reason", "consistent")
    refused = queue(setup, "rob", "confirm", "1", "--reason", "mine", ok=False)
    assert refused.returncode == 2 and "not allowed for roles reviewer" in refused.stderr
    queue(setup, "sue", "confirm", "1", "--reason", "second person")
    rows = [json.loads(line) for line in queue(setup, "sue", "list", "--json").stdout.splitlines()]
    assert [r["state"] for r in rows] == ["confirmed", "pending", "pending"]
    export = setup["root"] / "audit.jsonl"
    queue(setup, "aud", "audit", "--out", export)
    records = [json.loads(line) for line in export.read_text().splitlines()]
    assert [r["operation"] for r in records][:4] == ["push", "push", "push", "push"]
    assert not any(g in export.read_text() for g in GENOTYPE_TEXT)
    assert "audit chain verifies" in queue(setup, "aud", "verify-audit").stdout


def test_refusals_exit_2_without_traceback(setup: dict[str, Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jwt"
    garbage.write_text("not.a.token\n")
    setup = {**setup, "garbage": garbage}
    result = queue(setup, "garbage", "list", ok=False)
    assert result.returncode == 2 and "malformed token" in result.stderr
    result = queue(setup, "ana", "show", "999", ok=False)
    assert result.returncode == 2 and "not allowed" in result.stderr
    result = queue(setup, "sue", "show", "999", ok=False)
    assert result.returncode == 2 and "no item 999" in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "C1"}\n')
    result = queue(setup, "ana", "push", bad, ok=False)
    assert result.returncode == 2 and "bad.jsonl line 1" in result.stderr
    result = kinmatch("keys", "new", "--agency", "A1", "--out", setup["root"] / "agency",
                      ok=False)  # fmt: skip
    assert result.returncode == 2 and "never overwritten" in result.stderr
    result = kinmatch("keys", "issue", "--key", setup["root"] / "agency" / "A1.key", "--sub",
                      "x", "--roles", "admin", "--jurisdiction", "A1", ok=False)  # fmt: skip
    assert result.returncode == 2 and "roles must be among" in result.stderr


def test_the_database_caution_is_said_in_words(setup: dict[str, Path], tmp_path: Path) -> None:
    setup = {**setup, "db": tmp_path / "evidence.db"}
    items = tmp_path / "items.jsonl"
    pushed = [evidence_item("C1"), evidence_item("C2", caution=False), new_item("C3")]
    items.write_text("".join(json.dumps(_item_json(i)) + "\n" for i in pushed))
    assert "3 items added" in queue(setup, "ana", "push", items).stdout
    lines = queue(setup, "rob", "list").stdout.splitlines()
    assert "expected unrelated" in lines[0] and lines[0].endswith("caution")
    assert lines[1].split()[-2:] == ["0.05", "CAUTION"]
    assert lines[2].strip() == ("caution: in the database searched, 0.05 unrelated references "
                                "are expected to score this high; confirm with more loci or "
                                "other evidence")  # fmt: skip
    assert lines[3].split()[-1] == "5e-06" and lines[4].split()[-1] == "-"
    assert len(lines) == 5 and not any(g in "\n".join(lines) for g in GENOTYPE_TEXT)
    rows = [json.loads(line) for line in queue(setup, "rob", "list", "--json").stdout.splitlines()]
    assert [r["database_verdict"] for r in rows] == ["support-database-caution", "support", None]
    assert rows[0]["caution"].startswith("caution:") and rows[1]["caution"] is None
    claimed = queue(setup, "rob", "claim", "1").stdout
    assert "CAUTION" in claimed and "0.05 unrelated references" in claimed
    shown = queue(setup, "rob", "show", "1")
    full = json.loads(shown.stdout)
    assert (full["summary"]["expected_unrelated"], full["n_searched"]) == (0.05, 5000)
    assert full["caution"] == shown.stderr.strip()
    assert shown.stderr.startswith("caution: in a database of 5000 references, 0.05 unrelated "
                                   "references are expected to score this high")  # fmt: skip
    quiet = queue(setup, "sue", "show", "2")
    assert json.loads(quiet.stdout)["caution"] is None and quiet.stderr == ""


def test_issuing_a_wider_jurisdiction_warns(setup: dict[str, Path], tmp_path: Path) -> None:
    key = setup["root"] / "agency" / "A1.key"
    wider = kinmatch("keys", "issue", "--key", key, "--sub", "eve", "--roles", "auditor",
                     "--jurisdiction", "national", "--out", tmp_path / "eve.jwt")  # fmt: skip
    assert "warning: jurisdiction 'national' is not the agency's own ('A1')" in wider.stderr
    own = kinmatch("keys", "issue", "--key", key, "--sub", "eve", "--roles", "auditor",
                   "--jurisdiction", "A1")  # fmt: skip
    assert own.stderr == ""
    # the server refuses it, whether it reads the trust directory or a trust file
    trust_file = tmp_path / "trust.toml"
    trust_file.write_text(f'[agencies.A1]\npublic_key_file = "{setup["trust"] / "A1.pub"}"\n')
    for trust in (setup["trust"], trust_file):
        refused = kinmatch("queue", "--db", f"sqlite:///{setup['db']}", "--trust", trust,
                           "--token", tmp_path / "eve.jwt", "audit", ok=False)  # fmt: skip
        assert refused.returncode == 2 and "jurisdiction" in refused.stderr
    allowed = kinmatch("queue", "--db", f"sqlite:///{setup['db']}", "--trust", trust_file,
                       "--token", setup["aud"], "verify-audit")  # fmt: skip
    assert "audit chain verifies" in allowed.stdout


def test_push_refuses_what_http_refuses(setup: dict[str, Path], tmp_path: Path) -> None:
    setup = {**setup, "db": tmp_path / "strict.db"}
    good = _item_json(new_item("C1"))
    for field, value in (("inconsistent_loci", [1, 2]), ("relationship", "uncle")):
        items = tmp_path / "items.jsonl"
        items.write_text(json.dumps(good) + "\n" + json.dumps({**good, field: value}) + "\n")
        result = queue(setup, "ana", "push", items, ok=False)
        assert result.returncode == 2 and "items.jsonl line 2" in result.stderr, result.stderr
    assert queue(setup, "rob", "list", "--json").stdout == ""  # nothing stored


def test_a_reason_that_is_not_utf8_is_refused_and_audited(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    import os

    setup = {**setup, "db": tmp_path / "bytes.db"}
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(_item_json(new_item("C1"))) + "\n")
    queue(setup, "ana", "push", items)
    queue(setup, "rob", "claim", "1")
    reason = os.fsdecode(b"bad \xff\xfe bytes")  # as the shell passes them
    refused = queue(setup, "rob", "review", "1", "--finding", "supports", "--reason", reason,
                    ok=False)  # fmt: skip
    assert refused.returncode == 2 and "reason" in refused.stderr, refused.stderr
    refused = queue(setup, "rob", "escalate", "1", "--reason", reason, ok=False)
    assert refused.returncode == 2
    records = [json.loads(line) for line in queue(setup, "aud", "audit").stdout.splitlines()]
    assert [(r["operation"], r["outcome"]) for r in records[-2:]] == [
        ("review", "refused: invalid request"),
        ("escalate", "refused: invalid request"),
    ]
    assert "audit chain verifies" in queue(setup, "aud", "verify-audit").stdout
    key = setup["root"] / "agency" / "A1.key"
    refused = kinmatch("keys", "issue", "--key", key, "--sub", reason, "--roles", "auditor",
                       "--jurisdiction", "A1", ok=False)  # fmt: skip
    assert refused.returncode == 2 and "printable" in refused.stderr


def test_checkpoints_from_the_command_line(setup: dict[str, Path], tmp_path: Path) -> None:
    setup = {**setup, "db": tmp_path / "anchored.db"}  # a queue of its own, to tamper with
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(_item_json(new_item(f"K{i}"))) + "\n"
                             for i in range(3)))  # fmt: skip
    queue(setup, "ana", "push", items)  # records 1-3
    queue(setup, "rob", "list")  # record 4, which changes no item
    key = Path(f"{setup['db']}.key")  # created with the queue, beside it, owner-only
    assert key.stat().st_mode & 0o777 == 0o600
    public = tmp_path / "queue.pub"
    public.write_text(queue(setup, "aud", "public-key").stdout)
    assert "signed" in queue(setup, "aud", "checkpoint").stdout
    saved = tmp_path / "checkpoints.json"
    assert "checkpoints written" in queue(setup, "aud", "checkpoints", "--out", saved).stdout
    verified = queue(setup, "aud", "verify-audit", "--checkpoint", saved,
                     "--queue-public-key", public).stdout  # fmt: skip
    assert "reaching 1 checkpoints given" in verified
    head = json.loads(saved.read_text())["checkpoints"][-1]["seq"]
    with sqlite3.connect(setup["db"]) as db:  # drop the newest records, move the head
        db.execute("DROP TRIGGER audit_no_delete")
        db.execute("DELETE FROM audit WHERE seq >= ?", (head,))
        db.execute("DELETE FROM audit_checkpoints")
        db.execute("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit WHERE seq = ?)",
                   (head - 1, head - 1))  # fmt: skip
    assert "audit chain verifies" in queue(setup, "aud", "verify-audit").stdout  # record 3 now
    broken = queue(setup, "aud", "verify-audit", "--checkpoint", saved, ok=False)
    assert broken.returncode == 1
    assert f"BROKEN at record {head}: record {head} is not the one its checkpoint" in broken.stderr


def test_a_supervisor_revokes_from_the_command_line(setup: dict[str, Path], tmp_path: Path) -> None:
    setup = {**setup, "db": tmp_path / "revocations.db", "lost": tmp_path / "lost.jwt"}
    issued = kinmatch("keys", "issue", "--key", setup["root"] / "agency" / "A1.key", "--sub",
                      "rob", "--roles", "reviewer", "--jurisdiction", "A1", "--out",
                      setup["lost"])  # fmt: skip
    jti = issued.stdout.split("token id (jti) ")[1].strip()
    queue(setup, "lost", "list")
    revoked = queue(setup, "sue", "revoke", "--jti", jti, "--reason", "laptop stolen")
    assert revoked.stdout.strip() == f"revoked token {jti} of A1"
    refused = queue(setup, "lost", "list", ok=False)
    assert refused.returncode == 2 and "token revoked" in refused.stderr
    queue(setup, "rob", "list")  # the officer's other token
    officer = queue(setup, "sue", "revoke", "--officer", "rob", "--before",
                    "2100-01-01T00:00:00Z", "--reason", "left")  # fmt: skip
    assert "revoked tokens of rob@A1 issued before 2100-01-01T00:00:00" in officer.stdout
    assert "token revoked" in queue(setup, "rob", "list", ok=False).stderr
    bad = queue(setup, "sue", "revoke", "--officer", "x", "--before", "soon", "--reason", "x",
                ok=False)  # fmt: skip
    assert bad.returncode == 2 and "invalid time" in bad.stderr
    denied = queue(setup, "ana", "revoke", "--jti", "x", "--reason", "x", ok=False)
    assert denied.returncode == 2 and "not allowed for roles analyst" in denied.stderr
    audit = queue(setup, "aud", "audit").stdout
    assert [json.loads(line)["outcome"] for line in audit.splitlines()
            if json.loads(line)["operation"] == "revoke"][:2] == [
        f"allowed: token {jti} of A1",
        "allowed: tokens of rob@A1 issued before 2100-01-01T00:00:00.000000+00:00"]  # fmt: skip
