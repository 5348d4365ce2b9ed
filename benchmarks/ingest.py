"""Bulk ingest speed and memory: ``kinmatch ingest`` of one synthetic wide-layout CSV.

    .venv/bin/python benchmarks/ingest.py --sizes 1e6,1e7 [--work build]

For each size N, writes (or reuses) ``WORK/ingest-syn-N/references.csv`` with ``kinmatch synth``
(China table, default panel of 23 loci, seed 1), then runs ``kinmatch ingest`` into a fresh
store ``WORK/ingest-store-N`` in its own process and measures its wall time and peak resident
set (``ru_maxrss`` of that process alone, from ``wait4``). Not a timed test: run it by hand.

Prints a Markdown table and, last, one line ``ingest_1e6_s=... ingest_1e6_rss_mb=...
ingest_1e6_per_s=...`` (one triple per size).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"


def kinmatch(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "kinmatch", *map(str, args)]


def synthetic_csv(work: Path, n: int, label: str) -> Path:
    """The cached CSV of ``n`` references (written once)."""
    out = work / f"ingest-syn-{label}"
    csv = out / "references.csv"
    if not csv.exists():
        subprocess.run(kinmatch("synth", "--frequencies", CHINA, "--references", n,
                                "--families", 10, "--seed", 1, "--out", out),
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return csv


def measure(csv: Path, store: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``kinmatch ingest`` process."""
    shutil.rmtree(store, ignore_errors=True)
    start = time.monotonic()
    process = subprocess.Popen(kinmatch("ingest", "--store", store, csv),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"kinmatch ingest failed with exit code {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1e6", help="comma-separated, e.g. 1e6,1e7")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows, line = [], []
    for label in args.sizes.split(","):
        n = int(float(label))
        csv = synthetic_csv(args.work, n, label)
        store = args.work / f"ingest-store-{label}"
        seconds, rss = measure(csv, store)
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)
        size_mb = csv.stat().st_size / 1e6
        rows.append(f"| {n:,} | {size_mb:,.0f} | {seconds:,.1f} | {n / seconds:,.0f} | "
                    f"{rss:,.0f} |")  # fmt: skip
        line.append(f"ingest_{label}_s={seconds:.1f} ingest_{label}_rss_mb={rss:.0f} "
                    f"ingest_{label}_per_s={n / seconds:.0f}")  # fmt: skip
    print(f"kinmatch ingest, one wide-layout CSV from kinmatch synth; {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}\n")  # fmt: skip
    print("| profiles | CSV MB | seconds | profiles/s | peak RSS MB |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print(" ".join(line))


if __name__ == "__main__":
    main()
