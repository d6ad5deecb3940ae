"""What running on a Dask cluster costs per step: a W1-like workload (N independent trivial shell steps, 2 slots)
through the engine with the local executor, then with a DaskExecutor on a 2-worker LocalCluster.

Usage:
    .venv/bin/python tests/dask/bench_dask.py [--steps 200] [--reps 3] [--scheduler tcp://HOST:PORT]

Both sides run in this process through engine.run.Run (no interpreter start-up), each repetition in a fresh
work folder. "loop" is from RunStarted to the last StepFinished (the cluster's start and stop are reported
apart). Overhead per step = (median dask loop - median local loop) / N, in ms. Needs dask[distributed].
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ORCH = Path(__file__).resolve().parents[2] / "orchestrator"
sys.path.insert(0, str(ORCH))

STEP_SH = '#!/usr/bin/env bash\necho "step $*"\n'


class _Clock:
    """Event subscriber: when the run started and when its last step finished."""

    def __init__(self) -> None:
        self.started = self.last_finished = 0.0

    def handle(self, event: object) -> None:
        from engine.events import RunStarted, StepFinished

        if isinstance(event, RunStarted):
            self.started = time.perf_counter()
        elif isinstance(event, StepFinished):
            self.last_finished = time.perf_counter()


def _workdir(root: Path, n_steps: int) -> tuple[Path, Path]:
    work = Path(tempfile.mkdtemp(prefix="w1-", dir=root))
    (work / "step.sh").write_text(STEP_SH)
    steps = "".join(f"  - {{name: s{i:04d}, type: shell, cmd: step.sh, args: {{n: {i}}}}}\n"
                    for i in range(1, n_steps + 1))
    recipe = work / "w1.yaml"
    recipe.write_text("test_meta: {test_id: BENCH, tester: bench, description: dask overhead}\n"
                      "execution: {mode: parallel, max_parallel: 2}\nsteps:\n" + steps)
    return work, recipe


def _one_run(root: Path, n_steps: int, dask: bool, scheduler: Optional[str]) -> dict[str, float]:
    from engine.run import Run, RunOptions, load
    from engine.status import Verdict

    work, recipe = _workdir(root, n_steps)
    clock = _Clock()
    options = RunOptions(recipe=recipe, workdir=work, subscribers=(clock,))
    paths, recipe_obj, plan, db = load(options)
    figures: dict[str, float] = {}
    if dask:
        from engine.dask_executor import DaskExecutor

        run = Run(paths, recipe_obj, plan, db, options, executor=object())  # type: ignore[arg-type]
        t0 = time.perf_counter()
        run.executor = DaskExecutor.for_recipe(scheduler, run.run_id, run.run_dir, recipe_obj, on_start=run._on_start)
        figures["cluster_up"] = time.perf_counter() - t0
    else:
        run = Run(paths, recipe_obj, plan, db, options)
    t0 = time.perf_counter()
    result = run.execute()
    total = time.perf_counter() - t0
    if result.verdict != Verdict.SUCCEEDED:
        raise SystemExit(f"bench run failed: {[(n, r.reason) for n, r in result.results.items() if r.reason][:3]}")
    figures["loop"] = clock.last_finished - clock.started
    figures["close"] = total - (clock.last_finished - t0)  # after the last step: store, executor/cluster close
    shutil.rmtree(work, ignore_errors=True)
    return figures


def bench_dask(n_steps: int = 200, reps: int = 3, scheduler: Optional[str] = None) -> dict[str, Any]:
    """Median figures of local vs Dask runs of n_steps trivial steps; prints a table and returns the numbers."""
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        _one_run(root, 10, dask=False, scheduler=None)  # warm-up: imports, page cache
        local, dask = [], []
        for _ in range(reps):  # alternate, so drift hits both sides alike
            local.append(_one_run(root, n_steps, dask=False, scheduler=None))
            dask.append(_one_run(root, n_steps, dask=True, scheduler=scheduler))
    med = {side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
           for side, runs in (("local", local), ("dask", dask))}
    overhead_ms = (med["dask"]["loop"] - med["local"]["loop"]) / n_steps * 1000
    report = {"steps": n_steps, "reps": reps, "cluster": scheduler or "LocalCluster(2 workers x 1 thread)",
              "local": med["local"], "dask": med["dask"], "overhead_ms_per_step": overhead_ms,
              "samples": {"local": local, "dask": dask}}
    print(f"W1-like: {n_steps} trivial shell steps, 2 slots, median of {reps} (engine in-process)")
    for side in ("local", "dask"):
        loop = med[side]["loop"]
        extra = (f"   cluster up {med['dask']['cluster_up']:.2f} s, close {med['dask']['close']:.2f} s"
                 if side == "dask" else "")
        print(f"  {side:5} executor  loop {loop:7.3f} s  ({loop / n_steps * 1000:6.2f} ms/step){extra}")
    print(f"  overhead of the cluster: {overhead_ms:.2f} ms/step (wall, 2 slots in parallel)")
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scheduler", help="an existing cluster (default: a LocalCluster per repetition)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    report = bench_dask(args.steps, args.reps, args.scheduler)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # the guard matters: LocalCluster's workers are spawned processes
    sys.exit(main())
