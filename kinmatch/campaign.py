"""Campaigns: every person of unknown origin against every registered relative and couple.

A campaign pins the store version it starts from (later versions are intake's,
:mod:`kinmatch.intake`) and searches the store as of that version with every relationship
of its parameters, keeping every hit at or above ``min_lr`` with its database-size-aware
evidence: exactly ``kinmatch match`` of every person of unknown origin without a top-k cut.
The persons are taken in store order in parts of ``part_size``; each part is written as
``part-NNNNN.parquet`` in the output directory (atomically, after its hits were pushed to the
review queue when there is one), so a campaign killed at any moment and run again with the
same command redoes only the parts that are missing, and ends with exactly the hits of an
uninterrupted run. ``campaign.json`` in the directory pins the parameters, the frequency
table's SHA-256 and the store version (each part's Parquet metadata carries them too): a run
with other parameters is refused, and so is a second campaign while one runs (a lock). When
every part is done, the ledger records the versions up to the pinned one as compared under
the campaign's parameters.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kinmatch.atomic import atomic_path, atomic_writer
from kinmatch.errors import KinmatchError
from kinmatch.hits import hits_table
from kinmatch.intake import IntakeSettings, Pusher, push_current
from kinmatch.ledger import Ledger
from kinmatch.profiles import Profile
from kinmatch.queue.models import NewItem
from kinmatch.search.roles import UNKNOWN_ORIGIN
from kinmatch.store import NO_ROLE, ROLE_CODES, ReferenceStore

CAMPAIGN = "campaign.json"
LOCK = ".campaign.lock"
PART_SIZE = 1000
METADATA = b"kinmatch.campaign"
ERRORS = b"kinmatch.errors"


class CampaignError(KinmatchError):
    """A campaign cannot run in its directory (another is running, or other parameters)."""


@dataclass(frozen=True)
class CampaignSummary:
    """A run of a campaign: ``pairs`` compared by this run, ``hits`` of every part."""

    version: int
    persons: int
    parts: int
    parts_done_before: int
    pairs: int
    hits: int
    seconds: float
    added: int
    already_queued: int
    errors: tuple[tuple[str, str], ...]
    """Persons that could not be compared (sample, why), from every part."""


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    with (out / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CampaignError(f"{out}: another campaign is running in this directory") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pin(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The directory's campaign record: ``record`` written when new, else the one there,
    which must have the same parameters and the same choice of pushing."""
    path = out / CAMPAIGN
    if not path.exists():
        with atomic_writer(path) as handle:
            handle.write(json.dumps(record, indent=1, sort_keys=True))
        return record
    try:
        pinned: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CampaignError(f"{path}: unreadable campaign record ({exc})") from None
    if pinned.get("key") != record["key"]:
        raise CampaignError(f"{out} holds a campaign under other parameters (key "
                            f"{str(pinned.get('key'))[:12]}, these are {record['key'][:12]}): "
                            "use another --out directory")  # fmt: skip
    if pinned.get("queue") != record["queue"]:
        was = "with" if pinned.get("queue") else "without"
        raise CampaignError(f"{out}: this campaign was started {was} --queue; run it the same way")
    return pinned


def run_campaign(
    store: ReferenceStore,
    settings: IntakeSettings,
    out: Path,
    *,
    push: Pusher | None = None,
    part_size: int = PART_SIZE,
    progress: Callable[[int, int, int], None] | None = None,
) -> CampaignSummary:
    """Run (or finish) the campaign of ``out``; ``progress(persons done, persons, pairs)``."""
    started = time.monotonic()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(out):
        for leftover in out.glob(".*.tmp"):  # a part or the record a killed run was writing
            leftover.unlink(missing_ok=True)
        store.refresh()
        comparison = settings.comparison(settings.searcher(store).parameters)
        pinned = _pin(out, {"key": comparison.key, "parameters": comparison.record(),
                            "store_version": store.generation, "part_size": part_size,
                            "queue": push is not None})  # fmt: skip
        version, part_size = int(pinned["store_version"]), int(pinned["part_size"])
        view = store.as_of(version)
        searcher = settings.searcher(view)
        persons = _unknown_origin(view)
        parts = [persons[i : i + part_size] for i in range(0, len(persons), part_size)]
        metadata = {METADATA: json.dumps({**pinned, "frequencies_sha256":
                                          settings.frequencies_sha256}).encode()}  # fmt: skip
        done_before = sum((out / _part(i)).exists() for i in range(len(parts)))
        pairs = added = known = 0
        for i, part in enumerate(parts):
            path = out / _part(i)
            if path.exists():
                continue
            store.refresh()
            if store.manifest.withdrawn != view.manifest.withdrawn:  # withdrawn since: leave
                view = store.as_of(version)  # them out of the rest of the campaign
                searcher = settings.searcher(view)
                part = [person for person in part if view.find(person.sample_id) is not None]
            results = [result for relationship in settings.relationships
                       for result in searcher.search_batch(part, relationship, top_k=None,
                                                           min_lr=settings.min_lr)]  # fmt: skip
            evidence = [searcher.evidence(r, bound=settings.caution_bound) if not r.error
                        else () for r in results]  # fmt: skip
            if push is not None:
                items = [NewItem.from_hit(hit, searcher.parameters, str(version), evidence=e,
                                          unknown_agency=settings.unknown_agency)
                         for r, per in zip(results, evidence, strict=True)
                         for hit, e in zip(r.hits, per, strict=True)]  # fmt: skip
                new, old = push_current(store, push, items, version)
                added, known = added + new, known + old
            errors = [(r.query_id, str(r.error)) for r in results if r.error]
            table = hits_table(results, evidence)
            table = table.replace_schema_metadata({**metadata, ERRORS: json.dumps(errors).encode()})
            with atomic_path(path) as temporary:
                pq.write_table(table, str(temporary))
            pairs += sum(r.n_scored for r in results)
            if progress is not None:
                progress(min((i + 1) * part_size, len(persons)), len(persons), pairs)
        with Ledger(store.path) as ledger:
            key = ledger.register(comparison)
            for pending in ledger.outstanding(key, version):
                ledger.record_compared(key, pending, [], 0)
                if push is not None:
                    ledger.record_pushed(key, pending)
    failed = tuple(error for i in range(len(parts)) for error in _errors(out / _part(i)))
    hits = sum(pq.read_metadata(out / _part(i)).num_rows for i in range(len(parts)))
    return CampaignSummary(version, len(persons), len(parts), done_before, pairs, hits,
                           time.monotonic() - started, added, known, failed)  # fmt: skip


def _unknown_origin(store: ReferenceStore) -> list[Profile]:
    """The persons of unknown origin (or of no role) not withdrawn, in store order; only they
    are decoded."""
    young = np.array([ROLE_CODES[UNKNOWN_ORIGIN], NO_ROLE], dtype=np.uint8)
    persons = []
    for fragment in store.fragments:
        chosen = np.isin(fragment.roles, young)
        chosen[fragment.withdrawn] = False
        persons += [store.decode(fragment, row) for row in np.flatnonzero(chosen).tolist()]
    return persons


def _errors(path: Path) -> list[tuple[str, str]]:
    """The persons a part could not compare, from its metadata."""
    metadata = pq.read_schema(path).metadata or {}
    return [(str(a), str(b)) for a, b in json.loads(metadata.get(ERRORS, b"[]"))]


def _part(index: int) -> str:
    return f"part-{index:05d}.parquet"


def read_campaign(out: Path) -> pa.Table:
    """Every part of the campaign in ``out``, in order (its metadata on each part)."""
    paths = sorted(out.glob("part-*.parquet"))
    tables = [pq.read_table(path) for path in paths]
    return pa.concat_tables(tables) if tables else pa.table({})
