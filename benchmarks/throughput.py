"""Throughput of ``kinmatch match`` on many distinct queries against the cost of its scan.

    .venv/bin/python benchmarks/throughput.py --references N --queries Q [--work DIR]

Builds (or reuses, under ``--work``) a store of N references written by ``kinmatch synth``
with Q missing-children families (the Q queries are the missing children of
``queries.csv``, so most have a registered parent or couple), then runs ``kinmatch match``
in a fresh process for parent-child (duo) and parents-child (couple), with and without
evidence: stepwise AABB rates (0.002 where a locus has none), theta 0.01, min LR 10^4, top 10.
In the same run it times the plain scan kernel of one query at N (no candidate filter; best
of 3), so ``scan_only_s`` = Q x that time is what the batch would cost if only the scan were
paid. Peak memory is the largest anonymous resident set (RssAnon) of the match process,
which leaves out the store's memory-mapped pages.

Prints a Markdown table and, last, one line:
``batch_s=... scan_only_s=... overhead_ratio=... fixed_ms=... evidence_s=...
evidence_overhead_ratio=... couple_overhead_ratio=... couple_fixed_ms=...
couple_evidence_overhead_ratio=... peak_rss_mb=...`` (duo and couple without evidence; the
``evidence_`` ratios with it).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"
RATES = ROOT / "fixtures" / "mutation_rates_STRBase_AABB.csv"
MUTATION = ["--mutation-model", "stepwise", "--mutation-rates", str(RATES),
            "--default-mutation-rate", "0.002", "--mutation-rate2", "0.000001"]  # fmt: skip


def kinmatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "kinmatch", *args]


def prepare(work: Path, references: int, queries: int, seed: int) -> Path:
    """The cached store and queries for (N, Q, seed), built by kinmatch synth when missing."""
    root = work / f"n{references}-q{queries}-s{seed}"
    if (root / "store" / "manifest.json").exists() and (root / "syn" / "queries.csv").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(kinmatch("synth", "--frequencies", str(CHINA), "--references",
                            str(references), "--families", str(queries), "--seed", str(seed),
                            "--out", str(root / "syn"), "--store", str(root / "store"),
                            *MUTATION), check=True)  # fmt: skip
    return root


def peak_anon_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Poll /proc/PID/status every 20 ms for the largest RssAnon (kB)."""
    status = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except OSError:
            return
        stop.wait(0.02)


def run_match(root: Path, relationship: str, evidence: bool) -> dict[str, float]:
    """One kinmatch match in a fresh process: wall time, evidence time, peak RssAnon."""
    out = root / f"hits-{relationship}-{'evidence' if evidence else 'bare'}.csv"
    command = kinmatch("match", "--store", str(root / "store"), "--frequencies", str(CHINA),
                       "--queries", str(root / "syn" / "queries.csv"), "--relationship",
                       relationship, "--theta", "0.01", *MUTATION, "--min-lr", "10000",
                       "--top-k", "10", "--out", str(out),
                       "--evidence" if evidence else "--no-evidence")  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TQDM_DISABLE": "1"})  # fmt: skip
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=peak_anon_rss, args=(process.pid, stop, peak))
    watcher.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    stop.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"kinmatch match failed ({process.returncode}):\n{stderr}")
    found = re.search(r"evidence in ([0-9.]+) s", stdout)
    hits = re.search(r"(\d+) written", stdout)
    return {"wall_s": wall, "evidence_s": float(found.group(1)) if found else 0.0,
            "rss_mb": peak[0] / 1024, "hits": float(hits.group(1)) if hits else 0.0}  # fmt: skip


def scan_times(root: Path) -> tuple[float, float]:
    """Best-of-3 seconds of the plain duo scan and the plain couple scan of one query."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scanbench import ScanBench, best_of

    from kinmatch import load_frequencies, read_profiles
    from kinmatch.kernels.scan import score_couples
    from kinmatch.store import ReferenceStore
    from kinmatch.tables import couple_tables

    table = load_frequencies(CHINA)
    store = ReferenceStore.open(root / "store")
    query = next(iter(read_profiles(root / "syn" / "queries.csv").values()))
    bench = ScanBench(store, table, query)
    duo = best_of(bench.plain_scan)
    searcher = bench.plain
    couples = searcher._couples()
    tables = couple_tables(searcher.tables, query.genotypes, store.loci, store.manifest.alleles)
    n = len(couples.case_ids)
    scored, exact = np.empty(n), np.empty(n, dtype=bool)

    def couple_scan() -> None:
        score_couples(couples.father, couples.mother, tables.transmit, tables.count, tables.rare,
                      tables.duo.log10_lr, tables.child_p, tables.child_het,
                      tables.child_one_sided, 0.01, scored, exact)  # fmt: skip

    return duo, best_of(couple_scan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, required=True)
    parser.add_argument("--queries", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "throughput")
    parser.add_argument(
        "--skip-evidence",
        action="store_true",
        help="Only the runs without evidence (their ratios are then absent).",
    )
    args = parser.parse_args(argv)
    root = prepare(args.work, args.references, args.queries, args.seed)
    duo_scan, couple_scan = scan_times(root)
    q = args.queries
    runs = {}
    for relationship in ("parent-child", "parents-child"):
        for evidence in (False, True) if not args.skip_evidence else (False,):
            runs[relationship, evidence] = run_match(root, relationship, evidence)
    print(
        f"\nkinmatch match throughput: {args.references:,} references, {q:,} distinct "
        f"queries, 23 loci, stepwise AABB, theta 0.01; {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    print(
        "| search | evidence | hits | match s | scan-only s | ratio | fixed ms/query "
        "| evidence s | peak RssAnon MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    line: dict[str, float] = {}
    for (relationship, evidence), run in runs.items():
        scan_only = q * (duo_scan if relationship == "parent-child" else couple_scan)
        ratio = run["wall_s"] / scan_only
        fixed = (run["wall_s"] - scan_only) / q * 1000
        name = "duo" if relationship == "parent-child" else "couple"
        print(
            f"| {name} | {'yes' if evidence else 'no'} | {run['hits']:.0f} | "
            f"{run['wall_s']:.1f} | {scan_only:.1f} | {ratio:.2f} | {fixed:.1f} | "
            f"{run['evidence_s']:.1f} | {run['rss_mb']:.0f} |"
        )
        prefix = "" if relationship == "parent-child" else "couple_"
        if not evidence:
            if prefix == "":
                line |= {"batch_s": run["wall_s"], "scan_only_s": scan_only}
            line |= {f"{prefix}overhead_ratio": ratio, f"{prefix}fixed_ms": fixed}
        else:
            line[f"{prefix}evidence_overhead_ratio"] = ratio
            if prefix == "":
                line["evidence_s"] = run["evidence_s"]
    line["peak_rss_mb"] = max(run["rss_mb"] for run in runs.values())
    keys = ["batch_s", "scan_only_s", "overhead_ratio", "fixed_ms", "evidence_s",
            "evidence_overhead_ratio", "couple_overhead_ratio", "couple_fixed_ms",
            "couple_evidence_overhead_ratio", "peak_rss_mb"]  # fmt: skip
    shown = sys.argv[1:] if argv is None else argv
    print("\nCommand: .venv/bin/python benchmarks/throughput.py " + " ".join(shown))
    print(" ".join(f"{key}={line[key]:.4g}" for key in keys if key in line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
