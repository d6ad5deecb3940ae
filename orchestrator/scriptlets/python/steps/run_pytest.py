"""Run a pytest suite and record its counts, failures and coverage in the context.

Description:
    Runs `python -m pytest PATH` in a child process (the runner's interpreter), reads the JUnit XML report
    pytest writes, and records in the context how many tests passed, failed, errored and were skipped, the
    names and messages of the failing tests, and the duration. With --cov SOURCE the suite runs under
    coverage.py and the total line coverage (percent) of SOURCE is recorded too.
    The step fails (exit 1) when a test fails or errors, or when --min-coverage is not met; the counts are
    recorded either way, so a report or a later check can show them.

    Context written (KEY is --key, default "pytest"):
        ctx[KEY] = {"path", "passed", "failed", "errors", "skipped", "total", "duration_s",
                    "failures": [{"test", "message"}], "coverage_percent" (null without --cov),
                    "exit_code"}
    Result (stdout): the same object.

Usage:
    python -m scriptlets.python.steps.run_pytest --path TESTS [--cov SOURCE] [--min-coverage PCT]
        [--key KEY] [--pytest-arg ARG ...] [--timeout SECONDS]

Arguments:
    --path TESTS         a test file or folder (required)
    --cov SOURCE         measure line coverage of this package or folder (coverage.py)
    --min-coverage PCT   fail when the coverage is below PCT (needs --cov)
    --key KEY            context key for the results (default: pytest)
    --pytest-arg ARG     an extra argument for pytest, e.g. --pytest-arg=-k --pytest-arg=smoke (repeatable)
    --timeout SECONDS    stop the suite after this long (default 3600)

    Exit codes: 0 every test passed (and coverage is met); 1 a test failed or errored, coverage is too low,
    or pytest could not collect the tests; 2 bad usage (missing path, --min-coverage without --cov).

Examples:
    python -m scriptlets.python.steps.run_pytest --path tests/unit --ctx /tmp/ctx.json
    python -m scriptlets.python.steps.run_pytest --path tests --cov orchestrator/engine --min-coverage 80

    In a recipe:
      - name: unit_tests
        type: python
        module: scriptlets.python.steps.run_pytest
        params: {path: ../tests/unit, cov: engine, key: unit_tests}
        timeout: 900

Limitations:
    Needs pytest in the interpreter's environment (and coverage.py for --cov). Failure messages are cut to
    500 characters and at most 50 failures are listed. Coverage is line coverage, not branch coverage.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import json
import subprocess
import tempfile
import time
from typing import Any, Optional

from scriptlets.python.core.base import BaseScriptlet, StepFailed, UsageError

MAX_FAILURES, MAX_MESSAGE = 50, 500


class StepRunPytest(BaseScriptlet):
    """Run pytest on a path and record counts, failures and coverage in ctx."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--path", required=True, help="test file or folder")
        parser.add_argument("--cov", metavar="SOURCE", help="measure line coverage of SOURCE")
        parser.add_argument("--min-coverage", type=float, metavar="PCT", help="fail below this coverage")
        parser.add_argument("--key", default="pytest", help="context key for the results")
        parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG", help="extra pytest arg")
        parser.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS", help="suite time limit")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        if not Path(params["path"]).exists():
            raise UsageError(f"--path {params['path']}: no such test file or folder")
        if params["min_coverage"] is not None and not params["cov"]:
            raise UsageError("--min-coverage needs --cov SOURCE (what to measure)")

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="run_pytest-") as tmp:
            junit, cov_json = Path(tmp) / "junit.xml", Path(tmp) / "coverage.json"
            # 1. Run the suite in a child process, under coverage.py when asked.
            started = time.monotonic()
            code = self._run_suite(params, junit, Path(tmp) / ".coverage")
            duration = round(time.monotonic() - started, 3)
            # 2. Read what happened from the JUnit report (pytest always writes it once it collected).
            if not junit.exists():
                raise StepFailed(f"pytest wrote no report (exit code {code}): see its output above")
            results = summarize_junit(junit)
            coverage = self._coverage(params, Path(tmp), cov_json) if params["cov"] else None
        results.update(path=params["path"], duration_s=duration, coverage_percent=coverage, exit_code=code)
        # 3. Record, then decide the step's verdict.
        ctx[params["key"]] = results
        self.log.info("%(passed)d passed, %(failed)d failed, %(errors)d errors, %(skipped)d skipped", results)
        if results["failed"] or results["errors"] or code not in (0, 5):
            raise StepFailed(f"{results['failed']} failed, {results['errors']} errors in {params['path']}")
        minimum = params["min_coverage"]
        if minimum is not None and (coverage or 0.0) < minimum:
            raise StepFailed(f"coverage {coverage:.1f}% is below --min-coverage {minimum:g}%")
        return results

    def _run_suite(self, params: dict[str, Any], junit: Path, data_file: Path) -> int:
        pytest_args = ["-m", "pytest", params["path"], f"--junitxml={junit}", "-q", "-p", "no:cacheprovider",
                       *params["pytest_arg"]]
        if params["cov"]:
            argv = [sys.executable, "-m", "coverage", "run", f"--data-file={data_file}",
                    f"--source={params['cov']}", *pytest_args]
        else:
            argv = [sys.executable, *pytest_args]
        try:  # the suite's own output goes to this step's stdout/stderr, i.e. its log
            return subprocess.run(argv, timeout=params["timeout"], stdout=sys.stderr).returncode
        except subprocess.TimeoutExpired:
            raise StepFailed(f"the suite ran longer than --timeout {params['timeout']:g} s") from None

    def _coverage(self, params: dict[str, Any], tmp: Path, cov_json: Path) -> Optional[float]:
        done = subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={tmp / '.coverage'}",
                               "-o", str(cov_json), "-q"], stdout=sys.stderr)
        if done.returncode != 0 or not cov_json.exists():
            self.log.warning("no coverage data for %s (is it imported by the tests?)", params["cov"])
            return None
        return round(json.loads(cov_json.read_text())["totals"]["percent_covered"], 2)


def summarize_junit(path: Path) -> dict[str, Any]:
    """Counts and failures from a JUnit XML report (one or several test suites)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[dict[str, str]] = []
    for case in root.iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        kind = outcome.tag if outcome is not None else "passed"
        counts[{"failure": "failed", "error": "errors"}.get(kind, kind)] += 1
        if kind in ("failure", "error") and len(failures) < MAX_FAILURES:
            failures.append({"test": test, "message": (outcome.get("message") or "")[:MAX_MESSAGE]})
    return {**counts, "total": sum(counts.values()), "failures": failures}


if __name__ == "__main__":
    raise SystemExit(StepRunPytest.cli())
