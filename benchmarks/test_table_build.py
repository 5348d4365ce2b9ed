"""The cold score-table benchmark runs end to end on two queries (real runs: table_build.py)."""

from __future__ import annotations

import pytest
from table_build import PAIRWISE, main


def test_table_build_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--queries", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    values = {key: float(value) for key, value in (item.split("=") for item in lines[-1].split())}
    assert len(values) == 2 * 2 * len(PAIRWISE)  # ms and speedup, two settings each
    assert all(value > 0 for value in values.values())
    assert sum(line.startswith("| ") and "ms/query" not in line for line in lines) == 2 * len(
        PAIRWISE
    )
