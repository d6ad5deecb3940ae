"""End-of-run outputs as event subscribers: the Excel report, written once the run database has the run.

The workbook is written by `tools/report.py` in a child process: openpyxl stays out of the runner (its import
alone is 0.16 s and 10 MB), and the report is written while the graph thread draws its final picture."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

from .events import RunFinished
from .paths import HOME

REPORT_TIMEOUT = 600.0


class ReportWriter:
    """Starts the report when the event bus closes it (after the database recorder has flushed, so the report
    reads the complete run); `wait()` returns the workbook's path."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run_id: Optional[str] = None
        self.path: Optional[Path] = None
        self._proc: Optional[subprocess.Popen[str]] = None

    def handle(self, event: object) -> None:
        if isinstance(event, RunFinished):
            self.run_id = event.run_id

    def close(self) -> None:
        if self.run_id is None:
            return
        argv = [sys.executable, str(HOME / "tools" / "report.py"), "--run", self.run_id, "--format", "xlsx",
                "--workdir", str(self.workdir)]
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL)

    def wait(self) -> Optional[Path]:
        if self._proc is None:
            return None
        try:
            out, err = self._proc.communicate(timeout=REPORT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, err = self._proc.communicate()
        if self._proc.returncode == 0 and out.strip():
            self.path = Path(out.strip().splitlines()[-1])
        else:  # a report problem never changes the run's outcome
            reason = (err.strip().splitlines() or [f"exit code {self._proc.returncode}"])[-1]
            print(f"warning: the Excel report of run {self.run_id} was not written: {reason} "
                  f"(retry with: python tools/report.py --run {self.run_id})", file=sys.stderr)
        return self.path
