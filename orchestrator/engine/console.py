"""What the user sees: live progress (rich on a terminal, plain lines otherwise), the final table, the plan."""
from __future__ import annotations

import os
import sys
import time
from typing import IO, Any, Optional

from .errors import silence_stdout
from .events import (AttemptFinished, ContextCommitted, Dispatching, RunFinished, RunStarted, StepFinished,
                     StepStarted)
from .plan import Plan
from .status import StepStatus, Verdict

MARKS = {StepStatus.SUCCEEDED: "ok", StepStatus.FAILED: "FAILED", StepStatus.SKIPPED: "skipped",
         StepStatus.ABORTED: "aborted", StepStatus.REUSED: "reused"}
COLOURS = {StepStatus.SUCCEEDED: "green", StepStatus.FAILED: "red", StepStatus.SKIPPED: "yellow",
           StepStatus.ABORTED: "magenta", StepStatus.REUSED: "cyan", StepStatus.RUNNING: "blue"}


def format_plan(plan: Plan, serial: bool, slots: int) -> str:
    """The --dry-run text: order, parallel waves, and why each step is or is not selected."""
    recipe = plan.recipe
    lines = [f"Plan for {recipe.path} ({len(recipe.steps)} steps, "
             f"{'serial' if serial else f'parallel, {slots} slot(s)'}"
             + (f", building on run {plan.base_run}" if plan.base_run else "") + ")", "", "Order:"]
    for pos, name in enumerate(plan.order, 1):
        step = recipe.by_name[name]
        mark = "run " if name in plan.selected else "keep" if name in plan.reused else "skip"
        deps = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
        res = f" needs {step.policy.resources}" if step.policy.resources else ""
        lines.append(f"  {pos:>3}. [{mark}] {name} ({step.type}){deps}{res}: {plan.reasons[name]}")
    if not serial:
        lines += ["", "Parallel waves (steps in one wave may run at the same time):"]
        for i, wave in enumerate(plan.waves, 1):
            lines.append(f"  wave {i}: {', '.join(wave)}")
    lines += ["", f"{len(plan.selected)} to run, {len(plan.reused)} kept from an earlier run, "
                  f"{len(plan.user_skipped)} not selected. Nothing was run (--dry-run)."]
    return "\n".join(lines)


def _size(nbytes: int) -> str:
    return f"{nbytes / 1048576:.1f} MB" if nbytes else "-"


class PlainConsole(Dispatching):
    """One line per event that matters; for logs, CI and pipes."""

    def __init__(self, out: IO[str] = sys.stdout) -> None:
        self.out = out
        self.t0 = time.monotonic()
        self.argv: tuple[str, ...] = ()
        self.lines: list[str] = []  # written by flush(), after each batch of events: one write, not one per line
        self.handlers = {RunStarted: self._run_started, StepStarted: self._step_started,
                          AttemptFinished: self._attempt_finished, ContextCommitted: self._context_committed,
                          StepFinished: self._step_finished, RunFinished: self._run_finished}

    def _line(self, text: str) -> None:
        self.lines.append(f"[{time.monotonic() - self.t0:7.2f}s] {text}\n")

    def flush(self) -> None:
        if self.lines:
            text, self.lines = "".join(self.lines), []
            try:
                self.out.write(text)
                self.out.flush()
            except BrokenPipeError:  # its reader has gone (`| head`): the run goes on, its output to /dev/null
                if self.out is sys.stdout:
                    silence_stdout()
                else:
                    raise

    def _run_started(self, event: RunStarted) -> None:
        self.t0 = time.monotonic()
        self.argv = event.argv
        self.lines.append(f"run {event.run_id}: {event.recipe.path.name}, {len(event.plan.selected)} step(s) to run\n")

    def _step_started(self, event: StepStarted) -> None:
        self._line(f"start  {event.step}" + (f" (attempt {event.attempt})" if event.attempt > 1 else ""))

    def _attempt_finished(self, event: AttemptFinished) -> None:
        if event.retry_in is not None:
            self._line(f"retry  {event.step}: {event.outcome.reason}; "
                       f"attempt {event.attempt + 1} in {event.retry_in:g} s")

    def _context_committed(self, event: ContextCommitted) -> None:
        if event.conflicts:
            self._line(f"CONFLICT {event.step}: {', '.join(event.conflicts)} also written by a parallel step")

    def _step_finished(self, event: StepFinished) -> None:
        r = event.result
        if r.status == StepStatus.REUSED:
            return
        extra = f" in {r.duration:.2f}s" if r.attempts else ""
        why = f": {r.reason}" if r.reason and r.status != StepStatus.SUCCEEDED else ""
        why += " (tolerated)" if r.tolerated else ""
        self._line(f"{MARKS.get(r.status, r.status.value):<6} {r.name}{extra}{why}")

    def _run_finished(self, event: RunFinished) -> None:
        self.lines.append(summary_text(event, self.argv) + "\n")


# options a resume command replaces (value-taking ones drop their value too); --skip is kept: a step the user
# left out stays out when the run continues
_SELECTION = {"--resume-from": True, "--run-id": True, "--dry-run": False}


def resume_command(argv: tuple[str, ...], event: RunFinished) -> Optional[str]:
    """The command that continues a failed or aborted run from its first step that did not succeed, or None
    (the run succeeded, or it was an --only run: run that selection again)."""
    if event.verdict not in (Verdict.FAILED, Verdict.ABORTED) or not argv or any(
            a == "--only" or a.startswith("--only=") for a in argv):
        return None
    start = next((r.name for r in event.results if r.status in (StepStatus.FAILED, StepStatus.ABORTED)
                  and not r.tolerated), None)
    if start is None:
        return None
    import shlex

    kept: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _SELECTION:
            if _SELECTION[name] and "=" not in arg:
                next(args, None)
            continue
        kept.append(arg)
    # this very interpreter: a bare `python` may be another one, without the project's packages
    words = [sys.executable or "python", argv[0], *kept, "--resume-from", start, "--run-id", event.run_id]
    return " ".join(shlex.quote(w) for w in words)


def summary_text(event: RunFinished, argv: tuple[str, ...] = ()) -> str:
    counts: dict[str, int] = {}
    for r in event.results:
        label = f"{r.status.value} but tolerated" if r.tolerated else r.status.value  # a run of them can succeed
        counts[label] = counts.get(label, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines = [f"run {event.run_id} {event.verdict.value.upper()} in {event.duration:.2f}s ({parts})"]
    for r in event.results:
        if r.status in (StepStatus.FAILED, StepStatus.ABORTED):
            tolerated = " (tolerated: continue_on_error)" if r.tolerated else ""
            log = f" (log: {r.log_path})" if r.log_path and os.path.exists(r.log_path) else ""  # none if it never ran
            lines.append(f"  {r.name}: {r.reason}{tolerated}{log}")
    for conflict in event.conflicts:
        lines.append(f"  conflict: {conflict}")
    resume = resume_command(argv, event)
    if resume:
        lines.append(f"to continue from there: {resume}")
    return "\n".join(lines)


class RichConsole:
    """Live lines for running steps with elapsed time, then a final table; for terminals."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.live: Any = None
        self.running: dict[str, tuple[float, int]] = {}
        self.done = 0
        self.total = 0
        self.argv: tuple[str, ...] = ()

    def _render(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for name, (since, attempt) in list(self.running.items())[:20]:
            table.add_row("[blue]running[/]", name, f"{now - since:6.1f}s", f"attempt {attempt}" if attempt > 1 else "")
        if len(self.running) > 20:
            table.add_row("", f"... and {len(self.running) - 20} more", "", "")
        table.add_row("", f"[dim]{self.done}/{self.total} finished[/]", "", "")
        return table

    def handle(self, event: object) -> None:
        from rich.live import Live

        if isinstance(event, RunStarted):
            self.argv = event.argv
            self.total = len(event.plan.order)
            self.console.print(f"run [bold]{event.run_id}[/]: {event.recipe.path.name}, "
                               f"{len(event.plan.selected)} step(s) to run")
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True,
                             get_renderable=self._render)
            self.live.start()
        elif isinstance(event, StepStarted):
            self.running[event.step] = (time.monotonic(), event.attempt)
        elif isinstance(event, StepFinished):
            r = event.result
            self.running.pop(r.name, None)
            self.done += 1
            if r.status != StepStatus.REUSED:
                colour = COLOURS.get(r.status, "white")
                why = f": {r.reason}" if r.reason and r.status != StepStatus.SUCCEEDED else ""
                why += " (tolerated)" if r.tolerated else ""
                self.console.print(f"[{colour}]{MARKS.get(r.status, r.status.value):<7}[/] {r.name}"
                                   + (f" [dim]{r.duration:.2f}s[/]" if r.attempts else "") + why)
        elif isinstance(event, RunFinished):
            if self.live:
                self.live.stop()
            self._final_table(event)

    def _final_table(self, event: RunFinished) -> None:
        from rich.table import Table

        table = Table(title=f"run {event.run_id}")
        for column in ("step", "status", "attempts", "duration", "cpu", "peak rss", "reason"):
            numeric = column in ("attempts", "duration", "cpu", "peak rss")
            table.add_column(column, justify="right" if numeric else "left")
        for r in event.results:
            colour = COLOURS.get(r.status, "white")
            status = r.status.value + (" (tolerated)" if r.tolerated else "")
            table.add_row(r.name, f"[{colour}]{status}[/]", str(r.attempts), f"{r.duration:.2f}s",
                          f"{r.cpu:.2f}s", _size(r.max_rss), r.reason or "")
        self.console.print(table)
        colour = "green" if event.verdict == Verdict.SUCCEEDED else "red"
        self.console.print(summary_text(event, self.argv), markup=False, style=colour)

    def close(self) -> None:
        if self.live:
            self.live.stop()


def make_console(out: IO[str] = sys.stdout, force_plain: bool = False) -> Any:
    return RichConsole() if (out.isatty() and not force_plain) else PlainConsole(out)
