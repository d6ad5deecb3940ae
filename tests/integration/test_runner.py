"""The runner end to end with real processes: outcomes, logs, policies, selection, signals."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ORCH, PY, Workdir, pids_alive

MODES = ["serial", "parallel"]


def mode_line(mode: str) -> str:
    return f"execution: {{mode: {mode}, max_parallel: 2}}\n"


@pytest.mark.parametrize("mode", MODES)
def test_success_records_logs_context_and_figures(wd: Workdir, mode: str) -> None:
    recipe = wd.recipe(mode_line(mode) + """
steps:
  - {name: first, type: shell, cmd: scripts/ok.sh, args: {set: 'answer=42', label: two words}}
  - name: second
    type: shell
    cmd: scripts/ok.sh
    args: {got: '{{ ctx.answer }}', test: '{{ test_meta.test_id }}'}
    depends_on: [first]
    success: {ctx_has_keys: [answer]}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "args: --set answer=42 --label two words" in wd.logs("first")
    assert "args: --got 42 --test T-1" in wd.logs("second")
    steps = wd.steps()
    assert {s["status"] for s in steps.values()} == {"succeeded"}
    assert all(s["cpu"] is not None and s["duration"] > 0 for s in steps.values())
    ctx = subprocess.run([PY, str(ORCH / "context.py"), "--run", "latest", "history", "answer"],
                         capture_output=True, text=True, env={**os.environ, "ORCH_WORKDIR": str(wd.path)})
    history = json.loads(ctx.stdout)
    assert [(h["who"], h["new"]) for h in history] == [("first", 42)]
    assert "SUCCEEDED" in proc.stdout


@pytest.mark.parametrize("mode", MODES)
def test_failure_skips_dependents(wd: Workdir, mode: str) -> None:
    recipe = wd.recipe(mode_line(mode) + """
steps:
  - {name: broken, type: shell, cmd: scripts/fail.sh, args: {code: 7}}
  - {name: after_broken, type: shell, cmd: scripts/ok.sh, depends_on: [broken]}
  - {name: independent, type: shell, cmd: scripts/ok.sh}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 1
    steps = wd.steps()
    assert steps["broken"]["status"] == "failed" and steps["broken"]["reason"] == "exit code 7: failing with 7"
    assert steps["after_broken"]["status"] == "skipped"
    assert "upstream step 'broken' failed" in steps["after_broken"]["reason"]
    # parallel: the other branch runs on; serial: the run stops at the first failure
    assert steps["independent"]["status"] == ("succeeded" if mode == "parallel" else "skipped")
    assert "broken: exit code 7: failing with 7" in proc.stdout  # the last line it printed


@pytest.mark.parametrize("mode", MODES)
def test_timeout_ends_the_whole_tree(wd: Workdir, mode: str) -> None:
    pids = wd.path / "pids.txt"
    recipe = wd.recipe(mode_line(mode) + f"""
steps:
  - {{name: tree, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}, timeout: 1}}
""")
    started = time.monotonic()
    proc = wd.run(recipe)
    assert proc.returncode == 1
    assert time.monotonic() - started < 20
    assert "timed out after 1 s" in wd.steps()["tree"]["reason"]
    grandchildren = [int(p) for p in pids.read_text().split()]
    assert len(grandchildren) == 3
    assert pids_alive(grandchildren) == []  # including the one that ignores TERM and the setsid one


def test_sigterm_ignoring_step_is_killed_after_grace(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: stubborn, type: shell, cmd: scripts/ignore_term.sh, timeout: 0.5}\n")
    proc = wd.run(recipe, env={"ORCH_KILL_GRACE": "0.5"})
    assert proc.returncode == 1
    assert "timed out" in wd.steps()["stubborn"]["reason"]


@pytest.mark.parametrize("mode", MODES)
def test_retries_with_backoff_append_to_one_log(wd: Workdir, mode: str) -> None:
    counter = wd.path / "count"
    recipe = wd.recipe(mode_line(mode) + f"""
steps:
  - {{name: flaky, type: shell, cmd: scripts/flaky.sh, args: {{counter: {counter}, fail_times: 2}},
     retries: 2, retry_delay: 0.2, backoff: 2}}
""")
    started = time.monotonic()
    proc = wd.run(recipe)
    assert proc.returncode == 0, proc.stdout
    assert time.monotonic() - started >= 0.6  # 0.2 s then 0.4 s between attempts
    row = wd.steps()["flaky"]
    assert row["status"] == "succeeded" and row["attempts"] == 3
    log = wd.logs("flaky")
    assert [int(n) for n in re.findall(r"===== attempt (\d) of step flaky started", log)] == [1, 2, 3]


def test_retries_exhausted_fail(wd: Workdir) -> None:
    recipe = wd.recipe(f"""
steps:
  - {{name: flaky, type: shell, cmd: scripts/flaky.sh, args: {{counter: {wd.path / 'c'}, fail_times: 5}}, retries: 1}}
""")
    assert wd.run(recipe).returncode == 1
    assert wd.steps()["flaky"]["attempts"] == 2


@pytest.mark.parametrize("mode", MODES)
def test_continue_on_error_tolerates_a_failure(wd: Workdir, mode: str) -> None:
    recipe = wd.recipe(mode_line(mode) + """
steps:
  - {name: optional, type: shell, cmd: scripts/fail.sh, continue_on_error: true}
  - {name: after, type: shell, cmd: scripts/ok.sh, depends_on: [optional]}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 0, proc.stdout
    steps = wd.steps()
    assert steps["optional"]["status"] == "failed" and steps["optional"]["tolerated"] == 1
    assert steps["after"]["status"] == "succeeded"


def spans(path: Path) -> dict[str, tuple[float, float]]:
    found: dict[str, list[float]] = {}
    for line in path.read_text().split("\n"):
        if line:
            kind, name, at = line.split()
            found.setdefault(name, [0.0, 0.0])[0 if kind == "start" else 1] = float(at)
    return {k: (v[0], v[1]) for k, v in found.items()}


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_parallel_respects_max_parallel_and_resources(wd: Workdir) -> None:
    out = wd.path / "spans.txt"
    steps = "".join(f"  - {{name: free{i}, type: shell, cmd: scripts/span.sh, args: {{file: {out}, seconds: 0.3}}}}\n"
                    for i in range(5))
    steps += "".join(f"  - {{name: dut{i}, type: shell, cmd: scripts/span.sh, args: {{file: {out}, seconds: 0.3}},"
                     f" resources: {{dut: 1}}}}\n" for i in range(3))
    recipe = wd.recipe("execution: {mode: parallel, max_parallel: 3, resources: {dut: 1}}\nsteps:\n" + steps)
    assert wd.run(recipe).returncode == 0
    found = spans(out)
    assert len(found) == 8
    assert max_overlap(list(found.values())) == 3  # parallel, never above max_parallel
    assert max_overlap([v for k, v in found.items() if k.startswith("dut")]) == 1  # the bench is never shared


def test_one_slot_runs_one_step_at_a_time_in_time_order(wd: Workdir) -> None:
    """With one slot, a step starts only once the one before has been settled: a retry keeps its slot, and
    context written by a step is committed before the next one starts. The run log reads in time order."""
    counter = wd.path / "count"
    recipe = wd.recipe(f"""
execution: {{mode: parallel, max_parallel: 1}}
steps:
  - {{name: writer, type: shell, cmd: scripts/ok.sh, args: {{set: 'shared=1'}}}}
  - {{name: reader, type: shell, cmd: scripts/ok.sh, args: {{got: '{{{{ ctx.shared }}}}'}}}}
  - {{name: flaky, type: shell, cmd: scripts/flaky.sh, args: {{counter: {counter}, fail_times: 1}}, retries: 1,
     retry_delay: 0.3}}
  - {{name: a, type: shell, cmd: scripts/ok.sh}}
  - {{name: b, type: shell, cmd: scripts/ok.sh}}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "args: --got 1" in wd.logs("reader")  # the writer's value was committed before the reader started
    found = re.findall(r"^(\S+) (\w+): attempt (\d) (started|succeeded|failed)", wd.runner_log(), re.M)
    assert [(step, attempt, what != "started") for _, step, attempt, what in found] == [
        (step, attempt, ended) for step, attempt in (("writer", "1"), ("reader", "1"), ("flaky", "1"),
                                                     ("flaky", "2"), ("a", "1"), ("b", "1"))
        for ended in (False, True)]  # one at a time; the retry kept its slot
    stamps = [stamp for stamp, *_ in found]
    assert stamps == sorted(stamps)


def test_parallel_flag_overrides_serial_mode(wd: Workdir) -> None:
    out = wd.path / "spans.txt"
    recipe = wd.recipe("steps:\n" + "".join(
        f"  - {{name: s{i}, type: shell, cmd: scripts/span.sh, args: {{file: {out}, seconds: 0.3}}}}\n"
        for i in range(4)))
    assert wd.run(recipe).returncode == 0
    assert max_overlap(list(spans(out).values())) == 1
    out.unlink()
    assert wd.run(recipe, "--parallel", "2").returncode == 0
    assert max_overlap(list(spans(out).values())) == 2


def test_success_criteria_failures_are_explained(wd: Workdir) -> None:
    recipe = wd.recipe("""
execution: {mode: parallel}
steps:
  - {name: no_file, type: shell, cmd: scripts/ok.sh, success: {files_exist: [Data/out/*.csv]}}
  - {name: no_key, type: shell, cmd: scripts/ok.sh, success: {ctx_has_keys: [result]}}
  - {name: no_input, type: shell, cmd: scripts/ok.sh, args: {x: '{{ ctx.never_set }}'}}
  - {name: neither, type: shell, cmd: scripts/ok.sh, success: {files_exist: [Data/x.csv], ctx_has_keys: [k]}}
""")
    assert wd.run(recipe).returncode == 1
    steps = wd.steps()
    assert steps["no_file"]["reason"] == "success check: no file matches 'Data/out/*.csv'"
    assert steps["no_key"]["reason"] == "success check: missing context key(s) 'result'"
    assert steps["neither"]["reason"] == \
        "success check: no file matches 'Data/x.csv'; missing context key(s) 'k'"  # every failed check, not the first
    assert "context key 'never_set' is not set" in steps["no_input"]["reason"]


def test_step_environment(wd: Workdir) -> None:
    recipe = wd.recipe("""
steps:
  - {name: show, type: shell, cmd: scripts/env.sh, env: {LANG: C, RUN_LABEL: 'run {{ run.id }}'}}
""")
    assert wd.run(recipe).returncode == 0
    log = wd.logs("show")
    run_id = wd.run_ids()[-1]
    assert f"ORCH_RUN_ID={run_id}" in log and "ORCH_STEP=show" in log and "ORCH_TEST_ID=T-1" in log
    assert f"python={Path(PY).parent}/python" in log  # the runner's own interpreter comes first on PATH
    assert f"cwd={wd.path}" in log


def test_every_run_and_step_field_the_load_check_accepts_is_there_at_run_time(wd: Workdir) -> None:
    """templating.STEP_FIELDS is what --validate accepts; Run._lookup must provide each of them."""
    from engine.templating import STEP_FIELDS

    env = {f"ORCH_FIELD_{root}_{name}".upper(): f"'{{{{ {root}.{name} }}}}'"
           for root, names in STEP_FIELDS.items() for name in names}
    recipe = wd.recipe("steps:\n  - {name: show, type: shell, cmd: scripts/env.sh, env: {"
                       + ", ".join(f"{k}: {v}" for k, v in env.items()) + "}}\n")
    proc = wd.run(recipe)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = dict(line.split("=", 1) for line in wd.logs("show").splitlines() if line.startswith("ORCH_FIELD_"))
    assert set(shown) == set(env) and all(shown.values()), shown


def test_parallel_writers_of_one_key_are_reported(wd: Workdir) -> None:
    recipe = wd.recipe("""
execution: {mode: parallel, max_parallel: 2}
steps:
  - {name: w1, type: shell, cmd: scripts/ok.sh, args: {set: 'shared=1'}}
  - {name: w2, type: shell, cmd: scripts/ok.sh, args: {set: 'shared=2'}}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 0
    assert "conflict: shared" in proc.stdout
    # both writers are named, whichever committed first
    assert any(f"conflict: shared (written by {a} and {b}, running at the same time)" in proc.stdout
               for a, b in (("w1", "w2"), ("w2", "w1"))), proc.stdout
    assert "CONFLICT" in wd.runner_log()


def test_background_leftovers_are_ended(wd: Workdir) -> None:
    pids = wd.path / "pids"
    recipe = wd.recipe(f"steps:\n  - {{name: bg, type: shell, cmd: scripts/background.sh, args: {{pids: {pids}}}}}\n")
    assert wd.run(recipe).returncode == 0
    time.sleep(0.2)
    assert pids_alive([int(p) for p in pids.read_text().split()]) == []
    assert "ended background processes" in wd.runner_log()


def test_debug_stamps_every_line(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: talk, type: shell, cmd: scripts/fail.sh, args: {code: 0}}\n")
    assert wd.run(recipe, "--debug").returncode == 0
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z err\| failing with 0$", wd.logs("talk"), re.M)


def test_large_output_streams_to_the_log(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: flood, type: shell, cmd: scripts/flood.sh, args: {mb: 300}}\n")
    proc = wd.run(recipe)
    assert proc.returncode == 0
    log = sorted(wd.path.glob("Logs/*_flood.log"))[-1]
    assert log.stat().st_size >= 300 * 1048576
    with log.open("rb") as fh:
        fh.seek(-200, os.SEEK_END)
        assert b"===== attempt 1 ended" in fh.read()  # the footer comes after all the output


def test_resume_after_failure_keeps_earlier_work_and_rolls_back_later_writes(wd: Workdir) -> None:
    gate = wd.path / "gate"
    recipe = wd.recipe(f"""
steps:
  - {{name: prepare, type: shell, cmd: scripts/ok.sh, args: {{set: 'prepared=1'}}}}
  - {{name: measure, type: shell, cmd: scripts/ok.sh, args: {{set: 'measured=1'}}, depends_on: [prepare]}}
  - {{name: gatekeeper, type: shell, cmd: scripts/flaky.sh, args: {{counter: {gate}, fail_times: 1}},
     depends_on: [measure]}}
  - {{name: report, type: shell, cmd: scripts/ok.sh, args: {{set: 'reported=1'}}, depends_on: [gatekeeper]}}
""")
    assert wd.run(recipe).returncode == 1
    first = wd.run_ids()[-1]
    proc = wd.run(recipe, "--resume-from", "measure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = wd.run_ids()[-1]
    steps = wd.steps(second)
    assert steps["prepare"]["status"] == "reused" and steps["prepare"]["reused_from"] == first
    assert [steps[n]["status"] for n in ("measure", "gatekeeper", "report")] == ["succeeded"] * 3
    env = {**os.environ, "ORCH_WORKDIR": str(wd.path)}
    history = json.loads(subprocess.run([PY, str(ORCH / "context.py"), "--run", second, "history", "measured"],
                                        capture_output=True, text=True, env=env).stdout)
    assert [h["op"] for h in history] == ["set", "undo", "set"]  # first run's write undone, then written again
    assert history[0]["undone_by"] == second


def test_only_and_skip(wd: Workdir) -> None:
    recipe = wd.recipe("""
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
  - {name: b, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
  - {name: c, type: shell, cmd: scripts/ok.sh, depends_on: [b]}
""")
    proc = wd.run(recipe, "--only", "b")
    assert proc.returncode == 2 and "upstream step(s) a did not succeed" in proc.stderr
    assert wd.run(recipe, "--skip", "b").returncode == 0
    steps = wd.steps()
    assert steps["b"]["status"] == "skipped" and steps["c"]["status"] == "succeeded"
    assert wd.run(recipe, "--only", "b,c").returncode == 0
    steps = wd.steps()
    assert steps["a"]["status"] == "reused" and steps["b"]["status"] == "succeeded"
    bad = wd.run(recipe, "--resume-from", "zz")
    assert bad.returncode == 2 and "--resume-from: no step 'zz'" in bad.stderr


def test_dry_run_list_validate(wd: Workdir) -> None:
    recipe = wd.recipe("""
execution: {mode: parallel, max_parallel: 2}
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
  - {name: b, type: shell, cmd: scripts/fail.sh, depends_on: [a]}
  - {name: c, type: shell, cmd: scripts/ok.sh}
""")
    dry = wd.run(recipe, "--dry-run", "--skip", "c")
    assert dry.returncode == 0
    assert "wave 1: a" in dry.stdout and "wave 2: b" in dry.stdout
    assert "[skip] c (shell): skipped by --skip" in dry.stdout
    assert not (wd.path / "Logs").exists()  # nothing ran
    listing = wd.run(recipe, "--list")
    assert "Test fixture: exit with --code N" in listing.stdout
    assert wd.run(recipe, "--validate").stdout.strip().endswith("valid (3 steps)")
    typo = wd.run(recipe, "--dryrun")
    assert typo.returncode == 2 and "unrecognized arguments: --dryrun (did you mean --dry-run?)" in typo.stderr


def test_a_closed_stdout_neither_stops_the_run_nor_changes_its_exit_code(wd: Workdir) -> None:
    """`runner.py ... | head -1`: the reader goes away; the run still finishes and records everything, and the
    exit code is the run's own (here 1: a step failed), not a crash (3)."""
    recipe = wd.recipe("""
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
  - {name: b, type: shell, cmd: scripts/fail.sh, depends_on: [a]}
  - {name: c, type: shell, cmd: scripts/ok.sh}
""")
    for flags, code in ((["--plain"], 1), (["--dry-run"], 0), (["--list"], 0)):
        cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path), *flags]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.stdout.close()  # type: ignore[union-attr]  # the reader has gone before the first line
        err = proc.stderr.read()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        assert proc.wait(timeout=60) == code, err
        assert err == "" or "error" not in err.lower(), err
    assert {n: s["status"] for n, s in wd.steps().items()} == {"a": "succeeded", "b": "failed", "c": "skipped"}
    assert not list(wd.path.glob("Logs/*crash*"))


def test_every_command_takes_a_run_as_id_start_or_end_of_one_or_latest(wd: Workdir, tmp_path: Path) -> None:
    recipe = wd.recipe("""
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh, args: {set: "answer=42"}}
  - {name: b, type: shell, cmd: scripts/ok.sh, depends_on: [a]}
""")
    assert wd.run(recipe).returncode == 0
    (run_id,) = wd.run_ids()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}

    def context(*args: str) -> subprocess.CompletedProcess[str]:  # from elsewhere, the work folder given
        return subprocess.run([PY, str(ORCH / "context.py"), "--workdir", str(wd.path), *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path)

    for ref in ("latest", run_id, run_id[:8], run_id[-4:]):
        got = context("--run", ref, "get", "answer")
        assert (got.returncode, got.stdout.strip()) == (0, "42"), got.stderr
    unknown = context("--run", "nope", "keys")
    assert unknown.returncode == 2 and f"recent runs: {run_id}" in unknown.stderr
    # an ended run's context is its record: changing it takes --amend, and the change is credited to that run
    for change in (("set", "answer", "43"), ("delete", "answer")):
        refused = context("--run", "latest", *change)
        assert refused.returncode == 2 and f"run {run_id} has ended (succeeded)" in refused.stderr, refused.stderr
        assert "add --amend" in refused.stderr
    assert context("--run", "latest", "--amend", "set", "answer", "43").returncode == 0
    history = json.loads(context("--run", "latest", "history", "answer").stdout)
    assert [(h["who"], h["new"], h["run_id"]) for h in history] == [("a", 42, run_id), ("cli", 43, run_id)]
    planned = wd.run(recipe, "--only", "b", "--run-id", run_id[-4:], "--dry-run")
    assert planned.returncode == 0 and f"building on run {run_id}" in planned.stdout, planned.stderr
    bad = wd.run(recipe, "--only", "b", "--run-id", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --run-id nope: run 'nope' not found")


def test_a_work_folder_that_does_not_exist_is_refused(wd: Workdir, tmp_path: Path) -> None:
    """A mistyped --workdir used to be created, Data/ and Logs/ with it, and the run failed on missing scripts."""
    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    typo = tmp_path / "lab-typo"
    proc = subprocess.run([PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(typo)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: --workdir {typo}: no such folder"), proc.stderr
    assert not typo.exists()


def test_a_bad_tuning_variable_is_a_usage_error(wd: Workdir) -> None:
    recipe = wd.recipe("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    bad = wd.run(recipe, env={"ORCH_KILL_GRACE": "abc"})
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip() == ("error: ORCH_KILL_GRACE='abc': must be a number, 0 or more (default 5); "
                                  "fix or unset it")


def test_sigint_aborts_then_resume_finishes(wd: Workdir) -> None:
    pids = wd.path / "pids"
    recipe = wd.recipe(f"""
execution: {{mode: parallel, max_parallel: 2}}
steps:
  - {{name: quick, type: shell, cmd: scripts/ok.sh, args: {{set: 'quick=1'}}}}
  - {{name: long, type: shell, cmd: scripts/tree.sh, args: {{pids: {pids}}}, depends_on: [quick]}}
  - {{name: later, type: shell, cmd: scripts/ok.sh, depends_on: [long]}}
""")
    cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(recipe), "--workdir", str(wd.path)]
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (pids.exists() and len(pids.read_text().split()) == 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=30)
    assert runner.returncode == 130, out + err
    assert "Traceback" not in err
    time.sleep(0.2)
    assert pids_alive([int(p) for p in pids.read_text().split()]) == []
    steps = wd.steps()
    assert steps["quick"]["status"] == "succeeded"
    assert steps["long"]["status"] == "aborted" and "aborted (SIGINT)" in steps["long"]["reason"]
    assert steps["later"]["status"] == "skipped"
    assert "ABORTED" in out
    # the summary says how to continue: the same command, from the step that was interrupted
    hint = next((line for line in out.splitlines() if line.startswith("to continue")), "")
    aborted = wd.run_ids()[-1]
    assert hint.startswith(f"to continue from there: {PY} ") and hint.endswith(
        f"--workdir {wd.path} --resume-from long --run-id {aborted}"), out
    # resume with it: a quick stand-in replaces the long step's script, and the run completes
    (wd.path / "scripts" / "tree.sh").write_text("#!/usr/bin/env bash\necho fixed\n")
    words = shlex.split(hint.split(": ", 1)[1])
    resumed = subprocess.run(words, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert wd.steps()["quick"]["status"] == "reused" and "to continue" not in resumed.stdout


def test_demo_and_template_recipes_run(wd: Workdir) -> None:
    import shutil

    shutil.copytree(ORCH / "recipes", wd.path / "recipes")
    for name in ("demo", "template", "parallel_bench"):
        proc = wd.run(ORCH / "recipes" / f"{name}.yaml")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "voltage_v" in (wd.path / "Data" / "demo" / "summary.md").read_text()


def test_runs_from_repository_root_and_from_orchestrator(wd: Workdir) -> None:
    recipe = "recipes/template.yaml"
    env = {**os.environ, "ORCH_WORKDIR": str(wd.path)}
    import shutil

    shutil.copytree(ORCH / "recipes", wd.path / "recipes")
    for cwd, script in ((ORCH.parent, "orchestrator/runner.py"), (ORCH, "runner.py")):
        proc = subprocess.run([PY, script, "--recipe", recipe, "--dry-run"], cwd=cwd, capture_output=True,
                              text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "compute_metrics_mem" in proc.stdout
