"""Scan benchmark: prints a Markdown table and one machine-readable line.

    .venv/bin/python benchmarks/scan_report.py --references 1000000 [--loci 23]
        [--frequencies fixtures/freq_China_GBT37223.csv] [--cache build/bench-stores]

Builds (or reuses, under the cache directory it names) a synthetic store of unrelated
profiles drawn from a real frequency table, with planted couples and their children, then
measures the memory-bandwidth floor, the plain scan, a vectorised numpy scan of the same LR,
the bitmap index's search of one query and of a batch of 64 (bytes read, size and build time
of the index), end-to-end searches and anonymous resident memory. The last line:
``floor_ratio numpy_ratio index_lost index_speedup`` (plain scan / indexed search of one
query) ``batch_index_speedup`` (64 x plain scan / indexed batch of 64).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numba
import numpy as np
from scanbench import ScanBench, anon_rss, best_of, floor_read
from synthetic import Planted, build_store

from kinmatch import Profile, load_frequencies
from kinmatch.index import write_index
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20, locus_sort_key
from kinmatch.store import ROLE_CODES, ReferenceStore

ROOT = Path(__file__).parent.parent
BATCH = 64


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
    index_started = time.perf_counter()
    for fragment in store.fragments:
        _ = (fragment.codes, fragment.index.bitmaps)  # map every fragment and its index
    index_open_s = time.perf_counter() - index_started  # includes a rebuild when missing
    opened = anon_rss()
    index_bytes, index_s = rebuild_index(store)
    codes_bytes = sum(f.codes.nbytes for f in store.fragments)

    query = planted[0].child
    batch = batch_queries(store, planted, BATCH)
    searcher_once = ScanBench(store, table, query).indexed
    searcher_once.search(query, "parent-child", top_k=10)
    after_query = anon_rss()
    tables_start = time.perf_counter()
    bench = ScanBench(store, table, query, batch=batch)
    tables_s = time.perf_counter() - tables_start
    floor_s = best_of(lambda: floor_read(store))
    plain_s = best_of(bench.plain_scan)
    indexed_s = best_of(bench.indexed_scan)
    batch_s = best_of(lambda: bench.batch_scan(8))
    indexed_batch_s = best_of(bench.indexed_batch, repeat=2)
    read_per_reference = bench.index_bytes_per_reference()
    signature_s = best_of(bench.signature_scan)
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
    print(f"| plain batch of 8 queries, one pass | {batch_s * 1e3:.1f} ms "
          f"| {8 * n / batch_s:,.0f} | {batch_s / plain_s:.2f} x one query |")  # fmt: skip
    print(f"| indexed search of one query (k = 2) | {indexed_s * 1e3:.1f} ms "
          f"| {n / indexed_s:,.0f} | {candidates:,} candidates ({candidates / n:.3%}); "
          f"{plain_s / indexed_s:.1f} x the plain scan |")  # fmt: skip
    print(f"| indexed batch of {BATCH} queries (k = 2) | {indexed_batch_s * 1e3:.1f} ms "
          f"| {BATCH * n / indexed_batch_s:,.0f} | {BATCH * plain_s / indexed_batch_s:.1f} x "
          f"{BATCH} plain scans |")  # fmt: skip
    print(f"| alternative: 8-bit allele signatures, then exact (k = 2) | "
          f"{signature_s * 1e3:.1f} ms | {n / signature_s:,.0f} | {loci} bytes per reference; "
          f"{plain_s / signature_s:.1f} x the plain scan |")  # fmt: skip
    print(f"| bytes read per reference and query | plain {2 * loci} | | indexed at most "
          f"{read_per_reference:.2f} (two bitmaps per typed locus, and the roles') |")  # fmt: skip
    print(f"| index: size, build | {index_bytes / 2**20:,.0f} MiB | | built in {index_s:.1f} s "
          f"({index_bytes / codes_bytes:.2f} x the codes' {codes_bytes / 2**20:,.0f} MiB); "
          f"opened in {index_open_s:.2f} s |")  # fmt: skip
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
          f"index_lost={lost} index_speedup={plain_s / indexed_s:.2f} "
          f"batch_index_speedup={BATCH * plain_s / indexed_batch_s:.2f}")  # fmt: skip


def rebuild_index(store: ReferenceStore) -> tuple[int, float]:
    """The index written again for every fragment, into a scratch directory: its size in
    bytes and the seconds it took (the ingest writes the same files)."""
    with tempfile.TemporaryDirectory(dir=store.path) as scratch:
        total, seconds = 0, 0.0
        for fragment in store.fragments:
            built = write_index(Path(scratch) / fragment.path.name, fragment.codes,
                                fragment.roles, fragment.n_alleles)  # fmt: skip
            total, seconds = total + built.bytes, seconds + built.seconds
            built.path.unlink()
    return total, seconds


def batch_queries(store: ReferenceStore, planted: list[Planted], count: int) -> list[Profile]:
    """The planted children, then persons of unknown origin of the store, ``count`` in all."""
    queries = [p.child for p in planted][:count]
    fragment = store.fragments[0]
    rows = np.flatnonzero(fragment.roles == ROLE_CODES["unknown-origin"])
    queries += [store.decode(fragment, int(r)) for r in rows[: count - len(queries)]]
    return queries


if __name__ == "__main__":
    main()
