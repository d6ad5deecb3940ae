"""Long-use and crash endurance: runs back to back in one process stay flat; a runner killed at random points
always resumes to the end without losing committed context or leaving step processes behind."""
from __future__ import annotations

import gc
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from conftest import ORCH, PY, Workdir, pids_alive

KILL_RUNS = int(os.environ.get("ORCH_FAULT_RUNS", "20"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576


def test_500_runs_in_one_process_leave_fds_threads_and_rss_flat(wd: Workdir) -> None:
    from engine.run import RunOptions, execute

    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh, args: {set: 'x=1'}}\n")
    # the live graph on (its thread and `dot` calls are in-process); the report runs in a child process anyway
    options = RunOptions(recipe=recipe, workdir=wd.path, graph=True, report=False)
    for _ in range(20):  # warm-up: caches, lazy imports, the first database pages
        assert execute(options).exit_code == 0
    gc.collect()
    fds, threads, rss = open_fds(), threading.active_count(), rss_mb()
    for _ in range(480):
        assert execute(options).exit_code == 0
    gc.collect()
    assert open_fds() == fds
    assert threading.active_count() == threads
    assert rss_mb() - rss < 15, f"RSS grew from {rss:.1f} MB to {rss_mb():.1f} MB over 480 runs"


def crashed_then_resumed(wd: Workdir, recipe: Path, pids: Path, rng: random.Random) -> None:
    runner = subprocess.Popen([PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path),
                               "--no-report"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.05, 2.0))
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    crashed = wd.run_ids()[-1]
    ctx = wd.path / "Data" / "runs" / crashed / "context.db"
    committed = set(sqlite3.connect(ctx).execute("SELECT seq, key, value FROM changes")) if ctx.exists() else set()
    done = {name for name, row in wd.steps(crashed).items() if row["status"] == "succeeded"}
    order = ["prepare", *[f"measure_{i}" for i in range(4)], "report"]
    resume_from = next((name for name in order if name not in done), None)
    flags = ["--resume-from", resume_from] if resume_from else []
    resumed = wd.run(recipe, *flags, "--no-report") if flags else None
    if resumed is not None:
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        latest = wd.run_ids()[-1]
        kept = set(sqlite3.connect(wd.path / "Data" / "runs" / latest / "context.db")
                   .execute("SELECT seq, key, value FROM changes"))
        assert committed <= kept, "a committed change of the crashed run was lost"
    time.sleep(0.3)
    leftovers = pids_alive([int(p) for p in pids.read_text().split()]) if pids.exists() else []
    assert leftovers == [], f"step processes left behind: {leftovers}"


def test_kill_9_at_random_points_always_resumes(wd: Workdir) -> None:
    pids = wd.path / "pids"
    steps = f"  - {{name: prepare, type: shell, cmd: scripts/work.sh, args: {{pids: {pids}, key: p, seconds: 0.3}}}}\n"
    for i in range(4):
        steps += (f"  - {{name: measure_{i}, type: shell, cmd: scripts/work.sh, depends_on: [prepare], "
                  f"args: {{pids: {pids}, key: m{i}, seconds: 0.{3 + i}}}}}\n")
    steps += (f"  - {{name: report, type: shell, cmd: scripts/work.sh, "
              f"depends_on: [measure_0, measure_1, measure_2, measure_3], "
              f"args: {{pids: {pids}, key: r, seconds: 0.2}}}}\n")
    recipe = wd.recipe("execution: {mode: parallel, max_parallel: 2}\nsteps:\n" + steps)
    rng = random.Random(20261122)
    for _ in range(KILL_RUNS):
        crashed_then_resumed(wd, recipe, pids, rng)
