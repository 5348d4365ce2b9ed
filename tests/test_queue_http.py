"""The review queue's HTTP API, served by a real uvicorn on 127.0.0.1, on both engines: the
workflow, tokens checked before anything else, the error mapping, the OpenAPI document, no
genotype outside ``show``, and fuzzed requests that never get a 5xx."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queue_support import (
    GENOTYPE_TEXT,
    Agencies,
    evidence_item,
    key_setting,
    new_item,
    open_queue,
    queue_url,
)
from test_queue import attacks, older_schema, tokens
from test_queue_stateful import call

from kinmatch.errors import AuthenticationError, QueueError
from kinmatch.queue import ReviewQueue
from kinmatch.queue.database import ANCHOR_VERSION
from kinmatch.queue.http import MAX_BODY, Extension, create_app

ENDPOINTS = [
    ("POST", "/items"),
    ("GET", "/items"),
    ("POST", "/items/claim"),
    ("GET", "/items/{item_id}"),
    ("POST", "/items/{item_id}/claim"),
    ("POST", "/items/{item_id}/release"),
    ("POST", "/items/{item_id}/review"),
    ("POST", "/items/{item_id}/escalate"),
    ("POST", "/items/{item_id}/confirm"),
    ("POST", "/items/{item_id}/reject"),
    ("POST", "/items/{item_id}/return"),
    ("GET", "/audit"),
    ("GET", "/audit/verify"),
    ("POST", "/audit/verify"),
    ("POST", "/checkpoints"),
    ("GET", "/checkpoints"),
    ("POST", "/revocations"),
]
"""Every endpoint: one per ReviewQueue operation."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Client:
    """Plain HTTP/1.1 requests, bodies sent exactly as given."""

    port: int

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            raw = json.dumps(body).encode()
        if raw is not None:
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=raw, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            received = {k.lower(): v for k, v in response.getheaders()}
            return Reply(response.status, received, text)
        finally:
            connection.close()

    def get(self, path: str, token: str | None = None, **options: Any) -> Reply:
        return self.request("GET", path, token=token, **options)

    def post(self, path: str, token: str | None = None, **options: Any) -> Reply:
        return self.request("POST", path, token=token, **options)


@contextlib.contextmanager
def running(queue: ReviewQueue, extensions: Sequence[Extension] = ()) -> Iterator[Client]:
    """uvicorn serving ``queue`` (with ``extensions``) on a free port of 127.0.0.1, in a
    thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    app = create_app(queue, extensions)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Client(listener.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(20)
        listener.close()


@pytest.fixture
def queue(url: str, agencies: Agencies) -> Iterator[ReviewQueue]:
    queue = open_queue(url, agencies)
    yield queue
    queue.close()


@pytest.fixture
def api(queue: ReviewQueue) -> Iterator[Client]:
    with running(queue) as client:
        yield client


def item_json(query: str = "C1", reference: str = "F1", **changes: Any) -> dict[str, Any]:
    """:func:`queue_support.new_item` as the JSON body of a push."""
    # the query as given (the fuzzer's too), not checked by NewItem
    return {**json.loads(json.dumps(asdict(new_item("C1", reference)))), "query_id": query,
            **changes}  # fmt: skip


def evidence_json(query: str = "C1", caution: bool = True, **changes: Any) -> dict[str, Any]:
    """:func:`queue_support.evidence_item` as the JSON body of a push."""
    item = evidence_item(query, caution=caution)
    return {**json.loads(json.dumps(asdict(item))), **changes}


def national_auditor(agencies: Agencies) -> str:
    return agencies.token("nat", ["auditor"], jurisdiction="national")


def audit_log(api: Client, token: str) -> list[dict[str, Any]]:
    reply = api.get("/audit?limit=10000", token)
    assert reply.status == 200, reply.text
    records: list[dict[str, Any]] = reply.json["records"]
    return records


def test_workflow_from_push_to_confirmation(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    pushed = api.post("/items", t["analyst"], body={"items": [item_json(), item_json("C2")]})
    assert pushed.status == 200, pushed.text
    assert pushed.json == {"items": [{"id": 1, "created": True}, {"id": 2, "created": True}]}
    again = api.post("/items", t["analyst"], body={"items": [item_json("C2")]})
    assert again.json == {"items": [{"id": 2, "created": False}]}

    listing = api.get("/items?state=pending&limit=1", t["reviewer"])
    assert listing.status == 200
    [summary] = listing.json["items"]
    assert summary["id"] == 1 and summary["state"] == "pending" and summary["agency"] == "A1"
    assert summary["reference_ids"] == ["F1"] and summary["lr"] == 1e6
    assert [i["id"] for i in api.get("/items?after=1", t["reviewer"]).json["items"]] == [2]
    assert listing.headers["content-type"] == "application/json"
    assert listing.headers["cache-control"] == "no-store"

    claimed = api.post("/items/claim", t["reviewer"])
    assert claimed.status == 200 and claimed.json["item"]["id"] == 1
    assert claimed.json["item"]["state"] == "claimed"
    shown = api.get("/items/1", t["reviewer"])
    assert shown.status == 200
    assert shown.json["loci"][0]["genotypes"]["child"] == "14/17.3"
    assert shown.json["parameters"]["theta"] == 0.01 and shown.json["claimed_by"] == "rob@A1"

    reviewed = api.post(
        "/items/1/review",
        t["reviewer"],
        body={"finding": "supports", "reason": "every locus consistent"},
    )
    assert (reviewed.status, reviewed.json) == (200, {"id": 1, "state": "reviewed"})
    confirmed = api.post("/items/1/confirm", t["supervisor"], body={"reason": "agreed"})
    assert (confirmed.status, confirmed.json) == (200, {"id": 1, "state": "confirmed"})
    final = api.get("/items/1", t["supervisor"]).json
    assert (final["state"], final["reviewed_by"], final["finding"], final["decided_by"]) == (
        "confirmed",
        "rob@A1",
        "supports",
        "sue@A1",
    )

    operations = [(r["actor"], r["operation"], r["outcome"]) for r in audit_log(api, t["auditor"])]
    assert operations == [  # one record per operation: checking the token first adds none
        ("ana@A1", "push", "allowed"),
        ("ana@A1", "push", "allowed"),
        ("ana@A1", "push", "allowed: already queued"),
        ("rob@A1", "list", "allowed: 1 items"),
        ("rob@A1", "list", "allowed: 1 items"),
        ("rob@A1", "claim", "allowed"),
        ("rob@A1", "show", "allowed"),
        ("rob@A1", "review", "allowed"),
        ("sue@A1", "confirm", "allowed"),
        ("sue@A1", "show", "allowed"),
    ]
    verified = api.get("/audit/verify", t["auditor"])
    assert verified.status == 200
    assert verified.json == {"ok": True, "records": 11, "first_bad": None, "reason": ""}


def test_release_escalate_return_and_reject(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json("C1"), item_json("C2")]})
    assert api.post("/items/1/claim", t["reviewer"]).json["item"]["id"] == 1
    assert api.post("/items/1/release", t["reviewer"]).json == {"id": 1, "state": "pending"}
    for item_id in (1, 2):
        assert api.post(f"/items/{item_id}/claim", t["reviewer"]).status == 200
        escalated = api.post(f"/items/{item_id}/escalate", t["reviewer"], body={"reason": "?"})
        assert escalated.json == {"id": item_id, "state": "escalated"}
    returned = api.post("/items/1/return", t["supervisor"], body={"reason": "look again"})
    assert returned.json == {"id": 1, "state": "pending"}
    rejected = api.post("/items/2/reject", t["supervisor"], body={"reason": "excluded"})
    assert rejected.json == {"id": 2, "state": "rejected"}
    assert api.post("/items/claim", t["reviewer2"]).json["item"]["id"] == 1
    assert api.post("/items/claim", t["reviewer2"]).json == {"item": None}  # none pending


def test_concurrent_claims_take_each_item_once(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json(f"C{i}") for i in range(3)]})
    reviewers = [agencies.token(f"r{i}", ["reviewer"]) for i in range(6)]
    replies: list[Reply] = []
    threads = [
        threading.Thread(target=lambda r=r: replies.append(api.post("/items/claim", r)))
        for r in reviewers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reply.status == 200 for reply in replies)
    claimed = sorted(r.json["item"]["id"] for r in replies if r.json["item"] is not None)
    assert claimed == [1, 2, 3]


MALFORMED_BODIES = [b'{"items": [', b"\xff\xfe not json", b'{"reason": NaN}', b"[]"]


def test_refused_tokens_get_401_before_anything_else(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json()]})
    refused = {**attacks(agencies), "no header": None, "basic scheme": "Basic YTpi"}
    sent = 0
    for n, (method, template) in enumerate(ENDPOINTS):
        path = template.format(item_id=1 if n % 2 else "not-an-id")  # path errors come later
        for name, token in refused.items():
            headers = {} if token is None else {"Authorization": token}
            if token is not None and not token.startswith("Basic"):
                headers["Authorization"] = f"Bearer {token}"
            raw = MALFORMED_BODIES[sent % len(MALFORMED_BODIES)]
            reply = api.request(method, path, raw=raw, headers=headers)
            sent += 1
            assert reply.status == 401, (method, path, name, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer"
            assert set(reply.json) == {"error"}, reply.text
    # each refused request is audited exactly once
    records = audit_log(api, national_auditor(agencies))
    assert sum(r["outcome"].startswith("refused: token") for r in records) == sent
    assert len(records) == sent + 1  # and the push
    assert api.get("/items/1", t["supervisor"]).json["state"] == "pending"


def test_wrong_role_gets_403_before_the_body_is_read(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json()]})
    for method, template in ENDPOINTS:
        auditing = template.startswith(("/audit", "/checkpoints"))
        wrong = t["analyst"] if auditing else t["auditor"]
        reply = api.request(method, template.format(item_id=1), token=wrong, raw=b"{bad")
        assert reply.status == 403, (method, template, reply.text)
        assert reply.json["error"].endswith(
            "not allowed for roles " + ("analyst" if auditing else "auditor")
        )
    records = audit_log(api, t["auditor"])
    assert [r["outcome"] for r in records] == ["allowed"] + ["refused: role"] * len(ENDPOINTS)


def test_missing_and_foreign_items_read_alike(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    a2_analyst = agencies.token("zoe", ["analyst"], agency="A2")
    api.post("/items", t["analyst"], body={"items": [item_json("C1")]})
    theirs = api.post("/items", a2_analyst, body={"items": [item_json("C2")]}).json["items"][0]
    assert theirs["id"] == 2
    missing = 9  # as many digits: the replies differ in nothing but the id asked for
    for method, template in ENDPOINTS:
        if "{item_id}" not in template:
            continue
        token = (
            t["reviewer"]
            if template.endswith(("claim", "release", "review", "escalate"))
            else t["supervisor"]
        )
        body = (
            {"finding": "supports", "reason": "x"}
            if template.endswith("review")
            else {"reason": "x"}
        )
        replies = [
            api.request(method, template.format(item_id=i), token=token, body=body)
            for i in (theirs["id"], missing)
        ]
        foreign, absent = replies
        assert (foreign.status, absent.status) == (404, 404), foreign.text
        assert foreign.json == {"error": "no item 2"} and absent.json == {"error": "no item 9"}
        assert foreign.text.replace("2", "9") == absent.text
        assert {k: v for k, v in foreign.headers.items() if k != "date"} == {
            k: v for k, v in absent.headers.items() if k != "date"
        }


def test_illegal_transitions_get_409(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json()]})
    reply = api.post("/items/1/review", t["reviewer"], body={"finding": "rejects", "reason": "x"})
    assert (reply.status, reply.json) == (409, {"error": "review: item 1 is pending, not claimed"})
    assert api.post("/items/1/confirm", t["supervisor"], body={"reason": "x"}).status == 409
    api.post("/items/1/claim", t["reviewer"])
    assert api.post("/items/1/claim", t["reviewer2"]).status == 409
    assert api.post("/items/1/release", t["reviewer2"]).status == 403  # not the holder: 403


def test_invalid_requests_get_4xx_json(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json()]})
    api.post("/items/1/claim", t["reviewer"])
    cases: list[tuple[str, str, str, Any, int]] = [
        ("POST", "/items", "analyst", b'{"items": [', 422),
        ("POST", "/items", "analyst", {"items": []}, 422),
        ("POST", "/items", "analyst", {"items": [item_json(lr=-1)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(p_unrelated=1.5)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(p_unrelated=-0.1)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(p_unrelated="0.5")]}, 422),
        ("POST", "/items", "analyst", b'{"items": [{"p_unrelated": NaN}]}', 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(expected_unrelated=-1)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(expected_unrelated=True)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(n_searched=-1)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(n_searched=2.5)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(n_searched=2**63)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(database_verdict="")]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(database_verdict="x" * 65)]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(database_verdict="Yes!")]}, 422),
        ("POST", "/items", "analyst", {"items": [evidence_json(database_verdict=1)]}, 422),
        ("POST", "/items", "analyst", {"items": [item_json(relationship="cousins")]}, 422),
        ("POST", "/items", "analyst", {"items": [item_json(agency="national")]}, 422),
        ("POST", "/items", "analyst", {"items": [item_json(surprise=1)]}, 422),
        ("POST", "/items", "analyst", {"items": [item_json(query_id="x\u0000")]}, 422),
        ("POST", "/items", "analyst", b'{"items": [{"query_id": "\\ud800"}]}', 422),
        ("POST", "/items", "analyst", b'{"items": [{"lr": Infinity}]}', 422),
        ("POST", "/items", "analyst", {"items": [item_json(agency="A2")]}, 403),
        ("POST", "/items", "analyst", b"[" * 100_000 + b"]" * 100_000, 400),
        ("POST", "/items", "analyst", b" " * (MAX_BODY + 1), 413),
        ("GET", "/items?limit=0", "reviewer", None, 422),
        ("GET", "/items?limit=10001", "reviewer", None, 422),
        ("GET", "/items?state=lost", "reviewer", None, 422),
        ("GET", "/items?after=99999999999999999999", "reviewer", None, 422),
        ("GET", "/items/abc", "reviewer", None, 422),
        ("GET", "/items/0", "reviewer", None, 422),
        ("GET", "/items/1/", "reviewer", None, 404),
        ("GET", "/nowhere", "reviewer", None, 404),
        ("DELETE", "/items/1", "reviewer", None, 405),
        ("POST", "/items/1/review", "reviewer", {"finding": "maybe", "reason": "x"}, 422),
        ("POST", "/items/1/review", "reviewer", {"finding": "supports", "reason": "  "}, 422),
        ("POST", "/items/1/review", "reviewer", {"finding": "supports"}, 422),
        ("POST", "/items/1/escalate", "reviewer", {"reason": "x" * 2001}, 422),
        ("POST", "/items/1/escalate", "reviewer", None, 422),
        ("GET", "/audit?limit=-1", "auditor", None, 422),
    ]
    for method, path, role, body, status in cases:
        options = {"raw": body} if isinstance(body, bytes) else {"body": body}
        reply = api.request(method, path, token=t[role], **options)
        assert reply.status == status, (method, path, reply.status, reply.text[:300])
        assert set(reply.json) == {"error"}, reply.text[:300]
    assert api.get("/items/1", t["reviewer"]).json["state"] == "claimed"  # nothing changed


def test_internal_errors_say_nothing(
    api: Client, queue: ReviewQueue, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **options: Any) -> None:
        raise RuntimeError(f"child {GENOTYPE_TEXT[0]} at vWA")

    t = tokens(agencies)
    monkeypatch.setattr(queue, "list_items", fail)  # in the endpoint
    reply = api.get("/items", t["supervisor"])
    assert (reply.status, reply.json) == (500, {"error": "internal error"})
    monkeypatch.setattr(queue, "authorize", fail)  # in the token check
    reply = api.post("/items/1/confirm", t["supervisor"], body={"reason": "x"})
    assert (reply.status, reply.json) == (500, {"error": "internal error"})


def test_openapi_lists_every_endpoint(api: Client) -> None:
    reply = api.get("/openapi.json")  # the one document served without a token
    assert reply.status == 200
    document = reply.json
    assert document["openapi"].startswith("3.")
    paths = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert paths == set(ENDPOINTS)
    schemes = document["components"]["securitySchemes"]
    assert list(schemes.values()) == [
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["HTTPBearer"]["description"],
        }
    ]
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation["security"] == [{"HTTPBearer": []}], path
            for status in ("401", "403", "422", "500"):
                error = operation["responses"][status]["content"]["application/json"]
                assert error["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, path
    item = schemas["NewItemIn"]
    assert item["additionalProperties"] is False
    assert item["properties"]["lr"] == {"type": "number", "minimum": 0.0, "title": "Lr"}
    assert item["properties"]["query_id"]["maxLength"] == 2000
    assert schemas["PushIn"]["properties"]["items"]["maxItems"] == 1000
    evidence = item["properties"]
    assert evidence["p_unrelated"]["anyOf"][0] == {"type": "number", "minimum": 0.0,
                                                   "maximum": 1.0}  # fmt: skip
    assert evidence["expected_unrelated"]["anyOf"][0] == {"type": "number", "minimum": 0.0}
    assert evidence["n_searched"]["anyOf"][0] == {  # the document states 2**63 - 1 as a float
        "type": "integer", "minimum": 0, "maximum": float(2**63 - 1)}  # fmt: skip
    verdict = evidence["database_verdict"]["anyOf"][0]
    assert verdict["maxLength"] == 64 and verdict["pattern"] == "^[a-z][a-z0-9-]*$"
    assert not {"p_unrelated", "expected_unrelated", "n_searched", "database_verdict"} & set(
        item.get("required", []))  # fmt: skip
    summary = schemas["ItemSummaryOut"]["properties"]
    assert {"p_unrelated", "expected_unrelated", "database_verdict", "caution"} <= set(summary)
    assert "n_searched" not in summary and "n_searched" in schemas["ItemOut"]["properties"]
    assert "HTTPValidationError" not in schemas  # 422 replies are {"error": ...} too
    assert api.get("/docs").status == 404


def test_no_genotype_outside_show(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    seen = [api.post("/items", t["analyst"], body={"items": [item_json()]}).text]
    seen.append(api.get("/items", t["analyst"]).text)
    seen.append(api.get("/items", t["supervisor"]).text)
    seen.append(api.post("/items/claim", t["reviewer"]).text)
    for role, method, path, body in [
        ("reviewer2", "GET", "/items/1", None),
        ("analyst", "GET", "/items/1", None),
        ("supervisor", "POST", "/items/1/confirm", {"reason": "too early"}),
        ("reviewer", "POST", "/items/1/review", {"finding": "supports", "reason": " "}),
    ]:
        reply = api.request(method, path, token=t[role], body=body)
        assert reply.status in (403, 409, 422), reply.text
        seen.append(reply.text)
    seen.append(api.get("/audit", t["auditor"]).text)
    for text in seen:
        assert not any(g in text for g in GENOTYPE_TEXT), text
    assert GENOTYPE_TEXT[0] in api.get("/items/1", t["reviewer"]).text  # the holder sees them


def test_evidence_round_trips(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    body = {"items": [evidence_json("C1"), evidence_json("C2", caution=False), item_json("C3")]}
    pushed = api.post("/items", t["analyst"], body=body)
    assert pushed.status == 200, pushed.text
    listing = api.get("/items", t["reviewer"]).json["items"]
    evidence = ("p_unrelated", "expected_unrelated", "database_verdict")
    assert [tuple(i[k] for k in evidence) for i in listing] == [
        (1e-5, 5000 * 1e-5, "support-database-caution"),
        (1e-9, 5000 * 1e-9, "support"),
        (None, None, None),
    ]
    assert listing[0]["caution"].startswith(
        "caution: in the database searched, 0.05 unrelated references are expected"
    )
    assert [i["caution"] for i in listing[1:]] == [None, None]
    assert all("n_searched" not in i for i in listing)
    claimed = api.post("/items/claim", t["reviewer"]).json["item"]
    assert claimed["database_verdict"] == "support-database-caution" and claimed["caution"]
    shown = [api.get(f"/items/{i}", t["supervisor"]).json for i in (1, 2, 3)]
    assert [s["n_searched"] for s in shown] == [5000, 5000, None]
    assert shown[0]["caution"].startswith(
        "caution: in a database of 5000 references, 0.05 unrelated references are expected "
        "to score this high"
    )
    assert [s["caution"] for s in shown[1:]] == [None, None]
    # not part of the idempotency key: the same hit with newer evidence is the same item
    again = api.post("/items", t["analyst"], body={"items": [evidence_json("C1", n_searched=9)]})
    assert again.json == {"items": [{"id": 1, "created": False}]}
    assert api.get("/items/1", t["supervisor"]).json["n_searched"] == 5000
    seen = [json.dumps(listing), json.dumps(claimed), api.get("/audit", t["auditor"]).text]
    for text in seen:
        assert not any(g in text for g in GENOTYPE_TEXT), text


def test_items_from_search_hits_are_accepted(tmp_path: Path, agencies: Agencies) -> None:
    from kinmatch import load_frequencies, read_profiles
    from kinmatch.mutation import MutationModel, MutationRates
    from kinmatch.queue import NewItem
    from kinmatch.search import Searcher
    from kinmatch.store import ReferenceStore

    fixtures = Path(__file__).parent.parent / "fixtures"
    store = ReferenceStore.create(tmp_path / "store")
    store.ingest_csv([fixtures / "examples" / "profiles.csv"])
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6)
    searcher = Searcher(
        store, load_frequencies(fixtures / "freq_China_GBT37223.csv"), theta=0.01, mutation=model
    )
    child = read_profiles(fixtures / "examples" / "profiles.csv")["U01"]
    hits = [
        *searcher.search(child, "parent-child", top_k=2).hits,
        *searcher.search(child, "parents-child", top_k=1).hits,
    ]
    items = [NewItem.from_hit(h, searcher.parameters, str(store.generation)) for h in hits]
    t = tokens(agencies)
    queue = open_queue(queue_url("sqlite", tmp_path, None), agencies)
    with running(queue) as api:
        pushed = api.post("/items", t["analyst"], body={"items": [asdict(i) for i in items]})
        assert pushed.status == 200, pushed.text
        ids = [i["id"] for i in pushed.json["items"]]
        shown = [api.get(f"/items/{i}", t["supervisor"]).json for i in ids]
    for item, full in zip(items, shown, strict=True):
        direct = queue.show(t["supervisor"], full["id"])
        assert full["loci"] == json.loads(json.dumps(list(item.loci))) == list(direct.loci)
        assert full["parameters"] == direct.parameters
        assert (full["relationship"], full["lr"]) == (item.relationship, item.lr)
    queue.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = [*item_json(), "agency", "case_id", "father_id", "finding", "reason", "items"]


@st.composite
def _item_like(draw: st.DrawFn) -> dict[str, Any]:
    """A push item with some fields replaced by anything, or dropped."""
    item: dict[str, Any] = item_json(draw(st.text(min_size=1, max_size=8)))
    for field in draw(st.lists(st.sampled_from(_fields), max_size=3)):
        if draw(st.booleans()):
            item[field] = draw(_json)
        else:
            item.pop(field, None)
    return item


_bodies = st.one_of(
    st.none(),
    _json,
    st.builds(lambda items: {"items": items}, st.lists(_item_like(), min_size=1, max_size=3)),
    st.fixed_dictionaries(
        {
            "finding": st.sampled_from(["supports", "rejects"]) | _json,
            "reason": st.text(max_size=30) | _json,
        }
    ),
    st.binary(max_size=40),
)
_ids = st.one_of(st.integers(-2, 8), st.integers(), st.text(max_size=12))
_queries = st.dictionaries(
    st.sampled_from(["state", "after", "limit"]) | st.text(max_size=6),
    st.sampled_from(["pending", "claimed", "x"]) | st.integers().map(str) | st.text(max_size=8),
    max_size=3,
)
_content_types = st.sampled_from(["application/json", "text/plain", "application/x+json", ""])


def test_fuzzed_requests_never_get_a_5xx(api: Client, agencies: Agencies) -> None:
    everything = agencies.token(
        "fuzz", ["analyst", "reviewer", "supervisor", "auditor"], jurisdiction="national"
    )
    api.post("/items", everything, body={"items": [item_json(f"C{i}") for i in range(4)]})

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ENDPOINTS), _ids, _queries, _bodies, _content_types)
    def check(
        endpoint: tuple[str, str], item_id: Any, query: dict[str, str], body: Any, kind: str
    ) -> None:
        method, template = endpoint
        path = template.format(item_id=quote(str(item_id), safe=""))
        if query:
            path += "?" + urlencode(query)
        raw = (
            body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        )
        reply = api.request(
            method, path, token=everything, raw=raw, headers={"Content-Type": kind} if kind else {}
        )
        assert reply.status < 500, (method, path, body, reply.text)
        document = reply.json
        assert isinstance(document, dict)
        assert reply.status < 400 or set(document) == {"error"}, reply.text

    check()
    verified = api.get("/audit/verify", everything)
    assert verified.status == 200 and verified.json["ok"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_runs_the_server_with_public_keys_only(url: str, agencies: Agencies) -> None:
    assert not list(agencies.trust_dir.glob("*.key"))  # the trust directory: public keys
    port = _free_port()
    script = (
        "import sys; from pathlib import Path; from kinmatch.queue.http import serve; "
        "serve(sys.argv[1], Path(sys.argv[2]), port=int(sys.argv[3]), checkpoint_every=0.2, "
        "key=Path(sys.argv[4]) if sys.argv[4] else None)"
    )
    key = key_setting(url)
    server = subprocess.Popen(
        [sys.executable, "-c", script, url, str(agencies.trust_file), str(port), key or ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        client, deadline = Client(port), time.monotonic() + 30
        while True:
            try:
                reply = client.get("/items", tokens(agencies)["supervisor"])
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        assert (reply.status, reply.json) == (200, {"items": []})
        assert "server" not in reply.headers  # uvicorn does not name itself
        assert client.get("/items").status == 401
        # the schedule signs the head when it moved: at last past the listing and the
        # refusal (it may have signed the listing alone first)
        while not any(c["seq"] >= 2 for c in client.get(
                "/checkpoints", national_auditor(agencies)).json["checkpoints"]):  # fmt: skip
            assert time.monotonic() < deadline + 30, "no checkpoint on the schedule"
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, errors = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, errors.decode()[-2000:]


def test_match_pushes_hits_to_a_server(api: Client, agencies: Agencies) -> None:
    """`kinmatch match --push-to-queue http://...` (push_hits): items created, then known."""
    from kinmatch.queue.client import push_hits

    target = f"http://127.0.0.1:{api.port}"
    analyst = agencies.token("ana", ["analyst"])
    items = [new_item("C1"), evidence_item("C2")]
    assert push_hits(target, None, analyst, items) == (2, 0)
    assert push_hits(target, None, analyst, items) == (0, 2)
    shown = api.get("/items/2", agencies.token("sue", ["supervisor"])).json
    assert (shown["n_searched"], shown["database_verdict"]) == (5000, "support-database-caution")
    with pytest.raises(QueueError, match="HTTP 403"):
        push_hits(target, None, agencies.token("rob", ["reviewer"]), items)


def test_claimed_identities_are_made_safe_before_they_are_audited(
    api: Client, queue: ReviewQueue, agencies: Agencies
) -> None:
    from test_queue import _signed_a1, forged

    now = int(time.time())
    claims = {"iss": "A1", "roles": ["supervisor"], "jurisdiction": "A1", "jti": "t-1",
              "iat": now, "nbf": now, "exp": now + 600}  # fmt: skip
    # (a header much longer than 5000 characters is refused by uvicorn itself)
    subjects = ["\ud800", "a\x00b", "\udfff@A2", "x" * 5000, "\x1b[31mred", "line\nbreak"]
    sent = 0
    for subject in subjects:
        unsigned = forged({**claims, "sub": subject})
        for method, template in ENDPOINTS:
            reply = api.request(method, template.format(item_id=1), token=unsigned, raw=b"{}")
            sent += 1
            assert reply.status == 401, (subject[:20], method, template, reply.text)
        with pytest.raises(AuthenticationError):  # the same through the library
            queue.list_items(unsigned)
        sent += 1
        # a trusted agency's signature does not make such a name acceptable either
        with pytest.raises(AuthenticationError, match="sub"):
            queue.list_items(_signed_a1(agencies, {**claims, "sub": subject}))
        sent += 1
    with pytest.raises(AuthenticationError):  # a token that is not even valid text
        queue.list_items("e30.\ud800.e30")
    with pytest.raises(AuthenticationError):
        queue.list_items(forged({**claims, "sub": "\x00" * 100_000}))
    sent += 2
    records = audit_log(api, national_auditor(agencies))
    refused = [r for r in records if r["outcome"].startswith("refused: token")]
    assert len(refused) == sent
    for record in refused:
        actor = record["actor"]
        assert actor.isprintable() and len(actor) <= 200, actor[:80]
        assert actor.endswith(("@A1", "@?")), actor[:80]
    assert "unverified:\\ud800@A1" in {r["actor"] for r in refused}
    assert "unverified:a\\x00b@A1" in {r["actor"] for r in refused}
    assert api.get("/audit/verify", national_auditor(agencies)).json["ok"]


def test_authenticated_requests_refused_as_invalid_are_audited(
    api: Client, agencies: Agencies
) -> None:
    t = tokens(agencies)
    api.post("/items", t["analyst"], body={"items": [item_json()]})
    api.post("/items/1/claim", t["reviewer"])
    cases: list[tuple[str, str, str, Any, int, int | None, str]] = [
        ("GET", "/items/abc", "supervisor", None, 422, None, "show"),
        ("GET", "/items/0", "supervisor", None, 422, None, "show"),
        ("GET", "/items?limit=0", "reviewer", None, 422, None, "list"),
        ("GET", "/audit?limit=-1", "auditor", None, 422, None, "audit"),
        ("POST", "/items/1/review", "reviewer", {"finding": "supports", "reason": " "}, 422, 1,
         "review"),
        ("POST", "/items/1/escalate", "reviewer", b'{"reason": ', 422, 1, "escalate"),
        ("POST", "/items", "analyst", b"[" * 100_000 + b"]" * 100_000, 400, None, "push"),
        ("POST", "/items", "analyst", b" " * (MAX_BODY + 1), 413, None, "push"),
    ]  # fmt: skip
    before = len(audit_log(api, t["auditor"])) + 1  # and the record of that reading
    for method, path, role, body, status, _, _ in cases:
        options = {"raw": body} if isinstance(body, bytes) else {"body": body}
        reply = api.request(method, path, token=t[role], **options)
        assert reply.status == status, (method, path, reply.text[:200])
    records = audit_log(api, t["auditor"])[before:]
    names = {"supervisor": "sue@A1", "reviewer": "rob@A1", "auditor": "aud@A1",
             "analyst": "ana@A1"}  # fmt: skip
    assert [(r["actor"], r["operation"], r["item_id"]) for r in records] == [
        (names[role], operation, item_id) for _, _, role, _, _, item_id, operation in cases
    ]
    assert all(r["outcome"].startswith("refused: ") for r in records)
    assert records[-1]["outcome"] == "refused: body too large"
    assert records[0]["outcome"] == "refused: invalid request"


NOT_ACCEPTED = [
    ("inconsistent_loci", [1]),
    ("inconsistent_loci", ["vWA\x00"]),
    ("inconsistent_loci", ["x" * 65]),
    ("relationship", "uncle"),
    ("reference_ids", [1]),
    ("reference_ids", []),
    ("reference_ids", ["F1"] * 9),
    ("query_id", "C\x00"),
    ("query_id", "x" * 2001),
    ("case_id", 7),
    ("father_id", ""),
    ("agency", "national"),
    ("agency", "a/b"),
    ("lr", True),
    ("lr", "1e6"),
    ("log10_lr", "6"),
    ("loci", [{"lr": 1.0}]),
    ("loci", [{"locus": 3}]),
    ("loci", [{"locus": "vWA", "genotypes": {"child": 14}}]),
    ("loci", [{"locus": "vWA", "lr": -1.0}]),
    ("loci", ["vWA"]),
    ("parameters", {"theta": [[[[[[1]]]]]]}),
    ("parameters", {"": 1}),
    ("store_version", 3),
]
"""Fields of a push the HTTP API refuses: every other entry point must refuse them too."""


@pytest.mark.parametrize(("field", "value"), NOT_ACCEPTED)
def test_one_validation_for_every_entry_point(field: str, value: Any) -> None:
    from kinmatch.queue import NewItem

    data = {**item_json(), field: value}
    with pytest.raises(QueueError):
        NewItem.from_dict(data)


def test_http_refuses_what_the_library_refuses(api: Client, agencies: Agencies) -> None:
    analyst = tokens(agencies)["analyst"]
    for field, value in NOT_ACCEPTED:
        reply = api.post("/items", analyst, body={"items": [{**item_json(), field: value}]})
        assert reply.status in (403, 422), (field, value, reply.text)


def test_checkpoints_are_signed_exported_and_verified(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    auditor = national_auditor(agencies)
    assert api.post("/items", t["analyst"], body={"items": [item_json()]}).status == 200
    assert api.post("/checkpoints", t["supervisor"]).status == 403
    signed = api.post("/checkpoints", auditor)
    assert signed.status == 200 and signed.json["seq"] == 2  # the push and the refusal
    exported = api.get("/checkpoints", auditor).json
    assert exported["checkpoints"] == [signed.json]
    assert "PUBLIC KEY" in exported["queue_public_key"]
    body = {"checkpoints": exported["checkpoints"],
            "queue_public_key": exported["queue_public_key"]}  # fmt: skip
    reply = api.post("/audit/verify", auditor, body=body)
    assert reply.status == 200 and reply.json["ok"], reply.text
    ahead = {**signed.json, "seq": 10_000}
    reply = api.post("/audit/verify", auditor, body={"checkpoints": [ahead]})
    assert reply.status == 200 and not reply.json["ok"]
    assert "not signed by the queue's key" in reply.json["reason"]
    reply = api.post("/audit/verify", auditor, body={"checkpoints": [{**ahead, "hash": "x"}]})
    assert reply.status == 422


def test_items_an_old_version_stored_are_served_without_a_500(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before one validation for every entry point, ``kinmatch queue push`` stored names that
    are not strings and unknown relationships, which then answered 500: they are shown."""
    t = tokens(agencies)
    older_schema(monkeypatch, ANCHOR_VERSION - 1)
    old = open_queue(url, agencies)
    [(item_id, _)] = old.push(t["analyst"], [new_item("C1")])
    with old.db.transaction() as tx:  # as the old push stored it
        tx.execute("UPDATE items SET inconsistent_loci = '[7, null]', reference_ids = '[12]', "
                   "relationship = 'grand-uncle' WHERE id = ?", (item_id,))  # fmt: skip
    old.close()
    monkeypatch.undo()
    queue = open_queue(url, agencies)
    app = create_app(queue)
    listed = call(app, "GET", "/items", t["supervisor"])
    shown = call(app, "GET", f"/items/{item_id}", t["supervisor"])
    assert (listed.status, shown.status) == (200, 200)
    [summary] = listed.body["items"]
    assert (summary["reference_ids"], summary["relationship"]) == (["12"], "grand-uncle")
    assert shown.body["inconsistent_loci"] == ["7", "null"] and summary["n_inconsistent"] == 2
    assert queue.verify_audit(t["auditor"]).ok
    queue.close()


def test_a_supervisor_revokes_over_http(api: Client, agencies: Agencies) -> None:
    t = tokens(agencies)
    lost = t["reviewer"]
    jti = jwt.decode(lost, options={"verify_signature": False})["jti"]
    assert api.get("/items", lost).status == 200
    reply = api.post("/revocations", t["supervisor"], body={"jti": jti, "reason": "stolen"})
    assert reply.status == 200, reply.text
    assert reply.json == {"jti": jti, "officer": None, "agency": "A1", "before": None,
                          "reason": "stolen", "revoked": f"token {jti} of A1"}  # fmt: skip
    refused = api.get("/items", lost)  # the next request
    assert (refused.status, refused.json) == (401, {"error": "token revoked"})
    assert refused.headers["www-authenticate"] == "Bearer"
    assert api.get("/items", agencies.token("rob", ["reviewer"])).status == 200
    body = {"officer": "rob", "before": "2100-01-01T00:00:00Z", "reason": "left"}
    officer = api.post("/revocations", t["supervisor"], body=body)
    assert officer.status == 200 and officer.json["before"] == 4102444800.0, officer.text
    assert api.get("/items", agencies.token("rob", ["reviewer"])).status == 401
    foreign = {"officer": "zoe", "agency": "A2", "reason": "not ours"}
    assert api.post("/revocations", t["supervisor"], body=foreign).status == 403
    no_zone = {"officer": "rob", "before": "2026-01-01T00:00:00", "reason": "x"}
    for invalid in ({"reason": "x"}, {"jti": "a", "officer": "b", "reason": "x"},
                    {"jti": "a b", "reason": "x"}, {"jti": "a"}, no_zone):  # fmt: skip
        reply = api.post("/revocations", t["supervisor"], body=invalid)
        assert reply.status == 422, (invalid, reply.text)
    outcomes = [r["outcome"] for r in audit_log(api, t["auditor"]) if r["operation"] == "revoke"]
    assert outcomes == [f"allowed: token {jti} of A1", "allowed: tokens of rob@A1 issued "
                        "before 2100-01-01T00:00:00.000000+00:00", "refused: outside jurisdiction",
                        *["refused: invalid request"] * 5]  # fmt: skip
