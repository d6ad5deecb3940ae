"""Fill the context with --keys keys `big_{k}` of --size characters each (10,000 x 5,000 = ~50 MB).

Run by tests/bench/bench.py (workload ctx_scale) as `module: benchsteps.ctx_loader`, before steps whose start
and commit cost is measured; `--keys 0` is the empty-context twin.
"""
from __future__ import annotations

import argparse
from typing import Any

from scriptlets.python.core.base import BaseScriptlet


class CtxLoader(BaseScriptlet):
    """ctx[f"big_{k:05d}"] = a string of `size` characters, for k below keys."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--keys", type=int, default=10_000)
        parser.add_argument("--size", type=int, default=5_000)

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        filler = "x" * max(params["size"] - 6, 0)
        for k in range(params["keys"]):
            ctx[f"big_{k:05d}"] = f"{k:05d}:{filler}"
        return {"keys": params["keys"], "bytes": params["keys"] * params["size"]}


if __name__ == "__main__":
    raise SystemExit(CtxLoader.cli())
