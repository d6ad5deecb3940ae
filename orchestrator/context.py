"""The shared context (ctx): JSON values with a full change history.

Description:
    Steps of a run share a key/value context. Values are JSON only (objects, arrays, strings, numbers,
    booleans, null). Every change is recorded with who made it (a step name, `runner` or `cli`), the attempt,
    when (UTC), and the value before and after.

    A step sees the context as committed when it started plus its own writes; its writes go to its own
    journal and the runner commits them together when the step ends. The run's store is an SQLite file in
    WAL mode: a write costs one appended row, a step's start copies nothing, and a kill -9 of the runner or
    a step loses nothing that was committed.

Usage:
    python context.py [--run ID|latest [--amend] | --ctx FILE] [--who NAME] COMMAND ...

    Inside a run (a shell step), the run, the step and its snapshot come from ORCH_* variables.
    Outside one, `--run ID` (or `latest`) opens a finished run's context, `--ctx FILE` a standalone
    JSON context file (its history is kept beside it in FILE.history.jsonl). A finished run's context is
    its record, so changing it (set, delete, import) takes `--amend`; the change is kept in the key's history
    under that run's id.

Arguments:
    get KEY              print the JSON value (exit 1 if the key is missing)
    set KEY VALUE        store VALUE: parsed as JSON when it parses, else a string (`--string` forces a string)
    delete KEY           remove KEY (exit 1 if missing)
    keys                 print the keys, one per line
    history KEY          print a JSON list of changes: who, attempt, ts, op, old, new
    export               print the whole context as one JSON object
    import FILE          set every key of a JSON object file ('-' for stdin)

Examples:
    python context.py set threshold 5
    python context.py get metrics
    python context.py --run latest history metrics
    python context.py --ctx my_ctx.json set station "bench 3" --string

Limitations:
    A step's writes become visible to other steps only when the step ends. Values must be JSON; NaN and
    Infinity are refused. Keys are non-empty strings.
"""
from __future__ import annotations

import abc
import json
import os
import sys
import time
from collections.abc import Iterator, MutableMapping

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathlib and typing cost milliseconds at every step start: only for annotations here
    from collections.abc import Collection
    from pathlib import Path
    from typing import Any, Optional

HOME = os.path.dirname(os.path.realpath(__file__))
RUNNER = "runner"
CLI = "cli"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    op TEXT NOT NULL,          -- set | delete | undo (undo rows only document a resume's rollback)
    value TEXT,                -- JSON text; NULL for delete
    who TEXT NOT NULL,
    attempt INTEGER,
    ts TEXT NOT NULL,
    run_id TEXT,
    undone TEXT                -- run id that rolled this change back on resume, else NULL
);
CREATE INDEX IF NOT EXISTS changes_key_seq ON changes(key, seq);
"""


class ContextError(Exception):
    """Bad key or value; the message names the key and what is wrong."""


class MissingKey(ContextError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing key"


_second: list[Any] = [None, ""]  # the last whole second formatted: most stamps share it


def utc_now() -> str:
    """UTC time as 2026-01-01T00:00:00.000000Z (one clock reading; cheap when called often)."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int((now - whole) * 1e6):06d}Z"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def to_json(key: str, value: Any) -> str:
    """Serialize one value, refusing anything that is not plain JSON with a message naming key and type."""
    if not isinstance(key, str) or not key:
        raise ContextError(f"context keys must be non-empty strings, got {key!r}")
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, default=_not_json(key))
    except ValueError:
        raise ContextError(f"ctx[{key!r}]: NaN and Infinity are not JSON; store null or a string") from None


def _not_json(key: str) -> Any:
    def refuse(obj: Any) -> Any:
        raise ContextError(f"ctx[{key!r}]: a value of type {type(obj).__name__} is not JSON; "
                           "store objects, arrays, strings, numbers, booleans or null")
    return refuse


def from_json(text: Optional[str]) -> Any:
    return None if text is None else json.loads(text)


# --------------------------------------------------------------------------- the run's store (SQLite)


class ContextStore:
    """A run's committed context and its history, in one SQLite file (WAL mode)."""

    def __init__(self, path: Path | str, durable: bool = True) -> None:
        import sqlite3

        self.path = str(path)
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def head(self) -> int:
        row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0])

    def _latest(self, key: str, seq: Optional[int]) -> Optional[tuple[str, Optional[str], int, str]]:
        limit = "AND seq <= ?" if seq is not None else ""
        params: tuple[Any, ...] = (key, seq) if seq is not None else (key,)
        return self.conn.execute(
            f"SELECT op, value, seq, who FROM changes WHERE key = ? {limit} AND op != 'undo' "
            "AND undone IS NULL ORDER BY seq DESC LIMIT 1", params).fetchone()

    def get_json(self, key: str, seq: Optional[int] = None) -> Optional[str]:
        """The JSON text of key as of seq (None: latest), or None when absent."""
        row = self._latest(key, seq)
        return row[1] if row and row[0] == "set" else None

    def items_json(self, seq: Optional[int] = None) -> dict[str, str]:
        limit = "AND seq <= ?" if seq is not None else ""
        params = (seq,) if seq is not None else ()
        rows = self.conn.execute(
            "SELECT key, op, value FROM changes c WHERE seq = (SELECT MAX(seq) FROM changes "
            f"WHERE key = c.key AND op != 'undo' AND undone IS NULL {limit}) ORDER BY key", params)
        return {key: value for key, op, value in rows if op == "set"}

    def history(self, key: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT seq, op, value, who, attempt, ts, run_id, undone FROM changes WHERE key = ? ORDER BY seq",
            (key,)).fetchall()
        out: list[dict[str, Any]] = []
        current: Optional[str] = None
        for seq, op, value, who, attempt, ts, run_id, undone in rows:
            entry = {"seq": seq, "who": who, "attempt": attempt, "ts": ts, "op": op, "run_id": run_id,
                     "old": from_json(current), "new": from_json(value)}
            if undone:
                entry["undone_by"] = undone
            out.append(entry)
            current = value
        return out

    def commit(self, writes: list[dict[str, Any]], who: str, attempt: Optional[int], run_id: Optional[str],
               snapshot: Optional[int] = None) -> tuple[int, list[str]]:
        """Append a step's writes in one transaction. Returns (new head, keys another writer changed since
        snapshot: the conflicts to report)."""
        conflicts: list[str] = []
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                key = write["key"]
                if snapshot is not None and key not in conflicts:
                    latest = self._latest(key, None)
                    if latest and latest[2] > snapshot and latest[3] not in (who, RUNNER):
                        conflicts.append(key)
                if write["op"] not in ("set", "delete"):
                    raise ContextError(f"journal entry for {key!r} has unknown op {write['op']!r}")
                value = None if write["op"] == "delete" else write["value_json"]
                cur.execute("INSERT INTO changes(key, op, value, who, attempt, ts, run_id) VALUES (?,?,?,?,?,?,?)",
                            (key, write["op"], value, who, attempt, write.get("ts") or utc_now(), run_id))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return self.head(), conflicts

    def set(self, key: str, value: Any, who: str, run_id: Optional[str] = None) -> int:
        return self.commit([{"key": key, "op": "set", "value_json": to_json(key, value)}], who, None, run_id)[0]

    def roll_back(self, writers: Collection[str], run_id: str) -> list[str]:
        """Undo every live change made by `writers` (a resume re-runs them). Each affected key gets an `undo`
        row documenting old -> new. Returns the affected keys."""
        if not writers:
            return []
        marks = ",".join("?" * len(writers))
        keys = [r[0] for r in self.conn.execute(
            f"SELECT DISTINCT key FROM changes WHERE who IN ({marks}) AND undone IS NULL AND op != 'undo'",
            tuple(writers))]
        if not keys:
            return []
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(f"UPDATE changes SET undone = ? WHERE who IN ({marks}) AND undone IS NULL AND op != 'undo'",
                    (run_id, *writers))
        now = utc_now()
        for key in keys:
            cur.execute("INSERT INTO changes(key, op, value, who, attempt, ts, run_id) VALUES (?,?,?,?,?,?,?)",
                        (key, "undo", self.get_json(key), RUNNER, None, now, run_id))
        cur.execute("COMMIT")
        return keys


# --------------------------------------------------------------------------- dict-like views


class Context(MutableMapping):  # type: ignore[type-arg]
    """What a scriptlet's `run(ctx, params)` gets: a dict of JSON values with history."""

    @abc.abstractmethod
    def get_history(self, key: str) -> list[dict[str, Any]]:
        """Every change of key, oldest first: who, attempt, ts, op, old, new."""

    def last_modified(self, key: str) -> Optional[dict[str, Any]]:
        history = self.get_history(key)
        return history[-1] if history else None

    def to_dict(self) -> dict[str, Any]:
        return {key: self[key] for key in self}

    def flush(self) -> None:
        """Make pending writes durable (file contexts); run contexts write through."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    def __getattr__(self, name: str) -> Any:
        """Only reached for a name the context does not have (ctx.set, ctx.put...): say how a mapping is used."""
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"the context has no {name!r}: it is a mapping: ctx[key] = value writes, ctx[key] or "
                             f"ctx.get(key) reads, del ctx[key] deletes")


class MemoryContext(Context):
    """An in-memory context with history, for a scriptlet run on its own without --ctx."""

    def __init__(self, initial: Optional[dict[str, Any]] = None, who: str = CLI) -> None:
        self._values: dict[str, Any] = {}
        self._history: dict[str, list[dict[str, Any]]] = {}
        self.who = who
        for key, value in (initial or {}).items():
            self[key] = value

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise MissingKey(f"context key {key!r} is not set")
        return json.loads(self._values[key])

    def __setitem__(self, key: str, value: Any) -> None:
        text = to_json(key, value)
        self._record(key, "set", text)
        self._values[key] = text

    def __delitem__(self, key: str) -> None:
        if key not in self._values:
            raise MissingKey(f"context key {key!r} is not set")
        self._record(key, "delete", None)
        del self._values[key]

    def _record(self, key: str, op: str, text: Optional[str]) -> None:
        old = self._values.get(key)
        self._history.setdefault(key, []).append(
            {"who": self.who, "attempt": None, "ts": utc_now(), "op": op, "old": from_json(old),
             "new": from_json(text)})

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def get_history(self, key: str) -> list[dict[str, Any]]:
        return list(self._history.get(key, []))


class FileContext(MemoryContext):
    """A standalone JSON context file (a plain JSON object); history goes to FILE.history.jsonl beside it."""

    def __init__(self, path: Path | str, who: str = CLI) -> None:
        from pathlib import Path

        super().__init__(who=who)
        self.path = Path(path)
        self.history_path = self.path.with_name(self.path.name + ".history.jsonl")
        self._new_history: list[dict[str, Any]] = []
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            except (OSError, ValueError) as exc:
                raise ContextError(f"{self.path}: not a JSON context file ({exc}); it must hold one JSON object") \
                    from None
            if not isinstance(data, dict):
                raise ContextError(f"{self.path}: a context file holds one JSON object, not {type(data).__name__}")
            self._values = {k: to_json(k, v) for k, v in data.items()}

    def _record(self, key: str, op: str, text: Optional[str]) -> None:
        super()._record(key, op, text)
        self._new_history.append(dict(self._history[key][-1], key=key))

    def get_history(self, key: str) -> list[dict[str, Any]]:
        past: list[dict[str, Any]] = []
        if self.history_path.exists():
            with self.history_path.open(encoding="utf-8") as fh:
                for line in fh:
                    entry = json.loads(line)
                    if entry.pop("key", None) == key:
                        past.append(entry)
        pending = [{k: v for k, v in e.items() if k != "key"} for e in self._new_history if e["key"] == key]
        return past + pending

    def flush(self) -> None:
        if not self._new_history:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        body = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in sorted(self._values.items())) + "}\n"
        tmp.write_text(json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        with self.history_path.open("a", encoding="utf-8") as fh:
            for entry in self._new_history:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._new_history.clear()


class RunContext(Context):
    """A step's view of its run: the committed snapshot at its start plus its own journaled writes."""

    def __init__(self, db_path: Path | str, snapshot: Optional[int], journal: Optional[Path | str],
                 who: str, attempt: Optional[int] = None, run_id: Optional[str] = None,
                 read_only: Optional[str] = None) -> None:
        self.db_path = db_path
        self.read_only = read_only  # why writes are refused (hooks observe a run; only its steps change it)
        self._store: Optional[ContextStore] = None
        self.snapshot = snapshot
        self.journal = str(journal) if journal else None
        self.who, self.attempt, self.run_id = who, attempt, run_id
        self._own: dict[str, Optional[str]] = {}  # key -> JSON text, None when deleted
        self._own_history: list[dict[str, Any]] = []
        if self.journal and os.path.exists(self.journal):
            for write in read_journal(self.journal):
                self._apply(write)

    @property
    def store(self) -> ContextStore:
        """Opened on first read: a step that only writes (or does nothing) never loads sqlite3."""
        if self._store is None:
            self._store = ContextStore(self.db_path)
        return self._store

    def _apply(self, write: dict[str, Any]) -> None:
        self._own_history.append(write)
        self._own[write["key"]] = write.get("value_json") if write["op"] == "set" else None

    def _committed(self, key: str) -> Optional[str]:
        return self.store.get_json(key, self.snapshot)

    def __getitem__(self, key: str) -> Any:
        text = self._own[key] if key in self._own else self._committed(key)
        if text is None:
            raise MissingKey(f"context key {key!r} is not set")
        return json.loads(text)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return (self._own[key] is not None) if key in self._own else self._committed(key) is not None

    def _write(self, key: str, op: str, text: Optional[str]) -> None:
        if self.read_only:
            raise ContextError(f"ctx[{key!r}]: the context is read-only here: {self.read_only}")
        write: dict[str, Any] = {"op": op, "key": key, "ts": utc_now()}
        if op == "set":
            write["value_json"] = text
        if self.journal is None:
            self.store.commit([write], self.who, self.attempt, self.run_id)
        else:
            line = json.dumps({"op": op, "key": key, "ts": write["ts"],
                               **({"value": json.loads(text)} if text is not None else {})}, ensure_ascii=False)
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        self._apply(write)

    def __setitem__(self, key: str, value: Any) -> None:
        self._write(key, "set", to_json(key, value))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise MissingKey(f"context key {key!r} is not set")
        self._write(key, "delete", None)

    def _merged(self) -> dict[str, Optional[str]]:
        merged: dict[str, Optional[str]] = dict(self.store.items_json(self.snapshot))
        merged.update(self._own)
        return merged

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(k for k, v in self._merged().items() if v is not None))

    def __len__(self) -> int:
        return sum(1 for v in self._merged().values() if v is not None)

    def to_dict(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in sorted(self._merged().items()) if v is not None}

    def get_history(self, key: str) -> list[dict[str, Any]]:
        committed = [h for h in self.store.history(key) if self.snapshot is None or h["seq"] <= self.snapshot]
        current = self.store.get_json(key, self.snapshot)
        for write in self._own_history:
            if write["key"] != key:
                continue
            new = write.get("value_json") if write["op"] == "set" else None
            committed.append({"who": self.who, "attempt": self.attempt, "ts": write["ts"], "op": write["op"],
                              "old": from_json(current), "new": from_json(new), "pending": True})
            current = new
        return committed


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """A step's journaled writes; a torn last line (the step was killed mid-write) is ignored."""
    writes = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("op") == "set":
                entry["value_json"] = json.dumps(entry.get("value"), allow_nan=False, ensure_ascii=False)
            writes.append(entry)
    return writes


# --------------------------------------------------------------------------- finding a context


def work_dir() -> Path:
    from pathlib import Path

    return Path(os.environ.get("ORCH_WORKDIR") or HOME)


def run_db_path(run: str, workdir: Optional[str] = None) -> tuple[Path, str, str]:
    """The context database of a run of the work folder (`workdir`, else $ORCH_WORKDIR, else orchestrator/),
    with the run's id and verdict. `run` is `latest`, a run id, or its start or end (`bd49`), as the runner and
    the reports take it."""
    from pathlib import Path

    base = Path(workdir) if workdir else work_dir()
    db_file = base / "Data" / "orchestrator.db"
    if not db_file.exists():
        raise ContextError(f"no runs recorded in {base}: {db_file} does not exist; run a recipe first, "
                           "or give --workdir DIR (the runner's --workdir) or --ctx FILE")
    from engine.errors import UserError
    from engine.rundb import RunDB

    db = RunDB(db_file)
    try:
        run_id = db.resolve(run)
        info = db.run(run_id) or {}
        live, verdict = info.get("ctx_path"), str(info.get("verdict"))
    except UserError as exc:
        raise ContextError(f"{exc}; for another work folder give --workdir DIR") from None
    finally:
        db.close()
    path = base / "Data" / "runs" / run_id / "context.db"
    if not path.exists() and live and os.path.exists(live):
        return Path(live), run_id, verdict  # the run is still running and keeps its context in memory till it ends
    if not path.exists():
        raise ContextError(f"run {run_id} has no context: {path} is missing")
    return path, run_id, verdict


def open_context(run: Optional[str] = None, ctx_file: Optional[str] = None, who: Optional[str] = None,
                 workdir: Optional[str] = None, amend: bool = False) -> Context:
    """The context a scriptlet or the CLI should use: the run's (from ORCH_* variables), `--run` (of `workdir`;
    read-only once the run has ended, unless `amend`), `--ctx` (or ORCH_CTX_FILE), else a fresh in-memory one."""
    env = os.environ
    if ctx_file:
        return FileContext(ctx_file, who=who or CLI)
    if run:
        path, run_id, verdict = run_db_path(run, workdir)
        finished = None if amend or verdict == "running" else (
            f"run {run_id} has ended ({verdict}) and its context is its record; add --amend to change it anyway "
            "(the change is kept in the key's history)")
        return RunContext(path, None, None, who=who or CLI, run_id=run_id, read_only=finished)
    if env.get("ORCH_CTX_DB"):
        seq = env.get("ORCH_CTX_SEQ")
        attempt = env.get("ORCH_ATTEMPT")
        return RunContext(env["ORCH_CTX_DB"], int(seq) if seq else None, env.get("ORCH_CTX_JOURNAL"),
                          who=who or env.get("ORCH_STEP") or CLI, attempt=int(attempt) if attempt else None,
                          run_id=env.get("ORCH_RUN_ID"), read_only=env.get("ORCH_CTX_READ_ONLY"))
    if env.get("ORCH_CTX_FILE"):
        return FileContext(env["ORCH_CTX_FILE"], who=who or CLI)
    return MemoryContext(who=who or CLI)


# --------------------------------------------------------------------------- CLI


def _parse_value(text: str, force_string: bool) -> Any:
    if force_string:
        return text
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text


def _parser() -> Any:
    from helpformat import Parser

    parser = Parser(
        prog="context.py", help_command="python context.py",
        description="Read and change the shared context of a run, or of a JSON context file.",
        epilog="Exit codes: 0 ok, 1 missing key, 2 bad usage. Inside a run the context comes from ORCH_* variables.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--run", metavar="ID",
                       help="a run's context: its id, the start or end of one (e.g. bd49), or latest")
    where.add_argument("--ctx", metavar="FILE", help="a standalone JSON context file")
    parser.add_argument("--amend", action="store_true",
                        help="allow set, delete and import on an ended run's context (kept in the key's history)")
    parser.add_argument("--workdir", metavar="DIR",
                        help="the work folder whose runs --run names (default: $ORCH_WORKDIR, else orchestrator/)")
    parser.add_argument("--who", help="name recorded as the writer (default: the step, or 'cli')")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("get", help="print a key's JSON value").add_argument("key")
    setter = sub.add_parser("set", help="store a value (JSON if it parses, else a string)")
    setter.add_argument("key")
    setter.add_argument("value")
    setter.add_argument("--string", action="store_true", help="store VALUE as a string even if it parses as JSON")
    sub.add_parser("delete", help="remove a key").add_argument("key")
    sub.add_parser("keys", help="list the keys")
    sub.add_parser("history", help="the changes of a key as JSON").add_argument("key")
    sub.add_parser("export", help="the whole context as one JSON object")
    sub.add_parser("import", help="set every key of a JSON object file ('-' for stdin)").add_argument("file")
    return parser


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.workdir and not args.run:
            raise ContextError("--workdir goes with --run (it names the work folder of the run)")
        if args.amend and not args.run:
            raise ContextError("--amend goes with --run (it allows changing that run's context)")
        if args.ctx and args.command in ("get", "keys", "history", "export") and not os.path.exists(args.ctx):
            raise ContextError(f"--ctx {args.ctx}: no such file (a context file is created by the first set or "
                               "import); check the path")
        ctx = open_context(args.run, args.ctx, args.who, args.workdir, args.amend)
        if type(ctx) is MemoryContext:
            raise ContextError("not inside a run: give --run ID (or latest) for a finished run, "
                               "or --ctx FILE for a context file")
        if args.command == "get":
            _print_json(ctx[args.key])
        elif args.command == "set":
            ctx[args.key] = _parse_value(args.value, args.string)
        elif args.command == "delete":
            del ctx[args.key]
        elif args.command == "keys":
            for key in ctx:
                print(key)
        elif args.command == "history":
            _print_json(ctx.get_history(args.key))
        elif args.command == "export":
            _print_json(ctx.to_dict())
        elif args.command == "import":
            if args.file == "-":
                source = sys.stdin.read()
            else:
                with open(args.file, encoding="utf-8") as fh:
                    source = fh.read()
            data = json.loads(source, parse_constant=_refuse_constant)
            if not isinstance(data, dict):
                raise ContextError(f"{args.file}: import needs one JSON object, not {type(data).__name__}")
            for key, value in data.items():
                ctx[key] = value
        ctx.flush()
    except BrokenPipeError:  # `context.py ... keys | head`: the reader has had enough
        from engine.errors import silence_stdout

        silence_stdout()
        return 0
    except MissingKey as exc:
        print(f"context.py: {exc}", file=sys.stderr)
        return 1
    except (ContextError, OSError, ValueError) as exc:
        print(f"context.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
