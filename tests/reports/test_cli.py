"""tools/report.py as users run it: from orchestrator/ and from the repository root, default paths, formats,
compare, and bad usage as exit code 2 with one clear line, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ORCH, PY, REPO
from synthetic_runs import FakeStep, write_run

A, B = "20260101T000000Z-aaaa", "20260102T000000Z-bbbb"


def report(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = "tools/report.py" if cwd == ORCH else str(ORCH / "tools" / "report.py")
    return subprocess.run([PY, script, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    write_run(tmp_path, A, [FakeStep("one", duration=1.0)], [("one", "k", 1)], started="2026-01-01T00:00:00.0Z")
    write_run(tmp_path, B, [FakeStep("one", "failed", 2.0, "exit code 1", 1)], [("one", "k", 2)],
              started="2026-01-02T00:00:00.0Z", verdict="failed")
    return tmp_path


def one_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr


@pytest.mark.parametrize("fmt, suffix", [("xlsx", ".xlsx"), ("json", ".json"), ("junit", ".junit.xml")])
def test_default_output_is_under_data_reports(work: Path, fmt: str, suffix: str) -> None:
    proc = report("--format", fmt, "--workdir", str(work))
    assert proc.returncode == 0, proc.stderr
    target = work / "Data" / "reports" / f"{B}{suffix}"  # latest by default
    assert proc.stdout.strip() == str(target) and target.stat().st_size > 0


def test_from_orchestrator_folder_with_orch_workdir_and_run_id_end(work: Path) -> None:
    proc = report("--run", "aaaa", "--format", "json", "--output", "-", cwd=ORCH, env={"ORCH_WORKDIR": str(work)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["run"]["id"] == A


def test_output_path_is_used(work: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "r.xlsx"
    proc = report("--run", A, "--output", str(target), "--workdir", str(work))
    assert proc.returncode == 0 and proc.stdout.strip() == str(target) and target.exists()


def test_compare_text_json_xlsx_and_refusal(work: Path) -> None:
    text = report("compare", A, "latest", "--workdir", str(work))
    assert text.returncode == 0 and "succeeded -> failed" in text.stdout and "~ k 1 -> 2" in text.stdout
    data = json.loads(report("--workdir", str(work), "compare", A, B, "--format", "json").stdout)
    assert data["durations"][0]["percent"] == 100.0
    xlsx = report("compare", A, B, "--format", "xlsx", "--workdir", str(work))
    assert xlsx.returncode == 0 and Path(xlsx.stdout.strip()).name == f"compare_{A}_{B}.xlsx"
    write_run(work, "20260103T000000Z-othr", [FakeStep("x")], [], recipe="/recipes/other.yaml")
    one_clean_error(report("compare", A, "othr", "--workdir", str(work)), "different recipes", "--force")
    assert report("compare", A, "othr", "--force", "--workdir", str(work)).returncode == 0


@pytest.mark.parametrize("args, needles", [
    (["--run", "nope"], ["run 'nope' not found", B]),
    (["--run", "2026"], ["ambiguous"]),
    (["--run", ""], ["empty run id"]),
    (["--format", "pdf"], ["invalid choice: 'pdf'"]),
    (["--output", "-"], ["standard output"]),
    (["compare", A], ["RUN_B"]),
    (["compare", A, "nope"], ["run 'nope' not found"]),
    (["compare", A, B, "--format", "junit"], ["invalid choice: 'junit'"]),
    (["--bogus"], ["unrecognized arguments: --bogus"]),
    (["--formats", "json"], ["unrecognized arguments: --formats json (did you mean --format?)"]),
])
def test_bad_usage_is_one_line_and_exit_2(work: Path, args: list[str], needles: list[str]) -> None:
    one_clean_error(report(*args, "--workdir", str(work)), *needles)


def test_no_runs_and_unwritable_output(tmp_path: Path, work: Path) -> None:
    one_clean_error(report("--workdir", str(tmp_path / "empty")), "no runs recorded")
    one_clean_error(report("--workdir", str(work), "--output", str(work)), "is a folder")
    blocker = work / "file"
    blocker.write_text("")
    one_clean_error(report("--workdir", str(work), "--output", str(blocker / "r.xlsx")), "is a file, not a folder")
    # a name that says another format than --format is refused; a name alone chooses the format
    one_clean_error(report("--workdir", str(work), "--format", "json", "--output", str(work / "r.xlsx")),
                    "names a xlsx file, but --format is json")
    named = report("--workdir", str(work), "--output", str(work / "r.json"))
    assert named.returncode == 0 and json.loads((work / "r.json").read_text())["run"]["id"] == B, named.stderr
    compared = report("compare", A, B, "--workdir", str(work), "--output", str(work / "c.json"))
    assert compared.returncode == 0 and "durations" in json.loads((work / "c.json").read_text())


def test_reports_stay_off_the_runner_import_path() -> None:
    code = ("import sys, runner, engine.run, engine.rundb, context; "
            "from reports import model, junit, jsonsummary, compare; print('openpyxl' in sys.modules)")
    proc = subprocess.run([PY, "-c", code], cwd=ORCH, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_write_report_api_for_subscribers(work: Path) -> None:
    import reports
    from reports.model import ReportError

    target = reports.write_report("latest", "junit", workdir=work)
    assert target == work / "Data" / "reports" / f"{B}.junit.xml" and target.read_text().startswith("<?xml")
    with pytest.raises(ReportError, match="unknown report format 'pdf'"):
        reports.write_report("latest", "pdf", workdir=work)


def test_an_interpreter_without_openpyxl_is_told_which_python_to_use(work: Path) -> None:
    """A trial user ran the printed resume command with another python: its report died as an 'internal error'."""
    script = str(ORCH / "tools" / "report.py")
    blocked = ("import runpy, sys; sys.modules['openpyxl'] = None; "  # as if openpyxl were not installed
               f"sys.argv = [{script!r}, '--run', {A!r}, '--workdir', {str(work)!r}]; "
               f"runpy.run_path({script!r}, run_name='__main__')")
    proc = subprocess.run([PY, "-c", blocked], capture_output=True, text=True, timeout=60)
    one_clean_error(proc, "the Python package 'openpyxl' is not installed for", ".venv/bin/python")
