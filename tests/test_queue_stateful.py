"""The review queue's HTTP API under random sequences of requests by random callers of several
agencies (hypothesis stateful testing, SQLite, the ASGI app called in process).

After every request: no caller saw or changed an item outside its jurisdiction (a foreign item
answers exactly as a missing one), no officer decided an item they reviewed or escalated, no
request yielded a 5xx, every refusal was audited, and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from queue_support import Agencies, new_item

from kinmatch.queue import ReviewQueue
from kinmatch.queue.http import create_app


@dataclass(frozen=True)
class Officer:
    agency: str
    name: str
    roles: tuple[str, ...]
    jurisdiction: str
    forged: bool = False  # a jurisdiction its issuer may not grant: every request is refused

    @property
    def actor(self) -> str:
        return f"{self.name}@{self.agency}"

    def sees(self, agency: str) -> bool:
        return not self.forged and self.jurisdiction in ("national", agency)


OFFICERS = [
    *(
        Officer(agency, name, roles, agency)
        for agency in ("A1", "A2")
        for name, roles in [
            ("ana", ("analyst",)),
            ("rita", ("reviewer",)),
            ("rob", ("reviewer", "supervisor")),  # may review, so must not decide what he did
            ("sue", ("supervisor",)),
            ("aud", ("auditor",)),
        ]
    ),
    Officer("NAT", "nan", ("analyst",), "national"),
    Officer("NAT", "nrev", ("reviewer", "supervisor"), "national"),
    Officer("NAT", "naud", ("auditor",), "national"),
    Officer("A1", "fake", ("supervisor", "auditor", "analyst"), "national", forged=True),
    Officer("A2", "spy", ("reviewer", "supervisor"), "A1", forged=True),
]
MISSING = 10**9
"""An item id no queue of this test reaches."""
STEPS = ("release", "review", "escalate", "confirm", "reject", "return")
TRANSITIONS = {
    "release": (("claimed",), "pending"),
    "review": (("claimed",), "reviewed"),
    "escalate": (("claimed",), "escalated"),
    "confirm": (("reviewed", "escalated"), "confirmed"),
    "reject": (("reviewed", "escalated"), "rejected"),
    "return": (("escalated",), "pending"),
}
"""What the test expects of an allowed step: the states it may start in, and where it ends."""


@dataclass
class Reply:
    status: int
    body: Any


def call(app: Any, method: str, path: str, token: str, body: Any = None) -> Reply:
    """One HTTP request to the ASGI ``app``, in process."""
    raw = b"" if body is None else json.dumps(body).encode()
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [(b"authorization", f"Bearer {token}".encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode())],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return requests.pop() if requests else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Reply(status, json.loads(text) if text else None)


@dataclass
class Model:
    """What the test knows of each item: its agency and who reviewed or escalated it."""

    agency: dict[int, str] = field(default_factory=dict)
    handlers: dict[int, set[str]] = field(default_factory=dict)
    state: dict[int, str] = field(default_factory=dict)
    holder: dict[int, Officer] = field(default_factory=dict)

    def in_state(self, *states: str) -> list[int]:
        return sorted(i for i, state in self.state.items() if state in states)


class QueueMachine(RuleBasedStateMachine):
    """Random requests by random officers; the model follows what the server answered."""

    agencies: Agencies
    root: Path
    runs = 0

    @initialize()
    def open(self) -> None:
        QueueMachine.runs += 1
        self.queue = ReviewQueue(f"sqlite:///{self.root / f'q{QueueMachine.runs}.db'}",
                                 self.agencies.trust)  # fmt: skip
        self.app = create_app(self.queue)
        self.tokens = {officer: self._token(officer) for officer in OFFICERS}
        self.checker = self.tokens[next(o for o in OFFICERS if o.name == "naud")]
        self.model = Model()
        self.refusals = 0
        for officer in [o for o in OFFICERS if o.name == "ana"]:  # two items each in A1, A2
            for query in ("C1", "C2"):
                self.push(officer, query, None)

    def _token(self, officer: Officer) -> str:
        return self.agencies.token(officer.name, officer.roles, agency=officer.agency,
                                   jurisdiction=officer.jurisdiction)  # fmt: skip

    def teardown(self) -> None:
        if hasattr(self, "queue"):
            self.queue.close()

    def request(self, officer: Officer, method: str, path: str, body: Any = None) -> Reply:
        reply = call(self.app, method, path, self.tokens[officer], body)
        assert reply.status < 500, (officer, method, path, reply)
        if reply.status >= 400:
            self.refusals += 1
        if officer.forged:
            assert reply.status == 401, (officer, path, reply)
        return reply

    def item_of(self, data: st.DataObject) -> int:
        known = sorted(self.model.agency)  # a missing item now and then
        return data.draw(st.sampled_from([*known, *known, MISSING]))

    def check_seen(self, officer: Officer, items: list[dict[str, Any]]) -> None:
        for item in items:
            assert officer.sees(item["agency"]), (officer, item["id"], item["agency"])
            assert self.model.agency[item["id"]] == item["agency"]

    def check_foreign(self, officer: Officer, item_id: int, reply: Reply, missing: Reply) -> None:
        """A foreign item reads exactly as a missing one."""
        foreign = item_id == MISSING or not officer.sees(self.model.agency[item_id])
        if foreign and not officer.forged:
            shown = json.dumps(reply.body).replace(str(item_id), "<id>")
            assert (reply.status, shown) == (
                missing.status,
                json.dumps(missing.body).replace(str(MISSING), "<id>"),
            ), (officer, reply)

    @rule(officer=st.sampled_from(OFFICERS), query=st.sampled_from(["C1", "C2", "C3"]),
          into=st.sampled_from([None, "A1", "A2"]))  # fmt: skip
    def push(self, officer: Officer, query: str, into: str | None) -> None:
        item = new_item(query, "F1")
        body = {"items": [{**{k: v for k, v in vars(item).items() if v is not None},
                           "reference_ids": list(item.reference_ids),
                           "loci": [dict(x) for x in item.loci],
                           **({"agency": into} if into else {})}]}  # fmt: skip
        reply = self.request(officer, "POST", "/items", body)
        agency = into or officer.agency
        if reply.status == 200:
            assert "analyst" in officer.roles and officer.sees(agency)
            [pushed] = reply.body["items"]
            if pushed["created"]:
                assert pushed["id"] not in self.model.agency
                self.model.agency[pushed["id"]] = agency
                self.model.handlers[pushed["id"]] = set()
                self.model.state[pushed["id"]] = "pending"
            else:
                assert self.model.agency[pushed["id"]] == agency
        else:
            assert "analyst" not in officer.roles or not officer.sees(agency), reply

    @rule(officer=st.sampled_from(OFFICERS))
    def list_items(self, officer: Officer) -> None:
        reply = self.request(officer, "GET", "/items?limit=1000")
        if reply.status == 200:
            self.check_seen(officer, reply.body["items"])
            visible = {i for i, agency in self.model.agency.items() if officer.sees(agency)}
            assert {item["id"] for item in reply.body["items"]} == visible

    @rule(officer=st.sampled_from(OFFICERS), data=st.data())
    def show(self, officer: Officer, data: st.DataObject) -> None:
        item_id = self.item_of(data)
        reply = self.request(officer, "GET", f"/items/{item_id}")
        if reply.status == 200:
            self.check_seen(officer, [reply.body])
        missing = self.request(officer, "GET", f"/items/{MISSING}")
        self.check_foreign(officer, item_id, reply, missing)

    @rule(officer=st.sampled_from(OFFICERS), data=st.data(), pick=st.booleans())
    def claim(self, officer: Officer, data: st.DataObject, pick: bool) -> None:
        item_id = self.item_of(data) if pick else None
        reply = self.request(officer, "POST", f"/items/{item_id}/claim" if pick else "/items/claim")
        if item_id is not None:
            missing = self.request(officer, "POST", f"/items/{MISSING}/claim")
            self.check_foreign(officer, item_id, reply, missing)
        if reply.status == 200 and reply.body["item"] is not None:
            claimed = reply.body["item"]
            self.check_seen(officer, [claimed])
            assert self.model.state[claimed["id"]] == "pending"
            self.model.state[claimed["id"]] = "claimed"
            self.model.holder[claimed["id"]] = officer

    @rule(data=st.data(), step=st.sampled_from(["claim", *STEPS]),
          finding=st.sampled_from(["supports", "rejects"]))  # fmt: skip
    def step_in_role(self, data: st.DataObject, step: str, finding: str) -> None:
        """A step by an officer whose roles allow it, so that items move on."""
        role = "reviewer" if step in ("claim", "release", "review", "escalate") else "supervisor"
        officer = data.draw(st.sampled_from([o for o in OFFICERS if role in o.roles]))
        if step == "claim":
            self.claim(officer, data, True)
        else:
            self.step(officer, data, step, finding)

    @rule(data=st.data(), step=st.sampled_from(["release", "review", "escalate"]),
          finding=st.sampled_from(["supports", "rejects"]), other=st.integers(0, 4))  # fmt: skip
    @precondition(lambda self: self.model.in_state("claimed"))
    def holder_step(self, data: st.DataObject, step: str, finding: str, other: int) -> None:
        """A step on a claimed item, mostly by its holder."""
        item_id = data.draw(st.sampled_from(self.model.in_state("claimed")))
        officer = self.model.holder[item_id] if other else data.draw(st.sampled_from(OFFICERS))
        self.step(officer, data, step, finding, item_id)

    @rule(data=st.data(), step=st.sampled_from(["confirm", "reject", "return"]))
    @precondition(lambda self: self.model.in_state("reviewed", "escalated"))
    def decide(self, data: st.DataObject, step: str) -> None:
        """A decision on a reviewed or escalated item by a supervisor who may have handled it."""
        officer = data.draw(st.sampled_from([o for o in OFFICERS if "supervisor" in o.roles]))
        item_id = data.draw(st.sampled_from(self.model.in_state("reviewed", "escalated")))
        self.step(officer, data, step, "supports", item_id)

    @rule(officer=st.sampled_from(OFFICERS), data=st.data(), step=st.sampled_from(STEPS),
          finding=st.sampled_from(["supports", "rejects"]))  # fmt: skip
    def step(self, officer: Officer, data: st.DataObject, step: str, finding: str,
             item_id: int | None = None) -> None:  # fmt: skip
        item_id = self.item_of(data) if item_id is None else item_id
        body = None if step == "release" else {"reason": f"{step} by {officer.name}"}
        if step == "review" and body is not None:
            body["finding"] = finding
        reply = self.request(officer, "POST", f"/items/{item_id}/{step}", body)
        missing = self.request(officer, "POST", f"/items/{MISSING}/{step}", body)
        self.check_foreign(officer, item_id, reply, missing)
        if reply.status != 200:
            return
        assert officer.sees(self.model.agency[item_id])
        before, after = TRANSITIONS[step]
        assert self.model.state[item_id] in before and reply.body["state"] == after
        if step in ("release", "review", "escalate"):
            assert self.model.holder.pop(item_id) == officer  # only the holder
        self.model.state[item_id] = after
        if step in ("review", "escalate"):
            self.model.handlers[item_id].add(officer.actor)
        if step in ("confirm", "reject"):  # the two-person rule, on the person
            assert officer.actor not in self.model.handlers[item_id], (officer, item_id)

    @rule(officer=st.sampled_from(OFFICERS))
    def audit(self, officer: Officer) -> None:
        reply = self.request(officer, "GET", "/audit?limit=1000")
        if reply.status != 200 or officer.jurisdiction == "national":
            return
        for record in reply.body["records"]:  # its own officers' records, or its items'
            own_item = self.model.agency.get(record["item_id"]) == officer.jurisdiction
            assert record["actor"].endswith(f"@{officer.jurisdiction}") or own_item, record

    @invariant()
    def audit_verifies_and_holds_each_refusal(self) -> None:
        if not hasattr(self, "queue"):
            return
        assert self.queue.verify_audit(self.checker).ok
        records = self.queue.audit(self.checker, limit=1_000_000)
        refused = sum(r.outcome.startswith("refused") for r in records)
        assert refused == self.refusals  # each refused request leaves one record


@pytest.fixture
def machine(agencies: Agencies, tmp_path: Path) -> type[QueueMachine]:
    QueueMachine.agencies, QueueMachine.root = agencies, tmp_path
    return QueueMachine


def test_random_callers_never_cross_jurisdictions(machine: type[QueueMachine]) -> None:
    machine.TestCase.settings = settings(
        max_examples=30, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    machine.TestCase().runTest()
