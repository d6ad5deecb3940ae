"""One recorded run as plain, typed values: what every report format is written from.

`load_run` reads the run database (runs, steps, attempts) and the run's context file (final values and
every change) and returns a `RunReport`. The writers never touch SQLite themselves, so each can be tested
with a report built by hand, and a report is read once however many formats are written from it.
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from engine.errors import UserError
from engine.paths import Paths
from engine.rundb import RunDB
from engine.status import StepStatus

LOG_TAIL_LINES = 20
_TAIL_MAX_BYTES = 256 * 1024  # a log without newlines (a flood) must not be read whole
FAILED_STATUSES = (StepStatus.FAILED, StepStatus.ABORTED)


class ReportError(UserError):
    """A report that cannot be made from what was given (unknown run, no runs, bad format): exit code 2."""


@dataclass(frozen=True)
class RunInfo:
    """The `runs` row of one run, with test_meta decoded."""

    id: str
    recipe_name: str
    recipe_path: str
    verdict: str
    started: Optional[str]
    ended: Optional[str]
    duration: Optional[float]
    test_meta: dict[str, Any]
    host: Optional[str]
    user: Optional[str]
    mode: Optional[str]
    slots: Optional[int]
    parent_run: Optional[str]
    log_prefix: Optional[str]
    ctx_path: Optional[str]
    argv: tuple[str, ...]
    recipe_sha256: Optional[str] = None


@dataclass(frozen=True)
class AttemptInfo:
    """One attempt of a step (a retry adds one)."""

    attempt: int
    pid: Optional[int]
    started: Optional[str]
    duration: Optional[float]
    cpu: Optional[float]
    max_rss: Optional[int]
    exit_code: Optional[int]
    signal: Optional[int]
    reason: Optional[str]


@dataclass(frozen=True)
class StepInfo:
    """One step of the run, in plan order, with its attempts."""

    name: str
    position: int
    status: StepStatus
    attempts: int
    started: Optional[str]
    ended: Optional[str]
    duration: Optional[float]
    cpu: Optional[float]
    max_rss: Optional[int]  # bytes; 0/None when the step was too short to sample
    exit_code: Optional[int]
    reason: Optional[str]
    log_path: Optional[str]
    tolerated: bool = False
    reused_from: Optional[str] = None
    attempt_list: tuple[AttemptInfo, ...] = ()

    @property
    def max_rss_mb(self) -> Optional[float]:
        return round(self.max_rss / 1048576, 1) if self.max_rss else None

    @property
    def note(self) -> str:
        """What the status alone does not say: a tolerated failure, a result reused from an earlier run."""
        if self.tolerated:
            return "failure tolerated (continue_on_error)"
        if self.reused_from:
            return f"reused from run {self.reused_from}"
        return ""


@dataclass(frozen=True)
class Change:
    """One row of the context history; old/new are JSON text (None: absent or deleted)."""

    seq: int
    key: str
    who: str
    attempt: Optional[int]
    ts: str
    op: str
    old: Optional[str]
    new: Optional[str]
    run_id: Optional[str]
    undone_by: Optional[str]


@dataclass(frozen=True)
class Failure:
    """A failed or aborted step with the end of its log."""

    step: str
    status: StepStatus
    reason: str
    exit_code: Optional[int]
    log_path: Optional[str]
    log_tail: tuple[str, ...]


@dataclass(frozen=True)
class RunReport:
    """Everything a report shows about one run."""

    run: RunInfo
    steps: tuple[StepInfo, ...]
    context: dict[str, str]  # key -> JSON text of the final value
    history: tuple[Change, ...]
    failures: tuple[Failure, ...]
    notes: tuple[str, ...] = field(default=())  # what could not be read (a missing context file, ...)

    @property
    def counts(self) -> dict[str, int]:
        """Steps per status, every status present (zero when none), in the enum's order."""
        counts = {status.value: 0 for status in StepStatus}
        for step in self.steps:
            counts[step.status.value] += 1
        return counts


# --------------------------------------------------------------------------- opening and resolving


def open_db(paths: Paths) -> RunDB:
    """The run database of the work folder; a missing one is a clear error, never an empty new file."""
    if not paths.db.exists():
        raise ReportError(f"no runs recorded: {paths.db} does not exist; run a recipe first "
                          "(or give --workdir for another work folder)")
    return RunDB(paths.db)


def resolve_run_id(db: RunDB, ref: str) -> str:
    """`latest`, a full run id, or an unambiguous start or end of one (`bd49`) -> the run id."""
    try:
        return db.resolve(ref)
    except UserError as exc:
        raise ReportError(str(exc)) from None


# --------------------------------------------------------------------------- loading


def load_run(db: RunDB, run_id: str, paths: Paths, with_history: bool = True,
             tail_lines: int = LOG_TAIL_LINES) -> RunReport:
    """Read one run (already resolved with `resolve_run_id`) into a RunReport.

    with_history=False skips the context history and the log tails (a comparison needs neither)."""
    row = db.run(run_id)
    if row is None:
        raise ReportError(f"run {run_id!r} not found in {db.path}")
    run = _run_info(row)
    steps = _steps(db.conn, run_id)
    notes: list[str] = []
    ctx_file = context_path(run, paths)
    if ctx_file is None:
        notes.append(f"context file of run {run_id} not found (looked for {run.ctx_path} and "
                     f"{paths.runs / run_id / 'context.db'})")
        context: dict[str, str] = {}
        history: tuple[Change, ...] = ()
    else:
        context, history = _context(ctx_file, with_history)
    failures = tuple(_failure(s, tail_lines if with_history else 0) for s in steps if s.status in FAILED_STATUSES)
    return RunReport(run=run, steps=steps, context=context, history=history, failures=failures, notes=tuple(notes))


def _run_info(row: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=row["id"], recipe_name=row["recipe_name"] or Path(row["recipe_path"]).stem, recipe_path=row["recipe_path"],
        verdict=row["verdict"], started=row["started"], ended=row["ended"], duration=row["duration"],
        test_meta=_json_object(row["test_meta"]), host=row["host"], user=row["user"], mode=row["mode"],
        slots=row["slots"], parent_run=row["parent_run"], log_prefix=row["log_prefix"], ctx_path=row["ctx_path"],
        argv=tuple(_json_list(row["argv"])), recipe_sha256=row["recipe_sha256"])


def _json_object(text: Optional[str]) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"test_meta": text}  # not JSON: keep what was recorded rather than fail the report
    return value if isinstance(value, dict) else {"test_meta": value}


def _json_list(text: Optional[str]) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return [str(text)]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _steps(conn: sqlite3.Connection, run_id: str) -> tuple[StepInfo, ...]:
    attempts: dict[str, list[AttemptInfo]] = {}
    for step, *values in conn.execute(
            "SELECT step, attempt, pid, started, duration, cpu, max_rss, exit_code, signal, reason FROM attempts "
            "WHERE run_id = ? ORDER BY step, attempt", (run_id,)):
        attempts.setdefault(step, []).append(AttemptInfo(*values))
    rows = conn.execute(
        "SELECT name, position, status, attempts, started, ended, duration, cpu, max_rss, exit_code, reason, "
        "log_path, tolerated, reused_from FROM steps WHERE run_id = ? ORDER BY position, idx, name", (run_id,))
    return tuple(_step(r, tuple(attempts.get(r[0], ()))) for r in rows)


def _step(r: tuple[Any, ...], attempts: tuple[AttemptInfo, ...]) -> StepInfo:
    ran = bool(r[3])  # a skipped or reused step is recorded with zero times: show none rather than 0.000 s
    return StepInfo(name=r[0], position=r[1] or 0, status=_status(r[2]), attempts=r[3] or 0, started=r[4],
                    ended=r[5], duration=r[6] if ran else None, cpu=r[7] if ran else None,
                    max_rss=r[8] if ran else None, exit_code=r[9], reason=r[10], log_path=r[11],
                    tolerated=bool(r[12]), reused_from=r[13], attempt_list=attempts)


def _status(text: str) -> StepStatus:
    try:
        return StepStatus(text)
    except ValueError:  # a status written by a newer orchestrator: show it as not finished
        return StepStatus.PENDING


def context_path(run: RunInfo, paths: Paths) -> Optional[Path]:
    """The run's context file: where the run recorded it, else its usual place (a store_on_ram run's
    recorded path was in /dev/shm and is gone once the run ended)."""
    for candidate in (run.ctx_path, str(paths.runs / run.id / "context.db")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _context(path: Path, with_history: bool) -> tuple[dict[str, str], tuple[Change, ...]]:
    from context import ContextStore  # the orchestrator's context module (orchestrator/ is on sys.path)

    store = ContextStore(path)
    try:
        final = store.items_json()
        history = tuple(_history(store.conn)) if with_history else ()
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"{path}: not a readable context file ({exc})") from None
    finally:
        store.close()
    return final, history


def _history(conn: sqlite3.Connection) -> list[Change]:
    """Every change in order, old values derived per key as ContextStore.history does (the previous row)."""
    current: dict[str, Optional[str]] = {}
    out: list[Change] = []
    for seq, key, op, value, who, attempt, ts, run_id, undone in conn.execute(
            "SELECT seq, key, op, value, who, attempt, ts, run_id, undone FROM changes ORDER BY seq"):
        out.append(Change(seq, key, who, attempt, ts, op, current.get(key), value, run_id, undone))
        current[key] = value
    return out


def _failure(step: StepInfo, tail_lines: int) -> Failure:
    log_tail = tuple(read_tail(Path(step.log_path), tail_lines)) if step.log_path and tail_lines else ()
    reason = step.reason or ("aborted" if step.status is StepStatus.ABORTED else "failed")
    return Failure(step=step.name, status=step.status, reason=reason, exit_code=step.exit_code,
                   log_path=step.log_path, log_tail=log_tail)


def read_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a text file, reading backwards in blocks (logs can be gigabytes).
    A missing file gives one line saying so."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            start = end
            chunk = b""
            while start > 0 and chunk.count(b"\n") <= lines and end - start < _TAIL_MAX_BYTES:
                start = max(0, start - 8192)
                fh.seek(start)
                chunk = fh.read(end - start)
    except OSError as exc:
        return [f"(log not readable: {exc.strerror or exc}: {path})"]
    text = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
    return [line.rstrip("\r") for line in text.split("\n")[-lines:]] if text else []


def parse_ts(text: Optional[str]) -> Optional[datetime]:
    """A recorded UTC ISO timestamp as a naive UTC datetime (what spreadsheets can show), None if absent/bad."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None
