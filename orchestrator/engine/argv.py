"""Turn a step's args/params mapping into command-line flags: an argument vector, never a shell string."""
from __future__ import annotations

import json
import os
from typing import Any


def _find_bash() -> str:
    """The first bash on PATH (what shutil.which does; importing shutil costs ~3 ms of every run), else /bin/bash."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", "bash")
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return "/bin/bash"


BASH = _find_bash()


def flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def to_argv(flags: dict[str, Any]) -> list[str]:
    """`{input: a, dry_run: true, tags: [x, y], cfg: {k: 1}}` -> `--input a --dry-run --tags x --tags y --cfg {"k": 1}`.

    `false` and `null` omit the flag; lists repeat it; objects are passed as JSON.
    """
    argv: list[str] = []
    for key, value in flags.items():
        name = flag_name(key)
        if value is True:
            argv.append(name)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            for item in value:
                argv += [name, _scalar(item)]
        else:
            argv += [name, _scalar(value)]
    return argv


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value)


def command(kind: str, script: str | None, module: str | None, flags: dict[str, Any], python: str,
            bash: str) -> list[str]:
    """The argument vector of a step or hook: `bash <script> <flags>` or `<python> -m <module> <flags>`."""
    if kind == "shell":
        return [bash, str(script), *to_argv(flags)]
    return [python, "-m", str(module), *to_argv(flags)]
