"""Speed of the exact family LR (issue 15): one person of interest (POI) against one family of
each shape on 23 loci.

    .venv/bin/python benchmarks/family_lr.py [--loci 23] [--repeats 3] [--seed 1]

Shapes (the missing member is always the child; everyone not listed is untyped): mother +
full sibling; both paternal grandparents; father + paternal half-sibling; mother + maternal
uncle; father + mother + full sibling; two full siblings; grandmother + maternal aunt (the
issue's seven); then two where an untyped member passes genes to several typed relatives:
both paternal grandparents + full sibling, and paternal uncle + maternal aunt + full sibling
(10 persons, 12 meioses, all four grandparents and both parents untyped). The relatives and
the POI (the true missing child) are simulated Mendelian, without mutation, from the US
Caucasian NIST 1036 table (its frequencies rescaled to sum 1) on the CODIS 20 loci plus Penta
E, D6S1043 and Penta D. Each shape is timed with :func:`kinmatch.family_lr` under three
settings: (a) no mutation, theta 0; (b) stepwise (STRBase/AABB rates, 0.002 where a locus has
none, rate2 1e-6, range 0.5), theta 0; (c) the same stepwise model, theta 0.01. A time is the
best of ``--repeats`` calls after one warm-up call (which builds the mutation matrices and the
compiled programs the later calls find cached), in ms per LR of one POI against one family on
all loci.

At theta 0 both pedigrees are peeled (:mod:`kinmatch.peeling`). With theta > 0 the last
column says how: "compiled" is the core's sum over inheritance patterns evaluated by its
compiled twin (:mod:`kinmatch.descent`: the patterns listed once per family shape, then a
Numba sum per locus); "peeled, U genes" is peeling under the urn, one peeling per set
partition of the U untyped founder genes that reach a typed person (up to swapping a
founder's two genes), where a gene branches below an untyped member.

Prints a Markdown table and, last, one line
``family_lr_ms_max=... plain_ms_max=... stepwise_ms_max=... stepwise_theta_ms_max=...`` (the
slowest shape of all settings, then per setting).
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinmatch import AlleleFrequencies, MutationModel, Profile, descent, load_frequencies
from kinmatch.alleles import Genotype, make_genotype
from kinmatch.families import Family, Member, make_family
from kinmatch.family_lr import family_lr
from kinmatch.likelihood import KinshipResult
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.mutation import load_mutation_rates
from kinmatch.peeling import urn_genes

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "fixtures" / "freq_US-Cauc_NIST1036.csv"
RATES = ROOT / "fixtures" / "mutation_rates_STRBase_AABB.csv"
LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
"""CODIS 20, then Penta E, D6S1043 and Penta D: 23 loci."""

Row = tuple[str, str, str | None, str | None, bool]
"""``(person, sex, father, mother, typed)``."""

_PARENTS: list[Row] = [("father", "M", None, None, False), ("mother", "F", None, None, False)]
_CHILD: Row = ("child", "M", "father", "mother", False)


def _typed(rows: list[Row], *typed: str) -> list[Row]:
    return [(p, s, f, m, p in typed or t) for p, s, f, m, t in rows]


SHAPES: dict[str, list[Row]] = {
    "mother + full sibling": _typed(
        [*_PARENTS, ("sib", "F", "father", "mother", False), _CHILD], "mother", "sib"
    ),
    "both paternal grandparents": [
        ("gf", "M", None, None, True), ("gm", "F", None, None, True),
        ("father", "M", "gf", "gm", False), ("mother", "F", None, None, False), _CHILD,
    ],
    "father + paternal half-sibling": [
        ("father", "M", None, None, True), ("mother", "F", None, None, False),
        ("mother2", "F", None, None, False), ("halfsib", "M", "father", "mother2", True), _CHILD,
    ],
    "mother + maternal uncle": [
        ("gf", "M", None, None, False), ("gm", "F", None, None, False),
        ("mother", "F", "gf", "gm", True), ("uncle", "M", "gf", "gm", True),
        ("father", "M", None, None, False), _CHILD,
    ],
    "father + mother + full sibling": _typed(
        [*_PARENTS, ("sib", "F", "father", "mother", False), _CHILD], "father", "mother", "sib"
    ),
    "two full siblings": [
        *_PARENTS, ("sib1", "F", "father", "mother", True),
        ("sib2", "M", "father", "mother", True), _CHILD,
    ],
    "grandmother + maternal aunt": [
        ("gf", "M", None, None, False), ("gm", "F", None, None, True),
        ("mother", "F", "gf", "gm", False), ("aunt", "F", "gf", "gm", True),
        ("father", "M", None, None, False), _CHILD,
    ],
    # beyond the seven: an untyped member passing genes to several typed relatives
    "both paternal grandparents + full sibling": [
        ("gf", "M", None, None, True), ("gm", "F", None, None, True),
        ("father", "M", "gf", "gm", False), ("mother", "F", None, None, False),
        ("sib", "F", "father", "mother", True), _CHILD,
    ],
    "paternal uncle + maternal aunt + full sibling": [
        ("gf", "M", None, None, False), ("gm", "F", None, None, False),
        ("mgf", "M", None, None, False), ("mgm", "F", None, None, False),
        ("father", "M", "gf", "gm", False), ("uncle", "M", "gf", "gm", True),
        ("mother", "F", "mgf", "mgm", False), ("aunt", "F", "mgf", "mgm", True),
        ("sib", "F", "father", "mother", True), _CHILD,
    ],
}  # fmt: skip


def settings() -> dict[str, tuple[float, MutationModel]]:
    stepwise = MutationModel(
        "stepwise", load_mutation_rates(RATES, default=0.002), rate2=1e-6, range=0.5
    )
    return {
        "no mutation, theta 0": (0.0, MutationModel()),
        "stepwise, theta 0": (0.0, stepwise),
        "stepwise, theta 0.01": (0.01, stepwise),
    }


KEYS = ("plain_ms_max", "stepwise_ms_max", "stepwise_theta_ms_max")
KEYS_THETA = "stepwise, theta 0.01"


@dataclass(frozen=True)
class Case:
    """One shape: the family, its typed members' profiles and the POI."""

    name: str
    family: Family
    profiles: dict[str, Profile]
    poi: Profile

    def lr(self, table: AlleleFrequencies, theta: float, mutation: MutationModel) -> KinshipResult:
        return family_lr(self.poi, self.family, self.profiles, table, theta=theta,
                         mutation=mutation)  # fmt: skip

    def theta_method(self, theta: float) -> str:
        """How theta > 0 is computed under H1: the compiled program, or peeling under the
        urn over this many untyped founder genes."""
        pedigree = self.family.pedigree(poi="poi")
        typed = tuple(sorted([*self.family.typed, "poi"]))
        if descent.descent_program(pedigree, typed, None, theta) is not None:
            return "compiled"
        return f"peeled, {urn_genes(pedigree, typed)} genes"


def simulate(
    name: str, rows: Sequence[Row], table: AlleleFrequencies, loci: Sequence[str], seed: int
) -> Case:
    """The family of ``rows`` with Mendelian genotypes (no mutation); the POI is the child."""
    rng = np.random.default_rng(seed)
    genotypes: dict[str, dict[str, Genotype]] = {}
    for person, _, father, mother, _ in rows:
        genotypes[person] = {}
        for locus in loci:
            if father is None or mother is None:
                p = np.array(table[locus].frequencies)
                a, b = rng.choice(len(p), size=2, p=p / p.sum())
                alleles = table[locus].alleles
                genotypes[person][locus] = make_genotype(alleles[a], alleles[b])
            else:
                genotypes[person][locus] = make_genotype(
                    genotypes[father][locus][rng.integers(2)],
                    genotypes[mother][locus][rng.integers(2)],
                )
    members = [Member(p, s, f, m, f"{name}:{p}" if t else None) for p, s, f, m, t in rows]
    profiles = {
        f"{name}:{p}": Profile(f"{name}:{p}", genotypes[p], sex=s) for p, s, _, _, t in rows if t
    }
    poi = Profile("POI", genotypes["child"], sex="M")
    return Case(name, make_family(name, members, "child"), profiles, poi)


def best_ms(call: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` timed calls, in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def machine() -> str:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--loci", type=int, default=len(LOCI), help="first N of the 23 loci")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell (best)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    loci = LOCI[: args.loci]
    table = load_frequencies(TABLE)
    grid = settings()
    print(f"Machine: {machine()}")
    print(f"Table: {TABLE.name}; {len(loci)} loci: {', '.join(loci)}")
    print(f"Mutation rates: {RATES.name} (0.002 where missing), rate2 1e-6, range 0.5\n")
    print("| shape | persons | meioses | typed | " + " | ".join(f"{s} (ms)" for s in grid)
          + " | theta > 0 by |")  # fmt: skip
    print("|---|---:|---:|---:|" + "---:|" * len(grid) + "---|")
    worst = dict.fromkeys(KEYS, 0.0)
    for number, (name, rows) in enumerate(SHAPES.items()):
        case = simulate(name, rows, table, loci, args.seed + number)
        cells = []
        for key, (theta, mutation) in zip(KEYS, grid.values(), strict=True):
            call = functools.partial(case.lr, table, theta, mutation)
            result = call()  # the warm-up: checked, not timed
            if len(result.loci_compared) != len(loci) or not math.isfinite(result.lr):
                raise SystemExit(f"{name}: {len(result.loci_compared)} loci compared")
            ms = best_ms(call, args.repeats)
            worst[key] = max(worst[key], ms)
            cells.append(f"{ms:.1f}")
        family = case.family
        print(f"| {name} | {len(family.members)} | {family.meioses} | {len(family.typed)} | "
              + " | ".join(cells) + f" | {case.theta_method(grid[KEYS_THETA][0])} |")  # fmt: skip
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\nCommand: .venv/bin/python benchmarks/family_lr.py {shown}".rstrip())
    values = {"family_lr_ms_max": max(worst.values()), **worst}
    print(" ".join(f"{key}={value:.4g}" for key, value in values.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
