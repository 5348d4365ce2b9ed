"""Stationary (PM-stabilised) mutation models: hand-derived values, the properties pedmut's PM
transformation guarantees, refusals, and the point of it all: at theta 0 an untyped relative
changes nothing."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch import MutationModel, MutationRates, kinship_lr, load_frequencies, read_profiles
from kinmatch.cases import read_cases
from kinmatch.errors import CaseError, MutationModelError
from kinmatch.frequencies import LocusAlleles
from kinmatch.likelihood import locus_lr
from kinmatch.mutation import mutation_matrix, stabilize
from kinmatch.pedigree import Pedigree, Person, pedigree_likelihood

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples"
NIST = ROOT / "fixtures" / "freq_US-all_NIST1036.csv"
"""The NIST table: its rarest allele is 1/2070, so PM exists at every example locus with
stepwise 0.002 (the China table lists alleles at 0.0001, where it often does not)."""


# --- values derived by hand from the formula (not from the implementation) ----------------


def test_equal_two_alleles_by_hand() -> None:
    # M = [[0.9, 0.1], [0.1, 0.9]] has v = (1/2, 1/2); R = 0.1 and 1 - sum v_k M_kk = 0.1, so
    # d_i = v_i / p_i = (2.5, 0.625): S = [[1 - 0.25, 0.25], [0.0625, 1 - 0.0625]].
    m = mutation_matrix("equal", ["10", "11"], [0.2, 0.8], 0.1, stationary=True)
    assert np.allclose(m, [[0.75, 0.25], [0.0625, 0.9375]], rtol=0, atol=1e-15)


def test_equal_three_alleles_by_hand() -> None:
    # v is uniform, R = rate, so d_i = 1 / (3 p_i) = (5/3, 10/9, 2/3); rate / 2 = 0.03.
    m = mutation_matrix("equal", ["10", "11", "12"], [0.2, 0.3, 0.5], 0.06, stationary=True)
    expected = [
        [0.9, 0.05, 0.05],
        [1 / 30, 1 - 1 / 15, 1 / 30],
        [0.02, 0.02, 0.96],
    ]
    assert np.allclose(m, expected, rtol=0, atol=1e-15)


def test_pedmut_documentation_example_by_hand() -> None:
    # pedmut's makeStationary example: stepwise over 1, 2, 3 with p = (0.2, 0.3, 0.5), rate
    # 0.1, range 0.1. M rows: (0.9, 1/11, 1/110), (0.05, 0.9, 0.05), (1/110, 1/11, 0.9).
    # By symmetry v = (a, b, a); balance at 2: 0.1 b = 2 a / 11, so a = 11/42, b = 10/21.
    # R = 0.1 = 1 - sum v_k M_kk, so d = v / p = (55/42, 100/63, 11/21).
    m = mutation_matrix("stepwise", ["1", "2", "3"], [0.2, 0.3, 0.5], 0.1, rate2=0.01,
                        range_=0.1, stationary=True)  # fmt: skip
    expected = [
        [1 - 5.5 / 42, 5 / 42, 1 / 84],
        [5 / 63, 53 / 63, 5 / 63],
        [1 / 210, 1 / 21, 1 - 1.1 / 21],
    ]
    assert np.allclose(m, expected, rtol=0, atol=1e-15)


# --- what PM guarantees, for every model, allele set, frequencies and rate ------------------

alleles_st = st.lists(
    st.sampled_from(["6", "7", "8", "9", "9.3", "10", "11", "12", "13.2", "14", "15"]),
    min_size=2,
    max_size=9,
    unique=True,
)


def _reducible(m: np.ndarray) -> bool:
    """Whether some allele cannot reach some other one (a plain breadth-first search)."""
    n = len(m)
    for start in range(n):
        seen, todo = {start}, [start]
        while todo:
            i = todo.pop()
            for j in np.flatnonzero(m[i] > 0):
                if int(j) not in seen:
                    seen.add(int(j))
                    todo.append(int(j))
        if len(seen) < n:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    alleles_st,
    st.one_of(st.just(0.0), st.floats(1e-6, 0.05)),
    st.sampled_from([0.0, 1e-6, 0.001]),
    st.floats(0.05, 1.0),
    st.floats(0.98, 1.02),
    st.data(),
)
def test_stationary_properties(
    alleles: list[str], rate: float, rate2: float, range_: float, total: float,
    data: st.DataObject,
) -> None:  # fmt: skip
    raw = np.array(data.draw(st.lists(st.floats(0.02, 1), min_size=len(alleles),
                                      max_size=len(alleles))))  # fmt: skip
    p = raw / raw.sum() * total  # a comparison's frequencies need not sum to 1 exactly
    q = p / p.sum()
    for model in ("equal", "stepwise", "onestep"):
        try:
            m = mutation_matrix(model, alleles, p, rate, rate2=rate2, range_=range_)
        except MutationModelError:
            assert model == "onestep"
            continue
        try:
            s = mutation_matrix(model, alleles, p, rate, rate2=rate2, range_=range_,
                                stationary=True)  # fmt: skip
        except MutationModelError as exc:
            refused = str(exc)
        else:
            refused = ""
        if refused:
            # refused only where pedmut's PM has no (unique) solution
            assert "stationary (PM) transformation" in refused
            assert _reducible(m) or "does not exist" in refused
            continue
        assert np.allclose(p @ s, p, rtol=0, atol=1e-12)
        assert np.allclose(s.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert np.all(s >= 0.0) and np.all(s <= 1.0)
        # PM keeps the overall mutation rate 1 - sum_i p_i M_ii (pedmut's mutRate) ...
        assert float(q @ (1 - np.diag(s))) == pytest.approx(float(q @ (1 - np.diag(m))),
                                                            rel=1e-9, abs=1e-15)  # fmt: skip
        # ... and each row's relative mutation probabilities: S - I = diag(d) (M - I), d >= 0
        off = ~np.eye(len(alleles), dtype=bool)
        for i in range(len(alleles)):
            if 1 - m[i, i] > 0:
                d = (1 - s[i, i]) / (1 - m[i, i])
                assert d >= 0
                assert np.allclose(s[i, off[i]], d * m[i, off[i]], rtol=1e-9, atol=1e-15)
        # a stationary matrix is its own PM transformation
        assert np.allclose(stabilize(s, p), s, rtol=0, atol=1e-12)


def test_proportional_is_its_own_pm_transformation() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    m = mutation_matrix("proportional", ["1", "2", "3", "4"], p, 0.01)
    assert np.allclose(stabilize(m, p), m, rtol=0, atol=1e-15)


def test_rate_zero_and_one_allele_give_the_identity() -> None:
    for model in ("equal", "stepwise", "onestep"):
        m = mutation_matrix(model, ["7", "8", "9"], [0.2, 0.3, 0.5], 0.0, stationary=True)
        assert m.tolist() == np.eye(3).tolist()
        assert mutation_matrix(model, ["7"], [1.0], 0.01, stationary=True).tolist() == [[1.0]]


# --- where PM does not exist: clear errors, naming the allele or classes and the locus -------


def test_pm_that_does_not_exist_names_the_allele() -> None:
    # equal: d_1 (1 - M_11) = rate / (n p_1) = 0.5 / 0.4 = 1.25 > 1
    with pytest.raises(MutationModelError, match=r"does not exist: allele 10 .*1\.25 > 1"):
        mutation_matrix("equal", ["10", "11"], [0.2, 0.8], 0.5, stationary=True)


@pytest.mark.parametrize(
    ("model", "alleles", "rate2", "classes"),
    [
        ("onestep", ["8", "9", "12", "13"], 0.0, "8, 9; 12, 13"),  # a gap in the ladder
        ("onestep", ["8", "9", "11"], 0.0, "8, 9; 11"),  # 11 has no neighbour: never mutates
        ("stepwise", ["9", "9.3", "10"], 0.0, "9, 10; 9.3"),  # rate2 0: microvariants apart
    ],
)
def test_reducible_models_are_refused(
    model: str, alleles: list[str], rate2: float, classes: str
) -> None:
    p = np.full(len(alleles), 1 / len(alleles))
    with pytest.raises(MutationModelError, match="never mutate") as caught:
        mutation_matrix(model, alleles, p, 0.01, rate2=rate2, stationary=True)
    assert f"classes {classes}" in str(caught.value)
    # with rate2 > 0 the stepwise groups communicate and PM exists
    if model == "stepwise":
        s = mutation_matrix(model, alleles, p, 0.01, rate2=1e-4, stationary=True)
        assert np.allclose(p @ s, p, rtol=0, atol=1e-12)


def test_the_model_names_the_locus_and_a_case_fails_alone() -> None:
    model = MutationModel("equal", MutationRates.uniform(0.5), stationary=True)
    alleles = LocusAlleles("vWA", ("14", "15"), np.array([0.2, 0.8]), ())
    with pytest.raises(MutationModelError, match=r"locus 'vWA'.*does not exist.*rate 0\.5"):
        model.matrices(alleles)
    table = load_frequencies(NIST)
    with pytest.raises(CaseError, match=r"locus 'vWA'.*does not exist"):
        locus_lr("parent-child", "vWA", {"child": ("14", "15"), "parent": ("15", "16")},
                 table, mutation=model)  # fmt: skip


def test_stationary_is_refused_with_none_and_proportional() -> None:
    with pytest.raises(MutationModelError, match="model is none"):
        MutationModel("none", stationary=True)
    with pytest.raises(MutationModelError, match="stationary already"):
        MutationModel("proportional", MutationRates.uniform(0.01), stationary=True)
    with pytest.raises(MutationModelError, match="stationary already"):
        mutation_matrix("proportional", ["1", "2"], [0.5, 0.5], 0.01, stationary=True)


def test_the_cache_tells_stationary_from_plain() -> None:
    alleles = LocusAlleles("vWA", ("14", "15", "16"), np.array([0.2, 0.3, 0.5]), ())
    plain = MutationModel("stepwise", MutationRates.uniform(0.01), rate2=1e-4)
    stationary = MutationModel("stepwise", MutationRates.uniform(0.01), rate2=1e-4,
                               stationary=True)  # fmt: skip
    assert plain != stationary
    for first, second in ((plain, stationary), (stationary, plain)):
        a, b = first.matrices(alleles), second.matrices(alleles)
        assert a is not None and b is not None
        assert not np.allclose(a[0], b[0])
    s = stationary.matrices(alleles)
    assert s is not None
    assert np.allclose(alleles.frequencies @ s[0], alleles.frequencies, rtol=0, atol=1e-12)


# --- the point: at theta 0 an untyped relative changes nothing -------------------------------

ANCESTRY = Pedigree((
    Person("GF", "M"), Person("GM", "F"), Person("F", "M", "GF", "GM"), Person("M", "F"),
    Person("C", "M", "F", "M"),
))  # fmt: skip
"""C's father and grandparents are untyped: three meioses above the only typed person."""


@pytest.mark.parametrize("model", ["equal", "stepwise", "onestep"])
def test_untyped_ancestors_change_nothing(model: str) -> None:
    alleles = ("8", "9", "10", "11", "12")
    p = np.array([0.05, 0.15, 0.4, 0.3, 0.1])
    locus = LocusAlleles("TPOX", alleles, p, ())
    rates = MutationRates.uniform(0.004, paternal=0.006, maternal=0.002)
    stationary = MutationModel(model, rates, rate2=1e-4, stationary=True).matrices(locus)
    plain = MutationModel(model, rates, rate2=1e-4).matrices(locus)
    largest = 0.0
    for a, b in itertools.combinations_with_replacement(range(len(alleles)), 2):
        hardy_weinberg = p[a] ** 2 if a == b else 2 * p[a] * p[b]
        with_pm = pedigree_likelihood(ANCESTRY, {"C": (a, b)}, p, matrices=stationary)
        assert with_pm == pytest.approx(hardy_weinberg, rel=1e-12, abs=0)
        without = pedigree_likelihood(ANCESTRY, {"C": (a, b)}, p, matrices=plain)
        largest = max(largest, abs(without / hardy_weinberg - 1))
    assert largest > 1e-4  # without stabilisation the untyped ancestors do change it


# --- the search parameters and the command line ----------------------------------------------


def test_search_parameters_name_the_stationary_model(tmp_path: Path) -> None:
    from kinmatch.search import Searcher
    from kinmatch.store import ReferenceStore

    store = ReferenceStore.create(tmp_path / "store")
    store.ingest_csv([EXAMPLES / "profiles.csv"])
    table = load_frequencies(NIST)
    rates = MutationRates.uniform(0.002)
    plain = Searcher(store, table, mutation=MutationModel("stepwise", rates, rate2=1e-4))
    stable = Searcher(store, table, mutation=MutationModel("stepwise", rates, rate2=1e-4,
                                                           stationary=True))  # fmt: skip
    assert "stationary" not in plain.parameters["mutation"]  # earlier items keep their keys
    assert stable.parameters["mutation"]["stationary"] is True
    assert plain.parameters != stable.parameters
    json.dumps(stable.parameters)
    child = read_profiles(EXAMPLES / "profiles.csv")["U01"]
    hit = stable.search(child, "parent-child", top_k=1).hits[0]
    assert hit.lr == pytest.approx(hit.breakdown.lr, rel=1e-9)
    assert hit.lr != pytest.approx(plain.search(child, "parent-child", top_k=1).hits[0].lr,
                                   rel=1e-9)  # fmt: skip


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kinmatch", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


STEPWISE = ["--mutation-model", "stepwise", "--mutation-rate", "0.002", "--mutation-rate2",
            "0.0001"]  # fmt: skip


def test_cli_stationary_stepwise_changes_the_lr_as_the_api_does(tmp_path: Path) -> None:
    base = ["lr", "--frequencies", NIST, "--profiles", EXAMPLES / "profiles.csv",
            "--cases", EXAMPLES / "cases.csv", *STEPWISE]  # fmt: skip
    plain = run(*base)
    stable = run(*base, "--stationary-mutation")
    assert plain.returncode == 0 and stable.returncode == 0, stable.stderr
    before = [json.loads(line) for line in plain.stdout.splitlines()]
    after = [json.loads(line) for line in stable.stdout.splitlines()]
    assert all(r["error"] is None for r in after)
    assert any(a["lr"] != pytest.approx(b["lr"], rel=1e-6)
               for a, b in zip(after, before, strict=True))  # fmt: skip
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-4, stationary=True)
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    frequencies = load_frequencies(NIST)
    cases = read_cases(EXAMPLES / "cases.csv", profiles)
    for case, record in zip(cases, after, strict=True):
        expected = kinship_lr(case.relationship, case.persons(profiles), frequencies,
                              mutation=model)  # fmt: skip
        assert record["lr"] == pytest.approx(expected.lr, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "not none"),
        (["--mutation-model", "proportional", "--mutation-rate", "0.002"], "stationary already"),
    ],
)
def test_cli_refuses_stationary_without_a_stabilisable_model(
    args: list[str], fragment: str
) -> None:
    done = run("lr", "--frequencies", NIST, "--profiles", EXAMPLES / "profiles.csv",
               "--cases", EXAMPLES / "cases.csv", *args, "--stationary-mutation")  # fmt: skip
    assert done.returncode == 2
    assert "--stationary-mutation" in done.stderr and fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_a_ladder_with_a_gap_is_stabilised_accurately() -> None:
    """Alleles 6, 7, 14, 15 with range 0.125: the two pairs mutate into each other with
    probability ~1e-9, so the stationary distribution's linear system is ill-conditioned
    (solving it left errors of 6e-12, found by hypothesis). State reduction keeps full
    accuracy: the stationary matrix is its own PM transformation to 1e-15."""
    alleles, p = ["6", "7", "14", "15"], np.full(4, 0.25)
    s = mutation_matrix("stepwise", alleles, p, 0.03125, range_=0.125, stationary=True)
    assert np.allclose(p @ s, p, rtol=0, atol=1e-15)
    assert np.allclose(stabilize(s, p), s, rtol=0, atol=1e-15)
