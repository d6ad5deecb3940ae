"""Success criteria after an attempt: exit code, files_exist patterns, ctx_has_keys. A reason or None."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from .recipe import Step


def missing_files(step: Step, workdir: Path) -> list[str]:
    import glob

    return [p for p in step.files_exist if not glob.glob(p, root_dir=workdir, recursive=True)]


def missing_keys(step: Step, writes: list[dict[str, Any]], committed: Callable[[str], bool]) -> list[str]:
    """Keys absent after the step's writes would be committed (its own deletes count)."""
    own: dict[str, bool] = {}
    for write in writes:
        own[write["key"]] = write["op"] == "set"
    return [k for k in step.ctx_has_keys if not (own[k] if k in own else committed(k))]


def failure_reason(step: Step, workdir: Path, writes: list[dict[str, Any]],
                   committed: Callable[[str], bool]) -> Optional[str]:
    """Why an attempt that exited 0 still failed its success criteria (every one that failed), or None."""
    problems = []
    files = missing_files(step, workdir)
    if files:
        problems.append("no file matches " + ", ".join(repr(f) for f in files))
    keys = missing_keys(step, writes, committed)
    if keys:
        problems.append("missing context key(s) " + ", ".join(repr(k) for k in keys))
    return "success check: " + "; ".join(problems) if problems else None
