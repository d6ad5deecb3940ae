"""The Excel report: sheets, cells, fills, chart, frozen panes, autofilters, print setup, and that no text
from a run can become a formula or break the workbook. Workbooks are reopened with openpyxl to check."""
from __future__ import annotations

import datetime
import socket
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from conftest import Workdir
from reports import excel, model
from synthetic_runs import FakeStep, load_report, real_run, write_run

SHEETS = ["Summary", "Steps", "Failures", "Durations", "Context", "Context history"]
FILLS = {"succeeded": "00C6EFCE", "failed": "00FFC7CE", "skipped": "00D9D9D9", "aborted": "00F8CBAD",
         "running": "00FFEB9C", "pending": "00F2F2F2"}


def rows(ws: Worksheet) -> list[dict[str, Any]]:
    """The sheet as dicts keyed by the header row."""
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]


def cell_of(ws: Worksheet, header: str, first: Any) -> Any:
    """The cell in column `header` of the row whose first cell is `first`."""
    col = [c.value for c in ws[1]].index(header) + 1
    for row in range(2, ws.max_row + 1):
        if ws.cell(row=row, column=1).value == first:
            return ws.cell(row=row, column=col)
    raise AssertionError(f"{first!r} not in {ws.title}")


def write_and_open(workdir: Path, ref: str = "latest") -> openpyxl.Workbook:
    target = excel.write_run_report(load_report(workdir, ref), workdir / "out" / "report.xlsx")
    return openpyxl.load_workbook(target)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workdir, str, openpyxl.Workbook]:
    wd = Workdir(tmp_path_factory.mktemp("excel") / "work")
    run_id = real_run(wd)
    return wd, run_id, write_and_open(wd.path)


def test_sheets_in_order(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    assert real[2].sheetnames == SHEETS


def test_summary_shows_meta_verdict_counts_and_identity(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    _, run_id, wb = real
    ws = wb["Summary"]
    fields = {r["Field"]: r["Value"] for r in rows(ws)}
    assert (fields["Test id"], fields["Tester"], fields["Description"]) == ("T-1", "pytest", "test")
    assert fields["Verdict"] == "failed" and cell_of(ws, "Value", "Verdict").fill.fgColor.rgb == FILLS["failed"]
    assert (fields["Steps"], fields["Steps succeeded"], fields["Steps failed"], fields["Steps skipped"]) == (5, 3, 1, 1)
    assert fields["Run id"] == run_id and fields["Recipe"] == "reportme" and fields["Host"] == socket.gethostname()
    assert isinstance(fields["Total time (s)"], float) and fields["Total time (s)"] > 0
    assert isinstance(fields["Started (UTC)"], datetime.datetime)
    assert fields["Context keys"] == 3  # test_meta (written by the runner), answer, sheet


def test_steps_sheet_values_and_status_fills(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    ws = real[2]["Steps"]
    steps = {r["Step"]: r for r in rows(ws)}
    assert set(steps) == {"first", "formula", "broken", "after_broken", "flaky"}
    assert steps["broken"]["Status"] == "failed" and steps["broken"]["Exit code"] == 7
    assert steps["broken"]["Failure reason"] == "exit code 7: failing with 7"
    assert steps["flaky"]["Attempts"] == 2 and steps["flaky"]["Status"] == "succeeded"
    assert steps["after_broken"]["Duration (s)"] is None and "upstream" in steps["after_broken"]["Failure reason"]
    assert isinstance(steps["first"]["Start (UTC)"], datetime.datetime)
    assert steps["first"]["Duration (s)"] > 0 and Path(steps["first"]["Log"]).is_file()
    for name, status in [("first", "succeeded"), ("broken", "failed"), ("after_broken", "skipped")]:
        assert cell_of(ws, "Status", name).fill.fgColor.rgb == FILLS[status]
    assert cell_of(ws, "Duration (s)", "first").number_format == "0.000"


def test_failures_sheet_has_reason_and_log_tail(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    ws = real[2]["Failures"]
    failures = rows(ws)
    assert [f["Step"] for f in failures] == ["broken"]
    assert failures[0]["Reason"] == "exit code 7: failing with 7" and failures[0]["Exit code"] == 7
    assert "failing with 7" in failures[0]["Log (last lines)"]
    tail = cell_of(ws, "Log (last lines)", "broken")
    assert tail.alignment.wrap_text and tail.font.name == "Courier New"


def test_duration_chart_present(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    ws = real[2]["Durations"]
    assert len(ws._charts) == 1  # openpyxl reads charts back on load
    chart = ws._charts[0]
    assert chart.tagname == "barChart" and chart.type == "bar"
    assert {r["Step"] for r in rows(ws)} == {"first", "formula", "broken", "flaky"}  # after_broken never ran


def test_context_and_history(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    _, run_id, wb = real
    values = {r["Key"]: r["Value (JSON)"] for r in rows(wb["Context"])}
    assert values["answer"] == "42" and values["sheet"] == '"=SUM(A1:A9)"'
    history = [r for r in rows(wb["Context history"]) if r["Key"] == "answer"]
    assert len(history) == 1
    change = history[0]
    assert (change["Who"], change["Attempt"], change["Op"], change["Old (JSON)"], change["New (JSON)"]) == (
        "first", 1, "set", None, "42")
    assert isinstance(change["When (UTC)"], datetime.datetime) and change["Run"] is None  # this run's own change


def test_layout_frozen_filtered_fitted_printable(real: tuple[Workdir, str, openpyxl.Workbook]) -> None:
    wb = real[2]
    template = openpyxl.load_workbook(excel.TEMPLATE)
    expected_freeze = {"Summary": "A2", "Steps": "B2", "Failures": "B2", "Durations": "A2", "Context": "B2",
                       "Context history": "C2"}
    for ws in wb.worksheets:
        assert ws.freeze_panes == expected_freeze[ws.title]
        assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}"
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == (1 if ws.title == "Durations" else 0)  # the chart on one page
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert all(c.font.name == "Calibri" and c.font.b for c in ws[1])
        for col in range(1, ws.max_column + 1):
            letter = openpyxl.utils.get_column_letter(col)
            width = ws.column_dimensions[letter].width
            assert 8 <= width <= template[ws.title].column_dimensions[letter].width
    assert wb["Steps"].column_dimensions["A"].width == len("after_broken") + 2  # fitted to the longest name


def test_text_never_becomes_a_formula(tmp_path: Path) -> None:
    risky = {"eq": "=HYPERLINK(\"http://evil\",\"x\")", "plus": "+cmd|' /C calc'!A0", "minus": "-2+3",
             "at": "@SUM(1+1)", "tab": "\t=1+1", "cr": "\r=1+1"}
    write_run(tmp_path, "20260101T000000Z-risk", [FakeStep("=step", "failed", reason=risky["at"], exit_code=1)],
              [("=step", "=key", -5), ("=step", "+key", "x")],
              test_meta={"test_id": risky["minus"], "tester": risky["plus"], "description": risky["eq"],
                         "tab": risky["tab"], "cr": risky["cr"]})
    wb = write_and_open(tmp_path)
    fields = {r[0].value: r[1] for r in wb["Summary"].iter_rows(min_row=2)}
    expected = {"Test id": risky["minus"], "Tester": risky["plus"], "Description": risky["eq"], "tab": risky["tab"],
                "cr": "\n=1+1"}  # CR cannot survive XML; it is written as the LF it would be read as
    cells = [fields[name] for name in expected]
    cells += [cell_of(wb["Steps"], "Step", "=step"), cell_of(wb["Steps"], "Failure reason", "=step"),
              cell_of(wb["Context"], "Key", "=key"), cell_of(wb["Context"], "Value (JSON)", "=key"),
              cell_of(wb["Context history"], "Who", 1), cell_of(wb["Failures"], "Reason", "=step")]
    values = [*expected.values(), "=step", risky["at"], "=key", "-5", "=step", risky["at"]]
    for cell, value in zip(cells, values, strict=True):
        assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", True), cell.coordinate


def test_huge_values_cut_to_the_cell_limit_and_control_characters_replaced(tmp_path: Path) -> None:
    log = ["\x1b[31mred alert\x1b[0m", "bell\x07here", "x" * 40_000]
    write_run(tmp_path, "20260101T000000Z-huge", [FakeStep("big", "failed", reason="exit code 1", log_lines=log)],
              [("big", "blob", "y" * 50_000)])
    wb = write_and_open(tmp_path)
    value = cell_of(wb["Context"], "Value (JSON)", "blob").value
    assert len(value) == excel.CELL_LIMIT and value.startswith('"yyy') and value.endswith("in the JSON report]")
    assert "50,002 characters" in value
    tail = cell_of(wb["Failures"], "Log (last lines)", "big").value
    assert tail.startswith("red alert\nbell\ufffdhere\nxxx") and len(tail) == excel.CELL_LIMIT


def test_running_run_and_missing_context_still_report(tmp_path: Path) -> None:
    write_run(tmp_path, "20260101T000000Z-live", [FakeStep("a", "running", duration=None),
                                                  FakeStep("b", "pending", duration=None)], [], verdict="running")
    (tmp_path / "Data" / "runs" / "20260101T000000Z-live" / "context.db").unlink()
    wb = write_and_open(tmp_path)
    assert cell_of(wb["Steps"], "Status", "a").fill.fgColor.rgb == FILLS["running"]
    assert cell_of(wb["Steps"], "Status", "b").fill.fgColor.rgb == FILLS["pending"]
    fields = {r["Field"]: r["Value"] for r in rows(wb["Summary"])}
    assert fields["Verdict"] == "running" and "context file of run" in fields["Note"]
    assert wb["Durations"]._charts == []  # nothing timed yet: no empty chart


def test_context_found_in_data_when_recorded_path_is_gone(tmp_path: Path) -> None:
    """A store_on_ram run records a /dev/shm path that is removed when the run ends."""
    db = write_run(tmp_path, "20260101T000000Z-ram0", [FakeStep("a")], [("a", "k", 1)])
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET ctx_path = '/dev/shm/orch-gone/context.db'")
    report = load_report(tmp_path)
    assert report.context == {"k": "1"} and report.notes == ()


def test_unknown_template_column_is_refused() -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["Step", "Bogus"])
    with pytest.raises(model.ReportError, match="'Bogus'.*make_report_template"):
        excel.fill_table(wb.active, [], excel.STEP_COLUMNS)
