"""pytest-benchmark suite of the scan on a 10^5-profile synthetic store (23 loci, China table).

Run with ``make bench``; the Markdown report for other sizes is ``scan_report.py``.
"""

from pathlib import Path

import pytest
from scanbench import ScanBench, floor_read
from synthetic import build_store

from kinmatch import load_frequencies
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20

CHINA = Path(__file__).parent.parent / "fixtures" / "freq_China_GBT37223.csv"
LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> ScanBench:
    table = load_frequencies(CHINA)
    store, planted = build_store(tmp_path_factory.mktemp("store"), table, LOCI, 100_000)
    return ScanBench(store, table, planted[0].child)


def test_floor_read(benchmark, bench: ScanBench) -> None:  # type: ignore[no-untyped-def]
    benchmark(floor_read, bench.store)


def test_plain_scan(benchmark, bench: ScanBench) -> None:  # type: ignore[no-untyped-def]
    assert benchmark(bench.plain_scan) == len(bench.store)


def test_indexed_scan(benchmark, bench: ScanBench) -> None:  # type: ignore[no-untyped-def]
    assert benchmark(bench.indexed_scan) < len(bench.store) // 100


def test_numpy_scan(benchmark, bench: ScanBench) -> None:  # type: ignore[no-untyped-def]
    benchmark(bench.numpy_scan)


@pytest.mark.parametrize("relationship", ["parent-child", "parents-child"])
def test_search_end_to_end(benchmark, bench: ScanBench, relationship: str) -> None:  # type: ignore[no-untyped-def]
    result = benchmark(bench.indexed.search, bench.query, relationship, top_k=10)
    assert result.hits
