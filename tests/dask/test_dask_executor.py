"""The Dask executor through the engine, on real clusters on 127.0.0.1: a LocalCluster, and `dask scheduler` +
`dask worker` processes started here. Every cluster is torn down by a fixture finalizer, even on failure."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ORCH, Workdir, pids_alive
from dask_support import (DASK_MISSING, HERE, CliCluster, DaskRun, add_scripts, cli_cluster, fresh_cluster, lines,
                          wait_for)

from engine.errors import UserError
from engine.status import StepStatus, Verdict

pytestmark = pytest.mark.skipif(DASK_MISSING is not None, reason=DASK_MISSING or "")
__all__ = ["cli_cluster", "fresh_cluster"]  # fixtures used by the tests below

DEMO_STEPS = ("generate_measurements", "preprocess_csv", "compute_metrics", "voltage_histogram",
              "check_voltage_limit", "write_summary")


@pytest.fixture
def dwd(wd: Workdir) -> Workdir:
    add_scripts(wd.path)
    return wd


def test_demo_recipe_end_to_end_on_a_local_cluster(dwd: Workdir) -> None:
    from context import ContextStore
    from engine.events import StepStarted

    run = DaskRun(dwd.path, ORCH / "recipes" / "demo.yaml", None)
    result = run.execute()
    assert result.verdict == Verdict.SUCCEEDED, {n: r.reason for n, r in result.results.items()}
    workers = {run.executor.placements[(name, 1)]["worker"] for name in DEMO_STEPS}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
    for name in DEMO_STEPS:
        log = dwd.logs(name)
        assert "runs on Dask worker tcp://127.0.0.1:" in log and ": ok (" in log, log
    store = ContextStore(run.run.run_dir / "context.db")
    try:
        metrics = json.loads(store.get_json("metrics") or "null")
        assert metrics["voltage_v"]["max"] > 0
        for key in ("metrics_columns", "histogram", "threshold_check", "summary_path"):
            assert store.get_json(key) is not None, key
    finally:
        store.close()
    assert run.executor.journals == {}  # every journal the workers sent back was taken by the runner
    started = run.recorder.of(StepStarted)
    assert sorted(e.step for e in started) == sorted(DEMO_STEPS) and all(e.pid > 0 for e in started)
    assert (dwd.path / "Data" / "demo" / "summary.md").exists()


def test_a_step_needing_a_resource_runs_only_on_the_worker_offering_it(dwd: Workdir, cli_cluster: CliCluster) -> None:
    workers = cli_cluster.workers(2)
    bench, plain = workers["bench"], workers["plain"]
    steps = "".join(f"  - {{name: dut{i}, type: shell, cmd: scripts/where.sh, args: {{out: Data/where.txt}}, "
                    f"resources: {{dut: 1}}}}\n  - {{name: free{i}, type: shell, cmd: scripts/where.sh, "
                    f"args: {{out: Data/where.txt}}}}\n" for i in range(4))
    recipe = dwd.recipe("execution: {mode: parallel, max_parallel: 2, resources: {dut: 1}}\nsteps:\n" + steps)
    run = DaskRun(dwd.path, recipe, cli_cluster.address)
    result = run.execute()
    assert result.verdict == Verdict.SUCCEEDED, {n: r.reason for n, r in result.results.items()}
    seen = {fields[0]: fields[1:] for fields in (line.split() for line in lines(dwd.path / "Data" / "where.txt"))}
    assert len(seen) == 8
    for i in range(4):
        worker, worker_pid, _ = seen[f"dut{i}"]
        assert (worker, int(worker_pid)) == (bench["address"], bench["pid"])  # $PPID: the worker that started it
        assert run.executor.placements[(f"dut{i}", 1)]["worker"] == bench["address"]
        assert seen[f"free{i}"][0] in (bench["address"], plain["address"])


def test_a_missing_resource_is_refused_before_the_run(dwd: Workdir, cli_cluster: CliCluster) -> None:
    recipe = dwd.recipe("execution: {mode: parallel, resources: {scope: 1}}\nsteps:\n"
                        "  - {name: measure, type: shell, cmd: scripts/ok.sh, resources: {scope: 1}}\n")
    with pytest.raises(UserError) as caught:
        DaskRun(dwd.path, recipe, cli_cluster.address)
    message = str(caught.value)
    assert "resource 'scope'" in message and "needed by step measure" in message
    assert f'dask worker {cli_cluster.address} --resources "scope=1"' in message


def test_an_unreachable_scheduler_is_a_user_error(dwd: Workdir) -> None:
    recipe = dwd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    with pytest.raises(UserError, match=r"cannot connect to the Dask scheduler at tcp://127.0.0.1:1: .*dask worker"):
        DaskRun(dwd.path, recipe, "tcp://127.0.0.1:1", connect_timeout=1)


def test_workers_that_cannot_import_the_engine_are_refused(dwd: Workdir, fresh_cluster: CliCluster) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the worker's cwd is not orchestrator/ either
    fresh_cluster.start_worker("bare", env=env)
    fresh_cluster.workers(1)
    recipe = dwd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    with pytest.raises(UserError, match=f"cannot import the orchestrator engine: .*PYTHONPATH={ORCH}"):
        DaskRun(dwd.path, recipe, fresh_cluster.address)


def test_a_dask_error_keeps_its_whole_message_and_its_cause() -> None:
    from engine.dask_executor import _describe

    try:
        try:
            import engine_that_is_not_there  # noqa: F401
        except ImportError as missing:
            raise RuntimeError("Error during deserialization of the task graph. This frequently\noccurs if the "
                               "Scheduler and Client have different environments.\n") from missing
    except RuntimeError as exc:
        assert _describe((RuntimeError, exc, None)) == (
            "RuntimeError: Error during deserialization of the task graph. This frequently occurs if the Scheduler "
            "and Client have different environments. (caused by ModuleNotFoundError: No module named "
            "'engine_that_is_not_there')")


def test_a_scheduler_that_cannot_import_the_engine_is_refused(dwd: Workdir, tmp_path: Path) -> None:
    """The scheduler unpickles every task graph, which names engine.worker: without the engine, every step failed
    with Dask's first line, 'Error during deserialization of the task graph. This frequently'."""
    if DASK_MISSING:
        pytest.skip(DASK_MISSING)
    cluster = CliCluster(tmp_path / "dask-bare")
    try:
        cluster.start_scheduler(env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        cluster.start_worker("plain")
        cluster.workers(1)
        recipe = dwd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
        with pytest.raises(UserError, match=f"the Dask scheduler at {cluster.address} cannot import the orchestrator "
                                            f"engine .*PYTHONPATH={ORCH}"):
            DaskRun(dwd.path, recipe, cluster.address)
    finally:
        cluster.stop()


def test_ctrl_c_ends_every_step_tree_on_the_workers(dwd: Workdir, cli_cluster: CliCluster) -> None:
    pids = dwd.path / "Data" / "pids"
    steps = "".join(f"  - {{name: hold{i}, type: shell, cmd: scripts/hold.sh, args: {{pids: Data/pids}}}}\n"
                    for i in range(3))
    recipe = dwd.recipe("execution: {mode: parallel, max_parallel: 3}\nsteps:\n" + steps)
    run = DaskRun(dwd.path, recipe, cli_cluster.address)

    def interrupt_when_both_workers_run_a_step() -> None:
        wait_for(lambda: len(lines(Path(f"{pids}.where"))) == 2, 30, "two steps to start")
        run.interrupt()

    threading.Thread(target=interrupt_when_both_workers_run_a_step, daemon=True).start()
    t0 = time.monotonic()
    result = run.execute()
    assert result.verdict == Verdict.ABORTED and result.exit_code == 130
    statuses = {n: (r.status, r.reason) for n, r in result.results.items()}
    assert set(statuses.values()) == {(StepStatus.ABORTED, "terminated: the run was aborted (SIGINT)")}, statuses
    recorded = [int(p) for p in lines(pids)]
    assert len(recorded) == 8  # two step trees of four processes; the third step never started
    wait_for(lambda: not pids_alive(recorded), 5, f"the step trees {recorded} to end")
    assert time.monotonic() - t0 < 20
    assert len({line.split()[1] for line in lines(Path(f"{pids}.where"))}) == 2  # one tree on each worker


def test_ctrl_c_to_the_runner_process_group_with_a_local_cluster(dwd: Workdir) -> None:
    """A terminal's Ctrl-C reaches the runner and the LocalCluster's workers: the workers must outlive it and
    end their steps' trees; the runner exits 130."""
    pids = dwd.path / "Data" / "pids"
    steps = "".join(f"  - {{name: hold{i}, type: shell, cmd: scripts/hold.sh, args: {{pids: Data/pids}}}}\n"
                    for i in range(2))
    recipe = dwd.recipe("execution: {mode: parallel, max_parallel: 2}\nsteps:\n" + steps)
    driver = subprocess.Popen([sys.executable, str(HERE / "drive_dask.py"), str(dwd.path), str(recipe)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, "ORCH_KILL_GRACE": "1"})
    try:
        assert driver.stdout is not None
        worker_pids = json.loads(driver.stdout.readline() or "{}").get("worker_pids")
        assert worker_pids, driver.stderr.read() if driver.stderr else ""
        wait_for(lambda: len(lines(Path(f"{pids}.where"))) == 2, 30, "two steps to start")
        os.killpg(driver.pid, signal.SIGINT)
        out, err = driver.communicate(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 130, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["verdict"] == "aborted"
    assert {tuple(v) for v in summary["steps"].values()} == {("aborted", "terminated: the run was aborted (SIGINT)")}
    recorded = [int(p) for p in lines(pids)]
    wait_for(lambda: not pids_alive(recorded + worker_pids), 5, "the step trees and the cluster's workers to end")
    ignored = [int(line.split()[1], 16) for line in lines(Path(f"{pids}.sigign"))]
    assert ignored and not any(mask & (1 << (signal.SIGINT - 1)) for mask in ignored)  # steps: default SIGINT


def test_a_worker_killed_mid_step_is_reported_lost_and_the_retry_runs_elsewhere(dwd: Workdir,
                                                                                 fresh_cluster: CliCluster) -> None:
    fresh_cluster.start_worker("w1")
    fresh_cluster.start_worker("w2")
    workers = fresh_cluster.workers(2)
    out = dwd.path / "Data" / "victim.txt"
    recipe = dwd.recipe("execution: {mode: parallel, max_parallel: 1}\nsteps:\n"
                        "  - {name: victim, type: shell, cmd: scripts/hang_once.sh, args: {out: Data/victim.txt}, "
                        "retries: 1, retry_delay: 0}\n")
    run = DaskRun(dwd.path, recipe, fresh_cluster.address)
    killed: dict[str, str] = {}

    def kill_the_worker_running_it() -> None:
        first = wait_for(lambda: lines(out), 30, "attempt 1 to start")[0].split()
        name = next(n for n, w in workers.items() if w["pid"] == int(first[2]))
        killed.update(name=name, address=first[1], orphans=" ".join(first[3:]))
        fresh_cluster.kill_group(name)  # the `dask worker` process group: nanny and worker, SIGKILL

    threading.Thread(target=kill_the_worker_running_it, daemon=True).start()
    result = run.execute()
    assert result.verdict == Verdict.SUCCEEDED, {n: r.reason for n, r in result.results.items()}
    first, second = run.attempts("victim")
    assert first.outcome.reason.startswith("worker lost: the worker running this attempt died"), first.outcome
    assert second.outcome.ok and result.results["victim"].attempts == 2
    assert run.executor.placements[("victim", 2)]["worker"] != killed["address"]
    # attempt 1's tree (own session) outlived its worker; the re-delivery on this host ended it
    orphans = [int(p) for p in killed["orphans"].split()]
    wait_for(lambda: not pids_alive(orphans), 5, f"the orphaned tree {orphans} to end")
    assert "was ended" in first.outcome.reason
    log = dwd.logs("victim")
    assert "worker lost" in log and "===== attempt 2 of step victim runs on Dask worker" in log


def test_a_step_whose_only_capable_worker_left_fails_instead_of_waiting_forever(dwd: Workdir,
                                                                                fresh_cluster: CliCluster) -> None:
    fresh_cluster.start_worker("plain")
    fresh_cluster.start_worker("bench", resources="dut=1")
    workers = fresh_cluster.workers(2)
    out = dwd.path / "Data" / "where.txt"
    recipe = dwd.recipe("execution: {mode: parallel, resources: {dut: 1}}\nsteps:\n"
                        "  - {name: on_dut, type: shell, cmd: scripts/where.sh, args: {out: Data/where.txt, "
                        "seconds: 300}, resources: {dut: 1}}\n")
    run = DaskRun(dwd.path, recipe, fresh_cluster.address, lost_grace=0.5)
    step_pid: list[int] = []

    def recorded_pid() -> bool:
        return any('"pid"' in marker.read_text() for marker in dwd.path.glob("Data/**/attempts/on_dut.1.started"))

    def kill_the_bench_worker() -> None:
        step_pid.append(int(wait_for(lambda: lines(out), 30, "the step to start")[0].split()[3]))
        # the worker dies while its step runs, not in the instant between starting it and writing down its pid
        wait_for(recorded_pid, 10, "the worker to record the step's pid in its marker")
        fresh_cluster.kill_group("bench")

    threading.Thread(target=kill_the_bench_worker, daemon=True).start()
    t0 = time.monotonic()
    try:
        result = run.execute()
    finally:
        for pid in step_pid:  # in case the executor did not end it
            with_suppressed_kill(pid)
    assert time.monotonic() - t0 < 20
    reason = result.results["on_dut"].reason or ""
    assert result.results["on_dut"].status == StepStatus.FAILED
    assert reason.startswith("worker lost: no Dask worker of the cluster at") and '--resources "dut=1"' in reason
    assert "was ended" in reason
    wait_for(lambda: not pids_alive(step_pid), 5, f"the orphaned step {step_pid} to end")
    assert workers["bench"]["address"] not in run.executor._workers


def with_suppressed_kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
