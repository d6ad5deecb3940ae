"""Pruning old runs: database rows, the run's folder under Data/runs/, and its logs."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Optional

from .paths import Paths
from .rundb import RunDB

TABLES = ("events", "attempts", "steps")


@dataclass(frozen=True)
class Pruned:
    run_ids: tuple[str, ...]
    files: int
    bytes: int


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


def prune(paths: Paths, db: RunDB, run_ids: list[str], dry_run: bool = False) -> Pruned:
    files = size = 0
    for run_id in run_ids:
        targets = [*paths.logs.glob(f"{run_id}_*.log")]
        run_dir = paths.runs / run_id
        if run_dir.is_dir():
            targets += [p for p in run_dir.rglob("*") if p.is_file()]
        files += len(targets)
        size += sum(p.stat().st_size for p in targets if p.exists())
        if dry_run:
            continue
        db.conn.execute("BEGIN IMMEDIATE")
        for table in TABLES:
            db.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
        db.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        db.conn.execute("COMMIT")
        for path in targets:
            if path.parent == paths.logs:
                path.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return Pruned(tuple(run_ids), files, size)
