"""Runs written straight into a run database and context file, with the engine's own schema.

For report tests that need shapes a real run is slow to produce (500 steps, 10,000 context changes) or
exact values to compare (durations, statuses). The schema comes from engine/rundb.py (RunDB creates it)
and context.ContextStore, so a schema change breaks these tests rather than silently diverging.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from context import ContextStore
from engine.paths import Paths
from engine.rundb import RunDB
from reports import model

TS = "2026-01-02T03:05:00.000001Z"  # when every synthetic context change was made


@dataclass
class FakeStep:
    name: str
    status: str = "succeeded"
    duration: Optional[float] = 1.0
    reason: Optional[str] = None
    exit_code: Optional[int] = 0
    attempts: int = 1
    log_lines: list[str] = field(default_factory=list)
    max_rss: int = 50 * 1048576
    tolerated: bool = False


def write_run(workdir: Path, run_id: str, steps: list[FakeStep], writes: list[tuple[str, str, Any]],
              recipe: str = "/recipes/synthetic.yaml", verdict: str = "succeeded",
              test_meta: Optional[dict[str, Any]] = None, started: str = "2026-01-02T03:04:05.000000Z",
              parent_run: Optional[str] = None) -> Path:
    """Record a finished run: its row, steps (with logs) and attempts, and a context file holding `writes`
    ((who, key, value) in order; value None deletes). Returns the work folder's run database path."""
    paths = Paths.for_workdir(workdir)
    meta = test_meta if test_meta is not None else {"test_id": "T-9", "tester": "synth", "description": "synthetic"}
    ctx_path = paths.runs / run_id / "context.db"
    ctx_path.parent.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    db = RunDB(paths.db)
    conn = db.conn
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO runs(id, recipe_path, recipe_name, recipe_sha256, test_id, tester, description, test_meta, host, "
        "user, pid, argv, mode, slots, started, ended, duration, verdict, parent_run, log_prefix, ctx_path) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (run_id, recipe, Path(recipe).stem, "0" * 64, meta.get("test_id"), meta.get("tester"), meta.get("description"),
         json.dumps(meta), "bench-host", "tester", 1, json.dumps(["runner.py", "--recipe", recipe]), "parallel", 4,
         started, "2026-01-02T03:14:05.000000Z", sum(s.duration or 0 for s in steps), verdict, parent_run,
         str(paths.logs / run_id), str(ctx_path)))
    for pos, step in enumerate(steps):
        log = paths.logs / f"{run_id}_{step.name}.log"
        log.write_text("".join(f"{line}\n" for line in step.log_lines) or "ok\n")
        ran = step.status not in ("skipped", "pending")
        conn.execute(
            "INSERT INTO steps(run_id, name, position, idx, status, attempts, started, ended, duration, cpu, max_rss, "
            "exit_code, reason, log_path, tolerated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, step.name, pos, float(pos + 1), step.status, step.attempts if ran else 0,
             "2026-01-02T03:04:06.500000Z" if ran else None, "2026-01-02T03:04:07.500000Z" if ran else None,
             step.duration if ran else None, (step.duration or 0) / 2 if ran else None, step.max_rss if ran else None,
             step.exit_code if ran else None, step.reason, str(log) if ran else None, int(step.tolerated)))
        for attempt in range(1, (step.attempts if ran else 0) + 1):
            conn.execute("INSERT INTO attempts(run_id, step, attempt, pid, started, duration, cpu, max_rss, exit_code, "
                         "reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (run_id, step.name, attempt, 1000 + pos, "2026-01-02T03:04:06.500000Z", step.duration,
                          (step.duration or 0) / 2, step.max_rss, step.exit_code, step.reason))
    conn.execute("COMMIT")
    db.close()
    _write_context(ctx_path, run_id, writes)
    return paths.db


def _write_context(path: Path, run_id: str, writes: list[tuple[str, str, Any]]) -> None:
    store = ContextStore(path, durable=False)
    batch: list[dict[str, Any]] = []
    who = None
    for writer, key, value in writes:
        if who is not None and writer != who:
            store.commit(batch, who, 1, run_id)
            batch = []
        who = writer
        if value is None:
            batch.append({"key": key, "op": "delete", "ts": TS})
        else:
            batch.append({"key": key, "op": "set", "value_json": json.dumps(value), "ts": TS})
    if batch and who is not None:
        store.commit(batch, who, 1, run_id)
    store.close()


def big_run(workdir: Path, run_id: str = "20260102T030405Z-big0", steps: int = 500, changes: int = 10_000) -> Path:
    """A 500-step run with 10,000 context changes: a few failures with long logs, skips, an abort."""
    fake = []
    for i in range(steps):
        reason: Optional[str] = None
        code: Optional[int] = 0
        status = "succeeded"
        if i % 50 == 7:
            status, reason, code = "failed", f"exit code {i % 5 + 1}", i % 5 + 1
        elif i % 50 == 8:
            status, reason, code = "skipped", f"upstream step 'step_{i - 1:03d}' failed", None
        elif i == steps - 1:
            status, reason, code = "aborted", "interrupted by SIGINT", None
        lines = [f"step {i} line {n}: measured {n * 0.5:.1f} V" for n in range(200)] if status != "succeeded" else []
        fake.append(FakeStep(f"step_{i:03d}", status, 0.5 + (i % 37) * 0.1, reason, code, 1 + (i % 50 == 7), lines))
    writes = [(f"step_{n % steps:03d}", f"key_{n % 700:04d}",
               {"n": n, "values": list(range(n % 20)), "label": f"value number {n}"}) for n in range(changes)]
    return write_run(workdir, run_id, fake, writes, verdict="aborted")


REAL_RECIPE = """
execution: {mode: parallel, max_parallel: 2}
steps:
  - {name: first, type: shell, cmd: scripts/ok.sh, args: {set: 'answer=42'}}
  - {name: formula, type: shell, cmd: scripts/ok.sh, args: {set: 'sheet==SUM(A1:A9)'}, depends_on: [first]}
  - {name: broken, type: shell, cmd: scripts/fail.sh, args: {code: 7}}
  - {name: after_broken, type: shell, cmd: scripts/ok.sh, depends_on: [broken]}
  - name: flaky
    type: shell
    cmd: scripts/flaky.sh
    args: {counter: flaky.count, fail_times: 1}
    retries: 1
    retry_delay: 0
"""


def real_run(wd: Any) -> str:
    """Run REAL_RECIPE with the runner in the fixture work folder `wd` (a conftest.Workdir); its run id.
    Outcome: first, formula, flaky (2nd attempt) succeed; broken fails (exit code 7); after_broken is skipped."""
    proc = wd.run(wd.recipe(REAL_RECIPE, name="reportme.yaml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return wd.run_ids()[-1]


def load_report(workdir: Path, ref: str = "latest", with_history: bool = True) -> model.RunReport:
    """The RunReport of a run of the work folder, as tools/report.py loads it."""
    paths = Paths.for_workdir(workdir)
    db = model.open_db(paths)
    try:
        return model.load_run(db, model.resolve_run_id(db, ref), paths, with_history=with_history)
    finally:
        db.close()
