"""The scriptlet registry (engine/catalog.py) and its tools: tools/scriptlets.py and tools/new_scriptlet.py.

The tools run as real processes, from the repository root and from orchestrator/. Anything that writes
(broken scriptlets, generated docs, scaffolding) works on a copy of the scriptlets tree in tmp_path,
passed to the tools with --root.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ORCH = REPO / "orchestrator"
PY = sys.executable
LIST_TOOL = ORCH / "tools" / "scriptlets.py"
NEW_TOOL = ORCH / "tools" / "new_scriptlet.py"

if str(ORCH) not in sys.path:
    sys.path.insert(0, str(ORCH))

from engine import catalog  # noqa: E402

FULL_DOC = """Do a thing for the tests.

Description:
    Does a thing.

Usage:
    python -m scriptlets.python.steps.NAME

Arguments:
    None.

Examples:
    python -m scriptlets.python.steps.NAME

Limitations:
    None.
"""
PY_BODY = """
from scriptlets.python.core.base import BaseScriptlet


class StepThing(BaseScriptlet):
    def run(self, ctx, params):
        return {"ok": True}


if __name__ == "__main__":
    raise SystemExit(StepThing.cli())
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment outside any run: no ORCH_* variables (the tests may themselves run as a step)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(extra)
    return env


def run(script: Path, *args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(script), *args], cwd=cwd, env=clean_env(**env), capture_output=True,
                          text=True, timeout=180)


def one_line_usage_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the scriptlets (and context.py and helpformat.py, which they need) in tmp_path/orchestrator, with the
    project's pytest configuration beside it, as in the repository."""
    root = tmp_path / "orchestrator"
    shutil.copytree(ORCH / "scriptlets", root / "scriptlets", ignore=shutil.ignore_patterns("__pycache__"))
    for module in ("context.py", "helpformat.py"):
        shutil.copy2(ORCH / module, root / module)
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return root


# --------------------------------------------------------------------------- the registry


def test_registry_finds_every_shipped_scriptlet() -> None:
    expected = {("python", p.stem) for p in (ORCH / catalog.PYTHON_DIR).glob("*.py") if not p.name.startswith("_")}
    expected |= {("shell", p.stem) for p in (ORCH / catalog.SHELL_DIR).glob("*.sh")}
    found = catalog.discover()
    assert {(s.kind, s.name) for s in found} == expected
    assert {"compute_metrics", "noop", "preprocess_csv", "write_summary"} <= {s.name for s in found}
    for s in found:
        assert s.file.is_file() and (ORCH / s.path) == s.file
        if s.kind == "python":
            assert s.run == f"python -m scriptlets.python.steps.{s.name}"
        else:
            assert s.run == f"bash scriptlets/shell/{s.name}.sh"
        assert s.summary and "\n" not in s.summary and not s.summary.startswith("-"), s
        assert s.doc and s.missing == (), s
    shell = {s.name: s for s in found}["preprocess_csv"]
    assert shell.summary == "Sanitize a CSV file so that later steps can read it without surprises"


def test_catalog_stays_light() -> None:
    code = ("import sys, engine.catalog; "
            "print([m for m in ('rich', 'yaml', 'pydantic', 'scriptlets') if m in sys.modules])")
    proc = subprocess.run([PY, "-c", code], cwd=ORCH, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_sections_and_summary_parsing() -> None:
    doc = ("Lead sentence one. Second sentence.\n\nDescription:\n    Body.\nUsage: inline usage\n"
           "  Arguments:\n    indented heading: not a section\nEXAMPLES:\n    x\nLimitations:\n")
    lead, bodies = catalog.split_sections(doc)
    assert lead == "Lead sentence one. Second sentence."
    assert bodies["Usage"].startswith("inline usage") and "Arguments" not in bodies
    assert bodies["Examples"] == "x" and bodies["Limitations"] == ""
    assert catalog.missing_sections(doc) == ("Arguments", "Limitations")
    assert catalog.summary(doc) == "Lead sentence one"
    assert catalog.summary("Description:\n  Cleans a file:\n    - first\n    - second\n") == "Cleans a file"
    fixture = "Test fixture: exit with --code N (default 3)"
    assert catalog.summary(fixture + ".") == fixture
    assert catalog.summary("") == ""


# --------------------------------------------------------------------------- list / show / usage


def test_list_runs_from_the_repository_root_and_from_orchestrator() -> None:
    from_root = run(LIST_TOOL, "list")
    from_orch = run(Path("tools/scriptlets.py"), "list", cwd=ORCH)
    assert from_root.returncode == 0 and from_orch.returncode == 0, from_root.stderr + from_orch.stderr
    assert from_root.stdout == from_orch.stdout
    lines = from_root.stdout.splitlines()
    for s in catalog.discover():
        assert any(line.split()[:2] == [s.name, s.kind] and s.summary in line for line in lines), s.name
    as_json = json.loads(run(LIST_TOOL, "list", "--json").stdout)
    assert [(d["kind"], d["name"]) for d in as_json] == [(s.kind, s.name) for s in catalog.discover()]
    assert {"kind", "name", "path", "run", "summary", "doc", "missing"} <= set(as_json[0])
    shell_only = run(LIST_TOOL, "list", "--kind", "shell").stdout.splitlines()
    assert shell_only and all(line.split()[1] == "shell" for line in shell_only)


def test_show_prints_the_full_documentation_and_suggests_names() -> None:
    shown = run(LIST_TOOL, "show", "compute_metrics")
    assert shown.returncode == 0, shown.stderr
    assert "python -m scriptlets.python.steps.compute_metrics" in shown.stdout
    for section in catalog.SECTIONS:
        assert f"{section}:" in shown.stdout
    assert run(LIST_TOOL, "show", "scriptlets/shell/wait_for.sh").stdout.startswith("wait_for (shell")
    line = one_line_usage_error(run(LIST_TOOL, "show", "compute_metric"))
    assert "no scriptlet 'compute_metric'" in line and "did you mean 'compute_metrics'" in line


@pytest.mark.parametrize("args", [[], ["lst"], ["show"], ["list", "--kind", "perl"], ["list", "--bogus"],
                                  ["--root", "/nonexistent/x", "list"], ["check", "--root", "/"],
                                  ["check", "--timeout", "0"]])
def test_bad_usage_is_one_line_and_exit_2(args: list[str]) -> None:
    proc = run(LIST_TOOL, *args)
    one_line_usage_error(proc)
    assert proc.stdout == ""


def test_a_subcommand_option_misspelled_gets_a_suggestion() -> None:
    line = one_line_usage_error(run(LIST_TOOL, "show", "--jsn", "noop"))
    assert line == ("scriptlets.py: error: unrecognized arguments: --jsn (did you mean --json?); "
                    "see 'python tools/scriptlets.py --help'")


# --------------------------------------------------------------------------- check


def test_check_passes_on_the_shipped_scriptlets() -> None:
    proc = run(LIST_TOOL, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"ok: {len(catalog.discover())} scriptlet(s)")


def test_check_names_the_file_and_the_missing_section(tree: Path) -> None:
    steps, shell = tree / catalog.PYTHON_DIR, tree / catalog.SHELL_DIR
    no_examples = FULL_DOC.replace("Examples:\n    python -m scriptlets.python.steps.NAME\n\n", "")
    (steps / "no_examples.py").write_text(f'"""{no_examples}"""{PY_BODY}')
    empty_limits = FULL_DOC.replace("Limitations:\n    None.\n", "Limitations:\n")
    (steps / "empty_limits.py").write_text(f'"""{empty_limits}"""{PY_BODY}')
    (steps / "bad_help.py").write_text(f'"""{FULL_DOC}"""\nraise RuntimeError("broken at import")\n')
    header = "".join(f"# {line}".rstrip() + "\n" for line in FULL_DOC.split("Limitations:")[0].splitlines())
    (shell / "no_limits.sh").write_text(f"#!/usr/bin/env bash\n{header}\necho help\n")

    proc = run(LIST_TOOL, "--root", str(tree), "check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "orchestrator/scriptlets/python/steps/no_examples.py: missing section 'Examples:'" in out
    assert "orchestrator/scriptlets/python/steps/empty_limits.py: section 'Limitations:' is empty" in out
    assert "orchestrator/scriptlets/shell/no_limits.sh: missing section 'Limitations:'" in out
    assert "orchestrator/scriptlets/python/steps/bad_help.py: `python -m scriptlets.python.steps.bad_help " \
           "--help` exits 1, not 0: RuntimeError: broken at import" in out
    assert len(out.splitlines()) == 4  # the shipped scriptlets in the copy have no problem
    assert "4 problem(s) in 4 of" in proc.stderr


# --------------------------------------------------------------------------- docs


def test_docs_check_passes_on_the_committed_docs() -> None:
    proc = run(LIST_TOOL, "docs", "--check")
    assert proc.returncode == 0, proc.stderr
    proc = run(Path("tools/scriptlets.py"), "docs", "--check", cwd=ORCH)
    assert proc.returncode == 0, proc.stderr


def test_docs_are_deterministic_and_check_catches_stale_docs(tree: Path) -> None:
    docs = tree.parent / "docs" / "scriptlets.md"
    missing = run(LIST_TOOL, "docs", "--check", "--root", str(tree))
    assert missing.returncode == 1 and "docs/scriptlets.md does not exist" in missing.stderr
    assert run(LIST_TOOL, "docs", "--root", str(tree)).returncode == 0
    first = docs.read_text(encoding="utf-8")
    assert first == (REPO / "docs" / "scriptlets.md").read_text(encoding="utf-8")  # same scriptlets, same text
    assert run(LIST_TOOL, "docs", "--root", str(tree)).returncode == 0 and docs.read_text(encoding="utf-8") == first
    assert run(LIST_TOOL, "docs", "--check", "--root", str(tree)).returncode == 0

    noop = tree / catalog.PYTHON_DIR / "noop.py"
    noop.write_text(noop.read_text().replace("Do nothing and succeed", "Do nothing at all and succeed", 1))
    stale = run(LIST_TOOL, "docs", "--check", "--root", str(tree))
    assert stale.returncode == 1
    assert "docs/scriptlets.md is out of date" in stale.stderr
    assert f"run: python orchestrator/tools/scriptlets.py docs --root {tree}" in stale.stderr
    assert "+| [noop](#noop) | python | Do nothing at all and succeed" in stale.stderr
    assert run(LIST_TOOL, "docs", "--root", str(tree)).returncode == 0
    assert run(LIST_TOOL, "docs", "--check", "--root", str(tree)).returncode == 0


# --------------------------------------------------------------------------- scaffolding


def test_scaffolded_scriptlets_pass_their_generated_tests_and_the_check(tree: Path) -> None:
    made_py = run(NEW_TOOL, "read_adc2", "--kind", "python", "--root", str(tree))
    made_sh = run(NEW_TOOL, "wait_for_dut", "--kind", "shell", "--root", str(tree))
    assert made_py.returncode == 0 and made_sh.returncode == 0, made_py.stderr + made_sh.stderr
    assert "created orchestrator/scriptlets/python/steps/read_adc2.py" in made_py.stdout
    assert "created tests/bats/wait_for_dut.bats" in made_sh.stdout
    source = (tree / catalog.PYTHON_DIR / "read_adc2.py").read_text()
    assert "class StepReadAdc2(BaseScriptlet):" in source and "{{" not in source
    script = tree / catalog.SHELL_DIR / "wait_for_dut.sh"
    assert os.access(script, os.X_OK) and "{{" not in script.read_text()

    # The generated tests, run for real the way `make test` runs them.
    tests = tree.parent / "tests"
    pytest_run = subprocess.run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests / "scriptlets")],
                                cwd=tree.parent, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert pytest_run.returncode == 0, pytest_run.stdout + pytest_run.stderr
    assert "4 passed" in pytest_run.stdout
    if shutil.which("bats"):
        bats = subprocess.run(["bats", str(tests / "bats")], cwd=tree.parent, env=clean_env(ORCH_PYTHON=PY),
                              capture_output=True, text=True, timeout=300)
        assert bats.returncode == 0, bats.stdout + bats.stderr
        assert "1..4" in bats.stdout

    check = run(LIST_TOOL, "check", "--root", str(tree))
    assert check.returncode == 0, check.stdout + check.stderr
    listed = run(LIST_TOOL, "list", "--root", str(tree)).stdout
    assert "read_adc2" in listed and "wait_for_dut" in listed
    assert run(LIST_TOOL, "docs", "--check", "--root", str(tree)).returncode == 0  # the scaffolder updated them


@pytest.mark.parametrize("name", ["ReadAdc", "read-adc", "2read", "read__adc", "read_", "_read", "class", "a" * 65])
def test_scaffolding_refuses_bad_names(tree: Path, name: str) -> None:
    line = one_line_usage_error(run(NEW_TOOL, name, "--kind", "python", "--root", str(tree)))
    assert repr(name) in line or "characters long" in line
    assert not (tree / catalog.PYTHON_DIR / f"{name}.py").exists()


def test_scaffolding_refuses_to_overwrite_without_force(tree: Path) -> None:
    target = tree / catalog.SHELL_DIR / "preprocess_csv.sh"
    before = target.read_text()
    line = one_line_usage_error(run(NEW_TOOL, "preprocess_csv", "--kind", "shell", "--root", str(tree)))
    assert "orchestrator/scriptlets/shell/preprocess_csv.sh already exists" in line and "--force" in line
    assert target.read_text() == before
    # The same name as a scriptlet of the other kind is refused even with --force.
    line = one_line_usage_error(run(NEW_TOOL, "noop", "--kind", "shell", "--force", "--root", str(tree)))
    assert "a python scriptlet 'noop' exists" in line
    # A test module of the same name elsewhere would break pytest's collection.
    (tree.parent / "tests" / "unit").mkdir(parents=True)
    (tree.parent / "tests" / "unit" / "test_fresh.py").write_text("")
    line = one_line_usage_error(run(NEW_TOOL, "fresh", "--kind", "python", "--root", str(tree)))
    assert "tests/unit/test_fresh.py already exists" in line
    # --force overwrites.
    assert run(NEW_TOOL, "preprocess_csv", "--kind", "shell", "--force", "--root", str(tree)).returncode == 0
    assert "Describe here" in target.read_text()
    one_line_usage_error(run(NEW_TOOL, "fine_name", "--root", str(tree)))  # --kind is required
