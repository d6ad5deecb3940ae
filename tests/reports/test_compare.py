"""Comparing two runs: status changes, duration changes (absolute and %), context differences; refusal of
runs of different recipes; the text, JSON and xlsx outputs."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from reports import compare
from reports.model import ReportError
from synthetic_runs import FakeStep, load_report, write_run

A, B, OTHER = "20260101T000000Z-aaaa", "20260102T000000Z-bbbb", "20260103T000000Z-othr"


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    write_run(tmp_path, A, [FakeStep("build", duration=2.0), FakeStep("test", duration=4.0),
                            FakeStep("gone", duration=1.0)],
              [("build", "version", "1.0"), ("test", "same", {"a": 1, "b": 2}), ("test", "old_only", True)],
              started="2026-01-01T00:00:00.000000Z")
    write_run(tmp_path, B, [FakeStep("build", duration=3.0), FakeStep("test", "failed", 1.0, "exit code 3", 3),
                            FakeStep("new", duration=0.5)],
              [("build", "version", "1.1"), ("test", "same", {"b": 2, "a": 1}), ("new", "new_only", [1])],
              started="2026-01-02T00:00:00.000000Z", verdict="failed")
    write_run(tmp_path, OTHER, [FakeStep("x")], [], recipe="/recipes/other.yaml", started="2026-01-03T00:00:00.0Z")
    return tmp_path


def compared(workdir: Path) -> compare.Comparison:
    return compare.compare(load_report(workdir, A, with_history=False), load_report(workdir, B, with_history=False))


def test_status_duration_and_context_differences(two_runs: Path) -> None:
    result = compared(two_runs)
    changes = {s.name: (s.status_a, s.status_b) for s in result.status_changes}
    assert changes == {"test": ("succeeded", "failed"), "new": (None, "succeeded"), "gone": ("succeeded", None)}
    durations = {s.name: (s.delta, s.percent) for s in result.duration_changes}
    assert durations == {"test": (-3.0, -75.0), "build": (1.0, 50.0)}
    assert [s.name for s in result.duration_changes] == ["test", "build"]  # largest change first
    keys = {k.key: (k.change, k.value_a, k.value_b) for k in result.context}
    assert keys == {"version": ("changed", '"1.0"', '"1.1"'), "old_only": ("removed", "true", None),
                    "new_only": ("added", None, "[1]")}  # 'same' differs only in key order: not reported


def test_text_and_json_outputs(two_runs: Path) -> None:
    result = compared(two_runs)
    text = compare.to_text(result)
    assert f"A: {A}" in text and f"B: {B}" in text
    assert "test" in text and "succeeded -> failed  (exit code 3)" in text
    assert "-3.000 s" in text and "-75.0%" in text and "+50.0%" in text
    assert '~ version "1.0" -> "1.1"' in text and "+ new_only = [1]" in text and "- old_only (was true)" in text
    data = json.loads(json.dumps(compare.to_data(result)))
    assert data["a"]["id"] == A and data["b"]["verdict"] == "failed"
    assert {c["step"] for c in data["status_changes"]} == {"test", "new", "gone"}
    assert data["durations"][0] == {"step": "test", "a": 4.0, "b": 1.0, "delta": -3.0, "percent": -75.0}
    assert {"key": "version", "change": "changed", "a": "1.0", "b": "1.1"} in data["context"]


def test_text_shows_where_long_values_differ(tmp_path: Path) -> None:
    """Long values used to be cut at the same place on both sides: a difference past the cut was invisible."""
    samples = list(range(100))
    write_run(tmp_path, A, [FakeStep("measure")], [("measure", "samples", samples)])
    write_run(tmp_path, B, [FakeStep("measure")], [("measure", "samples", samples[:87] + [88] + samples[88:])])
    line = next(text for text in compare.to_text(compared(tmp_path)).splitlines() if "~ samples" in text)
    before, after = line.split(" -> ")
    assert "same] ..." in before and "86, 87, 88" in before and "86, 88, 88" in after, line
    assert len(before) < 90 and len(after) < 90


def test_xlsx_output(two_runs: Path) -> None:
    target = compare.write_xlsx(compared(two_runs), two_runs / "cmp.xlsx")
    wb = openpyxl.load_workbook(target)
    assert wb.sheetnames == ["Compare", "Steps", "Context"]
    steps = {r[0]: r for r in wb["Steps"].iter_rows(min_row=2, values_only=True)}
    assert steps["test"][1:8] == ("succeeded", "failed", "yes", 4.0, 1.0, -3.0, -0.75)
    assert wb["Steps"]["C2"].fill.fgColor.rgb.endswith("C6EFCE") or wb["Steps"]["C2"].fill.fgColor.rgb.endswith(
        "FFC7CE")
    assert wb["Steps"].freeze_panes == "B2" and wb["Steps"].auto_filter.ref == "A1:H5"
    assert {r[0]: r[1] for r in wb["Context"].iter_rows(min_row=2, values_only=True)} == {
        "new_only": "added", "old_only": "removed", "version": "changed"}


def test_different_recipes_refused_unless_forced(two_runs: Path) -> None:
    a, other = load_report(two_runs, A, False), load_report(two_runs, OTHER, False)
    with pytest.raises(ReportError, match="different recipes.*--force"):
        compare.compare(a, other)
    assert compare.compare(a, other, force=True).status_changes
