"""The run log `Logs/<run id>_runner.log`: every decision of the runner, one UTC-stamped line each.

Each line carries the time of its event (when it happened), not the time the loop got round to writing it:
the loop delivers events in batches, up to 50 ms later (run.DELIVER_INTERVAL)."""
from __future__ import annotations

from pathlib import Path
from typing import IO, Optional

from .events import (AttemptFinished, ContextCommitted, Decision, Dispatching, RunFinished, RunStarted, StepFinished,
                     StepStarted)
from .process import rss_text, utc_stamp


class RunnerLog(Dispatching):
    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.file: Optional[IO[str]] = None
        self.handlers = {RunStarted: self._run_started, Decision: self._decision, StepStarted: self._step_started,
                          AttemptFinished: self._attempt_finished, ContextCommitted: self._context_committed,
                          StepFinished: self._step_finished, RunFinished: self._run_finished}

    def _write(self, text: str, at: Optional[str]) -> None:
        if self.file is not None:
            self.file.write(f"{at or utc_stamp()} {text}\n")

    def _run_started(self, event: RunStarted) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        # block-buffered: the bus calls flush() after each batch of events, one write per batch
        self.file = open(self.logs_dir / f"{event.run_id}_runner.log", "a", encoding="utf-8")
        plan, recipe = event.plan, event.recipe
        self._write(f"run {event.run_id} started: recipe {recipe.path} (sha256 {recipe.sha256[:12]}), "
                    f"mode {recipe.mode}, argv {' '.join(event.argv)}", event.started)
        base = f"; built on run {plan.base_run}" if plan.base_run else ""
        self._write(f"context store: {event.ctx_path}{base}", event.started)
        for name in plan.order:
            self._write(f"plan: {name}: {plan.reasons[name]}", event.started)

    def _decision(self, event: Decision) -> None:
        self._write(f"{event.step}: {event.text}" if event.step else event.text, event.at)

    def _step_started(self, event: StepStarted) -> None:
        self._write(f"{event.step}: attempt {event.attempt} started, pid {event.pid}, log {event.log_path}",
                    event.started)

    def _attempt_finished(self, event: AttemptFinished) -> None:
        o = event.outcome
        verdict = "succeeded" if o.ok else f"failed: {o.reason}"
        retry = f"; retry in {event.retry_in:g} s" if event.retry_in is not None else ""
        self._write(f"{event.step}: attempt {event.attempt} {verdict} ({o.duration:.3f} s, cpu {o.cpu:.3f} s, "
                    f"{rss_text(o.max_rss)}){retry}", event.at)

    def _context_committed(self, event: ContextCommitted) -> None:
        self._write(f"{event.step}: committed context keys {', '.join(event.keys)} (head {event.head})", event.at)
        for key in event.conflicts:
            self._write(f"{event.step}: CONFLICT: key {key!r} was also written by a step running at the same time",
                        event.at)

    def _step_finished(self, event: StepFinished) -> None:
        r = event.result
        why = f": {r.reason}" if r.reason else ""
        self._write(f"{r.name}: {r.status.value}{' (tolerated: continue_on_error)' if r.tolerated else ''}{why}",
                    r.ended)

    def _run_finished(self, event: RunFinished) -> None:
        self._write(f"run {event.run_id} finished: {event.verdict.value} in {event.duration:.3f} s", event.ended)
        for conflict in event.conflicts:
            self._write(f"conflict: {conflict}", event.ended)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
