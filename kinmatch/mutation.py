"""STR mutation models and per-locus, per-sex mutation rates.

Matrices follow the R package pedmut 0.9 (M. D. Vigeland, ``mutationMatrix()``) entry for
entry, so that likelihoods agree with forrel and Familias. ``M[i, j]`` is the probability that
a parent's allele ``i`` is received by the child as allele ``j``; rows sum to 1. With ``n``
alleles and ``p`` their frequencies:

* ``equal``: ``M[i, i] = 1 - rate``, ``M[i, j] = rate / (n - 1)``.
* ``proportional``: ``alpha = rate / sum_k p_k (1 - p_k)``,
  ``M[i, j] = (1 - alpha) [i == j] + alpha p_j``. Refused when an entry leaves [0, 1].
* ``stepwise`` (Familias' extended stepwise model): alleles fall in groups by their
  microvariant suffix (``round((a - round(a)) * 10)``, rounded as
  pedmut >= 0.7 does). Within the group of ``i``,
  ``M[i, j] = rate * range^|a_i - a_j| / sum_{k in group, k != i} range^|a_i - a_k|``; to an
  allele of another group ``M[i, j] = rate2 / (number of alleles outside the group)``;
  ``M[i, i] = 1 - rate - rate2``, except ``1 - rate`` when every allele is in the group and
  ``1 - rate2`` when ``i`` is alone in its group.
* ``onestep``: mutation only to the alleles one repeat away, ``M[i, i±1] = rate / m`` with
  ``m`` in {1, 2} neighbours present, ``M[i, i] = 1 - rate`` (1 when there is no neighbour).
  Undefined for allele sets with microvariants.

A single allele gives the identity matrix, as in pedmut.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import Allele, allele_value
from kinmatch.csvfile import csv_rows
from kinmatch.errors import InputError, MutationModelError
from kinmatch.frequencies import LocusAlleles
from kinmatch.loci import canonical_locus

MODELS: tuple[str, ...] = ("none", "equal", "proportional", "stepwise", "onestep")
Matrix = NDArray[np.float64]


def mutation_matrix(
    model: str,
    alleles: Sequence[Allele],
    frequencies: Sequence[float] | NDArray[np.float64],
    rate: float,
    *,
    rate2: float = 0.0,
    range_: float = 0.5,
) -> Matrix:
    """The pedmut mutation matrix of ``model`` over ``alleles`` (see the module docstring)."""
    n = len(alleles)
    if model == "none" or n == 1:
        return np.eye(n)
    if model == "equal":
        matrix = np.full((n, n), rate / (n - 1))
        np.fill_diagonal(matrix, 1.0 - rate)
    elif model == "proportional":
        p = np.asarray(frequencies, dtype=np.float64)
        alpha = rate / float(np.sum(p * (1.0 - p)))
        matrix = (1.0 - alpha) * np.eye(n) + alpha * p[np.newaxis, :]
        if np.any(matrix < 0.0) or np.any(matrix > 1.0):
            raise MutationModelError(
                f"proportional model impossible with rate {rate} for these frequencies "
                "(an entry leaves [0, 1]); reduce the rate"
            )
    elif model == "stepwise":
        matrix = _stepwise(alleles, rate, rate2, range_)
    elif model == "onestep":
        matrix = _onestep(alleles, rate)
    else:
        raise MutationModelError(f"unknown mutation model {model!r}: one of {', '.join(MODELS)}")
    return matrix


def _stepwise(alleles: Sequence[Allele], rate: float, rate2: float, range_: float) -> Matrix:
    n = len(alleles)
    values = np.array([allele_value(a) for a in alleles])
    # pedmut: microgroup = (a - round(a)) * 10, with R's round-half-to-even (as Python's).
    group = np.array([round((v - round(v)) * 10) for v in values])
    matrix = np.zeros((n, n))
    for i in range(n):
        same = group == group[i]
        n_same = int(same.sum())
        others = ~same
        if n_same == n:
            matrix[i, i] = 1.0 - rate
        elif n_same == 1:
            matrix[i, i] = 1.0 - rate2
        else:
            matrix[i, i] = 1.0 - rate - rate2
        if others.any():
            matrix[i, others] = rate2 / (n - n_same)
        same[i] = False
        if same.any():
            weights = range_ ** np.abs(values[same] - values[i])
            matrix[i, same] = weights / weights.sum() * rate
    return matrix


def _onestep(alleles: Sequence[Allele], rate: float) -> Matrix:
    micro = [a for a in alleles if "." in a]
    if micro:
        raise MutationModelError(
            "the onestep model is undefined for a locus whose allele set has microvariants "
            f"({len(micro)} in this allele set); use stepwise"
        )
    values = np.array([allele_value(a) for a in alleles])
    n = len(values)
    matrix = np.zeros((n, n))
    for i in range(n):
        neighbours = np.abs(values - values[i]) == 1
        count = int(neighbours.sum())
        matrix[i, i] = 1.0 - rate if count else 1.0
        if count:
            matrix[i, neighbours] = rate / count
    return matrix


@lru_cache(maxsize=4096)
def _cached_matrix(
    kind: str,
    alleles: tuple[Allele, ...],
    frequencies: tuple[float, ...],
    rate: float,
    rate2: float,
    range_: float,
) -> Matrix:
    """:func:`mutation_matrix`, memoised: score tables ask for the same matrices many times."""
    matrix = mutation_matrix(kind, alleles, frequencies, rate, rate2=rate2, range_=range_)
    matrix.flags.writeable = False
    return matrix


@dataclass(frozen=True)
class MutationRates:
    """Mutation rates per locus and sex of the transmitting parent.

    ``per_locus`` maps a canonical locus to ``(paternal, maternal)`` rates; loci absent from
    it take ``default`` when given, otherwise asking for them is an error.
    """

    per_locus: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    default: tuple[float, float] | None = None

    @classmethod
    def uniform(
        cls, rate: float, *, paternal: float | None = None, maternal: float | None = None
    ) -> MutationRates:
        """One rate for every locus, optionally split by sex."""
        rates = (_rate(paternal if paternal is not None else rate),
                 _rate(maternal if maternal is not None else rate))  # fmt: skip
        return cls({}, rates)

    def rates(self, locus: str) -> tuple[float, float]:
        """``(paternal, maternal)`` rate of ``locus``."""
        found = self.per_locus.get(locus, self.default)
        if found is None:
            raise MutationModelError(
                "no mutation rate for this locus in the rates file and no default rate given "
                "(--default-mutation-rate)",
                locus=locus,
            )
        return found


def _rate(value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise MutationModelError(f"mutation rate {value!r} must be a probability in [0, 1]")
    return float(value)


def load_mutation_rates(path: str | Path, *, default: float | None = None) -> MutationRates:
    """Read ``locus,rate[,paternal_rate,maternal_rate]``; an empty sex-specific cell is ``rate``."""
    path = Path(path)
    source = str(path)
    rows = list(csv_rows(path, MutationModelError))
    if not rows:
        raise MutationModelError("empty file", source=source)
    header = [name.strip() for name in rows[0][1]]
    allowed = ("locus", "rate", "paternal_rate", "maternal_rate")
    if header[:2] != ["locus", "rate"] or not set(header) <= set(allowed):
        raise MutationModelError(
            f"header must be locus,rate[,paternal_rate,maternal_rate]; found {','.join(header)}",
            source=source,
            line=rows[0][0],
        )
    per_locus: dict[str, tuple[float, float]] = {}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) != len(header):
                raise MutationModelError(
                    f"row has {len(row)} fields but the header has {len(header)}"
                )
            record = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
            locus, rates = _rates_row(record)
            if locus in per_locus:
                raise MutationModelError("locus listed twice", locus=locus, field="locus")
            per_locus[locus] = rates
        except InputError as exc:
            raise exc.located(source=source, line=line) from None
    return MutationRates(per_locus, None if default is None else (_rate(default),) * 2)


def _rates_row(record: dict[str, str]) -> tuple[str, tuple[float, float]]:
    try:
        locus = canonical_locus(record["locus"])
    except InputError as exc:
        raise exc.located(field="locus") from None
    values = {}
    for name, text in record.items():
        if name == "locus":
            continue
        try:
            values[name] = _rate(float(text or record["rate"]))
        except (ValueError, InputError):
            raise MutationModelError(
                f"{name} {text!r} must be a probability in [0, 1]", locus=locus, field=name
            ) from None
    rate = values["rate"]
    return locus, (values.get("paternal_rate", rate), values.get("maternal_rate", rate))


@dataclass(frozen=True)
class MutationModel:
    """A mutation model with its parameters; ``kind="none"`` means no mutation.

    ``rate2`` (mutation between integer alleles and microvariants) and ``range`` (relative
    probability of n+1 versus n steps) are used by ``stepwise`` only.
    """

    kind: str = "none"
    rates: MutationRates | None = None
    rate2: float = 0.0
    range: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in MODELS:
            raise MutationModelError(
                f"unknown mutation model {self.kind!r}: one of {', '.join(MODELS)}"
            )
        if self.kind != "none" and self.rates is None:
            raise MutationModelError(f"the {self.kind} model needs mutation rates")
        _rate(self.rate2)
        if not (math.isfinite(self.range) and self.range > 0):
            raise MutationModelError(f"mutation range {self.range!r} must be positive")

    @property
    def is_none(self) -> bool:
        return self.kind == "none"

    def matrices(self, alleles: LocusAlleles) -> tuple[Matrix, Matrix] | None:
        """``(paternal, maternal)`` matrices for one locus' allele set; None without mutation."""
        if self.kind == "none" or self.rates is None:
            return None
        paternal, maternal = self.rates.rates(alleles.locus)
        result = []
        for rate in (paternal, maternal):
            if self.kind == "stepwise" and rate + self.rate2 > 1:
                raise MutationModelError(
                    f"rate + rate2 = {rate + self.rate2} exceeds 1", locus=alleles.locus
                )
            try:
                result.append(
                    _cached_matrix(
                        self.kind,
                        alleles.alleles,
                        tuple(alleles.frequencies.tolist()),
                        rate,
                        self.rate2,
                        self.range,
                    )
                )
            except InputError as exc:
                raise exc.located(locus=alleles.locus) from None
        return result[0], result[1]
