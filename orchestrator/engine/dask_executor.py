"""Run step attempts on a Dask distributed cluster, behind the same interface as the LocalExecutor.

Each attempt is one Dask task (`engine.worker.run_attempt`) that runs the step as its own supervised process on
the worker, with the local executor's log, timeout and tree-kill handling. Named resources become Dask worker
resources, so a step needing `dut: 1` only lands on a worker started with `--resources "dut=1"`.

Design points (see the Dask section of the environment notes):
- No polling on the runner side: a background thread iterates a `distributed.as_completed` and hands each
  finished future to the main thread through a queue and a self-pipe; wait() selects on that pipe and on the
  signal wakeup pipe. Start/end notices from workers arrive the same way (scheduler event topics).
- Abort: two `distributed.Event`s per run that every running task looks at every 0.25 s: abort (SIGTERM the
  step's tree, grace, SIGKILL) and kill (SIGKILL now). Tasks that have not started are cancelled.
- At-least-once: Dask silently re-runs a task whose worker died. The task claims a marker file
  (run_dir/attempts/<step>.<attempt>.started, O_EXCL) first; a re-run finds it and reports "worker lost"
  instead of running the step twice. The runner's own retries then submit attempt N+1 as a new task.
- A task needing a resource no worker offers would wait forever: checked before the run, at every submit, and
  a few seconds after a worker leaves the cluster.

dask/distributed are imported only when a DaskExecutor is created: the local path never pays for them.
"""
from __future__ import annotations

import contextlib
import os
import queue
import selectors
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from .errors import UserError, number_from_env
from .events import AttemptOutcome
from .process import KILL_GRACE, Invocation
from .worker import ABORTED, end_orphan, read_marker, run_attempt

Finished = list[tuple[Invocation, AttemptOutcome]]

LOST_GRACE = number_from_env("ORCH_DASK_LOST_GRACE", 10.0)  # s after a worker leaves before checking resources
LOST_ERRORS = ("KilledWorker", "CommClosedError", "FutureCancelledError")


@dataclass
class _Task:
    inv: Invocation
    future: Any  # distributed.Future
    started: bool = False
    worker: Optional[str] = None


@dataclass
class _Needs:
    """What the recipe's steps ask of the cluster: resource -> (most units one step needs, a step needing it)."""

    units: dict[str, tuple[int, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, step_resources: Mapping[str, Mapping[str, int]]) -> "_Needs":
        needs = cls()
        for step, resources in step_resources.items():
            for name, units in resources.items():
                if units > needs.units.get(name, (0, ""))[0]:
                    needs.units[name] = (units, step)
        return needs


class DaskExecutor:
    """The Executor interface over a Dask cluster: `scheduler` is an address, or None for a LocalCluster."""

    def __init__(self, scheduler: Optional[str], run_id: str, run_dir: Path, capacities: Mapping[str, int],
                 step_resources: Optional[Mapping[str, Mapping[str, int]]] = None,
                 on_start: Optional[Callable[[Invocation, int], None]] = None, *, n_workers: int = 2,
                 connect_timeout: float = 10.0, lost_grace: float = LOST_GRACE) -> None:
        import distributed

        self._distributed = distributed
        self.run_id, self.run_dir = run_id, Path(run_dir)
        self.attempts_dir = self.run_dir / "attempts"
        self.step_resources = {s: dict(r) for s, r in (step_resources or {}).items() if r}
        self.on_start = on_start
        self.lost_grace = lost_grace
        self.placements: dict[tuple[str, int], dict[str, Any]] = {}  # (step, attempt) -> worker, host, pid
        self.journals: dict[tuple[str, int], list[dict[str, Any]]] = {}  # (step, attempt) -> journal entries
        self._tasks: dict[str, _Task] = {}  # key -> task not yet reported to the runner
        self._live: dict[str, Optional[str]] = {}  # key -> worker, for step processes that may still run
        self._cancelled: dict[str, AttemptOutcome] = {}  # key -> outcome to report when its cancellation lands
        self._abort_reason: Optional[str] = None
        self._lost_check_at: Optional[float] = None
        self._context_problem: Optional[str] = None  # checked at the first submit, when the context exists
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._added = threading.Event()
        self._post_lock = threading.Lock()
        self._stopping = False
        self._closed = False
        self._note_r, self._note_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self._note_r, selectors.EVENT_READ)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        self.cluster: Any = None
        self.client: Any = None
        self._thread: Optional[threading.Thread] = None
        try:
            self.client = self._connect(scheduler, capacities, n_workers, connect_timeout)
            self.address: str = self.client.scheduler.address
            self._topic = f"orch-{run_id}"
            self._abort = distributed.Event(f"orch-abort-{run_id}", client=self.client)
            self._kill = distributed.Event(f"orch-kill-{run_id}", client=self.client)
            self.client.subscribe_topic(self._topic, self._on_topic)
            self.client.subscribe_topic("all", self._on_cluster_event)
            self._workers = self._wait_for_workers(connect_timeout)
            self._check_resources(_Needs.of(self.step_resources))
            self._probe_workers()
            self._completed = distributed.as_completed(loop=self.client.loop, with_results=True, raise_errors=False)
            self._thread = threading.Thread(target=self._collect, name=f"dask-collect-{run_id}", daemon=True)
            self._thread.start()
        except BaseException:
            self._shutdown()
            raise

    @classmethod
    def for_recipe(cls, scheduler: Optional[str], run_id: str, run_dir: Path, recipe: Any,
                   on_start: Optional[Callable[[Invocation, int], None]] = None,
                   selected: Optional[Iterable[str]] = None, **kwargs: Any) -> "DaskExecutor":
        """The executor for a loaded Recipe: its declared capacities, and the resources of each step that will
        run (`selected`, e.g. plan.selected; default all), which the cluster is checked against."""
        chosen = set(selected) if selected is not None else None
        steps = {s.name: dict(s.policy.resources) for s in recipe.steps
                 if s.policy.resources and (chosen is None or s.name in chosen)}
        return cls(scheduler, run_id, run_dir, dict(recipe.resources), steps, on_start, **kwargs)

    # ------------------------------------------------------------------ connecting and checking the cluster

    def _connect(self, scheduler: Optional[str], capacities: Mapping[str, int], n_workers: int,
                 timeout: float) -> Any:
        Client = self._distributed.Client
        if scheduler is None:
            import dask

            # The workers preload engine.worker, whose dask_setup makes them ignore the Ctrl-C a terminal sends to
            # the whole process group (the runner ends the steps). The statistical profiler samples every worker
            # thread each 10 ms: useless for tasks that wait on a process.
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self.cluster = self._distributed.LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    resources=dict(capacities) or None, preload=["engine.worker"])
            return Client(self.cluster, set_as_default=False)
        try:
            if _refuses_connections(scheduler):  # said at once: Dask's client would retry until its timeout
                raise ConnectionRefusedError("connection refused")
            return Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"cannot connect to the Dask scheduler at {scheduler}: {exc} (start one with "
                            f"'dask scheduler', then workers with 'dask worker {scheduler}')") from None

    def _scheduler_workers(self) -> dict[str, dict[str, float]]:
        """The cluster's workers and the resources each offers."""
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed: no n_workers argument, all workers listed
            info = self.client.scheduler_info()
        return {addr: dict(w.get("resources") or {}) for addr, w in info.get("workers", {}).items()}

    def _wait_for_workers(self, timeout: float) -> dict[str, dict[str, float]]:
        workers = self._scheduler_workers()
        if workers:
            return workers
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError):
            raise UserError(f"no Dask worker is connected to the scheduler at {self.address} (waited {timeout:g} s); "
                            f"start one: dask worker {self.address}") from None
        return self._scheduler_workers()

    def _check_resources(self, needs: _Needs) -> None:
        """A task needing a resource that no worker offers would stay pending forever: refuse to start."""
        for name, (units, step) in sorted(needs.units.items()):
            if not any(res.get(name, 0) >= units for res in self._workers.values()):
                offered = sorted({f"{k}={v:g}" for res in self._workers.values() for k, v in res.items()})
                raise UserError(
                    f"resource {name!r} ({units} unit(s), needed by step {step}) is not offered by any of the "
                    f"{len(self._workers)} worker(s) of the Dask cluster at {self.address} (they offer: "
                    f"{', '.join(offered) or 'no resources'}); start a worker offering it: "
                    f"dask worker {self.address} --resources \"{name}={units}\"")

    def _probe_workers(self) -> None:
        """Every worker must import the engine and see the run folder at the same path (shared filesystem); the
        scheduler must import the engine too (it unpickles each task graph, which names engine.worker)."""
        self.attempts_dir.mkdir(parents=True, exist_ok=True)
        probe = self.attempts_dir / f".probe-{socket.gethostname()}-{os.getpid()}"
        probe.write_text("")

        def look(path: str) -> tuple[bool, bool]:  # defined here so it travels by value, even without the engine
            import importlib.util
            import os as _os

            try:
                imports = importlib.util.find_spec("engine.worker") is not None
            except ImportError:  # no "engine" package at all
                imports = False
            return _os.path.exists(path), imports

        home = Path(__file__).resolve().parent.parent
        if not self.client.run_on_scheduler(look, str(probe))[1]:
            raise UserError(f"the Dask scheduler at {self.address} cannot import the orchestrator engine (it reads "
                            f"every task sent to it): start it with the same Python environment and "
                            f"PYTHONPATH={home}")
        try:
            seen = self.client.run(look, str(probe))
        finally:
            probe.unlink(missing_ok=True)
        for worker, (sees, imports) in sorted(seen.items()):
            if not imports:
                raise UserError(f"Dask worker {worker} cannot import the orchestrator engine: start workers with the "
                                f"same orchestrator tree and Python environment, and PYTHONPATH={home}")
            if not sees:
                raise UserError(f"Dask worker {worker} does not see {self.run_dir}: the work folder (Data/, Logs/) "
                                "must be on a shared filesystem mounted at the same path on every worker")

    def _probe_context(self, ctx_db: Optional[str]) -> str:
        """Steps read the run's context from its SQLite file: every worker must see it ("" when they do)."""
        if not ctx_db:
            return ""
        blind = sorted(w for w, sees in self.client.run(os.path.exists, ctx_db).items() if not sees)
        if not blind:
            return ""
        hint = (" (store_on_ram.txt keeps it in /dev/shm of the runner's machine: set it to false)"
                if ctx_db.startswith("/dev/shm/") else " (it must be on the shared filesystem)")
        return f"Dask worker(s) {', '.join(blind)} cannot see the run's context {ctx_db}{hint}"

    # ------------------------------------------------------------------ the Executor interface

    @property
    def running(self) -> int:
        return len(self._tasks)

    def wakeup_fd(self) -> int:
        return self._wake_w

    def submit(self, inv: Invocation) -> Optional[AttemptOutcome]:
        """Queue the attempt on the cluster. An outcome at once if no worker could ever run it."""
        if self._context_problem is None:
            self._context_problem = self._probe_context(inv.env.get("ORCH_CTX_DB"))
        if self._context_problem:
            return AttemptOutcome(exit_code=None, reason=f"not started: {self._context_problem}")
        resources = getattr(inv, "resources", None) or self.step_resources.get(inv.step)
        if not self._satisfiable(resources or {}):
            return AttemptOutcome(exit_code=None, reason=f"not started: {self._unavailable_text(resources or {})}")
        key = self._key(inv.step, inv.attempt)
        future = self.client.submit(run_attempt, inv, str(self._marker(inv)), self._abort.name, self._kill.name,
                                    self._topic, key=key, resources=resources or None, pure=False)
        self._tasks[key] = _Task(inv, future)
        self._completed.add(future)
        self._added.set()
        return None

    def wait(self, timeout: Optional[float]) -> Finished:
        if self._lost_check_at is not None:
            until = max(0.0, self._lost_check_at - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        finished = self._drain()
        if not finished:
            for key, _ in self.selector.select(timeout):
                _empty_pipe(key.fd)
            finished = self._drain()
        if self._lost_check_at is not None and time.monotonic() >= self._lost_check_at:
            self._lost_check_at = None
            self._cancel_stranded()
        return finished

    def cancel_all(self, reason: str) -> None:
        """Tell running tasks to end their step trees (SIGTERM, grace, SIGKILL); cancel those not started."""
        self._abort_reason = reason
        self._abort.set()
        self._cancel_unstarted(reason)

    def kill_all(self) -> None:
        """Tell running tasks to SIGKILL their step trees now; cancel those not started."""
        reason = self._abort_reason or "killed: the run was aborted"
        self._kill.set()  # first, so a task that sees the abort event already sees the kill
        self._abort.set()
        self._cancel_unstarted(reason)

    def close(self) -> None:
        """Wait (bounded) until no step process is left on any worker, then disconnect (and stop a LocalCluster)."""
        if self._closed:
            return
        try:
            if self._tasks or self._live:
                self.kill_all()
                deadline = time.monotonic() + KILL_GRACE + 5
                while (self._tasks or self._live_on_workers()) and time.monotonic() < deadline:
                    self.wait(0.5)
        except Exception as exc:  # noqa: BLE001 - a broken connection must not stop the clean-up
            print(f"warning: Dask executor: ending the remaining tasks failed: {_describe(exc)}", file=sys.stderr)
        finally:
            self._shutdown()

    # ------------------------------------------------------------------ what the background side hands over

    def _collect(self) -> None:
        """Background thread: hand every finished future to the main thread, in the order they finish."""
        while True:
            self._added.wait()
            self._added.clear()
            if self._stopping:
                return
            try:
                for future, result in self._completed:
                    self._post(("done", future, result))
            except Exception as exc:  # noqa: BLE001 - the client broke: tell the main thread, then stop
                self._post(("broken", exc))
                return

    def _on_topic(self, event: tuple[float, dict[str, Any]]) -> None:
        """Scheduler event from a worker (runs on the client's event loop): an attempt's process started/ended."""
        self._post((event[1]["kind"], event[1]))

    def _on_cluster_event(self, event: tuple[float, dict[str, Any]]) -> None:
        if isinstance(event[1], dict) and event[1].get("action") in ("add-worker", "remove-worker"):
            self._post(("workers", event[1]))

    def _post(self, item: tuple[Any, ...]) -> None:
        self._queue.put(item)
        with self._post_lock:  # never write to the fd number after close() gave it back (it may be reused)
            if self._closed:
                return
            try:
                os.write(self._note_w, b"\0")
            except BlockingIOError:  # full: the main thread has a wake-up pending anyway
                pass

    def _drain(self) -> Finished:
        finished: Finished = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return finished
            kind = item[0]
            if kind == "done":
                ended = self._done(item[1], item[2])
                if ended is not None:
                    finished.append(ended)
            elif kind == "start":
                self._started(item[1])
            elif kind == "end":
                self._live.pop(self._key(item[1]["step"], item[1]["attempt"]), None)
            elif kind == "workers":
                self._workers_changed(item[1])
            elif kind == "broken":
                finished.extend(self._fail_all(f"worker lost: the Dask client stopped: {_describe(item[1])}"))

    def _started(self, msg: dict[str, Any]) -> None:
        key = self._key(msg["step"], msg["attempt"])
        task = self._tasks.get(key)
        if task is None:
            if key in self._cancelled or self._abort_reason:  # cancelled as it started: make sure it ends
                self._live[key] = msg.get("worker")
            return
        if not task.started:
            self._mark_started(task, key, msg)

    def _mark_started(self, task: _Task, key: str, where: dict[str, Any]) -> None:
        task.started, task.worker = True, where.get("worker")
        self._live[key] = task.worker
        self.placements[(task.inv.step, task.inv.attempt)] = dict(where)
        if self.on_start:
            self.on_start(task.inv, int(where.get("pid") or 0))

    def _done(self, future: Any, result: Any) -> Optional[tuple[Invocation, AttemptOutcome]]:
        key = future.key
        task = self._tasks.pop(key, None)
        if task is None:
            return None
        if future.status == "finished" and isinstance(result, dict):
            outcome = self._finished(task, key, result)
        elif key in self._cancelled:  # cancelled by us: the outcome was decided then
            outcome = self._cancelled.pop(key)
        elif future.status == "cancelled":
            outcome = AttemptOutcome(exit_code=None,  # e.g. the connection to the scheduler was lost
                                     reason=f"worker lost: Dask cancelled the task ({_describe(result)})")
        else:
            self._live.pop(key, None)
            outcome = AttemptOutcome(exit_code=None, reason=_error_reason(result) + self._end_orphan(task))
        return task.inv, outcome

    def _finished(self, task: _Task, key: str, result: dict[str, Any]) -> AttemptOutcome:
        where = result["where"]
        if not task.started and where.get("pid"):  # the start notice is late: report the start first
            self._mark_started(task, key, where)
        self._live.pop(key, None)
        self.placements[(task.inv.step, task.inv.attempt)] = dict(where)
        self.journals[(task.inv.step, task.inv.attempt)] = result["journal"]
        outcome = AttemptOutcome(**result["outcome"])
        if outcome.aborted and self._abort_reason and outcome.reason == ABORTED:
            outcome = outcome._replace(reason=self._abort_reason)
        return outcome

    # ------------------------------------------------------------------ cancelling

    def _cancel_unstarted(self, reason: str) -> None:
        pending = [(key, task) for key, task in self._tasks.items() if not task.started and key not in self._cancelled]
        for key, _ in pending:
            self._cancelled[key] = AttemptOutcome(exit_code=None, aborted=True, reason=reason)
        if pending:
            self.client.cancel([task.future for _, task in pending], force=True)

    def _fail_all(self, reason: str) -> Finished:
        ended = [(task.inv, AttemptOutcome(exit_code=None, reason=reason)) for task in self._tasks.values()]
        self._tasks.clear()
        return ended

    # ------------------------------------------------------------------ workers leaving

    def _workers_changed(self, msg: dict[str, Any]) -> None:
        self._workers = self._scheduler_workers()
        if msg.get("action") == "remove-worker" and self._lost_check_at is None:
            self._lost_check_at = time.monotonic() + self.lost_grace  # a nanny may restart it meanwhile

    def _live_on_workers(self) -> list[str]:
        """Step processes that may still run, on workers still in the cluster (a dead one reports nothing)."""
        return [key for key, worker in self._live.items() if worker is None or worker in self._workers]

    def _satisfiable(self, needs: Mapping[str, int]) -> bool:
        return any(all(res.get(name, 0) >= units for name, units in needs.items()) for res in self._workers.values())

    def _unavailable_text(self, needs: Mapping[str, int]) -> str:
        if not self._workers:
            return f"no Dask worker is connected to {self.address}; start one: dask worker {self.address}"
        wanted = ",".join(f"{k}={v}" for k, v in sorted(needs.items()))
        return (f"no Dask worker of the cluster at {self.address} offers resources {wanted}; start one: "
                f"dask worker {self.address} --resources \"{wanted}\"")

    def _cancel_stranded(self) -> None:
        """Tasks whose worker left and that no remaining worker can run would wait forever: fail them."""
        self._workers = self._scheduler_workers()
        stranded = []
        for key, task in self._tasks.items():
            if task.started and task.worker in self._workers:
                continue  # still running where it started
            needs = self.step_resources.get(task.inv.step, {})
            if key in self._cancelled or self._satisfiable(needs):
                continue
            reason = f"worker lost: {self._unavailable_text(needs)}{self._end_orphan(task)}"
            self._live.pop(key, None)  # its worker is gone: nothing left to wait for
            self._cancelled[key] = AttemptOutcome(exit_code=None, reason=reason)
            stranded.append(task.future)
        if stranded:
            self.client.cancel(stranded, force=True)

    def _end_orphan(self, task: _Task) -> str:
        """A step whose worker died keeps running in its own session: end it if it runs on this host. Its marker
        says whether it started (no marker, or no pid in it: it did not); the worker's start notice is no
        guide, since a worker killed just after starting the step may never have sent it."""
        return end_orphan(read_marker(self._marker(task.inv)))

    # ------------------------------------------------------------------ shutting down

    def _shutdown(self) -> None:
        self._closed = self._stopping = True
        self._added.set()
        with contextlib.suppress(Exception):
            if self._tasks and self.client is not None:
                self.client.cancel([t.future for t in self._tasks.values()], force=True)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.client is not None:  # else the scheduler reports our own disconnection to a closed comm
            for topic in ("all", getattr(self, "_topic", None)):
                with contextlib.suppress(Exception):
                    self.client.unsubscribe_topic(topic)
        for closing in (self.client, self.cluster):
            if closing is not None:
                with contextlib.suppress(Exception):
                    closing.close(timeout=10)
        self.selector.close()
        with self._post_lock:
            for fd in (self._note_r, self._note_w, self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _marker(self, inv: Invocation) -> Path:
        return self.attempts_dir / f"{inv.step}.{inv.attempt}.started"

    def _key(self, step: str, attempt: int) -> str:
        return f"orch-{self.run_id}-{step}-{attempt}"


# --------------------------------------------------------------------------- helpers


def _empty_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _refuses_connections(address: str) -> bool:
    """True when a tcp:// address answers with a refusal (nothing listens there); False when it accepts, or when
    it cannot tell (another protocol, a name that does not resolve, no answer within a second)."""
    if not address.startswith("tcp://"):
        return False
    host, _, port = address[len("tcp://"):].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except (OSError, ValueError):
        return False


def _describe(exc: Any) -> str:
    """`Type: message` on one line (a multi-line message joined, not cut at its first line break), followed by the
    exception that caused it, if any: Dask's own errors often only say what failed, their cause says why."""
    if isinstance(exc, tuple) and len(exc) == 3:  # (type, value, traceback) from as_completed
        exc = exc[1]
    described = _one_line(exc, 300)
    cause, seen = exc, {id(exc)}
    while isinstance(cause, BaseException) and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
        if id(cause) in seen:
            break
        seen.add(id(cause))
    return described if cause is exc else f"{described} (caused by {_one_line(cause, 200)})"


def _one_line(exc: Any, limit: int) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_reason(result: Any) -> str:
    """A task that raised: its worker died too often (KilledWorker) or the worker could not run it."""
    text = _describe(result)
    if text.split(":")[0] in LOST_ERRORS:
        return f"worker lost: {text}"
    return f"worker error: {text}"
