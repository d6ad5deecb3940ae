"""Histogram of one numeric CSV column: bin edges and counts, plus a readable text chart.

Description:
    Splits the range [min, max] of one column into N equal bins, counts the values in each and writes
    a text histogram with ASCII bars, one line per bin:

        [     3.2404,      3.2568)     12  ##########
        [     3.2568,      3.2732)     31  ##########################

    Bins include their left edge; the last bin also includes its right edge (the maximum), so every
    value is counted once. When all values are equal the single value v gets the range [v - 0.5, v + 0.5].
    The CSV is read like compute_metrics reads it: blank lines, padding, quotes and missing cells
    (empty, NA, NaN, ...) are handled.

    Context written:  ctx["histogram"] = {"column": NAME, "edges": [N + 1 numbers], "counts": [N integers]}
    Result (stdout):  {"column", "edges", "counts", "values", "output"}

Usage:
    python -m scriptlets.python.steps.histogram --input CSV --column NAME [--bins N] [--output FILE] [--width W]

Arguments:
    --input CSV      the CSV file to read (required)
    --column NAME    the numeric column to count (required; an unknown or text column exits 2 and lists
                     the columns)
    --bins N         number of equal-width bins, at least 1 (default 10)
    --output FILE    where to write the text histogram; folders are created (default Data/demo/histogram.txt)
    --width W        length in characters of the longest bar (default 50)

Examples:
    python -m scriptlets.python.steps.histogram --input Data/demo/clean.csv --column voltage_v
    python -m scriptlets.python.steps.histogram --input Data/demo/clean.csv --column temperature_c \\
        --bins 20 --output Data/demo/temperature.txt
    # in a recipe:
    #   - name: voltage_histogram
    #     type: python
    #     module: scriptlets.python.steps.histogram
    #     params: {input: Data/demo/clean.csv, column: voltage_v, bins: 12}
    #     success: {files_exist: [Data/demo/histogram.txt], ctx_has_keys: [histogram]}

Limitations:
    Equal-width bins only (no quantile or log bins); one column per run. Edges are plain floats, so they
    can show rounding noise in their last digits. The column is held in memory.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import bisect
from typing import Any

from scriptlets.python.core.base import BaseScriptlet, StepFailed, UsageError
# The CSV reading rules are shared with compute_metrics, so both steps agree on what a number is.
from scriptlets.python.steps.compute_metrics import NotNumeric, column_values, read_table


class StepHistogram(BaseScriptlet):
    """Equal-width histogram of one numeric column, as ctx["histogram"] and an ASCII chart file."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--input", required=True, metavar="CSV", help="the CSV file to read")
        parser.add_argument("--column", required=True, metavar="NAME", help="the numeric column to count")
        parser.add_argument("--bins", type=int, default=10, metavar="N", help="number of bins (default 10)")
        parser.add_argument("--output", default="Data/demo/histogram.txt", metavar="FILE",
                            help="text histogram to write (default Data/demo/histogram.txt)")
        parser.add_argument("--width", type=int, default=50, metavar="W", help="longest bar (default 50)")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        # Check the flags, then read the column: an unknown or non-numeric column is the user's choice to fix.
        if params["bins"] < 1 or params["width"] < 1:
            raise UsageError(f"--bins and --width must be at least 1, got {params['bins']} and {params['width']}")
        header, rows = read_table(Path(params["input"]))
        column = params["column"].strip()
        if column not in header:
            raise UsageError(f"--column {column!r} is not in {params['input']}; its columns are: {', '.join(header)}")
        try:
            self.values = column_values(rows, header.index(column))
        except NotNumeric as exc:
            raise UsageError(f"--column {column!r} is not numeric in {params['input']}: {exc}") from None

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        column = params["column"].strip()
        if not self.values:
            raise StepFailed(f"--column {column!r} of {params['input']} has no values (all cells are missing)")
        # 1. Count the values per bin.
        edges = bin_edges(min(self.values), max(self.values), params["bins"])
        counts = count_in_bins(self.values, edges)
        # 2. Write the human-readable chart.
        text = render(column, params["input"], edges, counts, params["width"])
        write_text(Path(params["output"]), text)
        self.log.info("histogram of %r: %d values in %d bins -> %s", column, len(self.values), len(counts),
                      params["output"])
        # 3. Publish the numbers for later steps (reports, threshold checks).
        ctx["histogram"] = {"column": column, "edges": edges, "counts": counts}
        return {"column": column, "edges": edges, "counts": counts, "values": len(self.values),
                "output": params["output"]}


def bin_edges(low: float, high: float, bins: int) -> list[float]:
    """bins + 1 equally spaced edges from low to high (the last is exactly high); widened to +-0.5 if equal."""
    if low == high:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    return [low + i * step for i in range(bins)] + [high]


def count_in_bins(values: list[float], edges: list[float]) -> list[int]:
    """How many values fall in each [edge_i, edge_i+1); the last bin also takes values equal to the last edge."""
    counts = [0] * (len(edges) - 1)
    for value in values:
        index = bisect.bisect_right(edges, value) - 1  # the last edge at or below the value
        counts[min(max(index, 0), len(counts) - 1)] += 1
    return counts


def render(column: str, source: str, edges: list[float], counts: list[int], width: int) -> str:
    """A title line, then one line per bin: its range, its count and a bar scaled to the largest count."""
    peak = max(counts) or 1
    lines = [f"Histogram of {column} ({sum(counts)} values from {source}, {len(counts)} bins)"]
    for i, count in enumerate(counts):
        close = "]" if i == len(counts) - 1 else ")"
        bar = "#" * round(count / peak * width)
        lines.append(f"[{edges[i]:>11.5g}, {edges[i + 1]:>11.5g}{close} {count:>6}  {bar}".rstrip())
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    """Write the chart, creating its folder; an unwritable path is bad input (exit 2)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {path}: cannot write it ({exc.strerror or exc})") from None


if __name__ == "__main__":
    raise SystemExit(StepHistogram.cli())
