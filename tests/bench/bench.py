"""Benchmark the runner against a minimal baseline (xargs / a bash loop) doing the same work in the same run.

Usage:
    .venv/bin/python tests/bench/bench.py                 # everything, 5 repetitions per side (`make bench`)
    .venv/bin/python tests/bench/bench.py --quick         # 3 repetitions per side, fewer start-up samples
    .venv/bin/python tests/bench/bench.py --only W1,W3    # a selection: W1 W2 W3 W4 startup scale rss stream

Every timed workload runs once per side as a warm-up, then runner and baseline repetitions alternate
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
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[2]
ORCH = ROOT / "orchestrator"
RUNNER = ORCH / "runner.py"
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
RESULTS_DIR = ROOT / "bench-results"

WORKLOADS = ("W1", "W2", "W3", "W4", "startup", "scale", "rss", "stream")
GIB = 1 << 30
MIB = 1 << 20

# The step the runner runs: `bash step.sh --n N`, its stdout/stderr opened by the runner on the step's log.
STEP_SH = '#!/usr/bin/env bash\necho "step $*"\n'
# The baseline's twin: `bash step_logged.sh N LOGDIR`; one bash per step as well, which opens its own log
# (the work the runner does for step.sh) and prints the same line.
STEP_LOGGED_SH = '#!/usr/bin/env bash\nexec > "$2/$1.log" 2>&1\necho "step --n $1"\n'
# 1 GiB of 100-byte lines on stdout.
STREAM_SH = "#!/usr/bin/env bash\nyes \"$(printf '%099d' 0)\" | head -c " + str(GIB) + "\n"

BASELINE_NOTES = {
    "W1": "xargs -P 2 -I{} bash step_logged.sh {} LOGDIR: one bash per step that opens its own log "
          "(exec >LOG 2>&1) and echoes the same line; the runner runs bash step.sh --n N into a log it opens",
    "W2": "one bash loop running bash step_logged.sh N LOGDIR 200 times in a row",
    "W3": "xargs -P 2 -I{} sh -c 'exec python -m scriptlets.python.steps.noop >LOG 2>&1' (cwd orchestrator/, "
          "PYTHONPATH=orchestrator); the sh is exec'd away (one dash exec, ~1 ms, per step, counted against "
          "the baseline). Under the runner the noop opens the run's SQLite context; standalone it uses an "
          "in-memory one: that cost is part of the runner's figure",
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


def shell_step(name: str, n: int, deps: tuple[str, ...] = ()) -> str:
    dep = f", depends_on: [{', '.join(deps)}]" if deps else ""
    return f"{{name: {name}, type: shell, cmd: step.sh, args: {{n: {n}}}{dep}}}"


def w1_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"s{i:04d}", i) for i in range(1, n + 1)]
    return recipe_text([shell_step(nm, i) for nm, i in names]), names


def w2_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"c{i:04d}", i) for i in range(1, n + 1)]
    steps = [shell_step(nm, i, (names[i - 2][0],) if i > 1 else ()) for nm, i in names]
    return recipe_text(steps, mode="serial", max_parallel=1), names


def w3_recipe(n: int) -> tuple[str, list[tuple[str, int]]]:
    names = [(f"p{i:04d}", i) for i in range(1, n + 1)]
    return recipe_text([f"{{name: {nm}, type: python, module: scriptlets.python.steps.noop}}" for nm, _ in names]), names


def layered(layers: int, width: int, fan_in: Optional[int] = None, prefix: str = "L") -> tuple[str, list[tuple[str, int]]]:
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
                                          'seq $((L * 10 + 1)) $((L * 10 + 10)) | xargs -P 2 -I{} bash step_logged.sh {} '
                                          '"$2" || exit 1; done', "w4", "30", str(logs)],
                         lambda b: b, clean_env(), shell_expect, "ovh", 0.7),
    }


def check_runner_logs(wd: Path, comp: Comparison) -> None:
    logs = wd / "Logs"
    found = {p.name.split("_", 1)[1][:-4]: p for p in logs.glob("*.log") if not p.name.endswith("_runner.log")}
    missing = [nm for nm, _ in comp.names if nm not in found]
    if missing or len(found) != comp.steps:
        raise WorkloadError(f"runner: {len(found)} step logs in {logs}, expected {comp.steps} (missing e.g. {missing[:3]})")
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


def fresh_workdir(bench: Path, tag: str) -> Path:
    wd = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=bench))
    shutil.copy2(bench / "step.sh", wd / "step.sh")
    return wd


RUN_LINE = re.compile(r"^run \S+ SUCCEEDED in ([0-9.]+)s", re.M)


def run_runner_once(bench: Path, comp: Comparison, recipe: Path) -> tuple[float, float, Optional[float]]:
    """(wall seconds of the whole runner process, CPU seconds of its tree, the run duration it printed)."""
    wd = fresh_workdir(bench, f"{comp.key}-runner")
    console = bench / f"{comp.key}-console.txt"
    try:
        argv = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--plain", *comp.runner_flags]
        elapsed, cpu = run_measured(argv, ROOT, clean_env(), out=console)
        check_runner_logs(wd, comp)
        found = RUN_LINE.search(console.read_text(encoding="utf-8", errors="replace"))
        return elapsed, cpu, float(found.group(1)) if found else None
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def run_baseline_once(bench: Path, comp: Comparison) -> tuple[float, float]:
    logs = Path(tempfile.mkdtemp(prefix=f"{comp.key}-base-", dir=bench))
    try:
        elapsed, cpu = run_measured(comp.baseline(bench, logs), comp.baseline_cwd(bench), comp.baseline_env,
                                    out=bench / f"{comp.key}-baseline-out.txt")
        check_baseline_logs(logs, comp)
        return elapsed, cpu
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def bench_comparison(bench: Path, comp: Comparison, reps: int) -> dict[str, Any]:
    recipe = bench / f"{comp.key}.yaml"
    recipe.write_text(comp.recipe, encoding="utf-8")
    log(f"{comp.key}: {comp.title}: warm-up")
    run_baseline_once(bench, comp)
    run_runner_once(bench, comp, recipe)
    for rep in range(reps):
        order = ("base", "runner") if rep % 2 == 0 else ("runner", "base")
        got: dict[str, float] = {}
        for side in order:
            if side == "base":
                got["base"], cpu = run_baseline_once(bench, comp)
                comp.base_cpu.append(cpu)
            else:
                got["runner"], cpu, inner = run_runner_once(bench, comp, recipe)
                comp.runner_cpu.append(cpu)
                if inner is not None:
                    comp.inner.append(inner)
        comp.base.append(got["base"])
        comp.runner.append(got["runner"])
        log(f"{comp.key}: rep {rep + 1}/{reps}: baseline {got['base']:.3f} s (cpu {comp.base_cpu[-1]:.3f}), "
            f"runner {got['runner']:.3f} s (cpu {comp.runner_cpu[-1]:.3f})")
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
                target=f"{'overhead' if comp.target_kind == 'ovh' else 'ratio'} <= {comp.target:g}"
                       f"{' ms/step' if comp.target_kind == 'ovh' else 'x'}",
                target_value=comp.target, target_metric="overhead_ms_per_step" if comp.target_kind == "ovh" else "ratio",
                passed=value <= comp.target)


# --------------------------------------------------------------------------- the other workloads


def bench_startup(bench: Path, samples: int) -> dict[str, Any]:
    wd = fresh_workdir(bench, "startup")
    recipe = wd / "one.yaml"
    recipe.write_text(recipe_text([shell_step("only", 1)]), encoding="utf-8")
    dry = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--dry-run"]
    floor = [PY, "-c", "pass"]
    env = clean_env()
    log(f"startup: --dry-run of a 1-step recipe, {samples} samples (interleaved with bare `python -c pass`)")
    run_timed(dry, ROOT, env)
    run_timed(floor, ROOT, env)
    times, floors = [], []
    for _ in range(samples):
        times.append(run_timed(dry, ROOT, env, out=bench / "startup-out.txt"))
        floors.append(run_timed(floor, ROOT, env))
    med = statistics.median(times)
    shutil.rmtree(wd, ignore_errors=True)
    return dict(kind="single", title="runner --dry-run, 1-step recipe", samples_s=times, median_s=med,
                python_floor_s=floors, median_python_floor_s=statistics.median(floors),
                target="< 0.2 s", target_value=0.2, passed=med < 0.2)


def bench_scale(bench: Path, samples: int) -> dict[str, Any]:
    wd = fresh_workdir(bench, "scale")
    recipe = wd / "scale.yaml"
    text, names = layered(100, 50, fan_in=2, prefix="S")
    recipe.write_text(text, encoding="utf-8")
    edges = 99 * 50 * 2
    env = clean_env()
    base = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd)]
    log(f"scale: {len(names)} steps ({edges} edges, 100 layers x 50), --validate and --dry-run, {samples} samples")
    run_timed([*base, "--validate"], ROOT, env, out=bench / "scale-validate.txt")  # warm-up (and creates Data/)
    validate, dry, peaks = [], [], []
    for _ in range(samples):
        validate.append(run_timed([*base, "--validate"], ROOT, env, out=bench / "scale-validate.txt"))
        dry.append(run_timed([*base, "--dry-run", "--parallel", "2"], ROOT, env, out=bench / "scale-dry.txt"))
    for flag in ("--validate", "--dry-run"):  # peak RSS in separate, polled runs (polling is kept out of the timings)
        peaks.append(run_polled([*base, flag], ROOT, env, out=bench / "scale-rss.txt")[1])
    plan_text = (bench / "scale-dry.txt").read_text(encoding="utf-8", errors="replace")
    if f"{len(names)} to run" not in plan_text:
        raise WorkloadError(f"scale: --dry-run output does not say '{len(names)} to run':\n{plan_text[-800:]}")
    shutil.rmtree(wd, ignore_errors=True)
    mv, md, peak = statistics.median(validate), statistics.median(dry), max(peaks)
    return dict(kind="scale", title=f"{len(names)}-step recipe ({edges} edges)", steps=len(names), edges=edges,
                validate_s=validate, dry_run_s=dry, median_validate_s=mv, median_dry_run_s=md, peak_rss_bytes=peak,
                peak_rss_by_mode={"validate": peaks[0], "dry_run": peaks[1]},
                target="--dry-run (validate + plan) < 1 s; peak RSS < 100 MB", target_value=[1.0, 100 * MIB],
                passed_time=md < 1.0, passed_rss=peak < 100 * MIB)


def bench_rss(bench: Path, comparisons_: dict[str, Comparison]) -> dict[str, Any]:
    comp = comparisons_["W1"]
    recipe = bench / "W1.yaml"
    recipe.write_text(comp.recipe, encoding="utf-8")
    log("rss: runner peak RSS over a W1 run (VmHWM polled every 5 ms; separate from the timed runs)")
    peaks = []
    for _ in range(2):
        wd = fresh_workdir(bench, "rss")
        try:
            argv = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--plain", "--parallel", "2"]
            _, peak = run_polled(argv, ROOT, clean_env(), out=bench / "rss-console.txt")
            check_runner_logs(wd, comp)
            peaks.append(peak)
        finally:
            shutil.rmtree(wd, ignore_errors=True)
    peak = max(peaks)
    return dict(kind="rss", title="runner peak RSS on W1 (500 steps)", samples_bytes=peaks, peak_rss_bytes=peak,
                target="< 40 MB", target_value=40 * MIB, passed=peak < 40 * MIB)


def bench_stream(bench: Path, reps: int, debug: bool) -> dict[str, Any]:
    write_script(bench / "stream.sh", STREAM_SH)
    recipe_stream = bench / "stream.yaml"
    recipe_stream.write_text(recipe_text(["{name: flood, type: shell, cmd: stream.sh}"], mode="serial"), encoding="utf-8")
    recipe_ref = bench / "stream-ref.yaml"
    recipe_ref.write_text(recipe_text([shell_step("tiny", 1)], mode="serial"), encoding="utf-8")
    env = clean_env()
    extra = ["--debug"] if debug else []
    label = "stream --debug" if debug else "stream"
    log(f"{label}: one step writing 1 GiB to stdout{' (runner --debug: output piped through the runner)' if debug else ''};"
        f" {reps} reps per side")

    def runner_once(recipe: Path, script: str) -> tuple[float, int, int]:
        wd = fresh_workdir(bench, "stream")
        shutil.copy2(bench / script, wd / script)
        try:
            argv = [PY, str(RUNNER), "--recipe", str(recipe), "--workdir", str(wd), "--plain", *extra]
            elapsed, peak = run_polled(argv, ROOT, env, out=bench / "stream-console.txt")
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

    ref_peaks = [runner_once(recipe_ref, "step.sh")[1] for _ in range(2)]
    runner_s, base_s, peaks = [], [], []
    for rep in range(reps):
        order = ("base", "runner") if rep % 2 == 0 else ("runner", "base")
        for side in order:
            if side == "base":
                base_s.append(baseline_once())
            else:
                elapsed, peak, size = runner_once(recipe_stream, "stream.sh")
                if size < GIB:
                    raise WorkloadError(f"{label}: the step log holds {size} bytes, expected at least {GIB}")
                runner_s.append(elapsed)
                peaks.append(peak)
        log(f"{label}: rep {rep + 1}/{reps}: baseline {base_s[-1]:.3f} s, runner {runner_s[-1]:.3f} s, "
            f"runner peak {peaks[-1] / MIB:.1f} MB")
    ref = max(ref_peaks)
    growth = max(peaks) - ref
    mb, mr = statistics.median(base_s), statistics.median(runner_s)
    return dict(kind="stream", title=f"1 GiB on stdout{', runner --debug' if debug else ''}", debug=debug, reps=reps,
                baseline_cmd="bash -c 'bash stream.sh > LOG 2>&1'", baseline_s=base_s, runner_s=runner_s,
                median_baseline_s=mb, median_runner_s=mr, ratio=mr / mb, runner_peak_rss_bytes=peaks,
                reference_peak_rss_bytes=ref_peaks, rss_growth_bytes=growth,
                target="RSS growth < 60 MB", target_value=60 * MIB, passed=growth < 60 * MIB)


# --------------------------------------------------------------------------- output


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def noisy(values: list[float]) -> bool:
    """True when the samples spread by more than 30% of their median: the machine was not quiet."""
    return len(values) > 1 and (max(values) - min(values)) > 0.3 * statistics.median(values)


def verdict(ok: Optional[bool]) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def render_table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, ...]] = []
    head = ("workload", "what", "baseline median (min-max)", "runner median (min-max)", "ratio", "ovh ms/step",
            "target", "result", "cpu ms/step")
    notes: list[str] = []
    errors: list[str] = []
    for key in (*WORKLOADS, "stream_debug"):
        r = results.get(key)
        if r is None or (key == "stream_debug" and "error" not in r):  # shown as a line under the table
            continue
        if "error" in r:
            rows.append((key, r.get("title", ""), "", "", "", "", "", "ERROR", ""))
            errors.append(f"{key}: " + " | ".join(r["error"].strip().splitlines()[:3])[:300])
            continue
        kind = r["kind"]
        if kind == "comparison":
            rows.append((key, r["title"], fmt_s(r["baseline_s"]), fmt_s(r["runner_s"]), f"{r['ratio']:.2f}x",
                         f"{r['overhead_ms_per_step']:.2f}", r["target"],
                         verdict(r["passed"]) + (" (noisy)" if r.get("noisy") else ""),
                         f"{r['cpu_overhead_ms_per_step']:+.2f}"))
            notes.append(f"{key}: median of the per-repetition differences (paired, cancels drift between pairs): "
                         f"{r['paired_overhead_ms_per_step']:.2f} ms/step; CPU: runner tree "
                         f"{r['median_runner_cpu_s']:.2f} s vs baseline tree {r['median_baseline_cpu_s']:.2f} s")
            if r.get("median_runner_reported_run_s") is not None:
                inner = r["median_runner_reported_run_s"]
                notes.append(f"{key}: run loop {inner:.3f} s (the runner's own 'SUCCEEDED in' figure) -> "
                             f"{r['loop_overhead_ms_per_step']:.2f} ms/step over the baseline; the other "
                             f"{r['median_runner_s'] - inner:.3f} s of the runner's wall time is interpreter start, "
                             "imports, recipe load, database set-up and teardown")
        elif kind == "single":
            rows.append((key, r["title"], f"python -c pass: {statistics.median(r['python_floor_s']):.3f} s",
                         fmt_s(r["samples_s"]), "", "", r["target"], verdict(r["passed"]), ""))
        elif kind == "scale":
            rows.append((key, r["title"] + " --validate", "", fmt_s(r["validate_s"]), "", "", "(info)", "-", ""))
            rows.append((key, r["title"] + " --dry-run", "", fmt_s(r["dry_run_s"]), "", "", "< 1 s",
                         verdict(r["passed_time"]), ""))
            rows.append((key, "peak RSS (validate / dry-run)", "",
                         f"{r['peak_rss_by_mode']['validate'] / MIB:.1f} / {r['peak_rss_by_mode']['dry_run'] / MIB:.1f} MB",
                         "", "", "< 100 MB", verdict(r["passed_rss"]), ""))
        elif kind == "rss":
            rows.append((key, r["title"], "", f"{r['peak_rss_bytes'] / MIB:.1f} MB", "", "", r["target"],
                         verdict(r["passed"]), ""))
        elif kind == "stream":
            rows.append((key, r["title"] + ": time", fmt_s(r["baseline_s"]), fmt_s(r["runner_s"]),
                         f"{r['ratio']:.2f}x", "", "(info)", "-", ""))
            rows.append((key, r["title"] + ": runner RSS growth", "",
                         f"{r['rss_growth_bytes'] / MIB:+.1f} MB (peak {max(r['runner_peak_rss_bytes']) / MIB:.1f}"
                         f" vs 1-step {r['reference_peak_rss_bytes'] and max(r['reference_peak_rss_bytes']) / MIB:.1f})",
                         "", "", r["target"], verdict(r["passed"]), ""))
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    if errors:
        out += ["", "Errors (the full message is in the JSON and above on stderr):"] + [f"  {e}" for e in errors]
    if notes:
        out += ["", "Where the runner's time goes (information only; targets use the whole-process figures above):"]
        out += [f"  {n}" for n in notes]
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
    parser.add_argument("--quick", action="store_true", help="3 repetitions per side instead of 5; fewer samples")
    parser.add_argument("--only", default="", metavar="W1,W3",
                        help=f"run just these workloads (comma-separated, case-insensitive): {', '.join(WORKLOADS)}")
    parser.add_argument("--reps", type=int, metavar="N", help="repetitions per side for W1-W4 (overrides --quick)")
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
    comps = comparisons(bench)
    results: dict[str, Any] = {}
    t_start = time.perf_counter()
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "startup": lambda: bench_startup(bench, 10 if args.quick else 20),
        **{k: (lambda c=c: bench_comparison(bench, c, reps)) for k, c in comps.items()},
        "scale": lambda: bench_scale(bench, 3),
        "rss": lambda: bench_rss(bench, comps),
        "stream": lambda: bench_stream(bench, 2 if args.quick else 3, debug=False),
    }
    order = ["startup", "W1", "W2", "W3", "W4", "scale", "rss", "stream", "stream_debug"]
    if "stream" in args.selected and not args.no_debug_stream and not args.quick:
        jobs["stream_debug"] = lambda: bench_stream(bench, 1, debug=True)  # information only
        args.selected.append("stream_debug")
    try:
        for key in order:
            if key not in args.selected:
                continue
            t0 = time.perf_counter()
            load_before = os.getloadavg()
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
    print(f"Runner vs baseline ({'quick, ' if args.quick else ''}{reps} reps per side for W1-W4, interleaved; "
          f"medians; {os.cpu_count()} CPUs; {pyc + '; ' if pyc else ''}bench took {total:.0f} s)")
    print()
    print(render_table(table_results))
    loads = [v["loadavg_before"][0] for v in results.values() if "loadavg_before" in v]
    if loads and max(loads) > 0.5:
        print(f"\nNote: the 1-minute load average reached {max(loads):.2f} on {os.cpu_count()} CPUs before some "
              "workloads: other processes were running, so absolute figures are noisy; rows marked (noisy) "
              "spread by more than 30% between repetitions.")
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
