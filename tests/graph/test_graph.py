"""The step graph in detail: DOT per status, legend, durations, ranks and layout for big recipes; real renders;
the subscriber's debounce, speed, final picture, copies into the run folder; a missing or failing `dot`."""
from __future__ import annotations

import os
import random
import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest

from conftest import Workdir
from engine.events import (AttemptFinished, AttemptOutcome, Decision, RunFinished, RunStarted, StepFinished,
                           StepOutput, StepResult, StepStarted)
from engine.graph import (LEGEND_ORDER, RETRIED, STYLES, GraphRenderer, format_duration, levels, render_files,
                          render_plan, to_dot)
from engine.plan import BaseRun, Selection, build_plan
from engine.recipe import load_recipe
from engine.status import StepStatus, Verdict

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NODE = re.compile(r'^\s+"(?P<name>[^"]+)" \[label="(?P<label>[^"]*)", style="(?P<style>[^"]*)", '
                  r'fillcolor="(?P<fill>#[0-9a-f]{6})"', re.M)

# one step per status: a, then b..h all after a (so a finishes first), i after b
EIGHT = """
execution: {mode: parallel}
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh, description: 'says "hi" \\ back'}
  - {name: b, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: c, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: d, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: e, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: f, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: g, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: h, type: shell, cmd: scripts/ok.sh, depends_on: [a, b]}
"""
ONE_EACH = {"a": StepStatus.SUCCEEDED, "b": RETRIED, "c": StepStatus.FAILED, "d": StepStatus.ABORTED,
            "e": StepStatus.RUNNING, "f": StepStatus.SKIPPED, "g": StepStatus.REUSED, "h": StepStatus.PENDING}


def nodes(dot_text: str) -> dict[str, dict[str, str]]:
    return {m["name"]: m.groupdict() for m in NODE.finditer(dot_text)}


def layered(wd: Workdir, layers: int, width: int, seed: int = 7):
    """`layers` waves of `width` steps, each depending on one to three random steps of the wave before."""
    rnd = random.Random(seed)
    body = "execution: {mode: parallel}\nsteps:\n"
    for layer in range(layers):
        for i in range(width):
            deps = sorted({f"s{layer - 1}_{rnd.randrange(width)}" for _ in range(rnd.randint(1, 3))}) if layer else []
            body += f"  - {{name: s{layer}_{i}, type: shell, cmd: scripts/ok.sh, depends_on: [{', '.join(deps)}]}}\n"
    recipe = load_recipe(wd.recipe(body, name=f"layered_{layers}x{width}.yaml"), (wd.path,))
    return recipe, build_plan(recipe, Selection())


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def started(plan, recipe) -> RunStarted:
    return RunStarted("R1", recipe, plan, "t0", (), "prefix", "ctx.db")


def finished(name: str, status: StepStatus, attempts: int = 1, duration: float = 0.5) -> StepFinished:
    return StepFinished(StepResult(name, status, attempts=attempts, duration=duration))


@pytest.fixture
def eight(wd: Workdir):
    recipe = load_recipe(wd.recipe(EIGHT), (wd.path,))
    return recipe, build_plan(recipe, Selection())


# --------------------------------------------------------------------------- DOT text


def test_each_status_has_its_colour_and_a_legend_entry(eight) -> None:
    recipe, plan = eight
    text = to_dot(recipe, plan, ONE_EACH, {})
    shown = nodes(text)
    assert set(shown) == set(ONE_EACH)
    for name, status in ONE_EACH.items():
        key = status if isinstance(status, str) else status.value
        assert shown[name]["fill"] == STYLES[key][0], name
    assert "dashed" in shown["f"]["style"] and "bold" in shown["e"]["style"]  # skipped/running differ in greyscale
    assert len({STYLES[k][0] for k in LEGEND_ORDER}) == len(LEGEND_ORDER)  # eight distinct fills
    legend = text[text.index("subgraph cluster_legend"):]
    legend = legend[:legend.index("\n  }")]
    for key in LEGEND_ORDER:
        assert f'BGCOLOR="{STYLES[key][0]}"' in legend and f"{key} (1)" in legend
    assert "4/8 finished" in text  # succeeded, retried, failed, aborted


def test_missing_statuses_come_from_the_plan(wd: Workdir, eight) -> None:
    recipe, _ = eight
    plan = build_plan(recipe, Selection(resume_from="c", skip=("h",)), BaseRun("R0", frozenset({"a", "b"})))
    shown = nodes(to_dot(recipe, plan, {}, {}))
    assert shown["a"]["fill"] == shown["b"]["fill"] == STYLES["reused"][0]
    assert shown["h"]["fill"] == STYLES["skipped"][0]
    assert shown["c"]["fill"] == STYLES["pending"][0]


def test_durations_show_on_finished_steps_only(eight) -> None:
    recipe, plan = eight
    durations = {name: 12.34 for name in ONE_EACH}
    shown = nodes(to_dot(recipe, plan, ONE_EACH, durations, attempts={"b": 3}))
    for name in ("a", "b", "c", "d"):  # succeeded, retried, failed, aborted
        assert "12.3s" in shown[name]["label"], name
    for name in ("e", "f", "g", "h"):  # running, skipped, reused, pending
        assert shown[name]["label"] == name
    assert shown["b"]["label"] == "b\\n12.3s\\n3 attempts"


@pytest.mark.parametrize("seconds,text", [(0.0, "0.00s"), (0.256, "0.26s"), (12.34, "12.3s"), (59.9, "59.9s"),
                                          (125, "2m05s"), (3599, "59m59s"), (3725, "1h02m")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_one_rank_per_wave_over_the_whole_recipe(eight) -> None:
    recipe, _ = eight
    # only h selected: the plan's own waves hold h alone, but the picture keeps a at the top and h below b
    plan = build_plan(recipe, Selection(only=("h",)), BaseRun("R0", frozenset("abcdefg")))
    text = to_dot(recipe, plan, {}, {})
    assert levels(recipe, plan.order) == {"a": 0, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1, "h": 2}
    ranks = re.findall(r"\{ rank=same; (.*) \}", text)
    assert ranks == ['"b"; "c"; "d"; "e"; "f"; "g";']  # one-step waves need no rank line
    assert "newrank=true" in text
    assert '"a" -> "h";' in text and '"b" -> "h";' in text


def test_small_recipes_go_top_down_big_deep_ones_left_to_right(wd: Workdir, eight) -> None:
    small = to_dot(*eight, {}, {})
    assert "rankdir=TB" in small and "fontsize=11" in small and "nodesep=0.25" in small
    big = to_dot(*layered(wd, 30, 10), {}, {})
    assert "rankdir=LR" in big and "fontsize=8" in big and "nodesep=0.08" in big
    assert big.count("rank=same") == 30
    wide = to_dot(*layered(wd, 3, 40), {}, {})  # 120 steps in 3 waves: wide, not deep
    assert "rankdir=TB" in wide and "fontsize=8" in wide


# --------------------------------------------------------------------------- real renders


@needs_dot
def test_300_steps_in_30_layers_render_to_png_and_svg(wd: Workdir, tmp_path: Path) -> None:
    recipe, plan = layered(wd, 30, 10)
    statuses = {name: [StepStatus.SUCCEEDED, StepStatus.FAILED, RETRIED, StepStatus.RUNNING][i % 4]
                for i, name in enumerate(plan.order[:200])}
    text = to_dot(recipe, plan, statuses, dict.fromkeys(plan.order, 3.5), dict.fromkeys(plan.order, 2))
    outcome = render_files(text, tmp_path / "Assets", steps=len(plan.order))
    assert outcome.message is None, outcome.message
    assert outcome.seconds < 30
    png, svg = tmp_path / "Assets" / "step_sequence.png", tmp_path / "Assets" / "step_sequence.svg"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert set(plan.order) <= titles and "legend" in titles
    assert sorted(p.name for p in (tmp_path / "Assets").iterdir()) == [
        "step_sequence.dot", "step_sequence.png", "step_sequence.svg"]  # no temp files left behind


@needs_dot
def test_quotes_and_backslashes_in_descriptions_still_render(eight, tmp_path: Path) -> None:
    outcome = render_files(to_dot(*eight, ONE_EACH, {}), tmp_path)
    assert outcome.message is None, outcome.message
    assert 'says \\"hi\\" \\\\ back' in (tmp_path / "step_sequence.dot").read_text()


def test_render_plan_shows_reused_and_skipped(wd: Workdir, eight, tmp_path: Path) -> None:
    recipe, _ = eight
    plan = build_plan(recipe, Selection(resume_from="c", skip=("h",)), BaseRun("R0", frozenset({"a", "b"})))
    outcome = render_plan(recipe, plan, tmp_path / "Assets", quiet=True)
    shown = nodes((tmp_path / "Assets" / "step_sequence.dot").read_text())
    assert {n: s["fill"] for n, s in shown.items()} == {
        "a": STYLES["reused"][0], "b": STYLES["reused"][0], "h": STYLES["skipped"][0],
        **{n: STYLES["pending"][0] for n in "cdefg"}}
    if shutil.which("dot"):
        assert outcome.message is None and len(outcome.files) == 3


# --------------------------------------------------------------------------- the subscriber


@needs_dot
def test_a_burst_of_1000_events_is_cheap_and_coalesced(wd: Workdir, tmp_path: Path) -> None:
    recipe, plan = layered(wd, 10, 10)
    renderer = GraphRenderer(tmp_path / "Assets", tmp_path / "run", min_interval=0.5)
    renderer.handle(started(plan, recipe))
    names = list(plan.order)
    events: list[object] = []
    for i in range(250):
        name = names[i % len(names)]
        events += [StepStarted(name, 1, 1, "log", "t"), StepOutput(name, "out", b"line\n"),
                   AttemptFinished(name, 1, AttemptOutcome(exit_code=0), None), finished(name, StepStatus.SUCCEEDED)]
    began = time.perf_counter()
    for event in events:
        renderer.handle(event)
    spent = time.perf_counter() - began
    results = tuple(StepResult(n, StepStatus.FAILED if n == "s9_9" else StepStatus.SUCCEEDED, attempts=1,
                               duration=0.25) for n in names)
    renderer.handle(RunFinished("R1", Verdict.FAILED, results, "t0", "t1", 1.0))
    renderer.close()
    assert spent < 0.05, f"1,000 handle() calls took {spent * 1000:.1f} ms"
    assert 1 <= renderer.renders <= 4  # RunStarted, perhaps one in between, RunFinished (may coalesce)
    final = nodes((tmp_path / "run" / "step_sequence.dot").read_text())
    assert final["s9_9"]["fill"] == STYLES["failed"][0]
    assert final["s0_0"]["fill"] == STYLES["succeeded"][0] and "0.25s" in final["s0_0"]["label"]
    assert renderer.messages == []


def test_renders_wait_for_the_interval_but_the_final_one_does_not(eight, tmp_path: Path) -> None:
    recipe, plan = eight
    renderer = GraphRenderer(tmp_path / "Assets", None, min_interval=60.0, dot_path="no-such-dot")
    renderer.handle(started(plan, recipe))
    renderer.handle(StepStarted("a", 1, 1, "log", "t"))
    time.sleep(0.3)
    assert renderer.renders == 0  # debounced from the start: the first render is due in a minute
    renderer.handle(finished("a", StepStatus.SUCCEEDED))
    renderer.handle(RunFinished("R1", Verdict.SUCCEEDED, (), "t0", "t1", 1.0))  # the final render does not wait
    began = time.monotonic()
    renderer.close()
    assert time.monotonic() - began < 5 and renderer.renders == 1  # a run shorter than the interval: one layout
    assert nodes((tmp_path / "Assets" / "step_sequence.dot").read_text())["a"]["fill"] == STYLES["succeeded"][0]


@needs_dot
def test_final_render_shows_retries_and_is_copied_into_the_run_folder(eight, tmp_path: Path) -> None:
    recipe, plan = eight
    renderer = GraphRenderer(tmp_path / "Assets", tmp_path / "Data" / "runs" / "R1", min_interval=0.0)
    renderer.handle(started(plan, recipe))
    renderer.handle(StepStarted("a", 1, 11, "log", "t"))
    renderer.handle(AttemptFinished("a", 1, AttemptOutcome(exit_code=1, reason="exit code 1"), 0.1))
    assert wait_until(lambda: renderer.renders >= 1)
    renderer.handle(StepStarted("a", 2, 12, "log", "t"))
    renderer.handle(finished("a", StepStatus.SUCCEEDED, attempts=2, duration=1.5))
    renderer.handle(StepStarted("b", 1, 13, "log", "t"))
    renderer.handle(finished("b", StepStatus.FAILED, duration=0.5))
    renderer.handle(finished("c", StepStatus.SKIPPED, attempts=0, duration=0.0))
    renderer.handle(RunFinished("R1", Verdict.FAILED, (), "t0", "t1", 2.0))
    renderer.close()
    shown = nodes((tmp_path / "Assets" / "step_sequence.dot").read_text())
    assert shown["a"]["fill"] == STYLES[RETRIED][0] and shown["a"]["label"] == "a\\n1.50s\\n2 attempts"
    assert shown["b"]["fill"] == STYLES["failed"][0] and shown["c"]["fill"] == STYLES["skipped"][0]
    run_dir = tmp_path / "Data" / "runs" / "R1"
    for suffix in ("dot", "png", "svg"):
        copy = run_dir / f"step_sequence.{suffix}"
        assert copy.read_bytes() == (tmp_path / "Assets" / copy.name).read_bytes()
    assert [f.suffix for f in renderer.final_files] == [".dot", ".png", ".svg"]


def test_a_step_waiting_for_its_retry_is_already_shown_as_retried(eight, tmp_path: Path) -> None:
    recipe, plan = eight
    renderer = GraphRenderer(tmp_path / "Assets", None, min_interval=0.0, dot_path="no-such-dot")
    renderer.handle(started(plan, recipe))
    renderer.handle(StepStarted("a", 1, 11, "log", "t"))
    renderer.handle(AttemptFinished("a", 1, AttemptOutcome(exit_code=1, reason="exit code 1"), 5.0))
    renderer.close()  # no RunFinished (the runner crashed): close still draws the last state
    shown = nodes((tmp_path / "Assets" / "step_sequence.dot").read_text())
    assert shown["a"]["fill"] == STYLES[RETRIED][0]


def test_without_dot_only_the_dot_file_is_written_and_said_once(eight, tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    recipe, plan = eight
    assets = tmp_path / "Assets"
    assets.mkdir()
    (assets / "step_sequence.png").write_bytes(b"stale")  # from an earlier run: must not pass for this one
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    renderer = GraphRenderer(assets, tmp_path / "run", min_interval=0.0)
    renderer.handle(started(plan, recipe))
    for name in "abcd":  # several renders, one message
        assert wait_until(lambda: not renderer._dirty)
        renderer.handle(StepStarted(name, 1, 1, "log", "t"))
        time.sleep(0.05)
    renderer.handle(RunFinished("R1", Verdict.SUCCEEDED, (), "t0", "t1", 1.0))
    renderer.close()
    assert renderer.renders >= 3
    assert sorted(p.name for p in assets.iterdir()) == ["step_sequence.dot"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["step_sequence.dot"]
    expected = ("graphviz 'dot' not found: wrote Assets/step_sequence.dot only; "
                "install it with: sudo apt-get install graphviz")
    assert renderer.messages == [expected]
    assert capsys.readouterr().err.count("graphviz 'dot' not found") == 1


def test_a_failing_dot_never_raises_into_the_runner(eight, tmp_path: Path, capsys) -> None:
    recipe, plan = eight
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    renderer = GraphRenderer(tmp_path / "Assets", tmp_path / "run", min_interval=0.0, dot_path=str(fake))
    renderer.handle(started(plan, recipe))
    renderer.handle(Decision("something"))
    renderer.handle(RunFinished("R1", Verdict.SUCCEEDED, (), "t0", "t1", 1.0))
    renderer.close()
    assert renderer.messages == ["graph rendering failed: dot exited with 1: Error: syntax error in line 1"]
    assert sorted(p.name for p in (tmp_path / "Assets").iterdir()) == ["step_sequence.dot"]  # no temp files
    assert capsys.readouterr().err.count("graph rendering failed") == 1


def test_close_before_any_run_returns_at_once(tmp_path: Path) -> None:
    renderer = GraphRenderer(tmp_path / "Assets", tmp_path / "run")
    renderer.handle(StepOutput("x", "out", b"ignored\n"))
    began = time.monotonic()
    renderer.close()
    assert time.monotonic() - began < 1 and renderer.renders == 0
    assert not (tmp_path / "Assets").exists() and not os.path.exists(tmp_path / "run")


@needs_dot
def test_renders_leak_no_descriptors_and_leave_readable_files(eight, tmp_path: Path) -> None:
    text = to_dot(*eight, ONE_EACH, {})
    render_files(text, tmp_path / "Assets")  # warm up whatever opens files once
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        assert render_files(text, tmp_path / "Assets").message is None
    assert len(os.listdir("/proc/self/fd")) == before  # runs in one process (endurance) must not run out
    for path in (tmp_path / "Assets").iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path  # mkstemp's 0600 would hide them from other users


@needs_dot
def test_the_same_plan_is_not_laid_out_again(eight, tmp_path: Path) -> None:
    recipe, plan = eight
    assets = tmp_path / "Assets"
    first = render_plan(recipe, plan, assets, quiet=True)
    stamps = {f: f.stat().st_mtime_ns for f in first.files}
    assert [f.suffix for f in first.files] == [".dot", ".png", ".svg"]
    again = render_plan(recipe, plan, assets, quiet=True)  # a repeated --dry-run: the pictures are current
    assert again.files == first.files and all(f.stat().st_mtime_ns == stamps[f] for f in again.files)
    (assets / "step_sequence.png").unlink()  # a picture gone (or older than the .dot): drawn again
    redrawn = render_plan(recipe, plan, assets, quiet=True)
    assert (assets / "step_sequence.png").exists() and redrawn.files[0].stat().st_mtime_ns > stamps[first.files[0]]
