"""Mutation matrices against hand-derived pedmut values, and the rates file."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch.errors import LocusError, MutationModelError
from kinmatch.frequencies import LocusAlleles
from kinmatch.mutation import MutationModel, MutationRates, load_mutation_rates, mutation_matrix

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_equal() -> None:
    m = mutation_matrix("equal", ["1", "2", "3"], [0.2, 0.3, 0.5], 0.1)
    assert np.allclose(m, [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]], atol=0)


def test_proportional() -> None:
    p = np.array([0.2, 0.3, 0.5])
    alpha = 0.1 / (0.2 * 0.8 + 0.3 * 0.7 + 0.5 * 0.5)
    m = mutation_matrix("proportional", ["1", "2", "3"], p, 0.1)
    assert m[0, 1] == pytest.approx(alpha * 0.3, rel=1e-15)
    assert m[1, 1] == pytest.approx(1 - alpha + alpha * 0.3, rel=1e-15)
    # pedmut's own check: the off-diagonal of a column is constant
    assert m[1, 0] == m[2, 0] and m[0, 1] == m[2, 1]
    # stationary: p M = p, with the expected mutation rate equal to `rate`
    assert np.allclose(p @ m, p, rtol=1e-14)
    assert float(p @ (1 - np.diag(m))) == pytest.approx(0.1, rel=1e-14)


def test_proportional_impossible_rate() -> None:
    with pytest.raises(MutationModelError, match="reduce the rate"):
        mutation_matrix("proportional", ["1", "2"], [0.5, 0.5], 2.0)


def test_stepwise_with_microvariant() -> None:
    alleles = ["9", "9.3", "10", "11", "12"]
    m = mutation_matrix("stepwise", alleles, [0.2] * 5, 0.01, rate2=0.001, range_=0.5)
    row = dict(zip(alleles, m[2], strict=True))  # allele 10
    # integer neighbours weighted 0.5^|d|: 9 and 11 get 0.5, 12 gets 0.25, of total 1.25
    assert row["9"] == pytest.approx(0.01 * 0.5 / 1.25, rel=1e-14)
    assert row["11"] == pytest.approx(0.01 * 0.5 / 1.25, rel=1e-14)
    assert row["12"] == pytest.approx(0.01 * 0.25 / 1.25, rel=1e-14)
    assert row["9.3"] == pytest.approx(0.001, rel=1e-14)  # rate2 / 1 allele outside the group
    assert row["10"] == pytest.approx(1 - 0.01 - 0.001, rel=1e-14)
    micro = dict(zip(alleles, m[1], strict=True))  # 9.3 is alone in its group
    assert micro["9.3"] == pytest.approx(1 - 0.001, rel=1e-14)
    assert micro["10"] == pytest.approx(0.001 / 4, rel=1e-14)
    # all alleles in one group: the diagonal is 1 - rate
    m2 = mutation_matrix("stepwise", ["9", "10"], [0.5, 0.5], 0.01, rate2=0.001, range_=0.5)
    assert np.allclose(m2, [[0.99, 0.01], [0.01, 0.99]], atol=0)


def test_stepwise_groups_by_rounded_suffix() -> None:
    # (31.2 - 31) * 10 and (32.2 - 32) * 10 differ in floating point; pedmut rounds them into
    # one group, so 31.2 -> 32.2 is a one-step mutation, not a microvariant change.
    alleles = ["31", "31.2", "32.2"]
    m = mutation_matrix("stepwise", alleles, [0.3, 0.3, 0.4], 0.01, rate2=0.001, range_=0.5)
    assert m[1, 2] == pytest.approx(0.01, rel=1e-14)
    assert m[1, 0] == pytest.approx(0.001, rel=1e-14)


def test_onestep() -> None:
    m = mutation_matrix("onestep", ["8", "9", "10", "12"], [0.25] * 4, 0.02)
    assert np.allclose(
        m,
        [[0.98, 0.02, 0, 0], [0.01, 0.98, 0.01, 0], [0, 0.02, 0.98, 0], [0, 0, 0, 1]],
        atol=1e-16,
    )
    with pytest.raises(MutationModelError, match="microvariant"):
        mutation_matrix("onestep", ["9", "9.3", "10"], [0.3, 0.3, 0.4], 0.02)


def test_single_allele_is_identity() -> None:
    for model in ("equal", "proportional", "stepwise", "onestep"):
        assert mutation_matrix(model, ["7"], [1.0], 0.1).tolist() == [[1.0]]


alleles_st = st.lists(
    st.sampled_from(["6", "7", "8", "9", "9.3", "10", "11", "12", "13.2", "14"]),
    min_size=2,
    max_size=8,
    unique=True,
)


@settings(max_examples=100, deadline=None)
@given(alleles_st, st.floats(0, 0.2), st.floats(0, 0.05), st.floats(0.05, 1.0), st.data())
def test_rows_are_distributions(
    alleles: list[str], rate: float, rate2: float, range_: float, data: st.DataObject
) -> None:
    raw = np.array(data.draw(st.lists(st.floats(0.05, 1), min_size=len(alleles),
                                      max_size=len(alleles))))  # fmt: skip
    p = raw / raw.sum()
    for model in ("equal", "proportional", "stepwise", "onestep"):
        try:
            m = mutation_matrix(model, alleles, p, rate, rate2=rate2, range_=range_)
        except MutationModelError:
            assert model in ("proportional", "onestep")
            continue
        assert np.all(m >= 0) and np.all(m <= 1)
        assert np.allclose(m.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_rates_file_and_sexes(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("locus,rate,paternal_rate,maternal_rate\nvWA,0.002,0.003,\nTH01,0.001,,\n")
    rates = load_mutation_rates(path)
    assert rates.rates("vWA") == (0.003, 0.002)
    assert rates.rates("TH01") == (0.001, 0.001)
    with pytest.raises(MutationModelError, match="no mutation rate"):
        rates.rates("FGA")
    assert load_mutation_rates(path, default=0.004).rates("FGA") == (0.004, 0.004)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("locus,rate\nvWA,abc\n", ["line 2", "'vWA'", "'rate'"]),
        ("locus,rate\nvWA,1.5\n", ["line 2", "probability"]),
        ("locus,rate\nvWA,0.1\nVWA,0.2\n", ["line 3", "twice"]),
        ("locus,mu\nvWA,0.1\n", ["header"]),
        ("locus,rate\nvWA\n", ["line 2", "fields"]),
    ],
)
def test_rates_file_errors(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(MutationModelError) as caught:
        load_mutation_rates(path)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_rates_file_unknown_locus(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("locus,rate\nD99S1,0.1\n")
    with pytest.raises(LocusError, match=r"line 2.*D99S1"):
        load_mutation_rates(path)


def test_shipped_rate_files() -> None:
    for path in FIXTURES.glob("mutation_rates_*.csv"):
        rates = load_mutation_rates(path)
        assert len(rates.per_locus) == 17
        assert all(0 < r < 0.01 for pair in rates.per_locus.values() for r in pair)


def test_model_uses_sex_specific_rates() -> None:
    model = MutationModel("equal", MutationRates.uniform(0.01, paternal=0.02, maternal=0.004))
    alleles = LocusAlleles("vWA", ("14", "15", "16"), np.array([0.3, 0.3, 0.4]), ())
    matrices = model.matrices(alleles)
    assert matrices is not None
    paternal, maternal = matrices
    assert paternal[0, 0] == pytest.approx(0.98) and maternal[0, 0] == pytest.approx(0.996)
    assert MutationModel().matrices(alleles) is None
    with pytest.raises(MutationModelError):
        MutationModel("equal")  # no rates
    with pytest.raises(MutationModelError):
        MutationModel("zigzag", MutationRates.uniform(0.01))
