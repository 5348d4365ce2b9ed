"""Population allele-frequency tables and the allele set of a locus in one comparison.

Tables are long CSV: ``locus,allele,frequency`` with an optional ``n`` column giving the
number of alleles typed at that locus (2N for N individuals). Each locus must sum to 1 within
a tolerance (default 0.005); entries must be positive and finite. Tables are used as
published: they are rescaled only when the caller asks for it.

Rare alleles (NRC II, 1996, recommendation 4.10): an allele of a compared person that the
table lacks gets the minimum frequency 5/2N, where the table gives 2N in its ``n`` column,
otherwise a caller-chosen floor (default 0.001). The allele set of a locus in a comparison is
the table's alleles plus those rare alleles, never the alleles of anyone else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import Allele, allele_sort_key, parse_allele, sort_alleles
from kinmatch.csvfile import csv_rows
from kinmatch.errors import FrequencyTableError, InputError
from kinmatch.loci import canonical_locus, is_sex_marker, locus_sort_key

DEFAULT_MIN_FREQUENCY = 0.001
SUM_TOLERANCE = 0.005


@dataclass(frozen=True)
class LocusFrequencies:
    """One locus of a table: alleles in their total order and their frequencies."""

    locus: str
    alleles: tuple[Allele, ...]
    frequencies: tuple[float, ...]
    n_alleles: int | None = None
    """Alleles typed at this locus (2N), when the table gives it."""

    def frequency(self, allele: Allele) -> float | None:
        """The table frequency of ``allele``, or None when the table lacks it."""
        try:
            return self.frequencies[self.alleles.index(allele)]
        except ValueError:
            return None


@dataclass(frozen=True)
class LocusAlleles:
    """The allele set of one locus in one comparison.

    ``alleles`` are the table's alleles plus the compared persons' alleles the table lacks
    (``rare``), in total order; ``frequencies`` gives each its table or minimum frequency.
    Frequencies are not rescaled, so with rare alleles they sum to slightly more than 1.
    """

    locus: str
    alleles: tuple[Allele, ...]
    frequencies: NDArray[np.float64]
    rare: tuple[Allele, ...]

    def index(self, allele: Allele) -> int:
        """Position of ``allele`` in :attr:`alleles`."""
        return self.alleles.index(allele)


class AlleleFrequencies(Mapping[str, LocusFrequencies]):
    """A population allele-frequency table, keyed by canonical locus name."""

    def __init__(self, loci: Mapping[str, LocusFrequencies], name: str = "") -> None:
        self._loci = dict(loci)
        self.name = name

    def __getitem__(self, locus: str) -> LocusFrequencies:
        return self._loci[locus]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loci)

    def __len__(self) -> int:
        return len(self._loci)

    @classmethod
    def from_dict(
        cls, table: Mapping[str, Mapping[str, float]], name: str = ""
    ) -> AlleleFrequencies:
        """Build a table in code: ``{"TH01": {"6": 0.23, "9.3": 0.30, ...}, ...}``.

        Locus names and alleles are canonicalised; no sum check (use :func:`load_frequencies`
        for files).
        """
        loci = {}
        for locus, freqs in table.items():
            name_ = canonical_locus(locus)
            parsed = {parse_allele(a): float(f) for a, f in freqs.items()}
            alleles = tuple(sort_alleles(list(parsed)))
            loci[name_] = LocusFrequencies(name_, alleles, tuple(parsed[a] for a in alleles))
        return cls(loci, name)

    def min_frequency(self, locus: str, default: float = DEFAULT_MIN_FREQUENCY) -> float:
        """Minimum frequency for alleles the table lacks: 5/2N when 2N is known (NRC II 4.10)."""
        n = self._loci[locus].n_alleles
        return 5.0 / n if n else default

    def locus_alleles(
        self,
        locus: str,
        observed: Iterable[Allele],
        min_frequency: float = DEFAULT_MIN_FREQUENCY,
    ) -> LocusAlleles:
        """The allele set of ``locus`` for a comparison of persons carrying ``observed``."""
        table = self._loci[locus]
        rare = sorted(set(observed) - set(table.alleles), key=allele_sort_key)
        floor = self.min_frequency(locus, min_frequency)
        freq = dict(zip(table.alleles, table.frequencies, strict=True))
        freq.update(dict.fromkeys(rare, floor))
        alleles = tuple(sort_alleles(list(freq)))
        return LocusAlleles(
            locus, alleles, np.array([freq[a] for a in alleles], dtype=np.float64), tuple(rare)
        )


def load_frequencies(
    path: str | Path,
    *,
    renormalise: bool = False,
    tolerance: float = SUM_TOLERANCE,
) -> AlleleFrequencies:
    """Read and validate a long-format frequency table.

    Raises :class:`FrequencyTableError` naming line, locus and field for malformed rows,
    unknown loci, repeated alleles, non-positive or non-finite frequencies, an inconsistent
    ``n``, and for loci whose frequencies do not sum to 1 within ``tolerance`` (the worst locus
    is reported). With ``renormalise`` each locus is divided by its sum after that check.
    """
    path = Path(path)
    source = str(path)
    rows = list(csv_rows(path, FrequencyTableError))
    try:
        loci = _parse_rows(rows)
    except InputError as exc:
        raise exc.located(source=source) from None

    sums = {locus: math.fsum(freqs.values()) for locus, (freqs, _) in loci.items()}
    bad = {locus: s for locus, s in sums.items() if abs(s - 1.0) > tolerance}
    if bad:
        worst = max(bad, key=lambda locus: abs(bad[locus] - 1.0))
        others = f" ({len(bad) - 1} other loci also outside)" if len(bad) > 1 else ""
        raise FrequencyTableError(
            f"frequencies sum to {sums[worst]:.6f}, outside 1 ± {tolerance}{others}",
            source=source,
            locus=worst,
            field="frequency",
        )

    table = {}
    for locus in sorted(loci, key=locus_sort_key):
        freqs, n = loci[locus]
        alleles = tuple(sort_alleles(list(freqs)))
        scale = sums[locus] if renormalise else 1.0
        table[locus] = LocusFrequencies(locus, alleles, tuple(freqs[a] / scale for a in alleles), n)
    return AlleleFrequencies(table, name=path.stem)


def _parse_rows(
    rows: list[tuple[int, list[str]]],
) -> dict[str, tuple[dict[Allele, float], int | None]]:
    if not rows:
        raise FrequencyTableError("empty file")
    header_line, header = rows[0]
    header = [name.strip() for name in header]
    required = ("locus", "allele", "frequency")
    if any(name not in header for name in required) or not set(header) <= {*required, "n"}:
        raise FrequencyTableError(
            f"header must be locus,allele,frequency[,n]; found {','.join(header)}",
            line=header_line,
        )
    loci: dict[str, tuple[dict[Allele, float], int | None]] = {}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise FrequencyTableError(
                f"row has {len(row)} fields but the header has {len(header)}", line=line
            )
        record = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        try:
            _add_row(loci, record)
        except InputError as exc:
            raise exc.located(line=line) from None
    if not loci:
        raise FrequencyTableError("no frequency rows")
    return loci


def _add_row(
    loci: dict[str, tuple[dict[Allele, float], int | None]], record: dict[str, str]
) -> None:
    try:
        locus = canonical_locus(record["locus"])
    except InputError as exc:
        raise exc.located(field="locus") from None
    if is_sex_marker(locus):
        raise FrequencyTableError("a sex marker has no allele frequencies", locus=locus)
    try:
        allele = parse_allele(record["allele"])
    except InputError as exc:
        raise exc.located(locus=locus, field="allele") from None
    frequency = _number(record["frequency"], locus, "frequency")
    n = _number(record["n"], locus, "n") if record.get("n") else None
    if not 0.0 < frequency <= 1.0:
        raise FrequencyTableError(
            f"frequency {record['frequency']!r} of allele {allele} must be in (0, 1]",
            locus=locus,
            field="frequency",
        )
    if n is not None and (n != int(n) or n < 1):
        raise FrequencyTableError(
            f"n {record['n']!r} must be a positive whole number", locus=locus, field="n"
        )
    count = None if n is None else int(n)
    freqs, locus_n = loci.setdefault(locus, ({}, count))
    if allele in freqs:
        raise FrequencyTableError(f"allele {allele} listed twice", locus=locus, field="allele")
    if count != locus_n:
        raise FrequencyTableError(
            f"n {count} differs from the locus' earlier rows ({locus_n})", locus=locus, field="n"
        )
    freqs[allele] = frequency


def _number(text: str, locus: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FrequencyTableError(f"{text!r} is not a number", locus=locus, field=field)
    return value
