"""The bench's floor loop (tests/bench/floor_loop.py) does the work it claims: every step once, each after its
dependencies, no more at once than its slots, each into its own log; and it fails when a step fails."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import PY, REPO

FLOOR = REPO / "tests" / "bench" / "floor_loop.py"
# each step appends "start NAME" and "end NAME" to order.txt, with a pause between, and prints its name
STEP = 'echo "start $1" >> order.txt; sleep 0.05; echo "end $1" >> order.txt; echo "I am $1"; exit "${2:-0}"'


def run_floor(tmp_path: Path, steps: list[tuple[str, list[int], int]], slots: int) -> subprocess.CompletedProcess[str]:
    plan = [{"argv": ["/bin/bash", "-c", STEP, "step", name, str(code)], "log": name, "deps": deps}
            for name, deps, code in steps]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "logs").mkdir()
    return subprocess.run([PY, str(FLOOR), "plan.json", str(slots), "logs"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_every_step_runs_after_its_dependencies_within_its_slots(tmp_path: Path) -> None:
    done = run_floor(tmp_path, [("a", [], 0), ("b", [0], 0), ("c", [0], 0), ("d", [1, 2], 0), ("e", [], 0)], 2)
    assert done.returncode == 0, done.stderr
    events = (tmp_path / "order.txt").read_text().split("\n")[:-1]
    assert sorted(events) == sorted(f"{kind} {n}" for n in "abcde" for kind in ("start", "end"))
    position = {event: i for i, event in enumerate(events)}
    for step, deps in {"b": "a", "c": "a", "d": "bc"}.items():
        assert all(position[f"end {dep}"] < position[f"start {step}"] for dep in deps)
    running = peak = 0
    for event in events:
        running += 1 if event.startswith("start") else -1
        peak = max(peak, running)
    assert peak == 2
    for name in "abcde":
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert log.startswith(f"===== attempt 1 of step {name} started") and f"I am {name}\n" in log
        assert log.endswith("ended: exit 0 =====\n")


def test_a_failing_step_fails_the_loop(tmp_path: Path) -> None:
    done = run_floor(tmp_path, [("a", [], 0), ("b", [0], 3), ("c", [1], 0)], 1)
    assert done.returncode == 1 and "step b failed" in done.stderr
    assert not (tmp_path / "logs" / "c.log").exists()


def test_the_bench_names_the_hypervisors_steal_time() -> None:
    """A busy VM host slows every side of the bench unevenly: the table says so, not leaving a MISS unexplained."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import bench

    # user nice system idle iowait irq softirq steal: 100 ticks, 20 of them stolen
    assert bench.steal_percent([0] * 8, [40, 0, 10, 30, 0, 0, 0, 20]) == 20.0
    assert bench.steal_percent(None, [1] * 8) is None and bench.steal_percent([0] * 8, [0] * 8) is None
    assert bench.verdict(False, True, 20.0) == "MISS (noisy, 20% steal)"
    assert bench.verdict(True, False, 1.0) == "PASS"
    assert bench.cpu_times() is None or len(bench.cpu_times() or []) >= 8


def test_the_bench_warns_of_stale_bytecode(tmp_path: Path) -> None:
    """With PYTHONDONTWRITEBYTECODE set, an edited module is compiled at every runner start (~60 ms here): a bench
    run after an edit without `make bytecode` measured start-up 50 % slower."""
    import os
    import py_compile
    import sys
    import time

    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import bench

    source = tmp_path / "pkg" / "mod.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    assert bench.stale_bytecode(tmp_path) == ["pkg/mod.py"]  # never compiled
    py_compile.compile(str(source))
    assert bench.stale_bytecode(tmp_path) == []
    later = time.time() + 10
    os.utime(source, (later, later))  # edited after it was compiled
    assert bench.stale_bytecode(tmp_path) == ["pkg/mod.py"]
