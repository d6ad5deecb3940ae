"""A large run (500 steps, 10,000 context changes) reports in seconds. The bound is loose on purpose (shared
CI machines); the measured figure is printed (pytest -s or -rA) and belongs in the bench."""
from __future__ import annotations

import time
from pathlib import Path

import openpyxl
import pytest

from reports import excel, jsonsummary, junit
from synthetic_runs import big_run, load_report

BOUND_S = 20.0  # the target is < 5 s on an idle 2-core machine


@pytest.mark.slow
def test_500_steps_10000_changes(tmp_path: Path) -> None:
    big_run(tmp_path)
    started = time.perf_counter()
    report = load_report(tmp_path)
    loaded = time.perf_counter()
    target = excel.write_run_report(report, tmp_path / "big.xlsx")
    written = time.perf_counter()
    jsonsummary.write(report, tmp_path / "big.json")
    junit.write(report, tmp_path / "big.xml")
    other = time.perf_counter()
    print(f"\nreport of 500 steps / 10,000 changes: load {loaded - started:.2f} s, xlsx {written - loaded:.2f} s, "
          f"json+junit {other - written:.2f} s")
    assert written - started < BOUND_S
    wb = openpyxl.load_workbook(target, read_only=True)
    assert wb["Steps"].max_row == 501 and wb["Context history"].max_row == 10_001
    assert wb["Context"].max_row == 701
