"""End-of-run outputs as event subscribers: the Excel report, written once the run database has the run."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .events import RunFinished


class ReportWriter:
    """Writes Data/reports/<run id>.xlsx when the run ends. The work happens in close(), which the event bus
    calls after the database recorder has flushed, so the report reads the complete run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run_id: Optional[str] = None
        self.path: Optional[Path] = None

    def handle(self, event: object) -> None:
        if isinstance(event, RunFinished):
            self.run_id = event.run_id

    def close(self) -> None:
        if self.run_id is None:
            return
        try:
            from reports import write_report

            self.path = write_report(self.run_id, "xlsx", workdir=self.workdir)
        except Exception as exc:  # noqa: BLE001 - a report problem never changes the run's outcome
            print(f"warning: the Excel report of run {self.run_id} was not written: {exc} "
                  f"(retry with: python tools/report.py --run {self.run_id})", file=sys.stderr)
