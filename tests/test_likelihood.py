"""Likelihood ratios: textbook values, probability laws and the case-level result."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch import (
    AlleleFrequencies,
    CaseError,
    MutationModel,
    MutationRates,
    Profile,
    kinship_lr,
    locus_lr,
)
from kinmatch.likelihood import RELATED_NEED_MUTATION
from kinmatch.relationships import RELATIONSHIPS
from kinmatch.verdict import VerdictRule

LOCUS = "D8S1179"
P = {"10": 0.1, "11": 0.2, "12": 0.3, "13": 0.4}
FREQS = AlleleFrequencies.from_dict({LOCUS: P})
pa, pb, pc = P["10"], P["11"], P["12"]
a, b, c, d = "10", "11", "12", "13"


def lr(relationship: str, theta: float = 0.0, **genotypes: tuple[str, str]) -> float:
    return locus_lr(relationship, LOCUS, genotypes, FREQS, theta=theta).lr


# -- textbook values, no mutation, theta 0 (AABB standards; Evett & Weir 1998, ch. 7) --------

DUO = [  # child, parent, paternity index
    ((a, a), (a, a), 1 / pa),
    ((a, a), (a, b), 1 / (2 * pa)),
    ((a, b), (a, a), 1 / (2 * pa)),
    ((a, b), (a, c), 1 / (4 * pa)),
    ((a, b), (b, c), 1 / (4 * pb)),
    ((a, b), (a, b), (pa + pb) / (4 * pa * pb)),
    ((a, b), (c, d), 0.0),
    ((a, a), (b, c), 0.0),
]


@pytest.mark.parametrize(("child", "parent", "expected"), DUO)
def test_duo_textbook(child: tuple[str, str], parent: tuple[str, str], expected: float) -> None:
    assert lr("parent-child", child=child, parent=parent) == pytest.approx(expected, rel=1e-12)


TRIO = [  # child, mother, alleged father, paternity index = 1 / P(obligate paternal allele)
    ((a, b), (a, c), (b, c), 1 / (2 * pb)),
    ((a, b), (a, c), (b, b), 1 / pb),
    ((a, b), (a, a), (b, d), 1 / (2 * pb)),
    ((a, b), (a, b), (a, c), 1 / (2 * (pa + pb))),
    ((a, b), (a, b), (a, b), 1 / (pa + pb)),
    ((a, b), (a, b), (a, a), 1 / (pa + pb)),
    ((a, a), (a, b), (a, c), 1 / (2 * pa)),
    ((a, a), (a, b), (a, a), 1 / pa),
    ((a, b), (a, c), (a, c), 0.0),
]


@pytest.mark.parametrize(("child", "mother", "father", "expected"), TRIO)
def test_paternity_trio_textbook(
    child: tuple[str, str], mother: tuple[str, str], father: tuple[str, str], expected: float
) -> None:
    got = lr("paternity-trio", child=child, mother=mother, parent=father)
    assert got == pytest.approx(expected, rel=1e-12)


COUPLE = [  # child, father, mother: 1 / (P(child) under H2) times P(child | parents)
    ((a, b), (a, c), (b, d), 0.25 / (2 * pa * pb)),
    ((a, b), (a, b), (a, b), 0.5 / (2 * pa * pb)),
    ((a, a), (a, a), (a, a), 1 / pa**2),
    ((a, a), (a, b), (a, c), 0.25 / pa**2),
    ((a, b), (a, a), (b, b), 1 / (2 * pa * pb)),
    ((a, b), (a, a), (c, c), 0.0),
]


@pytest.mark.parametrize(("child", "father", "mother", "expected"), COUPLE)
def test_couple_textbook(
    child: tuple[str, str], father: tuple[str, str], mother: tuple[str, str], expected: float
) -> None:
    got = lr("parents-child", child=child, father=father, mother=mother)
    assert got == pytest.approx(expected, rel=1e-12)


def kappa_lr(kappa: tuple[float, float, float], g1: tuple[str, str], g2: tuple[str, str]) -> float:
    """LR = k0 + k1 R1 + k2 R2 (Thompson 1975; Evett & Weir 1998 Table 7.4)."""
    k0, k1, k2 = kappa
    shared = set(g1) & set(g2)
    if g1 == g2 and g1[0] == g1[1]:
        x = P[g1[0]]
        return k0 + k1 / x + k2 / x**2
    if g1 == g2:
        x, y = P[g1[0]], P[g1[1]]
        return k0 + k1 * (x + y) / (4 * x * y) + k2 / (2 * x * y)
    if not shared:
        return k0
    (s,) = shared
    hom = g1[0] == g1[1] or g2[0] == g2[1]
    return k0 + k1 / ((2 if hom else 4) * P[s])


KAPPA = {
    "full-siblings": (0.25, 0.5, 0.25),
    "half-siblings": (0.5, 0.5, 0.0),
    "grandparent": (0.5, 0.5, 0.0),
    "avuncular": (0.5, 0.5, 0.0),
    "first-cousins": (0.75, 0.25, 0.0),
    "parent-child": (0.0, 1.0, 0.0),
}
GENOTYPES = [(x, y) for x, y in itertools.combinations_with_replacement([a, b, c, d], 2)]


@pytest.mark.parametrize("relationship", KAPPA)
def test_pairwise_kappa_formula(relationship: str) -> None:
    roles = RELATIONSHIPS[relationship].roles
    for g1, g2 in itertools.product(GENOTYPES, repeat=2):
        got = locus_lr(relationship, LOCUS, dict(zip(roles, (g1, g2), strict=True)), FREQS).lr
        assert got == pytest.approx(kappa_lr(KAPPA[relationship], g1, g2), rel=1e-12, abs=1e-15)


def test_full_siblings_textbook() -> None:
    assert lr("full-siblings", person1=(a, a), person2=(a, a)) == pytest.approx(
        0.25 + 0.5 / pa + 0.25 / pa**2, rel=1e-12
    )
    assert lr("full-siblings", person1=(a, b), person2=(c, d)) == pytest.approx(0.25, rel=1e-12)


# -- theta: Balding & Nichols (1995) paternity indices -------------------------------------


@pytest.mark.parametrize("theta", [0.01, 0.03, 0.1])
def test_duo_theta_textbook(theta: float) -> None:
    t = theta
    got = lr("parent-child", theta=t, child=(a, b), parent=(a, c))
    assert got == pytest.approx((1 + 2 * t) / (4 * (t + (1 - t) * pa)), rel=1e-12)
    got = lr("parent-child", theta=t, child=(a, a), parent=(a, a))
    assert got == pytest.approx((1 + 2 * t) / (3 * t + (1 - t) * pa), rel=1e-12)
    got = lr("parent-child", theta=t, child=(a, b), parent=(a, a))
    assert got == pytest.approx((1 + 2 * t) / (2 * (2 * t + (1 - t) * pa)), rel=1e-12)


# -- probability laws -----------------------------------------------------------------------

MODELS = [
    MutationModel(),
    MutationModel("equal", MutationRates.uniform(0.02, paternal=0.03, maternal=0.01)),
    MutationModel("proportional", MutationRates.uniform(0.02, paternal=0.03, maternal=0.01)),
    MutationModel("stepwise", MutationRates.uniform(0.02, paternal=0.03, maternal=0.01),
                  rate2=0.005, range=0.4),
    MutationModel("onestep", MutationRates.uniform(0.02, paternal=0.03, maternal=0.01)),
]  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
@pytest.mark.parametrize("relationship", list(RELATIONSHIPS))
def test_expected_lr_under_h2_is_one(relationship: str, model: MutationModel) -> None:
    """E[LR | H2] = sum over genotypes with P(H2) > 0 of P(H1) = 1 (exact, up to rounding)."""
    freqs = AlleleFrequencies.from_dict({LOCUS: {"10": 0.15, "11": 0.25, "12": 0.6}})
    roles = RELATIONSHIPS[relationship].roles
    genotypes = list(itertools.combinations_with_replacement(["10", "11", "12"], 2))
    for theta in (0.0, 0.05):
        expected = 0.0
        for combo in itertools.product(genotypes, repeat=len(roles)):
            try:
                result = locus_lr(relationship, LOCUS, dict(zip(roles, combo, strict=True)),
                                  freqs, theta=theta, mutation=model)  # fmt: skip
            except CaseError:
                continue  # H2 impossible (trio mother-child exclusion): H1 is impossible too
            expected += result.h2 * result.lr
        assert expected == pytest.approx(1.0, rel=1e-12)


SYMMETRIC = ["full-siblings", "half-siblings", "first-cousins"]
ASYMMETRIC_WITH_MUTATION = ["grandparent", "avuncular", "parent-child"]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(GENOTYPES), st.sampled_from(GENOTYPES), st.sampled_from(MODELS),
    st.floats(0, 0.2),
)  # fmt: skip
def test_pairwise_symmetry(
    g1: tuple[str, str], g2: tuple[str, str], model: MutationModel, theta: float
) -> None:
    """Without mutation every pairwise form is symmetric in its two persons. With mutation
    at theta 0 H1 of the symmetric forms still is, while H2 keeps person1's untyped
    parents: swapping the persons divides the LR by the ratio of their one-sided LRs as
    the person of interest (relationships.py), exactly."""
    for relationship in SYMMETRIC + ASYMMETRIC_WITH_MUTATION:
        roles = RELATIONSHIPS[relationship].roles
        forward = locus_lr(relationship, LOCUS, dict(zip(roles, (g1, g2), strict=True)), FREQS,
                           theta=theta).lr  # fmt: skip
        backward = locus_lr(relationship, LOCUS, dict(zip(roles, (g2, g1), strict=True)), FREQS,
                            theta=theta).lr  # fmt: skip
        assert forward == pytest.approx(backward, rel=1e-12, abs=1e-300)
    for relationship in SYMMETRIC:
        forward, backward, alone1, alone2 = (
            locus_lr(relationship, LOCUS, genotypes, FREQS, mutation=model).lr
            for genotypes in ({"person1": g1, "person2": g2}, {"person1": g2, "person2": g1},
                              {"person2": g1}, {"person2": g2})
        )  # fmt: skip
        assert forward * alone1 == pytest.approx(backward * alone2, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("relationship", list(RELATIONSHIPS))
def test_theta_and_rate_to_zero_converge(relationship: str) -> None:
    roles = RELATIONSHIPS[relationship].roles
    for combo in itertools.product(GENOTYPES[:6], repeat=len(roles)):
        genotypes = dict(zip(roles, combo, strict=True))
        try:
            plain = locus_lr(relationship, LOCUS, genotypes, FREQS).lr
        except CaseError:
            continue
        tiny_theta = locus_lr(relationship, LOCUS, genotypes, FREQS, theta=1e-10).lr
        assert tiny_theta == pytest.approx(plain, rel=1e-8, abs=1e-12)
        for kind in ("equal", "stepwise", "proportional", "onestep"):
            model = MutationModel(kind, MutationRates.uniform(1e-12), rate2=1e-12)
            tiny_rate = locus_lr(relationship, LOCUS, genotypes, FREQS, mutation=model).lr
            assert tiny_rate == pytest.approx(plain, rel=1e-8, abs=1e-9)


def test_mutation_gives_inconsistency_a_positive_lr() -> None:
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6, range=0.5)
    result = locus_lr("parent-child", LOCUS, {"child": (a, c), "parent": (b, d)}, FREQS,
                      mutation=model)  # fmt: skip
    assert result.compared and result.consistent is False
    assert 0 < result.lr < 0.1


def test_duo_parent_sex_picks_matrix() -> None:
    model = MutationModel("equal", MutationRates.uniform(0.01, paternal=0.01, maternal=0.001))
    genotypes = {"child": (a, c), "parent": (b, d)}
    father = locus_lr("parent-child", LOCUS, genotypes, FREQS, mutation=model).lr
    mother = locus_lr("parent-child", LOCUS, genotypes, FREQS, mutation=model,
                      transmitter_sex="F").lr  # fmt: skip
    assert father > 5 * mother > 0


# -- loci that are not compared, reductions, rare alleles -----------------------------------


def test_missing_locus_is_not_compared() -> None:
    result = locus_lr("parent-child", LOCUS, {"child": (a, b), "parent": None}, FREQS)
    assert (result.lr, result.compared, result.consistent) == (1.0, False, None)
    assert "parent" in (result.reason or "")
    result = locus_lr("parent-child", "TH01", {"child": (a, b), "parent": (a, b)}, FREQS)
    assert not result.compared and result.reason == "not in frequency table"


def test_trio_and_couple_reduce_to_duo() -> None:
    child, father = (a, b), (a, c)
    duo = lr("parent-child", child=child, parent=father)
    assert locus_lr("paternity-trio", LOCUS, {"child": child, "parent": father, "mother": None},
                    FREQS).lr == pytest.approx(duo, rel=1e-12)  # fmt: skip
    assert locus_lr("parents-child", LOCUS, {"child": child, "father": father, "mother": None},
                    FREQS).lr == pytest.approx(duo, rel=1e-12)  # fmt: skip
    mother_only = locus_lr("parents-child", LOCUS, {"child": child, "father": None,
                                                    "mother": father}, FREQS)  # fmt: skip
    assert mother_only.lr == pytest.approx(duo, rel=1e-12)
    assert not locus_lr("parents-child", LOCUS, {"child": child, "father": None, "mother": None},
                        FREQS).compared  # fmt: skip


def test_rare_allele_gets_minimum_frequency() -> None:
    result = locus_lr("parent-child", LOCUS, {"child": ("7", b), "parent": ("7", c)}, FREQS,
                      min_frequency=0.002)  # fmt: skip
    assert result.rare_alleles == ("7",)
    assert result.lr == pytest.approx(1 / (4 * 0.002), rel=1e-12)


def test_onestep_with_microvariant_is_a_case_error() -> None:
    freqs = AlleleFrequencies.from_dict({LOCUS: {"10": 0.5, "10.2": 0.5}})
    model = MutationModel("onestep", MutationRates.uniform(0.01))
    with pytest.raises(CaseError, match=LOCUS):
        locus_lr("parent-child", LOCUS, {"child": ("10", "10"), "parent": ("10", "10")}, freqs,
                 mutation=model)  # fmt: skip


def test_trio_mother_child_exclusion_without_mutation_is_a_case_error() -> None:
    with pytest.raises(CaseError, match="mother and child"):
        lr("paternity-trio", child=(a, b), mother=(c, d), parent=(a, b))


@pytest.mark.parametrize(
    ("parent", "consistent"), [((b, b), True), ((a, b), True), ((c, d), False), ((c, c), False)]
)
def test_a_mother_child_mutation_is_not_the_alleged_father_s_exclusion(
    parent: tuple[str, str], consistent: bool
) -> None:
    """Child a/b, mother c/d: the mother passed a mutated allele. With a mutation model the
    locus is the alleged father's exclusion only when he shares no allele with the child, and
    its ``reason`` says that mother and child need a mutation."""
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6, range=0.5)
    result = locus_lr("paternity-trio", LOCUS, {"child": (a, b), "mother": (c, d),
                      "parent": parent}, FREQS, mutation=model)  # fmt: skip
    assert result.compared and result.lr > 0
    assert result.consistent is consistent
    assert result.reason == RELATED_NEED_MUTATION
    plain = locus_lr("paternity-trio", LOCUS, {"child": (a, b), "mother": (a, d),
                     "parent": parent}, FREQS, mutation=model)  # fmt: skip
    assert plain.reason is None


# -- the combined result ---------------------------------------------------------------------


def profile(sample_id: str, sex: str | None = None, **loci: tuple[str, str]) -> Profile:
    return Profile(sample_id, {name.replace("_", " "): g for name, g in loci.items()}, sex=sex)


def test_kinship_lr_combines_loci() -> None:
    freqs = AlleleFrequencies.from_dict(
        {"D8S1179": P, "TH01": {"6": 0.25, "7": 0.25, "9.3": 0.5}, "vWA": {"14": 0.5, "15": 0.5}}
    )
    child = profile("C", D8S1179=(a, b), TH01=("6", "9.3"), vWA=("14", "15"), FGA=("20", "22"))
    parent = profile("P", D8S1179=(a, c), TH01=("7", "7"), FGA=("21", "22"))
    result = kinship_lr("parent-child", {"child": child, "parent": parent}, freqs)
    assert result.loci_compared == ("TH01", "D8S1179")
    assert set(result.loci_not_compared) == {"vWA", "FGA"}
    assert result.loci["FGA"].reason == "not in frequency table"
    assert result.inconsistent_loci == ("TH01",)
    assert result.lr == 0.0 and result.log10_lr is None
    assert result.verdict == "exclusion"  # LR 0 is below 1e-4

    model = MutationModel("equal", MutationRates.uniform(0.005))
    mutated = kinship_lr("parent-child", {"child": child, "parent": parent}, freqs, mutation=model)
    per_locus = [mutated.loci[name].lr for name in mutated.loci_compared]
    assert mutated.lr == pytest.approx(math.prod(per_locus), rel=1e-14)
    assert mutated.log10_lr == pytest.approx(sum(math.log10(x) for x in per_locus), rel=1e-14)
    assert mutated.inconsistent_loci == ("TH01",) and mutated.lr > 0


@pytest.mark.parametrize(
    ("lr", "parentage", "n_inconsistent", "verdict"),
    [
        (1e4, True, 0, "support"), (9999.0, True, 0, "inconclusive"), (1e6, True, 2, "support"),
        (1e9, True, 3, "exclusion"), (0.99e-4, True, 0, "exclusion"), (1e-4, True, 0,
        "inconclusive"), (1e4, False, 0, "support"), (1e-4, False, 0, "exclusion"),
        (2e-4, False, 5, "inconclusive"),
    ],
)  # fmt: skip
def test_verdicts(lr: float, parentage: bool, n_inconsistent: int, verdict: str) -> None:
    rule = VerdictRule()
    assert rule.verdict(lr, parentage=parentage, n_inconsistent=n_inconsistent) == verdict
    strict = VerdictRule(support_lr=1e6, exclusion_inconsistent_loci=2)
    assert strict.verdict(1e5, parentage=True) == "inconclusive"
    assert strict.verdict(1e9, parentage=True, n_inconsistent=2) == "exclusion"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(RELATIONSHIPS)), st.sampled_from(MODELS), st.floats(0, 0.1),
       st.data())  # fmt: skip
def test_total_is_product_of_nonnegative_locus_lrs(
    relationship: str, model: MutationModel, theta: float, data: st.DataObject
) -> None:
    loci = {"D8S1179": P, "vWA": {"14": 0.3, "15": 0.3, "16": 0.4}, "TPOX": {"8": 0.5, "11": 0.5}}
    freqs = AlleleFrequencies.from_dict(loci)
    persons = {}
    for role in RELATIONSHIPS[relationship].roles:
        genotypes = {}
        for locus, table in loci.items():
            if data.draw(st.booleans()):  # typed or not; sometimes an allele the table lacks
                alleles = [*table, "99"]
                genotypes[locus] = tuple(sorted(data.draw(st.lists(st.sampled_from(alleles),
                                                                   min_size=2, max_size=2)),
                                                key=float))  # fmt: skip
        persons[role] = Profile(role, genotypes)
    try:
        result = kinship_lr(relationship, persons, freqs, theta=theta, mutation=model)
    except CaseError:
        return  # trio with an impossible mother-child pair and no mutation
    one_sided = [name for name, locus in result.loci.items() if locus.one_sided]
    values = [result.loci[name].lr for name in (*result.loci_compared, *one_sided)]
    assert all(v >= 0 for v in values)
    assert not set(one_sided) & set(result.loci_compared)
    assert all(result.loci[name].lr == 1.0 for name in result.loci_not_compared
               if name not in one_sided or model.is_none)  # fmt: skip
    assert result.lr == pytest.approx(math.prod(values), rel=1e-12)
    assert (result.log10_lr is None) == (0.0 in values)


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(CaseError, match="no role father"):
        locus_lr("parent-child", LOCUS, {"child": (a, b), "father": (a, c)}, FREQS)
    with pytest.raises(CaseError, match="needs profiles for parent"):
        kinship_lr("parent-child", {"child": profile("C", D8S1179=(a, b))}, FREQS)
    with pytest.raises(CaseError, match="unknown relationship 'cousins'"):
        lr("cousins", person1=(a, b), person2=(a, c))
