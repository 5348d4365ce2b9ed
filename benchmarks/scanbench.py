"""Measurements shared by ``scan_report.py`` and the pytest-benchmark suite.

* the memory-bandwidth floor: one parallel Numba pass over N x L two-byte values;
* the plain scan: the search kernel over every reference, no candidate filter;
* a straightforward vectorised numpy implementation of the same LR (fancy-index the score
  table with the codes, sum over loci);
* the indexed scan: the store's bitmap index (:mod:`kinmatch.index`) finds the references
  with at most k inconsistent loci, the exact kernel scores them; for one query and a batch;
* the measured alternative: the 8-bit allele signatures every fragment also stores (one byte
  per locus, bit ``allele code mod 8``), filtered by the kernel the search used before the
  index (:func:`signature_filter`), then the exact kernel on its candidates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from numba import prange

from kinmatch import AlleleFrequencies, Profile
from kinmatch.kernels.scan import score_rows
from kinmatch.search import Searcher
from kinmatch.search.candidates import Parentage
from kinmatch.store import ReferenceStore
from kinmatch.tables import SEX_CLASSES, ScoreTables

UNTYPED = 0xFF


@numba.njit(parallel=True, cache=True)
def _read_all(codes: np.ndarray) -> int:
    total = 0
    for r in prange(codes.shape[0]):
        for j in range(codes.shape[1]):
            total += codes[r, j]
    return total


@numba.njit(parallel=True, cache=True, nogil=True)
def signature_filter(
    signatures: np.ndarray, masks: np.ndarray, max_inconsistent: int, out_keep: np.ndarray
) -> None:
    """The search's filter before the bitmap index: a typed locus whose signature shares no
    bit with the query's mask is a certain miss; keep at most ``max_inconsistent``."""
    n, loci = signatures.shape
    for r in prange(n):
        misses = 0
        for j in range(loci):
            sig = signatures[r, j]
            misses += ((sig & masks[j]) == 0) & (sig != UNTYPED)
        out_keep[r] = misses <= max_inconsistent


def query_masks(store: ReferenceStore, query: Profile, compared: set[str]) -> np.ndarray:
    """Per store locus, the signature bits of the query's alleles (all bits: not counted)."""
    masks = np.full(len(store.loci), UNTYPED, dtype=np.uint8)
    for li, locus in enumerate(store.loci):
        genotype = query.genotypes.get(locus)
        if genotype is None or locus not in compared:
            continue
        dictionary = store.alleles(locus)
        masks[li] = sum({1 << (dictionary.index(a) % 8) for a in genotype if a in dictionary})
    return masks


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

    def __init__(
        self,
        store: ReferenceStore,
        table: AlleleFrequencies,
        query: Profile,
        batch: list[Profile] | None = None,
    ) -> None:
        """``batch``: the queries of the batch measurements (default: 8 copies of ``query``)."""
        self.store = store
        self.query = query
        self.plain = Searcher(store, table, max_inconsistent=None)
        self.indexed = Searcher(store, table)
        self.bounded = Searcher(store, table, use_index=False)
        self.tables = self._tables(query)
        self.masks = query_masks(store, query, set(table))
        self.batch = batch or [query] * 8
        self.batch_tables = [self._tables(q) for q in self.batch]

    def _tables(self, query: Profile) -> ScoreTables:
        return self.plain.tables.single(
            "parent-child", {"child": query.genotypes}, "parent", self.store.loci,
            self.store.manifest.alleles, transmitter_sexes=SEX_CLASSES,
        )  # fmt: skip

    def plain_scan(self) -> int:
        return self.plain._scan([self.tables], None, [set()], by_sex=True)[0].n_scored

    def batch_scan(self, size: int | None = None) -> int:
        """The first ``size`` queries of the batch scored in one plain pass (the search_batch
        path; its output is queries x references floats)."""
        tables = self.batch_tables[:size]
        scored = self.plain._scan(tables, None, [set()] * len(tables), by_sex=True)
        return sum(s.n_scored for s in scored)

    def index_bytes_per_reference(self) -> float:
        """What the indexed search of one query reads at most per reference: two bitmaps of
        one bit per reference for every locus the query is typed at, and the role bitmap."""
        typed = sum(locus in self.query.genotypes for locus in self.store.loci)
        return (2 * typed + 1) / 8

    def indexed_scan(self) -> int:
        """Candidates by the bitmap index, then scored: the number scored."""
        (scanned,) = self.indexed._scan([self.tables], None, [set()], by_sex=True,
                                        bounds=[Parentage(self.query.genotypes)])  # fmt: skip
        return scanned.n_scored

    def indexed_batch(self) -> int:
        """The batch's queries through one shared pass over the index."""
        q = len(self.batch)
        bounds = [Parentage(p.genotypes) for p in self.batch]
        scored = self.indexed._scan(self.batch_tables, None, [set()] * q, by_sex=True,
                                    bounds=bounds)  # fmt: skip
        return sum(s.n_scored for s in scored)

    def bounded_scan(self) -> int:
        """The plain path under the same bound (the codes checked exactly, no index)."""
        (scanned,) = self.bounded._scan([self.tables], None, [set()], by_sex=True,
                                        bounds=[Parentage(self.query.genotypes)])  # fmt: skip
        return scanned.n_scored

    def signature_scan(self) -> int:
        """The measured alternative: the 8-bit signature filter, then the exact kernel on
        its candidates (a superset of the index's)."""
        index = {locus: i for i, locus in enumerate(self.store.loci)}
        table = self.tables.log10_lr
        total = 0
        for fragment in self.store.fragments:
            locus_map = np.array([index[locus] for locus in fragment.loci])
            keep = np.empty(fragment.rows, dtype=bool)
            signature_filter(fragment.signatures, self.masks[locus_map], 2, keep)
            rows = np.flatnonzero(keep)
            scored = np.empty(len(rows))
            score_rows(fragment.codes, fragment.sexes, rows,
                       np.ascontiguousarray(table[:, locus_map, :]), scored)  # fmt: skip
            total += len(rows)
        return total

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
