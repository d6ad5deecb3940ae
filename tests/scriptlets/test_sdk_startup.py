"""What every Python step pays at start-up: the SDK's imports, its help width, its resource figures.

A step is a fresh interpreter, so each module the harness imports (or makes argparse import) is paid by every
step of every run. These tests run the noop scriptlet the way the runner does (`python -m`, cwd = a work
folder, the ORCH_* context variables) and standalone, and check what it imports beyond `json` and `argparse`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
ORCH = REPO / "orchestrator"
if str(ORCH) not in sys.path:
    sys.path.insert(0, str(ORCH))

from context import ContextStore, read_journal  # noqa: E402
from scriptlets.python.core import base  # noqa: E402
from scriptlets.python.core.resources import peak_rss_bytes  # noqa: E402
from scriptlets.python.steps.noop import StepNoop  # noqa: E402

# Modules a trivial step must not load: each costs ~0.3-5 ms at every step start (shutil brings bz2, lzma and
# zlib; a text-mode read of /proc imports the ascii codec; sqlite3 brings datetime).
HEAVY = {"shutil", "bz2", "lzma", "encodings.ascii", "sqlite3", "datetime", "pathlib", "typing", "logging",
         "subprocess", "traceback", "tracemalloc"}


def imported(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules a Python process imports (from -X importtime), and the finished process."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return names, proc


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "CTX_")) and k != "PYTHONPATH"}
    env.update(extra)
    return env


def runner_env(work: Path) -> tuple[dict[str, str], Path]:
    """The variables the runner gives a Python step (Run._base_env + Run._invocation), for a real context.db."""
    run_id = "20260101T000000Z-test"
    run_dir = work / "Data" / "runs" / run_id
    (run_dir / "journal").mkdir(parents=True)
    store = ContextStore(run_dir / "context.db")
    head = store.set("greeting", "hello", "runner", run_id)
    store.close()
    journal = run_dir / "journal" / "noop.1.jsonl"
    env = clean_env(PYTHONPATH=f"{work}{os.pathsep}{ORCH}", ORCH_HOME=str(ORCH), ORCH_WORKDIR=str(work),
                    ORCH_RUN_ID=run_id, ORCH_CTX_DB=str(run_dir / "context.db"), ORCH_CTX_SEQ=str(head),
                    ORCH_CTX_JOURNAL=str(journal), ORCH_STEP="noop", ORCH_ATTEMPT="1", ORCH_DEBUG="0",
                    ORCH_LOG_DIR=str(work / "Logs"), ORCH_LOG_FILE=str(work / "Logs" / f"{run_id}_noop.log"))
    return env, journal


@pytest.mark.parametrize("where", ["standalone", "runner"])
def test_a_step_start_imports_nothing_heavy(tmp_path: Path, where: str) -> None:
    if where == "runner":
        env, journal = runner_env(tmp_path)
        cwd = tmp_path
    else:
        env, journal, cwd = clean_env(PYTHONPATH=str(ORCH)), None, ORCH
    floor, _ = imported(["-c", "import json, argparse, runpy"], cwd, env)  # any `python -m` argparse CLI pays this
    names, proc = imported(["-m", "scriptlets.python.steps.noop"], cwd, env)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"ok": True}, proc.stderr[-2000:]
    assert "scriptlets.python.core.base" in names  # the parse of -X importtime works
    extra = names - floor
    assert not extra & HEAVY, f"a step start imports {sorted(extra & HEAVY)} (all it adds: {sorted(extra)})"
    if journal is not None:  # the resource figures still reach the runner, as one 'meta' op in the journal
        entries = read_journal(journal)
        assert [(e["op"], e["key"]) for e in entries] == [("meta", "run")]
        figures = entries[0]["value"]
        assert set(figures) == {"wall_s", "cpu_s", "peak_rss_mb"} and figures["peak_rss_mb"] > 1


@pytest.mark.parametrize("columns", [None, "50", "200", "0", "junk"])
def test_help_is_as_wide_as_argparse_makes_it(monkeypatch: pytest.MonkeyPatch, columns: Optional[str]) -> None:
    """The SDK's formatter avoids importing shutil, but sizes the help exactly like argparse's own."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)

    class Wide(base.BaseScriptlet):  # its help text is this module's docstring
        def add_arguments(self, parser: argparse.ArgumentParser) -> None:
            parser.add_argument("--input", required=True, help="the input file, " + "a long help text " * 8)
            parser.add_argument("--bins", type=int, default=10, metavar="N", help="how many bins")

    parser = Wide.build_parser(Wide())
    assert parser.formatter_class is base.HelpFormatter
    ours = parser.format_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # argparse's, which asks shutil for the width
    assert ours == parser.format_help()
    assert "\n".join(__doc__.splitlines()[2:4]) in ours  # the docstring's own line breaks, as before


def test_noop_help_still_parses_and_refuses() -> None:
    parser = StepNoop.build_parser(StepNoop())
    assert vars(parser.parse_args([])) == {"ctx": None, "debug": False}
    with pytest.raises(SystemExit):
        parser.parse_args(["--bogus"])


def test_peak_rss_is_the_kernels_high_water_mark() -> None:
    def vmhwm() -> int:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))

    before = vmhwm()
    ours = peak_rss_bytes()
    after = vmhwm()
    assert before <= ours <= after and ours > 1 << 20
