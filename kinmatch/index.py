"""The candidate index of parentage searches: per locus and allele, a bitmap of the references
that carry the allele; written beside each fragment at ingest, memory-mapped at search time.

Method. For every locus of a fragment and every allele of the locus' dictionary (as it was
when the index was written), bit ``r`` of the allele's bitmap is set when reference ``r``
carries the allele *or is untyped at the locus*; the first bitmap of a locus holds the
untyped references alone, and stands for any allele the dictionary did not hold then (no
reference of the fragment carries it). A child ``a/b`` is then Mendelian-consistent with a
reference where ``carries[a] | carries[b]`` is set, and a reference untyped there never
counts as a miss. Bit-sliced (thermometer-coded) saturating counters over the loci, one
64-bit word per 64 references, keep the references with at most ``k`` misses
(:mod:`kinmatch.kernels.bitmaps`). A query reads two bitmaps per locus, ``N / 4`` bytes,
against ``2 N`` for the uint16 genotype codes: eight times less memory, and a batch shares
every bitmap it reads (the kernel runs all queries over one block of words while it sits in
cache). Role bitmaps (one per stored role code) select the references a query meets
without reading the role column.

A couple searching for its child needs a child carrying an allele of each typed parent:
``(carries[f1] | carries[f2]) & (carries[m1] | carries[m2])``; a child searching for its
parents among the registered couples uses the same formula on bitmaps built over the couples
(:func:`build_bitmaps` of the fathers' and of the mothers' codes), a parent untyped there
counting as carrying everything.

Guarantee. For a duo the test *is* Mendelian consistency (a shared allele), so the index
keeps exactly the references with at most ``k`` inconsistent loci. For couples it is
necessary, not sufficient (father ``10/11``, mother ``10/12`` and child ``10/13``
pass it), so the search checks the kept couples' codes exactly
(:mod:`kinmatch.search.candidates`). Either way a parentage search with ``max_inconsistent =
k`` returns exactly the references with at most ``k`` inconsistent loci that the plain scan
with the same bound returns, with the same LRs; the GB/T 37223-2018 rule excludes parentage
from 3 inconsistent loci, hence ``k = 2`` by default.

File. ``frag-*.bitmaps`` (beside ``frag-*.arrow``) is a ``.npy`` file of little-endian
``uint64`` words: a header of :data:`HEADER` words (magic, format, rows, words per bitmap,
loci, then the dictionary size of each locus when written, padded to a multiple of 8 words
so that every bitmap starts on a cache line), then per fragment locus ``1 + n_alleles``
bitmaps (untyped, then allele 0, 1, ...), then one bitmap per role code of
:data:`kinmatch.profiles.ROLES`. Bits past the last row are 0.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kinmatch.atomic import fsync_path
from kinmatch.codes import split_codes
from kinmatch.profiles import ROLES

DEFAULT_MAX_INCONSISTENT = 2
INDEX_MAX_INCONSISTENT = 7
"""The largest ``k`` the index serves (one counter plane per miss counted, so its cost grows
with ``k``; past 7 of ~23 loci it keeps a tenth of unrelated references and the plain scan is
as fast)."""
MAGIC = 0x4B494E4D42495431  # "KINMBIT1"
FORMAT = 1
HEADER = 5
SUFFIX = ".bitmaps"
_CHUNK = 1 << 18  # rows encoded at once when building (a multiple of 64)


def index_path(fragment: Path) -> Path:
    """The index file of the fragment file ``fragment``."""
    return fragment.with_suffix(SUFFIX)


def n_words(rows: int) -> int:
    return (rows + 63) // 64


def _header_words(n_loci: int) -> int:
    return -(-(HEADER + n_loci) // 8) * 8


def pack_rows(selected: NDArray[np.bool_]) -> NDArray[np.uint64]:
    """A bitmap (little-endian bit order, one word per 64 rows) of the True rows."""
    packed = np.packbits(selected, bitorder="little")
    out = np.zeros(n_words(len(selected)) * 8, dtype=np.uint8)
    out[: len(packed)] = packed
    return out.view(np.uint64)


def _fill_bitmaps(
    codes: NDArray[np.uint16], n_alleles: Sequence[int], out: NDArray[np.uint64]
) -> None:
    """Write the per-locus bitmaps of ``codes`` (rows, loci) into ``out`` (one row of words
    per bitmap, in the order of the module docstring)."""
    rows = codes.shape[0]
    start = 0
    for j, count in enumerate(n_alleles):
        block = out[start : start + 1 + count]
        for first in range(0, rows, _CHUNK):
            stop = min(first + _CHUNK, rows)
            column = codes[first:stop, j]
            carried = np.zeros((1 + count, stop - first), dtype=bool)
            typed = np.flatnonzero(column)
            lo, hi = split_codes(column[typed])
            carried[lo + 1, typed] = True
            carried[hi + 1, typed] = True
            carried[:, column == 0] = True
            packed = np.packbits(carried, axis=1, bitorder="little")
            words = block[:, first // 64 : n_words(stop)].view(np.uint8)
            words[:, : packed.shape[1]] = packed
        start += 1 + count


def build_bitmaps(codes: NDArray[np.uint16], n_alleles: Sequence[int]) -> NDArray[np.uint64]:
    """The per-locus allele bitmaps of ``codes`` (rows, loci), shape (bitmaps, words), in
    memory: the couples' index. Row ``locus_starts(n_alleles)[j]`` is locus ``j``'s untyped
    bitmap."""
    out = np.zeros((sum(1 + n for n in n_alleles), n_words(codes.shape[0])), dtype=np.uint64)
    _fill_bitmaps(codes, n_alleles, out)
    return out


def locus_starts(n_alleles: Sequence[int]) -> NDArray[np.int64]:
    """Row of each locus' untyped bitmap (its allele ``a`` is row ``start + 1 + a``)."""
    return np.concatenate([[0], np.cumsum([1 + n for n in n_alleles])[:-1]]).astype(np.int64)


@dataclass(frozen=True)
class IndexBuild:
    """What writing one index file took."""

    path: Path
    bytes: int
    seconds: float


def write_index(
    fragment: Path, codes: NDArray[np.uint16], roles: NDArray[np.uint8], n_alleles: Sequence[int]
) -> IndexBuild:
    """Write the index of a fragment (its codes, roles and each locus' dictionary size) beside
    it, atomically: a temporary file, fsynced, renamed over :func:`index_path`."""
    started = time.perf_counter()
    rows = codes.shape[0]
    words = n_words(rows)
    header = _header_words(len(n_alleles))
    n_bitmaps = sum(1 + n for n in n_alleles) + len(ROLES)
    target = index_path(fragment)
    temporary = target.with_name(f".tmp-{target.name}.{uuid.uuid4().hex[:8]}")
    array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint64,
                                      shape=(header + n_bitmaps * words,))  # fmt: skip
    try:
        array[:HEADER] = (MAGIC, FORMAT, rows, words, len(n_alleles))
        array[HEADER : HEADER + len(n_alleles)] = n_alleles
        body = array[header:].reshape(n_bitmaps, words)
        _fill_bitmaps(codes, n_alleles, body)
        for code in range(len(ROLES)):
            body[n_bitmaps - len(ROLES) + code] = pack_rows(roles == code)
        array.flush()
        del body, array
        temporary.chmod(0o600)
        fsync_path(temporary)
        os.rename(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return IndexBuild(target, target.stat().st_size, time.perf_counter() - started)


class UnusableIndexError(ValueError):
    """An index file that cannot be used: missing, unreadable or of another fragment (the
    store rebuilds it from the fragment)."""


class FragmentIndex:
    """The memory-mapped index of one fragment (see the module docstring)."""

    def __init__(self, path: Path, rows: int, n_loci: int) -> None:
        try:
            words = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise UnusableIndexError(f"{path}: unreadable index ({exc})") from None
        if words.dtype != np.uint64 or words.ndim != 1 or len(words) < HEADER:
            raise UnusableIndexError(f"{path}: not an index file")
        magic, version, stored_rows, n_words_, loci = (int(x) for x in words[:HEADER])
        if (magic, version, stored_rows, loci) != (MAGIC, FORMAT, rows, n_loci):
            raise UnusableIndexError(f"{path}: index of another fragment or format")
        self.path = path
        self.rows = rows
        self.n_alleles = tuple(int(x) for x in words[HEADER : HEADER + loci])
        self.starts = locus_starts(self.n_alleles)
        n_bitmaps = sum(1 + n for n in self.n_alleles) + len(ROLES)
        body = words[_header_words(loci) :]
        if len(body) != n_bitmaps * n_words_ or n_words_ != n_words(rows):
            raise UnusableIndexError(f"{path}: truncated index")
        self.bitmaps: NDArray[np.uint64] = body.reshape(n_bitmaps, n_words_).view(np.ndarray)
        self.role_start = n_bitmaps - len(ROLES)

    @property
    def nbytes(self) -> int:
        return int(self.bitmaps.nbytes)

    def allele_row(self, j: int, allele_code: int | None) -> int:
        """Bitmap row of an allele (a dictionary code, None: not in the dictionary) at
        fragment locus ``j``: the untyped bitmap when no reference here can carry it."""
        if allele_code is None or allele_code >= self.n_alleles[j]:
            return int(self.starts[j])
        return int(self.starts[j]) + 1 + allele_code

    def selection(self, role_codes: Sequence[int] | None) -> NDArray[np.uint64]:
        """The bitmap of the rows whose role is among ``role_codes`` (None: every row)."""
        words = n_words(self.rows)
        if role_codes is None:
            return pack_rows(np.ones(self.rows, dtype=bool))
        out = np.zeros(words, dtype=np.uint64)
        for code in role_codes:
            if code < len(ROLES):
                out |= self.bitmaps[self.role_start + code]
        return out
