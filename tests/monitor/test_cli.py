"""The monitor's command line, run as users run it: `python -m scriptlets.python.apps.monitor` from orchestrator/."""
from __future__ import annotations

import base64
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

import pytest

from conftest import ORCH, Workdir

MODULE = "scriptlets.python.apps.monitor"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_MONITOR_")}


def monitor(*args: str, env: Optional[dict[str, str]] = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", MODULE, *args], cwd=ORCH, capture_output=True, text=True,
                          timeout=timeout, env={**CLEAN_ENV, **(env or {})})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("args, message", [
    (["--port", "0"], "port must be 1-65535"), (["--port", "http"], "invalid _port value"),
    (["--interval-ms", "5"], "interval must be"), (["--colour"], "unrecognized arguments"),
])
def test_bad_flags_exit_2(args: list[str], message: str) -> None:
    result = monitor(*args)
    assert result.returncode == 2 and message in result.stderr


def test_missing_unusable_and_foreign_databases_exit_2(tmp_path: Path) -> None:
    text = tmp_path / "Data" / "notes.db"
    text.parent.mkdir()
    text.write_text("not a database " * 200)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    for args, message in [(["--db", str(tmp_path / "none.db")], "no run database here"),
                          (["--workdir", str(tmp_path)], "no run database here"),
                          (["--workdir", str(tmp_path / "nowhere")], "the work folder does not exist"),
                          (["--db", str(text)], "cannot be read"), (["--db", str(other)], "not a run database")]:
        result = monitor(*args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, args


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_database_exits_2(real_wd: Workdir, tmp_path: Path) -> None:
    db = tmp_path / "Data" / "orchestrator.db"
    db.parent.mkdir()
    db.write_bytes((real_wd.path / "Data" / "orchestrator.db").read_bytes())
    db.chmod(0)
    result = monitor("--db", str(db))
    assert result.returncode == 2 and "not readable" in result.stderr


def test_non_loopback_address_needs_credentials(real_wd: Workdir) -> None:
    db = str(real_wd.path / "Data" / "orchestrator.db")
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        result = monitor("--host", host, "--db", db)
        assert result.returncode == 2 and f"refusing to listen on {host}" in result.stderr
        assert "ORCH_MONITOR_USER and ORCH_MONITOR_PASSWORD" in result.stderr
    half = monitor("--db", db, env={"ORCH_MONITOR_USER": "lab"})
    assert half.returncode == 2 and "set both" in half.stderr


def _get(url: str, auth: Optional[str] = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_with_basic_auth_and_stops_cleanly(real_wd: Workdir, stop: int) -> None:
    port = free_port()
    env = {**CLEAN_ENV, "ORCH_MONITOR_USER": "lab", "ORCH_MONITOR_PASSWORD": "pw"}
    proc = subprocess.Popen([sys.executable, "-m", MODULE, "--workdir", str(real_wd.path), "--port", str(port)],
                            cwd=ORCH, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    good = "Basic " + base64.b64encode(b"lab:pw").decode()
    url = f"http://127.0.0.1:{port}/api/v1/health"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if _get(url, good) == 200:
                    break
            except OSError:
                time.sleep(0.1)  # not listening yet
        assert _get(url, good) == 200 and _get(url) == 401 and _get(url, "Basic " + "x" * 8) == 401
        busy = monitor("--workdir", str(real_wd.path), "--port", str(port))  # the port is taken now
        assert busy.returncode == 2 and "cannot listen on 127.0.0.1" in busy.stderr
    finally:
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"serving on http://127.0.0.1:{port}/" in out and "basic auth on" in out and "pw" not in out + err
