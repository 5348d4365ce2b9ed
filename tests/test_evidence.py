"""Null distributions of the LR: brute force, E[LR], Monte Carlo, importance sampling, bounds."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from brute_force import brute_force_likelihood
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_brute_force import CASES

from kinmatch import (
    AlleleFrequencies,
    MutationModel,
    MutationRates,
    Profile,
    kinship_lr,
    load_frequencies,
    locus_lr,
    read_profiles,
)
from kinmatch.alleles import Genotype, make_genotype
from kinmatch.errors import CaseError
from kinmatch.evidence import (
    SUPPORT_DATABASE_CAUTION,
    LocusNull,
    NullDistribution,
    NullModel,
    assess,
    database_verdict,
    expected_unrelated,
    null_distribution,
    posterior_relative,
)
from kinmatch.evidence import grid as ev
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.pedigree import pedigree_likelihood
from kinmatch.relationships import get_relationship
from kinmatch.search import Searcher
from kinmatch.store import ReferenceStore
from kinmatch.tables import TableBuilder

ROOT = Path(__file__).parent.parent
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"
EXAMPLES = ROOT / "fixtures" / "examples" / "profiles.csv"
STEPWISE = MutationModel("stepwise", MutationRates.uniform(0.01, paternal=0.02, maternal=0.005),
                         rate2=0.001, range=0.5)  # fmt: skip
AABB = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6, range=0.5)

# (relationship, query roles, free role): every single-reference comparison the engine makes
SINGLE = [
    ("parent-child", ("child",), "parent"),
    ("parent-child", ("parent",), "child"),
    *((name, ("person2",), "person1") for name in
      ("full-siblings", "half-siblings", "grandparent", "avuncular", "first-cousins")),
    *((name, ("person1",), "person2") for name in
      ("full-siblings", "half-siblings", "grandparent", "avuncular", "first-cousins")),
    ("parents-child", ("father", "mother"), "child"),
]  # fmt: skip
LOCUS_NAMES = ["D8S1179", "TH01", "vWA", "TPOX"]


# -- brute force ------------------------------------------------------------------------------


def genotypes_of(alleles: tuple[str, ...]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(alleles)) for j in range(i, len(alleles))]


def brute_locus(
    relationship: str,
    locus: str,
    query: Mapping[str, Genotype],
    free: str,
    frequencies: AlleleFrequencies,
    theta: float,
    mutation: MutationModel,
    sex: str,
) -> tuple[list[float], list[float]]:
    """(LR, P) of every genotype of the free person: LR by the core's locus_lr, P by the
    independent brute-force twin of H2 (its pedigree written in test_brute_force.py: the
    POI unrelated, the relatives with their H1 ancestry), normalised."""
    alleles = frequencies.locus_alleles(locus, [a for g in query.values() for a in g])
    index = {a: i for i, a in enumerate(alleles.alleles)}
    h2 = CASES[relationship].pedigrees(sex)[1]
    matrices = mutation.matrices(alleles)
    paternal, maternal = matrices if matrices is not None else (None, None)
    lrs, weights = [], []
    for i, j in genotypes_of(alleles.alleles):
        genotype = make_genotype(alleles.alleles[i], alleles.alleles[j])
        result = locus_lr(relationship, locus, {**query, free: genotype}, frequencies,
                          theta=theta, mutation=mutation, transmitter_sex=sex)  # fmt: skip
        typed = {role: (index[g[0]], index[g[1]]) for role, g in query.items()} | {free: (i, j)}
        lrs.append(result.lr)
        weights.append(brute_force_likelihood(h2, typed, alleles.frequencies, theta=theta,
                                              paternal=paternal, maternal=maternal))  # fmt: skip
    total = math.fsum(weights)
    return lrs, [w / total for w in weights]


def brute_couple_locus(
    locus: str,
    child: Genotype,
    frequencies: AlleleFrequencies,
    theta: float,
    mutation: MutationModel,
) -> tuple[list[float], list[float]]:
    alleles = frequencies.locus_alleles(locus, child)
    index = {a: i for i, a in enumerate(alleles.alleles)}
    founders = [("child", "M", None, None), ("father", "M", None, None),
                ("mother", "F", None, None)]  # fmt: skip
    lrs, weights = [], []
    for f in genotypes_of(alleles.alleles):
        for m in genotypes_of(alleles.alleles):
            gf = make_genotype(alleles.alleles[f[0]], alleles.alleles[f[1]])
            gm = make_genotype(alleles.alleles[m[0]], alleles.alleles[m[1]])
            result = locus_lr("parents-child", locus, {"child": child, "father": gf,
                                                        "mother": gm}, frequencies,
                              theta=theta, mutation=mutation)  # fmt: skip
            typed = {"child": (index[child[0]], index[child[1]]), "father": f, "mother": m}
            lrs.append(result.lr)
            weights.append(brute_force_likelihood(founders, typed, alleles.frequencies,
                                                   theta=theta))  # fmt: skip
    total = math.fsum(weights)
    return lrs, [w / total for w in weights]


def combine(per_locus: list[tuple[list[float], list[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Every combination of the loci: (log10 LR, -inf for LR 0; probability)."""
    values, probs = np.zeros(1), np.ones(1)
    for lrs, weights in per_locus:
        lr = np.array(lrs)
        with np.errstate(divide="ignore"):
            logs = np.where(lr > 0, np.log10(np.where(lr > 0, lr, 1.0)), -np.inf)
        values = (values[:, None] + logs[None, :]).ravel()
        probs = (probs[:, None] * np.array(weights)[None, :]).ravel()
    return values, probs


def grouped(values: np.ndarray, probs: np.ndarray, tol: float = 1e-9) -> list[tuple[float, float]]:
    """Distinct finite values (runs closer than tol merged) with their probabilities."""
    finite = np.isfinite(values)
    order = np.argsort(values[finite])
    v, p = values[finite][order], probs[finite][order]
    out: list[tuple[float, float]] = []
    for value, prob in zip(v.tolist(), p.tolist(), strict=True):
        if out and value - out[-1][0] <= tol:
            out[-1] = (out[-1][0], out[-1][1] + prob)
        else:
            out.append((value, prob))
    return out


def assert_matches_brute_force(
    dist: NullDistribution, values: np.ndarray, probs: np.ndarray
) -> None:
    assert dist.method == "exact"
    assert dist.p_zero == pytest.approx(float(probs[~np.isfinite(values)].sum()), abs=1e-12)
    ours = grouped(*dist.atoms())
    theirs = grouped(values, probs)
    assert len(ours) == len(theirs)
    for (v1, p1), (v2, p2) in zip(ours, theirs, strict=True):
        assert v1 == pytest.approx(v2, abs=1e-12 * max(1.0, abs(v2)))
        assert p1 == pytest.approx(p2, abs=1e-12)
    for value, _ in theirs:  # the tail at every atom
        expected = float(probs[values >= value - 1e-9].sum())
        assert dist.p_at_least(value) == pytest.approx(expected, abs=1e-12, rel=1e-12)


# -- random small tables ----------------------------------------------------------------------


@st.composite
def small_tables(draw: st.DrawFn, max_alleles: int = 5) -> AlleleFrequencies:
    n_loci = draw(st.integers(2, 4))
    table = {}
    for locus in LOCUS_NAMES[:n_loci]:
        n = draw(st.integers(2, max_alleles))
        weights = [draw(st.integers(1, 20)) for _ in range(n)]
        table[locus] = {str(10 + k): w / sum(weights) for k, w in enumerate(weights)}
    return AlleleFrequencies.from_dict(table)


def draw_genotype(data: st.DataObject, frequencies: AlleleFrequencies, locus: str) -> Genotype:
    pool = [*frequencies[locus].alleles, "30"]  # "30" is in no table: a rare allele
    a, b = data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2))
    return make_genotype(a, b)


SLOW = [HealthCheck.too_slow]
THETAS = st.sampled_from([0.0, 0.01, 0.05])
MUTATIONS = st.sampled_from([MutationModel(), STEPWISE])


@settings(max_examples=80, deadline=None, suppress_health_check=SLOW)
@given(st.sampled_from(SINGLE), small_tables(), THETAS, MUTATIONS, st.sampled_from(["M", "F"]),
       st.data())  # fmt: skip
def test_single_equals_brute_force(
    case: tuple[str, tuple[str, ...], str],
    frequencies: AlleleFrequencies,
    theta: float,
    mutation: MutationModel,
    sex: str,
    data: st.DataObject,
) -> None:
    relationship, query_roles, free = case
    loci = list(frequencies)
    query = {role: {locus: draw_genotype(data, frequencies, locus) for locus in loci}
             for role in query_roles}  # fmt: skip
    if len(query_roles) == 2 and data.draw(st.booleans()):  # a couple with one parent untyped
        del query["mother"][loci[0]]
    model = NullModel.from_settings(frequencies, theta=theta, mutation=mutation)
    dist = model.single(relationship, query, free, transmitter_sex=sex)
    per_locus = [
        brute_locus(relationship, locus, {r: g[locus] for r, g in query.items() if locus in g},
                    free, frequencies, theta, mutation, sex)
        for locus in loci
    ]  # fmt: skip
    values, probs = combine(per_locus)
    assert_matches_brute_force(dist, values, probs)
    # E[LR] = sum over every combination of P * LR
    assert dist.expected_lr() == pytest.approx(float(np.sum(probs * 10.0**values)), rel=1e-12)
    # one whole reference profile: the product of the per-locus LRs is the core's kinship_lr
    picks = [data.draw(st.integers(0, len(lrs) - 1)) for lrs, _ in per_locus]
    reference = {}
    for locus, pick in zip(loci, picks, strict=True):
        typed = [a for g in query.values() if locus in g for a in g[locus]]
        alleles = frequencies.locus_alleles(locus, typed).alleles
        i, j = genotypes_of(alleles)[pick]
        reference[locus] = make_genotype(alleles[i], alleles[j])
    persons = {role: Profile(role, g, sex=sex) for role, g in query.items()}
    persons[free] = Profile(free, reference, sex=sex)
    whole = kinship_lr(relationship, persons, frequencies, theta=theta, mutation=mutation)
    product = math.prod(lrs[pick] for (lrs, _), pick in zip(per_locus, picks, strict=True))
    assert whole.lr == pytest.approx(product, rel=1e-12, abs=1e-300)


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(small_tables(max_alleles=3), THETAS, MUTATIONS, st.data())
def test_couples_equal_brute_force(
    frequencies: AlleleFrequencies, theta: float, mutation: MutationModel, data: st.DataObject
) -> None:
    loci = list(frequencies)[:3]
    child = {locus: draw_genotype(data, frequencies, locus) for locus in loci}
    patterns = {locus: data.draw(st.sampled_from(["both", "both", "father", "mother"]))
                for locus in loci}  # fmt: skip
    model = NullModel.from_settings(frequencies, theta=theta, mutation=mutation)
    # up to 100 couples per locus, all distinct with mutation: enumerate 100^3 exactly
    dist = NullDistribution(model.couples(child, loci=patterns).loci, exact_limit=1 << 20)
    per_locus = []
    for locus, who in patterns.items():
        if who == "both":
            per_locus.append(brute_couple_locus(locus, child[locus], frequencies, theta, mutation))
        else:
            per_locus.append(brute_locus("parent-child", locus, {"child": child[locus]}, "parent",
                                         frequencies, theta, mutation,
                                         "M" if who == "father" else "F"))  # fmt: skip
    values, probs = combine(per_locus)
    assert_matches_brute_force(dist, values, probs)


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(st.sampled_from(SINGLE), small_tables(), st.sampled_from([0.0, 0.05]), MUTATIONS,
       st.booleans(), st.data())  # fmt: skip
def test_grid_brackets_the_exact_tail(
    case: tuple[str, tuple[str, ...], str],
    frequencies: AlleleFrequencies,
    theta: float,
    mutation: MutationModel,
    force_fft: bool,
    data: st.DataObject,
) -> None:
    """The bracketing grid (direct or FFT) always contains the exact tail."""
    relationship, query_roles, free = case
    query = {role: {locus: draw_genotype(data, frequencies, locus) for locus in frequencies}
             for role in query_roles}  # fmt: skip
    exact = NullModel.from_settings(frequencies, theta=theta, mutation=mutation).single(
        relationship, query, free
    )
    with pytest.MonkeyPatch.context() as patch:
        if force_fft:
            patch.setattr(ev, "_DIRECT_CHEAP", 0.0)
            patch.setattr(ev, "_FFT_WEIGHT", 0.0)
        grid = NullDistribution(exact.loci, exact_limit=0)
        assert grid._level0().engine == ("fft" if force_fft else "direct")
        values, _ = exact.atoms()
        for x in [*values[:: max(1, len(values) // 40)].tolist(), float(values[-1])]:
            truth = exact.p_at_least(x)
            coarse = grid.tail(x, refine=False)
            assert coarse.lower <= truth * (1 + 1e-12) and truth <= coarse.upper * (1 + 1e-12)
        x = float(values[len(values) // 2])
        refined = grid.tail(x)
        assert refined.lower <= exact.p_at_least(x) * (1 + 1e-12) <= refined.upper * (1 + 2e-12)
    assert grid.method == "grid"
    assert grid.p_zero == pytest.approx(exact.p_zero, abs=1e-15)


# -- E[LR | unrelated] ------------------------------------------------------------------------

# frequencies that sum to exactly 1 in binary floating point
EXACT_TABLE = AlleleFrequencies.from_dict({
    "D8S1179": {"10": 0.125, "11": 0.25, "12": 0.5, "13": 0.0625, "14": 0.0625},
    "TH01": {"6": 0.375, "7": 0.125, "9.3": 0.5},
    "vWA": {"14": 0.75, "15": 0.25},
})  # fmt: skip
QUERY_A = {"D8S1179": ("10", "13"), "TH01": ("9.3", "9.3"), "vWA": ("14", "15")}
QUERY_B = {"D8S1179": ("12", "12"), "TH01": ("6", "7"), "vWA": ("15", "15")}
PROPORTIONAL = MutationModel("proportional", MutationRates.uniform(0.02, maternal=0.01))


def query_for(roles: tuple[str, ...]) -> dict[str, dict[str, Genotype]]:
    return {role: (QUERY_A if k == 0 else QUERY_B) for k, role in enumerate(roles)}


@pytest.mark.parametrize("case", SINGLE, ids=lambda c: f"{c[0]}:{'+'.join(c[1])}")
@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_expected_lr_is_one(case: tuple[str, tuple[str, ...], str], theta: float) -> None:
    """Without mutation (any theta) and with a stationary model at theta 0: E[LR] = 1."""
    relationship, roles, free = case
    settings_ = [MutationModel()] + ([PROPORTIONAL] if theta == 0 else [])
    for mutation in settings_:
        for sex in ("M", "F"):
            model = NullModel.from_settings(EXACT_TABLE, theta=theta, mutation=mutation)
            dist = model.single(relationship, query_for(roles), free, transmitter_sex=sex)
            assert dist.expected_lr() == pytest.approx(1.0, abs=1e-9)
            values, probs = dist.atoms()  # the distribution itself, not only the product
            assert math.fsum((probs * 10.0**values).tolist()) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["FGA", "Penta E", "D2S1338"]), st.randoms(use_true_random=False))
def test_couple_locus_at_a_real_locus_holds_the_cores_lrs(locus: str, rng: random.Random) -> None:
    """At a locus of 20-35 alleles (the compiled pass over up to 400,000 couples): the LR of
    random couples by the core's locus_lr is a value of the per-locus null, with weight."""
    table = load_frequencies(CHINA)
    alleles = table[locus].alleles
    child = make_genotype(rng.choice(alleles), rng.choice(alleles))
    model = NullModel.from_settings(table, theta=0.01, mutation=STEPWISE)
    null = model.couple_locus(locus, child)
    assert math.fsum(null.probability.tolist()) + null.p_zero == pytest.approx(1.0, abs=1e-12)
    for _ in range(5):
        father = make_genotype(rng.choice(alleles), rng.choice(alleles))
        mother = make_genotype(rng.choice(alleles), rng.choice(alleles))
        lr = locus_lr("parents-child", locus, {"child": child, "father": father,
                                                "mother": mother}, table, theta=0.01,
                      mutation=STEPWISE).lr  # fmt: skip
        assert lr > 0
        nearest = np.min(np.abs(null.log10_lr - math.log10(lr)))
        assert nearest <= 1e-12 * max(1.0, abs(math.log10(lr)))


@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_expected_lr_of_couples_is_one(theta: float) -> None:
    model = NullModel.from_settings(EXACT_TABLE, theta=theta)
    patterns = {"D8S1179": "both", "TH01": "father", "vWA": "mother"}
    assert model.couples(QUERY_A, loci=patterns).expected_lr() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("mutation", [STEPWISE, PROPORTIONAL], ids=["stepwise", "proportional"])
@pytest.mark.parametrize("case", SINGLE, ids=lambda c: f"{c[0]}:{'+'.join(c[1])}")
def test_expected_lr_with_mutation_is_the_query_probability_ratio(
    case: tuple[str, tuple[str, ...], str], mutation: MutationModel
) -> None:
    """With mutation and theta E[LR | query] = P(query | H1) / P(query | H2): 1 for a query of
    founders (the parent of a duo, a couple), not for a child (Simonsson & Mostad)."""
    relationship, roles, free = case
    rel = get_relationship(relationship)
    query = query_for(roles)
    model = NullModel.from_settings(EXACT_TABLE, theta=0.05, mutation=mutation)
    dist = model.single(relationship, query, free)
    ratio = 1.0
    h1_ped, h2_ped = rel.pedigrees("M")
    for locus in EXACT_TABLE:
        alleles = EXACT_TABLE.locus_alleles(locus, [a for g in query.values() for a in g[locus]])
        coded = {role: (alleles.index(g[locus][0]), alleles.index(g[locus][1]))
                 for role, g in query.items()}  # fmt: skip
        matrices = mutation.matrices(alleles)
        p = alleles.frequencies
        h1 = pedigree_likelihood(h1_ped, coded, p, theta=0.05, matrices=matrices)
        ratio *= h1 / pedigree_likelihood(h2_ped, coded, p, theta=0.05, matrices=matrices)
    assert dist.expected_lr() == pytest.approx(ratio, rel=1e-9)
    founders = roles in (("parent",), ("father", "mother")) or (
        relationship == "grandparent" and roles == ("person1",)
    )
    if founders:
        assert dist.expected_lr() == pytest.approx(1.0, abs=1e-9)
    elif roles == ("child",):
        assert abs(dist.expected_lr() - 1.0) > 1e-6  # a real effect, not rounding


# -- the real China table ---------------------------------------------------------------------

LOCI_23 = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))


@pytest.fixture(scope="module")
def china() -> AlleleFrequencies:
    return load_frequencies(CHINA)


def random_profile(table: AlleleFrequencies, seed: int) -> dict[str, Genotype]:
    rng = np.random.default_rng(seed)
    genotypes = {}
    for locus in LOCI_23:
        if locus not in table:
            continue
        p = np.array(table[locus].frequencies)
        a, b = rng.choice(len(p), size=2, p=p / p.sum())
        genotypes[locus] = make_genotype(table[locus].alleles[a], table[locus].alleles[b])
    return genotypes


def sample_null(dist: NullDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """log10 LR of n simulated unrelated references, drawn from each locus' table."""
    total = np.zeros(n)
    for locus in dist.loci:
        values = np.append(locus.log10_lr, -np.inf)
        probs = np.append(locus.probability, locus.p_zero)
        total += values[rng.choice(len(values), size=n, p=probs / probs.sum())]
    return total


@pytest.mark.parametrize(
    ("relationship", "mutation", "theta"),
    [("parent-child", AABB, 0.01), ("full-siblings", MutationModel(), 0.0)],
)
def test_monte_carlo_agrees_on_real_table(
    china: AlleleFrequencies, relationship: str, mutation: MutationModel, theta: float
) -> None:
    duo = relationship == "parent-child"
    query_role, free = ("child", "parent") if duo else ("person2", "person1")
    model = NullModel.from_settings(china, theta=theta, mutation=mutation)
    dist = model.single(relationship, {query_role: random_profile(china, 7)}, free)
    assert len(dist.loci) == 23 and dist.method == "grid"
    n = 1_000_000
    sample = sample_null(dist, n, np.random.default_rng(11))
    for q in (0.5, 0.9, 0.99, 0.999, 0.9999):
        x = float(np.quantile(sample, q))
        tail = dist.tail(x)
        assert tail.relative_error_bound <= 0.01
        p = tail.estimate
        empirical = float(np.mean(sample >= x - 1e-9))
        se = math.sqrt(p * (1 - p) / n)
        assert abs(empirical - p) <= 4 * se + (tail.upper - tail.lower) / 2, (x, p, empirical)


def test_importance_sampling_agrees_in_far_tail(china: AlleleFrequencies) -> None:
    """P(LR >= 10^10) for a duo, by sampling from per-locus tables tilted by LR^t."""
    model = NullModel.from_settings(china, theta=0.01)
    dist = model.single("parent-child", {"child": random_profile(china, 3)}, "parent")
    x = 10.0
    tail = dist.tail(x)
    assert 1e-20 < tail.estimate < 1e-8 and tail.relative_error_bound <= 0.01
    rng, n, t = np.random.default_rng(5), 200_000, 1.5
    total, log_weight = np.zeros(n), np.zeros(n)
    for locus in dist.loci:  # only positive LRs can reach 10^10
        tilted = locus.probability * 10.0 ** (t * locus.log10_lr)
        m = tilted.sum()
        pick = rng.choice(len(tilted), size=n, p=tilted / m)
        total += locus.log10_lr[pick]
        log_weight += math.log10(m)
    terms = np.where(total >= x - 1e-9, 10.0 ** (log_weight - t * total), 0.0)
    estimate, se = float(terms.mean()), float(terms.std() / math.sqrt(n))
    assert se < 0.1 * estimate  # the sampler does reach the tail
    assert abs(estimate - tail.estimate) <= 4 * se + (tail.upper - tail.lower) / 2


@pytest.mark.parametrize(
    ("mutation", "theta", "couple"),
    [(MutationModel(), 0.0, False), (AABB, 0.01, False), (AABB, 0.01, True)],
)
def test_accuracy_bound_down_to_1e_12(
    china: AlleleFrequencies, mutation: MutationModel, theta: float, couple: bool
) -> None:
    model = NullModel.from_settings(china, theta=theta, mutation=mutation)
    child = random_profile(china, 3)
    if couple:
        dist = model.couples(child)
    else:
        dist = model.single("parent-child", {"child": child}, "parent")
    assert dist.certify(1e-12) <= 0.01
    lo, hi = dist.min_log10_lr, dist.max_log10_lr  # the threshold where p = 1e-12
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if dist.tail(mid, refine=False).estimate > 1e-12 else (lo, mid)
    if dist.tail(lo, refine=False).upper >= 1e-12:
        tail = dist.tail(lo, refine=False)  # certified: no refinement needed
        assert tail.relative_error_bound <= 0.01
        assert tail.lower <= tail.estimate <= tail.upper
    # any threshold with a tail of 1e-12 or more, not only grid points, is within 1%
    for x in np.random.default_rng(2).uniform(dist.min_log10_lr, lo, size=200).tolist():
        assert dist.tail(x, refine=False).relative_error_bound <= 0.01
    far = dist.tail(dist.max_log10_lr - 0.5)  # far beyond 1e-12: still a valid bracket
    assert 0.0 <= far.lower <= far.estimate <= far.upper < 1e-12


def test_fft_levels_stay_within_their_error_bound(china: AlleleFrequencies) -> None:
    """The same grid distribution by FFT (whole range; tilted and windowed) and directly:
    they differ by no more than the FFT level's stated error."""
    dist = NullModel.from_settings(china, theta=0.01, mutation=AABB).couples(
        random_profile(china, 3)
    )
    h, n = 2.0**-8, len(dist.loci)
    binned = [ev.bin_values(v, q, h) for v, q in dist._cond]
    cases = [(binned, ev.NO_FLOOR, 0.0)]
    x = float(np.quantile(sample_null(dist, 100_000, np.random.default_rng(1)), 0.9999))
    k_floor = math.floor((x - 1.0) / h) - n + 1
    top = sum(b.top for b in binned)
    pruned = [ev.Binned(b.bins[keep], b.probs[keep])
              for b in binned for keep in [b.bins + (top - b.top) >= k_floor]]  # fmt: skip
    cases.append((pruned, k_floor, dist._tilt(x, h)))
    for parts, floor, tau in cases:
        fft = ev.fft_level(parts, h, floor, ev.fft_plan(parts, h, floor, tau))
        direct = ev.direct_level(parts, h, floor)
        assert fft.engine == "fft" and direct.engine == "direct"
        for k in range(max(fft.valid_from, direct.valid_from), top + 1, 7):
            gap = abs(fft.tail_at(k) - direct.tail_at(k))
            assert gap <= fft.err_at(k) + 2 * fft.rel * direct.tail_at(k) + 1e-300
        lower, upper, _ = fft.bracket(x, n)
        assert 0 < lower <= upper and (upper - lower) / (2 * lower) < 0.2  # not vacuous


# -- LR = 0, verdicts, posterior --------------------------------------------------------------


def test_lr_zero_point_mass(china: AlleleFrequencies) -> None:
    """No mutation: a reference sharing no allele with the child at a locus excludes."""
    child = random_profile(china, 3)
    dist = NullModel.from_settings(china).single("parent-child", {"child": child}, "parent")
    survive = 1.0
    for locus, genotype in child.items():
        alleles = china.locus_alleles(locus, genotype)
        p = alleles.frequencies / alleles.frequencies.sum()
        shared = [alleles.index(a) for a in set(genotype)]
        outside = 1.0 - p[shared].sum()
        survive *= 1.0 - outside**2  # P(the parent carries a child allele), Hardy-Weinberg
    assert dist.p_zero == pytest.approx(1.0 - survive, rel=1e-12)
    assert dist.p_zero > 0.999
    assert dist.p_at_least(None) == 1.0
    assert dist.p_at_least(-math.inf) == 1.0
    below = dist.tail(dist.min_log10_lr - 1.0)
    assert below.estimate == pytest.approx(survive, rel=1e-12) and below.method == "bound"
    assert dist.p_at_least(dist.max_log10_lr + 1e-6) == 0.0
    assert dist.quantile(0.5) == -math.inf


def test_locus_with_every_lr_zero() -> None:
    null = LocusNull.from_likelihoods("TH01", np.zeros(3), np.array([0.2, 0.3, 0.5]))
    dist = NullDistribution([null])
    assert dist.p_zero == 1.0 and dist.p_at_least(-5.0) == 0.0 and dist.p_at_least(None) == 1.0


def test_expected_unrelated_and_database_verdict() -> None:
    assert expected_unrelated(1e-6, 100_000) == pytest.approx(0.1)
    assert expected_unrelated(0.0, 10**7) == 0.0
    assert database_verdict("support", 0.01) == SUPPORT_DATABASE_CAUTION
    assert database_verdict("support", 0.0099) == "support"
    assert database_verdict("support", 5.0, bound=10.0) == "support"
    assert database_verdict("inconclusive", 50.0) == "inconclusive"
    assert database_verdict("exclusion", 50.0) == "exclusion"
    with pytest.raises(ValueError, match="n_searched"):
        expected_unrelated(1.5, 10)


def test_posterior_equals_direct_bayes() -> None:
    """Three references; H0: none is the relative, H_i: reference i is. P(data | H_i) differs
    from P(data | H0) only in reference i's factor, related instead of unrelated."""
    unrelated = [0.02, 0.001, 0.3]  # P(reference i's profile | query, unrelated)
    related = [0.5, 0.0, 0.9]  # ... | query, related
    prior = 0.4
    n = len(unrelated)
    joint_h0 = (1 - prior) * math.prod(unrelated)
    joints = [prior / n * related[i] * math.prod(unrelated[:i] + unrelated[i + 1 :])
              for i in range(n)]  # fmt: skip
    evidence_total = joint_h0 + sum(joints)
    lrs = [r / u for r, u in zip(related, unrelated, strict=True)]
    for i in range(n):
        expected = joints[i] / evidence_total
        assert posterior_relative(lrs[i], sum(lrs), n, prior) == pytest.approx(expected, rel=1e-12)
    assert posterior_relative(5.0, 5.0, 1, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="prior"):
        posterior_relative(1.0, 0.5, 3, 0.5)


# -- search hits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, china: AlleleFrequencies) -> Searcher:
    store = ReferenceStore.create(tmp_path_factory.mktemp("store"))
    store.ingest_csv([EXAMPLES])
    mutation = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6)
    return Searcher(store, china, theta=0.01, mutation=mutation)


def test_hits_get_their_evidence(searcher: Searcher) -> None:
    profiles = read_profiles(EXAMPLES)
    model = NullModel(searcher.tables)
    results = [
        searcher.search(profiles["U01"], "parent-child", top_k=3),
        searcher.search(profiles["U01"], "parents-child", top_k=2),
        searcher.search(profiles["U01"], "full-siblings", top_k=2),
        searcher.search_couple(profiles["K01-F"], profiles["K01-M"], top_k=2),
    ]
    for result in results:
        evidence = assess(model, result, bound=0.01)
        assert len(evidence) == len(result.hits) > 0
        for hit, item in zip(result.hits, evidence, strict=True):
            breakdown = hit.breakdown
            assert set(item.loci) == set(breakdown.loci_compared)
            assert item.p_unrelated_bounds[0] <= item.p_unrelated <= item.p_unrelated_bounds[1]
            assert item.expected_unrelated == pytest.approx(result.n_scored * item.p_unrelated)
            assert item.verdict == database_verdict(hit.verdict, item.expected_unrelated)
            null = model.for_hit(hit)
            assert null is model.for_hit(hit)  # cached per query, relationship and loci
            if hit.log10_lr is not None:  # the hit's own LR is a value of the null
                assert null.min_log10_lr - 1e-9 <= hit.log10_lr <= null.max_log10_lr + 1e-9
                assert item.p_unrelated > 0
            assert item.to_dict()["verdict"] == item.verdict
    top = results[1].hits[0]  # U01 is K01's child: a strong, rare match
    assert assess(model, results[1])[0].p_unrelated < 1e-12 and top.log10_lr is not None


def test_hit_sex_and_couple_patterns(searcher: Searcher) -> None:
    """A mother reference uses the maternal matrix; a couple with an untyped parent at a locus
    uses that locus' duo."""
    profiles = read_profiles(EXAMPLES)
    model = NullModel(searcher.tables)
    child = profiles["U01"].genotypes
    by_sex = MutationModel("stepwise", MutationRates.uniform(0.002, maternal=0.0005))
    sexed = NullModel.from_settings(searcher.frequencies, theta=0.01, mutation=by_sex)
    father = sexed.single("parent-child", {"child": child}, "parent", transmitter_sex="M")
    mother = sexed.single("parent-child", {"child": child}, "parent", transmitter_sex="F")
    assert father is not mother  # the child's marginal, hence E[LR], is the same for both
    assert father.expected_lr() == pytest.approx(mother.expected_lr(), rel=1e-12)
    differ = [not np.allclose(f.log10_lr, m.log10_lr, rtol=0, atol=1e-9)
              for f, m in zip(father.loci, mother.loci, strict=True)]  # fmt: skip
    assert all(differ)
    some = list(child)[:3]
    mixed = model.couples(child, loci={some[0]: "both", some[1]: "father", some[2]: "mother"})
    assert {n.locus for n in mixed.loci} == set(some)
    duo = model.couple_locus(some[1], child[some[1]], "father")
    assert duo is model.locus("parent-child", some[1], {"child": child[some[1]]}, "parent", "M")


def test_grids_are_shared_with_the_scan(searcher: Searcher) -> None:
    profiles = read_profiles(EXAMPLES)
    child = profiles["U02"].genotypes
    searcher.search(profiles["U02"], "parent-child", top_k=1)  # builds the score tables
    locus = next(iter(child))
    grids = searcher.tables.locus_grids("parent-child", locus, {"child": child[locus]}, "parent")
    again = searcher.tables.locus_grids("parent-child", locus, {"child": child[locus]}, "parent")
    assert grids is again and not grids.h1.flags.writeable


def test_uncompared_locus_is_refused(china: AlleleFrequencies) -> None:
    model = NullModel(TableBuilder(china))
    child = {"TH01": ("6", "9")}
    with pytest.raises(CaseError, match="not compared"):
        model.single("parent-child", {"child": child}, "parent", loci=["FGA"])
    with pytest.raises(CaseError, match="roles"):
        model.single("parent-child", {"person1": child}, "parent")
    empty = model.single("parent-child", {"child": {}}, "parent")
    assert empty.loci == () and empty.p_at_least(0.0) == 1.0 and empty.expected_lr() == 1.0


def test_null_distribution_convenience(china: AlleleFrequencies) -> None:
    child = Profile("C", random_profile(china, 4), sex="F")
    parent = Profile("P", random_profile(china, 5), sex="F")
    model = NullModel.from_settings(china, theta=0.01, mutation=AABB)
    ours = null_distribution("parent-child", {"child": child}, china, theta=0.01, mutation=AABB,
                             transmitter_sex="F")  # fmt: skip
    same = model.single("parent-child", {"child": child.genotypes}, "parent", transmitter_sex="F")
    assert ours.expected_lr() == same.expected_lr() and len(ours.loci) == 23
    by_parent = null_distribution("parent-child", {"parent": parent}, tables=model.tables)
    # a founder query: 1 but for the China loci's sums, which are only within 0.005 of 1
    assert by_parent.expected_lr() == pytest.approx(1.0, abs=0.005)
    loci = list(child.genotypes)[:4]
    couples = null_distribution("parents-child", {"child": child}, china, loci=loci)
    assert [n.locus for n in couples.loci] == sorted(loci, key=LOCI_23.index)
    assert couples.quantiles([0.0, 1.0])[1] <= couples.max_log10_lr
    with pytest.raises(CaseError, match="all roles but one"):
        null_distribution("paternity-trio", {"child": child}, china)


def test_summary_is_plain_json(china: AlleleFrequencies) -> None:
    model = NullModel.from_settings(china, theta=0.01)
    dist = model.single("full-siblings", {"person2": random_profile(china, 1)}, "person1")
    summary = dist.summary()
    assert summary["method"] == "grid" and len(summary["loci"]) == 23
    assert summary["expected_lr"] == pytest.approx(dist.expected_lr())
    median = summary["quantiles"]["0.5"]
    assert dist.p_at_least(median - 0.05) >= 0.5 - 0.02 and dist.p_at_least(median + 0.05) <= 0.52
    profile = Profile("X", random_profile(china, 1))
    assert dist is model.single("full-siblings", {"person2": profile.genotypes}, "person1")
