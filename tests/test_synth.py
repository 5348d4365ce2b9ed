"""Synthetic families: deterministic, Mendelian except where a mutation is recorded."""

from pathlib import Path

import numpy as np
import pytest

from kinmatch import InputError, MutationModel, MutationRates, load_frequencies, locus_lr
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.store import ReferenceStore
from kinmatch.synth import (
    Simulator,
    missing_children_database,
    unrelated_batch,
    unrelated_profiles,
)

CHINA = load_frequencies(Path(__file__).parent.parent / "fixtures" / "freq_China_GBT37223.csv")
LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
STEPWISE = MutationModel("stepwise", MutationRates.uniform(0.05, paternal=0.08, maternal=0.02),
                         rate2=0.001, range=0.5)  # fmt: skip


def shares(child: tuple[str, str], parent: tuple[str, str]) -> bool:
    return bool(set(child) & set(parent))


def test_deterministic_for_a_seed() -> None:
    first = missing_children_database(Simulator(CHINA, LOCI, seed=5, mutation=STEPWISE), 60, 12)
    again = missing_children_database(Simulator(CHINA, LOCI, seed=5, mutation=STEPWISE), 60, 12)
    other = missing_children_database(Simulator(CHINA, LOCI, seed=6, mutation=STEPWISE), 60, 12)
    assert [p.genotypes for p in first.references] == [p.genotypes for p in again.references]
    assert first.truth == again.truth
    assert [p.genotypes for p in first.references] != [p.genotypes for p in other.references]


def test_mendelian_except_where_a_mutation_is_recorded() -> None:
    sim = Simulator(CHINA, LOCI, seed=1, mutation=STEPWISE)
    database = missing_children_database(sim, 5000, 2000)
    profiles = {p.sample_id: p for p in database.references}
    mutated_pairs = 0
    for row in database.truth:
        if row.relationship != "parent-child":
            continue
        child, parent = profiles[row.query_id], profiles[row.relative_id]
        for locus in LOCI:
            if locus not in row.mutations:  # no mutation drawn: the parent's allele is there
                assert shares(child.genotypes[locus], parent.genotypes[locus]), (row, locus)
        mutated_pairs += bool(row.mutations)
        for locus in row.mutations:  # a drawn mutation changed the allele passed on
            assert locus in LOCI
    # 23 loci at rate 0.08 (paternal) / 0.02 (maternal): most fathers pass a mutation
    assert mutated_pairs > 0.4 * sum(r.relationship == "parent-child" for r in database.truth)


def test_without_mutation_everyone_is_consistent() -> None:
    sim = Simulator(CHINA, LOCI, seed=2)
    fathers, mothers = sim.founders(500), sim.founders(500)
    kids = sim.children(fathers, mothers)
    assert not kids.mutated.any()
    for i in range(500):
        assert set(kids.alleles[i, :, 0]) <= set(fathers[i].ravel())
        for li in range(len(LOCI)):
            assert kids.alleles[i, li, 0] in fathers[i, li]
            assert kids.alleles[i, li, 1] in mothers[i, li]


def test_mutation_frequency_follows_the_rates() -> None:
    rates = MutationRates.uniform(0.1, paternal=0.1, maternal=0.02)
    sim = Simulator(CHINA, ["vWA"], seed=3, mutation=MutationModel("equal", rates))
    kids = sim.children(sim.founders(20000), sim.founders(20000))
    paternal, maternal = kids.mutated[:, 0, 0].mean(), kids.mutated[:, 0, 1].mean()
    assert paternal == pytest.approx(0.1, abs=0.01)  # binomial sd 0.002
    assert maternal == pytest.approx(0.02, abs=0.005)


def test_theta_draws_a_subpopulation() -> None:
    plain = Simulator(CHINA, LOCI, seed=4).founders(20000)
    sub = Simulator(CHINA, LOCI, seed=4, theta=0.05).founders(20000)
    homozygous = [float((x[:, :, 0] == x[:, :, 1]).mean()) for x in (plain, sub)]
    expected_plain = np.mean([sum(p**2 for p in CHINA[locus].frequencies) for locus in LOCI])
    assert homozygous[0] == pytest.approx(expected_plain, abs=0.005)
    assert homozygous[1] > homozygous[0]  # a sub-population is more homozygous on average


def test_truth_names_stored_relatives_and_the_database_shape() -> None:
    database = missing_children_database(Simulator(CHINA, LOCI, seed=7), 200, 40)
    ids = {p.sample_id: p for p in database.references}
    assert len(database.references) == 200 and len(database.queries) == 40
    assert all(q.sample_id in ids and q.role == "unknown-origin" for q in database.queries)
    kinds = {r.relationship for r in database.truth}
    assert kinds == {"parent-child", "full-siblings", "half-siblings", "grandparent"}
    for row in database.truth:
        relative, query = ids[row.relative_id], ids[row.query_id]
        assert relative.case_id == row.case_id
        assert relative.role in ("father", "mother", "sibling", "other")
        roles = (
            ("child", "parent") if row.relationship == "parent-child" else ("person2", "person1")
        )
        for locus in LOCI:
            result = locus_lr(row.relationship, locus, {roles[0]: query.genotypes[locus],
                                                        roles[1]: relative.genotypes[locus]},
                              CHINA)  # fmt: skip
            if locus not in row.mutations:
                assert result.consistent is not False, (row, locus)
    with pytest.raises(InputError, match="cannot hold"):
        missing_children_database(Simulator(CHINA, LOCI, seed=7), 10, 40)


def test_encoded_batch_equals_the_profiles(tmp_path: Path) -> None:
    profiles = unrelated_profiles(Simulator(CHINA, LOCI, seed=8), 100, 40)
    store = ReferenceStore.create(tmp_path)
    store.append_encoded(unrelated_batch(Simulator(CHINA, LOCI, seed=8), 100, 40))
    stored = {p.sample_id: p for p in store.profiles()}
    assert list(stored) == [p.sample_id for p in profiles]
    for profile in profiles:
        twin = stored[profile.sample_id]
        assert (twin.genotypes, twin.role, twin.sex, twin.case_id) == (
            profile.genotypes, profile.role, profile.sex, profile.case_id,
        )  # fmt: skip


def test_fill_parents_are_couples_of_their_own_cases() -> None:
    """Unrelated fill: every registered father has one registered mother in his case, and no
    fill case or person belongs to a planted family (so an unrelated couple hit is unrelated)."""
    database = missing_children_database(Simulator(CHINA, LOCI, seed=9), 400, 30)
    planted = {row.case_id for row in database.truth}
    relatives = {row.relative_id for row in database.truth}
    relatives |= {p.sample_id for p in database.queries}
    cases: dict[str, list[str]] = {}
    for profile in database.references:
        if profile.case_id is not None and profile.case_id not in planted:
            assert profile.sample_id not in relatives
            cases.setdefault(profile.case_id, []).append(f"{profile.role}:{profile.sex}")
    assert len(cases) > 80
    complete = [roles for roles in cases.values() if len(roles) == 2]
    assert all(sorted(roles) == ["father:M", "mother:F"] for roles in complete)
    assert len(cases) - len(complete) <= 1  # the last father may lack his mother
