"""The run database (SQLite, WAL): every run and step as it happens, readable by others while a run runs.

The schema has a version (PRAGMA user_version) and migrations applied on open; a newer or corrupt database is
refused with a message saying what to do.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any, Optional

from .errors import UserError
from .events import (AttemptFinished, ContextCommitted, Decision, Dispatching, RunFinished, RunStarted,
                     StepFinished, StepStarted)
from .process import start_ticks, utc_stamp
from .status import StepStatus, Verdict

MIGRATIONS: list[str] = [
    # version 1
    """
    CREATE TABLE runs(
        id TEXT PRIMARY KEY, recipe_path TEXT NOT NULL, recipe_name TEXT, recipe_sha256 TEXT, recipe_text TEXT,
        test_id TEXT, tester TEXT, description TEXT, test_meta TEXT, host TEXT, user TEXT, pid INTEGER,
        argv TEXT, mode TEXT, slots INTEGER, started TEXT, ended TEXT, duration REAL,
        verdict TEXT NOT NULL, parent_run TEXT, log_prefix TEXT, ctx_path TEXT);
    CREATE INDEX runs_recipe ON runs(recipe_path, started);
    CREATE TABLE steps(
        run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, position INTEGER, idx REAL,
        status TEXT NOT NULL, attempts INTEGER DEFAULT 0, started TEXT, ended TEXT, duration REAL, cpu REAL,
        max_rss INTEGER, exit_code INTEGER, reason TEXT, log_path TEXT, tolerated INTEGER DEFAULT 0,
        reused_from TEXT, PRIMARY KEY(run_id, name));
    CREATE TABLE attempts(
        run_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL, pid INTEGER, started TEXT,
        duration REAL, cpu REAL, max_rss INTEGER, exit_code INTEGER, signal INTEGER, reason TEXT,
        PRIMARY KEY(run_id, step, attempt));
    """,
    # version 2: step metadata (resource figures recorded by scriptlets) and the event log
    """
    ALTER TABLE steps ADD COLUMN metadata TEXT;
    CREATE TABLE events(
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, ts TEXT NOT NULL, kind TEXT NOT NULL, step TEXT,
        detail TEXT);
    CREATE INDEX events_run ON events(run_id, id);
    """,
    # version 3: the monitor lists runs newest first
    """
    CREATE INDEX runs_started ON runs(started);
    """,
    # version 4: every start looks for runs still marked running (mark_crashed); without an index that read
    # every run's row, recipe text included, so start-up grew with the history
    """
    CREATE INDEX runs_verdict ON runs(verdict);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
RUNS_STILL_RUNNING = "SELECT id, host, pid, started FROM runs WHERE verdict = ?"  # every start asks it


class RunDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not a usable run database ({exc}); move it aside to start a new one") from None

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserError(f"{self.path}: written by a newer orchestrator (schema {version} > {SCHEMA_VERSION}); "
                            "update this checkout or use another Data/ folder")
        for number in range(version, SCHEMA_VERSION):
            self.conn.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;")

    def close(self) -> None:
        self.conn.close()

    def mark_crashed(self) -> list[str]:
        """Runs still 'running' whose runner process is gone (kill -9, power loss) become 'crashed'; their
        running steps become 'aborted'. Their committed steps and context stay usable for --resume-from."""
        rows = self.conn.execute(RUNS_STILL_RUNNING, (Verdict.RUNNING.value,)).fetchall()
        crashed = [run_id for run_id, host, pid, started in rows
                   if host == os.uname().nodename and not _runner_alive(pid, started)]
        now = utc_stamp()
        for run_id in crashed:
            self._end_orphans(run_id)
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE runs SET verdict = ?, ended = ? WHERE id = ? AND verdict = ?",
                              (Verdict.CRASHED.value, now, run_id, Verdict.RUNNING.value))
            self.conn.execute("UPDATE steps SET status = ?, reason = ?, ended = ? WHERE run_id = ? AND status = ?",
                              (StepStatus.ABORTED.value, "the runner died while the step ran (crashed run)", now,
                               run_id, StepStatus.RUNNING.value))
            self.conn.execute("INSERT INTO events(run_id, ts, kind, detail) VALUES (?,?,?,?)",
                              (run_id, now, "run_crashed", json.dumps({"found_by_pid": os.getpid()})))
            self.conn.execute("COMMIT")
        return crashed

    def _end_orphans(self, run_id: str) -> None:
        """Step processes of a dead runner live on in their own sessions: end their process groups, checking
        start times so a reused pid is never hit."""
        rows = self.conn.execute(
            "SELECT a.step, a.attempt, a.pid, a.started FROM attempts a JOIN steps s "
            "ON s.run_id = a.run_id AND s.name = a.step WHERE a.run_id = ? AND s.status = ? AND a.duration IS NULL",
            (run_id, StepStatus.RUNNING.value))
        for step, attempt, pid, started in rows.fetchall():
            if pid and _started_by(pid, started):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            pid_file = self.path.parent / "runs" / run_id / "pids" / f"{step}.{attempt}"
            for line in pid_file.read_text().splitlines() if pid_file.exists() else ():
                number, ticks = line.split()
                if start_ticks(int(number)) == int(ticks):
                    try:
                        os.kill(int(number), signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass

    # ------------------------------------------------------------------ queries

    def resolve(self, ref: str) -> str:
        """`latest`, a full run id, or an unambiguous start or end of one (`bd49`) -> the run id, as every
        command that takes a run accepts it. Raises UserError naming recent runs when nothing matches."""
        if not ref.strip():
            raise UserError("an empty run id; give a run id, the start or end of one, or 'latest'")
        if ref == "latest":
            row = self.conn.execute("SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise UserError(f"no runs recorded in {self.path}; run a recipe first")
            return str(row[0])
        if self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (ref,)).fetchone():
            return ref
        matches = self._matching(_like(ref) + "%") or self._matching("%" + _like(ref))  # a start, else an end
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UserError(f"run {ref!r} is ambiguous: it matches {len(matches)} run ids ({', '.join(matches[:5])}"
                            f"{', ...' if len(matches) > 5 else ''}); give more of the id")
        recent = [r[0] for r in self.conn.execute("SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT 3")]
        hint = f"recent runs: {', '.join(recent)}" if recent else "no runs are recorded yet"
        raise UserError(f"run {ref!r} not found in {self.path}; {hint} (or use 'latest')")

    def _matching(self, pattern: str) -> list[str]:
        rows = self.conn.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (pattern,))
        return [str(r[0]) for r in rows]

    def latest_run(self, recipe_path: str) -> Optional[str]:
        row = self.conn.execute("SELECT id FROM runs WHERE recipe_path = ? ORDER BY started DESC, id DESC LIMIT 1",
                                (recipe_path,)).fetchone()
        return row[0] if row else None

    def run(self, run_id: str) -> Optional[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        row = cur.fetchone()
        return dict(zip([c[0] for c in cur.description], row)) if row else None

    def ok_steps(self, run_id: str) -> frozenset[str]:
        rows = self.conn.execute("SELECT name FROM steps WHERE run_id = ? AND status IN (?, ?)",
                                 (run_id, StepStatus.SUCCEEDED.value, StepStatus.REUSED.value))
        return frozenset(r[0] for r in rows)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


Statement = tuple[str, Any]  # (sql, parameters), or (sql, [parameters, ...]) for executemany
_STOP = None


class RunRecorder(Dispatching):
    """Event subscriber recording runs, steps, attempts and events as they happen.

    The runner's thread only turns events into SQL statements and hands each batch of events over in one
    queue put (at the bus's flush); a writer thread with its own connection commits whatever is queued in one
    transaction, so a burst of events costs one commit, and a reader (the monitor) sees each change within
    the loop's delivery interval (run.DELIVER_INTERVAL, 50 ms) and a few milliseconds.

    The `events` table is the database's change feed (readers use its newest id to see that something
    changed): one row per run start and end, decision and context commit, and one `steps` row per batch
    naming the steps that started, ended an attempt or finished in it. What those steps did is in the
    `steps` and `attempts` tables, so it is not written a second time per event."""

    def __init__(self, db: RunDB) -> None:
        self.db = db
        self.run_id: Optional[str] = None
        self.error: Optional[str] = None
        self.queue: "queue.SimpleQueue[Optional[list[Statement]]]" = queue.SimpleQueue()
        self.batch: list[Statement] = []
        self.changes: dict[str, dict[str, Any]] = {}  # the batch's step changes, for its `steps` event row
        # attempts that started in this batch: (step, attempt) -> (pid, started, log_path). Written at the flush,
        # or, when the attempt also ended within the batch, as one complete `attempts` row at its end
        self.starting: dict[tuple[str, int], tuple[int, str, str]] = {}
        self.handlers = {RunStarted: self._run_started, Decision: self._decision,
                          ContextCommitted: self._context_committed, StepStarted: self._step_started,
                          AttemptFinished: self._attempt_finished, StepFinished: self._step_finished,
                          RunFinished: self._run_finished}
        self.thread = threading.Thread(target=self._write_loop, name="rundb-writer", daemon=True)
        self.thread.start()

    def flush(self) -> None:
        for (step, attempt), (pid, started, log_path) in self.starting.items():  # still running: the start alone
            self.batch += [self._running_row(step, attempt, started, log_path),
                           ("INSERT OR REPLACE INTO attempts(run_id, step, attempt, pid, started) VALUES (?,?,?,?,?)",
                            (self.run_id, step, attempt, pid, started))]
        self.starting.clear()
        self._close_changes()
        if self.batch:
            self.queue.put(self.batch)
            self.batch = []

    def _event(self, kind: str, step: Optional[str], detail: dict[str, Any], at: Optional[str] = None) -> None:
        """One `events` row, stamped with the time of the event when it carries one."""
        self.batch.append(("INSERT INTO events(run_id, ts, kind, step, detail) VALUES (?,?,?,?,?)",
                           (self.run_id, at or utc_stamp(), kind, step, json.dumps(detail, default=str))))

    def _changed(self, kind: str, step: str, value: Any) -> None:
        self.changes.setdefault(kind, {})[step] = value

    def _close_changes(self) -> None:
        """The batch's step changes as one `steps` event, e.g. {"started": {"a": 1}, "finished": {"b": "failed"}}."""
        if self.changes:
            steps = {name for names in self.changes.values() for name in names}
            self._event("steps", next(iter(steps)) if len(steps) == 1 else None, self.changes)
            self.changes = {}

    # ------------------------------------------------------------------ one handler per event type

    def _run_started(self, e: RunStarted) -> None:
        self.run_id = e.run_id
        self.batch += self._run_rows(e)
        self._event("run_started", None, {"argv": list(e.argv)}, e.started)

    def _decision(self, e: Decision) -> None:
        self._event("decision", e.step, {"text": e.text}, e.at)

    def _context_committed(self, e: ContextCommitted) -> None:
        self._event("context_committed", e.step, {"attempt": e.attempt, "keys": list(e.keys),
                                                  "conflicts": list(e.conflicts), "head": e.head}, e.at)

    def _step_started(self, e: StepStarted) -> None:
        self.starting[(e.step, e.attempt)] = (e.pid, e.started, e.log_path)
        self._changed("started", e.step, e.attempt)

    def _running_row(self, step: str, attempt: int, started: str, log_path: str) -> Statement:
        """The step's row marked running, at its attempt."""
        return ("UPDATE steps SET status = ?, started = COALESCE(started, ?), attempts = ?, log_path = ? "
                "WHERE run_id = ? AND name = ?",
                (StepStatus.RUNNING.value, started, attempt, log_path, self.run_id, step))

    def _attempt_finished(self, e: AttemptFinished) -> None:
        o = e.outcome
        start = self.starting.pop((e.step, e.attempt), None)
        if start is None:  # its start went out with an earlier batch
            self.batch.append(("UPDATE attempts SET duration = ?, cpu = ?, max_rss = ?, exit_code = ?, signal = ?, "
                               "reason = ? WHERE run_id = ? AND step = ? AND attempt = ?",
                               (o.duration, o.cpu, o.max_rss, o.exit_code, o.signal, o.reason, self.run_id, e.step,
                                e.attempt)))
        else:  # started and ended within this batch: one complete row; the step's row comes with StepFinished
            pid, started, log_path = start
            if e.retry_in is not None:  # not its last attempt: no StepFinished follows, the step runs on
                self.batch.append(self._running_row(e.step, e.attempt, started, log_path))
            self.batch.append(("INSERT OR REPLACE INTO attempts(run_id, step, attempt, pid, started, duration, cpu, "
                               "max_rss, exit_code, signal, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                               (self.run_id, e.step, e.attempt, pid, started, o.duration, o.cpu, o.max_rss,
                                o.exit_code, o.signal, o.reason)))
        if e.retry_in is not None:
            self._changed("retrying", e.step, {"attempt": e.attempt, "reason": o.reason, "retry_in": e.retry_in})

    def _step_finished(self, e: StepFinished) -> None:
        r = e.result
        self.batch.append(("UPDATE steps SET status = ?, attempts = ?, started = ?, ended = ?, duration = ?, cpu = ?, "
                           "max_rss = ?, exit_code = ?, reason = ?, log_path = ?, tolerated = ?, reused_from = ?, "
                           "metadata = ? WHERE run_id = ? AND name = ?",
                           (r.status.value, r.attempts, r.started, r.ended, r.duration, r.cpu, r.max_rss, r.exit_code,
                            r.reason, r.log_path, int(r.tolerated), r.reused_from,
                            json.dumps(r.metadata) if r.metadata else None, self.run_id, r.name)))
        self._changed("finished", r.name, r.status.value)

    def _run_finished(self, e: RunFinished) -> None:
        self._close_changes()
        self.batch.append(("UPDATE runs SET ended = ?, duration = ?, verdict = ? WHERE id = ?",
                           (e.ended, e.duration, e.verdict.value, e.run_id)))
        self._event("run_finished", None, {"verdict": e.verdict.value, "conflicts": list(e.conflicts)}, e.ended)

    def _run_rows(self, e: RunStarted) -> list[Statement]:
        recipe, plan, meta = e.recipe, e.plan, e.recipe.test_meta
        run = ("INSERT INTO runs(id, recipe_path, recipe_name, recipe_sha256, recipe_text, test_id, tester, "
               "description, test_meta, host, user, pid, argv, mode, slots, started, verdict, parent_run, log_prefix, "
               "ctx_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (e.run_id, str(recipe.path), recipe.slug, recipe.sha256, recipe.text, meta.get("test_id"),
                meta.get("tester"), meta.get("description"), json.dumps(meta), os.uname().nodename, _user(),
                os.getpid(), json.dumps(list(e.argv)), recipe.mode, recipe.max_parallel, e.started, "running",
                plan.base_run, e.log_prefix, e.ctx_path))
        steps = ("INSERT INTO steps(run_id, name, position, idx, status) VALUES (?,?,?,?,?)",
                 [(e.run_id, name, pos, recipe.by_name[name].idx, StepStatus.PENDING.value)
                  for pos, name in enumerate(plan.order)])
        return [run, steps]

    # ------------------------------------------------------------------ the writer thread

    def _write_loop(self) -> None:
        conn = sqlite3.connect(str(self.db.path), timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                batch = [self.queue.get()]
                while not self.queue.empty() and len(batch) < 1000:
                    batch.append(self.queue.get())
                stop = _STOP in batch
                self._commit(conn, [s for item in batch if item is not _STOP for s in item])
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, statements: list[Statement]) -> None:
        if not statements or self.error:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                if isinstance(params, list):
                    conn.executemany(sql, params)
                else:
                    conn.execute(sql, params)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # disk full, locked for too long: say it once, keep the run going
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.error = f"the run database {self.db.path} stopped recording: {exc}"
            print(f"warning: {self.error}", file=sys.stderr)

    def close(self) -> None:
        self.flush()
        self.queue.put(_STOP)
        self.thread.join()
        self.db.close()


def _epoch(stamp: str) -> float:
    import calendar
    import time

    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + stamp[19:].rstrip("Z"))


def _created(pid: int) -> Optional[float]:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _runner_alive(pid: Optional[int], started: Optional[str]) -> bool:
    """Is the process that started this run still running? (A pid reused since then does not count.)"""
    created = _created(pid) if pid else None
    if created is None:
        return False
    return not started or created <= _epoch(started) + 1


def _started_by(pid: int, started: Optional[str]) -> bool:
    """Is pid the process started for an attempt at `started` (not a later process that reused the pid)?"""
    created = _created(pid)
    return created is not None and (not started or abs(created - _epoch(started)) < 5)


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return str(os.getuid())


def _like(text: str) -> str:
    """text as a literal inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
