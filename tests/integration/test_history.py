"""Run history and context durability: crashes, RAM mode, exposure to shell steps, metadata, live reads."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

from conftest import ORCH, PY, Workdir, pids_alive


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def start_runner(wd: Workdir, recipe, *flags: str) -> subprocess.Popen:
    cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path), *flags]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_runner_is_marked_crashed_and_resumable(wd: Workdir) -> None:
    pids = wd.path / "pids"
    recipe = wd.recipe(f"""
steps:
  - {{name: done_before, type: shell, cmd: scripts/ok.sh, args: {{set: 'kept=1'}}}}
  - {{name: hanging, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}, depends_on: [done_before]}}
""")
    runner = start_runner(wd, recipe)
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3)
    wait_for(lambda: len(list(wd.path.glob("Data/runs/*/pids/hanging.1"))) == 1)
    time.sleep(0.2)  # the tree has been sampled and its pids recorded
    # the database is readable by another process while the run is in progress (WAL)
    conn = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    assert conn.execute("SELECT verdict FROM runs").fetchone()[0] == "running"
    assert dict(conn.execute("SELECT name, status FROM steps")) == {"done_before": "succeeded", "hanging": "running"}
    conn.close()
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=10)
    grandchildren = [int(p) for p in pids.read_text().split()]
    assert len(pids_alive(grandchildren)) == 3  # the step's tree outlives its runner, in its own session...
    (wd.path / "scripts" / "tree.sh").write_text("#!/usr/bin/env bash\necho quick now\n")
    resumed = wd.run(recipe, "--resume-from", "hanging")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    time.sleep(0.2)
    assert pids_alive(grandchildren) == []  # ...until the next runner finds the crashed run and ends it
    first, second = wd.run_ids()
    conn = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    assert conn.execute("SELECT verdict FROM runs WHERE id = ?", (first,)).fetchone()[0] == "crashed"
    assert conn.execute("SELECT status FROM steps WHERE run_id = ? AND name = 'hanging'", (first,)).fetchone()[0] \
        == "aborted"
    assert conn.execute("SELECT parent_run FROM runs WHERE id = ?", (second,)).fetchone()[0] == first
    conn.close()
    assert wd.steps(second)["done_before"]["status"] == "reused"
    env = {**os.environ, "ORCH_WORKDIR": str(wd.path)}
    kept = subprocess.run([PY, str(ORCH / "context.py"), "--run", second, "get", "kept"], capture_output=True,
                          text=True, env=env)
    assert kept.stdout.strip() == "1"  # the committed write of the crashed run survived


def test_store_on_ram_copies_context_to_data_at_the_end(wd: Workdir) -> None:
    (wd.path / "store_on_ram.txt").write_text("true\n")
    recipe = wd.recipe("""
steps:
  - {name: w, type: shell, cmd: scripts/ok.sh, args: {set: 'x=[1, 2]'}}
  - {name: show, type: shell, cmd: scripts/env.sh, depends_on: [w]}
""")
    assert wd.run(recipe).returncode == 0
    assert "ORCH_CTX_DB=/dev/shm/" in wd.logs("show")
    run_id = wd.run_ids()[-1]
    store = wd.path / "Data" / "runs" / run_id / "context.db"
    assert store.exists()
    assert not list((wd.path / "Data" / "runs" / run_id).glob("*.db-wal"))
    values = dict(sqlite3.connect(store).execute("SELECT key, value FROM changes"))
    assert json.loads(values["x"]) == [1, 2]


def test_store_on_ram_with_a_bad_value_is_refused(wd: Workdir) -> None:
    (wd.path / "store_on_ram.txt").write_text("yes")
    proc = wd.run(wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"))
    assert proc.returncode == 2 and "store_on_ram.txt: must hold 'true' or 'false'" in proc.stderr


def test_expose_for_shell(wd: Workdir) -> None:
    recipe = wd.recipe("""
steps:
  - {name: w, type: shell, cmd: scripts/ok.sh, args: {set: 'limits={"max": 4.5}'}}
  - {name: w2, type: shell, cmd: scripts/ok.sh, args: {set: 'bench-name="B 3"'}, depends_on: [w]}
  - {name: show, type: shell, cmd: scripts/env.sh, expose_for_shell: true, depends_on: [w2]}
  - {name: some, type: shell, cmd: scripts/env.sh, expose_for_shell: [limits], depends_on: [w2]}
""")
    assert wd.run(recipe).returncode == 0
    log = wd.logs("show")
    assert 'CTX_LIMITS={"max": 4.5}' in log  # JSON for non-strings
    assert "CTX_BENCH_NAME=B 3" in log  # strings as they are; '-' becomes '_'
    assert "CTX_TEST_META=" in log
    some = wd.logs("some")
    assert "CTX_LIMITS=" in some and "CTX_BENCH_NAME" not in some


def test_scriptlet_metadata_and_events_are_recorded(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: noop, type: python, module: scriptlets.python.steps.noop}\n")
    assert wd.run(recipe).returncode == 0
    row = wd.steps()["noop"]
    figures = json.loads(row["metadata"])["run"]
    assert set(figures) >= {"wall_s", "cpu_s", "peak_rss_mb"} and figures["peak_rss_mb"] > 1
    conn = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    rows = conn.execute("SELECT kind, step, detail FROM events ORDER BY id").fetchall()
    assert rows[0][0] == "run_started" and rows[-1][0] == "run_finished"
    # step changes are one `steps` row per batch, naming what changed (the details are in steps/attempts)
    changes = [json.loads(detail) for kind, _, detail in rows if kind == "steps"]
    assert {"noop": 1} in [c.get("started") for c in changes]
    assert {"noop": "succeeded"} in [c.get("finished") for c in changes]


def test_the_change_feed_names_retries(wd: Workdir) -> None:
    recipe = wd.recipe(f"""
steps:
  - {{name: flaky, type: shell, cmd: scripts/flaky.sh, args: {{counter: {wd.path / 'c'}, fail_times: 1}}, retries: 1}}
""")
    assert wd.run(recipe).returncode == 0
    conn = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    changes = [json.loads(d) for (d,) in conn.execute("SELECT detail FROM events WHERE kind = 'steps' ORDER BY id")]
    retrying = [c["retrying"]["flaky"] for c in changes if "retrying" in c]
    assert len(retrying) == 1 and retrying[0]["attempt"] == 1
    assert retrying[0]["reason"].startswith("exit code 1: run 1 at ")  # with the attempt's last output line
    assert [c["started"]["flaky"] for c in changes if "started" in c] == [1, 2]
    attempts = conn.execute("SELECT attempt, exit_code FROM attempts ORDER BY attempt").fetchall()
    assert attempts == [(1, 1), (2, 0)]


def test_newer_database_is_refused(wd: Workdir) -> None:
    (wd.path / "Data").mkdir(parents=True)
    conn = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    proc = wd.run(wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"))
    assert proc.returncode == 2 and "written by a newer orchestrator" in proc.stderr


def test_finding_crashed_runs_reads_an_index_not_every_run(wd: Workdir) -> None:
    """Every start looks for runs left 'running' by a dead runner; scanning the runs table (each row holds its
    recipe's text) made start-up grow with the history."""
    from engine.rundb import RUNS_STILL_RUNNING, RunDB

    db = RunDB(wd.path / "Data" / "orchestrator.db")
    plan = db.conn.execute(f"EXPLAIN QUERY PLAN {RUNS_STILL_RUNNING}", ("running",)).fetchall()
    db.close()
    assert "USING INDEX runs_verdict" in " ".join(row[-1] for row in plan), plan


def test_corrupt_database_is_refused(wd: Workdir) -> None:
    (wd.path / "Data").mkdir(parents=True)
    (wd.path / "Data" / "orchestrator.db").write_bytes(b"this is not sqlite" * 100)
    proc = wd.run(wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"))
    assert proc.returncode == 2 and "not a usable run database" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_step_process_survives_sigterm_of_the_runner(wd: Workdir) -> None:
    pids = wd.path / "pids"
    recipe = wd.recipe(f"steps:\n  - {{name: t, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}}}\n")
    runner = start_runner(wd, recipe)
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3)
    runner.send_signal(signal.SIGTERM)
    runner.communicate(timeout=30)
    assert runner.returncode == 143
    time.sleep(0.2)
    assert pids_alive([int(p) for p in pids.read_text().split()]) == []
    assert wd.steps()["t"]["status"] == "aborted"


def test_retention_prunes_old_runs_with_their_files(wd: Workdir) -> None:
    from reports import FORMATS

    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh, args: {set: 'x=1'}}\n")
    for _ in range(3):
        assert wd.run(recipe).returncode == 0
    first, second, third = wd.run_ids()
    reports = wd.path / "Data" / "reports"
    assert {p.name for p in reports.iterdir()} == {f"{run}.xlsx" for run in (first, second, third)}  # the runner's
    for run in (first, second, third):  # every other format at its default place
        for suffix in FORMATS.values():
            if not (reports / f"{run}{suffix}").exists():
                (reports / f"{run}{suffix}").write_text(f"report of {run}\n")
    compare = subprocess.run([PY, str(ORCH / "tools" / "report.py"), "compare", first, third, "--format", "xlsx",
                              "--workdir", str(wd.path)], capture_output=True, text=True)
    assert compare.returncode == 0, compare.stderr
    (reports / f"compare_{second}_{first}.xlsx").write_text("both pruned\n")
    (reports / f"compare_{third}_{third}.xlsx").write_text("kept only\n")
    (reports / "notes.txt").write_text("not a report of a run\n")
    (reports / f"{first}.xlsx.bak").write_text("not at a report's default place\n")
    pruned_reports = {f"{run}{suffix}" for run in (first, second) for suffix in FORMATS.values()} \
        | {f"compare_{first}_{third}.xlsx", f"compare_{second}_{first}.xlsx"}
    before = {p.name for p in reports.iterdir()}
    assert pruned_reports < before
    tool = [PY, str(ORCH / "tools" / "retention.py"), "--workdir", str(wd.path)]
    dry = subprocess.run([*tool, "--keep", "1", "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0 and "would prune 2 run(s)" in dry.stdout, dry.stdout + dry.stderr
    assert f"({len(pruned_reports)} report(s))" in dry.stdout
    listed = dry.stdout.splitlines()
    assert {line.strip() for line in listed if line.startswith("  Data/reports/")} \
        == {f"Data/reports/{name}" for name in pruned_reports}
    assert len(wd.run_ids()) == 3 and {p.name for p in reports.iterdir()} == before  # nothing deleted
    assert list(wd.path.glob(f"Logs/{first}_*")) and (wd.path / "Data" / "runs" / first).exists()
    done = subprocess.run([*tool, "--keep", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == listed[0].replace("would prune", "pruned")  # what the dry run said
    assert wd.run_ids() == [third]
    assert not list(wd.path.glob(f"Logs/{first}_*")) and not (wd.path / "Data" / "runs" / first).exists()
    assert list(wd.path.glob(f"Logs/{third}_*")) and (wd.path / "Data" / "runs" / third).exists()
    assert {p.name for p in reports.iterdir()} == before - pruned_reports  # the kept run's and unrelated files stay
    assert {f"{third}{suffix}" for suffix in FORMATS.values()} < before - pruned_reports
    bad = subprocess.run(tool, capture_output=True, text=True)
    assert bad.returncode == 2 and "give --keep N" in bad.stderr


def _report_processes(runner_pid: int) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(runner_pid).children()
            if any(part.endswith("report.py") for part in p.cmdline())]


def test_ctrl_c_from_a_terminal_still_writes_the_aborted_runs_report(wd: Workdir) -> None:
    """The report process starts with the run (its imports overlap the steps); a terminal's Ctrl-C reaches the
    whole foreground process group, and must not take the report of the aborted run with it."""
    pids = wd.path / "pids"
    recipe = wd.recipe(f"""
steps:
  - {{name: long, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}}}
""")
    cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path), "--plain"]
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)  # its own group, as a shell's foreground job
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3)
    assert len(_report_processes(runner.pid)) == 1  # already started, waiting for the run to end
    os.killpg(runner.pid, signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, out + err
    (run_id,) = wd.run_ids()
    report = wd.path / "Data" / "reports" / f"{run_id}.xlsx"
    assert report.stat().st_size > 0 and f"report: {report}" in out, out + err
    assert "was not written" not in err


def test_a_killed_runner_leaves_no_report_process_behind(wd: Workdir) -> None:
    pids = wd.path / "pids"
    recipe = wd.recipe(f"""
steps:
  - {{name: long, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}}}
""")
    runner = start_runner(wd, recipe)
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3)
    wait_for(lambda: len(list(wd.path.glob("Data/runs/*/pids/long.1"))) == 1)
    time.sleep(0.2)  # the whole tree has been sampled and recorded, setsid escapee included
    reporters = _report_processes(runner.pid)
    assert len(reporters) == 1
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=10)
    wait_for(lambda: pids_alive(reporters) == [], timeout=10)  # its input ended: it exits, writing nothing
    assert not (wd.path / "Data" / "reports").exists()
    wd.run(recipe, "--validate")  # the next runner ends the step tree the crashed run left
    wait_for(lambda: pids_alive([int(p) for p in pids.read_text().split()]) == [], timeout=10)
