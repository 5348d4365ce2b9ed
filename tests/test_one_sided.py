"""Loci typed on one side only: their exact LR against the brute-force twin.

P(typed | H1) / P(typed | H2) with the other side untyped, every relationship and model, to
1e-12; exactly 1 without mutation, with ``one_sided_exact=False`` (the older convention) and,
at theta 0, under a stationary model; and the combined LR includes it while the locus is not
counted among the loci compared.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from brute_force import brute_force_likelihood
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_brute_force import CASES, LOCUS, SETTINGS, genotype, loci

from kinmatch import (
    CaseError,
    MutationModel,
    MutationModelError,
    MutationRates,
    kinship_lr,
    locus_lr,
)
from kinmatch.alleles import make_genotype
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.likelihood import untyped_roles
from kinmatch.profiles import Profile
from kinmatch.relationships import RELATIONSHIPS


@pytest.mark.parametrize("relationship", list(CASES))
@settings(SETTINGS, max_examples=min(SETTINGS.max_examples, 150))
@given(data=st.data())
def test_one_sided_lr_equals_the_twin(relationship: str, data: st.DataObject) -> None:
    case = CASES[relationship]
    locus = data.draw(loci(case.max_n), label="locus")
    n = len(locus.alleles)
    rel = RELATIONSHIPS[relationship]
    roles = list(case.roles)
    # type a non-empty set of roles that leaves the locus uncompared
    typed_roles = data.draw(st.lists(st.sampled_from(roles), min_size=1, unique=True))
    assume(untyped_roles(rel, typed_roles) is not None)
    typed = {role: tuple(sorted(data.draw(genotype(n)))) for role in typed_roles}
    sex = data.draw(st.sampled_from("MF"))
    try:
        paternal, maternal = locus.matrices()
    except MutationModelError:
        assume(False)
        raise
    h1_ped, h2_ped = case.pedigrees(sex)
    h1, h2 = (brute_force_likelihood(ped, typed, locus.p, theta=locus.theta, paternal=paternal,
                                     maternal=maternal) for ped in (h1_ped, h2_ped))  # fmt: skip
    named = {role: make_genotype(locus.alleles[g[0]], locus.alleles[g[1]])
             for role, g in typed.items()}  # fmt: skip
    if h2 == 0.0 and locus.kind != "none":  # a trio's mother and child without a mutation
        with pytest.raises(CaseError):
            locus_lr(relationship, LOCUS, named, locus.frequencies(), theta=locus.theta,
                     mutation=locus.model(), transmitter_sex=sex)  # fmt: skip
        return
    result = locus_lr(relationship, LOCUS, named, locus.frequencies(), theta=locus.theta,
                      mutation=locus.model(), transmitter_sex=sex)  # fmt: skip
    assert result.one_sided and not result.compared
    if locus.kind == "none":
        assert result.lr == 1.0
    else:
        assert math.isclose(result.lr, h1 / h2, rel_tol=1e-12), (result, h1, h2)
    old = locus_lr(relationship, LOCUS, named, locus.frequencies(), theta=locus.theta,
                   mutation=locus.model(), transmitter_sex=sex, one_sided_exact=False)  # fmt: skip
    assert old.lr == 1.0 and old.one_sided


def table() -> AlleleFrequencies:
    alleles = [str(a) for a in range(8, 16)]
    weights = np.array([1, 3, 8, 12, 9, 5, 2, 1], dtype=float)
    return AlleleFrequencies.from_dict({"D8S1179": dict(zip(alleles, weights / weights.sum(),
                                                            strict=True))})  # fmt: skip


@pytest.mark.parametrize("kind", ["equal", "stepwise", "onestep"])
def test_stationary_models_give_one_at_theta_zero(kind: str) -> None:
    """At theta 0, p M = p: an untyped relative changes nothing, so a lone child's genotype
    is as probable as in the population (to 1e-12); the plain model moves it off 1."""
    rates = MutationRates.uniform(0.003, paternal=0.004, maternal=0.001)
    stationary = MutationModel(kind, rates, stationary=True)
    plain = MutationModel(kind, rates)
    moved = 0.0
    for first in range(8, 16):
        for second in range(first, 16):
            genotypes = {"person2": make_genotype(str(first), str(second))}
            for relationship in ("full-siblings", "avuncular", "first-cousins"):
                lr = locus_lr(relationship, "D8S1179", genotypes, table(), mutation=stationary)
                assert lr.lr == pytest.approx(1.0, rel=1e-12, abs=1e-12)
                off = locus_lr(relationship, "D8S1179", genotypes, table(), mutation=plain).lr
                moved = max(moved, abs(off - 1.0))
    assert moved > 1e-4


def test_the_combined_lr_includes_one_sided_loci() -> None:
    rates = MutationRates.uniform(0.002)
    model = MutationModel("stepwise", rates)
    frequencies = AlleleFrequencies.from_dict({
        "D8S1179": {"10": 0.3, "11": 0.3, "12": 0.4},
        "vWA": {"14": 0.05, "15": 0.9, "16": 0.05},
    })  # fmt: skip
    child = Profile("C", {"D8S1179": ("10", "11"), "vWA": ("14", "16")})
    parent = Profile("P", {"D8S1179": ("10", "12")}, sex="M")
    result = kinship_lr("parent-child", {"child": child, "parent": parent}, frequencies,
                        mutation=model)  # fmt: skip
    one_sided = result.loci["vWA"]
    assert one_sided.one_sided and not one_sided.compared and one_sided.lr != 1.0
    assert result.loci_compared == ("D8S1179",)
    assert result.lr == pytest.approx(result.loci["D8S1179"].lr * one_sided.lr, rel=1e-15)
    assert result.to_dict()["loci"]["vWA"]["one_sided"] is True
    old = kinship_lr("parent-child", {"child": child, "parent": parent}, frequencies,
                     mutation=model, one_sided_exact=False)  # fmt: skip
    assert old.lr == result.loci["D8S1179"].lr
