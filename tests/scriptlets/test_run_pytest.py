"""run_pytest: a real pytest suite in a child process; counts, failures and coverage land in the context."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import ORCH, PY


def run(tmp: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return subprocess.run([PY, "-m", "scriptlets.python.steps.run_pytest", "--ctx", str(tmp / "ctx.json"), *flags],
                          cwd=ORCH, capture_output=True, text=True, env=env, timeout=300)


def make_suite(tmp: Path, failing: bool) -> None:
    (tmp / "calc").mkdir()
    (tmp / "calc" / "__init__.py").write_text("def add(a, b):\n    return a + b\n\n\ndef unused():\n    return 0\n")
    (tmp / "tests").mkdir()
    body = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    if failing:
        body += "\n\ndef test_wrong():\n    assert add(1, 1) == 3, 'off by one'\n"
    (tmp / "tests" / "test_calc.py").write_text(body)
    (tmp / "tests" / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(tmp)!r})\n")


def test_counts_and_coverage_are_recorded(tmp_path: Path) -> None:
    make_suite(tmp_path, failing=False)
    proc = run(tmp_path, "--path", str(tmp_path / "tests"), "--cov", str(tmp_path / "calc"), "--key", "unit")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "ctx.json").read_text())["unit"]
    assert (result["passed"], result["failed"], result["total"]) == (1, 0, 1)
    assert 50 < result["coverage_percent"] < 100  # unused() is not covered
    assert json.loads(proc.stdout)["passed"] == 1


def test_failures_fail_the_step_but_are_recorded(tmp_path: Path) -> None:
    make_suite(tmp_path, failing=True)
    proc = run(tmp_path, "--path", str(tmp_path / "tests"))
    assert proc.returncode == 1
    result = json.loads((tmp_path / "ctx.json").read_text())["pytest"]
    assert result["failed"] == 1 and result["failures"][0]["test"].endswith("test_wrong")
    assert "off by one" in result["failures"][0]["message"]


def test_min_coverage_and_bad_usage(tmp_path: Path) -> None:
    make_suite(tmp_path, failing=False)
    low = run(tmp_path, "--path", str(tmp_path / "tests"), "--cov", str(tmp_path / "calc"), "--min-coverage", "99")
    assert low.returncode == 1 and "below --min-coverage 99%" in low.stderr
    assert run(tmp_path, "--path", str(tmp_path / "nope")).returncode == 2
    no_cov = run(tmp_path, "--path", str(tmp_path / "tests"), "--min-coverage", "50")
    assert no_cov.returncode == 2 and "needs --cov" in no_cov.stderr
