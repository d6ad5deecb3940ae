"""A JSON summary of one run, for scripts: the run, its steps with their attempts, counts and failures.

The layout is versioned (`schema`, `version`): fields may be added, none renamed or removed without a new
version. Times are the recorded UTC ISO strings, durations seconds, memory MB. The context itself is not
included (`python context.py --run ID export` prints it); its size is.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable
from typing import Any

from .model import RunReport, StepInfo

SCHEMA = "orchestrator.run-summary"
VERSION = 1


def summary(report: RunReport) -> dict[str, Any]:
    """The summary as plain JSON-ready data."""
    run = report.run
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "run": {
            "id": run.id, "recipe": run.recipe_name, "recipe_path": run.recipe_path,
            "recipe_sha256": run.recipe_sha256, "verdict": run.verdict, "started": run.started, "ended": run.ended,
            "duration": run.duration, "test_meta": run.test_meta, "host": run.host, "user": run.user,
            "mode": run.mode, "slots": run.slots, "parent_run": run.parent_run, "argv": list(run.argv),
            "ctx_path": run.ctx_path, "log_prefix": run.log_prefix,
        },
        "counts": {**report.counts, "total": len(report.steps)},
        "steps": [_step(s) for s in report.steps],
        "failures": [{"step": f.step, "status": f.status.value, "reason": f.reason, "exit_code": f.exit_code,
                      "log_path": f.log_path, "log_tail": list(f.log_tail)} for f in report.failures],
        "context": {"keys": len(report.context), "changes": len(report.history)},
        "notes": list(report.notes),
    }


def _step(step: StepInfo) -> dict[str, Any]:
    return {
        "name": step.name, "status": step.status.value, "attempts": step.attempts, "started": step.started,
        "ended": step.ended, "duration": step.duration, "cpu": step.cpu, "max_rss_mb": step.max_rss_mb,
        "exit_code": step.exit_code, "reason": step.reason, "log_path": step.log_path,
        "tolerated": step.tolerated, "reused_from": step.reused_from,
        "attempt_details": [asdict(a) for a in step.attempt_list],
    }


def to_string(report: RunReport) -> str:
    return json.dumps(summary(report), indent=2, ensure_ascii=False) + "\n"


def write(report: RunReport, target: Path) -> Path:
    """Write the JSON summary to target and return the path."""
    return write_text(to_string(report), target)


def write_text(text: str, target: Path) -> Path:
    """Write text through a temporary file in the target's folder and rename it into place."""
    return write_atomically(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_atomically(target: Path, fill: Callable[[str], object]) -> Path:
    """fill(temporary path) writes the content beside target; then it is renamed into place, so a reader never
    sees half a file, and nothing is left behind on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        fill(tmp)
        publish(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def publish(tmp: str, target: Path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it private) and rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)
