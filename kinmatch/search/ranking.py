"""Ranking the scan's scores: the hits at or above ``min_lr`` and among the ``top_k`` best,
ties broken by sample ID, without sorting every score."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from kinmatch.errors import InputError
from kinmatch.hits import Hit, HitDetails
from kinmatch.likelihood import KinshipResult
from kinmatch.profiles import Profile


@dataclass(frozen=True)
class Scores:
    """The scan's output for one query: log10 LR of every stored profile (or couple) in
    store order, NaN where not scored; or, with ``positions``, of the candidates alone."""

    log10_lr: NDArray[np.float64]
    offsets: NDArray[np.int64]
    """First position of each fragment, then the total."""
    n_met: int
    n_scored: int
    positions: NDArray[np.int64] | None = None
    """The store position of each score (None: score ``i`` is position ``i``)."""

    def at(self, indices: NDArray[np.int64]) -> NDArray[np.int64]:
        """Store positions of scores ``indices``."""
        return indices if self.positions is None else self.positions[indices]

    def locate(self, indices: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(fragment, row) of scores ``indices``."""
        positions = self.at(indices)
        fragments = np.searchsorted(self.offsets, positions, side="right") - 1
        return fragments, positions - self.offsets[fragments]


def make_hit(
    query_id: str,
    reference_id: str,
    relationship: str,
    scores: Scores,
    i: int,
    rank: int,
    details: Callable[[float], HitDetails],
    explain: Callable[[], KinshipResult],
    persons: Mapping[str, Profile],
    **ids: str | None,
) -> Hit:
    """The hit at store position ``i``; ``details(lr)`` gives its details for the scan's LR."""
    log10 = float(scores.log10_lr[i])
    lr = _lr(log10)
    return Hit(query_id, reference_id, relationship, lr, None if log10 == -math.inf else log10,
               rank, details(lr), explain, persons=persons, **ids)  # fmt: skip


def select_ranked(
    log10: NDArray[np.float64],
    ids: Callable[[NDArray[np.int64]], pa.Array],
    top_k: int | None,
    min_lr: float | None,
) -> tuple[list[int], int]:
    """Positions at or above ``min_lr`` and among the ``top_k`` best, best first, ties ordered
    by ID; and how many reached ``min_lr`` before the ``top_k`` cut.

    NaN (not scored) never ranks. One pass finds the scores at or above the threshold; only
    those are partitioned, and only the IDs of the group tied at the cut are fetched and
    sorted (in Arrow), so a query excluded from nearly everyone (LR 0 ties) stays cheap.
    """
    ranked = np.flatnonzero(log10 >= log10_threshold(min_lr))
    n_ranked = len(ranked)
    if top_k is not None and n_ranked > top_k:
        negated = -log10[ranked]  # LR 0 is +inf
        cut = np.partition(negated, top_k - 1)[top_k - 1]
        above, tied = ranked[negated < cut], ranked[negated == cut]
        first_ids = pc.sort_indices(ids(tied)).to_numpy()[: top_k - len(above)]
        ranked = np.concatenate([above, tied[first_ids]])
    names = ids(ranked).to_pylist()
    order = sorted(range(len(ranked)), key=lambda j: (-log10[ranked[j]], names[j]))
    return [int(ranked[j]) for j in order], n_ranked


def log10_threshold(min_lr: float | None) -> float:
    return -math.inf if min_lr is None or min_lr == 0 else math.log10(min_lr)


def _lr(log10: float) -> float:
    return 0.0 if log10 == -math.inf else 10.0**log10


def check_limits(top_k: int | None, min_lr: float | None) -> None:
    if top_k is None and min_lr is None:
        raise InputError("give top_k, min_lr or both", field="top_k")
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k {top_k} must be at least 1", field="top_k")
    if min_lr is not None and not min_lr >= 0:
        raise InputError(f"min_lr {min_lr} must be non-negative", field="min_lr")
