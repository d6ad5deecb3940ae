"""execute(options) -> RunResult: the one call the CLI makes. Loads, plans, then drives the run loop:
ask the scheduler what may start, submit, wait for the first attempt to end, check, commit, repeat."""
import gc
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional

from context import ContextStore, read_journal

from . import checks
from .argv import BASH, command
from .errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_STEP_FAILED, UserError
from .events import (AttemptFinished, AttemptOutcome, ContextCommitted, Decision, EventBus, RunFinished, RunStarted,
                     StepFinished, StepResult, StepStarted)
from .executor import Executor, LocalExecutor
from .paths import Paths
from .plan import BaseRun, Plan, Selection, build_plan
from .process import Invocation, utc_stamp
from .recipe import Recipe, Step, load_recipe
from .rundb import RunDB, RunRecorder
from .runlog import RunnerLog
from .scheduler import Scheduler
from .secrets import Masker, read_secrets
from .status import StepStatus, Verdict
from .templating import TemplateError, dig, render

GLOBAL_STATE: dict[str, Any] = {}  # test_meta and run id of the run in progress, for in-process code
ENV_VALUE_LIMIT = 64 * 1024  # larger ctx values are not exposed as CTX_* variables
DELIVER_EVERY = 200  # events queued before the loop delivers them even while attempts keep ending
DELIVER_INTERVAL = 0.05  # seconds: events wait at most this long for the console, logs and database


class RunOptions(NamedTuple):
    recipe: Path
    selection: Selection = Selection()
    base_run_id: Optional[str] = None
    dry_run: bool = False
    parallel: Optional[int] = None
    debug: bool = False
    workdir: Optional[Path] = None
    graph: bool = True  # keep Assets/step_sequence.{png,svg,dot} drawn during the run
    report: bool = True  # write Data/reports/<run id>.xlsx at the end
    executor: Optional[str] = None  # local | dask; None: the recipe's execution.executor
    scheduler: Optional[str] = None  # a Dask scheduler address (implies dask)
    argv: tuple[str, ...] = ()
    subscribers: tuple[Any, ...] = ()  # extra event subscribers (console, tests)


class RunResult(NamedTuple):
    plan: Plan
    run_id: Optional[str] = None
    verdict: Optional[Verdict] = None
    exit_code: int = EXIT_OK
    results: dict[str, StepResult] = {}
    runner_log: Optional[Path] = None
    report: Optional[Path] = None
    graph: Optional[Path] = None


def load(options: RunOptions) -> tuple[Paths, Recipe, Plan, RunDB]:
    """Load the recipe and build the plan; raises UserError on bad input."""
    # Loading makes tens of thousands of long-lived objects and no reference cycles. The cyclic collector
    # would rescan all of them again and again as they pile up (half the load time of a 5,000-step recipe);
    # reference counting frees everything this phase throws away. What it keeps (recipe, plan) lives as long as
    # the run, so it is frozen out of the collector's generations: else the first collection after loading scans
    # it all (~4 ms for 500 steps) and the later full ones again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load(options)
    finally:
        if collecting:
            gc.freeze()
            gc.enable()


def _load(options: RunOptions) -> tuple[Paths, Recipe, Plan, RunDB]:
    if options.workdir is not None and not options.workdir.is_dir():
        raise UserError(f"--workdir {options.workdir}: no such folder; create it first (it holds Data/, Logs/ "
                        "and the files the steps work on)")
    paths = Paths.for_workdir(options.workdir)
    recipe = load_recipe(paths.recipe(options.recipe), paths.search, cache_dir=paths.recipe_cache)
    if options.parallel is not None and options.parallel < 1:
        raise UserError(f"--parallel {options.parallel}: give at least 1 slot")
    db = RunDB(paths.db)
    db.mark_crashed()  # before choosing a run to resume: a crashed run's finished steps are reusable
    sel = options.selection
    base: Optional[BaseRun] = None
    if options.base_run_id and not (sel.resume_from or sel.only):
        raise UserError("--run-id goes with --resume-from or --only (it names the run to build on)")
    if sel.resume_from or sel.only:
        run_id = _base_run(db, options.base_run_id) if options.base_run_id else db.latest_run(str(recipe.path))
        if run_id:
            info = db.run(run_id)
            assert info is not None  # resolved or found above
            if info["recipe_path"] != str(recipe.path):
                raise UserError(f"--run-id {run_id}: that run is of {info['recipe_path']}, not {recipe.path}")
            base = BaseRun(run_id, db.ok_steps(run_id))
    return paths, recipe, build_plan(recipe, sel, base), db


def _base_run(db: RunDB, ref: str) -> str:
    """--run-id as every command takes a run: an id, its start or end (`bd49`), or latest."""
    try:
        return db.resolve(ref)
    except UserError as exc:
        raise UserError(f"--run-id {ref}: {exc}") from None


def execute(options: RunOptions) -> RunResult:
    paths, recipe, plan, db = load(options)
    if options.dry_run:
        db.close()
        return RunResult(plan=plan)
    return Run(paths, recipe, plan, db, options).execute()


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(2).hex()


class Run:
    """One run of a plan: owns the context store, the executor and the event bus."""

    def __init__(self, paths: Paths, recipe: Recipe, plan: Plan, db: RunDB, options: RunOptions,
                 executor: Optional[Executor] = None) -> None:
        self.paths, self.recipe, self.plan, self.options = paths, recipe, plan, options
        self.run_id = new_run_id()
        self.run_dir = paths.runs / self.run_id
        self.serial = recipe.mode == "serial" and options.parallel is None
        self.slots = 1 if self.serial else (options.parallel or recipe.max_parallel)
        self.db = db
        # the graph, report and hook machinery is imported only when used: every run pays for its imports
        self.graph: Any = None
        self.report: Any = None
        if options.graph:
            from .graph import GraphRenderer

            self.graph = GraphRenderer(paths.assets, self.run_dir)
        if options.report:
            from .reporting import ReportWriter

            self.report = ReportWriter(paths.workdir)
        # order matters when the bus closes: the recorder flushes, then the report process (started with the run)
        # is told to write while the graph thread finishes its last picture
        sinks = [RunRecorder(db), RunnerLog(paths.logs), self.report, self.graph, *options.subscribers]
        self.bus = EventBus([sink for sink in sinks if sink is not None])
        self.masker = Masker(())
        self.executor = executor or self._make_executor()
        self.journal_dir = self.run_dir / "journal"
        self._journal_prefix = f"{self.journal_dir}/"
        self._log_prefix = f"{paths.logs}/{self.run_id}_"
        self.on_ram = paths.store_on_ram()
        self.results: dict[str, StepResult] = {}
        self.attempts: dict[str, int] = {}
        self.first_start: dict[str, str] = {}
        self.totals: dict[str, list[float]] = {}  # name -> [duration, cpu, max_rss]
        self.retry_due: list[tuple[float, str]] = []
        self.metadata: dict[str, dict[str, Any]] = {}  # step -> figures its last attempt recorded
        self.snapshots: dict[str, int] = {}  # step -> context head when its current attempt started
        self.conflicts: list[str] = []
        self.notices: list[str] = []
        self.signal_received: Optional[int] = None
        self.failed = False

    # ------------------------------------------------------------------ set-up

    def _make_executor(self) -> Executor:
        """The local executor, or a Dask one (imported only then: distributed costs ~0.5 s to import)."""
        scheduler = self.options.scheduler or self.recipe.scheduler
        if (self.options.executor or ("dask" if self.options.scheduler else self.recipe.executor)) != "dask":
            return LocalExecutor(on_start=self._on_start)
        from .dask_executor import DaskExecutor

        return DaskExecutor.for_recipe(scheduler, self.run_id, self.run_dir, self.recipe, on_start=self._on_start,
                                       selected=self.plan.selected)

    def _prepare(self) -> None:
        names = set(self.recipe.secrets).union(*(s.secrets for s in self.recipe.steps))
        self.secrets = read_secrets(sorted(names))  # a missing one stops the run before it starts
        self.masker = Masker(self.secrets.values())
        self.secret_values = tuple(self.secrets.values())
        self.cwd = str(self.paths.workdir)
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "pids").mkdir(exist_ok=True)
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        if self.on_ram:
            ram = Path("/dev/shm") / f"orchestrator-{os.getuid()}" / self.run_id
            ram.mkdir(parents=True, exist_ok=True)
            self.ctx_path = ram / "context.db"
        else:
            self.ctx_path = self.run_dir / "context.db"
        if self.plan.base_run:
            _copy_sqlite(self.paths.runs / self.plan.base_run / "context.db", self.ctx_path)
        self.store = ContextStore(self.ctx_path, durable=not self.on_ram)
        if self.plan.base_run:
            undone = self.store.roll_back(set(self.plan.selected), self.run_id)
            if undone:  # told once the run has started (subscribers know the run from RunStarted on)
                self.notices.append(f"rolled back context keys written by the steps that run again: "
                                    f"{', '.join(undone)}")
        meta = dict(self.recipe.test_meta)
        if self.store.get_json("test_meta") != json.dumps(meta, ensure_ascii=False):
            self.store.set("test_meta", meta, "runner", self.run_id)
        self.head = self.store.head()
        GLOBAL_STATE.clear()
        GLOBAL_STATE.update(run_id=self.run_id, test_meta=meta, recipe=str(self.recipe.path))
        self.base_env = self._base_env(meta)

    def _base_env(self, meta: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        python_dir = os.path.dirname(sys.executable)
        env["PATH"] = python_dir + os.pathsep + env.get("PATH", "")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(p) for p in self.paths.search] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.update(ORCH_HOME=str(self.paths.home), ORCH_WORKDIR=str(self.paths.workdir), ORCH_RUN_ID=self.run_id,
                   ORCH_RECIPE=str(self.recipe.path), ORCH_LOG_DIR=str(self.paths.logs), ORCH_CTX_DB=str(self.ctx_path),
                   ORCH_PYTHON=sys.executable, ORCH_DEBUG="1" if self.options.debug else "0")
        for key, value in meta.items():
            if isinstance(value, (str, int, float, bool)):
                env["ORCH_" + _env_name(key)] = str(value)
        env.pop("ORCH_CTX_FILE", None)
        for name in self.secrets:  # each step gets only the secrets its recipe and step name
            env.pop(name, None)
        env.update({name: self.secrets[name] for name in self.recipe.secrets})
        return env

    # ------------------------------------------------------------------ the loop

    def execute(self) -> RunResult:
        started_wall, started = time.monotonic(), utc_stamp()
        self._prepare()
        if self.recipe.hooks:
            from .hooks import HookRunner

            self.bus.subscribe(HookRunner(self.recipe, self.base_env, self.paths.workdir, self.paths.logs,
                                          self.masker))
        self._publish(RunStarted(self.run_id, self.recipe, self.plan, started, self.options.argv,
                                    str(self.paths.logs / self.run_id), str(self.ctx_path)))
        for notice in self.notices:
            self._decide(notice)
        self._record_not_run()
        self.bus.deliver()  # on_run_start hooks and the run's database row come before any step starts
        self.scheduler = Scheduler(self.plan, self.slots, self.recipe.resources, stop_on_failure=self.serial)
        previous = self._install_signals()
        cwd = os.getcwd()
        os.chdir(self.paths.workdir)  # every step runs here; spawning without a chdir per step is faster
        try:
            self._loop()
        finally:
            os.chdir(cwd)
            self._restore_signals(previous)
            self.executor.close()
            self._finish_store()
        verdict = (Verdict.ABORTED if self.signal_received else Verdict.FAILED if self.failed else Verdict.SUCCEEDED)
        ordered = tuple(self.results[n] for n in self.plan.order if n in self.results)
        self._publish(RunFinished(self.run_id, verdict, ordered, started, utc_stamp(),
                                     time.monotonic() - started_wall, tuple(self.conflicts)))
        self.bus.close()
        if self.report:
            self.report.wait()
        code = {Verdict.SUCCEEDED: EXIT_OK, Verdict.FAILED: EXIT_STEP_FAILED}.get(
            verdict, EXIT_SIGTERM if self.signal_received == signal.SIGTERM else EXIT_SIGINT)
        graph = next((f for f in self.graph.final_files if f.suffix == ".png"), None) if self.graph else None
        return RunResult(plan=self.plan, run_id=self.run_id, verdict=verdict, exit_code=code, results=self.results,
                         runner_log=self.paths.logs / f"{self.run_id}_runner.log",
                         report=self.report.path if self.report else None, graph=graph)

    def _loop(self) -> None:
        aborting = False
        delivery_due = 0.0  # the first batch goes out at once: the console shows the first steps starting
        while not self.scheduler.done or self.retry_due:
            if self.signal_received and not aborting:
                aborting = True
                self._abort()
            started = 0
            if not aborting:
                started = self._start_due_retries()
                for step in self.scheduler.take_ready():
                    self._launch(step, 1)
                    started += 1
            if self.executor.running == 0 and not self.retry_due:
                if self.scheduler.done:
                    break
                if started:
                    continue  # those ended at once (could not start); more may be ready now
                for name, reason in self.scheduler.stop("not started: no slot or resource could ever free up"):
                    self._finish(name, StepStatus.SKIPPED, reason)  # defensive: never spin
                self.failed = True
                break
            # The steps that could start have started. Attempts that ended meanwhile come first (their slots
            # refill sooner); the bookkeeping (console, logs, database) is done while the steps run, in batches:
            # once DELIVER_INTERVAL has passed since the last one, or after DELIVER_EVERY events at the latest.
            # A batch then holds many steps' starts and ends: one write per sink, one transaction, and a step
            # that started and ended within it costs the database one row write instead of four.
            finished = self.executor.wait(0.0) if len(self.bus.pending) < DELIVER_EVERY else []
            if not finished and not self.signal_received:
                now = time.monotonic()
                if now >= delivery_due or len(self.bus.pending) >= DELIVER_EVERY:
                    self.bus.deliver()
                    delivery_due = now + DELIVER_INTERVAL
                timeout = max(0.0, min(d for d, _ in self.retry_due) - now) if self.retry_due else None
                if self.bus.pending:
                    until_due = max(0.0, delivery_due - now)
                    timeout = until_due if timeout is None else min(timeout, until_due)
                finished = self.executor.wait(timeout)
            for inv, outcome in finished:
                self._attempt_ended(inv, outcome)

    def _abort(self) -> None:
        name = signal.Signals(self.signal_received).name if self.signal_received else "signal"
        self._decide(f"{name} received: starting no new steps, ending running step trees")
        for step, reason in self.scheduler.stop(f"not started: the run was aborted ({name})"):
            self._finish(step, StepStatus.SKIPPED, reason)
        for _, step in self.retry_due:
            self.scheduler.finished(step, False)
            self._finish(step, StepStatus.ABORTED, f"retry cancelled: the run was aborted ({name})")
        self.retry_due.clear()
        self.executor.cancel_all(f"terminated: the run was aborted ({name})")

    def _install_signals(self) -> Any:
        def on_signal(signum: int, _frame: Any) -> None:
            if self.signal_received:  # a second Ctrl-C: no more grace
                self.executor.kill_all()
            self.signal_received = signum

        try:
            old_fd = signal.set_wakeup_fd(self.executor.wakeup_fd(), warn_on_full_buffer=False)
            return (old_fd, signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal))
        except ValueError:  # not in the main thread: embedders handle signals themselves
            return None

    def _restore_signals(self, previous: Any) -> None:
        if previous is not None:
            signal.set_wakeup_fd(previous[0])
            signal.signal(signal.SIGINT, previous[1])
            signal.signal(signal.SIGTERM, previous[2])

    # ------------------------------------------------------------------ starting attempts

    def _start_due_retries(self) -> int:
        now = time.monotonic()
        due = [item for item in self.retry_due if item[0] <= now]
        for item in due:
            self.retry_due.remove(item)
            self._launch(self.recipe.by_name[item[1]], self.attempts[item[1]] + 1)
        return len(due)

    def _launch(self, step: Step, attempt: int) -> None:
        self.attempts[step.name] = attempt
        try:
            inv = self._invocation(step, attempt)
        except TemplateError as exc:
            self.first_start.setdefault(step.name, utc_stamp())
            outcome = AttemptOutcome(exit_code=None, reason=f"not started: {exc}; a step before it must set it")
            self._attempt_ended(None, outcome, step=step, final=True)
            return
        early = self.executor.submit(inv)
        if early is not None:
            self.first_start.setdefault(step.name, utc_stamp())
            self._attempt_ended(inv, early)

    def _on_start(self, inv: Invocation, pid: int, started: Optional[str] = None) -> None:
        now = started or utc_stamp()
        self.first_start.setdefault(inv.step, now)
        self._publish(StepStarted(inv.step, inv.attempt, pid, inv.log_path, now))

    def _lookup(self, step: Step, attempt: int) -> Any:
        def lookup(root: str, path: list[str]) -> Any:
            if root == "ctx":
                text = self.store.get_json(path[0])
                if text is None:
                    raise TemplateError(f"{{{{ ctx.{'.'.join(path)} }}}}: context key {path[0]!r} is not set")
                return dig("ctx", {path[0]: json.loads(text)}, path)
            sources = {"test_meta": self.recipe.test_meta,
                       "run": {"id": self.run_id, "recipe": self.recipe.slug, "workdir": str(self.paths.workdir)},
                       "step": {"name": step.name, "attempt": attempt}}
            return dig(root, sources[root], path)
        return lookup

    def _invocation(self, step: Step, attempt: int) -> Invocation:
        lookup = self._lookup(step, attempt)
        flags = render(step.flags, lookup) if step.flags else {}
        argv = command(step.type, step.cmd, step.module, flags, sys.executable, BASH)
        env = dict(self.base_env)
        self.snapshots[step.name] = self.head
        env.update(ORCH_STEP=step.name, ORCH_ATTEMPT=str(attempt), ORCH_CTX_SEQ=str(self.head),
                   ORCH_CTX_JOURNAL=self._journal(step.name, attempt), ORCH_LOG_FILE=self._log(step.name))
        if step.function:
            env["ORCH_SCRIPTLET_CLASS"] = step.function
        env.update({name: self.secrets[name] for name in step.secrets})
        if step.type == "shell" and step.policy.expose_for_shell:
            env.update(self._exposed(step))
        if step.policy.env:
            env.update({k: str(v) for k, v in render(dict(step.policy.env), lookup).items()})
        return Invocation(step=step.name, attempt=attempt, argv=tuple(argv), env=env, cwd=self.cwd,
                          log_path=env["ORCH_LOG_FILE"], timeout=step.policy.timeout, stamp_lines=self.options.debug,
                          secrets=self.secret_values, limits=step.policy.limits,
                          pid_file=f"{self.run_dir}/pids/{step.name}.{attempt}")

    # per-step paths as plain strings: this is the hot path, and pathlib objects cost microseconds each
    def _journal(self, name: str, attempt: int) -> str:
        return f"{self._journal_prefix}{name}.{attempt}.jsonl"

    def _log(self, name: str) -> str:
        return f"{self._log_prefix}{name}.log"

    def _exposed(self, step: Step) -> dict[str, str]:
        wanted = step.policy.expose_for_shell
        values = self.store.items_json()
        keys = values.keys() if wanted is True else [k for k in wanted if k in values]  # type: ignore[union-attr]
        env: dict[str, str] = {}
        for key in keys:
            text = values[key]
            value = json.loads(text)
            rendered = value if isinstance(value, str) else text
            if len(rendered) > ENV_VALUE_LIMIT:
                self._decide(f"CTX_{_env_name(key)} not exposed: value over {ENV_VALUE_LIMIT} bytes "
                             "(read it with 'python context.py get')", step.name)
                continue
            env["CTX_" + _env_name(key)] = rendered
        return env

    # ------------------------------------------------------------------ finishing attempts

    def _attempt_ended(self, inv: Optional[Invocation], outcome: AttemptOutcome, step: Optional[Step] = None,
                       final: bool = False) -> None:
        step = step or self.recipe.by_name[inv.step]  # type: ignore[union-attr]
        attempt = self.attempts[step.name]
        journal = self._journal(step.name, attempt)
        shipped = getattr(self.executor, "journals", {}).pop((step.name, attempt), None)  # from a remote worker
        entries = shipped if shipped is not None else read_journal(Path(journal)) if os.path.exists(journal) else []
        if self.masker and entries:  # nothing a step wrote keeps a secret: not the context, not its journal
            entries = [self._masked_entry(e) for e in entries]
            os.unlink(journal)
        writes = [e for e in entries if e["op"] in ("set", "delete")]
        self.metadata[step.name] = {e["key"]: e.get("value") for e in entries if e["op"] == "meta"}
        if outcome.ok and (step.files_exist or step.ctx_has_keys):
            reason = checks.failure_reason(step, self.paths.workdir, writes,
                                           lambda k: self.store.get_json(k) is not None)
            if reason:
                outcome = outcome._replace(reason=reason)
        totals = self.totals.setdefault(step.name, [0.0, 0.0, 0.0])
        totals[0] += outcome.duration
        totals[1] += outcome.cpu
        totals[2] = max(totals[2], outcome.max_rss)
        final = final or outcome.ok or outcome.aborted or attempt > step.policy.retries or bool(self.signal_received)
        retry_in = None if final else step.policy.retry_delay * step.policy.backoff ** (attempt - 1)
        ended = outcome.ended or utc_stamp()
        self._publish(AttemptFinished(step.name, attempt, outcome, retry_in, ended))
        if outcome.stragglers:
            self._decide(f"ended background processes left by attempt {attempt}", step.name)
        if not final:
            self.retry_due.append((time.monotonic() + (retry_in or 0.0), step.name))
            return
        if writes:
            self._commit(step, attempt, writes)
        if outcome.ok:
            status = StepStatus.SUCCEEDED
        else:
            status = StepStatus.ABORTED if outcome.aborted else StepStatus.FAILED
        tolerated = status == StepStatus.FAILED and step.policy.continue_on_error
        self._finish(step.name, status, outcome.reason, outcome.exit_code, tolerated, ended)
        if status != StepStatus.SUCCEEDED and not tolerated:
            self.failed = True
        for name, reason in self.scheduler.finished(step.name, outcome.ok or tolerated):
            self._finish(name, StepStatus.SKIPPED, reason)

    def _masked_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = self.masker.scrub(entry)
        if "value_json" in entry:
            entry["value_json"] = self.masker.json_text(entry["value_json"])
        return entry

    def _commit(self, step: Step, attempt: int, writes: list[dict[str, Any]]) -> None:
        self.head, conflicts = self.store.commit(writes, step.name, attempt, self.run_id,
                                                     self.snapshots.get(step.name))
        keys = tuple(dict.fromkeys(w["key"] for w in writes))
        self._publish(ContextCommitted(step.name, attempt, keys, tuple(conflicts), self.head, utc_stamp()))
        for key in conflicts:  # rare: the other writer is looked up in the key's history
            other = next((h["who"] for h in reversed(self.store.history(key)) if h["who"] != step.name),
                         "another step")
            self.conflicts.append(f"{key} (written by {step.name} and {other}, running at the same time)")

    def _finish(self, name: str, status: StepStatus, reason: Optional[str], exit_code: Optional[int] = None,
                tolerated: bool = False, ended: Optional[str] = None) -> None:
        totals = self.totals.get(name, [0.0, 0.0, 0.0])
        result = StepResult(name=name, status=status, attempts=self.attempts.get(name, 0),
                            started=self.first_start.get(name), ended=ended or utc_stamp(), duration=totals[0],
                            cpu=totals[1], max_rss=int(totals[2]), exit_code=exit_code, reason=reason,
                            log_path=self._log(name) if name in self.attempts else None, tolerated=tolerated,
                            metadata=self.metadata.get(name, {}))
        self.results[name] = result
        self._publish(StepFinished(result))

    def _record_not_run(self) -> None:
        for name in self.plan.order:
            if name in self.plan.reused:
                result = StepResult(name=name, status=StepStatus.REUSED, reason=self.plan.reasons[name],
                                    reused_from=self.plan.base_run)
            elif name in self.plan.user_skipped:
                result = StepResult(name=name, status=StepStatus.SKIPPED, reason=self.plan.reasons[name])
            else:
                continue
            self.results[name] = result
            self._publish(StepFinished(result))

    def _publish(self, event: object) -> None:
        """Every event leaves the engine with secrets masked, so no sink can write one. Queued: the loop
        delivers the queue once the steps that could start have started (EventBus.deliver)."""
        self.bus.post(self.masker.scrub(event))

    def _decide(self, text: str, step: Optional[str] = None) -> None:
        self._publish(Decision(text, step, utc_stamp()))

    def _finish_store(self) -> None:
        self.store.close()
        if self.on_ram:
            final = self.run_dir / "context.db"
            _copy_sqlite(self.ctx_path, final)
            import shutil

            shutil.rmtree(self.ctx_path.parent, ignore_errors=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite file, even while it is in WAL mode."""
    if not source.exists():
        raise UserError(f"{source}: the context of the run to build on is missing; run the whole recipe again")
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(str(source)), sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _env_name(key: str) -> str:
    """A context key as an environment variable suffix: upper case, anything but A-Z, 0-9 and _ becomes _."""
    name = "".join(c if c.isalnum() and c.isascii() else "_" for c in key.upper())
    return ("_" + name) if name[:1].isdigit() else name

