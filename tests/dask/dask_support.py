"""Dask test support: real clusters on loopback (a LocalCluster, or `dask scheduler` + `dask worker` processes
started here), always torn down by finalizers, and a helper that drives the engine's Run with a DaskExecutor."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

HERE = Path(__file__).resolve().parent
ORCH = HERE.parents[1] / "orchestrator"
DASK_CLI = Path(sys.executable).with_name("dask")
# what the workers need: the engine importable, and a short kill grace like the rest of the tests
WORKER_ENV = {**os.environ, "PYTHONPATH": str(ORCH), "ORCH_KILL_GRACE": "1"}

try:
    import distributed  # noqa: F401

    DASK_MISSING: Optional[str] = None
except ImportError as exc:  # the one reason to skip
    DASK_MISSING = f"dask[distributed] cannot be imported ({exc}): .venv/bin/pip install 'dask[distributed]'"

# Scripts the Dask tests run as steps (written into the work folder's scripts/).
SCRIPTS = {
    # record where the step runs ($PPID is the Dask worker process that started it), optionally sleep
    "where.sh": '#!/usr/bin/env bash\necho "$ORCH_STEP $ORCH_DASK_WORKER $PPID $$" >> "$2"\nsleep "${4:-0}"\n',
    # a step tree like tree.sh (plain child, TERM-ignoring child, setsid escapee) recording every pid
    "hold.sh": (
        "#!/usr/bin/env bash\n"
        'pids=$2\necho "$$" >> "$pids"\n'
        'sleep 300 & echo $! >> "$pids"\n'
        "( trap '' TERM; sleep 300 ) & echo $! >> \"$pids\"\n"
        'setsid sleep 300 & echo $! >> "$pids"\n'
        'grep SigIgn /proc/$$/status >> "$pids.sigign"\n'
        'echo "$ORCH_STEP $ORCH_DASK_WORKER $PPID $$" >> "$pids.where"\n'
        "sleep 300\n"),
    # attempt 1 hangs (recording worker, worker pid, its own pid and its child's); later attempts succeed
    "hang_once.sh": (
        "#!/usr/bin/env bash\n"
        'if [ "$ORCH_ATTEMPT" = 1 ]; then\n'
        '  sleep 300 & echo "$ORCH_ATTEMPT $ORCH_DASK_WORKER $PPID $$ $!" >> "$2"; wait\nfi\n'
        'echo "$ORCH_ATTEMPT $ORCH_DASK_WORKER $PPID $$" >> "$2"\necho "attempt $ORCH_ATTEMPT done"\n'),
}


def add_scripts(workdir: Path) -> None:
    for name, text in SCRIPTS.items():
        (workdir / "scripts" / name).write_text(text)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class CliCluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, each in its own session (process group)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.address = ""

    def _spawn(self, name: str, argv: list[str], env: Optional[dict[str, str]] = None) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env or WORKER_ENV, start_new_session=True, cwd=self.folder)
        self.procs[name] = proc
        return proc

    def start_scheduler(self, env: Optional[dict[str, str]] = None) -> str:
        info = self.folder / "scheduler.json"
        self._spawn("scheduler", [str(DASK_CLI), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(info)], env)
        wait_for(lambda: info.exists() and info.stat().st_size > 0, 30, "the scheduler's address file")
        self.address = json.loads(info.read_text())["address"]
        return self.address

    def start_worker(self, name: str, resources: Optional[str] = None, env: Optional[dict[str, str]] = None) -> None:
        argv = [str(DASK_CLI), "worker", self.address, "--nthreads", "1", "--no-dashboard", "--name", name]
        self._spawn(name, argv + (["--resources", resources] if resources else []), env)

    def workers(self, expected: int, timeout: float = 30) -> dict[str, dict[str, Any]]:
        """name -> {address, pid (the worker process), pgid (its `dask worker` group), resources}."""
        from distributed import Client

        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            client.wait_for_workers(expected, timeout=timeout)
            info = client.scheduler_info(n_workers=-1)["workers"]
            pids = client.run(os.getpid)
        return {w["name"]: {"address": addr, "pid": pids[addr], "pgid": os.getpgid(pids[addr]),
                            "resources": w.get("resources", {})} for addr, w in info.items()}

    def kill_group(self, name: str) -> None:
        _signal_group(self.procs[name], signal.SIGKILL)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)
            proc.wait()

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliCluster]:
    """A scheduler and two workers for the module: `plain` and `bench` (offering dut=1)."""
    if DASK_MISSING:
        pytest.skip(DASK_MISSING)
    cluster = CliCluster(tmp_path_factory.mktemp("dask-cli"))
    try:
        cluster.start_scheduler()
        cluster.start_worker("plain")
        cluster.start_worker("bench", resources="dut=1")
        cluster.workers(2)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[CliCluster]:
    """A cluster of its own, for tests that kill workers; the test starts the workers it needs."""
    if DASK_MISSING:
        pytest.skip(DASK_MISSING)
    cluster = CliCluster(tmp_path / "dask-cli")
    try:
        cluster.start_scheduler()
        yield cluster
    finally:
        cluster.stop()


class DaskRun:
    """Builds an engine Run for a recipe with a DaskExecutor bound to that run's id and folder."""

    def __init__(self, workdir: Path, recipe: Path, scheduler: Optional[str], **executor_args: Any) -> None:
        from engine.dask_executor import DaskExecutor
        from engine.events import Recorder
        from engine.run import Run, RunOptions, load

        self.recorder = Recorder()
        options = RunOptions(recipe=recipe, workdir=workdir, subscribers=(self.recorder,))
        paths, recipe_obj, plan, db = load(options)
        # the executor needs the run's id and folder, which the Run makes: bind it once the Run exists
        self.run = Run(paths, recipe_obj, plan, db, options, executor=_UNBOUND)  # type: ignore[arg-type]
        try:
            self.executor = DaskExecutor.for_recipe(scheduler, self.run.run_id, self.run.run_dir, recipe_obj,
                                                    on_start=self.run._on_start, **executor_args)
        except BaseException:
            db.close()
            raise
        self.run.executor = self.executor

    def execute(self) -> Any:
        try:
            return self.run.execute()
        finally:
            self.executor.close()  # idempotent; the Run closes it too

    def attempts(self, step: str) -> list[Any]:
        from engine.events import AttemptFinished

        return [e for e in self.recorder.of(AttemptFinished) if e.step == step]

    def interrupt(self) -> None:
        """What a Ctrl-C does to the runner: the handler records the signal, the wakeup fd ends the wait."""
        self.run.signal_received = signal.SIGINT
        os.write(self.executor.wakeup_fd(), b"\0")


_UNBOUND = object()
