"""The quick schema check (engine/recipe_check.py, generated) judges every recipe exactly as the pydantic models
do, and fills in the same defaults; the generated files are up to date with the models."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine import recipe_check, recipe_schema
from engine.errors import RecipeError
from engine.recipe_yaml import parse_yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECIPES = Path(recipe_schema.__file__).resolve().parents[1] / "recipes"

VALID: dict[str, Any] = {
    "test_meta": {"test_id": "T", "tester": "t", "description": "d", "station": "bench-3"},
    "execution": {"mode": "parallel", "max_parallel": 2, "resources": {"dut": 1}},
    "defaults": {"timeout": 5, "retries": 1, "limits": {"memory_mb": 100}},
    "secrets": ["TOKEN"],
    "hooks": {"on_run_end": [{"type": "shell", "cmd": "scripts/ok.sh", "args": {"x": 1}}]},
    "steps": [
        {"name": "a", "type": "shell", "cmd": "scripts/ok.sh", "args": {"x": 1}, "idx": 2.5},
        {"name": "b", "type": "python", "module": "scriptlets.python.steps.noop", "function": "StepNoop",
         "depends_on": ["a"], "resources": {"dut": 1}, "expose_for_shell": ["k"],
         "success": {"ctx_has_keys": ["k"], "files_exist": ["Data/*.csv"]}},
    ],
}
FIELDS = ["name", "type", "cmd", "module", "function", "args", "params", "timeout", "retries", "retry_delay",
          "backoff", "continue_on_error", "resources", "env", "expose_for_shell", "limits", "memory_mb",
          "open_files", "idx", "description", "depends_on", "success", "files_exist", "ctx_has_keys", "secrets",
          "mode", "max_parallel", "executor", "scheduler", "test_id", "tester", "on_run_start", "steps", "hooks",
          "allow_external", "unknown_field"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.sampled_from([2.0, 0.5, -1.5, 0.0, math.inf, -math.inf,
                                                                    math.nan, 10**20]),
    st.sampled_from(["", "x", "a b", "abc\n", "shell", "python", "serial", "dask", "scripts/ok.sh", "m.n",
                     "/abs", "../up", "a/../b", "a/..", "..x", "Data/*.csv", "tcp://h:1", "tcp://", "StepNoop"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["dut", "x", "memory_mb", "k"]), inner, max_size=2),
    st.dictionaries(st.integers(0, 2), inner, min_size=1, max_size=1)), max_leaves=6)


def _nodes(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict or list in data (data included)."""
    found = [path]
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if isinstance(value, (dict, list)):
            found.extend(_nodes(value, (*path, key)))
    return found


def _mutated(pick: int, key: str, value: Any, action: str) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    containers = _nodes(data)
    target: Any = data
    for part in containers[pick % len(containers)]:
        target = target[part]
    if isinstance(target, list):
        if action == "delete" and target:
            del target[pick % len(target)]
        elif target:
            target[pick % len(target)] = value
        else:
            target.append(value)
    elif action == "delete":
        target.pop(key if key in target else next(iter(target), None), None)
    else:
        target[key] = value
    return data


def judge(text: str) -> tuple[bool, Any, Any, Any]:
    """(exotic, quick verdict, pydantic verdict) for a recipe's text; a verdict is the filled data or None."""
    parsed = parse_yaml(Path("r.yaml"), text)
    try:
        quick = recipe_check.validate(parse_yaml(Path("r.yaml"), text).data)
    except recipe_check.JsonSchemaValueException:
        quick = None
    try:
        slow = recipe_schema.RecipeModel.model_validate(parsed.data).model_dump()
    except ValidationError:
        slow = None
    return parsed.exotic, quick, slow, parsed.data


def assert_same_verdict(text: str) -> None:
    exotic, quick, slow, data = judge(text)
    if exotic:
        return  # the quick check is skipped for such data: pydantic alone decides
    assert (quick is None) == (slow is None), f"quick check {'refuses' if quick is None else 'admits'} " \
        f"what pydantic {'admits' if quick is None else 'refuses'}:\n{text}"
    if quick is not None:
        assert quick == slow, f"different defaults or values:\n{quick}\n!=\n{slow}"


def test_generated_files_are_up_to_date() -> None:
    assert recipe_schema.main(["--check"]) == 0, "the models changed: run `make schema` and commit the result"


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_quick_check_admits_the_shipped_recipes(recipe: Path) -> None:
    exotic, quick, slow, _ = judge(recipe.read_text())
    assert not exotic and quick is not None and quick == slow


def _parses(recipe: Path) -> bool:
    try:
        parse_yaml(recipe, recipe.read_text())
    except RecipeError:  # bad YAML, an unsafe tag, a key twice: refused before any schema
        return False
    return True


@pytest.mark.parametrize("recipe", [p for p in sorted((FIXTURES / "bad_recipes").glob("*.yaml")) if _parses(p)],
                         ids=lambda p: p.name)
def test_bad_recipe_fixtures_get_the_same_verdict(recipe: Path) -> None:
    assert_same_verdict(recipe.read_text())


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(pick=st.integers(0, 50), key=st.sampled_from(FIELDS), value=VALUES, action=st.sampled_from(["set", "delete"]))
def test_quick_check_agrees_with_pydantic(pick: int, key: str, value: Any, action: str) -> None:
    assert_same_verdict(yaml.safe_dump(_mutated(pick, key, value, action)))


def _set(path: tuple[Any, ...], value: Any) -> str:
    data = copy.deepcopy(VALID)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize("path, value", [
    (("steps", 0, "retries"), 2.0),  # 2.0 is a JSON Schema integer, not a strict int: left to pydantic
    (("steps", 0, "timeout"), math.nan),  # NaN > 0 is false, NaN <= 0 too: left to pydantic
    (("steps", 0, "args"), {1: "x"}),  # a non-string key: left to pydantic
    (("steps", 0, "name"), "abc\n"),  # '$' in Python's re matches before a final newline
    (("steps", 0, "module"), "m"),  # a shell step with a module
    (("steps", 1, "cmd"), ""),  # a python step with a cmd, even an empty one
    (("steps", 0, "params"), {"x": 1}),  # args and params both
    (("steps", 0, "resources"), {"dut": 0}),
    (("steps", 1, "success"), {"files_exist": ["a/../b"]}),
    (("steps", 1, "success"), {"files_exist": ["a/..b"]}),
    (("execution", "resources"), {"dut": 0}),
    (("execution", "scheduler"), "tcp://host:8786\n"),
    (("test_meta", "test_id"), ""),
    (("hooks", "on_run_end", 0, "timeout"), 0),
])
def test_known_differences_of_the_two_validators(path: tuple[Any, ...], value: Any) -> None:
    assert_same_verdict(_set(path, value))


def test_published_schema_works_in_another_implementation() -> None:
    """docs/recipe.schema.json (what editors use) is valid JSON Schema 2020-12 and judges like the runner."""
    import jsonschema

    schema = json.loads(recipe_schema.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for recipe in sorted(RECIPES.glob("*.yaml")):
        assert not list(validator.iter_errors(yaml.safe_load(recipe.read_text()))), recipe.name
    for path, value in [(("steps", 0, "depend_on"), ["b"]), (("steps", 1, "cmd"), "x.sh"),
                        (("steps", 0, "retries"), -1), (("execution", "resources"), {"dut": 0})]:
        assert list(validator.iter_errors(yaml.safe_load(_set(path, value)))), path


def test_the_quick_check_is_real() -> None:
    """It refuses what it must (so that the agreement above is not two yes-sayers)."""
    text = _set(("steps", 0, "timeout"), -1)
    exotic, quick, slow, _ = judge(text)
    assert (exotic, quick, slow) == (False, None, None)
