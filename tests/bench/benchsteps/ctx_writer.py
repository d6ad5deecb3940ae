"""Write --count context keys `w{index}_{j}` = j (j = 0 .. count-1): the bench's concurrent-writer step.

Run by tests/bench/bench.py (workload ctx_writers) as `module: benchsteps.ctx_writer` from a copy of this
folder in the bench's work folder (the runner puts the work folder on PYTHONPATH).
"""
from __future__ import annotations

import argparse
from typing import Any

from scriptlets.python.core.base import BaseScriptlet


class CtxWriter(BaseScriptlet):
    """ctx[f"w{index}_{j}"] = j for every j below count; each write is one SDK write."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--index", type=int, required=True)
        parser.add_argument("--count", type=int, default=1000)

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        index = params["index"]
        for j in range(params["count"]):
            ctx[f"w{index}_{j}"] = j
        return {"written": params["count"]}


if __name__ == "__main__":
    raise SystemExit(CtxWriter.cli())
