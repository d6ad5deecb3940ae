"""The context store, the dict-like views, and the context CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ORCH, PY
from context import ContextError, ContextStore, FileContext, MemoryContext, RunContext, read_journal


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_CTX", "ORCH_RUN"))}
    return subprocess.run([PY, str(ORCH / "context.py"), *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, cwd=cwd)


@pytest.mark.parametrize("value, kind", [({1, 2}, "set"), (b"x", "bytes"), (object(), "object")])
def test_non_json_values_are_refused_naming_key_and_type(value, kind) -> None:
    with pytest.raises(ContextError, match=rf"ctx\['k'\]: a value of type {kind} is not JSON"):
        MemoryContext()["k"] = value


def test_nan_is_refused() -> None:
    with pytest.raises(ContextError, match="NaN and Infinity are not JSON"):
        MemoryContext()["k"] = {"x": [math.nan]}


@pytest.mark.parametrize("kind", ["memory", "file", "run"])
def test_a_method_the_context_lacks_says_how_a_mapping_is_used(kind: str, tmp_path: Path) -> None:
    ctx = {"memory": lambda: MemoryContext(), "file": lambda: FileContext(tmp_path / "c.json"),
           "run": lambda: RunContext(ContextStore(tmp_path / "c.db").path, None, tmp_path / "j.jsonl", "me")}[kind]()
    with pytest.raises(AttributeError, match=r"no 'set': it is a mapping: ctx\[key\] = value writes"):
        ctx.set("k", 1)
    assert not hasattr(ctx, "_private") and not hasattr(ctx, "put")


def test_store_snapshot_history_and_rollback(tmp_path: Path) -> None:
    store = ContextStore(tmp_path / "c.db")
    store.set("a", 1, "runner")
    snapshot = store.head()
    head, conflicts = store.commit([{"key": "a", "op": "set", "value_json": "2"},
                                    {"key": "b", "op": "set", "value_json": '"x"'}], "step1", 1, "R1", snapshot)
    assert conflicts == []
    assert store.get_json("a", snapshot) == "1" and store.get_json("a") == "2"
    _, conflicts = store.commit([{"key": "a", "op": "set", "value_json": "3"}], "step2", 1, "R1", snapshot)
    assert conflicts == ["a"]  # step2 started before step1 committed a
    store.commit([{"key": "b", "op": "delete"}], "step3", 1, "R1")
    assert store.items_json() == {"a": "3"}
    assert [(h["who"], h["old"], h["new"]) for h in store.history("a")] == \
        [("runner", None, 1), ("step1", 1, 2), ("step2", 2, 3)]
    assert store.roll_back({"step2", "step3"}, "R2") == ["a", "b"]
    assert store.items_json() == {"a": "2", "b": '"x"'}
    assert store.history("a")[-1]["op"] == "undo"


def test_run_context_reads_snapshot_plus_own_writes(tmp_path: Path) -> None:
    store = ContextStore(tmp_path / "c.db")
    store.set("seen", "before", "runner")
    snapshot = store.head()
    store.set("late", "after", "other")
    journal = tmp_path / "j.jsonl"
    ctx = RunContext(tmp_path / "c.db", snapshot, journal, who="me", attempt=1)
    assert "late" not in ctx and ctx["seen"] == "before"
    ctx["mine"] = {"v": [1, 2]}
    del ctx["seen"]
    assert ctx.to_dict() == {"mine": {"v": [1, 2]}}
    assert [w["op"] for w in read_journal(journal)] == ["set", "delete"]
    reopened = RunContext(tmp_path / "c.db", snapshot, journal, who="me")  # a second process of the same step
    assert reopened["mine"] == {"v": [1, 2]} and "seen" not in reopened
    assert reopened.get_history("mine")[-1]["pending"] is True


def test_torn_journal_line_is_ignored(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"op": "set", "key": "a", "value": 1}\n{"op": "set", "key": "b", "val')
    assert [w["key"] for w in read_journal(journal)] == ["a"]


def test_file_context_keeps_its_own_history(tmp_path: Path) -> None:
    path = tmp_path / "ctx.json"
    path.write_text('{"threshold": 5}')
    ctx = FileContext(path)
    ctx["threshold"] = 6
    ctx.flush()
    again = FileContext(path)
    assert again["threshold"] == 6
    assert [(h["old"], h["new"]) for h in again.get_history("threshold")] == [(5, 6)]
    assert again.last_modified("threshold")["who"] == "cli"


def test_cli_with_a_context_file(tmp_path: Path) -> None:
    ctx = str(tmp_path / "c.json")
    assert cli("--ctx", ctx, "set", "n", "42").returncode == 0
    assert cli("--ctx", ctx, "set", "label", "42", "--string").returncode == 0
    assert cli("--ctx", ctx, "set", "words", "hello world").returncode == 0
    assert json.loads(cli("--ctx", ctx, "export").stdout) == {"n": 42, "label": "42", "words": "hello world"}
    assert cli("--ctx", ctx, "keys").stdout.split() == ["label", "n", "words"]
    assert cli("--ctx", ctx, "get", "n").stdout.strip() == "42"
    missing = cli("--ctx", ctx, "get", "nope")
    assert missing.returncode == 1 and "context key 'nope' is not set" in missing.stderr
    assert cli("--ctx", ctx, "delete", "n").returncode == 0
    history = json.loads(cli("--ctx", ctx, "history", "n").stdout)
    assert [h["op"] for h in history] == ["set", "delete"]
    source = tmp_path / "in.json"
    source.write_text('{"a": [1, 2], "b": null}')
    assert cli("--ctx", ctx, "import", str(source)).returncode == 0
    assert json.loads(cli("--ctx", ctx, "get", "a").stdout) == [1, 2]


@pytest.mark.parametrize("args, message", [
    (("--ctx", "/nonexistent/dir/c.json", "set", "a", "1"), "No such file or directory"),
    (("--ctx", "no_such_ctx.json", "keys"), "--ctx no_such_ctx.json: no such file"),  # printed [] before
    (("--run", "nope", "get", "a"), "no runs recorded in"),
    (("--workdir", ".", "keys"), "--workdir goes with --run"),
    (("frobnicate",), "invalid choice"),
    (("set", "a", "1"), "not inside a run: give --run ID"),
    (("--ctx", "c.json", "set", "a", "1", "--strng"),
     "--strng (did you mean --string?); see 'python context.py --help'"),
])
def test_cli_bad_usage_exits_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = cli(*args, env={"ORCH_WORKDIR": str(tmp_path)}, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
