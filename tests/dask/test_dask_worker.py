"""The worker-side loop without dask: the marker that turns a silent re-run into "worker lost", the abort
checks, the journal handed back. (engine.worker must import without dask.)"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import ORCH, pids_alive
from dask_support import wait_for

from engine.process import Invocation
from engine.worker import ABORTED, LOST, claim, read_marker, record_pid, supervise

WHERE = {"worker": "tcp://127.0.0.1:1", "host": os.uname().nodename, "worker_pid": os.getpid()}


def invocation(tmp_path: Path, script: str, attempt: int = 1) -> Invocation:
    journal = tmp_path / "journal" / f"s.{attempt}.jsonl"
    journal.parent.mkdir(exist_ok=True)
    env = {**os.environ, "ORCH_CTX_JOURNAL": str(journal), "ORCH_STEP": "s", "ORCH_ATTEMPT": str(attempt)}
    return Invocation(step="s", attempt=attempt, argv=("bash", "-c", script), env=env, cwd=str(tmp_path),
                      log_path=str(tmp_path / "s.log"))


def test_engine_worker_imports_without_dask() -> None:
    code = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
            "import engine.worker, engine.dask_executor; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ,
                         "PYTHONPATH": str(ORCH)}, check=True)
    assert out.stdout.strip() == "ok"


def test_runs_the_step_and_returns_outcome_journal_and_place(tmp_path: Path) -> None:
    inv = invocation(tmp_path, 'echo "{\\"op\\": \\"set\\", \\"key\\": \\"k\\", \\"value\\": 1}" >> '
                               '"$ORCH_CTX_JOURNAL"; echo "on $ORCH_DASK_WORKER"')
    events: list[str] = []
    result = supervise(inv, tmp_path / "attempts" / "s.1.started", lambda: None,
                       lambda kind, **data: events.append(kind), WHERE)
    assert result["outcome"]["reason"] is None and result["outcome"]["exit_code"] == 0
    assert [(e["op"], e["key"], e["value"]) for e in result["journal"]] == [("set", "k", 1)]
    assert result["where"]["worker"] == WHERE["worker"] and result["where"]["pid"] > 0
    assert events == ["start", "end"]
    log = (tmp_path / "s.log").read_text()
    assert f"runs on Dask worker {WHERE['worker']}" in log and f"on {WHERE['worker']}" in log
    marker = read_marker(tmp_path / "attempts" / "s.1.started")
    assert marker["pid"] == result["where"]["pid"] and marker["worker"] == WHERE["worker"] and marker["start_ticks"]


def test_a_second_delivery_does_not_run_the_step_again(tmp_path: Path) -> None:
    marker = tmp_path / "attempts" / "s.1.started"
    assert claim(marker, WHERE) is None
    ran = tmp_path / "ran"
    result = supervise(invocation(tmp_path, f"touch {ran}"), marker, lambda: None, lambda *a, **k: None, WHERE)
    assert result["outcome"]["reason"] == LOST
    assert not ran.exists()


def test_a_redelivery_on_the_same_host_ends_the_orphaned_tree(tmp_path: Path) -> None:
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        marker = tmp_path / "attempts" / "s.1.started"
        claim(marker, WHERE)
        record_pid(marker, orphan.pid)
        result = supervise(invocation(tmp_path, "true"), marker, lambda: None, lambda *a, **k: None, WHERE)
        assert result["outcome"]["reason"].startswith(LOST) and "was ended" in result["outcome"]["reason"]
        assert orphan.wait(5) == -9
    finally:
        orphan.kill()
        orphan.wait()


def test_abort_event_terminates_the_tree(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"echo $$ >> {pids}; (trap '' TERM; sleep 300) & echo $! >> {pids}; sleep 300"
    t0 = time.monotonic()
    result = supervise(invocation(tmp_path, script), tmp_path / "m", lambda: "terminate" if pids.exists() else None,
                       lambda *a, **k: None, WHERE, poll=0.05)
    assert result["outcome"]["aborted"] and result["outcome"]["reason"] == ABORTED
    assert time.monotonic() - t0 < 10
    recorded = [int(p) for p in pids.read_text().split()]
    wait_for(lambda: not pids_alive(recorded), 3, f"the step tree {recorded} to end")  # SIGKILLed: dying


def test_kill_event_kills_at_once(tmp_path: Path) -> None:
    script = "trap '' TERM; sleep 300"
    t0 = time.monotonic()
    result = supervise(invocation(tmp_path, script), tmp_path / "m", lambda: "kill", lambda *a, **k: None, WHERE,
                       poll=0.05)
    assert result["outcome"]["aborted"]
    assert time.monotonic() - t0 < 0.9  # well under the 1 s grace the tests use


def test_abort_before_start_runs_nothing(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    result = supervise(invocation(tmp_path, f"touch {ran}"), tmp_path / "m", lambda: "terminate",
                       lambda *a, **k: None, WHERE)
    assert result["outcome"]["aborted"] and not ran.exists()
