"""Measurements shared by ``scan_report.py`` and the pytest-benchmark suite.

* the memory-bandwidth floor: one parallel Numba pass over N x L two-byte values;
* the plain scan: the search kernel over every reference, no candidate filter;
* a straightforward vectorised numpy implementation of the same LR (fancy-index the score
  table with the codes, sum over loci);
* the indexed scan: candidate filter, then the exact kernel on the candidates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from numba import prange

from kinmatch import AlleleFrequencies, Profile
from kinmatch.search import Searcher
from kinmatch.store import ReferenceStore
from kinmatch.tables import SEX_CLASSES, ScoreTables


@numba.njit(parallel=True, cache=True)
def _read_all(codes: np.ndarray) -> int:
    total = 0
    for r in prange(codes.shape[0]):
        for j in range(codes.shape[1]):
            total += codes[r, j]
    return total


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def floor_read(store: ReferenceStore) -> None:
    """Read every genotype code once, as two-byte values, in parallel."""
    for fragment in store.fragments:
        _read_all(fragment.codes)


class ScanBench:
    """One store, one query: the pieces of a parent-child search, timed separately."""

    def __init__(self, store: ReferenceStore, table: AlleleFrequencies, query: Profile) -> None:
        self.store = store
        self.query = query
        self.plain = Searcher(store, table, max_inconsistent=None)
        self.indexed = Searcher(store, table)
        self.tables: ScoreTables = self.plain.tables.single(
            "parent-child", {"child": query.genotypes}, "parent", store.loci,
            store.manifest.alleles, transmitter_sexes=SEX_CLASSES,
        )  # fmt: skip
        self.masks = (self.indexed._masks(query),)

    def plain_scan(self) -> int:
        return self.plain._scan([self.tables], None, [set()], by_sex=True)[0].n_scored

    def batch_scan(self, queries: int = 8) -> int:
        """``queries`` copies of the query scored in one pass (the search_batch path)."""
        scored = self.plain._scan([self.tables] * queries, None, [set()] * queries, by_sex=True)
        return sum(s.n_scored for s in scored)

    def indexed_scan(self) -> int:
        (scanned,) = self.indexed._scan([self.tables], None, [set()], by_sex=True,
                                        masks=[self.masks])  # fmt: skip
        return scanned.n_scored

    def numpy_scan(self) -> list[np.ndarray]:
        index = {locus: i for i, locus in enumerate(self.store.loci)}
        out = []
        for fragment in self.store.fragments:
            locus_map = np.array([index[locus] for locus in fragment.loci])
            sex = (fragment.sexes == 1).astype(np.intp)
            lut = self.tables.log10_lr[sex[:, None], locus_map[None, :], fragment.codes]
            out.append(lut.sum(axis=1))
        return out


def anon_rss() -> int:
    """Anonymous resident memory of this process in bytes (RssAnon, not RSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return -1
