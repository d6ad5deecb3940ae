"""End-of-run outputs as event subscribers: the Excel report, written once the run database has the run.

The workbook is written by `tools/report.py` in a child process: openpyxl stays out of the runner (its import
alone is 0.16 s and 10 MB). The child starts with the run and does its imports while the steps run, then waits
for a line on its standard input (`--start-on-stdin`); the runner sends it when the database has the whole run,
and the workbook is written while the graph thread draws its final picture."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

from .events import RunFinished, RunStarted
from .paths import HOME

REPORT_TIMEOUT = 600.0


class ReportWriter:
    """Starts the report process at RunStarted and tells it to go when the event bus closes this subscriber
    (after the database recorder has flushed, so the report reads the complete run); `wait()` returns the
    workbook's path. If the runner dies first, the report process sees its input end and writes nothing."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.run_id: Optional[str] = None
        self.finished = False
        self.path: Optional[Path] = None
        self._proc: Optional[subprocess.Popen[str]] = None

    def handle(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
            argv = [sys.executable, str(HOME / "tools" / "report.py"), "--run", event.run_id, "--format", "xlsx",
                    "--workdir", str(self.workdir), "--start-on-stdin"]
            # its own session: a Ctrl-C meant for the run must not stop the report of the aborted run
            self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          stdin=subprocess.PIPE, start_new_session=True)
        elif isinstance(event, RunFinished):
            self.finished = True

    def close(self) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        try:
            if self.finished:
                self._proc.stdin.write("go\n")
            self._proc.stdin.close()  # without "go" (the run never finished): the report process just exits
        except OSError:  # it already ended (an import failed): wait() says why
            pass
        self._proc.stdin = None  # closed: communicate() must not flush it

    def wait(self) -> Optional[Path]:
        if self._proc is None or not self.finished:
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
            retry = f"{sys.executable} {HOME / 'tools' / 'report.py'} --run {self.run_id} --workdir {self.workdir}"
            print(f"warning: the Excel report of run {self.run_id} was not written: {reason} (retry with: {retry})",
                  file=sys.stderr)
        return self.path
