"""Property-based fuzz: random and mutated recipes either load or give a RecipeError (exit 2 material);
random context CLI calls exit 0, 1 or 2 — never a traceback, never a hang."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import context as context_cli
from engine.errors import RecipeError
from engine.recipe import load_recipe

VALID = {
    "test_meta": {"test_id": "T", "tester": "t", "description": "d"},
    "execution": {"mode": "parallel", "max_parallel": 2, "resources": {"dut": 1}},
    "defaults": {"timeout": 5, "retries": 1},
    "steps": [
        {"name": "a", "type": "shell", "cmd": "scripts/ok.sh", "args": {"x": 1}},
        {"name": "b", "type": "python", "module": "scriptlets.python.steps.noop", "depends_on": ["a"],
         "resources": {"dut": 1}, "success": {"ctx_has_keys": ["k"], "files_exist": ["Data/*.csv"]}},
    ],
}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["a", "b", "shell", "python", "../x", "{{ ctx.k }}",
                                                           "{{ bad }}", "scripts/ok.sh", "dut", "-1"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))


def mutate(data, path: list, value):
    """A copy of data with the node at path (indices taken modulo sizes) replaced by value or deleted."""
    data = json.loads(json.dumps(data))
    node = data
    for i, step in enumerate(path):
        keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not keys:
            break
        key = keys[step % len(keys)]
        if i == len(path) - 1 or not isinstance(node[key], (dict, list)):
            if value == "<delete>":
                del node[key]
            else:
                node[key] = value
            break
        node = node[key]
    return data


def check_loads_or_refuses(path: Path, text: str, base: Path) -> None:
    path.write_text(text)
    try:
        load_recipe(path, (base, Path(context_cli.HOME)))
    except RecipeError as exc:
        assert str(exc).strip(), "an empty message"
        assert str(path) in str(exc)


@FUZZ
@given(path=st.lists(st.integers(0, 20), min_size=1, max_size=5), value=st.one_of(values, st.just("<delete>")))
def test_mutated_recipes_load_or_refuse(tmp_path_factory, path, value) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz"
    (base / "scripts").mkdir(parents=True, exist_ok=True)
    (base / "scripts" / "ok.sh").write_text("echo ok\n")
    check_loads_or_refuses(base / "r.yaml", yaml.safe_dump(mutate(VALID, path, value)), base)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}!&*|>'\"#%@`\n\t ,.0123456789")), max_size=200))
def test_random_yaml_text_loads_or_refuses(tmp_path_factory, text) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz_text"
    base.mkdir(exist_ok=True)
    check_loads_or_refuses(base / "r.yaml", text, base)


COMMANDS = st.sampled_from(["get", "set", "delete", "keys", "history", "export", "import", "bogus", "--string",
                            "--run", "--ctx", "latest", "-h"])


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(argv=st.lists(st.one_of(COMMANDS, st.text(max_size=8)), max_size=6))
def test_context_cli_exits_0_1_or_2(tmp_path_factory, monkeypatch, argv) -> None:
    base = tmp_path_factory.getbasetemp() / "fuzz_ctx"
    base.mkdir(exist_ok=True)
    monkeypatch.chdir(base)  # a fuzzed '--ctx NAME' writes NAME in the current folder
    monkeypatch.setenv("ORCH_WORKDIR", str(base))
    monkeypatch.setenv("ORCH_CTX_FILE", str(base / "ctx.json"))
    for name in ("ORCH_CTX_DB", "ORCH_CTX_SEQ", "ORCH_CTX_JOURNAL"):
        monkeypatch.delenv(name, raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            contextlib.suppress(SystemExit) as _:
        code = context_cli.main(argv)
        assert code in (0, 1, 2)
    assert "Traceback" not in err.getvalue()
