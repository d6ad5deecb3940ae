"""Every broken recipe in the corpus exits 2 with its one expected message and no traceback."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import FIXTURES, Workdir

CORPUS = sorted((FIXTURES / "bad_recipes").glob("*.yaml"))
# the validation library's own wording, which says nothing to someone writing a recipe
RAW_WORDING = re.compile(r"Input should|String should|List should|valid dictionary|instance of|Value error|"
                         r"greater than or equal|should match pattern")


def expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} needs a '# expect: ' first line"
    return first.removeprefix("# expect: ")


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("recipe", CORPUS, ids=lambda p: p.stem)
def test_loader_names_the_problem(recipe: Path, wd: Workdir) -> None:
    from engine.errors import RecipeError
    from engine.recipe import load_recipe

    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, (wd.path, Path(__file__).resolve().parents[2] / "orchestrator"))
    message = str(info.value)
    assert expected(recipe) in message
    assert str(recipe) in message  # names the file
    assert not RAW_WORDING.search(message), message


@pytest.mark.parametrize("recipe", CORPUS[::4], ids=lambda p: p.stem)
def test_cli_exits_2_without_traceback(recipe: Path, wd: Workdir) -> None:
    proc = wd.run(recipe, "--validate")
    assert proc.returncode == 2, proc.stderr
    assert expected(recipe) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


STEP = "steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh, %s}\n"
PY_STEP = "steps:\n  - {name: a, type: python, module: scriptlets.python.steps.noop, %s}\n"
HOOK = "hooks: {on_run_end: [{type: shell, cmd: scripts/ok.sh, %s}]}\n" + STEP % "idx: 1"
TOP = "%s\n" + STEP % "idx: 1"
# (recipe body after test_meta, the message expected); one case per kind of rewritten message
WORDED = {
    # a pattern: say what the field is, and the fixed value when it can be guessed
    "module_is_a_path": ("steps:\n  - {name: a, type: python, module: scriptlets/python/steps/noop.py}\n",
                         "step 'a' field 'module': must be a dotted Python module name such as "
                         "scriptlets.python.steps.noop (not a file path): write module: scriptlets.python.steps.noop"),
    "function_with_dots": (PY_STEP % "function: noop.StepNoop",
                           "step 'a' field 'function': must be the name of a class in the module, such as StepNoop"),
    "scheduler_without_scheme": (TOP % "execution: {executor: dask, scheduler: 'localhost:8786'}",
                                 "field 'execution.scheduler': must be a Dask scheduler address such as "
                                 "tcp://host:8786 (tcp, tls, inproc, ws or wss): write scheduler: tcp://localhost:8786"),
    # a list field given one value, nothing, or a mapping
    "depends_on_a_string": ("steps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n"
                            "  - {name: b, type: shell, cmd: scripts/ok.sh, depends_on: a}\n",
                            "step 'b' field 'depends_on': must be a list: write depends_on: [a] (got 'a')"),
    "depends_on_empty": (STEP % "depends_on: ", "field 'depends_on': must be a list: write depends_on: [] or leave "
                                                "the field out (got an empty value)"),
    "files_exist_a_string": (STEP % "success: {files_exist: Data/out.csv}",
                             "field 'success.files_exist': must be a list: write files_exist: [Data/out.csv]"),
    "ctx_has_keys_a_mapping": (STEP % "success: {ctx_has_keys: {k: 1}}",
                               "field 'success.ctx_has_keys': must be a list, not a mapping: write ctx_has_keys: [k]"),
    "secrets_a_string": (TOP % "secrets: TOKEN", "field 'secrets': must be a list: write secrets: [TOKEN]"),
    "steps_a_mapping": ("steps: {name: a, type: shell, cmd: scripts/ok.sh}\n",
                        "field 'steps': must be a list of steps, not a mapping: start each step with '- '"),
    "hooks_a_mapping": ("hooks: {on_run_end: {type: shell, cmd: scripts/ok.sh}}\n" + STEP % "idx: 1",
                        "field 'hooks.on_run_end': must be a list of hooks, not a mapping: start each hook with '- '"),
    # a number out of range, or not a number of the right kind
    "timeout_negative": (STEP % "timeout: -1", "step 'a' field 'timeout': must be a number of seconds greater than 0 "
                                               "(got -1)"),
    "timeout_infinite": (STEP % "timeout: .inf", "step 'a' field 'timeout': must be a number of seconds greater than 0 "
                                                 "(got inf)"),
    "retry_delay_infinite": (STEP % "retry_delay: .inf", "field 'retry_delay': must be a number of seconds, 0 or more"),
    "hook_timeout_zero": (HOOK % "timeout: 0", "field 'hooks.on_run_end.0.timeout': must be a number of seconds "
                                               "greater than 0 (got 0)"),
    "retries_a_fraction": (STEP % "retries: 1.5",
                           "field 'retries': must be a whole number of extra attempts, 0 or more"),
    "retries_2.0": (STEP % "retries: 2.0", "field 'retries': must be a whole number of extra attempts, 0 or more; "
                                           "write 2, not 2.0"),
    "retry_delay_negative": (STEP % "retry_delay: -1", "field 'retry_delay': must be a number of seconds, 0 or more"),
    "backoff_below_1": (STEP % "backoff: 0.5", "field 'backoff': must be a number, 1 or more"),
    "max_parallel_text": (TOP % "execution: {max_parallel: '2'}",
                          "field 'execution.max_parallel': must be a whole number of steps, 1 or more (got '2')"),
    "open_files_too_few": (STEP % "limits: {open_files: 4}", "field 'limits.open_files': must be a whole number, "
                                                             "8 or more"),
    "memory_mb_zero": (TOP % "defaults: {limits: {memory_mb: 0}}",
                       "field 'defaults.limits.memory_mb': must be a whole number of megabytes, 1 or more"),
    "resource_units_text": (TOP % "execution: {resources: {dut: many}}",
                            "field 'execution.resources.dut': must be a whole number of units, 1 or more"),
    # text, true/false, one of a few words
    "name_a_number": ("steps:\n  - {name: 1, type: shell, cmd: scripts/ok.sh}\n",
                      "step #1 field 'name': must be text; quote it: '1' (got 1)"),
    "name_yes": ("steps:\n  - {name: yes, type: shell, cmd: scripts/ok.sh}\n",
                 "must be text; quote it (YAML reads a bare yes/no/on/off/true/false as true or false)"),
    "cmd_a_list": ("steps:\n  - {name: a, type: shell, cmd: [scripts/ok.sh]}\n",
                   "step 'a' field 'cmd': must be text, not a list"),
    "env_value_a_number": (STEP % "env: {PORT: 8080}", "field 'env.PORT': must be text; quote it: '8080'"),
    "env_name_a_number": (STEP % "env: {1: x}", "step 'a' field 'env': the name 1 must be text; quote it: '1'"),
    "depends_on_entry_a_number": (STEP % "depends_on: [1]", "field 'depends_on.0': each entry must be text"),
    "continue_on_error_text": (STEP % "continue_on_error: 'no'", "field 'continue_on_error': must be true or false, "
                                                                 "not text"),
    "expose_for_shell_numbers": (STEP % "expose_for_shell: [1]",
                                 "field 'expose_for_shell': must be true, false or a list of context keys such as "
                                 "[metrics] (got [1])"),
    "mode_unknown": (TOP % "execution: {mode: fast}", "field 'execution.mode': must be 'serial' or 'parallel'"),
    "executor_unknown": (TOP % "execution: {executor: ray}", "field 'execution.executor': must be 'local' or 'dask'"),
    "test_id_empty": ("test_meta: {test_id: '', tester: me, description: d}\n" + STEP % "idx: 1",
                      "field 'test_meta.test_id': must not be empty"),
    # a mapping given something else
    "args_a_list": (STEP % "args: [--input, x]", "step 'a' field 'args': must be a mapping (key: value), not a list; "
                                                 "such as args: {input: Data/raw.csv}"),
    "success_a_list": (STEP % "success: [Data/out.csv]", "field 'success': must be a mapping (key: value), not a list"),
    "test_meta_text": ("test_meta: T-1\n" + STEP % "idx: 1", "field 'test_meta': must be a mapping (key: value), "
                                                             "not text; such as test_meta: {test_id: T-001,"),
    "execution_empty": (TOP % "execution:", "field 'execution': must be a mapping (key: value), not empty"),
    "step_a_string": ("steps: [scripts/ok.sh]\n", "step #1: each step must be a mapping, not text, such as "
                                                  "'- {name: a, type: shell, cmd: scriptlets/shell/<name>.sh}'"),
    "hook_a_string": ("hooks: {on_run_end: [scripts/ok.sh]}\n" + STEP % "idx: 1",
                      "field 'hooks.on_run_end.0': each hook must be a mapping, not text"),
    "no_steps_at_all": ("steps: []\n", "field 'steps': the recipe needs at least one step"),
    # a field one level too high: name the section it belongs under
    "resources_at_the_top": (TOP % "resources: {dut: 1}", "the recipe: unknown field 'resources'; it belongs under "
                                                          "'execution:', such as execution: {resources: ...}"),
    "timeout_at_the_top": (TOP % "timeout: 5", "unknown field 'timeout'; it belongs under 'defaults:'"),
    "files_exist_in_the_step": (STEP % "files_exist: [x]", "step 'a': unknown field 'files_exist'; it belongs under "
                                                           "'success:', such as success: {files_exist: ...}"),
    "memory_mb_in_the_step": (STEP % "memory_mb: 64", "unknown field 'memory_mb'; it belongs under 'limits:'"),
    "on_run_end_in_a_step": (STEP % "on_run_end: []", "unknown field 'on_run_end'; known fields: type, cmd,"),
}


@pytest.mark.parametrize("body, message", WORDED.values(), ids=list(WORDED))
def test_schema_messages_say_what_the_field_must_be(body: str, message: str, wd: Workdir) -> None:
    from engine.errors import RecipeError
    from engine.recipe import load_recipe

    recipe = wd.recipe(body, meta=not body.startswith("test_meta"))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, (wd.path,))
    text = str(info.value)
    assert message in text
    assert len(text.splitlines()) == 1, text  # one problem, one line (a union's alternatives included)
    assert not RAW_WORDING.search(text), text


def test_validator_messages_do_not_repeat_the_value(wd: Workdir) -> None:
    from engine.errors import RecipeError
    from engine.recipe import load_recipe

    recipe = wd.recipe(TOP % "execution: {resources: {dut: 0}}")
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe, (wd.path,))
    assert str(info.value).endswith("field 'execution.resources': resource 'dut' needs a capacity of at least 1, got 0")


def test_cli_shows_the_reworded_message(wd: Workdir) -> None:
    """Through runner.py --validate: exit 2, the file and line, the new wording, no traceback."""
    recipe = wd.recipe(STEP % "timeout: -1")
    proc = wd.run(recipe, "--validate")
    assert proc.returncode == 2, proc.stderr
    assert f"{recipe}:3: step 'a' field 'timeout': must be a number of seconds greater than 0 (got -1)" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_missing_entry_names_every_folder_searched_and_a_work_folder_left_out(wd: Workdir, tmp_path: Path) -> None:
    """A recipe kept with its own scripts, run without --workdir: the message says where they are."""
    from engine.errors import RecipeError
    from engine.recipe import load_recipe

    lab = tmp_path / "lab"
    (lab / "scripts").mkdir(parents=True)
    (lab / "scripts" / "x.sh").write_text("#!/bin/bash\n")
    (lab / "probe.py").write_text("")
    orch = Path(__file__).resolve().parents[2] / "orchestrator"
    for step, missing in (("{name: a, type: shell, cmd: scripts/x.sh}", "script 'scripts/x.sh' not found"),
                          ("{name: a, type: python, module: probe}", "module 'probe' not found: no probe.py")):
        recipe = lab / "r.yaml"
        recipe.write_text(f"test_meta: {{test_id: T, tester: t, description: d}}\nsteps:\n  - {step}\n")
        with pytest.raises(RecipeError) as info:
            load_recipe(recipe, (wd.path, orch))
        assert str(info.value).endswith(f"{missing} under {wd.path} or {orch}; it is beside the recipe: "
                                        f"run with --workdir {lab}")
    recipe.write_text("test_meta: {test_id: T, tester: t, description: d}\nsteps:\n"
                      "  - {name: a, type: shell, cmd: scripts/none.sh}\n")
    with pytest.raises(RecipeError, match=r"not found under .* \(paths are relative to the work folder, --workdir\)$"):
        load_recipe(recipe, (wd.path, orch))
