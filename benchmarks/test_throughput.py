"""The throughput benchmark runs end to end on a tiny store (the real sizes: throughput.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from throughput import main


def test_throughput_report_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--references", "3000", "--queries", "12", "--work", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    values = dict(item.split("=") for item in lines[-1].split())
    assert list(values) == [
        "batch_s", "scan_only_s", "overhead_ratio", "fixed_ms", "evidence_s",
        "evidence_overhead_ratio", "couple_overhead_ratio", "couple_fixed_ms",
        "couple_evidence_overhead_ratio", "peak_rss_mb",
    ]  # fmt: skip
    assert all(float(v) >= 0 for v in values.values())
    assert float(values["overhead_ratio"]) > 1  # a match costs more than its bare scan
    assert sum(line.startswith("| duo") or line.startswith("| couple") for line in lines) == 4
