"""The intake and campaign benchmark runs end to end on a tiny store (real sizes: intake.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from intake import main


def test_intake_and_campaign_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--references", "1500", "--new", "10", "--campaign-persons", "20",
                 "--work", str(tmp_path)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    values = {key: float(v) for key, v in (item.split("=") for item in lines[-1].split())}
    assert list(values) == [
        "intake_s", "ingest_s", "compare_s", "push_s", "intake_hits", "campaign_s",
        "campaign_pairs", "pairs_per_s", "projection_days",
    ]  # fmt: skip
    assert values["intake_hits"] > 0 and values["campaign_pairs"] > 0
    assert values["compare_s"] <= values["intake_s"]
    assert sum(line.startswith(("| intake", "| campaign")) for line in lines) == 2
