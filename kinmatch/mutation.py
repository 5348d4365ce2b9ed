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

**Stationary (stabilised) models.** ``equal``, ``stepwise`` and ``onestep`` are not stationary
(``p M != p``), so an untyped parent or ancestor changes the likelihood even at theta 0
(Simonsson & Mostad 2016). With ``stationary=True`` their matrices are replaced by
:func:`stabilize` (pedmut's PM transformation, Familias' ``Stabilization = "PM"``), for which
``p M = p`` and the overall mutation rate is unchanged. ``proportional`` is stationary by
construction and refuses the option, as does ``none`` (see :class:`MutationModel`).
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
STABILISABLE: tuple[str, ...] = ("equal", "stepwise", "onestep")
"""The models ``stationary=True`` applies to (:func:`stabilize`)."""
Matrix = NDArray[np.float64]


def mutation_matrix(
    model: str,
    alleles: Sequence[Allele],
    frequencies: Sequence[float] | NDArray[np.float64],
    rate: float,
    *,
    rate2: float = 0.0,
    range_: float = 0.5,
    stationary: bool = False,
) -> Matrix:
    """The pedmut mutation matrix of ``model`` over ``alleles`` (see the module docstring).

    ``stationary`` applies :func:`stabilize` (pedmut's ``transform = "PM"``) to an ``equal``,
    ``stepwise`` or ``onestep`` matrix; other models refuse it.
    """
    if stationary and model not in STABILISABLE:
        raise MutationModelError(_NOT_STABILISABLE.get(model, f"unknown mutation model {model!r}"))
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
    if stationary:
        try:
            return stabilize(matrix, frequencies, alleles=alleles)
        except MutationModelError as exc:
            raise MutationModelError(f"{exc.reason} ({model} model, rate {rate:g})") from None
    return matrix


_NOT_STABILISABLE = {
    "none": "a stationary mutation model needs a mutation model (equal, stepwise or onestep); "
    "the model is none",
    "proportional": "the proportional model is stationary already (p M = p): the stationary "
    "option applies to equal, stepwise and onestep only",
}


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


def stabilize(
    matrix: Matrix,
    frequencies: Sequence[float] | NDArray[np.float64],
    *,
    alleles: Sequence[Allele] | None = None,
) -> Matrix:
    """The PM stabilisation of ``matrix``: a mutation matrix ``S`` with ``p S = p``.

    Simonsson & Mostad (2016), *Stationary mutation models*, Forensic Sci. Int. Genet.
    23:217-225 (doi:10.1016/j.fsigen.2016.04.005), method PM, as the R package pedmut 0.9
    computes it (``makeStationary(M, afreq, method = "PM")``, equivalently
    ``mutationMatrix(..., transform = "PM")``; formerly ``stabilize()``, taken from
    ``Familias:::stabilize``). With ``M`` the matrix, ``p`` the frequencies and ``I`` the
    identity:

    * ``v`` is the stationary distribution of ``M``: ``v M = v``, ``sum_i v_i = 1`` (pedmut
      solves the linear system ``(M^T - I) v = 0`` with its last equation replaced by
      ``sum v = 1``; kinmatch reduces states, which keeps ``v`` accurate where that system
      is ill-conditioned);
    * ``R = 1 - sum_i p_i M_ii`` is the overall mutation rate of ``(M, p)`` (pedmut's
      ``mutRate``);
    * ``d_i = R v_i / ((1 - sum_k v_k M_kk) p_i)``;
    * ``S = diag(d) (M - I) + I``: row ``i`` keeps the relative mutation probabilities of
      ``M`` (``S_ij = d_i M_ij`` for ``j != i``) and only its allele-specific mutation rate
      changes, to ``d_i (1 - M_ii)``.

    Then ``p S = p + c (v M - v) = p`` with ``c = R / (1 - sum v_k M_kk)``, rows sum to 1,
    and the overall mutation rate is preserved: ``sum_i p_i (1 - S_ii) = R``. The solution
    is unique, in closed form. It exists when every ``d_i (1 - M_ii) <= 1`` (pedmut: "PM
    stabilization doesn't exist" otherwise), which fails for a high rate and a rare allele.

    Pedmut's other names, DP and RM, are Familias methods found by numerical optimisation
    (DP keeps the diagonal of ``M``; RM bounds the allele-specific rates); pedmut implements
    only PM, which is the one reproducible in closed form, so kinmatch implements PM.

    Deviations, each where pedmut fails or assumes more: the frequencies are first
    rescaled to sum to 1 (pedmut requires them to; stationarity does not depend on the
    scale, and ``R`` is a mutation rate only for a distribution); the identity (rate 0) is
    returned as it is, as Familias does (pedmut's linear system is singular there, and the
    identity is the only stationary matrix with rate 0), and so is a matrix whose diagonal
    is 1 in floating point (a rate below 1e-16); a matrix under which some alleles never
    mutate into the others has no unique stationary distribution (pedmut's system is
    singular) and raises :class:`MutationModelError` naming those alleles, as does a
    transformation that does not exist. ``alleles`` only names alleles in messages.
    """
    M = np.array(matrix, dtype=np.float64)
    p = np.asarray(frequencies, dtype=np.float64)
    n = M.shape[0] if M.ndim == 2 else -1
    if M.shape != (n, n) or p.shape != (n,):
        raise MutationModelError(
            f"cannot stabilise: a square matrix and one frequency per allele are needed "
            f"(matrix {M.shape}, {p.size} frequencies)"
        )
    names = [str(a) for a in alleles] if alleles is not None else [str(i + 1) for i in range(n)]
    if not (np.all(np.isfinite(p)) and np.all(p > 0.0)):
        raise MutationModelError("cannot stabilise: every allele frequency must be positive")
    if not (np.all(M >= 0.0) and np.all(M <= 1.0)) or np.any(np.abs(M.sum(axis=1) - 1) > 1e-9):
        raise MutationModelError(
            "cannot stabilise: not a mutation matrix (entries in [0, 1], rows summing to 1)"
        )
    identity = np.eye(n)
    if n == 1 or np.all(np.diag(M) == 1.0):
        return M  # the identity, or a rate below floating-point resolution: nothing to change
    classes = _communicating_classes(M)
    if len(classes) > 1:
        groups = "; ".join(", ".join(names[i] for i in group) for group in classes)
        raise MutationModelError(
            "the stationary (PM) transformation is undefined: some alleles never mutate into "
            f"the others (classes {groups}), so the matrix has no unique stationary "
            "distribution (stepwise: give rate2 > 0 when microvariants are present; onestep: "
            "a gap in the allele ladder)"
        )
    q = p / p.sum()
    diagonal = np.diag(M)
    rate = 1.0 - float(q @ diagonal)
    v = _stationary_distribution(M)
    if not (np.all(np.isfinite(v)) and np.all(v > 0.0)):
        raise MutationModelError(
            "the stationary (PM) transformation failed: no positive stationary distribution "
            "of the mutation matrix was found"
        )
    d = rate * v / ((1.0 - float(v @ diagonal)) * q)
    specific = d * (1.0 - diagonal)
    worst = int(np.argmax(specific))
    if specific[worst] > 1.0:
        raise MutationModelError(
            "the stationary (PM) transformation does not exist: allele "
            f"{names[worst]} (frequency {p[worst]:.3g}) would need a mutation probability of "
            f"{specific[worst]:.3g} > 1; reduce the mutation rate at this locus or do not ask "
            "for a stationary model"
        )
    stabilised: Matrix = d[:, np.newaxis] * (M - identity) + identity
    return stabilised


def _stationary_distribution(M: Matrix) -> NDArray[np.float64]:
    """``v`` with ``v M = v`` and ``sum v = 1`` for an irreducible stochastic ``M``, by the
    Grassmann-Taksar-Heyman state reduction (Grassmann, Taksar & Heyman 1985, Oper. Res.
    33:1107-1116): Gaussian elimination without subtractions, so ``v`` keeps its relative
    accuracy where ``M`` is nearly reducible (a stepwise ladder with a gap), where solving
    ``(M^T - I) v = 0`` loses digits."""
    P = np.array(M, dtype=np.float64)
    n = P.shape[0]
    for k in range(n - 1, 0, -1):
        out = P[k, :k].sum()
        P[:k, k] /= out
        P[:k, :k] += np.outer(P[:k, k], P[k, :k])
    v = np.zeros(n)
    v[0] = 1.0
    for k in range(1, n):
        v[k] = v[:k] @ P[:k, k]
    stationary: NDArray[np.float64] = v / v.sum()
    return stationary


def _communicating_classes(M: Matrix) -> list[list[int]]:
    """The strongly connected classes of the mutation graph ``i -> j`` where ``M[i, j] > 0``,
    in order of their first allele."""
    n = M.shape[0]
    reach = (M > 0.0) | np.eye(n, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(n)))):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    both = reach & reach.T
    classes: list[list[int]] = []
    seen: set[int] = set()
    for i in range(n):
        if i not in seen:
            group = [int(j) for j in np.flatnonzero(both[i])]
            seen.update(group)
            classes.append(group)
    return classes


@lru_cache(maxsize=4096)
def _cached_matrix(
    kind: str,
    alleles: tuple[Allele, ...],
    frequencies: tuple[float, ...],
    rate: float,
    rate2: float,
    range_: float,
    stationary: bool,
) -> Matrix:
    """:func:`mutation_matrix`, memoised: score tables ask for the same matrices many times."""
    matrix = mutation_matrix(
        kind, alleles, frequencies, rate, rate2=rate2, range_=range_, stationary=stationary
    )
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

    ``stationary`` replaces every matrix of ``equal``, ``stepwise`` or ``onestep`` by its PM
    stabilisation (:func:`stabilize`; Familias' ``Stabilization = "PM"``), per locus and sex
    on the locus' allele set: ``p M = p``, so at theta 0 an untyped relative changes
    nothing, with the same overall mutation rate. Refused with ``none`` (nothing to
    stabilise) and with ``proportional``, which is stationary already (its PM
    transformation is itself): one spelling per model, so that records and caches never
    show two names for one model, and ``stationary`` true always means transformed
    matrices. A locus where the transformation does not exist is an error naming it.
    """

    kind: str = "none"
    rates: MutationRates | None = None
    rate2: float = 0.0
    range: float = 0.5
    stationary: bool = False

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
        if not isinstance(self.stationary, bool):
            raise MutationModelError(f"stationary must be True or False, not {self.stationary!r}")
        if self.stationary and self.kind not in STABILISABLE:
            raise MutationModelError(_NOT_STABILISABLE[self.kind])

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
                        self.stationary,
                    )
                )
            except InputError as exc:
                raise exc.located(locus=alleles.locus) from None
        return result[0], result[1]
