"""The urn sum allele by allele against a direct sum over every sequence of draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brute_force import polya_tensor
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch.pedigree import urn_expectation


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.integers(0, 4), st.integers(0, 3),
       st.sampled_from([0.0, 0.01, 0.1, 0.5]), st.data())  # fmt: skip
def test_urn_expectation_equals_the_direct_sum(
    n: int, k_draws: int, n_fixed: int, theta: float, data: st.DataObject
) -> None:
    weights = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    p = weights / weights.sum() * data.draw(st.sampled_from([1.0, 0.98, 1.01]))
    v = np.array(data.draw(st.lists(st.floats(0.0, 2.0), min_size=k_draws * n,
                                    max_size=k_draws * n))).reshape(k_draws, n)  # fmt: skip
    fixed = data.draw(st.lists(st.integers(0, n - 1), min_size=n_fixed, max_size=n_fixed))
    joint = polya_tensor(p, n_fixed + k_draws, theta)
    before = polya_tensor(p, n_fixed, theta)[tuple(fixed)] if fixed else 1.0
    expected = 0.0
    for draws in itertools.product(range(n), repeat=k_draws):
        factor = np.prod([v[k, a] for k, a in enumerate(draws)])
        expected += joint[(*fixed, *draws)] / before * factor
    counts = np.bincount(np.array(fixed, dtype=np.int64), minlength=n).astype(np.int64)
    got = urn_expectation(np.ascontiguousarray(v), p, counts, n_fixed, theta)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-300)
