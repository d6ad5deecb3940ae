"""Run a recipe through the engine on a Dask cluster in a process of its own (for the Ctrl-C test).

Usage: python tests/dask/drive_dask.py WORKDIR RECIPE [SCHEDULER]
Prints one JSON line when the cluster is up ({"worker_pids": [...]}) and one when the run ended
({"verdict", "exit_code", "steps": {name: [status, reason]}}); exits with the run's exit code.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "orchestrator"), str(HERE)]

from dask_support import DaskRun  # noqa: E402


def main(argv: list[str]) -> int:
    workdir, recipe = Path(argv[0]), Path(argv[1])
    run = DaskRun(workdir, recipe, argv[2] if len(argv) > 2 else None)
    pids = sorted(run.executor.client.run(os.getpid).values())
    print(json.dumps({"worker_pids": pids}), flush=True)
    result = run.execute()
    steps = {name: [r.status.value, r.reason] for name, r in result.results.items()}
    print(json.dumps({"verdict": result.verdict.value, "exit_code": result.exit_code, "steps": steps}), flush=True)
    return int(result.exit_code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
