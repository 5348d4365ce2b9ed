"""Shared inputs for the benchmarks: the shipped examples and the China table."""

from pathlib import Path

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples"
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"
