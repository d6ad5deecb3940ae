"""The run database holds the same rows whether an attempt's start and end reach the recorder in one batch (it
then writes one complete attempts row) or in two (a row at the start, completed at the end)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Workdir
from engine.events import (AttemptFinished, AttemptOutcome, RunFinished, RunStarted, StepFinished, StepResult,
                           StepStarted)
from engine.plan import Selection, build_plan
from engine.recipe import load_recipe
from engine.rundb import RunDB, RunRecorder
from engine.status import StepStatus, Verdict

RECIPE = "steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh, retries: 1}\n"
T = [f"2026-01-01T00:00:0{i}.000000Z" for i in range(8)]
FAILED = AttemptOutcome(exit_code=1, duration=0.5, cpu=0.1, max_rss=1024, reason="exit code 1: boom", ended=T[2])
OK = AttemptOutcome(exit_code=0, duration=0.25, cpu=0.05, max_rss=2048, ended=T[4])


def recorded(wd: Workdir, flush_after: set[int]) -> dict[str, Any]:
    """Rows after one run with a retried step; the recorder flushes after the events whose positions are given."""
    recipe = load_recipe(wd.recipe(RECIPE), (wd.path,))
    plan = build_plan(recipe, Selection())
    result = StepResult("a", StepStatus.SUCCEEDED, attempts=2, started=T[1], ended=T[4], duration=0.75, cpu=0.15,
                        max_rss=2048, exit_code=0, log_path="Logs/R1_a.log")
    events = [RunStarted("R1", recipe, plan, T[0], ("runner.py",), "p", "ctx.db"),
              StepStarted("a", 1, 101, "Logs/R1_a.log", T[1]),
              AttemptFinished("a", 1, FAILED, 0.1, T[2]),
              StepStarted("a", 2, 102, "Logs/R1_a.log", T[3]),
              AttemptFinished("a", 2, OK, None, T[4]),
              StepFinished(result),
              RunFinished("R1", Verdict.SUCCEEDED, (result,), T[0], T[5], 5.0)]
    db_file = wd.path / "Data" / "orchestrator.db"
    recorder = RunRecorder(RunDB(db_file))
    for position, event in enumerate(events):
        recorder.handle(event)
        if position in flush_after:
            recorder.flush()
    recorder.close()
    conn = sqlite3.connect(db_file)
    conn.row_factory = sqlite3.Row
    try:
        return {"attempts": [dict(r) for r in conn.execute("SELECT * FROM attempts ORDER BY attempt")],
                "step": dict(conn.execute("SELECT * FROM steps").fetchone())}
    finally:
        conn.close()


@pytest.mark.parametrize("flush_after", [set(), {0, 1, 2, 3, 4, 5}, {1}, {3}, {2}],
                         ids=["one batch", "a batch per event", "start alone", "retry start alone", "first end alone"])
def test_rows_do_not_depend_on_how_events_are_batched(tmp_path: Path, flush_after: set[int]) -> None:
    rows = recorded(Workdir(tmp_path / "wd"), flush_after)
    assert rows["attempts"] == [
        {"run_id": "R1", "step": "a", "attempt": 1, "pid": 101, "started": T[1], "duration": 0.5, "cpu": 0.1,
         "max_rss": 1024, "exit_code": 1, "signal": None, "reason": "exit code 1: boom"},
        {"run_id": "R1", "step": "a", "attempt": 2, "pid": 102, "started": T[3], "duration": 0.25, "cpu": 0.05,
         "max_rss": 2048, "exit_code": 0, "signal": None, "reason": None}]
    step = rows["step"]
    assert (step["status"], step["attempts"], step["started"], step["ended"], step["log_path"]) == \
        ("succeeded", 2, T[1], T[4], "Logs/R1_a.log")


def test_a_step_still_running_at_a_flush_is_marked_running(tmp_path: Path) -> None:
    wd = Workdir(tmp_path / "wd")
    recipe = load_recipe(wd.recipe(RECIPE), (wd.path,))
    db_file = wd.path / "Data" / "orchestrator.db"
    recorder = RunRecorder(RunDB(db_file))
    recorder.handle(RunStarted("R1", recipe, build_plan(recipe, Selection()), T[0], ("runner.py",), "p", "ctx.db"))
    recorder.handle(StepStarted("a", 1, 101, "Logs/R1_a.log", T[1]))
    recorder.close()  # flushes: the monitor must see the step running, with its pid, while it runs
    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("SELECT status, attempts, started FROM steps").fetchone() == ("running", 1, T[1])
        attempts = conn.execute("SELECT attempt, pid, started, exit_code FROM attempts").fetchall()
        assert attempts == [(1, 101, T[1], None)]
    finally:
        conn.close()
