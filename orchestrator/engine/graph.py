"""The step graph: DOT text coloured by status, rendered to Assets/step_sequence.{png,svg,dot}.

`to_dot` is pure. `GraphRenderer` subscribes to the engine's events: `handle` only updates in-memory state and
wakes one background thread, which renders at most every `min_interval` seconds (a render of a 300-step graph
takes a few tenths of a second, far too long for the runner's main thread). `render_plan` draws a plan for
--dry-run. Rendering calls the `dot` program; without it only the .dot file is written, and that is said once.
Nothing here raises into the runner: a failed render becomes a message.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Union

from .errors import number_from_env
from .events import AttemptFinished, RunFinished, RunStarted, StepFinished, StepResult, StepStarted
from .plan import Plan
from .recipe import Recipe
from .status import StepStatus

BASENAME = "step_sequence"
FILE_MODE = 0o644  # mkstemp makes 0600 files; the pictures are for anyone who can read Assets/
FORMATS = ("png", "svg")  # rendered by one `dot` call: the layout is computed once
RETRIED = "retried"  # not a StepStatus: a running or succeeded step that needed more than one attempt
DOT_TIMEOUT = 120.0  # seconds; a hung `dot` must not keep the render thread forever
MISSING_DOT = ("graphviz 'dot' not found: wrote {dot_file} only; "
               "install it with: sudo apt-get install graphviz")

StatusKey = Union[StepStatus, str]

# status -> (fill, border, extra style, font colour). Hues differ, and skipped/pending also differ in style, so the
# graph still reads in greyscale.
STYLES: dict[str, tuple[str, str, str, str]] = {
    "pending": ("#eeeeee", "#9e9e9e", "", "#424242"),
    "running": ("#90caf9", "#1565c0", "bold", "#000000"),
    "succeeded": ("#a5d6a7", "#2e7d32", "", "#000000"),
    RETRIED: ("#ffcc80", "#e65100", "", "#000000"),
    "failed": ("#ef9a9a", "#b71c1c", "bold", "#000000"),
    "aborted": ("#ce93d8", "#4a148c", "", "#000000"),
    "skipped": ("#ffffff", "#9e9e9e", "dashed", "#757575"),
    "reused": ("#b2dfdb", "#00695c", "", "#000000"),
}
LEGEND_ORDER = ("pending", "running", "succeeded", RETRIED, "failed", "aborted", "skipped", "reused")
FINISHED = frozenset({"succeeded", RETRIED, "failed", "aborted"})  # statuses whose label shows the duration
LARGE = 100  # steps; above this, smaller fonts and tighter spacing
MAX_RENDERED = int(number_from_env("ORCH_GRAPH_MAX_STEPS", 1000))  # above: the .dot file only (layout is slow)
PNG_SIZE = "24,24"  # inches at 96 dpi at most: a 500-wide graph would otherwise be a 27,000-pixel PNG (0.6 s)
TOO_LARGE = ("graph of {steps} steps: wrote {dot_file} only (more than {limit} steps take long to lay out); "
             "render it with: dot -Tsvg {dot_file} -o step_sequence.svg")


# --------------------------------------------------------------------------- DOT text (pure)


def _quote(text: str) -> str:
    """A DOT double-quoted string (label escapes like \\n are added by the caller, after quoting)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def status_key(status: StatusKey) -> str:
    return status.value if isinstance(status, StepStatus) else str(status)


def levels(recipe: Recipe, order: tuple[str, ...]) -> dict[str, int]:
    """Each step's parallel wave over the whole recipe (selected or not), so an edge always goes to a later rank."""
    level: dict[str, int] = {}
    for name in order:
        level[name] = 1 + max((level[d] for d in recipe.by_name[name].depends_on), default=-1)
    return level


def plan_statuses(plan: Plan) -> dict[str, StatusKey]:
    """What a plan shows before anything runs: reused as reused, --skip/--only leftovers as skipped."""
    def one(name: str) -> StepStatus:
        if name in plan.reused:
            return StepStatus.REUSED
        return StepStatus.SKIPPED if name in plan.user_skipped else StepStatus.PENDING
    return {name: one(name) for name in plan.order}


def _label(name: str, status: str, duration: Optional[float], attempts: int) -> str:
    parts = [_quote(name)[1:-1]]
    if status in FINISHED and duration is not None:
        parts.append(format_duration(duration))
    if status == RETRIED and attempts > 1:
        parts.append(f"{attempts} attempts")
    return '"' + "\\n".join(parts) + '"'


def _node(name: str, status: str, duration: Optional[float], attempts: int, tooltip: str) -> str:
    fill, border, extra, font = STYLES.get(status, STYLES["pending"])
    style = ",".join(s for s in ("rounded", "filled", extra) if s)
    return (f'  {_quote(name)} [label={_label(name, status, duration, attempts)}, style="{style}", '
            f'fillcolor="{fill}", color="{border}", fontcolor="{font}", tooltip={_quote(tooltip)}];')


def _legend(counts: Mapping[str, int], fontsize: int) -> list[str]:
    """One node holding a table: a swatch per status with how many steps have it. A single node keeps the legend
    compact whichever way the graph is laid out."""
    rows = []
    for key in LEGEND_ORDER:
        fill, border, _, _ = STYLES[key]
        rows.append(f'<TR><TD BGCOLOR="{fill}" COLOR="{border}" WIDTH="14" HEIGHT="10"></TD>'
                    f'<TD BORDER="0" ALIGN="LEFT">{_html(key)} ({counts.get(key, 0)})</TD></TR>')
    table = ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="2">'
             + "".join(rows) + "</TABLE>>")
    return ["  subgraph cluster_legend {",
            f'    label="Legend"; fontsize={fontsize}; style="rounded"; color="#bdbdbd";',
            f"    legend [shape=plaintext, fontsize={fontsize}, label={table}];",
            "  }"]


def to_dot(recipe: Recipe, plan: Plan, statuses: Mapping[str, StatusKey], durations: Mapping[str, float],
           attempts: Optional[Mapping[str, int]] = None, title: Optional[str] = None) -> str:
    """DOT text of the recipe's steps coloured by status. Steps missing from `statuses` take their plan status
    (pending, reused or skipped); `durations` are shown on finished steps, `attempts` on retried ones."""
    defaults = plan_statuses(plan)
    attempts = attempts or {}
    level = levels(recipe, plan.order)
    n_waves = 1 + max(level.values(), default=0)
    widest = max((list(level.values()).count(w) for w in range(n_waves)), default=1)
    large = len(plan.order) > LARGE
    left_to_right = n_waves > max(6, widest)  # deep graphs read better as columns than as a tall strip
    fontsize = 8 if large else 11
    keys = {name: status_key(statuses.get(name, defaults[name])) for name in plan.order}
    counts: dict[str, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    done = sum(counts.get(k, 0) for k in FINISHED)
    heading = title or f"{recipe.path.name}"
    heading += f"  -  {done}/{len(plan.order)} finished"
    lines = [
        f"digraph {_quote(recipe.slug or 'recipe')} {{",
        f'  graph [rankdir={"LR" if left_to_right else "TB"}, newrank=true, label={_quote(heading)}, labelloc=t, '
        f'fontname="Helvetica", fontsize={fontsize + 4}, '
        + ('nodesep=0.08, ranksep=0.3, margin=0.1, outputorder=edgesfirst];' if large
           else 'nodesep=0.25, ranksep=0.45, margin=0.2];'),
        f'  node [shape=box, fontname="Helvetica", fontsize={fontsize}, '
        + ('height=0.2, width=0.3, margin="0.05,0.02", penwidth=1];' if large else 'height=0.35, margin="0.12,0.05"];'),
        '  edge [color="#78909c", ' + ('arrowsize=0.4, penwidth=0.6];' if large else 'arrowsize=0.7];'),
    ]
    lines += _legend(counts, fontsize)
    for name in plan.order:
        step = recipe.by_name[name]
        tip = f"{name}: {keys[name]}" + (f" - {step.description}" if step.description else "")
        lines.append(_node(name, keys[name], durations.get(name), attempts.get(name, 0), tip))
    for name in plan.order:
        for dep in recipe.by_name[name].depends_on:
            lines.append(f"  {_quote(dep)} -> {_quote(name)};")
    waves: dict[int, list[str]] = {}
    for name in plan.order:
        waves.setdefault(level[name], []).append(name)
    for wave in sorted(waves):
        if len(waves[wave]) > 1:
            lines.append("  { rank=same; " + " ".join(_quote(n) + ";" for n in waves[wave]) + " }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- files


class RenderOutcome(NamedTuple):
    files: tuple[Path, ...]  # written this time: the .dot, then the images when `dot` ran
    message: Optional[str] = None  # a problem to tell the user (missing `dot`, a failed render)
    seconds: float = 0.0


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: Union[str, Path]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _temp_beside(target: Path) -> Path:
    """An empty temp file next to `target` (same file system, so os.replace is atomic) for `dot` to write."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)  # a leaked descriptor per render would add up over many runs in one process
    return Path(name)


def find_dot(dot_path: str = "dot") -> Optional[str]:
    """The `dot` program (a name looked up on PATH, or a path), or None when it is not installed."""
    return shutil.which(dot_path)


def _run_dot(dot: str, dot_text: str, targets: list[Path]) -> Optional[str]:
    """One `dot` call writing every format to temp files, then each moved into place; an error as a message."""
    temps = [_temp_beside(t) for t in targets]
    argv = [dot]
    for target, temp in zip(targets, temps):
        argv += [f"-T{target.suffix[1:]}", "-o", str(temp)]
    argv += [f"-Gsize={PNG_SIZE}"]  # scales the PNG down (never up); the SVG keeps every detail
    try:
        proc = subprocess.run(argv, input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT)
        if proc.returncode != 0:
            first = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0]
            return f"graph rendering failed: dot exited with {proc.returncode}: {first}"
        for target, temp in zip(targets, temps):
            os.chmod(temp, FILE_MODE)
            os.replace(temp, target)
        return None
    except subprocess.TimeoutExpired:
        return f"graph rendering failed: dot took more than {DOT_TIMEOUT:.0f} s"
    finally:
        for temp in temps:
            _unlink(temp)


def render_files(dot_text: str, assets_dir: Path, dot_path: str = "dot", steps: int = 0) -> RenderOutcome:
    """Write <assets_dir>/step_sequence.dot, then .png and .svg with `dot`. Never raises for a rendering problem."""
    began = time.monotonic()
    dot_file = assets_dir / f"{BASENAME}.dot"
    images = [assets_dir / f"{BASENAME}.{fmt}" for fmt in FORMATS]
    try:
        assets_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(dot_file, dot_text.encode())
        dot = find_dot(dot_path)
        if dot is None or steps > MAX_RENDERED:
            for stale in images:  # an image from an earlier run would show the wrong statuses
                _unlink(stale)
            shown = f"{assets_dir.name}/{dot_file.name}"
            message: Optional[str] = (MISSING_DOT.format(dot_file=shown) if dot is None else
                                      TOO_LARGE.format(steps=steps, dot_file=shown, limit=MAX_RENDERED))
            return RenderOutcome((dot_file,), message, time.monotonic() - began)
        message = _run_dot(dot, dot_text, images)
    except OSError as exc:
        return RenderOutcome((), f"graph rendering failed: {exc}", time.monotonic() - began)
    files = (dot_file,) if message else (dot_file, *images)
    return RenderOutcome(files, message, time.monotonic() - began)


def render_plan(recipe: Recipe, plan: Plan, assets_dir: Path, dot_path: str = "dot",
                quiet: bool = False) -> RenderOutcome:
    """For --dry-run: the plan's graph (selected steps pending, reused as reused, skipped as skipped), now."""
    text = to_dot(recipe, plan, plan_statuses(plan), {}, title=f"{recipe.path.name} (plan)")
    current = _current_pictures(text, assets_dir)
    if current:  # the same plan drawn before and not replaced since: nothing to lay out again
        return RenderOutcome(current)
    outcome = render_files(text, assets_dir, dot_path, len(plan.order))
    if outcome.message and not quiet:
        print(outcome.message, file=sys.stderr)
    return outcome


def _current_pictures(dot_text: str, assets_dir: Path) -> tuple[Path, ...]:
    """The .dot and its pictures when the .dot holds exactly this text and every picture is at least as new."""
    dot_file = assets_dir / f"{BASENAME}.dot"
    images = [assets_dir / f"{BASENAME}.{fmt}" for fmt in FORMATS]
    try:
        if dot_file.read_text(encoding="utf-8") != dot_text:
            return ()
        drawn = dot_file.stat().st_mtime_ns
        if all(image.stat().st_mtime_ns >= drawn for image in images):
            return (dot_file, *images)
    except OSError:
        pass
    return ()


def copy_outputs(files: tuple[Path, ...], run_dir: Path) -> list[Path]:
    """Copy the rendered files into the run's folder, each atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in files:
        target = run_dir / source.name
        _atomic_write(target, source.read_bytes())
        copied.append(target)
    return copied


# --------------------------------------------------------------------------- the subscriber


class GraphRenderer:
    """Keeps Assets/step_sequence.* up to date during a run.

    `handle` runs on the runner's thread and only records the event and wakes the render thread. That thread
    renders at once at RunFinished, and otherwise at most every `min_interval` seconds (the first time
    `min_interval` after RunStarted), so a burst of events becomes one render and a short run is laid out once.
    At the end the files are copied into `run_dir`.
    """

    def __init__(self, assets_dir: Path, run_dir: Optional[Path] = None, min_interval: float = 2.0,
                 dot_path: str = "dot", close_timeout: float = 10.0) -> None:
        self.assets_dir, self.run_dir = Path(assets_dir), run_dir
        self.min_interval, self.dot_path, self.close_timeout = min_interval, dot_path, close_timeout
        self.renders = 0  # how many times the files were written (tests count these)
        self.render_seconds: list[float] = []
        self.messages: list[str] = []  # each problem once, also printed to stderr
        self.final_files: tuple[Path, ...] = ()
        self._recipe: Optional[Recipe] = None
        self._plan: Optional[Plan] = None
        self._run_id = ""
        self._statuses: dict[str, StepStatus] = {}
        self._attempts: dict[str, int] = {}
        self._durations: dict[str, float] = {}
        self._cond = threading.Condition()
        self._dirty = self._urgent = self._finished = self._closing = False
        self._next_allowed = 0.0
        self._handlers = {RunStarted: self._run_started, StepStarted: self._step_started,
                          AttemptFinished: self._attempt_finished, StepFinished: self._step_finished,
                          RunFinished: self._run_finished}
        self._thread = threading.Thread(target=self._loop, name="graph-renderer", daemon=True)
        self._thread.start()

    # ---- on the runner's thread: record, wake, return

    def handle(self, event: object) -> None:
        handler: Any = self._handlers.get(type(event))  # type: ignore[call-overload]
        if handler is None:  # output lines, decisions, commits: nothing to draw
            return
        with self._cond:
            handler(event)
            # the render thread needs waking only to start a wait or for an urgent render; while it waits out
            # the interval, events just accumulate (a wake per event would cost a thread switch per event)
            wake = not self._dirty or self._urgent or self._finished
            self._dirty = True
            if wake:
                self._cond.notify()

    def _run_started(self, event: RunStarted) -> None:
        self._recipe, self._plan, self._run_id = event.recipe, event.plan, event.run_id
        self._statuses = {n: StepStatus(status_key(s)) for n, s in plan_statuses(event.plan).items()}
        # the first picture waits for the interval like any other: a run shorter than that is drawn once, at
        # its end, instead of laying out the whole graph while its first steps compete for the CPU
        self._next_allowed = time.monotonic() + self.min_interval

    def _step_started(self, event: StepStarted) -> None:
        self._statuses[event.step] = StepStatus.RUNNING
        self._attempts[event.step] = event.attempt

    def _attempt_finished(self, event: AttemptFinished) -> None:
        if event.retry_in is not None:  # another attempt follows: the step already counts as retried
            self._attempts[event.step] = event.attempt + 1

    def _step_finished(self, event: StepFinished) -> None:
        self._record_result(event.result)

    def _record_result(self, result: StepResult) -> None:
        self._statuses[result.name] = result.status
        if result.attempts:
            self._attempts[result.name] = result.attempts
            self._durations[result.name] = result.duration

    def _run_finished(self, event: RunFinished) -> None:
        for result in event.results:
            self._record_result(result)
        self._finished = self._urgent = True

    # ---- on the render thread

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._dirty or self._closing):
                    self._cond.wait()
                while not (self._urgent or self._finished or self._closing):
                    remaining = self._next_allowed - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)  # more events coalesce into this render meanwhile
                final = self._finished or self._closing
                snapshot = self._snapshot() if self._plan is not None else None
                self._dirty = self._urgent = False
            if snapshot is not None:
                self._render(snapshot, final)
            # a big graph takes long to lay out: keep rendering under a fifth of one CPU
            last = self.render_seconds[-1] if self.render_seconds else 0.0
            self._next_allowed = time.monotonic() + max(self.min_interval, 5 * last)
            if final:
                return

    def _snapshot(self) -> str:
        assert self._recipe is not None and self._plan is not None
        shown: dict[str, StatusKey] = {}
        for name, status in self._statuses.items():
            retried = self._attempts.get(name, 0) > 1 and status in (StepStatus.RUNNING, StepStatus.SUCCEEDED)
            shown[name] = RETRIED if retried else status
        title = f"{self._recipe.path.name}  run {self._run_id}"
        return to_dot(self._recipe, self._plan, shown, dict(self._durations), dict(self._attempts), title)

    def _render(self, dot_text: str, final: bool) -> None:
        try:
            steps = len(self._plan.order) if self._plan is not None else 0
            outcome = render_files(dot_text, self.assets_dir, self.dot_path, steps)
            self.renders += 1
            self.render_seconds.append(outcome.seconds)
            if outcome.message:
                self._say(outcome.message)
            if final:
                self.final_files = outcome.files
                if self.run_dir is not None and outcome.files:
                    copy_outputs(outcome.files, self.run_dir)
        except Exception as exc:  # noqa: BLE001 - the graph must never stop or break the run
            self._say(f"graph rendering failed: {exc}")

    def _say(self, message: str) -> None:
        kind = message.split(":", 1)[0]  # one message per kind of problem, not one per render
        if any(m.split(":", 1)[0] == kind for m in self.messages):
            return
        self.messages.append(message)
        print(message, file=sys.stderr)

    # ---- end of run

    def close(self) -> None:
        """Wait (at most `close_timeout` seconds) for the final render; renders now if RunFinished never came."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(self.close_timeout)
        if self._thread.is_alive():
            self._say(f"graph rendering still busy after {self.close_timeout:.0f} s; "
                      f"{self.assets_dir.name}/{BASENAME}.* may be out of date")
