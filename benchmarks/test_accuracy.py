"""The accuracy report runs end to end on a tiny database (the full grid: accuracy.py)."""

from __future__ import annotations

import csv
from pathlib import Path

from accuracy import main


def test_accuracy_report_end_to_end(tmp_path: Path) -> None:
    assert main(["--sizes", "1500", "--panels", "23", "--relatives", "6", "--out",
                 str(tmp_path)]) == 0  # fmt: skip
    report = (tmp_path / "accuracy.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| 1,5")]
    assert len(rows) == 6  # 3 relationships x with/without mutation
    with (tmp_path / "accuracy-queries.csv").open() as handle:
        queries = list(csv.DictReader(handle))
    assert len(queries) == 3 * 2 * 6
    duo = [q for q in queries if q["kind"] == "duo" and not q["mutated"]]
    # 23 loci among ~1,000 candidate parents: an untouched true parent is first every time
    assert all(q["ranked_first"] == "True" for q in duo)
    assert sum(bool(q["mutated"]) for q in queries) == 3 * 6  # one planted locus each
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000
