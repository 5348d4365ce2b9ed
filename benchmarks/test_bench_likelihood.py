"""Speed of the exact reference LR: one case of each relationship on 23 loci.

The reference implementation is plain Python and numpy; it is the truth the fast kernels are
checked against, not the search engine. Run: ``make bench``.
"""

import pytest
from conftest import CHINA, EXAMPLES

from kinmatch import MutationModel, MutationRates, kinship_lr, load_frequencies, read_profiles
from kinmatch.cases import read_cases

PROFILES = read_profiles(EXAMPLES / "profiles.csv")
FREQUENCIES = load_frequencies(CHINA)
CASES = {case.relationship: case for case in read_cases(EXAMPLES / "cases.csv", PROFILES)}
STEPWISE = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6, range=0.5)


@pytest.mark.parametrize("relationship", list(CASES))
def test_reference_lr_23_loci(benchmark, relationship: str) -> None:  # type: ignore[no-untyped-def]
    case = CASES[relationship]
    result = benchmark(
        kinship_lr, relationship, case.persons(PROFILES), FREQUENCIES, theta=0.01,
        mutation=STEPWISE,
    )  # fmt: skip
    assert len(result.loci_compared) >= 22
