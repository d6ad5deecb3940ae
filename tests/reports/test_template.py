"""The shipped report template is what make_report_template.py builds, and has a style for every status."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import openpyxl

from conftest import ORCH
from engine.status import StepStatus, Verdict
from reports import excel


def maker() -> ModuleType:
    script = ORCH / "templates" / "make_report_template.py"
    spec = importlib.util.spec_from_file_location("make_report_template", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layout(path: Path) -> dict[str, object]:
    wb = openpyxl.load_workbook(path)
    return {"styles": wb.named_styles,
            "sheets": {ws.title: ([c.value for c in ws[1]], ws.freeze_panes,
                                  [ws.column_dimensions[c.column_letter].width for c in ws[1]]) for ws in wb}}


def test_shipped_template_is_up_to_date(tmp_path: Path) -> None:
    built = tmp_path / "t.xlsx"
    assert maker().main(["--output", str(built)]) == 0
    assert layout(built) == layout(excel.TEMPLATE), "run: python orchestrator/templates/make_report_template.py"


def test_every_status_and_verdict_has_a_style_and_fonts_are_named() -> None:
    wb = openpyxl.load_workbook(excel.TEMPLATE)
    for status in [*StepStatus, *Verdict]:
        assert f"status_{status.value}" in wb.named_styles
    for ws in wb:
        assert all(c.font.name == "Calibri" for c in ws[1])


def test_every_template_column_has_a_filler() -> None:
    wb = openpyxl.load_workbook(excel.TEMPLATE)
    fillers = {"Summary": excel.SUMMARY_COLUMNS, "Steps": excel.STEP_COLUMNS, "Failures": excel.FAILURE_COLUMNS,
               "Durations": excel.DURATION_COLUMNS, "Context": excel.CONTEXT_COLUMNS,
               "Context history": excel.HISTORY_COLUMNS}
    for ws in wb:
        assert excel.headers(ws, fillers[ws.title]) == list(fillers[ws.title])
