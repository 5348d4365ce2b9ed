"""Subprocess for the crash tests: ingest one batch into a store, to be SIGKILLed.

    python tests/ingest_worker.py STORE N SEED
    python tests/ingest_worker.py csv STORE FILE CHUNK_BYTES HOOK K WHEN

The first form ingests a synthetic batch and prints ``ready`` once the batch is built, just
before the ingest starts (the test kills it after a delay). The second ingests a CSV file in
chunks of about CHUNK_BYTES and SIGKILLs itself ``before`` or ``after`` the K-th call of
HOOK, one of :data:`HOOKS` (a point of parsing, spilling, checking or committing).
"""

import importlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kinmatch import Profile
from kinmatch.loci import CODIS_20
from kinmatch.store import ReferenceStore


def batch(n: int, seed: int) -> list[Profile]:
    rng = np.random.default_rng(seed)
    alleles = [str(a) for a in range(5, 35)] + ["9.3", "30.2"]
    draws = rng.integers(0, len(alleles), size=(n, len(CODIS_20), 2))
    # every genotype sorted once, looked up by its two draws (cheap: the crash tests build
    # 20,000 profiles in each worker process)
    pairs = [[tuple(sorted((a, b), key=float)) for b in alleles] for a in alleles]
    pair_index = (draws[:, :, 0] * len(alleles) + draws[:, :, 1]).tolist()
    flat = [pair for row in pairs for pair in row]
    return [
        Profile(
            f"B{seed}-{i}",
            dict(zip(CODIS_20, [flat[k] for k in pair_index[i]], strict=True)),  # type: ignore[arg-type]
            role="unknown-origin",
        )
        for i in range(n)
    ]


HOOKS = {
    "parse": ("kinmatch.chunks", "_wide_chunk"),
    "spill": ("kinmatch.bulk", "write_fragment"),
    "partition": ("kinmatch.bulk", "_Partitions.add"),
    "check": ("kinmatch.bulk", "_resolve_partition"),
    "rename": ("kinmatch.store", "os.rename"),
    "manifest": ("kinmatch.store", "write_manifest"),
    "replace": ("kinmatch.atomic", "os.replace"),
    "cleanup": ("kinmatch.store", "ReferenceStore._remove_orphans"),
}


def install_kill_hook(hook: str, k: int, when: str) -> None:
    """SIGKILL this process before or after the ``k``-th call of ``HOOKS[hook]``."""
    module_name, dotted = HOOKS[hook]
    owner: Any = importlib.import_module(module_name)
    *parents, name = dotted.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original: Callable[..., Any] = getattr(owner, name)
    calls = [0]

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == k and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls[0] == k and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, counting)


def ingest_csv(store: str, path: str, chunk_bytes: int, hook: str, k: int, when: str) -> None:
    install_kill_hook(hook, k, when)
    ReferenceStore.open_or_create(store).ingest_csv([Path(path)], chunk_bytes=chunk_bytes)
    print("done", flush=True)


if __name__ == "__main__" and sys.argv[1] == "csv":
    store, path, chunk, hook, k, when = sys.argv[2:8]
    ingest_csv(store, path, int(chunk), hook, int(k), when)
elif __name__ == "__main__":
    path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    profiles = batch(n, seed)
    store = ReferenceStore.open_or_create(path)
    print("ready", flush=True)
    store.ingest(profiles)
    print("done", flush=True)
