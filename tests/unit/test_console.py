"""The run summary's command for continuing a failed or aborted run."""
from __future__ import annotations

import shlex
import sys

from engine.console import resume_command, summary_text
from engine.events import RunFinished, StepResult
from engine.status import StepStatus, Verdict

S, F, A, K = StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.ABORTED, StepStatus.SKIPPED


def finished(verdict: Verdict, *steps: tuple[str, StepStatus, bool]) -> RunFinished:
    results = tuple(StepResult(name, status, tolerated=tolerated) for name, status, tolerated in steps)
    return RunFinished("20260101T000000Z-ab12", verdict, results, "", "", 1.0)


def test_continues_from_the_first_step_that_did_not_succeed_keeping_what_the_user_skipped() -> None:
    argv = ("runner.py", "--recipe", "my recipe.yaml", "--resume-from", "b", "--run-id=x", "--skip", "d",
            "--parallel", "2", "--dry-run")
    run = finished(Verdict.FAILED, ("a", S, False), ("b", F, True), ("c", F, False), ("d", K, False))
    python = shlex.quote(sys.executable)  # the interpreter that ran the runner, not whatever `python` is on PATH
    assert resume_command(argv, run) == (f"{python} runner.py --recipe 'my recipe.yaml' --skip d --parallel 2 "
                                         "--resume-from c --run-id 20260101T000000Z-ab12")
    aborted = finished(Verdict.ABORTED, ("a", S, False), ("b", A, False), ("c", K, False))
    assert resume_command(("runner.py", "--recipe", "r.yaml"), aborted) == \
        f"{python} runner.py --recipe r.yaml --resume-from b --run-id 20260101T000000Z-ab12"


def test_no_command_when_there_is_nothing_to_continue() -> None:
    argv = ("runner.py", "--recipe", "r.yaml")
    assert resume_command(argv, finished(Verdict.SUCCEEDED, ("a", S, False))) is None
    assert resume_command(argv, finished(Verdict.ABORTED, ("a", K, False))) is None  # aborted before any step
    assert resume_command((*argv, "--only", "a"), finished(Verdict.FAILED, ("a", F, False))) is None
    assert resume_command((), finished(Verdict.FAILED, ("a", F, False))) is None  # embedded: no command line


def test_the_summary_names_a_failed_steps_log_only_when_it_exists(tmp_path) -> None:
    from engine.console import summary_text

    log = tmp_path / "run_a.log"
    log.write_text("output\n")
    results = (StepResult("a", F, reason="exit code 1: boom", log_path=str(log)),
               StepResult("b", F, reason="worker error: could not deserialize", log_path=str(tmp_path / "none.log")))
    text = summary_text(RunFinished("20260101T000000Z-ab12", Verdict.FAILED, results, "", "", 1.0))
    assert f"  a: exit code 1: boom (log: {log})" in text.splitlines()
    assert "  b: worker error: could not deserialize" in text.splitlines()  # it never started: no log to name


def test_a_run_whose_failures_were_tolerated_says_so_in_its_headline() -> None:
    """'SUCCEEDED (3 failed)' read as a contradiction: the headline now says the failures were tolerated."""
    run = finished(Verdict.SUCCEEDED, ("a", S, False), ("b", F, True), ("c", F, True))
    headline = summary_text(run).splitlines()[0]
    assert headline.endswith("SUCCEEDED in 1.00s (1 succeeded, 2 failed but tolerated)"), headline
