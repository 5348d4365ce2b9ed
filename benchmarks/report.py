"""Print a table of reference-LR timings with the machine they were measured on.

.venv/bin/python benchmarks/report.py
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import CHINA, EXAMPLES

from kinmatch import (
    MutationModel,
    MutationRates,
    kinship_lr,
    load_frequencies,
    read_profiles,
)
from kinmatch.cases import read_cases


def main() -> None:
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    frequencies = load_frequencies(CHINA)
    cases = {case.relationship: case for case in read_cases(EXAMPLES / "cases.csv", profiles)}
    models = {
        "none": MutationModel(),
        "stepwise": MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6),
    }
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"table: {frequencies.name}; profiles: {EXAMPLES / 'profiles.csv'} (23 loci)")
    print(f"{'relationship':<16} {'model':<9} {'theta':>5} {'ms/case':>9}")
    for relationship, case in cases.items():
        persons = case.persons(profiles)
        for name, model in models.items():
            for theta in (0.0, 0.01):
                call = functools.partial(
                    kinship_lr, relationship, persons, frequencies, theta=theta, mutation=model
                )
                timer = timeit.Timer(call)
                runs = timer.autorange()[0]
                best = min(timer.repeat(3, runs)) / runs
                print(f"{relationship:<16} {name:<9} {theta:>5} {best * 1e3:>9.2f}")


if __name__ == "__main__":
    main()
