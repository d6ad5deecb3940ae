"""User hooks: scriptlets the recipe asks to run on run and step events (notify a chat, append to a file,
post to a dashboard). They run in order in one background thread, each with its timeout; their output goes to
`Logs/<run id>_hooks.log`; a failing hook is logged and never changes the run's verdict. Hooks may read the
run's context but not change it: their writes would bypass the steps' journals, the masking of secrets and
the run's record of who changed what."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from .argv import BASH, command
from .events import RunFinished, RunStarted, StepFinished, StepStarted
from .process import utc_stamp
from .recipe import Hook, Recipe
from .secrets import Masker
from .status import StepStatus
from .templating import TemplateError, dig, render

STEP_EVENTS = {StepStatus.SUCCEEDED: "on_step_success", StepStatus.FAILED: "on_step_failure",
               StepStatus.ABORTED: "on_step_failure"}
_STOP = object()
HOOKS_READ_ONLY = "hooks observe a run; only its steps change the context (write what a hook needs in a step)"


class HookRunner:
    """Event subscriber: queues the hooks an event calls; a worker thread runs them one after another."""

    def __init__(self, recipe: Recipe, base_env: dict[str, str], workdir: Path, logs: Path, masker: Masker) -> None:
        self.recipe, self.base_env, self.workdir, self.logs, self.masker = recipe, base_env, workdir, logs, masker
        self.by_event: dict[str, list[Hook]] = {}
        for hook in recipe.hooks:
            self.by_event.setdefault(hook.event, []).append(hook)
        self.jobs: "queue.Queue[Any]" = queue.Queue()
        self.run: dict[str, Any] = {}
        self.failures = 0
        self.thread = threading.Thread(target=self._work, name="hooks", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ on the runner's thread: queue only

    def handle(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.run = {"id": event.run_id, "recipe": self.recipe.slug, "verdict": "running"}
            self._queue("on_run_start", {})
        elif isinstance(event, StepStarted) and event.attempt == 1:
            self._queue("on_step_start", {"name": event.step, "attempt": 1, "status": "running", "reason": ""})
        elif isinstance(event, StepFinished) and event.result.status in STEP_EVENTS:
            r = event.result
            self._queue(STEP_EVENTS[r.status], {"name": r.name, "attempt": r.attempts, "status": r.status.value,
                                                "reason": r.reason or ""})
        elif isinstance(event, RunFinished):
            self.run = dict(self.run, verdict=event.verdict.value)
            self._queue("on_run_end", {})

    def _queue(self, event: str, step: dict[str, Any]) -> None:
        for hook in self.by_event.get(event, ()):
            self.jobs.put((hook, dict(self.run), step))

    def close(self) -> None:
        """Wait for the queued hooks (each bounded by its timeout), then stop the worker."""
        self.jobs.put(_STOP)
        self.thread.join()

    # ------------------------------------------------------------------ the worker thread

    def _work(self) -> None:
        log_path: Optional[Path] = None
        while True:
            job = self.jobs.get()
            if job is _STOP:
                return
            hook, run, step = job
            if log_path is None:
                self.logs.mkdir(parents=True, exist_ok=True)
                log_path = self.logs / f"{run['id']}_hooks.log"
            self._run_one(hook, run, step, log_path)

    def _run_one(self, hook: Hook, run: dict[str, Any], step: dict[str, Any], log_path: Path) -> None:
        label = f"{hook.event} ({hook.cmd or hook.module})" + (f" for step {step['name']}" if step else "")
        sources = {"run": run, "step": step, "test_meta": self.recipe.test_meta}

        def lookup(root: str, path: list[str]) -> Any:
            if root not in sources:
                raise TemplateError(f"{{{{ {root}.{'.'.join(path)} }}}}: hooks can use run, step and test_meta")
            return dig(root, sources[root], path)

        started = time.monotonic()
        try:
            flags = render(hook.flags, lookup)
            env = {**self.base_env, **{k: str(v) for k, v in render(hook.env, lookup).items()},
                   "ORCH_HOOK_EVENT": hook.event, "ORCH_STEP": str(step.get("name", "")),
                   "ORCH_CTX_READ_ONLY": HOOKS_READ_ONLY}
            argv = command(hook.type, hook.cmd, hook.module, flags, sys.executable, BASH)
            outcome, output = self._execute(argv, env, hook.timeout)
        except TemplateError as exc:
            outcome, output = f"not run: {exc}", b""
        if outcome != "ok":
            self.failures += 1
            print(f"warning: hook {label} failed: {self.masker.text(outcome)} (see {log_path})", file=sys.stderr)
        header = f"===== {utc_stamp()} hook {label}: {outcome} in {time.monotonic() - started:.2f} s =====\n"
        with open(log_path, "ab") as fh:
            fh.write(self.masker.bytes(header.encode() + output))

    def _execute(self, argv: list[str], env: dict[str, str], timeout: float) -> tuple[str, bytes]:
        try:
            proc = subprocess.Popen(argv, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return f"could not start: {exc.strerror or exc}", b""
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            output, _ = proc.communicate()
            return f"timed out after {timeout:g} s (killed)", output
        return ("ok" if proc.returncode == 0 else f"exit code {proc.returncode}"), output
