"""What a Dask worker runs for one attempt of a step: the same supervised process as a local run.

`run_attempt` is the function the Dask executor submits. On the worker it starts the step with the local
executor's machinery (own session, output into the step's log, timeout, SIGTERM-grace-SIGKILL of the whole
tree), watches the run's abort events, and returns plain data: the outcome, the step's journal entries and
where it ran. Everything except `run_attempt` itself works without dask, so the loop is testable anywhere.

Requirements on every worker (documented for users): the same orchestrator tree and Python environment, the
orchestrator folder importable (`PYTHONPATH=<repo>/orchestrator`), and the work folder (Data/, Logs/) on a
shared filesystem at the same path as on the runner's machine.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any, Callable, Optional

from .events import AttemptOutcome
from .executor import LocalExecutor
from .process import Invocation, utc_stamp

POLL = 0.25  # seconds between two looks at the run's abort events while a step runs
ABORTED = "terminated: the run was aborted"
LOST = "worker lost: the worker running this attempt died (Dask re-submitted it)"

Stop = Callable[[], Optional[str]]  # None, "terminate" (SIGTERM, grace, SIGKILL) or "kill" (SIGKILL now)
Notify = Callable[..., None]


def run_attempt(inv: Invocation, marker: str, abort_event: str, kill_event: str, topic: str) -> dict[str, Any]:
    """The Dask task: run one attempt on this worker. Returns {"outcome", "journal", "where"} as plain data."""
    from distributed import Event, get_worker  # only ever called on a Dask worker

    worker = get_worker()
    abort, kill = Event(abort_event), Event(kill_event)
    where = {"worker": worker.address, "host": socket.gethostname(), "worker_pid": os.getpid()}

    def stop() -> Optional[str]:
        try:
            if not abort.is_set():
                return None
            return "kill" if kill.is_set() else "terminate"
        except Exception:  # noqa: BLE001 - scheduler unreachable: keep supervising; timeouts still apply
            return None

    def notify(kind: str, **data: Any) -> None:
        worker.log_event(topic, {"kind": kind, "step": inv.step, "attempt": inv.attempt, **where, **data})

    return supervise(inv, Path(marker), stop, notify, where)


def dask_setup(worker: Any) -> None:
    """Preload hook (`preload=["engine.worker"]`, as the executor's LocalCluster does): a Ctrl-C in the terminal
    reaches the whole process group, workers included; the runner ends the steps, so the worker ignores it. A
    Python handler rather than SIG_IGN, so the step processes a worker starts get the default SIGINT back."""
    try:
        signal.signal(signal.SIGINT, _ignore)
    except ValueError:  # not the main thread: nothing to do
        pass


def _ignore(_signum: int, _frame: Any) -> None:
    pass


def supervise(inv: Invocation, marker: Path, stop: Stop, notify: Notify, where: dict[str, Any],
              poll: float = POLL) -> dict[str, Any]:
    """Run the attempt unless it already ran (at-least-once delivery), watching `stop` every `poll` s."""
    earlier = claim(marker, where)
    if earlier is not None:  # this task ran before on a worker that died: never run a step twice
        reason = LOST + end_orphan(earlier)
        _append(inv.log_path, f"===== attempt {inv.attempt} of step {inv.step} ended {utc_stamp()}: {reason} =====\n")
        return _result(AttemptOutcome(exit_code=None, reason=reason), [], where)
    if stop():
        return _result(AttemptOutcome(exit_code=None, aborted=True, reason=ABORTED), [], where)
    inv = inv._replace(env={**inv.env, "ORCH_DASK_WORKER": str(where["worker"])})
    _append(inv.log_path, f"===== attempt {inv.attempt} of step {inv.step} runs on Dask worker {where['worker']} "
                          f"(host {where['host']}, worker pid {where['worker_pid']}) =====\n")
    started: dict[str, int] = {}

    def on_start(_inv: Invocation, pid: int, _started: Optional[str] = None) -> None:
        started["pid"] = pid
        record_pid(marker, pid)
        notify("start", pid=pid)

    local = LocalExecutor(on_start=on_start)
    try:
        outcome = local.submit(inv) or _watch(local, stop, poll)
    finally:
        local.close()
        notify("end")
    return _result(outcome, _journal(inv), {**where, **started})


def _watch(local: LocalExecutor, stop: Stop, poll: float) -> AttemptOutcome:
    """The local executor's loop, plus a look at the abort events every `poll` s (a small RPC each)."""
    next_check = time.monotonic() + poll
    terminating = killed = False
    while True:
        for _inv, outcome in local.wait(max(0.0, next_check - time.monotonic())):
            return outcome
        now = time.monotonic()
        if now < next_check:
            continue
        next_check = now + poll
        wanted = stop()
        if wanted == "kill" and not killed:
            if not terminating:
                local.cancel_all(ABORTED)  # records the reason; the kill follows at once
            local.kill_all()
            terminating = killed = True
        elif wanted == "terminate" and not terminating:
            local.cancel_all(ABORTED)
            terminating = True


# ------------------------------------------------------------------ the at-least-once marker


def claim(marker: Path, where: dict[str, Any]) -> Optional[dict[str, Any]]:
    """Create the attempt's marker with O_EXCL. None when claimed now; the earlier claim's record otherwise."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return read_marker(marker)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({**where, "claimed": utc_stamp()}, fh)
    return None


def record_pid(marker: Path, pid: int) -> None:
    """Append the step's pid and start time to the marker, so a re-run on the same host can end an orphan."""
    with open(marker, "a", encoding="utf-8") as fh:
        fh.write("\n" + json.dumps({"pid": pid, "start_ticks": _start_ticks(pid)}))


def read_marker(marker: Path) -> dict[str, Any]:
    """The marker's records merged (claim, then pid); a torn last line is ignored."""
    record: dict[str, Any] = {}
    try:
        text = marker.read_text(encoding="utf-8")
    except OSError:
        return record
    for line in text.splitlines():
        try:
            record.update(json.loads(line))
        except ValueError:
            pass
    return record


def end_orphan(earlier: dict[str, Any]) -> str:
    """The first run's step tree outlived its worker (it has its own session). End it if it is on this host."""
    pid, host = earlier.get("pid"), earlier.get("host", "?")
    if not pid:
        return ""
    if host != socket.gethostname():
        return f" (its process tree may still run on host {host}, pid {pid})"
    if earlier.get("start_ticks") is None or _start_ticks(pid) != earlier["start_ticks"]:
        return ""  # gone, or the pid was reused by another process
    try:
        import psutil

        tree = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - it may end while we look
        tree = []
    try:
        os.killpg(pid, signal.SIGKILL)  # the step leads its own session and group
    except (ProcessLookupError, PermissionError):
        pass
    for child in tree:  # and children that left the group with setsid
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return f" (its process tree, pid {pid} on {host}, was ended)"


def _start_ticks(pid: int) -> Optional[int]:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22): with the pid, its identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ results


def _journal(inv: Invocation) -> list[dict[str, Any]]:
    """The step's context writes as the worker sees them, so a runner without the shared journal can commit."""
    path = inv.env.get("ORCH_CTX_JOURNAL")
    if not path or not os.path.exists(path):
        return []
    from context import read_journal

    return read_journal(Path(path))


def _result(outcome: AttemptOutcome, journal: list[dict[str, Any]], where: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": outcome._asdict(), "journal": journal, "where": where}


def _append(path: str, line: str) -> None:
    """A line of the executor's own in the step log; a log that cannot be written is reported by the step's start."""
    try:
        with open(path, "ab") as fh:
            fh.write(line.encode())
    except OSError:
        pass
