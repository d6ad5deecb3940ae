"""Build templates/report_template.xlsx: the sheets, headers, named styles and page setup of a run report.

Description:
    reports/excel.py loads the template and fills it, so the look of a report (sheet names and order,
    column headers and their order, widths, colours per status, fonts, print setup) is changed here, in
    one place, and the template is rebuilt. excel.py finds columns by their header text: reorder or drop
    columns here and the report follows; a header excel.py does not know is refused with a message.

Usage:
    python templates/make_report_template.py [--output FILE]      (from orchestrator/)

Arguments:
    --output FILE   where to write (default: report_template.xlsx beside this script)

Examples:
    python orchestrator/templates/make_report_template.py

Limitations:
    Fonts get an explicit name (Calibri): without one LibreOffice shows a serif font. Charts are not part
    of the template; excel.py adds the duration chart because its data range depends on the run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.worksheet.properties import PageSetupProperties

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "report_template.xlsx"
FONT = "Calibri"
MONO = "Courier New"  # present on Windows and mapped to Liberation Mono by LibreOffice

# sheet name -> (columns as (header, width), the cell frozen at: rows above and columns left of it stay).
# The widths are maximums: excel.py fits each column to its longest text, up to this.
SHEETS: dict[str, tuple[list[tuple[str, int]], str]] = {
    "Summary": ([("Field", 24), ("Value", 80)], "A2"),
    "Steps": ([("Step", 28), ("Status", 12), ("Attempts", 9), ("Start (UTC)", 20), ("Duration (s)", 12),
               ("CPU (s)", 10), ("Peak RSS (MB)", 14), ("Exit code", 10), ("Failure reason", 40), ("Note", 24),
               ("Log", 60)], "B2"),
    "Failures": ([("Step", 28), ("Status", 12), ("Reason", 40), ("Exit code", 10), ("Log (last lines)", 100),
                  ("Log path", 60)], "B2"),
    "Durations": ([("Step", 28), ("Duration (s)", 12), ("Status", 12)], "A2"),
    "Context": ([("Key", 28), ("Value (JSON)", 80)], "B2"),
    "Context history": ([("Seq", 8), ("Key", 24), ("Who", 20), ("Attempt", 9), ("When (UTC)", 20), ("Op", 8),
                         ("Old (JSON)", 40), ("New (JSON)", 40), ("Run", 24), ("Undone by", 24)], "C2"),
}

# fill colour per step status and run verdict (the light Excel "good/bad/neutral" palette)
STATUS_FILLS: dict[str, str] = {
    "succeeded": "C6EFCE", "failed": "FFC7CE", "aborted": "F8CBAD", "crashed": "FF9999", "skipped": "D9D9D9",
    "reused": "DDEBF7", "pending": "F2F2F2", "running": "FFEB9C",
}


def named_styles() -> list[NamedStyle]:
    """The styles excel.py applies by name: header, field, log, and status_<status> for each status."""
    thin = Side(style="thin", color="808080")
    styles = [
        NamedStyle("header", font=Font(name=FONT, size=11, bold=True, color="FFFFFF"),
                   fill=PatternFill("solid", fgColor="1F4E78"), border=Border(bottom=thin),
                   alignment=Alignment(horizontal="center", vertical="center", wrap_text=True)),
        NamedStyle("field", font=Font(name=FONT, size=11, bold=True), alignment=Alignment(vertical="top")),
        NamedStyle("log", font=Font(name=MONO, size=9), alignment=Alignment(vertical="top", wrap_text=True)),
        NamedStyle("top", font=Font(name=FONT, size=11), alignment=Alignment(vertical="top")),  # beside a log
    ]
    for status, colour in STATUS_FILLS.items():
        styles.append(NamedStyle(f"status_{status}", font=Font(name=FONT, size=11, bold=status != "succeeded"),
                                 fill=PatternFill("solid", fgColor=colour),
                                 alignment=Alignment(horizontal="center", vertical="top")))
    return styles


def build() -> Workbook:
    """The template workbook: one sheet per entry of SHEETS with its header row styled and set up to print."""
    wb = Workbook()
    wb.remove(wb.active)
    for style in named_styles():
        wb.add_named_style(style)
    for name, (columns, freeze) in SHEETS.items():
        ws = wb.create_sheet(name)
        for col, (header, width) in enumerate(columns, start=1):
            ws.cell(row=1, column=col, value=header).style = "header"
            ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
        ws.freeze_panes = freeze
        ws.row_dimensions[1].height = 20
        ws.print_title_rows = "1:1"  # repeat the header on every printed page
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        # as many pages down as needed; the Durations sheet (at most 40 rows) on one page so its chart stays whole
        ws.page_setup.fitToHeight = 1 if name == "Durations" else 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    wb.properties.creator = "orchestrator"
    wb.properties.title = "Run report"
    return wb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Excel run-report template.")
    parser.add_argument("--output", type=Path, default=TEMPLATE, help=f"where to write (default: {TEMPLATE})")
    args = parser.parse_args(argv)
    build().save(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
