"""The Excel report of one run, filled into templates/report_template.xlsx with openpyxl.

The template holds the look (sheets, headers, widths, named styles, print setup; see
templates/make_report_template.py); this module holds the data. Columns are found by their header text, so
the template may reorder or drop them. Every cell written goes through `cell_value`: text that a
spreadsheet could take for a formula (=, +, -, @, tab, CR first) is stored as text and stays text when a
user edits it, characters a workbook cannot hold are replaced, and text over Excel's 32,767-character cell
limit is cut with a marker saying so.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .jsonsummary import write_atomically
from .model import ReportError, RunReport, StepInfo, parse_ts

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "report_template.xlsx"
CELL_LIMIT = 32767  # characters Excel holds in one cell
MAX_ROWS = 1048576  # rows in one Excel sheet
CHART_MAX_BARS = 40  # more bars than this are unreadable: the chart then shows the longest steps
RISKY_START = ("=", "+", "-", "@", "\t", "\r", "\n")  # what spreadsheets may read as the start of a formula
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # colour/cursor escapes in captured output
_FAILED_BAR = "C0504D"

Getter = Callable[[Any], Any]
Styler = Callable[[Any], Optional[str]]

STEP_COLUMNS: dict[str, Getter] = {
    "Step": lambda s: s.name,
    "Status": lambda s: s.status.value,
    "Attempts": lambda s: s.attempts,
    "Start (UTC)": lambda s: parse_ts(s.started),
    "Duration (s)": lambda s: _round(s.duration),
    "CPU (s)": lambda s: _round(s.cpu),
    "Peak RSS (MB)": lambda s: s.max_rss_mb,
    "Exit code": lambda s: s.exit_code,
    "Failure reason": lambda s: s.reason,
    "Note": lambda s: s.note or None,
    "Log": lambda s: s.log_path,
}
FAILURE_COLUMNS: dict[str, Getter] = {
    "Step": lambda f: f.step,
    "Status": lambda f: f.status.value,
    "Reason": lambda f: f.reason,
    "Exit code": lambda f: f.exit_code,
    "Log (last lines)": lambda f: "\n".join(f.log_tail) or None,
    "Log path": lambda f: f.log_path,
}
DURATION_COLUMNS: dict[str, Getter] = {
    "Step": lambda s: s.name,
    "Duration (s)": lambda s: _round(s.duration),
    "Status": lambda s: s.status.value,
}
CONTEXT_COLUMNS: dict[str, Getter] = {"Key": lambda kv: kv[0], "Value (JSON)": lambda kv: kv[1]}
HISTORY_COLUMNS: dict[str, Getter] = {
    "Seq": lambda c: c.seq, "Key": lambda c: c.key, "Who": lambda c: c.who, "Attempt": lambda c: c.attempt,
    "When (UTC)": lambda c: parse_ts(c.ts), "Op": lambda c: c.op, "Old (JSON)": lambda c: c.old,
    "New (JSON)": lambda c: c.new, "Run": lambda c: c.run_id, "Undone by": lambda c: c.undone_by,
}
SUMMARY_COLUMNS: dict[str, Getter] = {"Field": lambda row: row[0], "Value": lambda row: row[1]}
FAILURE_STYLES: dict[str, Styler] = {  # rows as tall as their log: everything at the top
    **{header: (lambda f: "top") for header in FAILURE_COLUMNS},
    "Status": lambda f: f"status_{f.status.value}", "Log (last lines)": lambda f: "log",
}
NUMBER_FORMATS = {"Duration (s)": "0.000", "CPU (s)": "0.000", "Peak RSS (MB)": "0.0",
                  "Start (UTC)": "yyyy-mm-dd hh:mm:ss"}  # datetimes without one get openpyxl's default


def write_run_report(report: RunReport, target: Path) -> Path:
    """Write the workbook of one run to target (atomically) and return the path."""
    wb = load_template()
    fill_summary(wb["Summary"], report)
    fill_table(wb["Steps"], report.steps, STEP_COLUMNS, styles={"Status": _status_style})
    fill_table(wb["Failures"], report.failures, FAILURE_COLUMNS, styles=FAILURE_STYLES, wrap="Log (last lines)")
    bars = chart_steps(report.steps)
    fill_table(wb["Durations"], bars, DURATION_COLUMNS, styles={"Status": _status_style})
    add_duration_chart(wb["Durations"], bars, len(report.steps))
    fill_table(wb["Context"], report.context.items(), CONTEXT_COLUMNS)
    fill_table(wb["Context history"], report.history, history_columns(report.run.id))
    wb.properties.title = f"Run {report.run.id} ({report.run.recipe_name})"
    wb.active = 0
    return save(wb, target)


def history_columns(run_id: str) -> dict[str, Getter]:
    """HISTORY_COLUMNS with Run left empty for this run's own changes: only inherited ones stand out
    (and 10,000 identical cells are not written)."""
    return {**HISTORY_COLUMNS, "Run": lambda c: c.run_id if c.run_id != run_id else None}


def load_template() -> Workbook:
    """The report template; a missing or broken one is a clear error naming the script that builds it."""
    try:
        return load_workbook(TEMPLATE)
    except (OSError, KeyError, ValueError) as exc:
        raise ReportError(f"{TEMPLATE}: cannot load the report template ({exc}); rebuild it with "
                          "'python templates/make_report_template.py'") from None


def new_sheet(wb: Workbook, title: str, columns: list[tuple[str, int]], freeze: str = "A2") -> Worksheet:
    """A sheet laid out like the template's: styled header row, frozen header, widths (the caps), print setup.
    For workbooks whose columns are not in the template (a comparison)."""
    from openpyxl.worksheet.properties import PageSetupProperties

    ws = wb.create_sheet(title)
    for col, (header, width) in enumerate(columns, start=1):
        ws.cell(row=1, column=col, value=header).style = "header"
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = freeze
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    return ws


def save(wb: Workbook, target: Path) -> Path:
    """Save through a temporary file in the target's folder, so a reader never sees half a workbook."""
    return write_atomically(target, wb.save)


# --------------------------------------------------------------------------- cells


def cell_value(value: Any) -> Any:
    """What to store for value: numbers and datetimes as they are, text cleaned and cut to the cell limit."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (int, float)) or hasattr(value, "isoformat"):
        return value
    return clean_text(str(value))


def clean_text(text: str) -> str:
    """Text a workbook can hold: no terminal escapes or control characters (tab and LF stay; CR becomes LF),
    at most CELL_LIMIT characters."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
    if "\r" in text:  # XML turns CR into LF on reading: write what will be read
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > CELL_LIMIT:
        marker = f"\n... [truncated: {len(text):,} characters in all; the full value is in the JSON report]"
        text = text[:CELL_LIMIT - len(marker)] + marker
    return text


def mark_as_text(ws: Worksheet, row: int, column: int) -> None:
    """Keep a cell's text as text: openpyxl would store '=...' as a formula, and Excel would turn any of the
    RISKY_START prefixes into one when the user edits the cell; quotePrefix stops that."""
    cell = ws.cell(row=row, column=column)
    cell.data_type = "s"
    cell.quotePrefix = True


def _round(value: Optional[float], digits: int = 3) -> Optional[float]:
    return None if value is None else round(value, digits)


def _display_len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return max(map(len, value.split("\n"))) if "\n" in value else len(value)
    if hasattr(value, "isoformat"):
        return 19
    return len(str(value))


def _status_style(item: Any) -> str:
    return f"status_{item.status.value}"


# --------------------------------------------------------------------------- sheets


def headers(ws: Worksheet, known: Mapping[str, Any]) -> list[str]:
    """The template's header row of ws; a header this module cannot fill is refused."""
    found = [str(c.value) for c in ws[1] if c.value is not None]
    unknown = [h for h in found if h not in known]
    if unknown:
        raise ReportError(f"{TEMPLATE}: sheet {ws.title!r} has column(s) {', '.join(map(repr, unknown))} this "
                          "version cannot fill; rebuild it with 'python templates/make_report_template.py'")
    return found


@dataclass
class _Layout:
    """How to write a sheet's rows, worked out once from its header row: per column (1-based) what to write,
    which named style and number format to apply; the longest text seen so far per column."""

    getters: list[Getter]
    styles: list[tuple[int, Styler]]
    formats: list[tuple[int, str]]
    wrap_col: Optional[int]
    widths: list[int]
    known_styles: frozenset[str]


def fill_table(ws: Worksheet, items: Iterable[Any], columns: Mapping[str, Getter],
               styles: Optional[Mapping[str, Styler]] = None, wrap: Optional[str] = None,
               number_formats: Mapping[str, str] = NUMBER_FORMATS) -> int:
    """Append one row per item under the header row, in the template's column order; then set the autofilter
    and fit the widths (the template's widths are the caps). Returns the number of rows written."""
    names = headers(ws, columns)
    layout = _Layout(getters=[columns[h] for h in names],
                     styles=[(i + 1, styles[h]) for i, h in enumerate(names) if styles and h in styles],
                     formats=[(i + 1, number_formats[h]) for i, h in enumerate(names) if h in number_formats],
                     wrap_col=names.index(wrap) + 1 if wrap in names else None, widths=[len(h) for h in names],
                     known_styles=frozenset(ws.parent.named_styles))
    row = 1
    for item in items:
        row += 1
        if row == MAX_ROWS:
            ws.append([f"... rows after {MAX_ROWS - 1:,} not shown (Excel's sheet limit); see the JSON report"])
            break
        _write_row(ws, row, item, layout)
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(names), 1))}{row}"
    fit_widths(ws, layout.widths)
    return row - 1


def _write_row(ws: Worksheet, row: int, item: Any, layout: _Layout) -> None:
    values = [cell_value(get(item)) for get in layout.getters]
    ws.append({col: value for col, value in enumerate(values, start=1) if value is not None})  # no empty cells
    for col, styler in layout.styles:
        name = styler(item)
        if name in layout.known_styles:  # a status this template has no colour for stays plain
            ws.cell(row=row, column=col).style = name
    for col, number_format in layout.formats:
        if values[col - 1] is not None:
            ws.cell(row=row, column=col).number_format = number_format
    for col, value in enumerate(values, start=1):  # after the styles: a named style resets quotePrefix
        if isinstance(value, str) and value.startswith(RISKY_START):
            mark_as_text(ws, row, col)
        layout.widths[col - 1] = max(layout.widths[col - 1], _display_len(value))
    if layout.wrap_col and values[layout.wrap_col - 1]:
        lines = str(values[layout.wrap_col - 1]).count("\n") + 1
        ws.row_dimensions[row].height = 11 * lines + 4  # 9 pt lines


def fit_widths(ws: Worksheet, longest: list[int]) -> None:
    """Width = longest text + 2, at least 8, at most the template's width for that column."""
    for col, length in enumerate(longest, start=1):
        dim = ws.column_dimensions[get_column_letter(col)]
        cap = dim.width or 60
        dim.width = max(8, min(length + 2, cap))


def fill_summary(ws: Worksheet, report: RunReport) -> int:
    """Field/value rows: the run, its test_meta, the verdict (coloured) and the step counts."""
    rows = summary_rows(report)
    verdict_style = f"status_{report.run.verdict}"
    styles: dict[str, Styler] = {"Field": lambda r: "field",
                                 "Value": lambda r: verdict_style if r[0] == "Verdict" else None}
    return fill_table(ws, rows, SUMMARY_COLUMNS, styles=styles)


def summary_rows(report: RunReport) -> list[tuple[str, Any]]:
    """The Summary sheet's rows, in reading order."""
    run, meta = report.run, dict(report.run.test_meta)
    rows: list[tuple[str, Any]] = [
        ("Test id", meta.pop("test_id", None)), ("Tester", meta.pop("tester", None)),
        ("Description", meta.pop("description", None)),
    ]
    rows += [(str(key), _meta_text(value)) for key, value in meta.items()]
    rows += [("Verdict", run.verdict), ("Recipe", run.recipe_name), ("Recipe file", run.recipe_path),
             ("Run id", run.id), ("Parent run", run.parent_run), ("Started (UTC)", parse_ts(run.started)),
             ("Ended (UTC)", parse_ts(run.ended)), ("Total time (s)", _round(run.duration)),
             ("Steps", len(report.steps))]
    rows += [(f"Steps {status}", count) for status, count in report.counts.items()]
    mode = f"{run.mode}, {run.slots} slot(s)" if run.mode == "parallel" else run.mode
    rows += [("Host", run.host), ("User", run.user), ("Mode", mode), ("Command", " ".join(run.argv) or None),
             ("Context keys", len(report.context)), ("Context changes", len(report.history)),
             ("Context file", run.ctx_path), ("Logs", f"{run.log_prefix}_*.log" if run.log_prefix else None)]
    rows += [("Note", note) for note in report.notes]
    return rows


def _meta_text(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- the duration chart


def chart_steps(steps: Iterable[StepInfo]) -> list[StepInfo]:
    """The steps the duration chart shows: all in plan order, or the CHART_MAX_BARS longest, longest first."""
    timed = [s for s in steps if s.duration is not None]
    if len(timed) <= CHART_MAX_BARS:
        return timed
    return sorted(timed, key=lambda s: s.duration or 0.0, reverse=True)[:CHART_MAX_BARS]


def add_duration_chart(ws: Worksheet, bars: list[StepInfo], total_steps: int) -> None:
    """A horizontal bar chart of the Durations table beside it; failed steps' bars in red."""
    if not bars:
        return
    names = headers(ws, DURATION_COLUMNS)
    step_col, dur_col = names.index("Step") + 1, names.index("Duration (s)") + 1
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    shown = "" if len(bars) == total_steps else f": the {len(bars)} longest of {total_steps} steps"
    chart.title = f"Step durations (s){shown}"
    chart.add_data(Reference(ws, min_col=dur_col, min_row=1, max_row=len(bars) + 1), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=step_col, min_row=2, max_row=len(bars) + 1))
    chart.legend = None
    chart.x_axis.scaling.orientation = "maxMin"  # first step at the top
    chart.x_axis.delete = False  # openpyxl 3.1 hides axes unless told
    chart.y_axis.delete = False
    chart.y_axis.title = "seconds"
    for idx, step in enumerate(bars):
        if not step.status.ok:
            point = DataPoint(idx=idx)
            point.graphicalProperties.solidFill = _FAILED_BAR
            chart.series[0].dPt.append(point)
    chart.width = 20
    chart.height = max(7.5, min(0.5 * len(bars) + 2.5, 40))
    ws.add_chart(chart, f"{get_column_letter(len(names) + 2)}2")
