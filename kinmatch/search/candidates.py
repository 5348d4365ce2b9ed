"""The candidates of a bounded parentage search: the references (or couples) with at most
``k`` Mendelian-inconsistent loci, found by the store's bitmap index (:mod:`kinmatch.index`)
or, where it cannot serve (``k`` past :data:`~kinmatch.index.INDEX_MAX_INCONSISTENT`, or the
index turned off), by the plain scan of the codes.

Both paths keep the same references: the index's test is exact for a duo, and the couples it
keeps are checked on their codes with the rule of :func:`kinmatch.search.details.
mendelian_consistent` (a child's two alleles come one from each typed parent); the plain
path checks every met reference that way. A locus counts when the query is typed there and
it is in the frequency table; a reference untyped there never misses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import Allele, Genotype
from kinmatch.codes import n_genotype_codes, split_codes
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.index import INDEX_MAX_INCONSISTENT, FragmentIndex, locus_starts
from kinmatch.kernels.bitmaps import candidate_words, exact_couples, exact_single, set_rows
from kinmatch.kernels.scan import score_rows
from kinmatch.search.ranking import Scores
from kinmatch.search.roles import exclude_samples, selected_rows
from kinmatch.store import ROLE_CODES, Fragment, ReferenceStore

Rows = NDArray[np.int64]
INDEX = "bitmap index"
SCAN = "plain scan"
INDEX_BATCH = 64
"""Queries of a batch that share one pass over the index (each block of bitmap words is
read while it is in cache)."""


@dataclass(frozen=True)
class Parentage:
    """What the references of a parentage query must be consistent with: one parent's or
    child's genotypes (a duo, either direction: a shared allele), or a couple's (``mother``
    set: a child of theirs carries an allele of each typed parent)."""

    genotypes: Mapping[str, Genotype]
    mother: Mapping[str, Genotype] | None = None


def method(max_inconsistent: int, use_index: bool) -> str:
    """How a bound of ``max_inconsistent`` is applied: :data:`INDEX` or :data:`SCAN`."""
    return INDEX if use_index and max_inconsistent <= INDEX_MAX_INCONSISTENT else SCAN


def _code(dictionary: Sequence[Allele], allele: Allele) -> int | None:
    return dictionary.index(allele) if allele in dictionary else None


class Candidates:
    """Finds the candidates of parentage queries in one store, fragment by fragment."""

    def __init__(
        self,
        store: ReferenceStore,
        frequencies: AlleleFrequencies,
        max_inconsistent: int,
        how: str,
    ) -> None:
        self.store = store
        self.frequencies = frequencies
        self.compared = set(frequencies)
        self.k = max_inconsistent
        self.how = how
        self._selections: dict[tuple[str, tuple[int, ...] | None], NDArray[np.uint64]] = {}

    def _genotype(self, genotypes: Mapping[str, Genotype], locus: str) -> Genotype | None:
        return genotypes.get(locus) if locus in self.compared else None

    def _carriers(self, locus: str, genotypes: Sequence[Genotype]) -> float:
        """The chance that an unrelated person carries an allele of each of ``genotypes``
        (Hardy-Weinberg): loci are counted rarest first, so that most words of references
        pass the bound after a few loci and stop early."""
        chance = 1.0
        for genotype in genotypes:
            p = sum(self.frequencies[locus].frequency(a) or 0.0 for a in set(genotype))
            chance *= 1.0 - (1.0 - min(p, 1.0)) ** 2
        return chance

    def _index_rows(self, index: FragmentIndex, loci: Sequence[str], spec: Parentage) -> Rows:
        """(loci, 4) bitmap rows of ``spec``'s counted loci, first, then -1 (see
        :mod:`kinmatch.kernels.bitmaps`)."""
        out = np.full((len(loci), 4), -1, dtype=np.int64)
        counted = []
        for j, locus in enumerate(loci):
            dictionary = self.store.alleles(locus)
            typed = [g for g in (self._genotype(spec.genotypes, locus),
                                 None if spec.mother is None else
                                 self._genotype(spec.mother, locus)) if g is not None]  # fmt: skip
            if not typed:
                continue
            pairs = [[index.allele_row(j, _code(dictionary, a)) for a in g] for g in typed]
            counted.append((self._carriers(locus, typed), pairs[0] + pairs[-1]))
        for n, (_, bitmap_rows) in enumerate(sorted(counted, key=lambda c: c[0])):
            out[n] = bitmap_rows
        return out

    def _inconsistent(self, loci: Sequence[str], spec: Parentage) -> NDArray[np.uint8]:
        """(loci, codes) 1 where a reference's code is inconsistent with ``spec``."""
        width = max((n_genotype_codes(len(self.store.alleles(locus))) for locus in loci),
                    default=1)  # fmt: skip
        table = np.zeros((len(loci), width), dtype=np.uint8)
        for j, locus in enumerate(loci):
            dictionary = self.store.alleles(locus)
            first = self._genotype(spec.genotypes, locus)
            second = None if spec.mother is None else self._genotype(spec.mother, locus)
            if first is None and second is None:
                continue
            n = n_genotype_codes(len(dictionary))
            lo, hi = split_codes(np.arange(1, n))
            lo_allele = np.array(dictionary, dtype=object)[lo]
            hi_allele = np.array(dictionary, dtype=object)[hi]

            def carries(genotype: Genotype, alleles: NDArray[np.object_]) -> NDArray[np.bool_]:
                return np.isin(alleles, list(genotype))

            if first is not None and second is not None:
                fits = (carries(first, lo_allele) & carries(second, hi_allele)) | (
                    carries(first, hi_allele) & carries(second, lo_allele)
                )
            else:
                parent = first if first is not None else second
                assert parent is not None
                fits = carries(parent, lo_allele) | carries(parent, hi_allele)
            table[j, 1:n] = ~fits
        return table

    def _selection(self, fragment: Fragment, targets: Sequence[str] | None) -> NDArray[np.uint64]:
        codes = None if targets is None else tuple(ROLE_CODES[role] for role in targets)
        key = (fragment.info.file, codes)
        if key not in self._selections:
            selection = fragment.index.selection(codes)
            rows = fragment.withdrawn  # out of every search
            clear = ~(np.uint64(1) << (rows % 64).astype(np.uint64))
            np.bitwise_and.at(selection, rows // 64, clear)
            self._selections[key] = selection
        return self._selections[key]

    def fragment(
        self,
        fragment: Fragment,
        specs: Sequence[Parentage],
        targets: Sequence[str] | None,
        excludes: Sequence[set[str]],
    ) -> list[tuple[Rows, int]]:
        """Per query, the candidate rows of ``fragment`` and how many references it meets."""
        if self.how == SCAN:
            return [self._scanned(fragment, spec, targets, exclude)
                    for spec, exclude in zip(specs, excludes, strict=True)]  # fmt: skip
        index = fragment.index
        base = self._selection(fragment, targets)
        selection = np.empty((len(specs), len(base)), dtype=np.uint64)
        met = []
        for q, exclude in enumerate(excludes):
            selection[q] = base
            for sample_id in exclude:
                row = fragment.find(sample_id)
                if row is not None:
                    selection[q, row // 64] &= ~np.uint64(1 << (row % 64))
            met.append(int(np.bitwise_count(selection[q]).sum()))
        rows = np.stack([self._index_rows(index, fragment.loci, spec) for spec in specs])
        kept = np.empty_like(selection)
        active = (rows[:, :, 0] >= 0).sum(axis=1)
        candidate_words(index.bitmaps, rows, active, selection, self.k, kept)
        found = []
        buffer = np.empty(64 * selection.shape[1], dtype=np.int64)
        for q, spec in enumerate(specs):
            candidates = buffer[: set_rows(kept[q], buffer)].copy()
            if spec.mother is not None:  # necessary, not sufficient: check the codes
                candidates = self._exact(fragment, spec, candidates)
            found.append((candidates, met[q]))
        return found

    def scores(
        self,
        stacked: NDArray[np.float64],
        specs: Sequence[Parentage],
        targets: Sequence[str] | None,
        excludes: Sequence[set[str]],
        extra_of: Callable[[Fragment], NDArray[np.float64] | None],
    ) -> list[Scores]:
        """Per query, the scores of its candidates alone (sparse :class:`Scores`):
        ``stacked`` (queries, sex classes, store loci, codes) log10 LR tables,
        ``extra_of(fragment)`` the one-sided log10 LR each reference of a fragment adds
        (queries, sex classes; None: nothing)."""
        locus_index = {locus: i for i, locus in enumerate(self.store.loci)}
        fragments = self.store.fragments
        offsets = np.cumsum([0, *(fragment.rows for fragment in fragments)])
        values: list[list[NDArray[np.float64]]] = [[] for _ in specs]
        positions: list[list[NDArray[np.int64]]] = [[] for _ in specs]
        n_met = [0] * len(specs)
        mapped: dict[tuple[str, ...], NDArray[np.float64]] = {}  # tables in fragment order
        for f, fragment in enumerate(fragments):
            if fragment.loci not in mapped:
                locus_map = np.array([locus_index[locus] for locus in fragment.loci], np.int64)
                mapped[fragment.loci] = np.ascontiguousarray(stacked[:, :, locus_map, :])
            extra = extra_of(fragment)
            for k, (rows, met) in enumerate(self.fragment(fragment, specs, targets, excludes)):
                n_met[k] += met
                scored = np.empty(len(rows))
                score_rows(fragment.codes, fragment.sexes, rows, mapped[fragment.loci][k],
                           scored)  # fmt: skip
                if extra is not None:
                    scored += extra[k, 0] if extra.shape[1] == 1 else \
                        np.where(fragment.sexes[rows] == 1, extra[k, 1], extra[k, 0])  # fmt: skip
                values[k].append(scored)
                positions[k].append(rows + offsets[f])
        return [Scores(np.concatenate([np.empty(0), *v]), offsets, n_met[k],
                       sum(len(x) for x in v),
                       np.concatenate([np.empty(0, np.int64), *positions[k]]))
                for k, v in enumerate(values)]  # fmt: skip

    def _exact(self, fragment: Fragment, spec: Parentage, rows: Rows) -> Rows:
        keep = np.empty(len(rows), dtype=bool)
        exact_single(fragment.codes, rows, self._inconsistent(fragment.loci, spec), self.k, keep)
        return rows[keep]

    def _scanned(
        self, fragment: Fragment, spec: Parentage, targets: Sequence[str] | None, exclude: set[str]
    ) -> tuple[Rows, int]:
        selected = selected_rows(fragment, targets, set())
        exclude_samples(fragment, exclude, selected)
        rows = np.flatnonzero(selected).astype(np.int64)
        return self._exact(fragment, spec, rows), len(rows)

    def couples(
        self,
        father: NDArray[np.uint16],
        mother: NDArray[np.uint16],
        bitmaps: NDArray[np.uint64] | None,
        child: Mapping[str, Genotype],
    ) -> Rows:
        """The couples (rows of ``father`` and ``mother``, codes in store-locus order) with at
        most ``k`` loci that exclude ``child``; ``bitmaps``: their index
        (:attr:`~kinmatch.search.couples.Couples.bitmaps`; None: check every couple's
        codes)."""
        loci = self.store.loci
        sizes = [len(self.store.alleles(locus)) for locus in loci]
        codes = [[None if g is None else [_code(self.store.alleles(locus), a) for a in g]]
                 for locus in loci for g in (self._genotype(child, locus),)]  # fmt: skip
        n = father.shape[0]
        if bitmaps is None:
            candidates = np.arange(n, dtype=np.int64)
        else:
            starts = locus_starts(sizes)
            half = sum(1 + s for s in sizes)
            rows = np.full((1, len(loci), 4), -1, dtype=np.int64)
            counted = []
            for li, (alleles,) in enumerate(codes):
                if alleles is not None:
                    at = [int(starts[li]) if c is None else int(starts[li]) + 1 + c
                          for c in alleles]  # fmt: skip
                    genotype = child[loci[li]]
                    counted.append((self._carriers(loci[li], [genotype, genotype]),
                                    (at[0], at[1], half + at[0], half + at[1])))  # fmt: skip
            for n_, (_, bitmap_rows) in enumerate(sorted(counted, key=lambda c: c[0])):
                rows[0, n_] = bitmap_rows
            active = np.array([len(counted)], dtype=np.int64)
            words = bitmaps.shape[1]
            everyone = np.zeros(words * 8, dtype=np.uint8)
            everyone[: n // 8] = 0xFF
            if n % 8:
                everyone[n // 8] = (1 << (n % 8)) - 1
            kept = np.empty((1, words), dtype=np.uint64)
            candidate_words(bitmaps, rows, active, everyone.view(np.uint64)[None, :], self.k,
                            kept)  # fmt: skip
            buffer = np.empty(64 * words, dtype=np.int64)
            candidates = buffer[: set_rows(kept[0], buffer)].copy()
        width = max((n_genotype_codes(s) for s in sizes), default=1)
        carries = np.zeros((len(loci), width), dtype=np.uint8)
        compared = np.zeros(len(loci), dtype=bool)
        for li, (alleles,) in enumerate(codes):
            if alleles is None:
                continue
            compared[li] = True
            lo, hi = split_codes(np.arange(1, n_genotype_codes(sizes[li])))
            for bit, code in enumerate(alleles):
                if code is not None:
                    carried = (lo == code) | (hi == code)
                    carries[li, 1 : 1 + len(lo)] |= carried.astype(np.uint8) << bit
        keep = np.empty(len(candidates), dtype=bool)
        exact_couples(father, mother, candidates, carries, compared, self.k, keep)
        return candidates[keep]
