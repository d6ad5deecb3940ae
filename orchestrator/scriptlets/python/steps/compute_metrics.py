"""Compute summary statistics (count, mean, std, min, max) of every numeric column of a CSV file.

Description:
    Reads any CSV file with a header line and, for each column whose values are all numbers, computes
    count, mean, sample standard deviation (0 for a single value), min and max. Columns holding text
    (ids, names, timestamps) are ignored and listed in the log. Missing cells are skipped: empty cells and
    NA, N/A, NaN, null, none, "-" (any case). Blank lines, whitespace around fields, quotes, a UTF-8 BOM
    and CRLF line endings are all handled, so a raw file works as well as a cleaned one.

    Column names are the header's names with surrounding whitespace removed; an empty name becomes
    column_<n> and a repeated name gets a _2, _3 ... suffix.

    Context written (KEY is --key, default "metrics"):
        ctx[KEY]                {column: {"count", "mean", "std", "min", "max"}}
        ctx[KEY + "_columns"]   the numeric columns, in file order
    Result (stdout): the metrics object.

Usage:
    python -m scriptlets.python.steps.compute_metrics --input CSV [--columns NAME ...] [--key KEY]

Arguments:
    --input CSV       the CSV file to read (required)
    --columns NAME    only these columns; repeat the flag or separate names with commas. Each must exist
                      and be numeric (else exit 2). Default: every numeric column.
    --key KEY         the context key to write (default: metrics), and KEY_columns for the column list;
                      give each parallel step its own key so their results do not collide.

    Exit codes: 0 done; 1 the file has no numeric column; 2 the file is missing or unreadable, or a
    requested column is unknown or not numeric.

Examples:
    python -m scriptlets.python.steps.compute_metrics --input Data/demo/clean.csv
    python -m scriptlets.python.steps.compute_metrics --input Data/demo/clean.csv \\
        --columns voltage_v --columns current_ma --ctx /tmp/ctx.json
    # in a recipe:
    #   - name: compute_metrics
    #     type: python
    #     module: scriptlets.python.steps.compute_metrics
    #     function: StepComputeMetrics
    #     params: {input: Data/demo/clean.csv}
    #     success: {ctx_has_keys: [metrics, metrics_columns]}

Limitations:
    The whole file is held in memory. A column is numeric only if every non-missing cell parses as a
    finite number (Python float syntax: 3.3, -1e-3, 1_000); thousands separators like 1,000 or decimal
    commas like 3,3 are not numbers. inf is not a number here (it cannot be stored in the JSON context).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import csv
import math
import statistics
from typing import Any, Optional

from scriptlets.python.core.base import BaseScriptlet, StepFailed, UsageError

# Cell texts (lower-cased) that mean "no value here": skipped instead of making the column non-numeric.
MISSING = {"", "na", "n/a", "nan", "null", "none", "-"}

Row = tuple[int, list[str]]  # (line number in the file, the row's cells)


class NotNumeric(ValueError):
    """A column holds a cell that is not a number; says which cell and where."""

    def __init__(self, text: str, line: int) -> None:
        super().__init__(f"{text!r} on line {line}")


class StepComputeMetrics(BaseScriptlet):
    """count/mean/std/min/max of each numeric column of a CSV file, into ctx["metrics"]."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--input", required=True, metavar="CSV", help="the CSV file to read")
        parser.add_argument("--columns", action="append", metavar="NAME",
                            help="only these columns (repeat the flag, or separate with commas)")
        parser.add_argument("--key", default="metrics", metavar="KEY",
                            help="context key for the result (default: metrics); the column list goes to KEY_columns")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        # Read the file once here: a missing or unreadable file is bad input (exit 2), found before any work.
        self.header, self.rows = read_table(Path(params["input"]))
        self.wanted = split_names(params["columns"])
        unknown = [name for name in self.wanted if name not in self.header]
        if unknown:
            raise UsageError(f"--columns: {', '.join(map(repr, unknown))} not in {params['input']}; "
                             f"its columns are: {', '.join(self.header)}")

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        # 1. Keep the numeric columns (in file order); say which ones were ignored and why.
        values, skipped = numeric_columns(self.header, self.rows, self.wanted)
        for name, reason in skipped.items():
            self.log.info("ignored non-numeric column %r (%s)", name, reason)
        if self.wanted and skipped:
            raise UsageError(f"--columns: {', '.join(map(repr, skipped))} not numeric in {params['input']}")
        if not values:
            raise StepFailed(f"{params['input']}: no numeric column among {', '.join(self.header)}")
        # 2. Summarize each column, then publish the result for later steps.
        metrics = {name: summarize(column) for name, column in values.items()}
        self.log.info("metrics of %d column(s) over %d row(s)", len(metrics), len(self.rows))
        ctx[params["key"]] = metrics
        ctx[f"{params['key']}_columns"] = list(metrics)
        return metrics


def read_table(path: Path) -> tuple[list[str], list[Row]]:
    """The header (cleaned names) and the non-blank rows with their line numbers; UsageError if unreadable."""
    if not path.is_file():
        raise UsageError(f"--input {path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"--input {path}: cannot read it as a UTF-8 CSV file ({exc})") from None
    if not rows:
        raise UsageError(f"--input {path}: the file is empty; a CSV file needs a header line")
    return unique_names(rows[0][1]), rows[1:]


def unique_names(raw: list[str]) -> list[str]:
    """Strip the names; name empty ones column_<n>; suffix repeats with _2, _3 ... so each is a distinct key."""
    names: list[str] = []
    for position, name in enumerate(raw, start=1):
        base = name.strip() or f"column_{position}"
        candidate, n = base, 1
        while candidate in names:
            n += 1
            candidate = f"{base}_{n}"
        names.append(candidate)
    return names


def split_names(columns: Optional[list[str]]) -> list[str]:
    """--columns a --columns b,c -> [a, b, c] (empty when the flag was not given)."""
    return [name.strip() for item in columns or [] for name in item.split(",") if name.strip()]


def to_number(text: str) -> Optional[float]:
    """The cell as a finite float, or None when it is not one."""
    try:
        value = float(text.strip().strip('"').strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_missing(text: str) -> bool:
    return text.strip().strip('"').strip().lower() in MISSING


def column_values(rows: list[Row], index: int) -> list[float]:
    """The numbers in column `index`, skipping missing cells; NotNumeric names the first cell that is not one."""
    values = []
    for line, row in rows:
        text = row[index] if index < len(row) else ""  # a short row: its last cells are missing
        if is_missing(text):
            continue
        number = to_number(text)
        if number is None:
            raise NotNumeric(text.strip(), line)
        values.append(number)
    return values


def numeric_columns(header: list[str], rows: list[Row],
                    wanted: list[str]) -> tuple[dict[str, list[float]], dict[str, str]]:
    """({name: values} of the numeric columns in file order, {name: why it was skipped} of the others)."""
    values: dict[str, list[float]] = {}
    skipped: dict[str, str] = {}
    for index, name in enumerate(header):
        if wanted and name not in wanted:
            continue
        try:
            column = column_values(rows, index)
        except NotNumeric as exc:
            skipped[name] = f"not a number: {exc}"
            continue
        if column:
            values[name] = column
        else:
            skipped[name] = "no values"
    return values, skipped


def summarize(values: list[float]) -> dict[str, Any]:
    """count, mean, sample standard deviation (0 for one value), min and max of a non-empty list."""
    return {
        "count": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


if __name__ == "__main__":
    raise SystemExit(StepComputeMetrics.cli())
