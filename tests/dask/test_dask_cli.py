"""The runner's CLI with --executor dask / --scheduler, and the recipe's execution.executor."""
from __future__ import annotations

import pytest

from conftest import Workdir

pytest.importorskip("distributed", reason="dask[distributed] is not installed")


def test_cli_runs_a_recipe_on_a_local_cluster(wd: Workdir) -> None:
    recipe = wd.recipe("""
execution: {mode: parallel, max_parallel: 2, executor: dask}
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh, args: {set: 'x=1'}}
  - {name: b, type: shell, cmd: scripts/env.sh, depends_on: [a]}
""")
    proc = wd.run(recipe, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ORCH_DASK_WORKER=" in wd.logs("b")
    assert wd.steps()["a"]["status"] == "succeeded"


def test_unreachable_scheduler_is_a_clear_error(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    proc = wd.run(recipe, "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert proc.returncode == 2
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_scheduler_address_in_recipe(wd: Workdir) -> None:
    proc = wd.run(wd.recipe("execution: {executor: dask, scheduler: '10.0.0.1:8786'}\n"
                            "steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"), "--validate")
    assert proc.returncode == 2 and "execution.scheduler" in proc.stderr
