"""``family_lr`` / ``family_locus_lr`` (issue 15): the LR of a person of interest (POI) as a
family's missing member against unrelated.

1. Against the brute-force twin (``brute_force.py``) on random loop-free families, the H1/H2
   pedigrees written here from the definition: H1 the POI in the missing member's place; H2
   the family as registered (its missing member untyped) plus the POI as one more founder.
2. The eight relationships of :mod:`kinmatch.relationships` as families, against
   ``locus_lr`` / ``kinship_lr``.
3. E[LR | H2] = 1: the POI's genotypes weighted by P(g | family, H2).
4. Textbook values: maternity duo, full siblings, the grandparentage index; untyped
   ancestors under a stationary model.
5. A sample swap inside the family is a CaseError naming family and locus, no genotype.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from brute_force import Person as TwinPerson
from brute_force import brute_force_consistent, brute_force_likelihood
from families import Families
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from kinmatch import (
    AlleleFrequencies,
    CaseError,
    MutationModel,
    MutationModelError,
    MutationRates,
    Profile,
    kinship_lr,
    load_frequencies,
    locus_lr,
    mutation_matrix,
)
from kinmatch.alleles import Genotype, make_genotype, sort_alleles
from kinmatch.families import Family, Member, make_family
from kinmatch.family_lr import family_locus_lr, family_lr
from kinmatch.likelihood import RELATED_NEED_MUTATION, LocusLR
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.pedigree import pedigree_likelihood

LOCUS = "D8S1179"
KINDS = ("none", "equal", "proportional", "stepwise", "onestep")
FIXTURES = Path(__file__).parent.parent / "fixtures"
RELATIVE_TOLERANCE = 1e-12


# -- random loci -------------------------------------------------------------------------


@dataclass(frozen=True)
class Locus:
    """A drawn locus: sorted allele labels, frequencies summing to 1, theta, mutation."""

    alleles: tuple[str, ...]
    p: np.ndarray
    theta: float
    kind: str
    stationary: bool
    paternal_rate: float
    maternal_rate: float
    rate2: float
    range_: float

    def frequencies(self) -> AlleleFrequencies:
        """The one-locus table handed to the library: every typed allele is in it."""
        return AlleleFrequencies.from_dict(
            {LOCUS: dict(zip(self.alleles, self.p.tolist(), strict=True))}
        )

    def model(self) -> MutationModel:
        if self.kind == "none":
            return MutationModel()
        rates = MutationRates.uniform(
            self.paternal_rate, paternal=self.paternal_rate, maternal=self.maternal_rate
        )
        return MutationModel(
            self.kind, rates, rate2=self.rate2, range=self.range_, stationary=self.stationary
        )

    def matrices(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The twin's (paternal, maternal) matrices on the same allele set."""
        if self.kind == "none":
            return None, None
        paternal, maternal = (
            mutation_matrix(
                self.kind,
                self.alleles,
                self.p,
                rate,
                rate2=self.rate2,
                range_=self.range_,
                stationary=self.stationary,
            )
            for rate in (self.paternal_rate, self.maternal_rate)
        )
        return paternal, maternal

    def genotype(self, g: tuple[int, int]) -> Genotype:
        return make_genotype(self.alleles[g[0]], self.alleles[g[1]])


def labels(draw: st.DrawFn, n: int, integers_only: bool) -> list[str]:
    """``n`` distinct allele labels, often consecutive so onestep and stepwise have
    neighbours, sometimes with microvariants."""
    if draw(st.booleans()):
        start = draw(st.integers(5, 26 - n))
        values = [str(v) for v in range(start, start + n)]
    else:
        values = [
            str(v) for v in draw(st.lists(st.integers(5, 25), min_size=n, max_size=n, unique=True))
        ]
    if not integers_only and draw(st.booleans()):
        k = draw(st.integers(0, n - 1))
        candidate = f"{draw(st.integers(5, 25))}.{draw(st.integers(1, 3))}"
        if candidate not in values:
            values[k] = candidate
    return sort_alleles(values)


RATES = st.just(0.0) | st.floats(1e-6, 0.1)  # no subnormal rates: h1 and h2 underflow
THETAS = st.one_of(st.just(0.0), st.sampled_from([0.02, 0.1]), st.floats(0.0, 0.3))


@st.composite
def loci(
    draw: st.DrawFn,
    n: int,
    kinds: tuple[str, ...] = KINDS,
    thetas: st.SearchStrategy[float] = THETAS,
) -> Locus:
    """A locus of ``n`` alleles (frequencies >= 0.02 summing to 1), theta and a mutation
    model with different paternal and maternal rates."""
    kind = draw(st.sampled_from(kinds))
    stationary = kind in ("equal", "stepwise", "onestep") and draw(st.booleans())
    alleles = labels(draw, n, integers_only=kind == "onestep")
    weights = np.array(draw(st.lists(st.floats(1.0, 10.0), min_size=n, max_size=n)))
    p = weights / weights.sum()
    paternal_rate, maternal_rate = draw(st.permutations([draw(RATES), draw(st.floats(1e-6, 0.1))]))
    if kind != "none":
        assume(paternal_rate != maternal_rate)
    rate2 = draw(st.just(0.0) | st.floats(1e-6, 0.05))
    range_ = draw(st.floats(0.1, 1.0))
    return Locus(tuple(alleles), p, draw(thetas), kind, stationary, paternal_rate,
                 maternal_rate, rate2, range_)  # fmt: skip


def genotypes(n: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))


# -- random families ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A drawn family shape: persons ``(name, sex, father, mother)``, the missing one and
    the typed ones (never the missing member)."""

    persons: tuple[TwinPerson, ...]
    missing: str
    typed: tuple[str, ...]

    def family(self, family_id: str = "F1") -> Family:
        members = [
            Member(name, sex, father, mother, None if name not in self.typed else f"S-{name}")
            for name, sex, father, mother in self.persons
        ]
        return make_family(family_id, members, self.missing)


@st.composite
def shapes(draw: st.DrawFn, max_persons: int = 6) -> Shape:
    """A connected loop-free family of 3..``max_persons`` persons, built by steps that each
    add one link to the mating graph: a child of an existing couple (a full sibling); a new
    mate and a child with an existing person; two new parents of an existing founder. Sexes
    are fixed by parenthood, the others drawn from M, F and U."""
    sex: dict[str, str | None] = {"p0": None}
    parents: dict[str, tuple[str, str] | None] = {"p0": None}

    def add(parent_pair: tuple[str, str] | None, person_sex: str | None = None) -> str:
        name = f"p{len(sex)}"
        sex[name] = person_sex
        parents[name] = parent_pair
        return name

    def mate(x: str) -> None:
        if sex[x] is None:
            sex[x] = draw(st.sampled_from("MF"))
        y = add(None, "F" if sex[x] == "M" else "M")
        add((x, y) if sex[x] == "M" else (y, x))

    mate("p0")
    target = draw(st.integers(3, max_persons))
    while len(sex) < target:
        couples = sorted({pair for pair in parents.values() if pair is not None})
        founders = sorted(name for name, pair in parents.items() if pair is None)
        steps = ["sib"] + (["mate", "parents"] if target - len(sex) >= 2 else [])
        step = draw(st.sampled_from(steps))
        if step == "sib":
            add(draw(st.sampled_from(couples)))
        elif step == "mate":
            mate(draw(st.sampled_from(sorted(sex))))
        else:
            x = draw(st.sampled_from(founders))
            father, mother = add(None, "M"), add(None, "F")
            parents[x] = (father, mother)
    persons = []
    for name in sex:
        person_sex = sex[name] or draw(st.sampled_from("MFU"))
        pair = parents[name]
        persons.append((name, person_sex, *(pair if pair else (None, None))))
    names = list(sex)
    missing = draw(st.sampled_from(names))
    others = [name for name in names if name != missing]
    typed = draw(st.lists(st.sampled_from(others), min_size=1, max_size=len(others), unique=True))
    return Shape(tuple(persons), missing, tuple(sorted(typed)))


def twin_pedigrees(shape: Shape, poi_sex: str) -> tuple[list[TwinPerson], list[TwinPerson]]:
    """H1: the POI in the missing member's place (its links and sex); H2: the family with
    its missing member untyped, and the POI an extra founder."""

    def rename(name: str | None) -> str | None:
        return "poi" if name == shape.missing else name

    def sex(s: str) -> str:
        return "M" if s == "U" else s

    h1 = [(rename(n), sex(s), rename(f), rename(m)) for n, s, f, m in shape.persons]
    h2 = [(n, sex(s), f, m) for n, s, f, m in shape.persons]
    return h1, [*h2, ("poi", sex(poi_sex), None, None)]  # type: ignore[list-item]


def largest_alleles(persons: int) -> int:
    """The most alleles with the twin's tensor (one axis per allele slot of the H2
    pedigree: the family plus the POI) at most 4^10 entries, and 2 at least."""
    return max(2, min(4, int((4**10) ** (1 / (2 * (persons + 1))) + 1e-9)))


def profiles_of(locus: Locus, typed: Mapping[str, tuple[int, int]]) -> dict[str, Profile]:
    return {name: Profile(f"S-{name}", {LOCUS: locus.genotype(g)}) for name, g in typed.items()}


def isclose(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-300)


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- 1. the brute-force twin -------------------------------------------------------------


@settings(SETTINGS, max_examples=250)
@given(data=st.data())
def test_family_locus_lr_equals_the_brute_force_twin(data: st.DataObject) -> None:
    """h1, h2 and LR of every drawn family, POI, mutation model and theta equal the twin's
    (both refuse a family impossible under H2), and ``consistent`` is the twin's (a Mendelian
    exclusion of the POI, not of the members among themselves)."""
    shape = data.draw(shapes(), label="shape")
    family = shape.family()
    n = data.draw(st.integers(2, largest_alleles(len(shape.persons))), label="n")
    locus = data.draw(loci(n), label="locus")
    typed = {name: data.draw(genotypes(n), label=name) for name in shape.typed}
    poi_g = data.draw(genotypes(n), label="poi")
    poi_sex = data.draw(st.sampled_from("MF"), label="poi sex")
    poi = Profile("S-poi", {LOCUS: locus.genotype(poi_g)}, sex=poi_sex)
    try:
        paternal, maternal = locus.matrices()
    except MutationModelError:
        event("model impossible on this allele set: refused")
        with pytest.raises(CaseError):
            family_locus_lr(poi, family, profiles_of(locus, typed), LOCUS, locus.frequencies(),
                            theta=locus.theta, mutation=locus.model())  # fmt: skip
        return
    h1_ped, h2_ped = twin_pedigrees(shape, poi_sex)
    everyone = {**typed, "poi": poi_g}
    h1, h2 = (
        brute_force_likelihood(
            ped, everyone, locus.p, theta=locus.theta, paternal=paternal, maternal=maternal
        )
        for ped in (h1_ped, h2_ped)
    )
    consistent = brute_force_consistent(h1_ped, h2_ped, everyone, locus.p)

    def library() -> LocusLR:
        return family_locus_lr(poi, family, profiles_of(locus, typed), LOCUS,
                               locus.frequencies(), theta=locus.theta,
                               mutation=locus.model())  # fmt: skip

    event(f"model {locus.kind}{' stationary' if locus.stationary else ''}")
    event("theta > 0" if locus.theta > 0 else "theta 0")
    event(f"{len(shape.persons)} persons, {family.meioses} meioses")
    if h2 == 0.0:
        event("H2 impossible: CaseError")
        with pytest.raises(CaseError):
            library()
        return
    result = library()
    detail = f"{shape} {locus} typed={typed} poi={poi_g}: {result}, twin h1={h1} h2={h2}"
    assert result.compared, detail
    assert isclose(result.h1, h1), detail
    assert isclose(result.h2, h2), detail
    assert isclose(result.lr, h1 / h2), detail
    assert result.consistent is consistent, detail


# -- 2. the eight relationships as families ----------------------------------------------


@dataclass(frozen=True)
class Form:
    """A relationship written as a family: its members (person, sex, father, mother), the
    missing member (the POI's place), the kinship role of the POI, the family person in
    each other role, and whether the family's H2 is the relationship's H2 (the typed
    members sit in H2 as in the relationship's H2 pedigree)."""

    relationship: str
    persons: tuple[TwinPerson, ...]
    missing: str
    poi_role: str
    roles: Mapping[str, str]
    same_h2: bool

    def family(self) -> Family:
        members = [
            Member(name, sex, father, mother, f"S-{name}" if name in self.roles.values() else None)
            for name, sex, father, mother in self.persons
        ]
        return make_family(self.relationship, members, self.missing)


def other(sex: str) -> str:
    return "F" if sex == "M" else "M"


def duo(sex: str, poi: str) -> Form:
    father, mother = ("parent", "mate") if sex == "M" else ("mate", "parent")
    persons = (("parent", sex, None, None), ("mate", other(sex), None, None),
               ("child", "M", father, mother))  # fmt: skip
    if poi == "child":
        return Form("parent-child", persons, "child", "child", {"parent": "parent"}, True)
    return Form("parent-child", persons, "parent", "parent", {"child": "child"}, False)


GF_GM: tuple[TwinPerson, ...] = (("gf", "M", None, None), ("gm", "F", None, None))
FORMS: dict[str, Form] = {
    "paternity-trio": Form(
        "paternity-trio",
        (("father", "M", None, None), ("mother", "F", None, None),
         ("child", "M", "father", "mother")),
        "father", "parent", {"mother": "mother", "child": "child"}, True,
    ),
    "parents-child": Form(
        "parents-child",
        (("father", "M", None, None), ("mother", "F", None, None),
         ("child", "M", "father", "mother")),
        "child", "child", {"father": "father", "mother": "mother"}, True,
    ),
    "full-siblings": Form(
        "full-siblings",
        (("father", "M", None, None), ("mother", "F", None, None),
         ("sib", "M", "father", "mother"), ("child", "M", "father", "mother")),
        "child", "person2", {"person1": "sib"}, True,
    ),
    "half-siblings": Form(
        "half-siblings",
        (("father", "M", None, None), ("mother1", "F", None, None), ("mother2", "F", None, None),
         ("sib", "M", "father", "mother1"), ("child", "M", "father", "mother2")),
        "child", "person2", {"person1": "sib"}, True,
    ),
    "grandparent": Form(
        "grandparent",
        (*GF_GM, ("father", "M", "gf", "gm"), ("mother", "F", None, None),
         ("child", "M", "father", "mother")),
        "child", "person2", {"person1": "gf"}, True,
    ),
    "avuncular": Form(
        "avuncular",
        (*GF_GM, ("uncle", "M", "gf", "gm"), ("father", "M", "gf", "gm"),
         ("mother", "F", None, None), ("child", "M", "father", "mother")),
        "child", "person2", {"person1": "uncle"}, True,
    ),
    "first-cousins": Form(
        "first-cousins",
        (*GF_GM, ("father1", "M", "gf", "gm"), ("father2", "M", "gf", "gm"),
         ("mother1", "F", None, None), ("mother2", "F", None, None),
         ("cousin", "M", "father1", "mother1"), ("child", "M", "father2", "mother2")),
        "child", "person2", {"person1": "cousin"}, True,
    ),
}  # fmt: skip
ALL_FORMS: dict[str, Form] = {
    "parent-child M, POI child": duo("M", "child"),
    "parent-child F, POI child": duo("F", "child"),
    "parent-child M, POI parent": duo("M", "parent"),
    "parent-child F, POI parent": duo("F", "parent"),
    **FORMS,
}


def poi_sex(form: Form) -> str:
    return next(sex for name, sex, _, _ in form.persons if name == form.missing)


@pytest.mark.parametrize("name", list(ALL_FORMS))
@settings(SETTINGS, max_examples=100)
@given(data=st.data())
def test_relationships_are_families(name: str, data: st.DataObject) -> None:
    """Each relationship as a family against ``locus_lr``, one random locus at a time.

    H1 is the same pedigree in both, so h1 is always equal. So is H2 for every relationship's
    own form, the POI in its person-of-interest role (:mod:`kinmatch.relationships`): the
    POI unrelated, the typed relatives in the pedigree H1 gives them (a sibling, an uncle, a
    cousin keep their untyped parents and grandparents). The duo with the POI as the parent
    is a family the relationship does not describe (the duo's POI is the child, its typed
    parent a founder): there the typed child is a child of untyped persons in the family's
    H2 but a founder in the duo's, which differs under mutation unless the model is
    stationary at theta 0; h2 is then P(the child alone in the family, by the brute-force
    twin) x P(POI), and the LRs are equal only without mutation (any theta) or stationary at
    theta 0.
    """
    form = ALL_FORMS[name]
    n = data.draw(st.integers(2, 4), label="n")
    locus = data.draw(loci(n), label="locus")
    try:
        locus.matrices()
    except MutationModelError:
        assume(False)
    family = form.family()
    roles = {role: data.draw(genotypes(n), label=role) for role in form.roles}
    poi_g = data.draw(genotypes(n), label="poi")
    sex = poi_sex(form)
    poi = Profile("S-poi", {LOCUS: locus.genotype(poi_g)}, sex=sex)
    members = profiles_of(locus, {form.roles[role]: g for role, g in roles.items()})
    named = {role: locus.genotype(g) for role, g in roles.items()}
    named[form.poi_role] = locus.genotype(poi_g)
    transmitter = next((s for person, s, _, _ in form.persons if person == "parent"), "M")
    try:
        want = locus_lr(form.relationship, LOCUS, named, locus.frequencies(), theta=locus.theta,
                        mutation=locus.model(), transmitter_sex=transmitter)  # fmt: skip
    except CaseError:  # an impossible trio H2 without mutation: the family refuses it too
        with pytest.raises(CaseError):
            family_locus_lr(poi, family, members, LOCUS, locus.frequencies(), theta=locus.theta,
                            mutation=locus.model())  # fmt: skip
        return
    got = family_locus_lr(poi, family, members, LOCUS, locus.frequencies(), theta=locus.theta,
                          mutation=locus.model())  # fmt: skip
    detail = f"{name} {locus} roles={roles} poi={poi_g}: family {got}, kinship {want}"
    assert isclose(got.h1, want.h1), detail
    assert got.consistent is want.consistent, detail
    exact = form.same_h2 or locus.kind == "none" or (locus.stationary and locus.theta == 0)
    event("LR equal" if exact else "h1 equal; h2 of the relative in the family")
    if exact:
        assert isclose(got.lr, want.lr), detail
    if locus.theta == 0:
        paternal, maternal = locus.matrices()
        twin_family = [(p, "M" if s == "U" else s, f, m) for p, s, f, m in form.persons]
        typed = {form.roles[role]: g for role, g in roles.items()}
        relative = brute_force_likelihood(
            twin_family, typed, locus.p, paternal=paternal, maternal=maternal
        )
        poi_alone = brute_force_likelihood([("poi", "M", None, None)], {"poi": poi_g}, locus.p)
        assert isclose(got.h2, relative * poi_alone), detail


def simulate(form: Form, sim: Families) -> tuple[dict[str, Profile], Profile]:
    """Profiles of the typed members and the POI, Mendelian from the table."""
    genotypes: dict[str, dict[str, Genotype]] = {}
    for person, _, father, mother in form.persons:
        if father is None or mother is None:
            genotypes[person] = sim.founder_genotypes()
        else:
            genotypes[person] = sim.child_genotypes(genotypes[father], genotypes[mother])
    members = {p: Profile(f"S-{p}", genotypes[p], sex=s) for p, s, _, _ in form.persons
               if p in form.roles.values()}  # fmt: skip
    poi = Profile("S-poi", genotypes[form.missing], sex=poi_sex(form))
    return members, poi


CAUC = FIXTURES / "freq_US-Cauc_NIST1036.csv"
LOCI_23 = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))  # + Penta E, D6S1043, Penta D


@pytest.fixture(scope="module")
def cauc() -> AlleleFrequencies:
    return load_frequencies(CAUC)


STEPWISE = MutationModel("stepwise", MutationRates.uniform(0.003, paternal=0.004,
                                                           maternal=0.001),
                         rate2=1e-5, range=0.5)  # fmt: skip


STATIONARY = MutationModel("stepwise", STEPWISE.rates, rate2=1e-5, range=0.5, stationary=True)
REAL_SETTINGS = {
    "plain": (0.0, MutationModel()),
    "theta": (0.03, MutationModel()),
    "stepwise": (0.0, STEPWISE),
    "stepwise-theta": (0.03, STEPWISE),
    "stationary": (0.0, STATIONARY),
}
REAL_CASES = [
    (name, setting)
    for name, form in ALL_FORMS.items()
    for setting in REAL_SETTINGS
    if form.same_h2 or setting in ("plain", "theta", "stationary")
]


@pytest.mark.parametrize(("name", "setting"), REAL_CASES)
def test_relationships_are_families_on_a_real_table(
    name: str, setting: str, cauc: AlleleFrequencies
) -> None:
    """``family_lr`` = ``kinship_lr`` on simulated relatives over the loci of a real table
    (its frequencies do not sum to 1; some loci untyped in one person), where the family's
    H2 is the relationship's (see :func:`test_relationships_are_families`): always, but for
    the duo with the POI as the parent only without mutation (any theta) and with a
    stationary model at theta 0. Every locus of the combined result agrees. Loci where the
    POI or every relative is untyped give LR 1 in both (a trio locus with only the child
    untyped is not compared by ``kinship_lr`` and compared with LR 1 by ``family_lr``: LR 1
    either way)."""
    theta, mutation = REAL_SETTINGS[setting]
    form = ALL_FORMS[name]
    loci = LOCI_23
    assert len(loci) == 23 and all(locus in cauc for locus in loci)
    sim = Families(cauc, loci, seed=hash(name) % 1000)
    members, poi = simulate(form, sim)
    dropped = {p: Profile(x.sample_id, dict(list(x.genotypes.items())[1:]), sex=x.sex)
               for p, x in members.items()}  # fmt: skip
    by_sample = {x.sample_id: x for x in dropped.values()}
    persons = {role: dropped[form.roles[role]] for role in form.roles}
    persons[form.poi_role] = Profile(poi.sample_id, dict(list(poi.genotypes.items())[:-1]),
                                     sex=poi.sex)  # fmt: skip
    want = kinship_lr(form.relationship, persons, cauc, theta=theta, mutation=mutation)
    got = family_lr(persons[form.poi_role], form.family(), by_sample, cauc, theta=theta,
                    mutation=mutation)  # fmt: skip
    assert len(got.loci_compared) >= len(loci) - 2
    for locus, result in want.loci.items():
        assert isclose(got.loci[locus].lr, result.lr), (locus, got.loci[locus], result)
    assert isclose(got.lr, want.lr)
    assert got.inconsistent_loci == want.inconsistent_loci


# -- 3. E[LR | H2] = 1 -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@settings(SETTINGS, max_examples=16)
@given(data=st.data())
def test_expected_lr_under_h2_is_one(kind: str, data: st.DataObject) -> None:
    """sum_g P(g | family, H2) LR(g) = 1 over every genotype g of the POI, with
    P(g | family, H2) = P(family, POI = g | H2) / P(family | H2) (h2 of each g over their
    sum, which is checked against the core's likelihood of the family alone)."""
    subdivided = data.draw(st.booleans(), label="theta > 0")
    shape = data.draw(shapes(6), label="shape")
    family = shape.family()
    n = data.draw(st.integers(2, 4), label="n")
    thetas = st.sampled_from([0.02, 0.1]) | st.floats(0.001, 0.3) if subdivided else st.just(0.0)
    locus = data.draw(loci(n, kinds=(kind,), thetas=thetas), label="locus")
    try:
        paternal, maternal = locus.matrices()
    except MutationModelError:
        assume(False)
        raise
    typed = {name: data.draw(genotypes(n), label=name) for name in shape.typed}
    members = profiles_of(locus, typed)
    table = locus.frequencies()
    family_alone = pedigree_likelihood(
        family.pedigree(), typed, locus.p, theta=locus.theta,
        matrices=None if paternal is None or maternal is None else (paternal, maternal),
    )  # fmt: skip
    assume(family_alone > 0.0)  # else the family is refused (test_sample_swap_is_refused)
    results = []
    for a in range(n):
        for b in range(a, n):
            poi = Profile("S-poi", {LOCUS: locus.genotype((a, b))}, sex="M")
            results.append(family_locus_lr(poi, family, members, LOCUS, table, theta=locus.theta,
                                           mutation=locus.model()))  # fmt: skip
    p_family = math.fsum(r.h2 for r in results)
    assert isclose(p_family, family_alone)
    expected = math.fsum(r.h2 / p_family * r.lr for r in results)
    event(f"model {locus.kind}; theta {'> 0' if locus.theta else '0'}")
    assert math.isclose(expected, 1.0, rel_tol=RELATIVE_TOLERANCE), (shape, locus, typed)


# -- 4. textbook values ------------------------------------------------------------------

P4 = {"10": 0.1, "11": 0.2, "12": 0.3, "13": 0.4}
TABLE4 = AlleleFrequencies.from_dict({LOCUS: P4})


def family_of(family_id: str, rows: list[tuple[str, str, str | None, str | None, bool]],
              missing: str) -> Family:  # fmt: skip
    """A family from ``(person, sex, father, mother, typed)`` rows."""
    members = [Member(p, s, f, m, f"S-{p}" if typed else None) for p, s, f, m, typed in rows]
    return make_family(family_id, members, missing)


def one_locus(genotypes: Mapping[str, str]) -> dict[str, Profile]:
    """Profiles ``S-<person>`` of one locus from ``{"person": "10/12"}``."""
    return {
        f"S-{person}": Profile(f"S-{person}", {LOCUS: make_genotype(*g.split("/"))})
        for person, g in genotypes.items()
    }


def lr_of(family: Family, poi: str, relatives: Mapping[str, str], **options: object) -> LocusLR:
    """``family_locus_lr`` of POI genotype ``poi`` against ``relatives`` (person: genotype)."""
    profiles = one_locus(relatives)
    members = {person: profiles[f"S-{person}"] for person in relatives}
    poi_profile = Profile("S-poi", {LOCUS: make_genotype(*poi.split("/"))}, sex="M")
    table = options.pop("table", TABLE4)
    return family_locus_lr(poi_profile, family, members, LOCUS, table, **options)  # type: ignore[arg-type]


MATERNITY = family_of(
    "F-MO",
    [("mother", "F", None, None, True), ("father", "M", None, None, False),
     ("child", "M", "father", "mother", False)],
    "child",
)  # fmt: skip


@pytest.mark.parametrize(
    ("child", "mother", "want"),
    [
        ("10/11", "10/12", 1 / (4 * 0.1)),
        ("10/10", "10/12", 1 / (2 * 0.1)),
        ("10/11", "10/11", (0.1 + 0.2) / (4 * 0.1 * 0.2)),
        ("12/12", "12/12", 1 / 0.3),
        ("11/13", "10/12", 0.0),
    ],
)
def test_mother_only_family_is_the_maternity_index(child: str, mother: str, want: float) -> None:
    """Mother typed, father untyped, child missing: the maternity index of the duo
    (AABB *Standards for Relationship Testing Laboratories*; Evett & Weir 1998, ch. 7)."""
    got = lr_of(MATERNITY, child, {"mother": mother})
    assert isclose(got.lr, want)
    assert got.consistent is (want > 0)


def test_mother_only_family_is_the_female_duo_with_mutation() -> None:
    """With sex-specific rates the family uses the maternal matrix: it equals
    ``locus_lr("parent-child")`` with a female parent (and not with a male one)."""
    model = MutationModel("stepwise", MutationRates.uniform(0.0, paternal=0.02, maternal=0.001),
                          rate2=1e-4)  # fmt: skip
    for theta in (0.0, 0.05):
        got = lr_of(MATERNITY, "11/13", {"mother": "10/12"}, theta=theta, mutation=model)
        roles = {"child": make_genotype("11", "13"), "parent": make_genotype("10", "12")}
        female, male = (
            locus_lr("parent-child", LOCUS, roles, TABLE4, theta=theta, mutation=model,
                     transmitter_sex=sex)
            for sex in "FM"
        )  # fmt: skip
        assert isclose(got.lr, female.lr)
        assert got.consistent is False
        assert male.lr > 10 * got.lr


@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_an_allele_missing_from_the_table_is_at_the_minimum_frequency(theta: float) -> None:
    """A POI allele the table lacks joins the allele set at the minimum frequency (the
    frequencies then sum to more than 1), as in ``locus_lr``; it is reported."""
    model = MutationModel("stepwise", MutationRates.uniform(0.0, paternal=0.02, maternal=0.005))
    roles = {"child": make_genotype("10", "14"), "parent": make_genotype("10", "12")}
    for mutation in (MutationModel(), model):
        got = lr_of(MATERNITY, "10/14", {"mother": "10/12"}, theta=theta, mutation=mutation,
                    min_frequency=0.05)  # fmt: skip
        want = locus_lr("parent-child", LOCUS, roles, TABLE4, theta=theta, mutation=mutation,
                        min_frequency=0.05, transmitter_sex="F")  # fmt: skip
        assert got.rare_alleles == ("14",) == want.rare_alleles
        assert isclose(got.lr, want.lr)
    plain = lr_of(MATERNITY, "10/14", {"mother": "10/12"}, theta=0.0, min_frequency=0.05)
    assert isclose(plain.lr, 1 / (4 * 0.1))


def sibling_lr(g1: tuple[str, str], g2: tuple[str, str], p: Mapping[str, float]) -> float:
    """Full siblings: LR = k0 + k1 P(g2 | one allele IBD with g1) / P(g2) + k2 [g1 = g2] /
    P(g2), (k0, k1, k2) = (1/4, 1/2, 1/4) (Thompson 1975; Evett & Weir 1998, ch. 7)."""
    a, b = g2
    hw = p[a] ** 2 if a == b else 2 * p[a] * p[b]

    def one_ibd(shared: str) -> float:  # g2 = shared allele + one from the population
        if a == b:
            return p[a] if shared == a else 0.0
        return (p[b] if shared == a else 0.0) + (p[a] if shared == b else 0.0)

    r1 = (one_ibd(g1[0]) + one_ibd(g1[1])) / 2 / hw
    r2 = (1.0 if sorted(g1) == sorted(g2) else 0.0) / hw
    return 0.25 + 0.5 * r1 + 0.25 * r2


GENOTYPES4 = [(a, b) for i, a in enumerate(P4) for b in list(P4)[i:]]


FULL_SIBLINGS = family_of(
    "F-SIB",
    [("father", "M", None, None, False), ("mother", "F", None, None, False),
     ("sib", "F", "father", "mother", True), ("child", "M", "father", "mother", False)],
    "child",
)  # fmt: skip


def test_two_full_siblings_is_the_full_sibling_lr() -> None:
    """Father and mother untyped, one sibling typed, the other missing: the kinship formula
    for every pair of genotypes."""
    for sib in GENOTYPES4:
        for poi in GENOTYPES4:
            got = lr_of(FULL_SIBLINGS, "/".join(poi), {"sib": "/".join(sib)})
            assert isclose(got.lr, sibling_lr(sib, poi, P4)), (sib, poi, got)


def grandparentage_index(
    child: tuple[str, str], gf: tuple[str, str], gm: tuple[str, str], p: Mapping[str, float]
) -> float:
    """Both paternal grandparents typed, the father and mother untyped. The father got one
    allele of each grandparent, so the child's paternal allele is a with probability
    q(a) = (t_GF(a) + t_GM(a)) / 2, t_G(a) = (copies of a in G) / 2; the maternal allele is
    drawn from the population: GPI = [q(c1) p(c2) + q(c2) p(c1)] / (2 p(c1) p(c2)) for a
    heterozygous child, q(c) / p(c) for a homozygote (Evett & Weir 1998, ch. 7; AABB)."""

    def q(a: str) -> float:
        return (gf.count(a) / 2 + gm.count(a) / 2) / 2

    c1, c2 = child
    if c1 == c2:
        return q(c1) / p[c1]
    return (q(c1) * p[c2] + q(c2) * p[c1]) / (2 * p[c1] * p[c2])


def test_paternal_grandparents_give_the_grandparentage_index() -> None:
    """Grandfather and grandmother typed, father and mother untyped, grandchild missing:
    the published grandparentage index for every genotype triple."""
    family = family_of(
        "F-GP",
        [("gf", "M", None, None, True), ("gm", "F", None, None, True),
         ("father", "M", "gf", "gm", False), ("mother", "F", None, None, False),
         ("child", "F", "father", "mother", False)],
        "child",
    )  # fmt: skip
    for gf in GENOTYPES4:
        for gm in GENOTYPES4:
            for child in GENOTYPES4:
                got = lr_of(family, "/".join(child), {"gf": "/".join(gf), "gm": "/".join(gm)})
                want = grandparentage_index(child, gf, gm, P4)
                assert isclose(got.lr, want), (child, gf, gm, got)
                assert got.consistent is (want > 0)


UNTYPED_ANCESTORS = family_of(
    "F-MO-GP",
    [("gf", "M", None, None, False), ("gm", "F", None, None, False),
     ("mother", "F", "gf", "gm", True), ("father", "M", None, None, False),
     ("child", "M", "father", "mother", False)],
    "child",
)  # fmt: skip
UNTYPED_LEAF = family_of(
    "F-MO-HS",
    [("mother", "F", None, None, True), ("father", "M", None, None, False),
     ("man", "M", None, None, False), ("child", "M", "father", "mother", False),
     ("halfsib", "U", "man", "mother", False)],
    "child",
)  # fmt: skip
STEP4 = MutationModel("stepwise", MutationRates.uniform(0.0, paternal=0.03, maternal=0.01),
                      rate2=0.0, range=0.5)  # fmt: skip
STATIONARY4 = MutationModel("stepwise", STEP4.rates, range=0.5, stationary=True)


@pytest.mark.parametrize(
    ("theta", "model"),
    [(0.0, MutationModel()), (0.0, STEP4), (0.0, STATIONARY4), (0.05, MutationModel())],
    ids=["none", "step", "pm", "theta"],
)
def test_untyped_ancestors_of_a_typed_parent_change_nothing(
    theta: float, model: MutationModel
) -> None:
    """The mother-only family with the mother's parents added untyped: the POI is linked to
    them only through the typed mother, so P(mother) cancels from the LR under any model at
    theta 0 (and without mutation at any theta), stationary or not."""
    for mother in GENOTYPES4:
        for poi in GENOTYPES4:
            plain, above = (
                lr_of(f, "/".join(poi), {"mother": "/".join(mother)}, theta=theta,
                      mutation=model).lr
                for f in (MATERNITY, UNTYPED_ANCESTORS)
            )  # fmt: skip
            assert isclose(above, plain), (mother, poi)


def test_untyped_parents_of_a_sibling_change_nothing_under_a_stationary_model() -> None:
    """The typed sibling's untyped parents are on the path to the POI, so they stay in H2:
    P(sib | H2) = sum over the parents. With a stationary model at theta 0 (p M = p) that
    is the sibling's Hardy-Weinberg probability, so h2 = HW(sib) HW(POI) for every genotype
    pair; with the plain stepwise model (p M != p) it is not, so the statement has content.
    Under both the family is the full-sibling LR of ``locus_lr``, whose H2 keeps the same
    parents (relationships.py)."""

    def hardy_weinberg(g: tuple[str, str]) -> float:
        return P4[g[0]] ** 2 if g[0] == g[1] else 2 * P4[g[0]] * P4[g[1]]

    differs = 0.0
    for sib in GENOTYPES4:
        for poi in GENOTYPES4:
            roles = {"person1": make_genotype(*sib), "person2": make_genotype(*poi)}
            for model in (STATIONARY4, STEP4):
                got = lr_of(FULL_SIBLINGS, "/".join(poi), {"sib": "/".join(sib)}, mutation=model)
                want = locus_lr("full-siblings", LOCUS, roles, TABLE4, mutation=model)
                assert isclose(got.lr, want.lr), (sib, poi, model.stationary)
                founders = hardy_weinberg(sib) * hardy_weinberg(poi)
                if model is STATIONARY4:
                    assert isclose(got.h2, founders), (sib, poi)
                else:
                    differs = max(differs, abs(got.h2 / founders - 1))
    assert differs > 1e-3


@pytest.mark.parametrize("theta", [0.0, 0.05])
@pytest.mark.parametrize("model", [MutationModel(), STEP4, STATIONARY4], ids=["none", "step", "pm"])
def test_an_untyped_leaf_changes_nothing(theta: float, model: MutationModel) -> None:
    """An untyped half-sibling of the missing child (the mother's child with another
    untyped man) sums to 1 under any model and theta."""
    for mother in GENOTYPES4:
        for poi in GENOTYPES4:
            relatives = {"mother": "/".join(mother)}
            plain, leaf = (
                lr_of(f, "/".join(poi), relatives, theta=theta, mutation=model)
                for f in (MATERNITY, UNTYPED_LEAF)
            )
            assert isclose(leaf.lr, plain.lr), (mother, poi)


# -- 5. a sample swap --------------------------------------------------------------------


SWAP = family_of(
    "F-SWAP",
    [("father", "M", None, None, True), ("mother", "F", None, None, False),
     ("sib", "M", "father", "mother", True), ("child", "F", "father", "mother", False)],
    "child",
)  # fmt: skip
SWAP_TABLE = AlleleFrequencies.from_dict(
    {"TH01": {"6": 0.3, "9.3": 0.3, "7": 0.4}, "FGA": {"21.2": 0.2, "24": 0.3, "31.2": 0.5}}
)
SWAP_PROFILES = {
    "S-father": Profile("S-father", {"TH01": ("6", "9.3"), "FGA": ("21.2", "21.2")}),
    "S-sib": Profile("S-sib", {"TH01": ("7", "9.3"), "FGA": ("24", "31.2")}),
}
SWAP_POI = Profile("S-poi", {"TH01": ("6", "7"), "FGA": ("21.2", "24")})


@pytest.mark.parametrize("theta", [0.0, 0.05])
def test_sample_swap_is_refused(theta: float) -> None:
    """A typed father and a typed child of his that share no allele at FGA (no mutation):
    CaseError naming the family and the locus, quoting no allele."""
    with pytest.raises(CaseError) as caught:
        family_lr(SWAP_POI, SWAP, SWAP_PROFILES, SWAP_TABLE, theta=theta)
    message = str(caught.value)
    assert caught.value.locus == "FGA"
    assert "'F-SWAP'" in message and "'FGA'" in message
    for allele in ("21.2", "24", "31.2", "9.3"):
        assert allele not in message, message


def test_sample_swap_with_mutation_is_computed() -> None:
    """With a mutation model the same family is possible: FGA is compared. The members'
    own contradiction is not the POI's: a POI who shares an allele with the father is no
    exclusion there, one who shares none with him is."""
    model = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-4)
    result = family_lr(SWAP_POI, SWAP, SWAP_PROFILES, SWAP_TABLE, mutation=model)
    assert result.loci["FGA"].compared and result.loci["FGA"].lr > 0
    assert set(result.loci_compared) == {"TH01", "FGA"}
    assert result.loci["FGA"].consistent is True
    assert result.inconsistent_loci == ()
    assert result.loci["FGA"].reason == RELATED_NEED_MUTATION  # the analyst is told
    assert result.loci["TH01"].reason is None
    stranger = Profile("S-poi", {"TH01": ("6", "7"), "FGA": ("24", "31.2")})
    result = family_lr(stranger, SWAP, SWAP_PROFILES, SWAP_TABLE, mutation=model)
    assert result.loci["FGA"].consistent is False
    assert result.inconsistent_loci == ("FGA",)
