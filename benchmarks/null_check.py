"""Checks the one unrelated couple hit of docs/accuracy.md against the null that expects it
(issue 12): couple K2398 at LR 2.7 x 10^5 against child QC93, 10^4 references x 15 loci.

    .venv/bin/python benchmarks/null_check.py [--draws 1000000] [--seed 7] [--work DIR]

Rebuilds the accuracy store of that cell (``accuracy.database``: seed 1, the 15 Identifiler
loci, 200 planted families per relationship and mutation setting), searches QC93 with the
accuracy run's settings (stepwise AABB rates, 0.002 where missing, rate2 1e-6, theta 0.01,
every candidate scored), and:

1. recomputes the hit's LR by the search and by the core (``kinship_lr``), and QC93's
   ``p_unrelated`` by :meth:`kinmatch.evidence.NullModel.couples` (the search's 1% bracket,
   and refined to 1e-4 for the comparison below);
2. estimates the same tail, P(LR >= observed | a random unrelated couple), by importance
   sampling: per locus each ordered pair (father f, mother m) of genotypes is drawn from the
   exponentially tilted q_l(f, m) = p_l(f, m) LR_l(f, m)^t / M_l(t), M_l(t) = E_p[LR_l^t],
   with t the saddlepoint (sum_l E_q[ln LR_l] = ln of the observed LR), and weighted by
   prod_l p_l / q_l = exp(sum_l ln M_l(t) - t ln LR); the estimate is the mean of
   weight x [LR >= observed], its standard error the sample's standard deviation / sqrt(N).
   Split by the number of loci where the pair excludes the child without mutation. The same
   sampler with p from the simulator's own model (Hardy-Weinberg, theta 0, the table's
   frequencies rescaled to sum 1) gives the chance the accuracy run's fill couples had;
3. gives p_unrelated(10^4) of every query of the cell, QC93's rank and share of the cell's
   expectation, and the cell's observed and expected unrelated hits again;
4. checks that the store's fill couples share no person with a planted family: by sample and
   case ID, and by genotypes (pairs of a fill person and a planted person with k identical
   genotypes, against the count Hardy-Weinberg predicts for independent persons), and K2398's
   two parents against QC93's true parents;
5. sums the couple cells' expectations of docs/accuracy.md and gives the Poisson chance of
   one such hit over the whole grid, and of one in the 10^4 x 15 cell.

What is independent of the code under check: p_l(f, m) is computed here in numpy from the
Balding-Nichols sequential draws (the child's two alleles first, then the father's two, then
the mother's two, each allele a with probability (n_a theta + (1 - theta) p_a) /
(1 + (k - 1) theta) after k alleles with n_a copies of a), normalised over all pairs; LR_l is
computed here from H1 = t_F(f -> c1) t_M(m -> c2) + t_F(f -> c2) t_M(m -> c1) and H2 = the
child's draws after the parents' four, and checked against the core's
:func:`kinmatch.likelihood.locus_lr` on sampled pairs of every locus; the tail is a sample,
not the grid of :mod:`kinmatch.evidence.tail`. What is shared: the frequency table and its
allele-set rule (:meth:`AlleleFrequencies.locus_alleles`: the table's alleles plus the
child's the table lacks at the minimum frequency; QC93 carries none) and the pedmut mutation
matrices (:meth:`MutationModel.matrices`).

Prints Markdown tables and, last, one line ``key=value ...``.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
from accuracy import CHINA, RATES, SUPPORT, TOP_K, database
from numpy.typing import NDArray
from scan_report import machine

from kinmatch import AlleleFrequencies, Profile, kinship_lr, load_frequencies
from kinmatch.alleles import Genotype
from kinmatch.evidence import NullModel
from kinmatch.likelihood import locus_lr
from kinmatch.mutation import MutationModel, load_mutation_rates
from kinmatch.search import Searcher

ROOT = Path(__file__).parent.parent
ACCURACY = ROOT / "docs" / "accuracy.md"
SIZE, PANEL, RELATIVES, SEED, THETA = 10_000, 15, 200, 1, 0.01
CHILD, COUPLE = "QC93", "K2398"
LN10 = math.log(10.0)
EXACT_REL_TOL = 1e-4
"""The certified bracket QC93's tail is refined to, to compare the sample with."""
TOL = 1e-9 * LN10
"""A draw within this (ln units) below the threshold reaches it, as in the exact tail."""

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class LocusPairs:
    """Every ordered (father, mother) genotype pair of one locus against a fixed child.

    ``ln_lr`` (natural log; -inf for LR 0), ``probability`` (sums to 1) and ``excluded``
    (the pair cannot give the child without mutation), flattened over (f, m)."""

    locus: str
    ln_lr: Floats
    probability: Floats
    excluded: NDArray[np.bool_]


def urn(seen: Floats, p: Floats, theta: float, k: int) -> Floats:
    """Balding-Nichols: P(next allele is a) = (n_a theta + (1 - theta) p_a) / (1 + (k - 1)
    theta) after ``k`` alleles of which ``seen`` = n_a are a (broadcast over ``seen``)."""
    return (seen * theta + (1 - theta) * p) / (1 + (k - 1) * theta)


def couple_pairs(
    locus: str,
    p: Floats,
    child: tuple[int, int],
    *,
    theta_pairs: float,
    theta_lr: float,
    matrices: tuple[Floats, Floats] | None,
) -> LocusPairs:
    """p(f, m | child) = P(f | child) P(m | child, f), the draws 3-6 after the child's two
    at ``theta_pairs`` (a heterozygote twice), and LR(f, m) = H1 / H2 at ``theta_lr``."""
    n = len(p)
    first, second = np.triu_indices(n)
    het = np.where(first != second, 2.0, 1.0)
    carries = np.zeros((len(first), n))  # copies of each allele in each genotype
    np.add.at(carries, (np.arange(len(first)), first), 1.0)
    np.add.at(carries, (np.arange(len(first)), second), 1.0)
    c1, c2 = child
    in_child = np.zeros(n)
    in_child[c1] += 1
    in_child[c2] += 1
    same = (first == second).astype(float)
    t = theta_pairs
    p_f = het * urn(in_child[first], p[first], t, 2) * urn(in_child[second] + same,
                                                              p[second], t, 3)  # fmt: skip
    seen = in_child + carries  # (f, allele): the child's and the father's alleles
    p_m = (urn(seen[:, first], p[first], t, 4)
           * urn(seen[:, second] + same, p[second], t, 5) * het)  # fmt: skip
    probability = p_f[:, None] * p_m
    probability /= probability.sum()
    # H2: the child's two alleles drawn after the parents' four, at the LR's theta
    n1 = carries[:, c1][:, None] + carries[:, c1][None, :]
    n2 = carries[:, c2][:, None] + carries[:, c2][None, :]
    if c1 != c2:
        h2 = 2 * urn(n1, p[c1], theta_lr, 4) * urn(n2, p[c2], theta_lr, 5)
    else:
        h2 = urn(n1, p[c1], theta_lr, 4) * urn(n1 + 1, p[c1], theta_lr, 5)

    def h1(paternal: Floats, maternal: Floats) -> Floats:
        tf = (paternal[first] + paternal[second]) / 2  # (f, allele): P(f passes allele)
        tm = (maternal[first] + maternal[second]) / 2
        if c1 == c2:
            return np.outer(tf[:, c1], tm[:, c1])
        return np.outer(tf[:, c1], tm[:, c2]) + np.outer(tf[:, c2], tm[:, c1])

    eye = np.eye(n)
    paternal, maternal = matrices if matrices is not None else (eye, eye)
    lr = h1(paternal, maternal) / h2
    with np.errstate(divide="ignore"):
        ln_lr = np.log(lr)
    return LocusPairs(locus, ln_lr.ravel(), probability.ravel(), (h1(eye, eye) == 0).ravel())


@dataclass(frozen=True)
class TiltedTail:
    """An importance-sampled tail P(ln LR >= s) with its standard error, and its split by
    the number of excluding loci (0, 1, 2 or more)."""

    estimate: float
    se: float
    t: float
    draws: int
    reached: int
    """Draws at or above the threshold."""
    split: tuple[tuple[float, float, int], ...]
    """(estimate, se, draws reached) for 0, 1 and 2+ excluding loci."""
    marks: tuple[Floats, ...] = ()
    """Per mark: P(the mark holds at c loci | the tail), c = 0..loci."""


def _tilted(pairs: LocusPairs, t: float) -> tuple[float, Floats]:
    """ln M(t) = ln sum_pairs p LR^t over LR > 0, and the tilted q (zero where LR = 0)."""
    finite = np.isfinite(pairs.ln_lr)
    log_q = np.full(len(pairs.ln_lr), -np.inf)
    log_q[finite] = np.log(pairs.probability[finite]) + t * pairs.ln_lr[finite]
    top = float(log_q.max())
    q = np.exp(log_q - top)
    total = float(q.sum())
    return top + math.log(total), q / total


def saddlepoint(loci: Sequence[LocusPairs], s: float) -> float:
    """The t >= 0 at which sum_l E_q[ln LR_l] = s (0 if the untilted mean is already s)."""

    def mean(t: float) -> float:
        total = 0.0
        for pairs in loci:
            _, q = _tilted(pairs, t)
            finite = q > 0
            total += float(np.dot(q[finite], pairs.ln_lr[finite]))
        return total

    if mean(0.0) >= s:
        return 0.0
    low, high = 0.0, 1.0
    while mean(high) < s:
        low, high = high, 2 * high
        if high > 1e3:
            raise ValueError(f"ln LR {s} is beyond what the loci can reach")
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if mean(middle) < s else (low, middle)
    return (low + high) / 2


def tilted_tail(
    loci: Sequence[LocusPairs],
    s: float,
    draws: int,
    rng: np.random.Generator,
    *,
    marks: Sequence[Sequence[NDArray[np.bool_]]] = (),
    chunk: int = 200_000,
) -> TiltedTail:
    """P(sum_l ln LR_l >= s) by exponential tilting at the saddlepoint (module docstring).

    ``marks``: per mark, one flag per pair of every locus; the result gives the
    distribution of the number of loci where the drawn pair is flagged, given the tail."""
    t = saddlepoint(loci, s)
    tilted = [_tilted(pairs, t) for pairs in loci]
    log_m = math.fsum(m for m, _ in tilted)
    cumulative = [np.cumsum(q) for _, q in tilted]
    sums = np.zeros((4, 3))  # rows: all, 0, 1, 2+ excluding loci; sum x, sum x^2, draws
    marked = np.zeros((len(marks), len(loci) + 1))
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        total = np.zeros(size)
        excluded = np.zeros(size, dtype=np.int64)
        counts = np.zeros((len(marks), size), dtype=np.int64)
        for li, (pairs, cum) in enumerate(zip(loci, cumulative, strict=True)):
            pick = np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"),
                              len(cum) - 1)  # fmt: skip
            total += pairs.ln_lr[pick]
            excluded += pairs.excluded[pick]
            for k, mark in enumerate(marks):
                counts[k] += mark[li][pick]
        hit = total >= s - TOL
        x = np.where(hit, np.exp(log_m - t * np.where(hit, total, 0.0)), 0.0)
        for row, mask in enumerate((hit, excluded == 0, excluded == 1, excluded >= 2)):
            part = x * mask
            sums[row] += (part.sum(), np.square(part).sum(), np.sum(hit & mask))
        for k in range(len(marks)):
            marked[k] += np.bincount(counts[k], weights=x, minlength=len(loci) + 1)
    mean = sums[:, 0] / draws
    se = np.sqrt(np.maximum(sums[:, 1] / draws - mean**2, 0.0) / draws)
    split = tuple((float(mean[r]), float(se[r]), int(sums[r, 2])) for r in (1, 2, 3))
    conditional = tuple(row / row.sum() if row.sum() > 0 else row for row in marked)
    return TiltedTail(float(mean[0]), float(se[0]), t, draws, int(sums[0, 2]), split,
                      conditional)  # fmt: skip


def best_excluded(loci: Sequence[LocusPairs], k: int) -> float:
    """The largest ln LR of a couple excluded at ``k`` or more loci: every locus at its best,
    ``k`` of them at their best excluding pair (those that lose least)."""
    best = [float(x.ln_lr.max()) for x in loci]
    loss = sorted(float(x.ln_lr[x.excluded].max()) - b for x, b in zip(loci, best, strict=True))
    return math.fsum(best) + math.fsum(loss[-k:])


# -- the event ---------------------------------------------------------------------------


def locus_pairs(
    child: Profile,
    table: AlleleFrequencies,
    searcher: Searcher,
    *,
    theta_pairs: float,
    rescale: bool = False,
) -> list[LocusPairs]:
    """Every locus of ``child`` on the searcher's allele sets, mutation matrices and theta
    (for the LR); p at ``theta_pairs``, from the table's frequencies divided by their sum
    when ``rescale`` (the simulator's draws)."""
    builder = searcher.tables
    out = []
    for locus, genotype in child.genotypes.items():
        alleles = table.locus_alleles(locus, genotype, builder.min_frequency)
        coded = (alleles.index(genotype[0]), alleles.index(genotype[1]))
        matrices = builder.mutation.matrices(alleles)
        pairs = couple_pairs(locus, alleles.frequencies, coded, theta_pairs=theta_pairs,
                             theta_lr=searcher.theta, matrices=matrices)  # fmt: skip
        if rescale:
            p = alleles.frequencies / alleles.frequencies.sum()
            other = couple_pairs(locus, p, coded, theta_pairs=theta_pairs,
                                 theta_lr=searcher.theta, matrices=matrices)  # fmt: skip
            pairs = LocusPairs(locus, pairs.ln_lr, other.probability, pairs.excluded)
        out.append(pairs)
    return out


def genotype_row(alleles: Sequence[str], genotype: Genotype) -> int:
    """The row of an unordered genotype in ``np.triu_indices(len(alleles))``."""
    n = len(alleles)
    i, j = sorted((alleles.index(genotype[0]), alleles.index(genotype[1])))
    return i * n - i * (i - 1) // 2 + (j - i)


def pair_index(alleles: Sequence[str], father: Genotype, mother: Genotype) -> int:
    """The position of (father, mother) in :func:`couple_pairs`' flattened (f, m) order."""
    n = len(alleles)
    return genotype_row(alleles, father) * (n * (n + 1) // 2) + genotype_row(alleles, mother)


def same_as(alleles: Sequence[str], genotype: Genotype, side: int) -> NDArray[np.bool_]:
    """Flags over the flattened (f, m) pairs: the father (``side`` 0) or the mother (1) has
    ``genotype``."""
    g = len(alleles) * (len(alleles) + 1) // 2
    flags = np.zeros((g, g), dtype=bool)
    row = genotype_row(alleles, genotype)
    if side == 0:
        flags[row, :] = True
    else:
        flags[:, row] = True
    return flags.ravel()


def core_check(
    child: Profile,
    loci: Sequence[LocusPairs],
    table: AlleleFrequencies,
    searcher: Searcher,
    rng: np.random.Generator,
    per_locus: int = 6,
) -> tuple[int, float]:
    """This script's LR against the core's ``locus_lr`` on ``per_locus`` pairs of every locus
    (the best pair, an excluding one and random ones): (pairs checked, largest |difference|
    of log10 LR)."""
    worst, checked = 0.0, 0
    for pairs in loci:
        genotype = child.genotypes[pairs.locus]
        alleles = table.locus_alleles(pairs.locus, genotype, searcher.tables.min_frequency)
        names = alleles.alleles
        first, second = np.triu_indices(len(names))
        g = len(first)
        chosen = [int(np.argmax(pairs.ln_lr)), int(np.flatnonzero(pairs.excluded)[0]),
                  *rng.integers(g * g, size=per_locus - 2).tolist()]  # fmt: skip
        for index in chosen:
            f, m = divmod(index, g)
            genotypes: dict[str, Genotype | None] = {
                "child": genotype,
                "father": (names[first[f]], names[second[f]]),
                "mother": (names[first[m]], names[second[m]]),
            }
            core = locus_lr("parents-child", pairs.locus, genotypes, table,
                            theta=searcher.theta, mutation=searcher.mutation,
                            min_frequency=searcher.tables.min_frequency).lr  # fmt: skip
            mine = math.exp(pairs.ln_lr[index])
            worst = max(worst, abs(math.log10(core) - math.log10(mine)))
            checked += 1
    return checked, worst


# -- independence of the fill and the planted families -----------------------------------


def identity_per_locus(table: AlleleFrequencies, loci: Sequence[str]) -> Floats:
    """P(two independent Hardy-Weinberg persons have the same genotype), per locus:
    sum_i p_i^4 + sum_{i<j} (2 p_i p_j)^2, p the table rescaled to sum 1."""
    out = []
    for locus in loci:
        p = np.array(table[locus].frequencies)
        p = p / p.sum()
        out.append(float(2 * np.sum(p**2) ** 2 - np.sum(p**4)))
    return np.array(out)


def poisson_binomial(probabilities: Floats) -> Floats:
    """P(k of the independent events happen), k = 0..len."""
    dist = np.array([1.0])
    for q in probabilities:
        dist = np.convolve(dist, [1 - q, q])
    return dist


def shared_genotypes(fill: Sequence[Profile], planted: Sequence[Profile],
                     loci: Sequence[str]) -> NDArray[np.int64]:  # fmt: skip
    """Pairs (fill person, planted person) by their number of identical genotypes."""
    codes: dict[str, dict[Genotype, int]] = {locus: {} for locus in loci}

    def encode(people: Sequence[Profile]) -> NDArray[np.int64]:
        return np.array([[codes[locus].setdefault(p.genotypes[locus], len(codes[locus]))
                          for locus in loci] for p in people])  # fmt: skip

    a, b = encode(fill), encode(planted)
    counts = np.zeros(len(loci) + 1, dtype=np.int64)
    for row in b:
        counts += np.bincount((a == row).sum(axis=1), minlength=len(loci) + 1)
    return counts


def _identical(one: Profile, other: Profile) -> int:
    return sum(one.genotypes[locus] == g for locus, g in other.genotypes.items())


# -- the grid ----------------------------------------------------------------------------


def grid_couples(path: Path) -> list[tuple[int, int, str, int, float]]:
    """(references, loci, mutation, observed, expected) of every couple row of the report."""
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 11 and cells[2] == "couple":
            found = re.match(r"(\d+) / ([0-9.e+-]+)", cells[10])
            assert found, line
            rows.append((int(cells[0].replace(",", "")), int(cells[1]), cells[3],
                         int(found[1]), float(found[2])))  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "null-check")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    table = load_frequencies(CHINA)
    mutation = MutationModel("stepwise", load_mutation_rates(RATES, default=0.002), rate2=1e-6)
    path = args.work / f"store-{SIZE}-{PANEL}"
    store, queries = database(table, SIZE, PANEL, RELATIVES, SEED, path)
    searcher = Searcher(store, table, theta=THETA, mutation=mutation, max_inconsistent=None)
    model = NullModel(searcher.tables)
    query = next(q for q in queries if q.query.sample_id == CHILD)
    child = query.query

    # 1. the hit, by the search and the core; the exact null
    result = searcher.search(child, "parents-child", top_k=TOP_K, min_lr=1.0)
    hit = next(h for h in result.hits if h.reference_id == COUPLE)
    assert hit.log10_lr is not None and hit.father_id and hit.mother_id
    father, mother = hit.persons["father"], hit.persons["mother"]
    roles = {"child": child, "father": father, "mother": mother}
    core = kinship_lr("parents-child", roles, table, theta=THETA, mutation=mutation).log10_lr
    assert core is not None
    null = model.couples(child.genotypes, loci=list(child.genotypes))
    exact = (
        NullModel(searcher.tables, rel_tol=EXACT_REL_TOL)
        .couples(child.genotypes, loci=list(child.genotypes))
        .tail(hit.log10_lr)
    )
    t0 = time.perf_counter()

    # 2. importance sampling under the null's model and under the simulator's
    mine = locus_pairs(child, table, searcher, theta_pairs=THETA)
    checked, worst = core_check(child, mine, table, searcher, rng)
    at = {p.locus: pair_index(table.locus_alleles(p.locus, child.genotypes[p.locus]).alleles,
                              father.genotypes[p.locus], mother.genotypes[p.locus])
          for p in mine}  # fmt: skip
    mine_log10 = math.fsum(float(p.ln_lr[at[p.locus]]) for p in mine) / LN10
    s = hit.log10_lr * LN10
    sampled = tilted_tail(mine, s, args.draws, rng)
    hw = locus_pairs(child, table, searcher, theta_pairs=0.0, rescale=True)
    true_parents = [query.relatives["father"], query.relatives["mother"]]
    marks = [[same_as(table.locus_alleles(p.locus, child.genotypes[p.locus]).alleles,
                      parent.genotypes[p.locus], side) for p in hw]
             for side, parent in enumerate(true_parents)]  # fmt: skip
    simulated = tilted_tail(hw, s, args.draws, rng, marks=marks)
    sampling_s = time.perf_counter() - t0
    z = (sampled.estimate - exact.estimate) / sampled.se

    # 3. the cell's queries (and the store's other couple queries, with a planted mutation)
    couples = [q for q in queries if q.kind == "couple"]
    results = searcher.search_batch([q.query for q in couples], "parents-child", top_k=TOP_K,
                                    min_lr=1.0)  # fmt: skip
    cell = [q.query.sample_id for q in couples if not q.mutated]
    observed = sum(h.lr >= SUPPORT and h.reference_id != q.truth_id
                   for q, r in zip(couples, results, strict=True) if not q.mutated
                   for h in r.hits)  # fmt: skip
    expected = {
        q.query.sample_id: (r.n_scored - 1)
        * model.couples(q.query.genotypes, loci=list(q.query.genotypes)).p_at_least(4.0)
        for q, r in zip(couples, results, strict=True)
    }
    cell_expected = math.fsum(expected[q] for q in cell)
    rank = 1 + sum(expected[q] > expected[CHILD] for q in cell)
    rank_all = 1 + sum(e > expected[CHILD] for e in expected.values())
    share = expected[CHILD] / cell_expected
    p_support = null.p_at_least(4.0)

    # 4. independence of the fill and the planted families
    people = list(store.profiles())
    planted = {p.sample_id: p for q in queries for p in (q.query, *q.relatives.values())}
    fill = [p for p in people if p.sample_id not in planted]
    fill_ids = {p.sample_id for p in fill}
    stored_ids = [p.sample_id for p in people]
    id_overlap = len(fill_ids & set(planted))
    fill_cases = {p.case_id for p in fill if p.case_id}
    planted_cases = {p.case_id for q in queries for p in q.relatives.values() if p.case_id}
    case_overlap = len(fill_cases & planted_cases)
    loci = list(child.genotypes)
    shared = shared_genotypes(fill, list(planted.values()), loci)
    chance = poisson_binomial(identity_per_locus(table, loci)) * len(fill) * len(planted)
    top = int(np.flatnonzero(shared)[-1])
    identical = [[_identical(k, t) for t in true_parents] for k in (father, mother)]
    per_locus = identity_per_locus(table, loci)
    alike = poisson_binomial(per_locus)
    sibling_lr = [[kinship_lr("full-siblings", {"person1": k, "person2": t}, table,
                              theta=THETA, mutation=mutation).log10_lr
                   for t in true_parents] for k in (father, mother)]  # fmt: skip
    fill_couple = {p.sample_id for p in fill if p.case_id == COUPLE}

    # 5. the grid
    grid = grid_couples(ACCURACY)
    grid_expected = math.fsum(e for *_, e in grid)
    grid_observed = sum(o for *_, o, _ in grid)
    this = next(e for size, panel, m, _, e in grid if (size, panel, m) == (SIZE, PANEL, "none"))
    shutil.rmtree(path)
    elapsed = time.perf_counter() - started

    def sci(x: float) -> str:
        return f"{x:.4g}"

    print(f"Machine: {machine()}; {elapsed:.0f} s in all ({sampling_s:.0f} s sampling, "
          f"{args.draws:,} draws per model, seed {args.seed})\n")  # fmt: skip
    print(
        f"Child {CHILD} (true parents {', '.join(p.sample_id for p in true_parents)}) "
        f"against couple {COUPLE} ({hit.father_id} + {hit.mother_id}), 10^4 references x "
        f"{PANEL} loci, theta {THETA}, stepwise mutation; inconsistent loci of the hit: "
        f"{', '.join(hit.details.inconsistent_loci) or 'none'}\n"
    )
    print("| quantity | value |\n|---|---:|")
    print(
        f"| log10 LR by the search / the core / this script | {hit.log10_lr:.9f} / "
        f"{core:.9f} / {mine_log10:.9f} |"
    )
    print(
        f"| this script's LR against the core's locus_lr, {checked} pairs: max abs "
        f"difference of log10 LR | {worst:.1e} |"
    )
    print(
        f"| P(LR >= observed), NullModel.couples (bracket to {EXACT_REL_TOL:g}) | "
        f"{exact.estimate:.5g} "
        f"[{exact.lower:.5g}, {exact.upper:.5g}] |"
    )
    print(
        f"| P(LR >= observed), importance sampling, the null's model (theta {THETA}) | "
        f"{sci(sampled.estimate)} +- {sci(sampled.se)} (t {sampled.t:.3f}, "
        f"{sampled.reached:,} draws reached) |"
    )
    print(f"| (IS - NullModel) / SE | {z:+.2f} |")
    print(
        f"| P(LR >= observed), importance sampling, the simulator's model (theta 0) | "
        f"{sci(simulated.estimate)} +- {sci(simulated.se)} |"
    )
    print(f"| plain draws needed to see one event | {1 / exact.estimate:.3g} |")
    print(f"| P(LR >= 10^4), NullModel.couples | {sci(p_support)} |\n")
    print("| excluding loci | P(LR >= observed), null's model | simulator's model |")
    print("|---|---:|---:|")
    for label, *cells in zip(("0", "1", "2+"), sampled.split, simulated.split, strict=True):
        shown = [f"{sci(e)} +- {sci(se)} ({n:,} draws)" if n else "no draw" for e, se, n in cells]
        print(f"| {label} | {' | '.join(shown)} |")
    print(
        f"\nThe largest log10 LR any couple reaches with 2 or more excluding loci is "
        f"{best_excluded(mine, 2) / LN10:.2f} (observed {hit.log10_lr:.2f})."
    )
    print(f"\nCell 10^4 x {PANEL}, couple, no mutation: {len(cell)} queries, unrelated hits at "
          f"LR >= 10^4 observed {observed}, expected {sci(cell_expected)} (sum of candidates "
          f"x p_unrelated(10^4)); {CHILD} ranks {rank} of {len(cell)} by that expectation "
          f"({rank_all} of the store's {len(expected)} couple queries, with those of the "
          f"planted mutation), {share:.1%} of the cell's.\n")  # fmt: skip
    print("| fill x planted pairs with k identical genotypes | observed | chance (HW) |")
    print("|---:|---:|---:|")
    for k in range(max(0, top - 4), top + 3):
        print(f"| {k} | {shared[k]:,} | {chance[k]:.3g} |")
    print(
        f"\nIDs: {len(fill):,} fill and {len(planted):,} planted persons (relatives and "
        f"queries), {id_overlap} shared sample IDs, {case_overlap} shared case IDs, "
        f"{len(stored_ids) - len(set(stored_ids))} repeated sample IDs in the store; "
        f"{COUPLE} holds {', '.join(sorted(fill_couple))}.\n"
    )
    print(
        f"| {COUPLE} against {CHILD}'s true parents | {true_parents[0].sample_id} | "
        f"{true_parents[1].sample_id} |\n|---|---:|---:|"
    )
    for role, person, same, sib in zip(("father", "mother"), (father, mother), identical,
                                       sibling_lr, strict=True):  # fmt: skip
        cells = " | ".join(f"{n} identical, full-sibling log10 LR {v:.2f}"
                           for n, v in zip(same, sib, strict=True))  # fmt: skip
        print(f"| {role} {person.sample_id} | {cells} |")
    print(
        f"\nTwo independent persons have {per_locus.sum():.2f} identical genotypes on "
        f"average; P(>= 4) = {alike[4:].sum():.3f}. Given the tail (the simulator's model), "
        f"a random couple's father has {true_parents[0].sample_id}'s genotype at "
        f"{np.dot(np.arange(len(loci) + 1), simulated.marks[0]):.2f} loci on average "
        f"(P(>= {identical[0][0]}) = {simulated.marks[0][identical[0][0] :].sum():.3f}), its "
        f"mother {true_parents[1].sample_id}'s at "
        f"{np.dot(np.arange(len(loci) + 1), simulated.marks[1]):.2f} "
        f"(P(>= {identical[1][1]}) = {simulated.marks[1][identical[1][1] :].sum():.3f}).\n"
    )
    p_any = 1 - math.exp(-grid_expected)
    print(
        f"Grid: {len(grid)} couple cells expect {grid_expected:.3g} unrelated hits at LR >= "
        f"10^4 and show {grid_observed}; P(>= 1) = {p_any:.3f}, P(exactly 1) = "
        f"{grid_expected * math.exp(-grid_expected):.3f}; the 10^4 x {PANEL} cell expects "
        f"{sci(this)}: P(>= 1 there) = {1 - math.exp(-this):.3g}, and given one event in "
        f"the grid the chance it falls there is {this / grid_expected:.3g}.\n"
    )
    print(" ".join([
        f"log10_lr={hit.log10_lr:.6f}", f"core_log10_lr={core:.6f}",
        f"p_exact={exact.estimate:.5e}", f"p_is={sampled.estimate:.4e}", f"z={z:.2f}",
        f"p_is_se={sampled.se:.2e}", f"p_is_hw={simulated.estimate:.4e}",
        f"p_is_hw_se={simulated.se:.2e}",
        *(f"p_is_excluded{k}={e:.3e}" for k, (e, _, _) in zip(("0", "1", "2+"),
                                                               sampled.split, strict=True)),
        f"p_support={p_support:.4e}", f"rank={rank}", f"queries={len(cell)}",
        f"rank_all={rank_all}",
        f"share={share:.4f}", f"cell_observed={observed}", f"cell_expected={cell_expected:.4g}",
        f"id_overlap={id_overlap}", f"case_overlap={case_overlap}",
        f"max_identical={top}", f"grid_expected={grid_expected:.4g}",
        f"grid_p_any={p_any:.4f}", f"cell_p_any={1 - math.exp(-this):.4g}",
        f"elapsed_s={elapsed:.0f}",
    ]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
