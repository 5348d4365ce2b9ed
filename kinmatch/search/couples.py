"""The registered couples of a store: a father and a mother sharing a ``case_id``, with their
codes gathered in store-locus order for the couple scan, and their bitmap index."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from kinmatch.index import build_bitmaps
from kinmatch.store import ROLE_CODES, ReferenceStore


@dataclass(frozen=True)
class Couples:
    """Couples with their codes gathered in store-locus order (C, L)."""

    case_ids: list[str]
    rows: list[tuple[tuple[int, int], tuple[int, int]]]
    father: NDArray[np.uint16]
    mother: NDArray[np.uint16]
    father_ids: list[str]
    mother_ids: list[str]
    n_alleles: tuple[int, ...]
    """Each store locus' dictionary size."""

    @cached_property
    def labels(self) -> pa.Array:
        """``case_id/father_id/mother_id`` of every couple: the tie-breaking ID."""
        triples = zip(self.case_ids, self.father_ids, self.mother_ids, strict=True)
        return pa.array([f"{c}/{f}/{m}" for c, f, m in triples], pa.string())

    @cached_property
    def bitmaps(self) -> NDArray[np.uint64]:
        """The couples' candidate index: the fathers' allele bitmaps, then the mothers'
        (:func:`kinmatch.index.build_bitmaps` of their codes), built on first use."""
        return np.concatenate([build_bitmaps(self.father, self.n_alleles),
                               build_bitmaps(self.mother, self.n_alleles)])  # fmt: skip


def find_couples(store: ReferenceStore) -> Couples:
    """Every (father, mother) pair of each ``case_id``, cases in sorted order."""
    parents: dict[str, dict[str, list[tuple[int, int, str]]]] = {}
    father_code, mother_code = ROLE_CODES["father"], ROLE_CODES["mother"]
    for f, fragment in enumerate(store.fragments):
        roles = fragment.roles
        parent = (roles == father_code) | (roles == mother_code)
        parent[fragment.withdrawn] = False
        rows = np.flatnonzero(parent)
        case_ids = fragment.case_ids.take(pa.array(rows)).to_pylist()
        sample_ids = fragment.sample_ids.take(pa.array(rows)).to_pylist()
        for row, case_id, sample_id in zip(rows.tolist(), case_ids, sample_ids, strict=True):
            if case_id:
                role = "father" if roles[row] == father_code else "mother"
                parents.setdefault(case_id, {}).setdefault(role, []).append((f, row, sample_id))
    pairs = [
        (case_id, father, mother)
        for case_id in sorted(parents)
        for father in parents[case_id].get("father", [])
        for mother in parents[case_id].get("mother", [])
    ]
    fathers = [(father[0], father[1]) for _, father, _ in pairs]
    mothers = [(mother[0], mother[1]) for _, _, mother in pairs]
    return Couples(
        [case_id for case_id, _, _ in pairs],
        list(zip(fathers, mothers, strict=True)),
        gather(store, fathers),
        gather(store, mothers),
        [father[2] for _, father, _ in pairs],
        [mother[2] for _, _, mother in pairs],
        tuple(len(store.alleles(locus)) for locus in store.loci),
    )


def gather(store: ReferenceStore, rows: list[tuple[int, int]]) -> NDArray[np.uint16]:
    """Codes of (fragment, row) profiles in store-locus order; untyped where a fragment lacks
    a locus."""
    locus_index = {locus: i for i, locus in enumerate(store.loci)}
    out = np.zeros((len(rows), len(store.loci)), np.uint16)
    if not rows:
        return out
    where = np.array(rows, dtype=np.int64).reshape(-1, 2)
    for f, fragment in enumerate(store.fragments):
        positions = np.flatnonzero(where[:, 0] == f)
        columns = np.array([locus_index[locus] for locus in fragment.loci], dtype=np.int64)
        out[np.ix_(positions, columns)] = fragment.codes[where[positions, 1]]
    return out
