"""Reports of recorded runs: Excel workbooks, JUnit XML, JSON summaries and run-to-run comparisons.

Everything here reads the run database (`Data/orchestrator.db`) and each run's context file; nothing here
is imported by the runner at start-up. `model.load_run` turns one run into plain dataclasses; the writers
(`excel`, `junit`, `jsonsummary`, `compare`) only format those. openpyxl is imported inside `excel` alone,
so JSON and JUnit reports do not pay for it, and this package's import costs nothing.

    from reports import write_report
    path = write_report("latest", "junit")          # e.g. from an end-of-run subscriber
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .model import RunReport

FORMATS = {"xlsx": ".xlsx", "json": ".json", "junit": ".junit.xml"}  # format -> file suffix


def reports_dir(data_dir: Path) -> Path:
    """The folder of the reports written without --output: <workdir>/Data/reports."""
    return data_dir / "reports"


def default_target(data_dir: Path, run_id: str, fmt: str) -> Path:
    """Where a run's report goes unless told: <workdir>/Data/reports/<run id><suffix>."""
    return reports_dir(data_dir) / f"{run_id}{FORMATS[fmt]}"


def compare_target(data_dir: Path, run_a: str, run_b: str) -> Path:
    """Where a comparison workbook goes unless told: <workdir>/Data/reports/compare_<A>_<B>.xlsx."""
    return reports_dir(data_dir) / f"compare_{run_a}_{run_b}.xlsx"


def compared_runs(path: Path) -> Optional[tuple[str, str]]:
    """(A, B) of a workbook named by compare_target, else None (run ids hold no '_')."""
    name = path.name
    if not (name.startswith("compare_") and name.endswith(".xlsx")):
        return None
    pair = name[len("compare_"):-len(".xlsx")].split("_")
    return (pair[0], pair[1]) if len(pair) == 2 and all(pair) else None


def render(report: RunReport, fmt: str) -> str:
    """A text format (json or junit) of the report as a string."""
    from . import jsonsummary, junit

    return jsonsummary.to_string(report) if fmt == "json" else junit.to_string(report)


def write(report: RunReport, fmt: str, target: Path) -> Path:
    """Write the report in format fmt (xlsx, json, junit) to target; returns target."""
    if fmt == "xlsx":
        from . import excel  # openpyxl is imported only for this format

        return excel.write_run_report(report, target)
    from .jsonsummary import write_text

    return write_text(render(report, fmt), target)


def write_report(run: str = "latest", fmt: str = "xlsx", target: Optional[Path] = None,
                 workdir: Optional[Path] = None) -> Path:
    """Load run (an id, the start or end of one, or `latest`) of the work folder and write its report.
    Raises model.ReportError (a UserError) for an unknown run or format."""
    from engine.paths import Paths

    from . import model

    if fmt not in FORMATS:
        raise model.ReportError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    paths = Paths.for_workdir(workdir)
    db = model.open_db(paths)
    try:
        run_id = model.resolve_run_id(db, run)
        report = model.load_run(db, run_id, paths)
    finally:
        db.close()
    return write(report, fmt, target or default_target(paths.data, run_id, fmt))
