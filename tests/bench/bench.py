"""Benchmark the runner against a minimal baseline (xargs / a bash loop) doing the same work in the same run.

Usage:
    .venv/bin/python tests/bench/bench.py                 # everything, 5 repetitions per side (`make bench`)
    .venv/bin/python tests/bench/bench.py --quick         # 3 repetitions per side, fewer start-up samples
    .venv/bin/python tests/bench/bench.py --only W1,W3    # a selection: W1 W2 W3 W4 startup scale rss stream
                                                          #   features report ctx_writers ctx_scale noop_startup
                                                          #   dask monitor

Every timed comparison runs once per side as a warm-up, then runner and baseline repetitions alternate
(B R, R B, B R, ...) so that drift (thermal, page cache, a noisy neighbour) hits both sides alike.
Each repetition gets a fresh work folder (fresh Data/ database, fresh Logs/), created and removed outside
the timed region. Medians are reported; the ratio is runner/baseline and the overhead per step is
(median_runner - median_baseline) / steps, in ms. Runner wall time includes its interpreter start-up.

Results: a table on stdout and bench-results/latest.json (raw samples, medians, machine facts).
Exit code: 0 when every workload ran correctly (targets missed are reported as MISS, not errors),
1 when a workload errored (a non-zero exit, a missing or wrong step log), 2 on bad usage.
See tests/bench/README.md for what each workload is and how to read the numbers.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

ROOT = Path(__file__).resolve().parents[2]
ORCH = ROOT / "orchestrator"
RUNNER = ORCH / "runner.py"
FLOOR_LOOP = Path(__file__).with_name("floor_loop.py")
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
RESULTS_DIR = ROOT / "bench-results"
BENCH_STEPS = Path(__file__).resolve().parent / "benchsteps"  # Python steps copied into the bench's work folders
SYNTHETIC_RUNS = ROOT / "tests" / "reports"  # synthetic_runs.py: runs written straight into a run database
DASK_BENCH = ROOT / "tests" / "dask" / "bench_dask.py"
MONITOR_BENCH = ROOT / "tests" / "monitor" / "bench_monitor.py"

WORKLOADS = ("W1", "W2", "W3", "W4", "startup", "scale", "rss", "stream",
             "features", "report", "ctx_writers", "ctx_scale", "noop_startup", "dask", "monitor")
GIB = 1 << 30
MIB = 1 << 20

# The step the runner runs: `bash step.sh --n N`, its stdout/stderr opened by the runner on the step's log.
STEP_SH = '#!/usr/bin/env bash\necho "step $*"\n'
# The baseline's twin: `bash step_logged.sh N LOGDIR`; one bash per step as well, which opens its own log
# (the work the runner does for step.sh) and prints the same line.
STEP_LOGGED_SH = '#!/usr/bin/env bash\nexec > "$2/$1.log" 2>&1\necho "step --n $1"\n'
# 1 GiB of 100-byte lines on stdout.
STREAM_SH = "#!/usr/bin/env bash\nyes \"$(printf '%099d' 0)\" | head -c " + str(GIB) + "\n"
# ctx_scale's trivial step: `bash ctx_set.sh --n N` sets the context key small_N through the context CLI.
CTX_SET_SH = '#!/usr/bin/env bash\nexec "$ORCH_PYTHON" "$ORCH_HOME/context.py" set "small_$2" "$2"\n'
# The flags that turn off the runner's optional end-of-run and live outputs (the run database stays on).
NO_EXTRAS = ("--no-graph", "--no-report")

BASELINE_NOTES = {
    "W1": "xargs -P 2 -I{} bash step_logged.sh {} LOGDIR: one bash per step that opens its own log "
          "(exec >LOG 2>&1) and echoes the same line; the runner runs bash step.sh --n N into a log it opens",
    "W2": "one bash loop running bash step_logged.sh N LOGDIR 200 times in a row",
    "W3": "xargs -P 2 -I{} sh -c 'exec python -m scriptlets.python.steps.noop >LOG 2>&1' (cwd orchestrator/, "
          "PYTHONPATH=orchestrator); the sh is exec'd away (one dash exec, ~1 ms, per step, counted against "
          "the baseline). Under the runner the noop gets the run's context (opened on first read) and journals "
          "its resource figures; standalone it uses an in-memory one: that cost is part of the runner's figure",
    "W4": "a bash loop over 30 layers, each layer xargs -P 2 over its 10 steps (bash step_logged.sh)",
}


class WorkloadError(Exception):
    """A workload did not do its work (non-zero exit, missing or wrong logs)."""


# --------------------------------------------------------------------------- processes


PYC_ENV: dict[str, str] = {}  # --pyc: a bytecode cache in the bench folder, for both sides alike


def clean_env(**extra: str) -> dict[str, str]:
    """The bench's environment without any run-specific ORCH_*/CTX_* variables (they would redirect the runner)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "CTX_"))}
    if PYC_ENV:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(PYC_ENV)
    env.update(extra)
    return env


def _tail(path: Optional[Path], limit: int = 1500) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    return text[-limit:]


def run_measured(argv: list[str], cwd: Path, env: dict[str, str], out: Optional[Path] = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process and every descendant it waited for (wait4's rusage: user +
    system). CPU time is much less sensitive than wall time to other load on the machine. Raises WorkloadError
    on a non-zero exit."""
    sink = open(out, "wb") if out else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
    finally:
        if out:
            sink.close()  # type: ignore[union-attr]
    if code != 0:
        raise WorkloadError(f"{' '.join(argv[:6])} ... exited {code}\n{_tail(out)}")
    return elapsed, usage.ru_utime + usage.ru_stime


def run_timed(argv: list[str], cwd: Path, env: dict[str, str], out: Optional[Path] = None) -> float:
    """Wall time of one process (seconds); raises WorkloadError on a non-zero exit."""
    return run_measured(argv, cwd, env, out)[0]


def _status_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB from /proc; (0, 0) once the process is gone or a zombie."""
    hwm = rss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return hwm, rss


def run_polled(argv: list[str], cwd: Path, env: dict[str, str], out: Optional[Path] = None,
               interval: float = 0.005) -> tuple[float, int]:
    """Run one process, polling its peak RSS every `interval` s. Returns (wall seconds, peak bytes).

    The peak is the largest VmHWM (the kernel's own high-water mark of this process since its exec) seen
    while polling, so a spike between two polls is still counted; only growth in the last <5 ms before exit
    could be missed. This measures the process itself, not its children. (ru_maxrss from wait4 is not
    used: on Linux a child's ru_maxrss can include its parent's RSS at fork time.)"""
    sink = open(out, "wb") if out else subprocess.DEVNULL
    peak = 0
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT)
        while proc.poll() is None:
            hwm, rss = _status_kib(proc.pid)
            peak = max(peak, hwm, rss)
            time.sleep(interval)
        elapsed = time.perf_counter() - t0
    finally:
        if out:
            sink.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise WorkloadError(f"{' '.join(argv[:6])} ... exited {proc.returncode}\n{_tail(out)}")
    return elapsed, peak * 1024


T = TypeVar("T")


def alternate(reps: int, sides: dict[str, Callable[[], T]], warmup: bool = True,
              on_rep: Optional[Callable[[int, dict[str, list[T]]], None]] = None) -> dict[str, list[T]]:
    """Run every side once as a warm-up (discarded), then `reps` rounds in alternating order (A B, B A, A B, ...)
    so that drift hits every side alike. Returns each side's results in round order; on_rep(rep, results) is
    called after each round (for progress lines)."""
    if warmup:
        for run in sides.values():
            run()
    names = list(sides)
    results: dict[str, list[T]] = {name: [] for name in names}
    for rep in range(reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            results[name].append(sides[name]())
        if on_rep:
            on_rep(rep, results)
    return results


def runner_argv(recipe: Path, wd: Path, *flags: str) -> list[str]:
    return [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--plain", *flags]


# --------------------------------------------------------------------------- recipes


def write_script(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def recipe_text(steps: list[str], mode: str = "parallel", max_parallel: int = 2, test_id: str = "BENCH") -> str:
    head = (f"test_meta: {{test_id: {test_id}, tester: bench, description: generated by tests/bench/bench.py}}\n"
            f"execution: {{mode: {mode}, max_parallel: {max_parallel}}}\n"
            "steps:\n")
    return head + "".join(f"  - {s}\n" for s in steps)


def _depends(deps: tuple[str, ...]) -> str:
    return f", depends_on: [{', '.join(deps)}]" if deps else ""


def shell_step(name: str, n: int, deps: tuple[str, ...] = (), cmd: str = "step.sh") -> str:
    return f"{{name: {name}, type: shell, cmd: {cmd}, args: {{n: {n}}}{_depends(deps)}}}"


def python_step(name: str, module: str, args: Optional[dict[str, int]] = None, deps: tuple[str, ...] = ()) -> str:
    flags = f", args: {{{', '.join(f'{k}: {v}' for k, v in args.items())}}}" if args else ""
    return f"{{name: {name}, type: python, module: {module}{flags}{_depends(deps)}}}"


def w1_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"s{i:04d}", i) for i in range(1, n + 1)]
    return recipe_text([shell_step(nm, i) for nm, i in names]), names


def w2_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"c{i:04d}", i) for i in range(1, n + 1)]
    steps = [shell_step(nm, i, (names[i - 2][0],) if i > 1 else ()) for nm, i in names]
    return recipe_text(steps, mode="serial", max_parallel=1), names


def w3_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"p{i:04d}", i) for i in range(1, n + 1)]
    return recipe_text([python_step(nm, "scriptlets.python.steps.noop") for nm, _ in names]), names


def layered(layers: int, width: int, fan_in: Optional[int] = None,
            prefix: str = "L") -> tuple[str, list[tuple[str, int]]]:
    """layers x width steps; each depends on all of the previous layer (fan_in None) or on fan_in of them."""
    steps, names = [], []
    for layer in range(layers):
        for i in range(width):
            n = layer * width + i + 1
            name = f"{prefix}{layer:03d}_{i:03d}"
            if layer == 0:
                deps: tuple[str, ...] = ()
            elif fan_in is None:
                deps = tuple(f"{prefix}{layer - 1:03d}_{j:03d}" for j in range(width))
            else:
                deps = tuple(f"{prefix}{layer - 1:03d}_{(i + k) % width:03d}" for k in range(fan_in))
            steps.append(shell_step(name, n, deps))
            names.append((name, n))
    return recipe_text(steps), names


# --------------------------------------------------------------------------- the comparison workloads


@dataclass
class Comparison:
    key: str
    title: str
    steps: int
    recipe: str
    names: list[tuple[str, int]]  # (runner step name, baseline number)
    runner_flags: list[str]
    baseline: Callable[[Path, Path], list[str]]  # (bench dir, fresh log dir) -> argv
    baseline_cwd: Callable[[Path], Path]
    baseline_env: dict[str, str]
    expect: Callable[[int], str]  # text a step's log must contain, by baseline number
    target_kind: str  # "ovh" (ms/step) or "ratio"
    target: float
    runner: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    inner: list[float] = field(default_factory=list)  # the runner's own "run ... in X s" (its loop, no start-up)
    runner_cpu: list[float] = field(default_factory=list)  # CPU seconds of the whole process tree
    base_cpu: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # floor_loop.py: the least a Python runner must do


def comparisons(bench: Path) -> dict[str, Comparison]:
    noop_out = '{"ok": true}'

    def shell_expect(n: int) -> str:
        return f"step --n {n}"

    def xargs(logs: Path, count: int) -> list[str]:
        return ["bash", "-c", 'seq 1 "$1" | xargs -P 2 -I{} bash step_logged.sh {} "$2"', "w1", str(count), str(logs)]

    w1, w1n = w1_recipe(500)
    w2, w2n = w2_recipe(200)
    w3, w3n = w3_recipe(100)
    w4, w4n = layered(30, 10)
    return {
        "W1": Comparison("W1", "500 independent shell steps, 2 slots", 500, w1, w1n, ["--parallel", "2"],
                         lambda b, logs: xargs(logs, 500), lambda b: b, clean_env(), shell_expect, "ovh", 0.7),
        "W2": Comparison("W2", "chain of 200 shell steps, serial", 200, w2, w2n, [],
                         lambda b, logs: ["bash", "-c", 'for i in $(seq 1 "$1"); do bash step_logged.sh "$i" "$2" '
                                          '|| exit 1; done', "w2", "200", str(logs)],
                         lambda b: b, clean_env(), shell_expect, "ovh", 1.2),
        "W3": Comparison("W3", "100 Python noop scriptlets, 2 slots", 100, w3, w3n, ["--parallel", "2"],
                         lambda b, logs: ["bash", "-c", 'seq 1 "$1" | xargs -P 2 -I{} sh -c \'exec "$0" -m '
                                          'scriptlets.python.steps.noop > "$1/$2.log" 2>&1\' "$2" "$3" {}',
                                          "w3", "100", PY, str(logs)],
                         lambda b: ORCH, clean_env(PYTHONPATH=str(ORCH)), lambda n: noop_out, "ratio", 1.2),
        "W4": Comparison("W4", "300 steps: 30 layers x 10, all-to-all deps, 2 slots", 300, w4, w4n,
                         ["--parallel", "2"],
                         lambda b, logs: ["bash", "-c", 'for L in $(seq 0 $(($1 - 1))); do '
                                          'seq $((L * 10 + 1)) $((L * 10 + 10)) | '
                                          'xargs -P 2 -I{} bash step_logged.sh {} "$2" || exit 1; done',
                                          "w4", "30", str(logs)],
                         lambda b: b, clean_env(), shell_expect, "ovh", 0.7),
    }


def check_runner_logs(wd: Path, comp: Comparison) -> None:
    logs = wd / "Logs"
    found = {p.name.split("_", 1)[1][:-4]: p for p in logs.glob("*.log") if not p.name.endswith("_runner.log")}
    missing = [nm for nm, _ in comp.names if nm not in found]
    if missing or len(found) != comp.steps:
        raise WorkloadError(f"runner: {len(found)} step logs in {logs}, expected {comp.steps} "
                            f"(missing e.g. {missing[:3]})")
    for nm, n in comp.names:
        text = found[nm].read_text(encoding="utf-8", errors="replace")
        if comp.expect(n) not in text:
            raise WorkloadError(f"runner: {found[nm]} lacks {comp.expect(n)!r}:\n{text[:500]}")


def check_baseline_logs(logs: Path, comp: Comparison) -> None:
    for _, n in comp.names:
        path = logs / f"{n}.log"
        if not path.exists():
            raise WorkloadError(f"baseline: {path} missing")
        text = path.read_text(encoding="utf-8", errors="replace")
        if comp.expect(n) not in text:
            raise WorkloadError(f"baseline: {path} lacks {comp.expect(n)!r}:\n{text[:500]}")


def fresh_workdir(bench: Path, tag: str, copy: tuple[str, ...] = ("step.sh",)) -> Path:
    """A new work folder under the bench folder, with copies of these files or folders of the bench folder."""
    wd = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=bench))
    for name in copy:
        if (bench / name).is_dir():
            shutil.copytree(bench / name, wd / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(bench / name, wd / name)
    return wd


def set_aside(path: Path, bench: Path) -> None:
    """Move a repetition's output out of the way (one rename) instead of deleting it; the whole bench folder goes
    at the end. On ext4 without a journal (this project's CI VMs), the inode allocator steps over inodes freed in
    the last seconds to minutes, so right after a clean-up has deleted hundreds of files, creating one costs up to
    ~0.5 ms of kernel CPU instead of ~20 us: the bench's own clean-up made the next repetition's log files slow to
    create, on both sides, and more for the side that creates them all in one process."""
    if path.exists():
        trash = bench / "trash"
        trash.mkdir(exist_ok=True)
        path.rename(Path(tempfile.mkdtemp(prefix=path.name + "-", dir=trash)) / path.name)


def reused_workdir(bench: Path, tag: str) -> Path:
    """One work folder per workload, emptied of Data/, Logs/ and Assets/ after each repetition (outside the
    timing, with set_aside): every repetition starts with a new run database and no logs, like a user's next run
    of the same recipe in the same folder, so the validated recipe comes from the runner's cache (filled by the
    warm-up run).
    The first-sight (cold) cost of a recipe is measured by the startup and scale rows."""
    wd = bench / f"{tag}-work"
    if not wd.exists():
        wd.mkdir()
        shutil.copy2(bench / "step.sh", wd / "step.sh")
    return wd


RUN_LINE = re.compile(r"^run \S+ SUCCEEDED in ([0-9.]+)s", re.M)


def reported_run_s(console: Path) -> Optional[float]:
    """The run loop's duration the runner printed (`run ID SUCCEEDED in X s`), or None."""
    found = RUN_LINE.search(console.read_text(encoding="utf-8", errors="replace"))
    return float(found.group(1)) if found else None


def check_outputs(wd: Path, patterns: tuple[str, ...]) -> None:
    """Each glob pattern (relative to the work folder) matches at least one non-empty file."""
    for pattern in patterns:
        if not any(p.stat().st_size > 0 for p in wd.glob(pattern)):
            raise WorkloadError(f"runner: no {pattern} in {wd} (expected from the runner's defaults)")


def run_runner_once(bench: Path, comp: Comparison, recipe: Path, extra_flags: tuple[str, ...] = (),
                    outputs: tuple[str, ...] = ()) -> tuple[float, float, Optional[float]]:
    """(wall seconds of the whole runner process, CPU seconds of its tree, the run duration it printed).
    `outputs`: glob patterns of files the run must have written (checked outside the timing)."""
    wd = reused_workdir(bench, f"{comp.key}-runner")
    console = bench / f"{comp.key}-console.txt"
    try:
        elapsed, cpu = run_measured(runner_argv(recipe, wd, *comp.runner_flags, *extra_flags), ROOT,
                                    clean_env(XDG_CACHE_HOME=str(bench / "cache")), out=console)
        check_runner_logs(wd, comp)
        check_outputs(wd, outputs)
        return elapsed, cpu, reported_run_s(console)
    finally:
        for name in ("Data", "Logs", "Assets"):
            set_aside(wd / name, bench)


def run_baseline_once(bench: Path, comp: Comparison) -> tuple[float, float]:
    logs = Path(tempfile.mkdtemp(prefix=f"{comp.key}-base-", dir=bench))
    try:
        elapsed, cpu = run_measured(comp.baseline(bench, logs), comp.baseline_cwd(bench), comp.baseline_env,
                                    out=bench / f"{comp.key}-baseline-out.txt")
        check_baseline_logs(logs, comp)
        return elapsed, cpu
    finally:
        set_aside(logs, bench)


def floor_plan(bench: Path, comp: Comparison) -> Path:
    """The workload's steps for floor_loop.py: the argv the runner builds for each, its dependencies by index,
    its log named by baseline number (so the baseline's log check applies)."""
    import yaml

    steps = yaml.safe_load(comp.recipe)["steps"]
    index = {s["name"]: i for i, s in enumerate(steps)}
    numbers = dict(comp.names)
    bash = shutil.which("bash") or "/bin/bash"
    plan = [{"argv": [bash, s["cmd"], *(a for k, v in s.get("args", {}).items() for a in (f"--{k}", str(v)))]
             if s["type"] == "shell" else [PY, "-m", s["module"]],
             "log": str(numbers[s["name"]]), "deps": [index[d] for d in s.get("depends_on", [])]} for s in steps]
    path = bench / f"{comp.key}-floor.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def run_floor_once(bench: Path, comp: Comparison, plan: Path, slots: int) -> float:
    logs = Path(tempfile.mkdtemp(prefix=f"{comp.key}-floor-", dir=bench))
    try:
        elapsed, _ = run_measured([PY, str(FLOOR_LOOP), str(plan), str(slots), str(logs)], comp.baseline_cwd(bench),
                                  comp.baseline_env, out=bench / f"{comp.key}-floor-out.txt")
        check_baseline_logs(logs, comp)
        return elapsed
    finally:
        set_aside(logs, bench)


def bench_comparison(bench: Path, comp: Comparison, reps: int) -> dict[str, Any]:
    recipe = bench / f"{comp.key}.yaml"
    recipe.write_text(comp.recipe, encoding="utf-8")
    log(f"{comp.key}: {comp.title}: warm-up")

    def progress(rep: int, got: dict[str, list[Any]]) -> None:
        (base, base_cpu), (runner, runner_cpu, _) = got["base"][-1], got["runner"][-1]
        log(f"{comp.key}: rep {rep + 1}/{reps}: baseline {base:.3f} s (cpu {base_cpu:.3f}), "
            f"runner {runner:.3f} s (cpu {runner_cpu:.3f}), floor {got['floor'][-1]:.3f} s")

    plan = floor_plan(bench, comp)
    slots = int(comp.runner_flags[comp.runner_flags.index("--parallel") + 1]) if "--parallel" in comp.runner_flags \
        else 1
    got = alternate(reps, {"base": lambda: run_baseline_once(bench, comp),
                           # the engine itself: graph and report are measured on their own ('features')
                           "runner": lambda: run_runner_once(bench, comp, recipe, NO_EXTRAS),
                           "floor": lambda: run_floor_once(bench, comp, plan, slots)}, on_rep=progress)
    comp.floor = got["floor"]
    comp.base, comp.base_cpu = [t for t, _ in got["base"]], [c for _, c in got["base"]]
    comp.runner, comp.runner_cpu = [t for t, _, _ in got["runner"]], [c for _, c, _ in got["runner"]]
    comp.inner = [i for _, _, i in got["runner"] if i is not None]
    mb, mr = statistics.median(comp.base), statistics.median(comp.runner)
    ovh_ms = (mr - mb) / comp.steps * 1000
    ratio = mr / mb
    value = ovh_ms if comp.target_kind == "ovh" else ratio
    inner = statistics.median(comp.inner) if len(comp.inner) == reps else None
    cb, cr = statistics.median(comp.base_cpu), statistics.median(comp.runner_cpu)
    paired = statistics.median((r - b) / comp.steps * 1000 for r, b in zip(comp.runner, comp.base))
    return dict(kind="comparison", title=comp.title, steps=comp.steps, reps=reps, baseline_cmd=BASELINE_NOTES[comp.key],
                runner_flags=comp.runner_flags, baseline_s=comp.base, runner_s=comp.runner, median_baseline_s=mb,
                median_runner_s=mr, ratio=ratio, overhead_ms_per_step=ovh_ms,
                runner_reported_run_s=comp.inner, median_runner_reported_run_s=inner,
                loop_overhead_ms_per_step=None if inner is None else (inner - mb) / comp.steps * 1000,
                noisy=noisy(comp.base) or noisy(comp.runner),
                baseline_cpu_s=comp.base_cpu, runner_cpu_s=comp.runner_cpu, median_baseline_cpu_s=cb,
                median_runner_cpu_s=cr, cpu_overhead_ms_per_step=(cr - cb) / comp.steps * 1000,
                paired_overhead_ms_per_step=paired,
                floor_s=comp.floor, median_floor_s=statistics.median(comp.floor),
                floor_overhead_ms_per_step=(statistics.median(comp.floor) - mb) / comp.steps * 1000,
                over_floor_ms_per_step=statistics.median((r - f) / comp.steps * 1000
                                                         for r, f in zip(comp.runner, comp.floor)),
                target=f"{'overhead' if comp.target_kind == 'ovh' else 'ratio'} <= {comp.target:g}"
                       f"{' ms/step' if comp.target_kind == 'ovh' else 'x'}",
                target_value=comp.target,
                target_metric="overhead_ms_per_step" if comp.target_kind == "ovh" else "ratio",
                passed=value <= comp.target)


# --------------------------------------------------------------------------- the other workloads


def bench_startup(bench: Path, samples: int) -> dict[str, Any]:
    wd = fresh_workdir(bench, "startup")
    recipe = wd / "one.yaml"
    recipe.write_text(recipe_text([shell_step("only", 1)]), encoding="utf-8")
    dry = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--dry-run"]
    floor = [PY, "-c", "pass"]
    cold = clean_env(ORCH_RECIPE_CACHE="0")  # a recipe seen for the first time (or just edited)
    warm = clean_env(XDG_CACHE_HOME=str(bench / "cache"))  # the same recipe again: validated from the cache
    log(f"startup: --dry-run of a 1-step recipe, {samples} samples each with the recipe cache warm and off "
        "(interleaved with bare `python -c pass`)")
    for env in (cold, warm):
        run_timed(dry, ROOT, env)
    run_timed(floor, ROOT, cold)
    times: dict[str, list[float]] = {"warm": [], "cold": []}
    floors = []
    for _ in range(samples):
        times["warm"].append(run_timed(dry, ROOT, warm, out=bench / "startup-out.txt"))
        times["cold"].append(run_timed(dry, ROOT, cold, out=bench / "startup-out.txt"))
        floors.append(run_timed(floor, ROOT, cold))
    shutil.rmtree(wd, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return dict(kind="startup", title="runner --dry-run, 1-step recipe", samples_s=times["warm"],
                median_s=medians["warm"],
                cold_samples_s=times["cold"], median_cold_s=medians["cold"],
                python_floor_s=floors, median_python_floor_s=statistics.median(floors),
                target="< 0.2 s", target_value=0.2, passed=medians["warm"] < 0.2, passed_cold=medians["cold"] < 0.2)


def bench_scale(bench: Path, samples: int) -> dict[str, Any]:
    wd = fresh_workdir(bench, "scale")
    recipe = wd / "scale.yaml"
    text, names = layered(100, 50, fan_in=2, prefix="S")
    recipe.write_text(text, encoding="utf-8")
    edges = 99 * 50 * 2
    env = clean_env(ORCH_RECIPE_CACHE="0")  # cold: validated every time
    base = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd)]
    log(f"scale: {len(names)} steps ({edges} edges, 100 layers x 50), --validate and --dry-run, {samples} samples")
    run_timed([*base, "--validate"], ROOT, env, out=bench / "scale-validate.txt")  # warm-up (and creates Data/)
    validate, dry, peaks = [], [], []
    for _ in range(samples):
        validate.append(run_timed([*base, "--validate"], ROOT, env, out=bench / "scale-validate.txt"))
        dry.append(run_timed([*base, "--dry-run", "--parallel", "2"], ROOT, env, out=bench / "scale-dry.txt"))
    warm_env = clean_env(XDG_CACHE_HOME=str(bench / "cache"))  # the same recipe again, from the recipe cache
    run_timed([*base, "--validate"], ROOT, warm_env, out=bench / "scale-validate.txt")
    warm = [run_timed([*base, "--dry-run", "--parallel", "2"], ROOT, warm_env, out=bench / "scale-dry.txt")
            for _ in range(samples)]
    for flag in ("--validate", "--dry-run"):  # peak RSS in separate, polled runs (polling is kept out of the timings)
        peaks.append(run_polled([*base, flag], ROOT, env, out=bench / "scale-rss.txt")[1])
    plan_text = (bench / "scale-dry.txt").read_text(encoding="utf-8", errors="replace")
    if f"{len(names)} to run" not in plan_text:
        raise WorkloadError(f"scale: --dry-run output does not say '{len(names)} to run':\n{plan_text[-800:]}")
    shutil.rmtree(wd, ignore_errors=True)
    mv, md, peak = statistics.median(validate), statistics.median(dry), max(peaks)
    return dict(kind="scale", title=f"{len(names)}-step recipe ({edges} edges)", steps=len(names), edges=edges,
                validate_s=validate, dry_run_s=dry, median_validate_s=mv, median_dry_run_s=md, peak_rss_bytes=peak,
                warm_dry_run_s=warm, median_warm_dry_run_s=statistics.median(warm),
                passed_warm=statistics.median(warm) < 1.0,
                peak_rss_by_mode={"validate": peaks[0], "dry_run": peaks[1]},
                target="--dry-run (validate + plan) < 1 s; peak RSS < 100 MB", target_value=[1.0, 100 * MIB],
                passed_time=md < 1.0, passed_rss=peak < 100 * MIB)


def bench_rss(bench: Path, comparisons_: dict[str, Comparison]) -> dict[str, Any]:
    comp = comparisons_["W1"]
    recipe = bench / "W1.yaml"
    recipe.write_text(comp.recipe, encoding="utf-8")
    log("rss: runner peak RSS over a W1 run with its defaults (graph, report), recipe cache warm and off "
        "(VmHWM polled every 5 ms; separate from the timed runs)")
    peaks: dict[str, list[int]] = {"warm": [], "cold": []}
    envs = {"warm": clean_env(XDG_CACHE_HOME=str(bench / "cache")), "cold": clean_env(ORCH_RECIPE_CACHE="0")}
    wd = reused_workdir(bench, "rss")
    run_measured(runner_argv(recipe, wd, "--parallel", "2"), ROOT, envs["warm"], out=bench / "rss-console.txt")
    for _ in range(2):
        for kind, env in envs.items():
            for name in ("Data", "Logs", "Assets"):
                set_aside(wd / name, bench)
            _, peak = run_polled(runner_argv(recipe, wd, "--parallel", "2"), ROOT, env, out=bench / "rss-console.txt")
            check_runner_logs(wd, comp)
            peaks[kind].append(peak)
    set_aside(wd, bench)
    peak, cold = max(peaks["warm"]), max(peaks["cold"])
    return dict(kind="rss", title="runner peak RSS on W1 (500 steps)", samples_bytes=peaks["warm"], peak_rss_bytes=peak,
                cold_samples_bytes=peaks["cold"], cold_peak_rss_bytes=cold,
                target="< 40 MB", target_value=40 * MIB, passed=peak < 40 * MIB, passed_cold=cold < 40 * MIB)


def bench_stream(bench: Path, reps: int, debug: bool) -> dict[str, Any]:
    write_script(bench / "stream.sh", STREAM_SH)
    recipe_stream = bench / "stream.yaml"
    recipe_stream.write_text(recipe_text(["{name: flood, type: shell, cmd: stream.sh}"], mode="serial"),
                             encoding="utf-8")
    recipe_ref = bench / "stream-ref.yaml"
    recipe_ref.write_text(recipe_text([shell_step("tiny", 1)], mode="serial"), encoding="utf-8")
    env = clean_env()
    extra = ["--debug"] if debug else []
    label = "stream --debug" if debug else "stream"
    piped = " (runner --debug: output piped through the runner)" if debug else ""
    log(f"{label}: one step writing 1 GiB to stdout{piped};"
        f" {reps} reps per side")

    def runner_once(recipe: Path, script: str) -> tuple[float, int, int]:
        wd = fresh_workdir(bench, "stream", copy=("step.sh", script))
        try:
            elapsed, peak = run_polled(runner_argv(recipe, wd, *extra), ROOT, env, out=bench / "stream-console.txt")
            size = sum(p.stat().st_size for p in (wd / "Logs").glob("*.log") if not p.name.endswith("_runner.log"))
            return elapsed, peak, size
        finally:
            shutil.rmtree(wd, ignore_errors=True)

    def baseline_once() -> float:
        out = bench / "stream-base.log"
        try:
            elapsed, _ = run_polled(["bash", "-c", 'bash stream.sh > "$1" 2>&1', "stream", str(out)], bench, env)
            if out.stat().st_size != GIB:
                raise WorkloadError(f"stream baseline wrote {out.stat().st_size} bytes, expected {GIB}")
            return elapsed
        finally:
            out.unlink(missing_ok=True)

    def streamed() -> tuple[float, int]:
        elapsed, peak, size = runner_once(recipe_stream, "stream.sh")
        if size < GIB:
            raise WorkloadError(f"{label}: the step log holds {size} bytes, expected at least {GIB}")
        return elapsed, peak

    def progress(rep: int, got: dict[str, list[Any]]) -> None:
        (runner, peak), base = got["runner"][-1], got["base"][-1]
        log(f"{label}: rep {rep + 1}/{reps}: baseline {base:.3f} s, runner {runner:.3f} s, "
            f"runner peak {peak / MIB:.1f} MB")

    ref_peaks = [runner_once(recipe_ref, "step.sh")[1] for _ in range(2)]
    got = alternate(reps, {"base": baseline_once, "runner": streamed}, warmup=False, on_rep=progress)
    base_s, runner_s, peaks = got["base"], [t for t, _ in got["runner"]], [p for _, p in got["runner"]]
    ref = max(ref_peaks)
    growth = max(peaks) - ref
    mb, mr = statistics.median(base_s), statistics.median(runner_s)
    return dict(kind="stream", title=f"1 GiB on stdout{', runner --debug' if debug else ''}", debug=debug, reps=reps,
                baseline_cmd="bash -c 'bash stream.sh > LOG 2>&1'", baseline_s=base_s, runner_s=runner_s,
                median_baseline_s=mb, median_runner_s=mr, ratio=mr / mb, runner_peak_rss_bytes=peaks,
                reference_peak_rss_bytes=ref_peaks, rss_growth_bytes=growth,
                target="RSS growth < 60 MB", target_value=60 * MIB, passed=growth < 60 * MIB)


# --------------------------------------------------------------------------- A/B figures shared by the workloads below


def pair(title: str, ref_label: str, ref: list[float], other_label: str, other: list[float],
         target: Optional[tuple[str, float]] = None, steps: Optional[int] = None, **extra: Any) -> dict[str, Any]:
    """The figures of one A/B comparison: `other` measured against the reference `ref` (seconds per repetition,
    in round order). target: (metric, limit) with metric "overhead_pct" or "ratio", passed when metric <= limit;
    None for information only."""
    mr, mo = statistics.median(ref), statistics.median(other)
    part: dict[str, Any] = dict(title=title, ref_label=ref_label, other_label=other_label, ref_s=ref, other_s=other,
                                median_ref_s=mr, median_other_s=mo, ratio=mo / mr, overhead_pct=(mo / mr - 1) * 100,
                                paired_overhead_pct=statistics.median((o / r - 1) * 100 for r, o in zip(ref, other)),
                                noisy=noisy(ref) or noisy(other), **extra)
    if steps:
        part.update(steps=steps, overhead_ms_per_step=(mo - mr) / steps * 1000)
    if target:
        metric, limit = target
        part.update(target=f"overhead <= {limit:g} %" if metric == "overhead_pct" else f"ratio <= {limit:g}x",
                    target_metric=metric, target_value=limit, passed=part[metric] <= limit)
    return part


def pairs(title: str, parts: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    verdicts = [p["passed"] for p in parts if "passed" in p]
    return dict(kind="pairs", title=title, parts=parts, notes=notes, passed=all(verdicts) if verdicts else None)


def unavailable(title: str, reason: str) -> dict[str, Any]:
    log(f"{title}: not available: {reason}")
    return dict(kind="unavailable", title=title, reason=reason, passed=None)


# --------------------------------------------------------------------------- features (issue 4)


FEATURE_OUTPUTS = ("Data/reports/*.xlsx", "Assets/step_sequence.*")  # what the defaults must have written


def bench_features(bench: Path, comps: dict[str, Comparison], reps: int) -> dict[str, Any]:
    """W1 and W4 by the runner with its defaults (run database, live step graph, Excel report at the end) against
    the runner with --no-graph --no-report. The run database cannot be turned off: both sides write it."""
    parts, notes = [], []
    for key in ("W1", "W4"):
        part = features_part(bench, comps[key], reps)
        parts.append(part)
        full, plain = part["median_other_run_loop_s"], part["median_ref_run_loop_s"]
        if full is not None and plain is not None:
            rest_full, rest_plain = part["median_other_s"] - full, part["median_ref_s"] - plain
            notes.append(f"{key}: run loop {full:.2f} s with the defaults vs {plain:.2f} s without (the live graph "
                         f"renders during the loop); the rest of the wall time {rest_full:.2f} s vs {rest_plain:.2f} s "
                         "(start-up, then the final graph and the Excel report)")
    notes.append("both sides write the run database (it cannot be turned off); only the graph and the report differ")
    return pairs("runner defaults vs --no-graph --no-report", parts, notes)


def features_part(bench: Path, comp: Comparison, reps: int) -> dict[str, Any]:
    recipe = bench / f"{comp.key}.yaml"
    recipe.write_text(comp.recipe, encoding="utf-8")
    log(f"features: {comp.key} with the runner's defaults vs {' '.join(NO_EXTRAS)}: warm-up, {reps} reps")

    def progress(rep: int, got: dict[str, list[Any]]) -> None:
        log(f"features: {comp.key}: rep {rep + 1}/{reps}: {' '.join(NO_EXTRAS)} {got['plain'][-1][0]:.3f} s, "
            f"defaults {got['full'][-1][0]:.3f} s")

    got = alternate(reps, {"plain": lambda: run_runner_once(bench, comp, recipe, NO_EXTRAS),
                           "full": lambda: run_runner_once(bench, comp, recipe, outputs=FEATURE_OUTPUTS)},
                    on_rep=progress)
    loops = {side: [loop for _, _, loop in got[side] if loop is not None] for side in got}
    return pair(f"{comp.key}, {comp.steps} steps: defaults vs {' '.join(NO_EXTRAS)}", " ".join(NO_EXTRAS),
                [t for t, _, _ in got["plain"]], "defaults (database + live graph + Excel report)",
                [t for t, _, _ in got["full"]], target=("overhead_pct", 10.0), steps=comp.steps,
                ref_run_loop_s=loops["plain"], other_run_loop_s=loops["full"],
                median_ref_run_loop_s=statistics.median(loops["plain"]) if len(loops["plain"]) == reps else None,
                median_other_run_loop_s=statistics.median(loops["full"]) if len(loops["full"]) == reps else None)


# --------------------------------------------------------------------------- the Excel report of a big run (issue 4)


REPORT_RUN = "20260102T030405Z-big0"
BUILD_RUN = ("import sys; from pathlib import Path; import synthetic_runs; "
             "synthetic_runs.big_run(Path(sys.argv[1]), sys.argv[2], steps=500, changes=10_000)")


def bench_report(bench: Path, samples: int) -> dict[str, Any]:
    """tools/report.py --format xlsx of a synthetic 500-step run with 10,000 context changes, written straight
    into a run database by tests/reports/synthetic_runs.big_run (in a subprocess: the bench imports no engine)."""
    wd = fresh_workdir(bench, "report", copy=())
    try:
        env = clean_env(PYTHONPATH=os.pathsep.join([str(ORCH), str(SYNTHETIC_RUNS)]))
        built = run_timed([PY, "-c", BUILD_RUN, str(wd), REPORT_RUN], ROOT, env, out=bench / "report-build.txt")
        log(f"report: synthetic run built in {built:.2f} s; report.py --format xlsx, warm-up and {samples} samples")
        argv = [PY, str(ORCH / "tools" / "report.py"), "--run", REPORT_RUN, "--format", "xlsx", "--workdir", str(wd)]
        times, size = [], 0
        for _ in range(samples + 1):
            elapsed, size = report_once(argv, bench / "report-out.txt")
            times.append(elapsed)
        times = times[1:]  # the first was the warm-up
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    med = statistics.median(times)
    return dict(kind="single", title="report.py --format xlsx: 500 steps, 10,000 ctx changes", samples_s=times,
                median_s=med, target="< 5 s", target_value=5.0, passed=med < 5.0, build_s=built, xlsx_bytes=size,
                notes=[f"synthetic run built in {built:.2f} s (not timed) by tests/reports/synthetic_runs.big_run; "
                       f"workbook {size / MIB:.1f} MB; the time is the whole report.py process"])


def report_once(argv: list[str], out: Path) -> tuple[float, int]:
    """(seconds, size of the workbook) of one report.py run; the workbook it names must be a fresh xlsx (zip)."""
    elapsed = run_timed(argv, ROOT, clean_env(), out=out)
    lines = out.read_text(encoding="utf-8", errors="replace").split()
    xlsx = Path(lines[-1]) if lines else None
    if xlsx is None or not xlsx.is_file() or xlsx.read_bytes()[:2] != b"PK":
        raise WorkloadError(f"report: report.py did not name a written .xlsx:\n{_tail(out)}")
    size = xlsx.stat().st_size
    xlsx.unlink()  # the next sample writes it afresh
    return elapsed, size


# --------------------------------------------------------------------------- the context (issue 3)


CTX_WRITERS, CTX_WRITES = 8, 1000
CTX_SCALE_STEPS, CTX_SCALE_KEYS, CTX_SCALE_SIZE = 50, 10_000, 5_000


def context_cli(wd: Path, *args: str) -> str:
    """stdout of `context.py --run latest ARGS` on the work folder's latest run."""
    proc = subprocess.run([PY, str(ORCH / "context.py"), "--run", "latest", *args], cwd=ROOT, capture_output=True,
                          text=True, env=clean_env(ORCH_WORKDIR=str(wd)))
    if proc.returncode != 0:
        raise WorkloadError(f"context.py --run latest {' '.join(args)} exited {proc.returncode}: {proc.stderr[-800:]}")
    return proc.stdout


def step_times(wd: Path) -> dict[str, tuple[float, float, float]]:
    """Step name -> (started, ended as POSIX seconds, duration) from the work folder's run database (one run)."""
    conn = sqlite3.connect(f"file:{wd / 'Data' / 'orchestrator.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, started, ended, duration FROM steps").fetchall()
    finally:
        conn.close()
    return {name: (datetime.fromisoformat(s).timestamp(), datetime.fromisoformat(e).timestamp(), d)
            for name, s, e, d in rows if s and e and d is not None}


def with_bench_steps(bench: Path) -> None:
    """Copy tests/bench/benchsteps and ctx_set.sh into the bench folder (fresh_workdir copies them on)."""
    if not (bench / "benchsteps").exists():
        shutil.copytree(BENCH_STEPS, bench / "benchsteps", ignore=shutil.ignore_patterns("__pycache__"))
    write_script(bench / "ctx_set.sh", CTX_SET_SH)


def bench_ctx_writers(bench: Path, reps: int) -> dict[str, Any]:
    """8 parallel Python steps, each writing 1,000 distinct keys through the SDK; then every key is looked up."""
    with_bench_steps(bench)
    recipe = bench / "ctx_writers.yaml"
    recipe.write_text(recipe_text([python_step(f"writer{i}", "benchsteps.ctx_writer", {"index": i, "count": CTX_WRITES})
                                   for i in range(CTX_WRITERS)], max_parallel=CTX_WRITERS), encoding="utf-8")
    total = CTX_WRITERS * CTX_WRITES
    log(f"ctx_writers: {CTX_WRITERS} parallel steps x {CTX_WRITES} context writes; warm-up, {reps} reps")
    runs = alternate(reps, {"run": lambda: ctx_writers_once(bench, recipe)})["run"]
    loops = [r["run_s"] for r in runs]
    med = statistics.median(loops)
    lost, wrong = max(r["lost"] for r in runs), max(r["wrong"] for r in runs)
    return dict(kind="single", title=f"{CTX_WRITERS} parallel steps x {CTX_WRITES:,} ctx writes: run loop",
                samples_s=loops, median_s=med, runs=runs, writes=total, writes_per_s=total / med,
                target=f"{total:,} keys, 0 lost", target_value=total, passed=lost == 0 and wrong == 0,
                reference=f"{min(r['keys'] for r in runs):,}/{total:,} keys, {lost} lost, {wrong} wrong",
                notes=[f"{total / med:,.0f} writes/s over the run loop ({med:.2f} s, the runner's 'SUCCEEDED in'); "
                       f"whole runner process {statistics.median(r['wall_s'] for r in runs):.2f} s; "
                       f"{' '.join(NO_EXTRAS)}; keys counted with context.py --run latest keys, values checked "
                       "with export"])


def ctx_writers_once(bench: Path, recipe: Path) -> dict[str, Any]:
    wd = fresh_workdir(bench, "ctx_writers", copy=("benchsteps",))
    console = bench / "ctx_writers-console.txt"
    try:
        wall = run_timed(runner_argv(recipe, wd, *NO_EXTRAS), ROOT, clean_env(), out=console)
        keys = set(context_cli(wd, "keys").split())
        values = json.loads(context_cli(wd, "export"))
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    expected = {f"w{i}_{j}": j for i in range(CTX_WRITERS) for j in range(CTX_WRITES)}
    lost = [k for k in expected if k not in keys]
    wrong = [k for k, v in expected.items() if k in values and values[k] != v]
    return dict(wall_s=wall, run_s=reported_run_s(console) or wall, keys=len(keys & expected.keys()),
                all_keys=len(keys), lost=len(lost), wrong=len(wrong), lost_examples=lost[:5], wrong_examples=wrong[:5])


def ctx_scale_recipe(keys: int) -> str:
    steps = [python_step("load", "benchsteps.ctx_loader", {"keys": keys, "size": CTX_SCALE_SIZE})]
    names = ["load"] + [f"set_{n:02d}" for n in range(1, CTX_SCALE_STEPS + 1)]
    steps += [shell_step(names[n], n, (names[n - 1],), cmd="ctx_set.sh") for n in range(1, CTX_SCALE_STEPS + 1)]
    return recipe_text(steps, mode="serial", max_parallel=1)


def bench_ctx_scale(bench: Path, reps: int) -> dict[str, Any]:
    """50 serial steps that each set one small key, after a loader step that put 10,000 keys / ~50 MB into the
    context, against the same after a loader that wrote nothing. Timed: first start to last end of the 50."""
    with_bench_steps(bench)
    recipes = {}
    for side, keys in (("empty", 0), ("loaded", CTX_SCALE_KEYS)):
        recipes[side] = bench / f"ctx_scale_{side}.yaml"
        recipes[side].write_text(ctx_scale_recipe(keys), encoding="utf-8")
    mb = CTX_SCALE_KEYS * CTX_SCALE_SIZE / 1e6
    log(f"ctx_scale: {CTX_SCALE_STEPS} steps after a {CTX_SCALE_KEYS:,}-key / {mb:.0f} MB context vs an empty one; "
        f"warm-up, {reps} reps")

    def progress(rep: int, got: dict[str, list[Any]]) -> None:
        log(f"ctx_scale: rep {rep + 1}/{reps}: empty {got['empty'][-1]['span_s']:.3f} s, "
            f"{mb:.0f} MB {got['loaded'][-1]['span_s']:.3f} s")

    got = alternate(reps, {"empty": lambda: ctx_scale_once(bench, recipes["empty"], 0),
                           "loaded": lambda: ctx_scale_once(bench, recipes["loaded"], CTX_SCALE_KEYS)},
                    on_rep=progress)

    def med(side: str, field_: str) -> float:
        return statistics.median(r[field_] for r in got[side])

    part = pair(f"{CTX_SCALE_STEPS} ctx-setting steps: {CTX_SCALE_KEYS:,}-key/{mb:.0f} MB context vs empty",
                "empty context", [r["span_s"] for r in got["empty"]], f"{mb:.0f} MB context",
                [r["span_s"] for r in got["loaded"]], target=("overhead_pct", 10.0), steps=CTX_SCALE_STEPS,
                runs=got)
    notes = [f"per step: median start-to-start {med('empty', 'median_interval_s') * 1000:.1f} ms (empty) vs "
             f"{med('loaded', 'median_interval_s') * 1000:.1f} ms (loaded); inside the steps "
             f"{med('empty', 'steps_s'):.2f} s vs {med('loaded', 'steps_s'):.2f} s, between them (runner: commit + "
             f"start) {med('empty', 'between_s'):.2f} s vs {med('loaded', 'between_s'):.2f} s; the loader itself "
             f"{med('loaded', 'load_s'):.2f} s; context file {med('loaded', 'ctx_bytes') / MIB:.0f} MB; "
             f"{' '.join(NO_EXTRAS)}; times from the run database"]
    return pairs("step start/commit with a big context", [part], notes)


def ctx_scale_once(bench: Path, recipe: Path, keys: int) -> dict[str, Any]:
    wd = fresh_workdir(bench, "ctx_scale", copy=("benchsteps", "ctx_set.sh"))
    try:
        run_timed(runner_argv(recipe, wd, *NO_EXTRAS), ROOT, clean_env(), out=bench / "ctx_scale-console.txt")
        times = step_times(wd)
        found = context_cli(wd, "keys").split()
        ctx_bytes = sum(p.stat().st_size for p in (wd / "Data" / "runs").glob("*/context.db*"))
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    names = [f"set_{n:02d}" for n in range(1, CTX_SCALE_STEPS + 1)]
    missing = [n for n in ["load", *names] if n not in times]
    small = sum(1 for k in found if k.startswith("small_"))
    big = sum(1 for k in found if k.startswith("big_"))
    if missing or small != CTX_SCALE_STEPS or big != keys:
        raise WorkloadError(f"ctx_scale: steps without times {missing[:3]}; context has {small} small_* keys "
                            f"(expected {CTX_SCALE_STEPS}) and {big} big_* keys (expected {keys})")
    sets = [times[n] for n in names]
    span = sets[-1][1] - sets[0][0]
    inside = sum(d for _, _, d in sets)
    return dict(span_s=span, steps_s=inside, between_s=span - inside, load_s=times["load"][2], ctx_bytes=ctx_bytes,
                median_interval_s=statistics.median(b[0] - a[0] for a, b in zip(sets, sets[1:])))


# --------------------------------------------------------------------------- a Python step's start-up (issue 3)


def bench_noop_startup(bench: Path, samples: int) -> dict[str, Any]:
    """python -m scriptlets.python.steps.noop (standalone: in-memory context) vs python -c 'import json, argparse'."""
    env = clean_env(PYTHONPATH=str(ORCH))
    noop = [PY, "-m", "scriptlets.python.steps.noop"]
    floor = [PY, "-c", "import json, argparse"]
    out = bench / "noop-out.txt"
    log(f"noop_startup: python -m scriptlets.python.steps.noop vs python -c 'import json, argparse', "
        f"{samples} samples each, interleaved")
    got = alternate(samples, {"floor": lambda: run_timed(floor, ORCH, env),
                              "noop": lambda: run_timed(noop, ORCH, env, out=out)})
    if '{"ok": true}' not in out.read_text(encoding="utf-8", errors="replace"):
        raise WorkloadError(f"noop_startup: the noop did not print {{\"ok\": true}}:\n{_tail(out)}")
    part = pair("python -m ...steps.noop vs python -c 'import json, argparse'", "python -c 'import json, argparse'",
                got["floor"], "noop scriptlet", got["noop"], target=("ratio", 1.5))
    diff = (part["median_other_s"] - part["median_ref_s"]) * 1000
    return pairs("Python step start-up", [part], [f"the noop costs {diff:+.1f} ms over the bare imports (median); "
                                                  "cwd orchestrator/, PYTHONPATH=orchestrator, no ORCH_* variables"])


# --------------------------------------------------------------------------- Dask (issue 6) and the monitor (issue 5)


def bench_dask_executor(bench: Path, steps: int, reps: int) -> dict[str, Any]:
    """tests/dask/bench_dask.py's bench_dask(steps, reps), through its command line (--json): its LocalCluster
    spawns worker processes and its engine imports stay out of the bench process. Information only."""
    title = "dask executor vs local"
    if not DASK_BENCH.exists():
        return unavailable(title, f"{DASK_BENCH.relative_to(ROOT)} not found")
    probe = subprocess.run([PY, "-c", "import distributed"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return unavailable(title, f"dask.distributed cannot be imported ({last}): pip install 'dask[distributed]'")
    log(f"dask: {steps} trivial shell steps, local executor vs a 2-worker LocalCluster, {reps} reps (bench_dask.py)")
    figures = bench / "dask.json"
    run_timed([PY, str(DASK_BENCH), "--steps", str(steps), "--reps", str(reps), "--json", str(figures)], ROOT,
              clean_env(), out=bench / "dask-out.txt")
    data = json.loads(figures.read_text(encoding="utf-8"))
    local = [s["loop"] for s in data["samples"]["local"]]
    dask = [s["loop"] for s in data["samples"]["dask"]]
    part = pair(f"{steps} shell steps, 2 slots, run loop: dask LocalCluster vs local executor", "local executor",
                local, f"dask ({data['cluster']})", dask, steps=steps, bench_dask=data)
    return pairs(title, [part], [f"the cluster adds {part['overhead_ms_per_step']:.2f} ms/step to the run loop "
                                 f"(engine in-process, no interpreter start-up); cluster start "
                                 f"{data['dask']['cluster_up']:.2f} s and close {data['dask']['close']:.2f} s "
                                 "come on top, once per run"])


MONITOR_LINE = re.compile(r"^(?P<label>\S.*?)\s+best\s+(?P<best>[0-9.]+) ms\s+median\s+(?P<median>[0-9.]+) ms\s*$",
                          re.M)


def bench_monitor(bench: Path, repeat: int) -> dict[str, Any]:
    """tests/monitor/bench_monitor.py (5,000 runs; a run of 500 steps and 10,000 context changes) as a subprocess;
    its `page:` lines are the targets (< 1 s each)."""
    title = "monitor pages"
    if not MONITOR_BENCH.exists():
        return unavailable(title, f"{MONITOR_BENCH.relative_to(ROOT)} does not exist (yet)")
    log(f"monitor: {MONITOR_BENCH.relative_to(ROOT)}, 5,000 runs + a 500-step/10,000-change run, repeat {repeat}")
    argv = [PY, str(MONITOR_BENCH), "--runs", "5000", "--steps", "500", "--changes", "10000", "--repeat", str(repeat)]
    proc = subprocess.run(argv, cwd=ROOT, env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    lines: list[dict[str, Any]] = [dict(label=m["label"], best_ms=float(m["best"]), median_ms=float(m["median"]))
                                   for m in MONITOR_LINE.finditer(proc.stdout)]
    pages = [line for line in lines if line["label"].startswith("page:")]
    if proc.returncode not in (0, 1) or not pages or (proc.returncode == 1 and "over 1 s" not in proc.stdout):
        raise WorkloadError(f"bench_monitor.py exited {proc.returncode} with {len(pages)} page figures:\n"
                            f"{(proc.stdout + proc.stderr)[-1500:]}")
    for page in pages:
        page["passed"] = page["median_ms"] < 1000
    built = next((line for line in proc.stdout.splitlines() if line.startswith("built ")), "")
    return dict(kind="monitor", title=title, lines=lines, pages=pages, exit_code=proc.returncode,
                target="< 1 s each", target_value=1.0, passed=all(p["passed"] for p in pages),
                notes=[f"{built}; median of {repeat} calls per figure; data and layout figures are in the JSON"])



# --------------------------------------------------------------------------- output


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def noisy(values: list[float]) -> bool:
    """True when the samples spread by more than 30% of their median: the machine was not quiet."""
    return len(values) > 1 and (max(values) - min(values)) > 0.3 * statistics.median(values)


STEAL_NOTED = 5.0  # % of CPU time taken by the hypervisor during a workload, above which its row says so


def verdict(ok: Optional[bool], spread: bool = False, steal: Optional[float] = None) -> str:
    notes = (["noisy"] if spread else []) + ([f"{steal:.0f}% steal"] if steal is not None and steal >= STEAL_NOTED
                                             else [])
    return ("-" if ok is None else ("PASS" if ok else "MISS")) + (f" ({', '.join(notes)})" if notes else "")


def stale_bytecode(root: Path) -> list[str]:
    """The modules under root whose cached bytecode is missing or older than their source (relative paths). With
    PYTHONDONTWRITEBYTECODE set nothing refreshes it: every process start would compile them again."""
    import importlib.util

    stale = []
    for source in sorted(root.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
            stale.append(str(source.relative_to(root)))
    return stale


def cpu_times() -> Optional[list[int]]:
    """The machine's CPU time counters (/proc/stat: user nice system idle iowait irq softirq steal ...), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def steal_percent(before: Optional[list[int]], after: Optional[list[int]]) -> Optional[float]:
    """The share of CPU time the hypervisor gave to other guests between two readings (a VM's busy host)."""
    if not before or not after or len(before) < 8 or len(after) < 8:
        return None
    delta = [b - a for a, b in zip(before, after)]
    return 100.0 * delta[7] / sum(delta) if sum(delta) > 0 else None


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


Row = tuple[str, ...]
HEAD: Row = ("workload", "what", "baseline median (min-max)", "runner median (min-max)", "ratio", "ovh ms/step",
             "target", "result", "cpu ms/step")


def _row(key: str, what: str, base: str = "", runner: str = "", ratio: str = "", ovh: str = "", target: str = "",
         result: str = "", cpu: str = "") -> Row:
    return (key, what, base, runner, ratio, ovh, target, result, cpu)


def _rows_comparison(key: str, r: dict[str, Any]) -> list[Row]:
    return [_row(key, r["title"], fmt_s(r["baseline_s"]), fmt_s(r["runner_s"]), f"{r['ratio']:.2f}x",
                 f"{r['overhead_ms_per_step']:.2f}", r["target"],
                 verdict(r["passed"], r.get("noisy", False), r.get("steal_pct")),
                 f"{r['cpu_overhead_ms_per_step']:+.2f}")]


def _rows_single(key: str, r: dict[str, Any]) -> list[Row]:
    base = (f"python -c pass: {statistics.median(r['python_floor_s']):.3f} s" if "python_floor_s" in r
            else r.get("reference", ""))
    return [_row(key, r["title"], base, fmt_s(r["samples_s"]), target=r["target"], result=verdict(r["passed"]))]


def _rows_startup(key: str, r: dict[str, Any]) -> list[Row]:
    base = f"python -c pass: {statistics.median(r['python_floor_s']):.3f} s"
    return [_row(key, r["title"] + ", recipe cache warm", base, fmt_s(r["samples_s"]), target=r["target"],
                 result=verdict(r["passed"])),
            _row(key, r["title"] + ", first sight (cache off)", base, fmt_s(r["cold_samples_s"]), target=r["target"],
                 result=verdict(r["passed_cold"]))]


def _rows_scale(key: str, r: dict[str, Any]) -> list[Row]:
    peaks = r["peak_rss_by_mode"]
    return [_row(key, r["title"] + " --validate", runner=fmt_s(r["validate_s"]), target="(info)", result="-"),
            _row(key, r["title"] + " --dry-run, first sight (cache off)", runner=fmt_s(r["dry_run_s"]),
                 target="< 1 s", result=verdict(r["passed_time"])),
            _row(key, r["title"] + " --dry-run, recipe cache warm", runner=fmt_s(r["warm_dry_run_s"]),
                 target="< 1 s", result=verdict(r["passed_warm"])),
            _row(key, "peak RSS (validate / dry-run)",
                 runner=f"{peaks['validate'] / MIB:.1f} / {peaks['dry_run'] / MIB:.1f} MB", target="< 100 MB",
                 result=verdict(r["passed_rss"]))]


def _rows_rss(key: str, r: dict[str, Any]) -> list[Row]:
    return [_row(key, r["title"] + ", recipe cache warm", runner=f"{r['peak_rss_bytes'] / MIB:.1f} MB",
                 target=r["target"], result=verdict(r["passed"])),
            _row(key, r["title"] + ", first sight (cache off)", runner=f"{r['cold_peak_rss_bytes'] / MIB:.1f} MB",
                 target=r["target"], result=verdict(r["passed_cold"]))]


def _rows_stream(key: str, r: dict[str, Any]) -> list[Row]:
    ref = r["reference_peak_rss_bytes"] and max(r["reference_peak_rss_bytes"]) / MIB
    return [_row(key, r["title"] + ": time", fmt_s(r["baseline_s"]), fmt_s(r["runner_s"]), f"{r['ratio']:.2f}x",
                 target="(info)", result="-"),
            _row(key, r["title"] + ": runner RSS growth",
                 runner=f"{r['rss_growth_bytes'] / MIB:+.1f} MB (peak {max(r['runner_peak_rss_bytes']) / MIB:.1f}"
                        f" vs 1-step {ref:.1f})", target=r["target"], result=verdict(r["passed"]))]


def _rows_pairs(key: str, r: dict[str, Any]) -> list[Row]:
    """A vs B rows: the reference side B in the baseline column, A in the runner column."""
    return [_row(key, p["title"], fmt_s(p["ref_s"]), fmt_s(p["other_s"]),
                 f"{p['ratio']:.2f}x ({p['overhead_pct']:+.0f} %)",
                 f"{p['overhead_ms_per_step']:.2f}" if "overhead_ms_per_step" in p else "", p.get("target", "(info)"),
                 verdict(p.get("passed"), p["noisy"])) for p in r["parts"]]


def _rows_monitor(key: str, r: dict[str, Any]) -> list[Row]:
    return [_row(key, p["label"].removeprefix("page: "), runner=f"{p['median_ms']:.0f} ms (best {p['best_ms']:.0f})",
                 target="< 1 s", result=verdict(p["passed"])) for p in r["pages"]]


def _rows_unavailable(key: str, r: dict[str, Any]) -> list[Row]:
    return [_row(key, r["title"], runner="not available", result="n/a")]


ROWS: dict[str, Callable[[str, dict[str, Any]], list[Row]]] = {
    "comparison": _rows_comparison, "single": _rows_single, "startup": _rows_startup, "scale": _rows_scale,
    "rss": _rows_rss,
    "stream": _rows_stream, "pairs": _rows_pairs, "monitor": _rows_monitor, "unavailable": _rows_unavailable}


def _time_notes(key: str, r: dict[str, Any]) -> list[str]:
    """Where a comparison's runner time goes (W1-W4)."""
    notes = [f"{key}: median of the per-repetition differences (paired, cancels drift between pairs): "
             f"{r['paired_overhead_ms_per_step']:.2f} ms/step; CPU: runner tree "
             f"{r['median_runner_cpu_s']:.2f} s vs baseline tree {r['median_baseline_cpu_s']:.2f} s"]
    if r.get("median_runner_reported_run_s") is not None:
        inner = r["median_runner_reported_run_s"]
        notes.append(f"{key}: run loop {inner:.3f} s (the runner's own 'SUCCEEDED in' figure) -> "
                     f"{r['loop_overhead_ms_per_step']:.2f} ms/step over the baseline; the other "
                     f"{r['median_runner_s'] - inner:.3f} s of the runner's wall time is interpreter start, "
                     "imports, recipe load, database set-up and teardown")
    if r.get("median_floor_s") is not None:
        notes.append(f"{key}: floor {r['median_floor_s']:.3f} s (tests/bench/floor_loop.py: the same processes and "
                     "logs from a minimal Python loop, interpreter start included): "
                     f"{r['floor_overhead_ms_per_step']:+.2f} ms/step against the baseline; the runner is "
                     f"{r['over_floor_ms_per_step']:.2f} ms/step over the floor (paired): what its events, database, "
                     "console, context and checks cost")
    return notes


def render_table(results: dict[str, Any]) -> str:
    rows: list[Row] = []
    time_notes: list[str] = []
    other_notes: list[str] = []
    errors: list[str] = []
    for key in (*WORKLOADS, "stream_debug"):
        r = results.get(key)
        if r is None or (key == "stream_debug" and "error" not in r):  # shown as a line under the table
            continue
        if "error" in r:
            rows.append(_row(key, r.get("title", ""), result="ERROR"))
            errors.append(f"{key}: " + " | ".join(r["error"].strip().splitlines()[:3])[:300])
            continue
        rows += ROWS[r["kind"]](key, r)
        if r["kind"] == "comparison":
            time_notes += _time_notes(key, r)
        other_notes += [f"{key}: {note}" for note in r.get("notes", [])]
        if r["kind"] == "unavailable":
            other_notes.append(f"{key}: not available: {r['reason']}")
    widths = [max(len(str(row[i])) for row in [HEAD, *rows]) for i in range(len(HEAD))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(HEAD, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if errors:
        out += ["", "Errors (the full message is in the JSON and above on stderr):"] + [f"  {e}" for e in errors]
    if time_notes:
        out += ["", "Where the runner's time goes (information only; targets use the whole-process figures above):"]
        out += [f"  {n}" for n in time_notes]
    if other_notes:
        out += ["", "Notes (A vs B rows: B, the reference, is in the baseline column and A in the runner column):"]
        out += [f"  {n}" for n in other_notes]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    def cmd(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001 - informational only
            return ""

    return dict(host=platform.node(), cpus=os.cpu_count(), python=PY, python_version=platform.python_version(),
                kernel=platform.release(), git_commit=cmd(["git", "rev-parse", "HEAD"]),
                git_dirty=bool(cmd(["git", "status", "--porcelain", "--untracked-files=no"])),
                bash=cmd(["bash", "-c", "echo $BASH_VERSION"]), loadavg=os.getloadavg())


# --------------------------------------------------------------------------- main


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 repetitions per side instead of 5 (2 for features); fewer samples everywhere")
    parser.add_argument("--only", default="", metavar="W1,W3",
                        help=f"run just these workloads (comma-separated, case-insensitive): {', '.join(WORKLOADS)}")
    parser.add_argument("--reps", type=int, metavar="N",
                        help="repetitions per side for W1-W4 and features (overrides --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary bench folder (printed) for inspection")
    parser.add_argument("--pyc", action="store_true",
                        help="let both sides use a bytecode cache (PYTHONPYCACHEPREFIX in the temporary folder, filled "
                             "by the warm-ups) even when PYTHONDONTWRITEBYTECODE is set, as on a usual machine")
    parser.add_argument("--no-debug-stream", action="store_true",
                        help="skip the informational `stream --debug` measurement (output piped through the runner)")
    args = parser.parse_args(argv)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    by_lower = {w.lower(): w for w in WORKLOADS}
    unknown = [w for w in wanted if w.lower() not in by_lower]
    if unknown:
        parser.error(f"--only: unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    args.selected = [by_lower[w.lower()] for w in wanted] or list(WORKLOADS)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps: give at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    features_reps = args.reps or (2 if args.quick else 5)
    if not RUNNER.exists():
        print(f"bench: {RUNNER} not found", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    if load > 0.5:
        log(f"warning: load average {load:.2f} before starting: something else is using the CPUs; "
            "expect noisy figures (interleaving keeps the comparison fair, not precise)")
    bench = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    write_script(bench / "step.sh", STEP_SH)
    write_script(bench / "step_logged.sh", STEP_LOGGED_SH)
    if args.pyc:
        PYC_ENV["PYTHONPYCACHEPREFIX"] = str(bench / "pycache")
    elif os.environ.get("PYTHONDONTWRITEBYTECODE"):
        log("note: PYTHONDONTWRITEBYTECODE is set, so the orchestrator's own modules have no cached bytecode and are "
            "compiled at every process start (runner and Python steps); --pyc measures with a bytecode cache")
    stale = [] if args.pyc else stale_bytecode(ORCH)
    if stale:
        log(f"warning: {len(stale)} of the orchestrator's modules have no up-to-date bytecode (e.g. {stale[0]}): "
            "each runner start compiles them again (~60 ms here); run `make bytecode` first (`make bench` does)")
    comps = comparisons(bench)
    results: dict[str, Any] = {}
    t_start = time.perf_counter()
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "startup": lambda: bench_startup(bench, 10 if args.quick else 20),
        **{k: functools.partial(bench_comparison, bench, c, reps) for k, c in comps.items()},
        "scale": lambda: bench_scale(bench, 3),
        "rss": lambda: bench_rss(bench, comps),
        "stream": lambda: bench_stream(bench, 2 if args.quick else 3, debug=False),
        "features": lambda: bench_features(bench, comps, features_reps),
        "report": lambda: bench_report(bench, 1 if args.quick else 3),
        "ctx_writers": lambda: bench_ctx_writers(bench, 2 if args.quick else 3),
        "ctx_scale": lambda: bench_ctx_scale(bench, 2 if args.quick else 5),
        "noop_startup": lambda: bench_noop_startup(bench, 10 if args.quick else 20),
        "dask": lambda: bench_dask_executor(bench, *((100, 2) if args.quick else (200, 3))),
        "monitor": lambda: bench_monitor(bench, 3 if args.quick else 5),
    }
    order = ["startup", "W1", "W2", "W3", "W4", "scale", "rss", "stream", "stream_debug", "features", "report",
             "ctx_writers", "ctx_scale", "noop_startup", "dask", "monitor"]
    if "stream" in args.selected and not args.no_debug_stream and not args.quick:
        jobs["stream_debug"] = lambda: bench_stream(bench, 1, debug=True)  # information only
        args.selected.append("stream_debug")
    try:
        for key in order:
            if key not in args.selected:
                continue
            t0 = time.perf_counter()
            load_before, times_before = os.getloadavg(), cpu_times()
            try:
                results[key] = jobs[key]()
            except Exception as exc:  # noqa: BLE001 - one workload's failure is reported, the rest still run
                detail = exc if isinstance(exc, WorkloadError) else traceback.format_exc()
                log(f"{key}: ERROR: {detail}")
                results[key] = dict(error=str(detail), title=getattr(comps.get(key), "title", key))
            if key in results:
                results[key]["bench_seconds"] = time.perf_counter() - t0
                results[key]["loadavg_before"] = load_before
                results[key]["loadavg_after"] = os.getloadavg()
                results[key]["steal_pct"] = steal_percent(times_before, cpu_times())
    finally:
        if args.keep:
            log(f"kept {bench}")
        else:
            shutil.rmtree(bench, ignore_errors=True)
    total = time.perf_counter() - t_start

    table_results = dict(results)
    print()
    pyc = ("bytecode cache on (--pyc)" if args.pyc else "no bytecode cache: PYTHONDONTWRITEBYTECODE is set"
           if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")
    print(f"Runner vs baseline ({'quick, ' if args.quick else ''}{reps} reps per side for W1-W4, "
          f"{features_reps} for features, interleaved; "
          f"medians; {os.cpu_count()} CPUs; {pyc + '; ' if pyc else ''}bench took {total:.0f} s)")
    print()
    print(render_table(table_results))
    loads = [v["loadavg_before"][0] for v in results.values() if "loadavg_before" in v]
    if loads and max(loads) > 0.5:
        print(f"\nNote: the 1-minute load average reached {max(loads):.2f} on {os.cpu_count()} CPUs before some "
              "workloads: other processes were running, so absolute figures are noisy; rows marked (noisy) "
              "spread by more than 30% between repetitions.")
    steals = [v["steal_pct"] for v in results.values() if v.get("steal_pct") is not None]
    if steals and max(steals) >= STEAL_NOTED:
        print(f"\nNote: the hypervisor took up to {max(steals):.0f}% of this VM's CPU time during some workloads "
              "(steal, /proc/stat): its host was busy, every side ran slower and less evenly, and rows marked "
              "'% steal' are not comparable with runs on a quiet host.")
    if "stream_debug" in results and "error" not in results["stream_debug"]:
        r = results["stream_debug"]
        print(f"\nInformation: the same 1 GiB with runner --debug (every line stamped by the runner): "
              f"{r['median_runner_s']:.2f} s vs {r['median_baseline_s']:.2f} s ({r['ratio']:.1f}x), "
              f"runner RSS growth {r['rss_growth_bytes'] / MIB:+.1f} MB.")
    print("\nBaselines (same work, one process per step, each step's output in its own log file):")
    for key in ("W1", "W2", "W3", "W4"):
        if key in results:
            print(f"  {key}: {BASELINE_NOTES[key]}")
    print("  ovh ms/step = (median runner - median baseline) / steps; ratio = median runner / median baseline.")
    print("  cpu ms/step = the same with CPU time (user + system of each side's whole process tree, from wait4):")
    print("  information only, but far less sensitive than wall time to other load on the machine.")
    print("  Runner times include its interpreter start-up, a fresh Data/ database and the per-step log headers.")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = dict(when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), argv=sys.argv[1:], quick=args.quick,
                   bytecode_cache=("bench-local PYTHONPYCACHEPREFIX" if args.pyc else
                                   "none (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE")
                                   else "as the environment gives"),
                   reps=reps, selected=args.selected, total_seconds=total, machine=machine(), results=results,
                   baselines={k: v for k, v in BASELINE_NOTES.items() if k in results})
    (RESULTS_DIR / "latest.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS_DIR / 'latest.json'}")
    errors = [k for k, v in results.items() if "error" in v]
    if errors:
        print(f"bench: workload(s) errored: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
