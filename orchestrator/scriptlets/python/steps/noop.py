"""Do nothing and succeed: the smallest possible step, for measuring start-up cost and testing recipes.

Description:
    Parses its flags, opens the context like every scriptlet, and returns {"ok": true} without reading
    or writing anything. Its run time is the fixed cost of a Python step (interpreter start, SDK import,
    context open), which is what the benchmarks measure. It also stands in for a step while a recipe is
    being drafted.

    Context written:  nothing
    Result (stdout):  {"ok": true}

Usage:
    python -m scriptlets.python.steps.noop [--ctx FILE] [--debug]

Arguments:
    No arguments of its own; only the common --ctx FILE and --debug.

Examples:
    python -m scriptlets.python.steps.noop
    hyperfine '.venv/bin/python -m scriptlets.python.steps.noop'
    # in a recipe:
    #   - name: later_step
    #     type: python
    #     module: scriptlets.python.steps.noop

Limitations:
    None by design: it does no work. Keep it free of extra imports, or the benchmarks stop measuring the
    bare start-up cost.
"""
from __future__ import annotations

import os
import sys

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from scriptlets.python.core.base import BaseScriptlet


class StepNoop(BaseScriptlet):
    """Return {"ok": true} and nothing else."""

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        # Deliberately empty: the harness around this call is what is being measured.
        return {"ok": True}


if __name__ == "__main__":
    raise SystemExit(StepNoop.cli())
