"""Read-only queries of a run's context: its SQLite file (table `changes`, written by context.py).

The current value of a key is its latest change with op != 'undo' and undone IS NULL; the old value of a change
is the previous row's value for that key. Values stay JSON text (clipped for tables); the pages show them as
text, so they are escaped when rendered. A missing or unreadable file reads as an empty context.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Optional

from .monitor_data import MonitorError, connect_ro


def _open_ctx(ctx_path: Optional[str]) -> Optional[sqlite3.Connection]:
    if not ctx_path or not Path(ctx_path).is_file():
        return None
    try:
        return connect_ro(Path(ctx_path))
    except MonitorError:
        return None


def context_head(ctx_path: Optional[str]) -> int:
    """The newest change number of a run's context (0 when there is none)."""
    conn = _open_ctx(ctx_path)
    if conn is None:
        return 0
    try:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def clip(text: Optional[str], limit: int) -> Optional[str]:
    """Shorten long JSON text for a table cell, saying how long it was."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def context_keys(ctx_path: Optional[str], match: str = "", limit: int = 25, offset: int = 0,
                 value_chars: int = 200) -> tuple[int, list[dict[str, Any]]]:
    """(how many keys match, one page of them): current value (JSON text), changes, last writer and time."""
    conn = _open_ctx(ctx_path)
    if conn is None:
        return 0, []
    like, params = ("WHERE key LIKE ? ESCAPE '\\'", [f"%{_like(match)}%"]) if match else ("", [])
    query = (
        "WITH counts AS (SELECT key, COUNT(*) AS changes, MAX(CASE WHEN op != 'undo' AND undone IS NULL "
        f"THEN seq END) AS live FROM changes {like} GROUP BY key) "
        "SELECT k.key, k.changes, c.op, c.value, c.who, c.ts, c.attempt "
        "FROM counts k LEFT JOIN changes c ON c.seq = k.live ORDER BY k.key LIMIT ? OFFSET ?")
    try:
        total = conn.execute(f"SELECT COUNT(DISTINCT key) FROM changes {like}", params).fetchone()[0]
        rows = conn.execute(query, [*params, limit, offset]).fetchall()
    except sqlite3.Error:
        return 0, []
    finally:
        conn.close()
    return total, [{"key": key, "id": key, "changes": n, "value": _value_text(op, value, value_chars), "who": who,
                    "ts": ts, "attempt": attempt} for key, n, op, value, who, ts, attempt in rows]


def _value_text(op: Optional[str], value: Optional[str], limit: int) -> Optional[str]:
    if op is None:
        return "(unset: every change was undone)"
    return "(deleted)" if op == "delete" else clip(value, limit)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def key_history(ctx_path: Optional[str], key: str, value_chars: int = 2000) -> list[dict[str, Any]]:
    """Every change of one key, oldest first: who, attempt, when, op, old and new value (JSON text)."""
    conn = _open_ctx(ctx_path)
    if conn is None:
        return []
    try:
        rows = conn.execute("SELECT seq, op, value, who, attempt, ts, undone FROM changes WHERE key = ? ORDER BY seq",
                            (key,)).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    out, previous = [], None
    for seq, op, value, who, attempt, ts, undone in rows:
        out.append({"seq": seq, "who": who, "attempt": attempt, "ts": ts, "op": op, "undone_by": undone,
                    "old": clip(previous, value_chars), "new": clip(value, value_chars)})
        previous = value
    return out
