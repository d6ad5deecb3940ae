"""Benchmark the monitor's server side on a large synthetic work folder.

Builds (with the engine's own schema: RunDB for the run database, ContextStore for a context file) a work folder
with N runs (default 5,000, 6 steps each, 10 events each) and one big run with 500 steps and a context of
10,000 changes (1,000 keys x 10), then times the data and layout functions behind each page, and the whole
Dash callback round trip through Flask's test client (JSON encoding included).

Usage:
    .venv/bin/python tests/monitor/bench_monitor.py [--runs 5000] [--steps 500] [--changes 10000] [--keys 1000]
                                                    [--repeat 5] [--keep DIR]

Prints one line per measurement (best and median of --repeat, in ms) and exits 1 if a page-level figure
(the `page:` lines) exceeds 1 s.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ORCH = Path(__file__).resolve().parents[2] / "orchestrator"
if str(ORCH) not in sys.path:
    sys.path.insert(0, str(ORCH))

BIG_RUN = "20990101T000000Z-big0"
RECIPES = ("demo", "template", "burn_in", "calibrate", "smoke")
TESTERS = ("alice", "bob", "carol", "dave")
VERDICTS = ("succeeded",) * 7 + ("failed", "failed", "aborted")
STEP_NAMES = ("generate", "preprocess", "metrics", "histogram", "check", "summary")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def build(workdir: Path, runs: int = 5000, big_steps: int = 500, changes: int = 10000, keys: int = 1000,
          seed: int = 1) -> str:
    """Fill workdir/Data/orchestrator.db (and the big run's context and a log). Returns the big run's id."""
    from engine.rundb import RunDB

    rnd = random.Random(seed)
    (workdir / "Logs").mkdir(parents=True, exist_ok=True)
    db = RunDB(workdir / "Data" / "orchestrator.db")
    conn = db.conn
    t0 = datetime(2026, 9, 1, tzinfo=timezone.utc)
    run_rows, step_rows, event_rows = [], [], []
    for i in range(runs):
        started = t0 + timedelta(minutes=17 * i)
        run_id = f"{started:%Y%m%dT%H%M%SZ}-{i:04x}"
        verdict, recipe = rnd.choice(VERDICTS), RECIPES[i % len(RECIPES)]
        run_rows.append((run_id, f"/lab/recipes/{recipe}.yaml", recipe, f"T-{i % 40:03d}", TESTERS[i % 4],
                         json.dumps({"tester": TESTERS[i % 4]}), "bench", "lab", 1, "parallel", 2,
                         _stamp(started), _stamp(started + timedelta(seconds=40)), 40.0, verdict,
                         str(workdir / "Logs" / run_id), None))
        for pos, name in enumerate(STEP_NAMES):
            status = "failed" if verdict == "failed" and pos == 4 else ("skipped" if verdict == "failed" and pos == 5
                                                                         else "succeeded")
            step_rows.append((run_id, name, pos, pos + 1.0, status, 1, _stamp(started + timedelta(seconds=6 * pos)),
                              _stamp(started + timedelta(seconds=6 * pos + 5)), 5.0 + rnd.random(), 1.0, 15_000_000,
                              0 if status == "succeeded" else 3, "exit code 3" if status == "failed" else None, None))
        event_rows += [(run_id, _stamp(started), "step_finished", None, "{}")] * 10
    big = _big_run(workdir, t0 + timedelta(minutes=17 * runs + 60), big_steps, changes, keys, rnd)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runs(id, recipe_path, recipe_name, test_id, tester, test_meta, host, user, pid, "
                     "mode, slots, started, ended, duration, verdict, log_prefix, ctx_path) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", run_rows + [big["run"]])
    conn.executemany("INSERT INTO steps(run_id, name, position, idx, status, attempts, started, ended, duration, cpu, "
                     "max_rss, exit_code, reason, log_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     step_rows + big["steps"])
    conn.executemany("INSERT INTO events(run_id, ts, kind, step, detail) VALUES (?,?,?,?,?)",
                     event_rows + big["events"])
    conn.execute("COMMIT")
    db.close()
    return BIG_RUN


def _big_run(workdir: Path, started: datetime, n_steps: int, changes: int, keys: int,
             rnd: random.Random) -> dict[str, Any]:
    """Rows of a 500-step run, its context file (changes spread over keys) and one 1 MB log."""
    from context import ContextStore, to_json

    ctx_path = workdir / "Data" / "runs" / BIG_RUN / "context.db"
    ctx_path.parent.mkdir(parents=True)
    store = ContextStore(ctx_path)
    for batch in range(0, changes, 500):
        writes = [{"key": f"key_{(batch + j) % keys:05d}", "op": "set",
                   "value_json": to_json("k", {"n": batch + j, "samples": [rnd.random() for _ in range(5)]})}
                  for j in range(min(500, changes - batch))]
        store.commit(writes, who=f"step_{batch // 500:03d}", attempt=1, run_id=BIG_RUN)
    store.close()
    log = workdir / "Logs" / f"{BIG_RUN}_step_000.log"
    log.write_text("".join(f"line {i} <b>not html</b> " + "x" * 60 + "\n" for i in range(15000)))
    statuses = ["succeeded"] * 8 + ["failed", "running"]
    steps = [(BIG_RUN, f"step_{i:03d}", i, float(i + 1), statuses[i % 10], 1 + (i % 3 == 0),
              _stamp(started + timedelta(seconds=i)), _stamp(started + timedelta(seconds=i + 3)), 3.0 + rnd.random(),
              1.2, 20_000_000 + i, 0 if i % 10 != 8 else 1, "exit code 1" if i % 10 == 8 else None,
              str(log) if i == 0 else None) for i in range(n_steps)]
    run = (BIG_RUN, "/lab/recipes/big.yaml", "big", "BIG-1", "alice", "{}", "bench", "lab", 1, "parallel", 8,
           _stamp(started), None, None, "running", str(workdir / "Logs" / BIG_RUN), str(ctx_path))
    return {"run": run, "steps": steps, "events": [(BIG_RUN, _stamp(started), "step_started", None, "{}")] * 1000}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(best, median) wall time of fn in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times), statistics.median(times)


class CallbackClient:
    """Calls Dash callbacks the way the browser does (POST /_dash-update-component) through Flask's test client."""

    def __init__(self, app: Any) -> None:
        self.client = app.server.test_client()
        self.deps = self.client.get("/_dash-dependencies").get_json()

    def call(self, output_contains: str, values: dict[str, Any], changed: str) -> Any:
        spec = next(d for d in self.deps if output_contains in d["output"])
        outputs = [dict(zip(("id", "property"), o.rsplit(".", 1), strict=True))
                   for o in spec["output"].strip(".").split("...")]

        def fill(items: list[dict[str, str]]) -> list[dict[str, Any]]:
            return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

        body = {"output": spec["output"], "outputs": outputs if spec["output"].startswith("..") else outputs[0],
                "inputs": fill(spec["inputs"]), "state": fill(spec["state"]), "changedPropIds": [changed]}
        response = self.client.post("/_dash-update-component", json=body)
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
        return response


def measure(workdir: Path, big: str, repeat: int) -> list[tuple[str, float, float]]:
    """Every measurement as (label, best ms, median ms)."""
    from scriptlets.python.apps import monitor_callbacks as cb
    from scriptlets.python.apps import monitor_layout as layout
    from scriptlets.python.apps.monitor import create_app
    from scriptlets.python.apps.monitor_context import context_keys, key_history
    from scriptlets.python.apps.monitor_data import Database, RunFilter

    db = Database(workdir / "Data" / "orchestrator.db", workdir)
    ctx = str(workdir / "Data" / "runs" / big / "context.db")
    client = CallbackClient(create_app(db))
    steps = db.steps(big)
    plans: list[tuple[str, Callable[[], Any]]] = [
        ("data: list_runs page 1 (25 of all)", lambda: db.list_runs(RunFilter(), 25, 0)),
        ("data: list_runs verdict=failed since, page 20", lambda: db.list_runs(
            RunFilter(verdict="failed", since="2026-09-15"), 25, 500)),
        ("data: filter_options", db.filter_options),
        ("data: global_cursor (idle tick)", db.global_cursor),
        ("layout: runs_table (25)", lambda: layout.runs_table(db.list_runs(RunFilter(), 25, 0)[1])),
        ("layout: runs page (route function)", lambda: cb.render(db, "/", 1000)),
        ("page: runs page via HTTP (route callback)",
         lambda: client.call("page.children", {"url.pathname": "/"}, "url.pathname")),
        ("page: runs table callback via HTTP", lambda: client.call("runs-table.children", {}, "runs-cursor.data")),
        ("data: run_cursor (idle tick)", lambda: db.run_cursor(big)),
        ("data: steps (500)", lambda: db.steps(big)),
        ("layout: steps_table (500)", lambda: layout.steps_table(steps)),
        ("layout: gantt_figure (500) + to_json", lambda: layout.gantt_figure(steps).to_json()),
        ("data: context_keys page 1 (of 10k changes)", lambda: context_keys(ctx, "", 15, 0)),
        ("data: context_keys filtered 'key_009'", lambda: context_keys(ctx, "key_009", 15, 0)),
        ("data: key_history (10 changes)", lambda: key_history(ctx, "key_00042")),
        ("data: log_tail 64 KB of 1 MB", lambda: db.log_tail(big, "step_000")),
        ("layout: run page (route function)", lambda: cb.render(db, f"/run/{big}", 1000)),
        ("page: run page via HTTP (route callback)",
         lambda: client.call("page.children", {"url.pathname": f"/run/{big}"}, "url.pathname")),
        ("page: run refresh callback via HTTP (header, 500 steps, gantt)",
         lambda: client.call("steps-table.children", {"run-id.data": big, "run-cursor.data": 1}, "run-cursor.data")),
        ("page: context table callback via HTTP", lambda: client.call(
            "ctx-table.children", {"run-id.data": big, "ctx-cursor.data": 1},
            "ctx-cursor.data")),
        ("page: idle tick callback via HTTP (no_update)", lambda: client.call(
            "run-cursor.data", {"run-id.data": big, "run-cursor.data": cb.live_cursor(db, big)[0]},
            "run-tick.n_intervals")),
    ]
    return [(label, *timed(fn, repeat)) for label, fn in plans]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--changes", type=int, default=10000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp) / "work"
        t = time.perf_counter()
        big = build(workdir, args.runs, args.steps, args.changes, args.keys)
        print(f"built {args.runs} runs + 1 run of {args.steps} steps and {args.changes} context changes over "
              f"{args.keys} keys in {time.perf_counter() - t:.1f} s")
        results = measure(workdir, big, args.repeat)
    width = max(len(label) for label, *_ in results)
    for label, best, median in results:
        print(f"{label:<{width}}  best {best:8.1f} ms  median {median:8.1f} ms")
    slow = [label for label, best, median in results if label.startswith("page:") and median > 1000]
    if slow:
        print("over 1 s: " + ", ".join(slow))
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
