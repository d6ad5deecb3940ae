"""The recipe schema: pydantic models (strict, unknown keys forbidden), the one definition of a valid recipe.

Two things are derived from it:
- the JSON Schema (`json_schema()`), published as docs/recipe.schema.json for editors, and compiled with
  fastjsonschema into engine/recipe_check.py, the quick check that admits valid recipes without importing
  pydantic (`make schema` writes both; a test fails while either is stale);
- the error messages (`explain()`): a recipe the quick check refuses is validated here, and pydantic's errors
  become one line per problem, naming the file, line, step and field.
Importing this module costs ~0.2 s (pydantic), so only a refused recipe (or `make schema`) pays it.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator, model_validator

from .errors import RecipeError
from .recipe_yaml import NodeIndex

STEP_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
# a number (an int is accepted as a float in strict mode, a bool is not); a float so that its bounds show in the
# JSON Schema (pydantic cannot express a bound on a Union there), and finite: `timeout: .inf` is not a timeout
Number = FiniteFloat
# files_exist patterns: relative, no '..' part (the JSON Schema form of Success._relative_patterns)
RELATIVE_PATTERN = r"^(?!/)(?!(.*/)?\.\.(/|$))"
POSITIVE_UNITS = {"additionalProperties": {"type": "integer", "minimum": 1}}
# EntryPoint._entry_point in JSON Schema terms
ENTRY_RULES = {"allOf": [
    {"if": {"properties": {"type": {"enum": ["shell"]}}},
     "then": {"required": ["cmd"], "properties": {"cmd": {"type": "string", "minLength": 1},
                                                   "module": {"type": "null"}, "function": {"type": "null"}}}},
    {"if": {"properties": {"type": {"enum": ["python"]}}},
     "then": {"required": ["module"], "properties": {"module": {"type": "string"}, "cmd": {"type": "null"}}}},
    {"not": {"required": ["args", "params"],
             "properties": {"args": {"type": "object"}, "params": {"type": "object"}}}},
]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class Success(_Strict):
    """Checks, besides exit code 0, that a step must pass to succeed."""

    files_exist: list[str] = Field(default=[], json_schema_extra={"items": {"type": "string",
                                                                             "pattern": RELATIVE_PATTERN}},
                                   description="Glob patterns, relative to the work folder and without '..', that "
                                               "must each match a file after the step; default: none.")
    ctx_has_keys: list[str] = Field(default=[], description="Context keys that must be set once the step's writes "
                                                            "are committed; default: none.")

    @field_validator("files_exist")
    @classmethod
    def _relative_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if os.path.isabs(pattern) or ".." in Path(pattern).parts:
                raise ValueError(f"pattern {pattern!r} must be relative to the work folder, without '..'")
        return patterns


class Limits(_Strict):
    """Per-process resource limits (setrlimit)."""

    memory_mb: Optional[int] = Field(default=None, ge=1, description="Most address space (virtual memory) the "
                                     "step's process may use, in megabytes (RLIMIT_AS); default: no limit.")
    cpu_seconds: Optional[int] = Field(default=None, ge=1, description="Most CPU time the step's process may use, "
                                       "in seconds (RLIMIT_CPU); default: no limit.")
    open_files: Optional[int] = Field(default=None, ge=8, description="Most files the step's process may have open "
                                      "at once, 8 or more (RLIMIT_NOFILE); default: no limit.")


class PolicyFields(_Strict):
    """Per-step policy; every field may also be set under `defaults:`."""

    timeout: Optional[Number] = Field(default=None, gt=0, description="Seconds an attempt may run; on expiry the "
                                      "step's whole process tree is ended (SIGTERM, then SIGKILL after a grace "
                                      "period); default: none.")
    retries: Optional[int] = Field(default=None, ge=0, description="Extra attempts after a failure; default 0.")
    retry_delay: Optional[Number] = Field(default=None, ge=0, description="Seconds to wait before the first retry; "
                                          "default 0.")
    backoff: Optional[Number] = Field(default=None, ge=1, description="Multiplier of the retry delay for each "
                                      "further retry (delay x backoff^(retry - 1)); default 1.")
    continue_on_error: Optional[bool] = Field(default=None, description="true: a failure is recorded but does not "
                                              "fail the run, stop a serial run or skip dependents; default false.")
    resources: Optional[dict[str, int]] = Field(default=None, json_schema_extra=POSITIVE_UNITS,
                                                description="Units of the capacities declared under "
                                                            "execution.resources that the step holds while it runs, "
                                                            "such as {dut: 1}; it waits for free units; default: none.")
    env: Optional[dict[str, str]] = Field(default=None, description="Extra environment variables for the step's "
                                          "process; values may use {{ ctx.key }} references; a step's env replaces "
                                          "the one under defaults: (no merge); default: none.")
    expose_for_shell: Optional[Union[bool, list[str]]] = Field(default=None, description="Shell steps only: true "
                                                               "gives every context key as a CTX_<KEY> environment "
                                                               "variable, a list gives just those keys; default "
                                                               "false.")
    limits: Optional[Limits] = Field(default=None, description="Resource limits (setrlimit) on the step's process; "
                                     "default: none.")

    @field_validator("resources")
    @classmethod
    def _positive_units(cls, value: Optional[dict[str, int]]) -> Optional[dict[str, int]]:
        for name, units in (value or {}).items():
            if units < 1:
                raise ValueError(f"resource {name!r} needs at least 1 unit, got {units}")
        return value


class EntryPoint(_Strict):
    """What to run: a shell script or a Python module, with its flags. Steps and hooks share it."""

    model_config = ConfigDict(json_schema_extra=ENTRY_RULES)

    type: Literal["shell", "python"] = Field(description="shell: run bash <cmd> <flags>; python: run python -m "
                                             "<module> <flags> with the runner's interpreter.")
    cmd: Optional[str] = Field(default=None, description="Shell only: the script, such as "
                               "scriptlets/shell/<name>.sh, relative to the work folder or orchestrator/ (arguments "
                               "go in args).")
    module: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
                                  description="Python only: the dotted module name, such as "
                                              "scriptlets.python.steps.noop (not a file path), run as python -m.")
    function: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                    description="Python only: the name of the BaseScriptlet class in the module to "
                                                "run; default: the one the module's __main__ runs.")
    args: Optional[dict[str, Any]] = Field(default=None, description="The scriptlet's command-line flags: {input: a, "
                                           "dry_run: true} gives --input a --dry-run (false omits a flag, a list "
                                           "repeats it); strings may use {{ ... }} references; args or params, not "
                                           "both.")
    params: Optional[dict[str, Any]] = Field(default=None, description="Another name for args, the scriptlet's "
                                             "command-line flags; args or params, not both.")

    @model_validator(mode="after")
    def _entry_point(self) -> "EntryPoint":
        if self.type == "shell" and not self.cmd:
            raise ValueError("a shell step needs 'cmd: scriptlets/shell/<name>.sh'")
        if self.type == "python" and not self.module:
            raise ValueError("a python step needs 'module: scriptlets.python.steps.<name>'")
        if self.type == "shell" and (self.module or self.function):
            raise ValueError("'module'/'function' are for python steps; a shell step uses 'cmd'")
        if self.type == "python" and self.cmd is not None:
            raise ValueError("'cmd' is for shell steps; a python step uses 'module'")
        if self.args is not None and self.params is not None:
            raise ValueError("give the step's flags in 'args' or in 'params', not both")
        return self


class StepModel(PolicyFields, EntryPoint):
    """One step: what to run, after which steps, how its success is checked, and its policy."""

    idx: Optional[Number] = Field(default=None, description="Order key: steps run in idx order, after the steps "
                                  "they depend on; default: the step's position in the list (1, 2, ...).")
    name: str = Field(pattern=STEP_NAME, description="The step's unique name (letters, digits, '_', '.', '-'), as "
                                                     "used by depends_on, --only, --skip and the logs.")
    description: Optional[str] = Field(default=None, description="One line shown by runner.py --list; default: the "
                                                                 "scriptlet's own one-line description.")
    depends_on: list[str] = Field(default=[], description="Steps that must succeed before this one starts; if one "
                                                          "fails, this one is skipped; default: none.")
    success: Success = Field(default=Success(), description="What the step must leave behind to succeed, besides "
                                                            "exit code 0; default: no further checks.")
    secrets: list[str] = Field(default=[], description="Names of environment variables given to this step only "
                                                       "(besides the recipe's secrets), masked as *** in everything "
                                                       "written; default: none.")


class HookModel(EntryPoint):
    """A scriptlet run on a run or step event; a failing hook never changes the run's verdict."""

    timeout: Number = Field(default=30, gt=0, description="Seconds the hook may run before it is killed; "
                                                          "default 30.")
    env: dict[str, str] = Field(default={}, description="Extra environment variables for the hook's process; values "
                                                        "may use {{ run.id }}, {{ step.name }} and {{ test_meta.* }} "
                                                        "references; default: none.")


class HooksModel(_Strict):
    """Scriptlets run in order, in the background, on run and step events; output goes to Logs/<run id>_hooks.log."""

    on_run_start: list[HookModel] = Field(default=[], description="Hooks run when the run starts; default: "
                                                                  "none.")
    on_step_start: list[HookModel] = Field(default=[], description="Hooks run when a step starts its first "
                                                                   "attempt; default: none.")
    on_step_success: list[HookModel] = Field(default=[], description="Hooks run when a step succeeds; default: "
                                                                     "none.")
    on_step_failure: list[HookModel] = Field(default=[], description="Hooks run when a step has failed (after its "
                                                                     "retries) or was aborted; {{ step.reason }} says "
                                                                     "why; default: none.")
    on_run_end: list[HookModel] = Field(default=[], description="Hooks run when the run ends; {{ run.verdict }} is "
                                                                "its verdict; default: none.")


class TestMeta(BaseModel):
    """What the run is for; more keys are allowed and kept in ctx["test_meta"], scalar ones also as ORCH_<KEY>."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, defer_build=True)
    test_id: str = Field(min_length=1, description="The test's identifier, such as T-001 (steps get ORCH_TEST_ID).")
    tester: str = Field(min_length=1, description="Who runs the test (steps get ORCH_TESTER).")
    description: str = Field(description="What the test checks (steps get ORCH_DESCRIPTION).")


class Execution(_Strict):
    """How the steps are scheduled, and where they run."""

    mode: Literal["serial", "parallel"] = Field(default="serial", description="serial: one step at a time, stopping "
                                                "at the first failure unless continue_on_error; parallel: a step "
                                                "starts once all its depends_on succeeded; default serial.")
    max_parallel: Optional[int] = Field(default=None, ge=1, description="Parallel mode: how many steps may run at "
                                        "once; default: the number of CPUs (--parallel N overrides it).")
    resources: dict[str, int] = Field(default={}, json_schema_extra=POSITIVE_UNITS,
                                      description="Named capacities, such as {dut: 1}: a step asking for units of "
                                                  "one waits for free units; default: none.")
    executor: Literal["local", "dask"] = Field(default="local", description="local: steps run as processes on this "
                                               "machine; dask: each step runs as a process on a Dask worker; default "
                                               "local.")
    scheduler: Optional[str] = Field(default=None, pattern=r"^(tcp|tls|inproc|ws|wss)://\S+$",
                                     description="Dask scheduler address, such as tcp://HOST:8786; default: a "
                                                 "2-worker LocalCluster started for the run.")

    @field_validator("resources")
    @classmethod
    def _positive_capacity(cls, value: dict[str, int]) -> dict[str, int]:
        for name, units in value.items():
            if units < 1:
                raise ValueError(f"resource {name!r} needs a capacity of at least 1, got {units}")
        return value


class RecipeModel(_Strict):
    test_meta: TestMeta = Field(description="Required: test_id, tester and description; loaded into "
                                            "ctx[\"test_meta\"] before any step.")
    execution: Execution = Field(default=Execution(), description="Serial or parallel, how many steps at once, "
                                                                  "shared resources and the executor; default: "
                                                                  "serial, local.")
    defaults: PolicyFields = Field(default=PolicyFields(), description="Policy fields for every step that does not "
                                                                       "set them itself; default: none.")
    secrets: list[str] = Field(default=[], description="Names of environment variables passed to every step and "
                                                       "hook and masked as *** in everything written; a missing or too "
                                                       "short one stops the run before it starts; default: none.")
    allow_external: bool = Field(default=False, description="true: a cmd or module may lie outside orchestrator/ "
                                                            "and the work folder; default false.")
    hooks: HooksModel = Field(default=HooksModel(), description="Scriptlets run on run and step events (notify, "
                                                                "log, post); default: none.")
    steps: list[StepModel] = Field(min_length=1, description="The steps to run, at least one.")


# --------------------------------------------------------------------------- validation messages


def _describe_loc(loc: tuple[Any, ...], data: Any) -> str:
    """'step 'compute' field 'timeout'' from a pydantic location path."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps") if isinstance(data, dict) else None
        name = None
        if isinstance(steps, list) and loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
            name = steps[loc[1]].get("name")
        who = f"step {name!r}" if isinstance(name, str) else f"step #{loc[1] + 1}"
        rest = [str(p) for p in loc[2:] if not str(p).startswith(("function-", "constrained-"))]
        return who + (f" field {'.'.join(rest)!r}" if rest else "")
    return "field " + repr(".".join(str(p) for p in loc)) if loc else "the recipe"


def _model_at(loc: tuple[Any, ...]) -> Any:
    """The model that holds the field at loc (its list indexes skipped), None when loc leaves the models."""
    model: Any = RecipeModel
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return None
        model = _inner_model(info.annotation) or info.annotation
    return model


def _inner_model(annotation: Any) -> Any:
    """The model a field holds: itself, or the model inside Optional[...] or list[...]; None for other values."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    return list(getattr(_model_at(loc), "model_fields", {}))


def _home_of(loc: tuple[Any, ...], name: str) -> Optional[str]:
    """The section beside loc where a field called `name` belongs (resources: at the top goes under execution:,
    files_exist: in a step under success:); None when no section has it. Lists (steps, hooks) are not sections."""
    for section, info in getattr(_model_at(loc), "model_fields", {}).items():
        inner = _inner_model(info.annotation)
        if inner is not None and getattr(info.annotation, "__origin__", None) is not list \
                and name in inner.model_fields:
            return section
    return None


# what a field must be, for errors about its number (wrong type or out of range)
_NUMBERS = {
    "timeout": "a number of seconds greater than 0",
    "retry_delay": "a number of seconds, 0 or more",
    "backoff": "a number, 1 or more (the delay's multiplier for each further retry)",
    "idx": "a number",
    "retries": "a whole number of extra attempts, 0 or more",
    "max_parallel": "a whole number of steps, 1 or more",
    "memory_mb": "a whole number of megabytes, 1 or more",
    "cpu_seconds": "a whole number of seconds, 1 or more",
    "open_files": "a whole number, 8 or more",
}
_NUMBER_KINDS = ("int_type", "float_type", "int_parsing", "float_parsing", "int_from_float", "finite_number",
                 "greater_than", "greater_than_equal")
# what a field must look like, for errors about its pattern
_PATTERNS = {
    "module": "must be a dotted Python module name such as scriptlets.python.steps.noop (not a file path)",
    "function": "must be the name of a class in the module, such as StepNoop (letters, digits, '_'; no dots)",
    "scheduler": "must be a Dask scheduler address such as tcp://host:8786 (tcp, tls, inproc, ws or wss)",
}
_MAPPINGS = {
    "test_meta": "test_meta: {test_id: T-001, tester: alice, description: smoke test}",
    "execution": "execution: {mode: parallel, max_parallel: 4}",
    "defaults": "defaults: {timeout: 600}",
    "hooks": "hooks: {on_run_end: [{type: shell, cmd: scriptlets/shell/<name>.sh}]}",
    "args": "args: {input: Data/raw.csv}",
    "params": "params: {input: Data/raw.csv}",
    "env": "env: {LANG: C}",
    "resources": "resources: {dut: 1}",
    "limits": "limits: {memory_mb: 512}",
    "success": "success: {files_exist: [Data/out.csv]}",
    "steps": "- {name: a, type: shell, cmd: scriptlets/shell/<name>.sh}",
    "hook": "- {type: shell, cmd: scriptlets/shell/<name>.sh}",
}
# a union's alternatives name themselves in the location: one problem, reported once, for the field
_UNIONS = {"expose_for_shell": ("bool", "list[str]")}
_UNION_TEXT = {"expose_for_shell": "must be true, false or a list of context keys such as [metrics]"}


def _what(value: Any) -> str:
    """How a YAML reader would name the value's kind."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    kinds = {str: "text", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), type(value).__name__)


def _flow(value: Any) -> str:
    """A scalar as it would be written in YAML."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _field(loc: tuple[Any, ...]) -> str:
    """The field a location ends in ('depends_on' for steps.0.depends_on.2; 'steps' or 'hook' for an item)."""
    names = [p for p in loc if isinstance(p, str)]
    if loc and isinstance(loc[-1], int) and len(names) >= 2 and names[0] == "hooks":
        return "hook"
    return names[-1] if names else ""


def _text(kind: str, loc: tuple[Any, ...], err: dict[str, Any]) -> str:
    """What the field must be, in the recipe's terms (pydantic's own words only as a last resort)."""
    field = _field(loc)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "union":
        return _UNION_TEXT[field]
    if kind in _NUMBER_KINDS:
        rule = _NUMBERS.get(field)
        if rule is None and len(loc) >= 2 and loc[-2] == "resources":
            rule = "a whole number of units, 1 or more"
        if rule is None:
            rule = {"float_type": "a number", "greater_than": f"a number greater than {ctx.get('gt', 0):g}",
                    "greater_than_equal": f"a number, {ctx.get('ge', 0):g} or more"}.get(kind, "a whole number")
        whole = isinstance(value, float) and value.is_integer() and "whole" in rule
        return f"must be {rule}" + (f"; write {int(value)}, not {value}" if whole else "")
    if kind == "string_pattern_mismatch" and field in _PATTERNS:
        text = _PATTERNS[field]
        fix = str(value).strip()  # the value as probably meant: a file path as a module, an address with a scheme
        if field == "module":
            fix = fix.removesuffix(".py").replace("/", ".")
        elif field == "scheduler" and "://" not in fix:
            fix = f"tcp://{fix}"
        if fix != value and re.fullmatch(ctx.get("pattern", "$^"), fix):
            text += f": write {field}: {fix}"
        return text
    if kind == "string_type" and loc and loc[-1] == "[key]":
        return f"the name {_flow(value)} must be text; quote it: '{_flow(value)}'"
    if kind == "string_type":
        must = "each entry must be text" if loc and isinstance(loc[-1], int) else "must be text"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{must}; quote it: '{value}'"
        if isinstance(value, bool):
            return f"{must}; quote it (YAML reads a bare yes/no/on/off/true/false as true or false)"
        return f"{must}, not {_what(value)}"
    if kind == "bool_type":
        return "must be true or false" + ("" if value is None else f", not {_what(value)}")
    if kind in ("dict_type", "model_type"):
        example = _MAPPINGS.get(field, f"{field}: {{key: value}}")
        if field in ("steps", "hook"):
            return f"each {'step' if field == 'steps' else 'hook'} must be a mapping, not {_what(value)}, " \
                   f"such as '{example}'"
        return f"must be a mapping (key: value), not {_what(value)}; such as {example}"
    if kind == "list_type":
        if field == "steps" or field.startswith("on_"):
            what = "step" if field == "steps" else "hook"
            return f"must be a list of {what}s, not {_what(value)}: start each {what} with '- ', " \
                   f"such as '{_MAPPINGS['steps' if what == 'step' else 'hook']}'"
        if value is None:
            return f"must be a list: write {field}: [] or leave the field out"
        if isinstance(value, dict):
            return f"must be a list, not a mapping: write {field}: [{', '.join(map(_flow, value))}]"
        return f"must be a list: write {field}: [{_flow(value)}]" if not isinstance(value, list) else "must be a list"
    if kind == "literal_error" and "expected" in ctx:
        return f"must be {ctx['expected']}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short" and field == "steps":
        return "the recipe needs at least one step"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    text = str(err["msg"]).removeprefix("Value error, ")
    for theirs, ours in (("Input should be ", "must be "), ("String should ", "must ")):
        if text.startswith(theirs):
            text = ours + text.removeprefix(theirs)
    return text


def _message(err: dict[str, Any], data: Any) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        field_name = str(loc[-1])
        known = _known_fields(loc)
        close = difflib.get_close_matches(field_name, known, n=1)
        home = _home_of(loc, field_name)
        hint = (f"it belongs under '{home}:', such as {home}: {{{field_name}: ...}}" if home
                else f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}")
        return f"{_describe_loc(loc[:-1], data)}: unknown field {field_name!r}; {hint}"
    if kind == "missing":
        return f"{_describe_loc(loc[:-1], data)}: missing required field {str(loc[-1])!r}; add it"
    if kind == "string_pattern_mismatch" and loc[-1] == "name":
        return (f"{_describe_loc(loc[:-1], data)}: name {err.get('input')!r} is not a plain name; "
                "use letters, digits, '_', '.', '-' (no spaces or '/')")
    text = _text(kind, loc, err)
    if kind == "value_error":  # our validators' messages name the value themselves
        return f"{_describe_loc(loc, data)}: {text}"
    if loc and loc[-1] == "[key]":
        loc = loc[:-2]
    value = err.get("input")
    got = "an empty value" if value is None else repr(value)
    return f"{_describe_loc(loc, data)}: {text} (got {got if len(got) <= 60 else got[:57] + '...'})"


def _validation_error(path: Path, exc: ValidationError, data: Any, index: NodeIndex) -> RecipeError:
    errors = exc.errors()
    # union branches repeat one problem per alternative; keep the first per location
    seen: set[tuple[Any, ...]] = set()
    lines = []
    for err in errors:
        loc, kind = tuple(err["loc"]), err["type"]
        for i, part in enumerate(loc[:-1]):
            if part in _UNIONS and loc[i + 1] in _UNIONS[part]:
                loc, kind = loc[:i + 1], "union"
                break
        if loc in seen:
            continue
        seen.add(loc)
        lines.append(f"{path}:{index.line_of(loc)}: {_message(dict(err, loc=loc, type=kind), data)}")
    return RecipeError("\n".join(lines[:10]) + (f"\n... and {len(lines) - 10} more" if len(lines) > 10 else ""))


def explain(path: Path, data: Any, index: NodeIndex) -> dict[str, Any]:
    """Validate data with the models: the RecipeError naming every problem (up to 10), or, when the data is
    valid after all, the data with every default filled in (the shape the quick check gives)."""
    try:
        model = RecipeModel.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, exc, data, index) from None
    return model.model_dump()


# --------------------------------------------------------------------------- derived artefacts (`make schema`)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "recipe.schema.json"
CHECKER_FILE = Path(__file__).with_name("recipe_check.py")


def source_fingerprint() -> str:
    """Identifies this file's text: the derived files record the one they were made from."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def json_schema() -> dict[str, Any]:
    """The recipe format as JSON Schema (draft 2020-12), for editors and for the quick check."""
    schema = RecipeModel.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": f"generated by `make schema` from orchestrator/engine/recipe_schema.py "
                        f"(source {source_fingerprint()})",
            **schema, "title": "Orchestrator recipe",
            "description": "A recipe for the orchestrator's runner (python orchestrator/runner.py --recipe FILE)."}


# fastjsonschema's generated module imports fastjsonschema (~35 ms) for its exception classes, and decimal;
# the checker only needs to know that data is refused, and YAML never yields a Decimal
_GENERATED_IMPORTS = ("from decimal import Decimal\n",
                      "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException\n")
_PRELUDE = '''"""GENERATED by `make schema` from engine/recipe_schema.py (fastjsonschema {version}); do not edit.

The quick check of a recipe's data against the JSON Schema of the pydantic models: validate(data) returns the
data with every default filled in, or raises JsonSchemaValueException. A refused recipe is validated again by
the models, which explain the problem (engine/recipe_build.py).
"""
# ruff: noqa
# mypy: ignore-errors

SCHEMA_SOURCE = "{source}"  # see recipe_schema.source_fingerprint()


class JsonSchemaValueException(ValueError):
    """The data does not match the schema."""


JsonSchemaValuesException = JsonSchemaValueException
Decimal = float  # YAML has no decimals; the generated type checks name Decimal
'''


def checker_source() -> str:
    """The Python source of engine/recipe_check.py."""
    import fastjsonschema

    code = fastjsonschema.compile_to_code(json_schema(), detailed_exceptions=False)
    for line in _GENERATED_IMPORTS:
        if line not in code:
            raise RuntimeError(f"fastjsonschema {fastjsonschema.VERSION} no longer generates {line.strip()!r}; "
                               "update engine/recipe_schema.py's _GENERATED_IMPORTS")
        code = code.replace(line, "", 1)
    code = code.replace(f'VERSION = "{fastjsonschema.VERSION}"\n', "", 1)
    # JSON Schema counts 2.0 as an integer; pydantic's strict mode (the models) does not
    code, count = re.subn(r" and not \(isinstance\((\w+), float\) and \1\.is_integer\(\)\)", "", code)
    if not count:
        raise RuntimeError(f"fastjsonschema {fastjsonschema.VERSION} checks integers differently; "
                           "update engine/recipe_schema.py's checker_source")
    return _PRELUDE.format(version=fastjsonschema.VERSION, source=source_fingerprint()) + code


def stale_files() -> list[Path]:
    """The derived files not made from this file's current text. (Compared by fingerprint, not by regenerating:
    another pydantic or fastjsonschema release may word the same schema differently.)"""
    recorded = re.compile(r"source ([0-9a-f]{16})|SCHEMA_SOURCE = \"([0-9a-f]{16})\"")
    current = source_fingerprint()
    stale = []
    for target in (SCHEMA_FILE, CHECKER_FILE):
        found = recorded.search(target.read_text(encoding="utf-8")) if target.exists() else None
        if found is None or current not in found.groups():
            stale.append(target)
    return stale


def main(argv: list[str]) -> int:
    """`python -m engine.recipe_schema [--check]`: write (or check) the derived files."""
    if "--check" in argv:
        stale = stale_files()
        for target in stale:
            print(f"{target} is stale: the models in engine/recipe_schema.py changed; run `make schema`",
                  file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    CHECKER_FILE.write_text(checker_source(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE} and {CHECKER_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
