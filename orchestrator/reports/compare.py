"""Compare two runs of one recipe: steps whose status changed, duration changes, context keys that differ.

`compare(a, b)` returns a `Comparison` value; `to_text`, `to_data` (JSON) and `write_xlsx` format it. Runs of
different recipes are refused (a ReportError, exit code 2) unless forced: their steps would not line up.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .model import ReportError, RunInfo, RunReport

TEXT_TOP = 20  # duration changes listed in the text output; JSON and xlsx list all
TEXT_VALUE = 60  # characters of a context value shown in the text output


@dataclass(frozen=True)
class StepDelta:
    """One step in either run; a status of None means the step is not in that run."""

    name: str
    status_a: Optional[str]
    status_b: Optional[str]
    duration_a: Optional[float]
    duration_b: Optional[float]
    reason_b: Optional[str] = None

    @property
    def status_changed(self) -> bool:
        return self.status_a != self.status_b

    @property
    def delta(self) -> Optional[float]:
        """B minus A in seconds, None unless both ran."""
        if self.duration_a is None or self.duration_b is None:
            return None
        return self.duration_b - self.duration_a

    @property
    def percent(self) -> Optional[float]:
        """The change relative to A, None when A took no measurable time."""
        delta = self.delta
        return None if delta is None or not self.duration_a else 100.0 * delta / self.duration_a


@dataclass(frozen=True)
class KeyDelta:
    """A context key whose final value differs: change is added, removed or changed; values are JSON text."""

    key: str
    change: str
    value_a: Optional[str]
    value_b: Optional[str]


@dataclass(frozen=True)
class Comparison:
    a: RunInfo
    b: RunInfo
    steps: tuple[StepDelta, ...]
    context: tuple[KeyDelta, ...]

    @property
    def status_changes(self) -> list[StepDelta]:
        return [s for s in self.steps if s.status_changed]

    @property
    def duration_changes(self) -> list[StepDelta]:
        """Steps timed in both runs, largest absolute change first."""
        timed = [s for s in self.steps if s.delta is not None]
        return sorted(timed, key=lambda s: abs(s.delta or 0.0), reverse=True)


def compare(a: RunReport, b: RunReport, force: bool = False) -> Comparison:
    """Compare run a (the reference) with run b."""
    if a.run.recipe_path != b.run.recipe_path and not force:
        raise ReportError(f"runs {a.run.id} and {b.run.id} are of different recipes ({a.run.recipe_path} vs "
                          f"{b.run.recipe_path}); add --force to compare them anyway")
    return Comparison(a=a.run, b=b.run, steps=_steps(a, b), context=_context(a.context, b.context))


def _steps(a: RunReport, b: RunReport) -> tuple[StepDelta, ...]:
    in_a = {s.name: s for s in a.steps}
    in_b = {s.name: s for s in b.steps}
    names = [s.name for s in b.steps] + [s.name for s in a.steps if s.name not in in_b]
    out = []
    for name in names:
        sa, sb = in_a.get(name), in_b.get(name)
        out.append(StepDelta(name, sa.status.value if sa else None, sb.status.value if sb else None,
                             sa.duration if sa else None, sb.duration if sb else None, sb.reason if sb else None))
    return tuple(out)


def _context(a: dict[str, str], b: dict[str, str]) -> tuple[KeyDelta, ...]:
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            out.append(KeyDelta(key, "added", None, b[key]))
        elif key not in b:
            out.append(KeyDelta(key, "removed", a[key], None))
        elif _canonical(a[key]) != _canonical(b[key]):
            out.append(KeyDelta(key, "changed", a[key], b[key]))
    return tuple(out)


def _canonical(text: str) -> Any:
    """Equal JSON values compare equal whatever their spacing or key order."""
    try:
        return json.loads(text)
    except ValueError:
        return text


# --------------------------------------------------------------------------- output


def to_data(c: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data: every step and every differing key."""
    def run(info: RunInfo) -> dict[str, Any]:
        return {"id": info.id, "recipe": info.recipe_name, "recipe_path": info.recipe_path, "verdict": info.verdict,
                "started": info.started, "duration": info.duration}

    return {
        "schema": "orchestrator.run-compare", "version": 1, "a": run(c.a), "b": run(c.b),
        "status_changes": [{"step": s.name, "a": s.status_a, "b": s.status_b, "reason_b": s.reason_b}
                           for s in c.status_changes],
        "durations": [{"step": s.name, "a": s.duration_a, "b": s.duration_b, "delta": s.delta, "percent": s.percent}
                      for s in c.duration_changes],
        "context": [{"key": k.key, "change": k.change, "a": _value(k.value_a), "b": _value(k.value_b)}
                    for k in c.context],
    }


def _value(text: Optional[str]) -> Any:
    return None if text is None else _canonical(text)


def to_text(c: Comparison) -> str:
    """A readable comparison for the terminal."""
    lines = [f"A: {_run_line(c.a)}", f"B: {_run_line(c.b)}", ""]
    changed = c.status_changes
    lines.append(f"steps whose status changed: {len(changed) or 'none'}")
    width = max((len(s.name) for s in c.steps), default=4)
    for s in changed:
        why = f"  ({s.reason_b})" if s.reason_b and s.status_b != "succeeded" else ""
        lines.append(f"  {s.name:<{width}}  {s.status_a or '(not in A)'} -> {s.status_b or '(not in B)'}{why}")
    timed = c.duration_changes
    lines += ["", f"duration changes (B - A), largest first{'' if len(timed) <= TEXT_TOP else f', top {TEXT_TOP}'}:"]
    for s in timed[:TEXT_TOP]:
        pct = f"{s.percent:+.1f}%" if s.percent is not None else "n/a"
        lines.append(f"  {s.name:<{width}}  {s.duration_a:9.3f} s -> {s.duration_b:9.3f} s  "
                     f"{s.delta:+9.3f} s  {pct:>8}")
    if len(timed) > TEXT_TOP:
        lines.append(f"  ... {len(timed) - TEXT_TOP} more (use --format json or xlsx for all)")
    lines += ["", f"context keys that differ: {len(c.context) or 'none'}"]
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for k in c.context:
        if k.change == "changed":
            detail = " -> ".join(_where_they_differ(k.value_a or "null", k.value_b or "null"))
        else:
            detail = f"= {_short(k.value_b)}" if k.change == "added" else f"(was {_short(k.value_a)})"
        lines.append(f"  {marks[k.change]} {k.key} {detail}")
    return "\n".join(lines) + "\n"


def _run_line(info: RunInfo) -> str:
    took = f", {info.duration:.3f} s" if info.duration is not None else ""
    return f"{info.id}  {info.recipe_name}  {info.verdict}{took}  started {info.started}"


def _short(text: Optional[str]) -> str:
    text = text or "null"
    return text if len(text) <= TEXT_VALUE else text[:TEXT_VALUE - 3] + "..."


def _where_they_differ(a: str, b: str) -> tuple[str, str]:
    """Two long values cut to the same window around their first difference (a shared start is skipped and
    counted), so that the difference shows even when it is far into the values."""
    if len(a) <= TEXT_VALUE and len(b) <= TEXT_VALUE:
        return a, b
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, first - TEXT_VALUE // 3)
    skipped = f"[{start} same] ..." if start else ""

    def window(text: str) -> str:
        room = TEXT_VALUE - len(skipped)
        part = text[start:start + room]
        return skipped + (part if start + room >= len(text) else part[:-3] + "...")

    return window(a), window(b)


def write_xlsx(c: Comparison, target: Path) -> Path:
    """The comparison as a workbook styled like the run reports: Compare, Steps and Context sheets."""
    from . import excel

    wb = excel.load_template()
    for ws in list(wb.worksheets):
        wb.remove(ws)
    summary = excel.new_sheet(wb, "Compare", [("Field", 18), ("Run A", 40), ("Run B", 40)])
    fields = [("Run id", c.a.id, c.b.id), ("Recipe", c.a.recipe_name, c.b.recipe_name),
              ("Recipe file", c.a.recipe_path, c.b.recipe_path), ("Verdict", c.a.verdict, c.b.verdict),
              ("Started (UTC)", c.a.started, c.b.started), ("Total time (s)", c.a.duration, c.b.duration),
              ("Status changes", "", len(c.status_changes)), ("Context keys differing", "", len(c.context))]
    excel.fill_table(summary, fields, {"Field": lambda r: r[0], "Run A": lambda r: r[1], "Run B": lambda r: r[2]},
                     styles={"Field": lambda r: "field"})
    _steps_sheet(excel, wb, c)
    ctx = excel.new_sheet(wb, "Context", [("Key", 28), ("Change", 10), ("Value A (JSON)", 60), ("Value B (JSON)", 60)])
    excel.fill_table(ctx, c.context, {"Key": lambda k: k.key, "Change": lambda k: k.change,
                                      "Value A (JSON)": lambda k: k.value_a, "Value B (JSON)": lambda k: k.value_b})
    wb.active = 0
    return excel.save(wb, target)


def _steps_sheet(excel: Any, wb: Any, c: Comparison) -> None:
    columns = [("Step", 28), ("Status A", 12), ("Status B", 12), ("Status changed", 10), ("Duration A (s)", 12),
               ("Duration B (s)", 12), ("Change (s)", 12), ("Change (%)", 12)]
    ws = excel.new_sheet(wb, "Steps", columns, freeze="B2")
    getters = {"Step": lambda s: s.name, "Status A": lambda s: s.status_a, "Status B": lambda s: s.status_b,
               "Status changed": lambda s: "yes" if s.status_changed else "",
               "Duration A (s)": lambda s: s.duration_a, "Duration B (s)": lambda s: s.duration_b,
               "Change (s)": lambda s: s.delta, "Change (%)": lambda s: None if s.percent is None else s.percent / 100}
    styles = {"Status A": lambda s: f"status_{s.status_a}" if s.status_a else None,
              "Status B": lambda s: f"status_{s.status_b}" if s.status_b else None}
    formats = {"Duration A (s)": "0.000", "Duration B (s)": "0.000", "Change (s)": "+0.000;-0.000;0.000",
               "Change (%)": "+0.0%;-0.0%;0.0%"}
    excel.fill_table(ws, c.steps, getters, styles=styles, number_formats=formats)
