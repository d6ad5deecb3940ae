"""Steps that misbehave, and a full disk: each gives a recorded, readable reason and the runner stays up."""
from __future__ import annotations

import os
import resource
import sqlite3
import subprocess

import pytest

from conftest import ORCH, PY, Workdir

CASES = [
    ("close-stdout", "succeeded", None),
    ("garbage", "succeeded", None),
    ("long-line", "succeeded", None),
    ("segv", "failed", "killed by SIGSEGV (segmentation fault)"),
    ("term-self", "failed", "killed by SIGTERM"),
]


@pytest.mark.parametrize("debug", [False, True], ids=["direct", "piped"])
def test_misbehaving_steps_get_readable_reasons(wd: Workdir, debug: bool) -> None:
    steps = "".join(f"  - {{name: {how.replace('-', '_')}, type: shell, cmd: scripts/misbehave.sh, "
                    f"args: {{how: {how}}}}}\n" for how, _, _ in CASES)
    recipe = wd.recipe("execution: {mode: parallel, max_parallel: 2}\nsteps:\n" + steps)
    proc = wd.run(recipe, *(["--debug"] if debug else []))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = wd.steps()
    for how, status, reason in CASES:
        row = rows[how.replace("-", "_")]
        assert row["status"] == status, (how, row)
        assert row["reason"] == reason
    log = sorted(wd.path.glob("Logs/*_long_line.log"))[-1]
    assert log.stat().st_size > 100 * 1048576


@pytest.mark.parametrize("piped", [False, True], ids=["direct", "piped"])
def test_full_disk_while_writing_a_log(wd: Workdir, piped: bool) -> None:
    """The runner and its steps under a 20 MB file-size limit: the flooding step is stopped with a clear reason,
    the other one finishes, and the database and context stay consistent. Piped: the runner writes the log
    (a secret is declared, so output is masked), else the step writes it itself."""
    recipe = wd.recipe(("secrets: [FAKE_TOKEN]\n" if piped else "") + """
execution: {mode: parallel, max_parallel: 2}
steps:
  - {name: writer, type: shell, cmd: scripts/ok.sh, args: {set: 'kept=1'}}
  - {name: flood, type: shell, cmd: scripts/flood.sh, args: {mb: 50}}
""")
    limit = 20 * 1048576

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path)],
                          capture_output=True, text=True, preexec_fn=cap, timeout=120,
                          env={**os.environ, "FAKE_TOKEN": "not-a-real-token"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "warning" not in proc.stderr
    rows = wd.steps()
    assert rows["writer"]["status"] == "succeeded"
    expected = "could not write the step log: File too large" if piped else \
        "killed by SIGXFSZ (file size limit reached"
    assert expected in rows["flood"]["reason"]
    db = sqlite3.connect(wd.path / "Data" / "orchestrator.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT verdict FROM runs").fetchone()[0] == "failed"
    ctx = next(wd.path.glob("Data/runs/*/context.db"))
    assert sqlite3.connect(ctx).execute("SELECT value FROM changes WHERE key = 'kept'").fetchone()[0] == "1"
