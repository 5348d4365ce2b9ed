"""Submission of profiles over HTTP (POST /submissions): analysts of their own agency only,
once per idempotency key, problems named by record and field, never a genotype in an answer
or a log line, every submission audited, and the server's intake of every committed batch."""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queue_support import Agencies, open_queue
from test_queue_http import Client, running

from kinmatch import load_frequencies
from kinmatch.intake import IntakeSettings
from kinmatch.ledger import Ledger
from kinmatch.loci import CODIS_20
from kinmatch.profiles import Profile
from kinmatch.queue import ReviewQueue
from kinmatch.store import ReferenceStore
from kinmatch.submission import Submissions
from kinmatch.submission.comparing import Comparer
from kinmatch.submission.http import submission_endpoints
from kinmatch.synth import Simulator, missing_children_database

ROOT = Path(__file__).parent.parent
CHINA = load_frequencies(ROOT / "fixtures" / "freq_China_GBT37223.csv")
LOCI = list(CODIS_20[:12])
SETTINGS = IntakeSettings(CHINA, "sha", min_lr=1.0)
PROFILES = {p.sample_id: p for p in missing_children_database(
    Simulator(CHINA, LOCI, seed=5), 12, 4).references}  # fmt: skip
CANARY = ("61.3", "77.1")
"""Alleles of no real profile: an answer, a log line or an audit record holding one leaks
(repeat numbers over 59, so that no timestamp's seconds read as one)."""


def profile_json(profile: Profile, **changes: Any) -> dict[str, Any]:
    return {"sample_id": profile.sample_id, "role": profile.role, "case_id": profile.case_id,
            "sex": profile.sex, **changes,
            "genotypes": {locus: "/".join(map(str, g))
                          for locus, g in profile.genotypes.items()}}  # fmt: skip


def canary_json(sample: str, **genotypes: str) -> dict[str, Any]:
    """A profile typed with the canary alleles (and any ``genotypes`` given)."""
    return {"sample_id": sample, "role": "unknown-origin",
            "genotypes": {"D3S1358": f"{CANARY[0]}/{CANARY[1]}", **genotypes}}  # fmt: skip


def profiles_csv(profiles: list[Profile]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sample_id", "role", "case_id", "sex", *LOCI])
    for p in profiles:
        writer.writerow([p.sample_id, p.role or "", p.case_id or "", p.sex or "",
                         *("/".join(map(str, p.genotypes[locus])) if locus in p.genotypes
                           else "" for locus in LOCI)])  # fmt: skip
    return out.getvalue().encode()


class Server:
    def __init__(self, client: Client, queue: ReviewQueue, store: Path, comparer: Comparer):
        self.client, self.queue, self.store, self.comparer = client, queue, store, comparer

    def submit(
        self,
        token: str | None,
        body: Any = None,
        *,
        key: str | None = "k1",
        raw: bytes | None = None,
        content_type: str = "application/json",
        again: str | None = None,
    ) -> Any:
        headers = {"Content-Type": content_type}
        if key is not None:
            headers["Idempotency-Key"] = key
        if again is not None:
            headers["Register-Again"] = again
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post("/submissions", token, raw=data, headers=headers)


@pytest.fixture
def server(url: str, agencies: Agencies, tmp_path: Path) -> Iterator[Server]:
    queue = open_queue(url, agencies)
    store = tmp_path / "store"
    comparer = Comparer(store, SETTINGS, queue)
    with running(queue, [submission_endpoints(Submissions(store, queue), comparer)]) as client:
        comparer.start()
        yield Server(client, queue, store, comparer)
        comparer.stop()
    queue.close()


def analyst(agencies: Agencies, agency: str = "A1") -> str:
    return agencies.token(f"ana-{agency}", ["analyst"], agency=agency)


def audit(server: Server, agencies: Agencies) -> list[dict[str, Any]]:
    token = agencies.token("nat", ["auditor"], jurisdiction="national")
    return [r for r in server.client.get("/audit?limit=10000", token).json["records"]
            if r["operation"] == "submit"]  # fmt: skip


def test_a_json_batch_is_committed_once_per_key(server: Server, agencies: Agencies) -> None:
    body = {"profiles": [profile_json(PROFILES["C0"]), profile_json(PROFILES["F0"])]}
    first = server.submit(analyst(agencies), body)
    assert first.status == 201, first.text
    assert first.json == {"batch": 1, "profiles": 2, "replayed": False}
    again = server.submit(analyst(agencies), body)  # a retry: the same batch, nothing written
    assert again.status == 200 and again.json == {"batch": 1, "profiles": 2, "replayed": True}
    store = ReferenceStore.open(server.store)
    assert store.generation == 1 and len(store) == 2
    stored = {p.sample_id: p for p in store.profiles()}
    assert stored["C0"].genotypes == PROFILES["C0"].genotypes
    assert {p.agency for p in stored.values()} == {"A1"}  # the submitting agency's
    other = server.submit(analyst(agencies), {"profiles": [profile_json(PROFILES["M0"])]})
    assert other.status == 409 and "Idempotency-Key" in other.json["error"]
    outcomes = [(r["actor"], r["outcome"]) for r in audit(server, agencies)]
    assert outcomes == [("ana-A1@A1", "allowed: batch 1, 2 profiles"),
                        ("ana-A1@A1", "allowed: already committed as batch 1"),
                        ("ana-A1@A1", "refused: key reused")]  # fmt: skip


def test_a_csv_batch_and_the_agency_filled_in(server: Server, agencies: Agencies) -> None:
    body = profiles_csv([PROFILES["C1"], PROFILES["F1"]])
    reply = server.submit(analyst(agencies, "A2"), raw=body, content_type="text/csv")
    assert reply.status == 201, reply.text
    stored = list(ReferenceStore.open(server.store).profiles())
    assert {p.agency for p in stored} == {"A2"}
    assert {p.sample_id: p.genotypes for p in stored} == {
        "C1": PROFILES["C1"].genotypes, "F1": PROFILES["F1"].genotypes}  # fmt: skip


@pytest.mark.parametrize("who", ["reviewer", "supervisor", "auditor"])
def test_only_analysts_submit(server: Server, agencies: Agencies, who: str) -> None:
    token = agencies.token(f"x-{who}", [who], agency="A1")
    reply = server.submit(token, {"profiles": [canary_json("S1")]})
    assert reply.status == 403
    assert not (server.store / "manifest.json").exists() or len(
        ReferenceStore.open(server.store)) == 0  # fmt: skip
    assert [r["outcome"] for r in audit(server, agencies)] == ["refused: role"]


def test_no_token_no_submission(server: Server, agencies: Agencies) -> None:
    assert server.submit(None, {"profiles": [canary_json("S1")]}).status == 401
    assert server.submit("not.a.token", {"profiles": [canary_json("S1")]}).status == 401


@pytest.mark.parametrize("where", ["batch", "record", "csv"])
def test_a_batch_of_another_agency_is_refused(
    server: Server, agencies: Agencies, where: str
) -> None:
    token = analyst(agencies, "A1")
    if where == "batch":
        reply = server.submit(token, {"agency": "A2", "profiles": [canary_json("S1")]})
    elif where == "record":
        reply = server.submit(
            token, {"profiles": [canary_json("S0"), {**canary_json("S1"), "agency": "A2"}]}
        )
    else:
        raw = b"sample_id,agency,D3S1358\nS1,A1,12/14\nS2,A2,61.3/77.1\n"
        reply = server.submit(token, raw=raw, content_type="text/csv")
    assert reply.status == 403, reply.text
    assert "agency" in reply.json["error"] and "A2" not in reply.json["error"]
    assert len(ReferenceStore.open_or_create(server.store)) == 0
    assert [r["outcome"] for r in audit(server, agencies)] == ["refused: another agency"]


def test_problems_name_record_and_field_without_the_genotype(
    server: Server, agencies: Agencies, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = analyst(agencies)
    good = canary_json("S1")
    bad_allele = canary_json("S2", vWA=f"{CANARY[0]}x/{CANARY[1]}")
    three = canary_json("S3", TH01=f"{CANARY[0]}/{CANARY[1]}/9")
    reply = server.submit(token, {"profiles": [good, bad_allele, three]})
    assert reply.status == 422, reply.text
    assert reply.json["total"] == 2
    problems = {p["record"]: p for p in reply.json["problems"]}
    assert problems[2]["sample_id"] == "S2" and problems[2]["locus"] == "vWA"
    assert problems[3]["sample_id"] == "S3" and problems[3]["locus"] == "TH01"
    assert "alleles" in problems[3]["reason"]
    unknown = server.submit(token, {"profiles": [good, canary_json("S4", NOTALOCUS="12/14")]})
    assert unknown.status == 422
    assert unknown.json["problems"] == [
        {
            "record": 2,
            "sample_id": "S4",
            "locus": "NOTALOCUS",
            "field": "genotypes",
            "reason": "unknown locus",
        }
    ]
    csv_reply = server.submit(token, raw=f"sample_id,vWA\nS9,{CANARY[0]}/zz\n".encode(),
                              content_type="text/csv", key="k2")  # fmt: skip
    assert csv_reply.status == 422
    assert csv_reply.json["problems"][0]["line"] == 2
    assert csv_reply.json["problems"][0]["locus"] == "vWA"
    texts = {"answer": reply.text, "unknown": unknown.text, "csv": csv_reply.text,
             "log": caplog.text, "audit": json.dumps(audit(server, agencies))}  # fmt: skip
    for name, text in texts.items():
        assert not any(allele in text for allele in CANARY), (name, text)
    assert len(ReferenceStore.open_or_create(server.store)) == 0
    # refused for its content: the key may be used again, for a corrected batch
    fixed = server.submit(token, {"profiles": [good]})
    assert fixed.status == 201, fixed.text
    assert CANARY[0] not in fixed.text


def test_a_sample_already_stored_is_a_problem_of_its_record(
    server: Server, agencies: Agencies
) -> None:
    token = analyst(agencies)
    assert server.submit(token, {"profiles": [canary_json("S1")]}).status == 201
    reply = server.submit(token, {"profiles": [canary_json("S2"), canary_json("S1")]}, key="k2")
    assert reply.status == 422
    [problem] = reply.json["problems"]
    assert problem["record"] == 2 and problem["field"] == "sample_id"
    assert "already in the store" in problem["reason"]


@pytest.mark.parametrize("key", [None, "", "x" * 129, "two words", "é"])
def test_an_idempotency_key_is_required(
    server: Server, agencies: Agencies, key: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = json.dumps({"profiles": [canary_json("S1")]}).encode()
    reply = server.client.post("/submissions", analyst(agencies), raw=data, headers=headers)
    assert reply.status == 422, reply.text
    assert reply.json["problems"][0]["field"] == "Idempotency-Key"
    assert [r["outcome"] for r in audit(server, agencies)] == ["refused: invalid request"]


def test_the_server_compares_each_batch_and_queues_its_hits(
    server: Server, agencies: Agencies
) -> None:
    """A child entered by A1, its mother later by A2: the pair found once, pushed by A2's
    analyst (the newer batch's), an item of both agencies."""
    child, mother = PROFILES["C0"], PROFILES["M0"]
    assert server.submit(analyst(agencies, "A1"), {"profiles": [profile_json(child)]}).status == 201
    assert server.comparer.wait()
    body = {"profiles": [profile_json(mother)]}
    assert server.submit(analyst(agencies, "A2"), body, key="m").status == 201
    assert server.comparer.wait()
    supervisor = agencies.token("sup", ["supervisor"], jurisdiction="national")
    items = server.queue.list_items(supervisor)
    assert [(i.query_id, i.reference_ids, i.agencies) for i in items] == [
        ("M0", ("C0",), ("A1", "A2"))]  # the newer profile searched  # fmt: skip
    token = agencies.token("nat", ["auditor"], jurisdiction="national")
    pushes = [r for r in server.queue.audit(token) if r.operation == "push"]
    assert [(r.actor, r.outcome) for r in pushes] == [("ana-A2@A2", "allowed")]
    with Ledger(server.store) as ledger:
        assert ledger.submitted(2) is not None and ledger.submitted(2).agency == "A2"
    assert server.comparer.wait()  # nothing outstanding: nothing pushed again
    assert len(server.queue.list_items(supervisor)) == 1


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _text)
_json = st.recursive(
    _values,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)
_profile = st.fixed_dictionaries({"sample_id": st.one_of(_text, _values)}, optional={
    "role": st.one_of(st.sampled_from(["father", "mother", "unknown-origin"]), _values),
    "sex": st.one_of(st.sampled_from(["M", "F"]), _values), "agency": _values,
    "genotypes": st.one_of(_json, st.dictionaries(
        st.sampled_from(["D3S1358", "vWA", "TH01", "FGA", "Amelogenin", "XYZ"]),
        st.one_of(st.sampled_from(["12/14", "9.3", "61.3/77.1", "OL", "12/13/14", ""]),
                  _values), max_size=4))})  # fmt: skip
_bodies = st.one_of(
    st.builds(lambda p: json.dumps({"profiles": p}).encode(), st.lists(_profile, max_size=4)),
    st.builds(lambda d: json.dumps(d).encode(), _json),
    st.binary(max_size=200),
    st.builds(lambda rows: "\n".join(",".join(r) for r in rows).encode(),
              st.lists(st.lists(_text, max_size=4), max_size=4)),
)  # fmt: skip


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)
def test_fuzz_never_a_server_error(server: Server, agencies: Agencies) -> None:
    token = analyst(agencies)
    keys = iter(range(10**6))

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_bodies, st.sampled_from(["application/json", "text/csv", "text/plain", ""]))
    def check(body: bytes, content_type: str) -> None:
        reply = server.submit(token, raw=body, content_type=content_type, key=f"f{next(keys)}")
        assert reply.status in (201, 403, 422), reply.text
        assert CANARY[0] not in reply.text

    check()


def test_kinmatch_serve_takes_submissions_and_queues_their_hits(
    tmp_path: Path, agencies: Agencies
) -> None:
    """``kinmatch serve --store`` as a real process: two agencies' submissions, the pair
    queued once, and no submitted genotype in the server's log."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-m", "kinmatch", "serve", "--db",
            f"sqlite:///{tmp_path / 'queue.db'}", "--trust", str(agencies.trust_file),
            "--port", str(port), "--store", str(tmp_path / "store"), "--frequencies",
            str(ROOT / "fixtures" / "freq_China_GBT37223.csv"), "--min-lr", "1"]  # fmt: skip
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        client = Client(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/openapi.json")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        child = profile_json(PROFILES["C0"], sample_id="C0")
        child["genotypes"]["Penta E"] = f"{CANARY[0]}/{CANARY[1]}"  # typed in the child alone
        for agency, body in (("A1", {"profiles": [child]}),
                             ("A2", {"profiles": [profile_json(PROFILES["M0"])]})):  # fmt: skip
            reply = client.post("/submissions", analyst(agencies, agency), body=body,
                                headers={"Idempotency-Key": agency})  # fmt: skip
            assert reply.status == 201, reply.text
        supervisor = agencies.token("sup", ["supervisor"], jurisdiction="national")
        while not (items := client.get("/items", supervisor).json["items"]):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert [(i["query_id"], i["agencies"]) for i in items] == [("M0", ["A1", "A2"])]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert not any(allele in log.read_text() for allele in CANARY)


def test_a_withdrawn_sample_is_registered_again_only_when_asked(
    server: Server, agencies: Agencies
) -> None:
    """After a withdrawal the same sample ID is refused (422, its field named); with
    ``Register-Again`` naming it, it is a new profile, and the audit says so."""
    father = {"profiles": [profile_json(PROFILES["F0"])]}
    assert server.submit(analyst(agencies), father, key="k1").status == 201
    ReferenceStore.open(server.store).withdraw("F0", "w-1", "sampling-error")
    refused = server.submit(analyst(agencies), father, key="k2")
    assert refused.status == 422
    [problem] = refused.json["problems"]
    assert problem["field"] == "sample_id" and "withdrawn" in problem["reason"]
    stray = server.submit(analyst(agencies), father, key="k3", again="F0, M0")
    assert stray.status == 422 and stray.json["problems"][0]["field"] == "Register-Again"
    again = server.submit(analyst(agencies), father, key="k4", again="F0")
    assert again.status == 201, again.text
    store = ReferenceStore.open(server.store)
    assert store.find("F0") is not None and store.find("F0")[0].info.generation == 3
    outcomes = [r["outcome"] for r in audit(server, agencies)]
    assert "allowed: batch 3, 1 profiles, registered again: F0" in outcomes
    assert outcomes.count("refused: invalid request") == 2
