"""The error boundary for bugs: one line naming the traceback file, exit code 3."""
from __future__ import annotations

from pathlib import Path

from engine.errors import EXIT_INTERNAL, report_internal_error


def test_a_bug_gives_one_line_and_a_traceback_file(tmp_path: Path, capsys) -> None:
    try:
        {}["missing"]
    except KeyError:
        code = report_internal_error(tmp_path, "runner.py")
    assert code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("runner.py: internal error: KeyError('missing'); the traceback is in ")
    crash = next((tmp_path / "Logs").glob("*_crash.log"))
    assert "Traceback" in crash.read_text() and str(crash) in err
