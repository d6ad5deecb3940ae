"""Pruning old runs: database rows, the run's folder under Data/runs/, its logs and its reports.

A run's reports are those at their default place, Data/reports/<run id><suffix> for every report format
(reports.FORMATS), and the comparison workbooks Data/reports/compare_<A>_<B>.xlsx naming it as A or B. A report
written elsewhere (`report.py --output`) is not known here and stays.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from reports import FORMATS, compared_runs, default_target, reports_dir  # the package imports nothing

from .paths import Paths
from .rundb import RunDB

TABLES = ("events", "attempts", "steps")


@dataclass(frozen=True)
class Pruned:
    run_ids: tuple[str, ...]
    files: int  # every file removed, reports included
    bytes: int
    reports: tuple[Path, ...] = ()  # the reports among the files


def select_old_runs(db: RunDB, keep: Optional[int], older_than_days: Optional[float]) -> list[str]:
    """Finished runs beyond the newest `keep`, or started more than `older_than_days` ago (running ones never)."""
    rows = db.conn.execute("SELECT id, started FROM runs WHERE verdict != 'running' ORDER BY started DESC, id DESC")
    chosen = []
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - older_than_days * 86400)) \
        if older_than_days is not None else None
    for position, (run_id, started) in enumerate(rows.fetchall()):
        if (keep is not None and position >= keep) or (cutoff is not None and (started or "") < cutoff):
            chosen.append(run_id)
    return chosen


def run_reports(paths: Paths, run_ids: list[str]) -> dict[str, list[Path]]:
    """The report files of each run at their default place; a comparison of two of the runs goes with the first."""
    folder = reports_dir(paths.data)
    compares = sorted(p for p in folder.glob("*.xlsx") if p.is_file() and compared_runs(p)) if folder.is_dir() else []
    found: dict[str, list[Path]] = {}
    taken: set[Path] = set()
    for run_id in run_ids:
        own = [p for p in (default_target(paths.data, run_id, fmt) for fmt in FORMATS) if p.is_file()]
        own += [p for p in compares if p not in taken and run_id in (compared_runs(p) or ())]
        taken.update(own)
        found[run_id] = own
    return found


def prune(paths: Paths, db: RunDB, run_ids: list[str], dry_run: bool = False) -> Pruned:
    files = size = 0
    reports = run_reports(paths, run_ids)
    for run_id in run_ids:
        targets = [*paths.logs.glob(f"{run_id}_*.log")]
        run_dir = paths.runs / run_id
        if run_dir.is_dir():
            targets += [p for p in run_dir.rglob("*") if p.is_file()]
        targets += reports[run_id]
        files += len(targets)
        size += sum(p.stat().st_size for p in targets if p.exists())
        if dry_run:
            continue
        for path in reports[run_id]:  # first: a report left behind by an interrupted prune would never go
            path.unlink(missing_ok=True)
        db.conn.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            db.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        db.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        db.conn.execute("COMMIT")
        for path in targets:
            if path.parent == paths.logs:
                path.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return Pruned(tuple(run_ids), files, size, tuple(p for run_id in run_ids for p in reports[run_id]))
