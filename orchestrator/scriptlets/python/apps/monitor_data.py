"""Read-only queries of the run database for the monitor: runs, steps, change cursors, log tails, metrics.

Everything here is plain data in, plain data out (dicts, lists, strings), with no Dash or Flask, so the pages,
the JSON API and the benchmark share it (contexts: monitor_context). The run database is opened read-only
(`mode=ro`), one short-lived connection per call, so a request never holds a read transaction open while the
runner writes (WAL lets both proceed). Nothing here imports the engine: the schema is read as the runner
wrote it (engine/rundb.py, context.py).

A log is always found by run id + step name in the database, and its path must resolve inside
<workdir>/Logs; nothing a browser sends becomes a path.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Union

STEP_STATUSES = ("pending", "running", "succeeded", "failed", "skipped", "aborted", "reused")
VERDICTS = ("running", "succeeded", "failed", "aborted", "crashed")
RUN_COLUMNS = ("id", "recipe_name", "recipe_path", "test_id", "tester", "verdict", "started", "ended", "duration",
               "host")
STEP_COLUMNS = ("name", "position", "idx", "status", "attempts", "started", "ended", "duration", "cpu", "max_rss",
                "exit_code", "reason", "log_path", "tolerated", "reused_from", "metadata")
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
GRAPH_NAMES = ("step_sequence.svg", "step_sequence.png")
Cursor = Union[int, str]


class MonitorError(Exception):
    """A database or file the monitor cannot use; the message names it and says why."""


def connect_ro(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """Open an SQLite file read-only (the URI form: `file:...?mode=ro`); raise MonitorError if unusable."""
    if not path.is_file():
        raise MonitorError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                               check_same_thread=False)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise MonitorError(f"{path}: cannot be read as an SQLite database ({exc})") from None
    return conn


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_ts(text: Optional[str]) -> Optional[datetime]:
    """The runner's UTC stamps ('2026-11-21T23:25:11.260109Z') as aware datetimes; None for None/garbage."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _rows(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _json(text: Optional[str]) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


@dataclass(frozen=True)
class RunFilter:
    """Runs-page filters. Dates are 'YYYY-MM-DD' (UTC), both ends inclusive; recipe matches name or path."""

    recipe: Optional[str] = None
    tester: Optional[str] = None
    verdict: Optional[str] = None
    since: Optional[str] = None
    until: Optional[str] = None

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (or '') and its parameters. Raises ValueError for a malformed date."""
        parts: list[str] = []
        params: list[Any] = []
        if self.recipe:
            parts.append("(recipe_name = ? OR recipe_path = ?)")
            params += [self.recipe, self.recipe]
        for column, value in (("tester", self.tester), ("verdict", self.verdict)):
            if value:
                parts.append(f"{column} = ?")
                params.append(value)
        if self.since:
            parts.append("started >= ?")
            params.append(date.fromisoformat(self.since[:10]).isoformat())
        if self.until:
            parts.append("started < ?")
            params.append((date.fromisoformat(self.until[:10]) + timedelta(days=1)).isoformat())
        return (" WHERE " + " AND ".join(parts)) if parts else "", params


@dataclass(frozen=True)
class LogTail:
    """The end of a step's log. `error` says why there is no text (no log yet, refused path, ...)."""

    text: str = ""
    size: int = 0
    name: str = ""
    truncated: bool = False
    error: Optional[str] = None


@dataclass
class Database:
    """The run database of one work folder, opened read-only per call."""

    path: Path
    workdir: Path
    _has_events: bool = field(default=False, repr=False)

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "Logs"

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one query burst, closed afterwards."""
        conn = connect_ro(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def check(self) -> None:
        """Raise MonitorError unless this is a run database (a `runs` and a `steps` table)."""
        with self.read() as conn:
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.Error as exc:
                raise MonitorError(f"{self.path}: cannot be read ({exc})") from None
        missing = {"runs", "steps"} - tables
        if missing:
            raise MonitorError(f"{self.path}: not a run database (no {', '.join(sorted(missing))} table)")

    def has_events(self, conn: sqlite3.Connection) -> bool:
        """Schema 2+ has the event log; older databases fall back to a signature of the steps table."""
        if not self._has_events:
            self._has_events = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone() is not None
        return self._has_events

    # ------------------------------------------------------------------ cursors: has anything changed?

    def global_cursor(self) -> Cursor:
        """Changes whenever any run changes (the newest event id)."""
        with self.read() as conn:
            if self.has_events(conn):
                return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
            return str(conn.execute("SELECT COUNT(*), MAX(started), MAX(ended), "
                                    "SUM(verdict = 'running') FROM runs").fetchone())

    def run_cursor(self, run_id: str) -> tuple[Cursor, Optional[str]]:
        """(the newest event id of this run, its verdict); verdict None when the run does not exist."""
        with self.read() as conn:
            row = conn.execute("SELECT verdict FROM runs WHERE id = ?", (run_id,)).fetchone()
            if self.has_events(conn):
                cursor: Cursor = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM events WHERE run_id = ?",
                                                  (run_id,)).fetchone()[0])
            else:
                cursor = str(conn.execute("SELECT COUNT(*), SUM(attempts), MAX(ended), GROUP_CONCAT(status) "
                                          "FROM steps WHERE run_id = ?", (run_id,)).fetchone())
        return cursor, (row[0] if row else None)

    # ------------------------------------------------------------------ runs

    def list_runs(self, filt: RunFilter, limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(how many runs match, one page of them newest first, each with `step_counts` per status)."""
        where, params = filt.where()
        with self.read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0]
            runs = _rows(conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs{where} "
                                      "ORDER BY started DESC, id DESC LIMIT ? OFFSET ?", [*params, limit, offset]))
            counts = self._step_counts(conn, [r["id"] for r in runs])
        for run in runs:
            run["step_counts"] = counts.get(run["id"], {})
        return total, runs

    @staticmethod
    def _step_counts(conn: sqlite3.Connection, run_ids: list[str]) -> dict[str, dict[str, int]]:
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        out: dict[str, dict[str, int]] = {}
        for run_id, status, n in conn.execute(
                f"SELECT run_id, status, COUNT(*) FROM steps WHERE run_id IN ({marks}) GROUP BY run_id, status",
                run_ids):
            out.setdefault(run_id, {})[status] = n
        return out

    def filter_options(self) -> dict[str, list[str]]:
        """Distinct recipes, testers and verdicts, for the filter dropdowns."""
        with self.read() as conn:
            return {column: [r[0] for r in conn.execute(
                f"SELECT DISTINCT {column} FROM runs WHERE {column} IS NOT NULL ORDER BY {column}")]
                for column in ("recipe_name", "tester", "verdict")}

    def run(self, run_id: str) -> Optional[dict[str, Any]]:
        """The run's row (test_meta parsed), or None."""
        with self.read() as conn:
            rows = _rows(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)))
        if not rows:
            return None
        run = rows[0]
        run.pop("recipe_text", None)  # can be large; the API and pages do not show it
        run["test_meta"] = _json(run.get("test_meta"))
        return run

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps in plan order (metadata parsed)."""
        with self.read() as conn:
            names = {r[1] for r in conn.execute("PRAGMA table_info(steps)")}  # schema 1 has no metadata
            available = [c for c in STEP_COLUMNS if c in names]
            steps = _rows(conn.execute(f"SELECT {', '.join(available)} FROM steps WHERE run_id = ? "
                                       "ORDER BY position", (run_id,)))
        for step in steps:
            step["metadata"] = _json(step.get("metadata"))
        return steps

    def step_status(self, run_id: str, step: str) -> Optional[str]:
        with self.read() as conn:
            row = conn.execute("SELECT status FROM steps WHERE run_id = ? AND name = ?", (run_id, step)).fetchone()
        return row[0] if row else None

    def same_recipe_runs(self, run_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """Other runs of this run's recipe, newest first (for the compare picker)."""
        with self.read() as conn:
            return _rows(conn.execute(
                "SELECT id, verdict, started FROM runs WHERE recipe_path = (SELECT recipe_path FROM runs WHERE id = ?)"
                " AND id != ? ORDER BY started DESC, id DESC LIMIT ?", (run_id, run_id, limit)))

    def compare(self, first: str, second: str) -> list[dict[str, Any]]:
        """Per step name: status and duration in each run (steps of the first run first, in plan order)."""
        a = {s["name"]: s for s in self.steps(first)}
        b = {s["name"]: s for s in self.steps(second)}
        rows = []
        for name in [*a, *(n for n in b if n not in a)]:
            sa, sb = a.get(name, {}), b.get(name, {})
            da, db = (s.get("duration") if s.get("started") else None for s in (sa, sb))  # skipped: no time
            rows.append({"name": name, "status_a": sa.get("status"), "duration_a": da, "status_b": sb.get("status"),
                         "duration_b": db, "delta": (db - da) if da is not None and db is not None else None})
        return rows

    # ------------------------------------------------------------------ logs and images

    def log_tail(self, run_id: str, step: str, max_bytes: int = 65536) -> LogTail:
        """The last `max_bytes` of a step's log, from the path the database records, kept inside Logs/."""
        path, error = self.log_path(run_id, step)
        if path is None:
            return LogTail(error=error)
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - max_bytes))
                data = fh.read(max_bytes)
        except OSError as exc:
            return LogTail(name=path.name, error=f"cannot read {path.name}: {exc.strerror}")
        text = data.decode("utf-8", errors="replace")
        cut = text.find("\n")
        if size > max_bytes and 0 <= cut < len(text) - 1:
            text = text[cut + 1:]  # drop the partial first line (unless it is all there is)
        return LogTail(text=text, size=size, name=path.name, truncated=size > max_bytes)

    def log_path(self, run_id: str, step: str) -> tuple[Optional[Path], Optional[str]]:
        """(the step's log file, None) or (None, why not). Refuses any path outside <workdir>/Logs."""
        with self.read() as conn:
            row = conn.execute("SELECT log_path FROM steps WHERE run_id = ? AND name = ?", (run_id, step)).fetchone()
        if row is None:
            return None, f"no step {step!r} in run {run_id!r}"
        if not row[0]:
            return None, "no log yet (the step has not started)"
        path = Path(row[0]).resolve()
        if not path.is_relative_to(self.logs_dir.resolve()):
            return None, "refused: the recorded log path is outside the Logs folder"
        if not path.is_file():
            return None, f"{path.name} does not exist (yet)"
        return path, None

    def log_stat(self, run_id: str, step: str) -> Optional[list[int]]:
        """[size, mtime_ns] of the step's log (cheap change detection for following it), or None."""
        path, _ = self.log_path(run_id, step)
        try:
            st = path.stat() if path else None
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns] if st else None

    def graph_image(self, run_id: str) -> Optional[Path]:
        """The step graph of a run: its run folder's copy, else the work folder's Assets/ (latest graph)."""
        run = self.run(run_id)
        candidates = []
        if run and run.get("ctx_path"):
            candidates += [Path(run["ctx_path"]).parent / n for n in GRAPH_NAMES]
        candidates += [self.workdir / "Assets" / n for n in GRAPH_NAMES]
        root = self.workdir.resolve()
        for path in candidates:
            if path.is_file() and path.resolve().is_relative_to(root):
                return path
        return None

    def graph_version(self, run_id: str) -> str:
        """'mtime_ns-size' of the step graph file ('' without one): it changes whenever the runner redraws.
        (A string: a JSON number that large would lose digits in the browser.)"""
        image = self.graph_image(run_id)
        try:
            st = image.stat() if image else None
        except OSError:
            return ""
        return f"{st.st_mtime_ns}-{st.st_size}" if st else ""

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> dict[str, Any]:
        """Figures for /metrics: runs per verdict, running steps, a histogram of finished step durations."""
        buckets = ", ".join(f"SUM(duration <= {b})" for b in DURATION_BUCKETS)
        with self.read() as conn:
            verdicts = dict(conn.execute("SELECT verdict, COUNT(*) FROM runs GROUP BY verdict").fetchall())
            running = conn.execute("SELECT COUNT(*) FROM steps WHERE status = 'running'").fetchone()[0]
            row = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(duration), 0), {buckets} FROM steps "
                               "WHERE duration IS NOT NULL AND status IN ('succeeded', 'failed', 'aborted')").fetchone()
        return {"runs": {v: verdicts.get(v, 0) for v in (*VERDICTS, *sorted(set(verdicts) - set(VERDICTS)))},
                "running_steps": running, "duration_count": row[0], "duration_sum": row[1],
                "duration_buckets": [(b, n or 0) for b, n in zip(DURATION_BUCKETS, row[2:], strict=True)]}


def elapsed(run_or_step: dict[str, Any], now: Optional[datetime] = None) -> Optional[float]:
    """Recorded duration, or the time since start for something still running."""
    if run_or_step.get("duration") is not None:
        return float(run_or_step["duration"])
    start = parse_ts(run_or_step.get("started"))
    return ((now or utc_now()) - start).total_seconds() if start else None

