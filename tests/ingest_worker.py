"""Subprocess for the crash test: ingest one synthetic batch into a store, to be SIGKILLed.

    python tests/ingest_worker.py STORE N SEED

Prints ``ready`` once the batch is built, just before the ingest starts.
"""

import sys

import numpy as np

from kinmatch import Profile
from kinmatch.loci import CODIS_20
from kinmatch.store import ReferenceStore


def batch(n: int, seed: int) -> list[Profile]:
    rng = np.random.default_rng(seed)
    alleles = [str(a) for a in range(5, 35)] + ["9.3", "30.2"]
    draws = rng.integers(0, len(alleles), size=(n, len(CODIS_20), 2))
    return [
        Profile(
            f"B{seed}-{i}",
            {
                locus: tuple(sorted((alleles[a], alleles[b]), key=float))  # type: ignore[misc]
                for locus, (a, b) in zip(CODIS_20, draws[i].tolist(), strict=True)
            },
            role="unknown-origin",
        )
        for i in range(n)
    ]


if __name__ == "__main__":
    path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    profiles = batch(n, seed)
    store = ReferenceStore.open_or_create(path)
    print("ready", flush=True)
    store.ingest(profiles)
    print("done", flush=True)
