"""Exit codes and the errors that carry a message for the user."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def write_out(text: str) -> None:
    """Print to stdout. When its reader has gone (`runner.py ... | head`), the rest of the output goes to
    /dev/null and the command carries on: a run still finishes and records everything, and exits with its own
    code, not with a broken pipe."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that later writes and the interpreter's final flush do not fail."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class UserError(Exception):
    """Bad usage or bad input: printed as one message, exit code 2, never a traceback."""

    exit_code = EXIT_USAGE


class RecipeError(UserError):
    """A recipe that cannot be loaded; the message names the file, line and field."""


def number_from_env(name: str, default: float, minimum: float = 0.0) -> float:
    """A tuning number from the environment (ORCH_KILL_GRACE=2): the default when unset, UserError when it is not
    a number of at least `minimum`."""
    import math
    import os

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise UserError(f"{name}={text!r}: must be a number, {minimum:g} or more (default {default:g}); "
                        f"fix or unset it")
    return value


def report_internal_error(workdir: "Path | None", prog: str, tag: str = "crash") -> int:
    """The one boundary for bugs: a short message naming a file that holds the traceback; exit code 3."""
    import sys
    import tempfile
    import time
    import traceback
    from pathlib import Path

    from .paths import Paths

    try:
        logs = Paths.for_workdir(workdir).logs
        logs.mkdir(parents=True, exist_ok=True)
    except OSError:
        logs = Path(tempfile.gettempdir())
    path = logs / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{tag}.log"
    path.write_text(traceback.format_exc(), encoding="utf-8")
    print(f"{prog}: internal error: {sys.exc_info()[1]!r}; the traceback is in {path} (please report it)",
          file=sys.stderr)
    return EXIT_INTERNAL
