"""Shared helpers: a throw-away work folder with fixture scripts, and ways to run the runner on it."""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ORCH = REPO / "orchestrator"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PY = sys.executable
sys.path.insert(0, str(ORCH))

os.environ.setdefault("ORCH_KILL_GRACE", "1")  # the tests' TERM-ignoring fixtures need not wait 5 s
# the runners the tests start keep their validated recipes in a cache of this session, not in the user's ~/.cache
_CACHE_DIR = tempfile.mkdtemp(prefix="orch-tests-cache-")
os.environ["ORCH_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, True)


class Workdir:
    """A work folder (Data/, Logs/, steps' cwd) holding the fixture scripts under scripts/."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copytree(FIXTURES / "scripts", path / "scripts")

    def recipe(self, body: str, name: str = "r.yaml", meta: bool = True) -> Path:
        text = textwrap.dedent(body)
        if meta:
            text = "test_meta: {test_id: T-1, tester: pytest, description: test}\n" + text
        target = self.path / name
        target.write_text(text)
        return target

    def run(self, recipe: Path | str, *flags: str, timeout: float = 120, env: dict | None = None
            ) -> subprocess.CompletedProcess:
        cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(self.path), *flags]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})

    def logs(self, step: str) -> str:
        found = sorted(self.path.glob(f"Logs/*_{step}.log"))
        assert found, f"no log for {step}"
        return found[-1].read_text(errors="replace")

    def runner_log(self) -> str:
        return sorted(self.path.glob("Logs/*_runner.log"))[-1].read_text()

    def steps(self, run_id: str | None = None) -> dict[str, dict]:
        """Step rows of a run (default: the latest) from the run database."""
        import sqlite3

        conn = sqlite3.connect(self.path / "Data" / "orchestrator.db")
        run_id = run_id or conn.execute("SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT 1").fetchone()[0]
        cur = conn.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))
        names = [c[0] for c in cur.description]
        rows = {r[1]: dict(zip(names, r)) for r in cur.fetchall()}
        conn.close()
        return rows

    def run_ids(self) -> list[str]:
        import sqlite3

        conn = sqlite3.connect(self.path / "Data" / "orchestrator.db")
        ids = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started, id")]
        conn.close()
        return ids


@pytest.fixture
def wd(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path / "work")


def pids_alive(pids: list[int]) -> list[int]:
    """The pids still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ")[-1].startswith("Z"):
                    continue
            alive.append(pid)
        except FileNotFoundError:
            pass
    return alive
