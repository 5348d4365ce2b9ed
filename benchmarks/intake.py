"""Intake and campaign benchmarks: a batch compared on entry, and a national re-comparison.

    .venv/bin/python benchmarks/intake.py --references N --new Q --campaign-persons P [--work DIR]

Intake: a store of the N references of ``kinmatch synth`` (Q missing-children families)
without the Q missing children, who then arrive as one batch: ``kinmatch intake`` in a fresh
process into a copy of that store with a SQLite review queue, split into ingest, comparison
(every new child against every registered parent and couple, with evidence) and push.
Campaign: ``kinmatch campaign`` in a fresh process over a store of N registered relatives
(couples and single parents) and P persons of unknown origin (1,000 of them children of
registered couples), with its wall time, pairs per second and a projection, linear in both
counts, to 10^6 persons of unknown origin against 10^7 registered references on one
machine. Both: stepwise AABB rates (0.002 where a locus has none), theta 0.01, min LR 10^4,
parent-child and parents-child, 23 loci of the China table. Stores are cached under --work.

Prints a Markdown table and, last, one line: ``intake_s=... ingest_s=... compare_s=...
push_s=... intake_hits=... campaign_s=... campaign_pairs=... pairs_per_s=...
projection_days=...``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from synthetic import build_campaign_store
from throughput import CHINA, MUTATION, RATES, ROOT, kinmatch

from kinmatch import load_frequencies
from kinmatch.intake import IntakeSettings
from kinmatch.ledger import Ledger, file_sha256
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.mutation import MutationModel, load_mutation_rates
from kinmatch.store import ReferenceStore

LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
SEARCH = ["--frequencies", str(CHINA), "--theta", "0.01", *MUTATION, "--min-lr", "10000"]


def run(*args: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(kinmatch(*args), capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"kinmatch {args[0]} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout, time.perf_counter() - started


def intake_base(work: Path, references: int, new: int, seed: int) -> Path:
    """The cached base store (the synth references without the missing children) and the
    children's CSV."""
    root = work / f"intake-n{references}-q{new}-s{seed}"
    if (root / "base" / "manifest.json").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    run("synth", "--frequencies", str(CHINA), "--references", str(references), "--families",
        str(new), "--seed", str(seed), "--out", str(root / "syn"), *MUTATION)  # fmt: skip
    with (root / "syn" / "queries.csv").open() as handle:
        children = {line.split(",", 1)[0] for line in handle}
    with (root / "syn" / "references.csv").open() as source, \
            (root / "base.csv").open("w") as target:  # fmt: skip
        for number, line in enumerate(source):
            if number == 0 or line.split(",", 1)[0] not in children:
                target.write(line)
    run("ingest", "--store", str(root / "base"), str(root / "base.csv"))
    _mark_compared(root / "base")
    return root


def _mark_compared(store_path: Path) -> None:
    """Record the base's own version as compared under the benchmark's parameters (comparing
    it is a campaign's work, measured below), so the intake compares only the new batch."""
    rates = load_mutation_rates(RATES, default=0.002)
    settings = IntakeSettings(load_frequencies(CHINA), file_sha256(CHINA), theta=0.01,
                              mutation=MutationModel("stepwise", rates, rate2=1e-6),
                              min_lr=1e4)  # fmt: skip
    store = ReferenceStore.open(store_path)
    with Ledger(store_path) as ledger:
        key = ledger.register(settings.comparison(settings.searcher(store).parameters))
        for version in ledger.outstanding(key, store.generation):
            ledger.record_compared(key, version, [], 0)
            ledger.record_pushed(key, version)


def credentials(work: Path) -> tuple[Path, Path]:
    """A trust directory (agency A1, made once) and a fresh analyst's token."""
    keys, trust, token = work / "keys", work / "trust", work / "analyst.jwt"
    if not (trust / "A1.pub").exists():
        run("keys", "new", "--agency", "A1", "--out", str(keys))
        trust.mkdir(exist_ok=True)
        shutil.copy(keys / "A1.pub", trust / "A1.pub")
    token.unlink(missing_ok=True)
    run("keys", "issue", "--key", str(keys / "A1.key"), "--sub", "bench", "--roles", "analyst",
        "--jurisdiction", "A1", "--ttl", "12h", "--out", str(token))  # fmt: skip
    return trust, token


def intake(work: Path, root: Path) -> dict[str, float]:
    store, queue = root / "run-store", root / "run-queue.db"
    shutil.rmtree(store, ignore_errors=True)
    for path in root.glob("run-queue.db*"):
        path.unlink()
    shutil.copytree(root / "base", store)
    trust, token = credentials(work)
    out, wall = run("intake", "--store", str(store), *SEARCH, "--queue", f"sqlite:///{queue}",
                    "--trust", str(trust), "--token", str(token),
                    str(root / "syn" / "queries.csv"))  # fmt: skip
    ingest = re.search(r"profiles\) in ([0-9.]+) s", out)
    if "compared versions 2:" not in out:
        raise SystemExit(f"the intake compared more than the new batch:\n{out}")
    compare = re.search(r"(\d+) hits at LR >= \S+, in ([0-9.]+) s", out)
    push = re.search(r"review queue: (\d+) new items.* in ([0-9.]+) s", out)
    if not (ingest and compare and push):
        raise SystemExit(f"unexpected intake output:\n{out}")
    return {"intake_s": wall, "ingest_s": float(ingest.group(1)),
            "compare_s": float(compare.group(2)), "push_s": float(push.group(2)),
            "intake_hits": float(compare.group(1)), "queued": float(push.group(1))}  # fmt: skip


def campaign(work: Path, registered: int, persons: int, seed: int) -> dict[str, float]:
    root = work / f"campaign-r{registered}-u{persons}-s{seed}"
    if not (root / "store" / "manifest.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        build_campaign_store(root / "store", load_frequencies(CHINA), LOCI, registered, persons,
                             planted=min(1000, persons), seed=seed)  # fmt: skip
    shutil.rmtree(root / "out", ignore_errors=True)
    out, wall = run("campaign", "--store", str(root / "store"), *SEARCH, "--out",
                    str(root / "out"))  # fmt: skip
    pairs = re.search(r"; ([0-9,]+) pairs compared", out)
    hits = re.search(r"; (\d+) hits at LR", out)
    if not (pairs and hits):
        raise SystemExit(f"unexpected campaign output:\n{out}")
    n_pairs = float(pairs.group(1).replace(",", ""))
    projection = wall * (1e6 / persons) * (1e7 / registered) / 86400
    return {"campaign_s": wall, "campaign_pairs": n_pairs, "pairs_per_s": n_pairs / wall,
            "campaign_hits": float(hits.group(1)), "projection_days": projection}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--campaign-persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "intake")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    line = intake(args.work, intake_base(args.work, args.references, args.new, args.seed))
    line |= campaign(args.work, args.references, args.campaign_persons, args.seed)
    print(f"Intake and campaign, {args.references:,} references, 23 loci, China table, "
          f"stepwise AABB, theta 0.01, min LR 10^4; {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")  # fmt: skip
    print("| run | profiles | wall | ingest | comparison | push | hits | pairs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| intake | {args.new:,} new | {line['intake_s']:.1f} s | {line['ingest_s']:.1f} s | "
        f"{line['compare_s']:.1f} s | {line['push_s']:.1f} s | {line['intake_hits']:.0f} | - |"
    )
    print(f"| campaign | {args.campaign_persons:,} unknown x {args.references:,} | "
          f"{line['campaign_s']:.1f} s | - | - | - | {line['campaign_hits']:.0f} | "
          f"{line['pairs_per_s']:,.0f} |")  # fmt: skip
    print(f"\nProjection of the campaign to 10^6 persons of unknown origin x 10^7 references on "
          f"this machine: {line['projection_days']:.1f} days.")  # fmt: skip
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"Command: .venv/bin/python benchmarks/intake.py {shown}".rstrip())
    keys = ("intake_s", "ingest_s", "compare_s", "push_s", "intake_hits", "campaign_s",
            "campaign_pairs", "pairs_per_s", "projection_days")  # fmt: skip
    print(" ".join(f"{key}={line[key]:.4g}" for key in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
