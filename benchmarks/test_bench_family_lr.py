"""Speed of the exact family LR: one POI against one family of each shape on 23 loci, stepwise
theta 0 (peeling), and the lightest shape with theta 0.01 (the core's exact sum). The full
table of shapes and settings: ``benchmarks/family_lr.py``. Run: ``make bench``."""

from __future__ import annotations

import pytest
from family_lr import KEYS, LOCI, SHAPES, TABLE, main, settings, simulate

from kinmatch import load_frequencies

FREQUENCIES = load_frequencies(TABLE)
SETTINGS = settings()
CASES = {name: simulate(name, rows, FREQUENCIES, LOCI, 1 + n)
         for n, (name, rows) in enumerate(SHAPES.items())}  # fmt: skip


@pytest.mark.parametrize("shape", list(SHAPES))
def test_family_lr_stepwise_23_loci(benchmark, shape: str) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS["stepwise, theta 0"]
    result = benchmark(CASES[shape].lr, FREQUENCIES, theta, mutation)
    assert len(result.loci_compared) == 23 and result.lr > 1.0


def test_family_lr_stepwise_theta_23_loci(benchmark) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS["stepwise, theta 0.01"]
    result = benchmark(CASES["both paternal grandparents"].lr, FREQUENCIES, theta, mutation)
    assert len(result.loci_compared) == 23 and result.lr > 1.0


def test_family_lr_report_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--loci", "2", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    values = dict(item.split("=") for item in lines[-1].split())
    assert list(values) == ["family_lr_ms_max", *KEYS]
    assert all(float(v) > 0 for v in values.values())
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| shape")]
    assert [row.split(" | ")[0][2:] for row in rows] == list(SHAPES)
    assert float(values["family_lr_ms_max"]) == max(float(values[key]) for key in KEYS)
