"""Scan benchmark: prints a Markdown table and one machine-readable line.

    .venv/bin/python benchmarks/scan_report.py --references 1000000 [--loci 23]
        [--frequencies fixtures/freq_China_GBT37223.csv] [--cache build/bench-stores]

Builds (or reuses, under the cache directory it names) a synthetic store of unrelated
profiles drawn from a real frequency table, with planted couples and their children, then
measures the memory-bandwidth floor, the plain scan, a vectorised numpy scan of the same LR,
the candidate-filtered scan, end-to-end searches and anonymous resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numba
import numpy as np
from scanbench import ScanBench, anon_rss, best_of, floor_read
from synthetic import Planted, build_store

from kinmatch import Profile, load_frequencies
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20, locus_sort_key
from kinmatch.store import ReferenceStore

ROOT = Path(__file__).parent.parent


def machine() -> str:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        int(line.split()[1]) // 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (f"{cpu}, {os.cpu_count()} cores, {memory} GiB, Python {platform.python_version()}, "
            f"numba {numba.__version__}")  # fmt: skip


def panel(table_loci: list[str], count: int) -> list[str]:
    preferred = [locus for locus in dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19)
                 if locus in table_loci]  # fmt: skip
    rest = sorted(set(table_loci) - set(preferred), key=locus_sort_key)
    return (preferred + rest)[:count]


def open_or_build(
    cache: Path, frequencies: Path, loci: int, n: int
) -> tuple[Path, list[Planted], bool]:
    table = load_frequencies(frequencies)
    path = cache / f"{frequencies.stem}-{loci}loci-{n}"
    planted_file = path / "planted.json"
    if planted_file.exists():
        planted = [
            Planted(Profile(p["id"], {k: tuple(v) for k, v in p["genotypes"].items()},  # type: ignore[misc]
                            role="unknown-origin"), p["father"], p["mother"], p["case"])
            for p in json.loads(planted_file.read_text())
        ]  # fmt: skip
        return path, planted, True
    shutil.rmtree(path, ignore_errors=True)
    _, planted = build_store(path, table, panel(list(table), loci), n)
    planted_file.write_text(json.dumps([
        {"id": p.child.sample_id, "genotypes": dict(p.child.genotypes), "father": p.father_id,
         "mother": p.mother_id, "case": p.case_id} for p in planted
    ]))  # fmt: skip
    return path, planted, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, required=True)
    parser.add_argument("--loci", type=int, default=23)
    parser.add_argument("--frequencies", type=Path,
                        default=ROOT / "fixtures" / "freq_China_GBT37223.csv")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "bench-stores")
    args = parser.parse_args()

    started = time.perf_counter()
    path, planted, reused = open_or_build(args.cache, args.frequencies, args.loci,
                                          args.references)  # fmt: skip
    build_s = time.perf_counter() - started
    table = load_frequencies(args.frequencies)

    before = anon_rss()
    store = ReferenceStore.open(path)
    for fragment in store.fragments:
        _ = (fragment.codes, fragment.signatures)  # map every fragment
    opened = anon_rss()

    query = planted[0].child
    searcher_once = ScanBench(store, table, query).indexed
    searcher_once.search(query, "parent-child", top_k=10)
    after_query = anon_rss()
    tables_start = time.perf_counter()
    bench = ScanBench(store, table, query)
    tables_s = time.perf_counter() - tables_start
    floor_s = best_of(lambda: floor_read(store))
    plain_s = best_of(bench.plain_scan)
    indexed_s = best_of(bench.indexed_scan)
    batch_s = best_of(bench.batch_scan)
    numpy_s = best_of(bench.numpy_scan, repeat=1)
    kernel = bench.plain._scan([bench.tables], None, [set()], by_sex=True)[0].log10_lr
    numpy_values = np.concatenate(bench.numpy_scan())
    assert np.allclose(kernel, numpy_values, rtol=1e-12, atol=1e-9, equal_nan=True)
    candidates = bench.indexed_scan()

    searches = {}
    for name, searcher in (("plain", bench.plain), ("indexed", bench.indexed)):
        for relationship in ("parent-child", "parents-child"):
            result = searcher.search(query, relationship, top_k=10)
            seconds = best_of(lambda s=searcher, r=relationship: s.search(query, r, top_k=10))
            searches[(name, relationship)] = (result.n_scored, seconds)

    lost = 0  # planted relatives (no mutation: 0 inconsistent loci) the indexed search misses
    for item in planted:
        duo = {h.reference_id for h in bench.indexed.search(item.child, "parent-child",
                                                            top_k=10).hits}  # fmt: skip
        trio = {h.case_id for h in bench.indexed.search(item.child, "parents-child",
                                                        top_k=10).hits}  # fmt: skip
        lost += 3 - sum([item.father_id in duo, item.mother_id in duo, item.case_id in trio])

    n, loci = len(store), len(store.loci)
    gb = n * loci * 2 / 1e9
    print(f"## Scan benchmark: {n:,} references x {loci} loci ({args.frequencies.name})\n")
    print(f"Machine: {machine()}  ")
    print(f"Command: `python benchmarks/scan_report.py --references {args.references} "
          f"--loci {args.loci} --frequencies {args.frequencies.name}`  ")  # fmt: skip
    print(f"Store: `{path}` ({'reused' if reused else f'built in {build_s:.1f} s'}), "
          f"query tables built in {tables_s * 1e3:.0f} ms\n")  # fmt: skip
    print("| measurement | time | references/s | note |")
    print("|---|---:|---:|---|")
    print(f"| floor: parallel read of N x L uint16 | {floor_s * 1e3:.1f} ms | {n / floor_s:,.0f} "
          f"| {gb / floor_s:.1f} GB/s |")  # fmt: skip
    print(f"| plain scan, parent-child kernel | {plain_s * 1e3:.1f} ms | {n / plain_s:,.0f} "
          f"| {plain_s / floor_s:.2f} x floor |")  # fmt: skip
    print(f"| numpy vectorised scan, same LR | {numpy_s * 1e3:.1f} ms | {n / numpy_s:,.0f} "
          f"| {numpy_s / plain_s:.1f} x kernel |")  # fmt: skip
    print(f"| batch of 8 queries, one pass | {batch_s * 1e3:.1f} ms | {8 * n / batch_s:,.0f} "
          f"| {batch_s / plain_s:.2f} x one query |")  # fmt: skip
    print(f"| indexed scan (k = 2) | {indexed_s * 1e3:.1f} ms | {n / indexed_s:,.0f} "
          f"| {candidates:,} candidates ({candidates / n:.3%}) |")  # fmt: skip
    for (name, relationship), (met, seconds) in searches.items():
        print(f"| search {relationship}, {name}, end to end | {seconds * 1e3:.1f} ms "
              f"| {met / seconds:,.0f} | {met:,} met |")  # fmt: skip
    print(f"| anonymous RSS after opening | {(opened - before) / 2**20:.1f} MiB | | "
          f"genotypes: {gb * 1e3 / 1.048576:.0f} MiB mapped |")  # fmt: skip
    print(f"| anonymous RSS after one parent-child query | {(after_query - before) / 2**20:.1f} "
          "MiB | | tables, masks, reused score buffer (8 bytes/reference) |")  # fmt: skip
    print(
        f"\nPlanted relatives: {len(planted) * 3} (father, mother and couple of "
        f"{len(planted)} children); missed by the indexed search in its top 10: {lost}.\n"
    )
    print(f"floor_ratio={plain_s / floor_s:.3f} numpy_ratio={numpy_s / plain_s:.2f} "
          f"index_speedup={plain_s / indexed_s:.2f} index_lost={lost}")  # fmt: skip


if __name__ == "__main__":
    main()
