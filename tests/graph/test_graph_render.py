"""The step graph: DOT text by status, real renders with `dot`, debounced rendering during a run."""
from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import Workdir
from engine.events import RunFinished, RunStarted, StepFinished, StepResult, StepStarted
from engine.graph import GraphRenderer, render_plan, to_dot
from engine.plan import Selection, build_plan
from engine.recipe import load_recipe
from engine.status import StepStatus, Verdict

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")


def layered(wd: Workdir, layers: int, width: int):
    body = "execution: {mode: parallel}\nsteps:\n"
    for layer in range(layers):
        for i in range(width):
            deps = [f"l{layer - 1}_{j}" for j in range(width)] if layer else []
            body += f"  - {{name: l{layer}_{i}, type: shell, cmd: scripts/ok.sh, depends_on: [{', '.join(deps)}]}}\n"
    recipe = load_recipe(wd.recipe(body), (wd.path,))
    return recipe, build_plan(recipe, Selection())


def test_dot_colours_statuses_with_legend_durations_and_ranks(wd: Workdir) -> None:
    recipe, plan = layered(wd, 2, 2)
    text = to_dot(recipe, plan, {"l0_0": StepStatus.SUCCEEDED, "l0_1": StepStatus.FAILED,
                                 "l1_0": StepStatus.SKIPPED, "l1_1": "retried"}, {"l0_0": 1.5, "l0_1": 0.25},
                  {"l1_1": 2})
    assert "Legend" in text and "succeeded (1)" in text and "failed (1)" in text
    assert "#a5d6a7" in text and "#ef9a9a" in text and "dashed" in text  # succeeded, failed, skipped styles
    assert "1.50s" in text or "1.5s" in text
    assert "rank=same" in text
    assert '"l0_0" -> "l1_0"' in text


@needs_dot
def test_300_step_recipe_renders_png_and_svg(wd: Workdir, tmp_path: Path) -> None:
    recipe, plan = layered(wd, 30, 10)
    started = time.monotonic()
    outcome = render_plan(recipe, plan, tmp_path / "assets")
    assert outcome.message is None, outcome.message
    png, svg = tmp_path / "assets" / "step_sequence.png", tmp_path / "assets" / "step_sequence.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert time.monotonic() - started < 60


def test_missing_dot_writes_the_dot_file_and_says_so_once(wd: Workdir, tmp_path: Path, capsys) -> None:
    recipe, plan = layered(wd, 1, 2)
    renderer = GraphRenderer(tmp_path / "assets", tmp_path / "run", min_interval=0.0, dot_path="no-such-dot")
    renderer.handle(RunStarted("R1", recipe, plan, "t", (), "p", "c"))
    for name in ("l0_0", "l0_1"):
        renderer.handle(StepStarted(name, 1, 1, "log", "t"))
        renderer.handle(StepFinished(StepResult(name, StepStatus.SUCCEEDED, attempts=1, duration=0.1)))
    renderer.handle(RunFinished("R1", Verdict.SUCCEEDED, (), "t", "t", 0.2))
    renderer.close()
    assert (tmp_path / "assets" / "step_sequence.dot").exists()
    assert not (tmp_path / "assets" / "step_sequence.png").exists()
    assert len(renderer.messages) == 1 and "sudo apt-get install graphviz" in renderer.messages[0]
    assert capsys.readouterr().err.count("graphviz 'dot' not found") == 1


@needs_dot
def test_a_burst_of_events_is_rendered_a_few_times_and_handle_is_fast(wd: Workdir, tmp_path: Path) -> None:
    recipe, plan = layered(wd, 10, 10)
    renderer = GraphRenderer(tmp_path / "assets", tmp_path / "run", min_interval=0.5)
    renderer.handle(RunStarted("R1", recipe, plan, "t", (), "p", "c"))
    started = time.perf_counter()
    names = list(plan.order)
    for i in range(1000):
        name = names[i % len(names)]
        renderer.handle(StepStarted(name, 1, 1, "log", "t") if i % 2 else
                        StepFinished(StepResult(name, StepStatus.SUCCEEDED, attempts=1, duration=0.01)))
    handle_seconds = time.perf_counter() - started
    results = tuple(StepResult(n, StepStatus.FAILED if n == "l9_9" else StepStatus.SUCCEEDED, attempts=1,
                               duration=0.01) for n in names)
    renderer.handle(RunFinished("R1", Verdict.FAILED, results, "t", "t", 1.0))
    renderer.close()
    assert handle_seconds < 0.5  # microseconds each: only state and a wake-up on the runner's thread
    assert 1 <= renderer.renders <= 5
    final = (tmp_path / "run" / "step_sequence.dot").read_text()
    assert "failed (1)" in final and "succeeded (99)" in final  # the last render shows the final statuses


def test_runner_draws_the_graph_and_writes_the_report(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    proc = wd.run(recipe)
    assert proc.returncode == 0
    run_id = wd.run_ids()[-1]
    assert (wd.path / "Assets" / "step_sequence.dot").exists()
    assert (wd.path / "Data" / "runs" / run_id / "step_sequence.dot").exists()
    assert (wd.path / "Data" / "reports" / f"{run_id}.xlsx").exists()
    assert f"report: {wd.path}/Data/reports/{run_id}.xlsx" in proc.stdout
    dry = wd.run(recipe, "--dry-run")
    assert "graph:" in dry.stdout and "Nothing was run" in dry.stdout
    off = wd.run(recipe, "--no-report", "--no-graph")
    assert off.returncode == 0 and "report:" not in off.stdout
