"""The runner log stamps each line with the time of its event, not the time the loop wrote it."""
from __future__ import annotations

import re
import time

from conftest import Workdir
from engine.events import (AttemptFinished, AttemptOutcome, ContextCommitted, Decision, RunFinished, RunStarted,
                           StepFinished, StepResult, StepStarted)
from engine.plan import Selection, build_plan
from engine.process import utc_stamp
from engine.recipe import load_recipe
from engine.runlog import RunnerLog
from engine.status import StepStatus, Verdict

RECIPE = "steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"


def stamps_by_text(log_text: str) -> dict[str, str]:
    lines = [line.split(" ", 1) for line in log_text.splitlines()]
    return {text: stamp for stamp, text in lines}


def test_lines_carry_their_events_times_even_when_written_later(wd: Workdir) -> None:
    recipe = load_recipe(wd.recipe(RECIPE), (wd.path,))
    plan = build_plan(recipe, Selection())
    times = [f"2026-01-01T00:00:0{i}.000000Z" for i in range(8)]
    events = [RunStarted("R1", recipe, plan, times[0], ("runner.py",), "p", "ctx.db"),
              Decision("waiting for a slot", "a", times[1]),
              StepStarted("a", 1, 4242, "Logs/R1_a.log", times[2]),
              AttemptFinished("a", 1, AttemptOutcome(exit_code=0, duration=1.0), None, times[3]),
              ContextCommitted("a", 1, ("k",), (), 3, times[4]),
              StepFinished(StepResult("a", StepStatus.SUCCEEDED, attempts=1, ended=times[5])),
              RunFinished("R1", Verdict.SUCCEEDED, (), times[0], times[6], 6.0)]
    log = RunnerLog(wd.path / "Logs")
    time.sleep(0.01)  # written well after the events: the stamps must still be theirs
    for event in events:
        log.handle(event)
    log.close()
    stamps = stamps_by_text((wd.path / "Logs" / "R1_runner.log").read_text())
    expected = {"plan: a: selected": times[0], "a: waiting for a slot": times[1],
                "a: attempt 1 started, pid 4242, log Logs/R1_a.log": times[2],
                "a: committed context keys k (head 3)": times[4], "a: succeeded": times[5],
                "run R1 finished: succeeded in 6.000 s": times[6]}
    for text, stamp in expected.items():
        assert stamps[text] == stamp, text
    attempt_line = next(t for t in stamps if t.startswith("a: attempt 1 succeeded"))
    assert stamps[attempt_line] == times[3]


def test_an_event_without_a_time_gets_the_time_it_is_written(wd: Workdir) -> None:
    recipe = load_recipe(wd.recipe(RECIPE), (wd.path,))
    log = RunnerLog(wd.path / "Logs")
    log.handle(RunStarted("R2", recipe, build_plan(recipe, Selection()), utc_stamp(), (), "p", "ctx.db"))
    before = utc_stamp()
    log.handle(Decision("no time given"))
    log.close()
    stamp = stamps_by_text((wd.path / "Logs" / "R2_runner.log").read_text())["no time given"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) and stamp >= before
