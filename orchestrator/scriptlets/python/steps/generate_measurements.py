"""Generate a realistic, messy CSV of lab measurements: the demo input of the pipeline.

Description:
    Simulates a bench test of a 3.3 V supply driving a resistive load and writes one CSV row per
    measurement: a sample id, the voltage (V), the current (mA) and the board temperature (degrees C).
    Values are gaussian noise around nominal values; the current follows the voltage (Ohm's law), so the
    columns are correlated like real data. The same flags and seed give the same file, byte for byte.

    The file is deliberately messy, like an instrument export, so that a cleaning step has work to do:
      - the header has odd spacing and case: ` Sample ID, Voltage V ,Current-mA, Temperature C`
      - some rows have whitespace around their fields, some sample ids are "quoted"
      - a few blank lines are scattered through the file
      - line endings are LF, or CRLF with --crlf
      - with --outliers N, N rows get a voltage (and current) far from nominal

    Trimmed, lower-cased and with spaces/dashes turned into underscores (what the shell sanitizer does),
    the header becomes `sample_id,voltage_v,current_ma,temperature_c`.

    Context written:  ctx["raw_csv"] = the output path, as given
    Result (stdout):  {"output": PATH, "rows": N}

Usage:
    python -m scriptlets.python.steps.generate_measurements [--output CSV] [--rows N] [--seed S]
        [--nominal-voltage V] [--nominal-current MA] [--nominal-temperature C] [--noise FRACTION]
        [--outliers N] [--crlf]

Arguments:
    --output CSV               file to write; folders are created (default Data/demo/raw.csv)
    --rows N                   number of measurement rows, at least 1 (default 200)
    --seed S                   random seed: same seed, same file (default 42)
    --nominal-voltage V        nominal supply voltage in volts (default 3.3)
    --nominal-current MA       nominal load current in milliamps (default 120.0)
    --nominal-temperature C    nominal board temperature in degrees C (default 25.0)
    --noise FRACTION           standard deviation of each value, as a fraction of its nominal (default 0.01)
    --outliers N               rows pushed 30-50 % away from the nominal voltage (default 0)
    --crlf                     write Windows line endings (CRLF) instead of LF

Examples:
    python -m scriptlets.python.steps.generate_measurements
    python -m scriptlets.python.steps.generate_measurements --rows 1000 --outliers 5 --crlf \\
        --output Data/demo/raw_big.csv
    # in a recipe:
    #   - name: generate
    #     type: python
    #     module: scriptlets.python.steps.generate_measurements
    #     params: {output: Data/demo/raw.csv, rows: 500, outliers: 3}
    #     success: {files_exist: [Data/demo/raw.csv], ctx_has_keys: [raw_csv]}

Limitations:
    The model is simple: independent gaussian noise per row, no drift over time, no units other than
    V / mA / degrees C. Relative paths are relative to the current folder (orchestrator/ under the runner).
    The whole file is built in memory before it is written (fine up to millions of rows).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import random
from typing import Any

from scriptlets.python.core.base import BaseScriptlet, UsageError

# The header as a sloppy instrument export writes it; the sanitizer turns it into snake_case names.
HEADER = " Sample ID, Voltage V ,Current-mA, Temperature C"


class StepGenerateMeasurements(BaseScriptlet):
    """Write a seeded, messy CSV of simulated voltage/current/temperature measurements."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--output", default="Data/demo/raw.csv", metavar="CSV", help="file to write")
        parser.add_argument("--rows", type=int, default=200, metavar="N", help="measurement rows (default 200)")
        parser.add_argument("--seed", type=int, default=42, metavar="S", help="random seed (default 42)")
        parser.add_argument("--nominal-voltage", type=float, default=3.3, metavar="V", help="volts (default 3.3)")
        parser.add_argument("--nominal-current", type=float, default=120.0, metavar="MA",
                            help="milliamps (default 120.0)")
        parser.add_argument("--nominal-temperature", type=float, default=25.0, metavar="C",
                            help="degrees C (default 25.0)")
        parser.add_argument("--noise", type=float, default=0.01, metavar="FRACTION",
                            help="standard deviation as a fraction of the nominal value (default 0.01)")
        parser.add_argument("--outliers", type=int, default=0, metavar="N", help="rows far off nominal (default 0)")
        parser.add_argument("--crlf", action="store_true", help="CRLF line endings instead of LF")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        # Refuse impossible requests up front, naming the flag, so nothing half-written is left behind.
        if params["rows"] < 1:
            raise UsageError(f"--rows must be at least 1, got {params['rows']}")
        if not 0 <= params["outliers"] <= params["rows"]:
            raise UsageError(f"--outliers must be between 0 and --rows ({params['rows']}), got {params['outliers']}")
        if params["noise"] < 0:
            raise UsageError(f"--noise must be 0 or more, got {params['noise']}")
        if params["nominal_voltage"] <= 0 or params["nominal_current"] <= 0:
            raise UsageError("--nominal-voltage and --nominal-current must be positive (they define the load)")
        if Path(params["output"]).is_dir():
            raise UsageError(f"--output {params['output']} is a folder; give a file name such as raw.csv")

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        # 1. Simulate the clean numbers, then push some rows off nominal if asked.
        rows = simulate(params)
        outliers = inject_outliers(rows, params["outliers"], random.Random(f"{params['seed']}-outliers"))
        if outliers:
            self.log.info("injected %d outlier(s): %s", len(outliers), ", ".join(outliers))
        # 2. Format them the way a sloppy instrument would, then write the file in one go.
        lines = messy_lines(rows, random.Random(f"{params['seed']}-layout"))
        try:
            write_lines(Path(params["output"]), lines, "\r\n" if params["crlf"] else "\n")
        except OSError as exc:
            raise UsageError(f"--output {params['output']}: cannot write it ({exc.strerror or exc})") from None
        self.log.info("wrote %d rows (%d lines) to %s", len(rows), len(lines), params["output"])
        # 3. Tell later steps where the raw data is.
        ctx["raw_csv"] = params["output"]
        return {"output": params["output"], "rows": len(rows)}


def simulate(params: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per measurement: voltage with noise, current = voltage / load (plus noise), temperature."""
    rng = random.Random(params["seed"])
    noise = params["noise"]
    v_nom, i_nom, t_nom = params["nominal_voltage"], params["nominal_current"], params["nominal_temperature"]
    load = v_nom / i_nom  # the load in kilo-ohms: V / mA
    rows = []
    for n in range(1, params["rows"] + 1):
        voltage = rng.gauss(v_nom, v_nom * noise)
        current = voltage / load * rng.gauss(1.0, noise)
        temperature = rng.gauss(t_nom, abs(t_nom) * noise)
        rows.append({"id": f"S{n:04d}", "voltage": voltage, "current": current, "temperature": temperature})
    return rows


def inject_outliers(rows: list[dict[str, Any]], count: int, rng: random.Random) -> list[str]:
    """Scale the voltage (and so the current) of `count` random rows by 0.5-0.7 or 1.3-1.5; return their ids."""
    chosen = sorted(rng.sample(range(len(rows)), count))
    for index in chosen:
        factor = rng.uniform(1.3, 1.5) if rng.random() < 0.5 else rng.uniform(0.5, 0.7)
        rows[index]["voltage"] *= factor
        rows[index]["current"] *= factor
    return [rows[index]["id"] for index in chosen]


def messy_lines(rows: list[dict[str, Any]], rng: random.Random) -> list[str]:
    """The file's lines: the sloppy header, rows with random padding/quoting, and a few blank lines."""
    lines = [HEADER]
    blank_after = set(rng.sample(range(len(rows)), max(1, len(rows) // 40)))
    for index, row in enumerate(rows):
        lines.append(messy_row(row, rng))
        if index in blank_after:
            lines.append("")
    return lines


def messy_row(row: dict[str, Any], rng: random.Random) -> str:
    """One CSV line; about 1 row in 8 has whitespace around its fields, 1 in 10 a quoted sample id."""
    fields = [row["id"], f"{row['voltage']:.4f}", f"{row['current']:.2f}", f"{row['temperature']:.2f}"]
    if rng.random() < 0.125:
        return ",".join(" " * rng.randint(1, 3) + field + " " * rng.randint(0, 2) for field in fields)
    if rng.random() < 0.1:
        fields[0] = f'"{fields[0]}"'
    return ",".join(fields)


def write_lines(path: Path, lines: list[str], newline: str) -> None:
    """Write the lines with the chosen line ending (newline="" so Python does not translate it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(newline.join(lines) + newline)


if __name__ == "__main__":
    raise SystemExit(StepGenerateMeasurements.cli())
