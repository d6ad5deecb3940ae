"""The example Python scriptlets, run as real processes the way a user (or the runner) runs them.

Each step runs standalone from orchestrator/ with `python -m scriptlets.python.steps.<name>`; context writes are
checked by passing `--ctx <tmp>/ctx.json` and reading that file back. Outputs always go to tmp_path.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
ORCH = REPO / "orchestrator"
STEPS = ["generate_measurements", "compute_metrics", "histogram", "check_threshold", "noop"]
SECTIONS = ["Description:", "Usage:", "Arguments:", "Examples:", "Limitations:"]
SANITIZED_HEADER = "sample_id,voltage_v,current_ma,temperature_c"

if str(ORCH) not in sys.path:  # for the in-process tests of pure helpers
    sys.path.insert(0, str(ORCH))


# --------------------------------------------------------------------------- helpers


def run_step(name: str, *args: str, ctx: Optional[Path] = None, by_path: bool = False,
             pythonpath: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one scriptlet from orchestrator/ as `python -m ...` (or by its file path); capture its output."""
    target = [f"scriptlets/python/steps/{name}.py"] if by_path else ["-m", f"scriptlets.python.steps.{name}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_") and k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = str(ORCH)
    extra = ["--ctx", str(ctx)] if ctx else []
    return subprocess.run([sys.executable, *target, *args, *extra], cwd=ORCH, env=env,
                          capture_output=True, text=True, timeout=60)


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def read_ctx(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_ctx(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def sanitize(text: str) -> str:
    """What the shell sanitizer does: trim fields, drop blank lines, strip quotes, snake_case the header."""
    lines = [line for line in text.splitlines() if line.strip()]
    rows = [[field.strip().replace('"', "") for field in line.split(",")] for line in lines]
    rows[0] = [name.lower().replace(" ", "_").replace("-", "_") for name in rows[0]]
    return "\n".join(",".join(row) for row in rows) + "\n"


@pytest.fixture
def messy_csv(tmp_path: Path) -> Path:
    """A small hand-made CSV: padding, a blank line, quotes, missing cells, text columns."""
    path = tmp_path / "small.csv"
    path.write_text(' name , a ,b-c, note\n'
                    'x1, 1.5, 10,ok\n'
                    'x2,2.5,,fine\n'
                    '\n'
                    'x3, 4 ,30,NA\n'
                    '"x4","-1e-1",NaN,3\n', encoding="utf-8")
    return path


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    path = tmp_path / "raw.csv"
    ok_json(run_step("generate_measurements", "--output", str(path), "--rows", "120", "--outliers", "3"))
    return path


# --------------------------------------------------------------------------- every step: the user interface


@pytest.mark.parametrize("by_path", [False, True], ids=["module", "path"])
@pytest.mark.parametrize("name", STEPS)
def test_help_shows_the_docstring_sections(name: str, by_path: bool) -> None:
    proc = run_step(name, "--help", by_path=by_path, pythonpath=not by_path)
    assert proc.returncode == 0, proc.stderr
    for section in SECTIONS:
        assert section in proc.stdout, f"{name} --help lacks {section}"


def test_running_by_path_needs_no_pythonpath(tmp_path: Path) -> None:
    assert ok_json(run_step("noop", by_path=True, pythonpath=False)) == {"ok": True}


def test_unknown_flag_exits_2() -> None:
    proc = run_step("noop", "--no-such-flag")
    assert proc.returncode == 2 and "--no-such-flag" in proc.stderr


def test_misspelled_flag_gets_a_suggestion_and_the_help_command() -> None:
    proc = run_step("check_threshold", "--key", "a", "--mx", "3")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "python -m scriptlets.python.steps.check_threshold: error: unrecognized arguments: --mx 3 (did you mean "
        "--max?); see 'python -m scriptlets.python.steps.check_threshold --help'")


# --------------------------------------------------------------------------- generate_measurements


def test_generate_writes_messy_csv_and_records_it(tmp_path: Path) -> None:
    out, ctx = tmp_path / "sub" / "raw.csv", tmp_path / "ctx.json"
    result = ok_json(run_step("generate_measurements", "--output", str(out), "--rows", "80", ctx=ctx))
    assert result == {"output": str(out), "rows": 80}
    assert read_ctx(ctx)["raw_csv"] == str(out)
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[0] == " Sample ID, Voltage V ,Current-mA, Temperature C"
    assert "" in lines[1:-1], "expected a few blank lines inside the file"
    assert any(line != line.replace(" ", "") for line in lines[1:]), "expected padded rows"


def test_generate_sanitizes_to_snake_case_header(generated: Path) -> None:
    clean = sanitize(generated.read_text(encoding="utf-8")).splitlines()
    assert clean[0] == SANITIZED_HEADER
    assert len(clean) == 121 and all(len(line.split(",")) == 4 for line in clean)


def test_generate_is_seeded(tmp_path: Path) -> None:
    paths = [tmp_path / f"{n}.csv" for n in range(3)]
    for path, seed in zip(paths, ["7", "7", "8"]):
        ok_json(run_step("generate_measurements", "--output", str(path), "--seed", seed, "--rows", "30"))
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def test_generate_crlf(tmp_path: Path) -> None:
    out = tmp_path / "crlf.csv"
    ok_json(run_step("generate_measurements", "--output", str(out), "--rows", "10", "--crlf"))
    data = out.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 10


def test_generate_injects_outliers(generated: Path) -> None:
    rows = [line.split(",") for line in sanitize(generated.read_text(encoding="utf-8")).splitlines()[1:]]
    far = [row for row in rows if abs(float(row[1]) / 3.3 - 1) > 0.2]
    assert len(far) == 3


@pytest.mark.parametrize("args, flag", [(["--rows", "0"], "--rows"), (["--rows", "5", "--outliers", "6"], "--outliers"),
                                        (["--noise", "-1"], "--noise")])
def test_generate_refuses_bad_flags(tmp_path: Path, args: list[str], flag: str) -> None:
    proc = run_step("generate_measurements", "--output", str(tmp_path / "x.csv"), *args)
    assert proc.returncode == 2 and flag in proc.stderr
    assert not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------- compute_metrics


def expected(values: list[float]) -> dict[str, Any]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"count": len(values), "mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)}


def test_metrics_of_a_hand_made_csv(messy_csv: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx.json"
    proc = run_step("compute_metrics", "--input", str(messy_csv), ctx=ctx)
    metrics = ok_json(proc)
    a, bc = [1.5, 2.5, 4.0, -0.1], [10.0, 30.0]
    assert metrics == {"a": expected(a), "b-c": expected(bc)}
    assert metrics["a"]["mean"] == pytest.approx(statistics.mean(a))
    assert read_ctx(ctx)["metrics"] == metrics
    assert read_ctx(ctx)["metrics_columns"] == ["a", "b-c"]
    assert "'name'" in proc.stderr and "'note'" in proc.stderr  # the ignored columns are logged


def test_metrics_without_ctx_prints_the_result(messy_csv: Path) -> None:
    assert list(ok_json(run_step("compute_metrics", "--input", str(messy_csv)))) == ["a", "b-c"]


def test_metrics_columns_restricts(messy_csv: Path) -> None:
    only = ok_json(run_step("compute_metrics", "--input", str(messy_csv), "--columns", "b-c"))
    assert list(only) == ["b-c"]
    both = ok_json(run_step("compute_metrics", "--input", str(messy_csv), "--columns", "b-c,a"))
    assert list(both) == ["a", "b-c"]  # file order


def test_metrics_single_value_has_zero_std(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("x\n3.25\n", encoding="utf-8")
    assert ok_json(run_step("compute_metrics", "--input", str(path))) == {"x": expected([3.25])}


def test_metrics_of_generated_data(generated: Path, tmp_path: Path) -> None:
    raw = ok_json(run_step("compute_metrics", "--input", str(generated)))
    assert list(raw) == ["Voltage V", "Current-mA", "Temperature C"] and raw["Voltage V"]["count"] == 120
    clean = tmp_path / "clean.csv"
    clean.write_text(sanitize(generated.read_text(encoding="utf-8")), encoding="utf-8")
    tidy = ok_json(run_step("compute_metrics", "--input", str(clean)))
    assert list(tidy) == ["voltage_v", "current_ma", "temperature_c"]
    assert tidy["voltage_v"] == raw["Voltage V"]


def test_metrics_missing_input_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    proc = run_step("compute_metrics", "--input", str(missing))
    assert proc.returncode == 2 and str(missing) in proc.stderr and "Traceback" not in proc.stderr


def test_metrics_unknown_or_text_column_exits_2(messy_csv: Path) -> None:
    unknown = run_step("compute_metrics", "--input", str(messy_csv), "--columns", "zz")
    assert unknown.returncode == 2 and "'zz'" in unknown.stderr and "b-c" in unknown.stderr
    text = run_step("compute_metrics", "--input", str(messy_csv), "--columns", "note")
    assert text.returncode == 2 and "'note'" in text.stderr


def test_metrics_no_numeric_column_fails(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text("name,colour\nx,red\ny,blue\n", encoding="utf-8")
    proc = run_step("compute_metrics", "--input", str(path))
    assert proc.returncode == 1 and "no numeric column" in proc.stderr


def test_metrics_empty_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("\n\n", encoding="utf-8")
    proc = run_step("compute_metrics", "--input", str(path))
    assert proc.returncode == 2 and "empty" in proc.stderr


# --------------------------------------------------------------------------- histogram


def test_histogram_counts_and_chart(tmp_path: Path) -> None:
    data, out, ctx = tmp_path / "h.csv", tmp_path / "out" / "h.txt", tmp_path / "ctx.json"
    data.write_text("id,v\n" + "".join(f"r{i},{i}\n" for i in range(11)), encoding="utf-8")
    result = ok_json(run_step("histogram", "--input", str(data), "--column", "v", "--bins", "5",
                              "--output", str(out), ctx=ctx))
    assert result["edges"] == [0, 2, 4, 6, 8, 10] and result["counts"] == [2, 2, 2, 2, 3]
    assert read_ctx(ctx)["histogram"] == {"column": "v", "edges": [0, 2, 4, 6, 8, 10], "counts": [2, 2, 2, 2, 3]}
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and lines[-1].endswith("#" * 50) and lines[-1].count("]") == 1


def test_histogram_of_a_constant_column(tmp_path: Path) -> None:
    data = tmp_path / "c.csv"
    data.write_text("v\n2\n2\n2\n", encoding="utf-8")
    result = ok_json(run_step("histogram", "--input", str(data), "--column", "v", "--bins", "1",
                              "--output", str(tmp_path / "c.txt")))
    assert result["edges"] == [1.5, 2.5] and result["counts"] == [3]


def test_histogram_unknown_column_lists_the_columns(generated: Path, tmp_path: Path) -> None:
    proc = run_step("histogram", "--input", str(generated), "--column", "volts", "--output", str(tmp_path / "h.txt"))
    assert proc.returncode == 2 and "'volts'" in proc.stderr and "Voltage V, Current-mA" in proc.stderr


@pytest.mark.parametrize("args, words", [(["--column", "Sample ID"], "not numeric"),
                                         (["--column", "Voltage V", "--bins", "0"], "--bins")])
def test_histogram_refuses_bad_input(generated: Path, tmp_path: Path, args: list[str], words: str) -> None:
    proc = run_step("histogram", "--input", str(generated), "--output", str(tmp_path / "h.txt"), *args)
    assert proc.returncode == 2 and words in proc.stderr
    assert not (tmp_path / "h.txt").exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.integers(1, 12))
def test_every_value_lands_in_the_bin_that_contains_it(values: list[float], bins: int) -> None:
    from scriptlets.python.steps.histogram import bin_edges, count_in_bins

    edges = bin_edges(min(values), max(values), bins)
    assert len(edges) == bins + 1 and edges == sorted(edges)
    assert edges[0] <= min(values) and max(values) <= edges[-1]
    last = bins - 1  # brute force: bin i holds edges[i] <= v < edges[i+1]; the last bin also v == edges[-1]
    brute = [sum(edges[i] <= v < edges[i + 1] or (i == last and v == edges[-1]) for v in values) for i in range(bins)]
    assert count_in_bins(values, edges) == brute


# --------------------------------------------------------------------------- check_threshold

METRICS = {"metrics": {"voltage_v": {"max": 3.41, "min": 3.2}, "odd.name": {"mean": 5}}, "hist": {"counts": [4, 9]}}


def test_threshold_pass_records_the_verdict(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    verdict = ok_json(run_step("check_threshold", "--key", "metrics.voltage_v.max", "--max", "3.5", ctx=ctx))
    assert verdict == {"key": "metrics.voltage_v.max", "value": 3.41, "min": None, "max": 3.5, "passed": True}
    assert read_ctx(ctx)["threshold_check"] == verdict


def test_threshold_fail_exits_1(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    proc = run_step("check_threshold", "--key", "metrics.voltage_v.max", "--max", "3.4", ctx=ctx)
    assert proc.returncode == 1 and "above the maximum 3.4" in proc.stderr and proc.stdout == ""
    below = run_step("check_threshold", "--key", "metrics.voltage_v.min", "--min", "3.25", ctx=ctx)
    assert below.returncode == 1 and "below the minimum 3.25" in below.stderr


def test_threshold_warn_only_succeeds_but_says_failed(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    verdict = ok_json(run_step("check_threshold", "--key", "metrics.voltage_v.max", "--min", "0", "--max", "3",
                               "--warn-only", "--result-key", "v_check", ctx=ctx))
    assert verdict["passed"] is False and read_ctx(ctx)["v_check"] == verdict


@pytest.mark.parametrize("path, value", [("metrics.odd.name.mean", 5), ("hist.counts.1", 9), ("hist.counts.-1", 9)])
def test_threshold_paths_with_dots_and_indexes(tmp_path: Path, path: str, value: float) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    assert ok_json(run_step("check_threshold", "--key", path, "--max", "10", ctx=ctx))["value"] == value


def test_threshold_missing_path_names_the_part(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    proc = run_step("check_threshold", "--key", "metrics.current_ma.max", "--max", "1", ctx=ctx)
    assert proc.returncode == 2 and "'current_ma'" in proc.stderr and "python context.py keys" in proc.stderr
    alone = run_step("check_threshold", "--key", "metrics.voltage_v.max", "--max", "1")
    assert alone.returncode == 2 and "'metrics'" in alone.stderr and "--ctx" in alone.stderr


@pytest.mark.parametrize("args, words", [([], "--min X, --max X"), (["--min", "2", "--max", "1"], "greater"),
                                         (["--max", "nan"], "finite")])
def test_threshold_refuses_bad_limits(tmp_path: Path, args: list[str], words: str) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    proc = run_step("check_threshold", "--key", "metrics.voltage_v.max", *args, ctx=ctx)
    assert proc.returncode == 2 and words in proc.stderr


def test_threshold_refuses_a_non_number(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", METRICS)
    proc = run_step("check_threshold", "--key", "metrics.voltage_v", "--max", "1", ctx=ctx)
    assert proc.returncode == 2 and "not a number" in proc.stderr


# --------------------------------------------------------------------------- noop and a small pipeline


def test_noop_returns_ok_and_writes_nothing(tmp_path: Path) -> None:
    ctx = write_ctx(tmp_path / "ctx.json", {"a": 1})
    assert ok_json(run_step("noop", ctx=ctx)) == {"ok": True}
    assert read_ctx(ctx) == {"a": 1} and not (tmp_path / "ctx.json.history.jsonl").exists()


def test_pipeline_through_one_context_file(tmp_path: Path) -> None:
    ctx, raw, clean = tmp_path / "ctx.json", tmp_path / "raw.csv", tmp_path / "clean.csv"
    ok_json(run_step("generate_measurements", "--output", str(raw), "--rows", "200", ctx=ctx))
    clean.write_text(sanitize(raw.read_text(encoding="utf-8")), encoding="utf-8")
    ok_json(run_step("compute_metrics", "--input", str(clean), ctx=ctx))
    ok_json(run_step("histogram", "--input", str(clean), "--column", "current_ma", "--output",
                     str(tmp_path / "h.txt"), ctx=ctx))
    verdict = ok_json(run_step("check_threshold", "--key", "metrics.voltage_v.mean", "--min", "3.2", "--max", "3.4",
                               ctx=ctx))
    final = read_ctx(ctx)
    assert verdict["passed"] and sum(final["histogram"]["counts"]) == final["metrics"]["current_ma"]["count"] == 200
    assert set(final) == {"raw_csv", "metrics", "metrics_columns", "histogram", "threshold_check"}
