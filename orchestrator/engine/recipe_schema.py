"""Recipe validation: the YAML (with line numbers) checked against a declarative schema (pydantic models,
unknown keys forbidden), then the graph, the scriptlets and the templates. Imported only when a recipe is not
in the load cache (see recipe.py): yaml and pydantic cost a few hundred milliseconds to import.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import RecipeError
from .recipe import HOOK_EVENTS, Hook, Policy, Recipe, Step, inside_folders, module_file, resolve_entry
from .templating import check_templates

try:  # libyaml is much faster on large recipes; the pure-Python loader is the fallback
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a memo on tag resolution. libyaml calls back into Python's resolver for every
    scalar, which tries the implicit-type regexes each time (a third of a 5,000-step recipe's load); a recipe
    repeats the same keys and values (name, type, shell, ...), and a plain scalar's tag depends on its text only
    (this loader has no path resolvers)."""

    _tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._tags.get(value)
            if tag is None:
                tag = self._tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # path resolvers only; there are none

    def ascend_resolver(self) -> None:
        pass

STEP_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
Number = Union[int, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


class Success(_Strict):
    files_exist: list[str] = Field(default_factory=list)
    ctx_has_keys: list[str] = Field(default_factory=list)

    @field_validator("files_exist")
    @classmethod
    def _relative_patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if os.path.isabs(pattern) or ".." in Path(pattern).parts:
                raise ValueError(f"pattern {pattern!r} must be relative to the work folder, without '..'")
        return patterns


class Limits(_Strict):
    """Per-process resource limits (setrlimit)."""

    memory_mb: Optional[int] = Field(default=None, ge=1)
    cpu_seconds: Optional[int] = Field(default=None, ge=1)
    open_files: Optional[int] = Field(default=None, ge=8)


class PolicyFields(_Strict):
    """Per-step policy; every field may also be set under `defaults:`."""

    timeout: Optional[Number] = Field(default=None, gt=0)
    retries: Optional[int] = Field(default=None, ge=0)
    retry_delay: Optional[Number] = Field(default=None, ge=0)
    backoff: Optional[Number] = Field(default=None, ge=1)
    continue_on_error: Optional[bool] = None
    resources: Optional[dict[str, int]] = None
    env: Optional[dict[str, str]] = None
    expose_for_shell: Optional[Union[bool, list[str]]] = None
    limits: Optional[Limits] = None

    @field_validator("resources")
    @classmethod
    def _positive_units(cls, value: Optional[dict[str, int]]) -> Optional[dict[str, int]]:
        for name, units in (value or {}).items():
            if units < 1:
                raise ValueError(f"resource {name!r} needs at least 1 unit, got {units}")
        return value


class EntryPoint(_Strict):
    """What to run: a shell script or a Python module, with its flags. Steps and hooks share it."""

    type: Literal["shell", "python"]
    cmd: Optional[str] = None
    module: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    function: Optional[str] = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _entry_point(self) -> "EntryPoint":
        if self.type == "shell" and not self.cmd:
            raise ValueError("a shell step needs 'cmd: scriptlets/shell/<name>.sh'")
        if self.type == "python" and not self.module:
            raise ValueError("a python step needs 'module: scriptlets.python.steps.<name>'")
        if self.type == "shell" and (self.module or self.function):
            raise ValueError("'module'/'function' are for python steps; a shell step uses 'cmd'")
        if self.type == "python" and self.cmd:
            raise ValueError("'cmd' is for shell steps; a python step uses 'module'")
        if self.args is not None and self.params is not None:
            raise ValueError("give the step's flags in 'args' or in 'params', not both")
        return self


class StepModel(PolicyFields, EntryPoint):
    idx: Optional[Number] = None
    name: str = Field(pattern=STEP_NAME)
    description: Optional[str] = None
    depends_on: list[str] = Field(default_factory=list)
    success: Success = Field(default_factory=Success)
    secrets: list[str] = Field(default_factory=list)


class HookModel(EntryPoint):
    timeout: Number = Field(default=30, gt=0)
    env: dict[str, str] = Field(default_factory=dict)


class HooksModel(_Strict):
    on_run_start: list[HookModel] = Field(default_factory=list)
    on_step_start: list[HookModel] = Field(default_factory=list)
    on_step_success: list[HookModel] = Field(default_factory=list)
    on_step_failure: list[HookModel] = Field(default_factory=list)
    on_run_end: list[HookModel] = Field(default_factory=list)


class TestMeta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, defer_build=True)
    test_id: str = Field(min_length=1)
    tester: str = Field(min_length=1)
    description: str


class Execution(_Strict):
    mode: Literal["serial", "parallel"] = "serial"
    max_parallel: Optional[int] = Field(default=None, ge=1)
    resources: dict[str, int] = Field(default_factory=dict)
    executor: Literal["local", "dask"] = "local"
    scheduler: Optional[str] = Field(default=None, pattern=r"^(tcp|tls|inproc|ws|wss)://\S+$")

    @field_validator("resources")
    @classmethod
    def _positive_capacity(cls, value: dict[str, int]) -> dict[str, int]:
        for name, units in value.items():
            if units < 1:
                raise ValueError(f"resource {name!r} needs a capacity of at least 1, got {units}")
        return value


class RecipeModel(_Strict):
    test_meta: TestMeta
    execution: Execution = Field(default_factory=Execution)
    defaults: PolicyFields = Field(default_factory=PolicyFields)
    secrets: list[str] = Field(default_factory=list)
    allow_external: bool = False
    hooks: HooksModel = Field(default_factory=HooksModel)
    steps: list[StepModel] = Field(min_length=1)


# --------------------------------------------------------------------------- YAML with line numbers


class _NodeIndex:
    """Finds the YAML line of a validation error's location path."""

    def __init__(self, root: yaml.Node) -> None:
        self.root = root

    def line_of(self, loc: tuple[Any, ...]) -> int:
        node: Any = self.root
        line = node.start_mark.line + 1
        for part in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == part:
                        child = value
                        line = key.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line


STR_TAG = "tag:yaml.org,2002:str"


def _construct(loader: Any, node: yaml.Node, memo: dict[int, Any]) -> Any:
    """Node tree -> Python values with the safe constructors, refusing duplicate keys on the way. A direct walk:
    several times faster than PyYAML's generic construct_document on recipes with thousands of steps."""
    known = memo.get(id(node))
    if known is not None:  # an alias: the same node again
        return known
    if isinstance(node, yaml.ScalarNode):
        if node.tag == STR_TAG:
            return node.value
        build = loader.yaml_constructors.get(node.tag)
        if build is None:
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark)
        return build(loader, node)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_construct(loader, item, memo) for item in node.value)
        return items
    if not isinstance(node, yaml.MappingNode) or node.tag != "tag:yaml.org,2002:map":
        raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
    seen: set[Any] = set()
    for key, _ in node.value:
        if key.tag == STR_TAG or key.tag == "tag:yaml.org,2002:int":
            if key.value in seen and key.value != "<<":
                raise RecipeError(f":{key.start_mark.line + 1}: key {key.value!r} appears twice in the same "
                                  "mapping; keep one")
            seen.add(key.value)
    loader.flatten_mapping(node)  # `<<: *defaults` merges; explicit keys win
    mapping: dict[Any, Any] = {}
    memo[id(node)] = mapping
    for key_node, value_node in node.value:
        key = _construct(loader, key_node, memo)
        try:
            mapping[key] = _construct(loader, value_node, memo)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}",
                                                    key_node.start_mark) from None
    return mapping


def _parse_yaml(path: Path, text: str) -> tuple[Any, _NodeIndex]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(f"{path}: the recipe is empty; it needs 'test_meta:' and 'steps:'")
        try:
            data = _construct(loader, node, {})
        except RecipeError as exc:
            raise RecipeError(f"{path}{exc}") from None
        except RecursionError:
            raise RecipeError(f"{path}: the recipe is nested too deeply to be a recipe") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark else ""
        raise RecipeError(
            f"{path}{where}: {exc.problem}; recipes are plain YAML (no '!!python' or custom tags): remove the tag"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{path}{where}: not valid YAML: {problem}; fix the syntax at that line") from None
    finally:
        loader.dispose()
    return data, _NodeIndex(node)


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


def _known_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = RecipeModel
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return []
        annotation = info.annotation
        inner = getattr(annotation, "__args__", None)
        if inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            annotation = inner[0]
        model = annotation
    return list(getattr(model, "model_fields", {}))


def _message(err: dict[str, Any], data: Any) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        field_name = str(loc[-1])
        known = _known_fields(loc)
        close = difflib.get_close_matches(field_name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(known)}"
        return f"{_describe_loc(loc[:-1], data)}: unknown field {field_name!r}; {hint}"
    if kind == "missing":
        return f"{_describe_loc(loc[:-1], data)}: missing required field {str(loc[-1])!r}; add it"
    if kind == "string_pattern_mismatch" and loc[-1] == "name":
        return (f"{_describe_loc(loc[:-1], data)}: name {err.get('input')!r} is not a plain name; "
                "use letters, digits, '_', '.', '-' (no spaces or '/')")
    if kind in ("int_type", "float_type", "int_parsing", "float_parsing", "int_from_float") and \
            loc[-1] in ("timeout", "retry_delay", "backoff", "idx"):
        text = "must be a number" + (" of seconds" if loc[-1] in ("timeout", "retry_delay") else "")
    else:
        text = err["msg"].removeprefix("Value error, ")
    got = repr(err.get("input"))
    return f"{_describe_loc(loc, data)}: {text} (got {got if len(got) <= 60 else got[:57] + '...'})"


def _validation_error(path: Path, exc: ValidationError, data: Any, index: _NodeIndex) -> RecipeError:
    errors = exc.errors()
    # union branches repeat one problem per alternative; keep the first per location
    seen: set[tuple[Any, ...]] = set()
    lines = []
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("int", "float", "bool", "list[str]")))
        if loc in seen:
            continue
        seen.add(loc)
        lines.append(f"{path}:{index.line_of(loc)}: {_message(dict(err, loc=loc), data)}")
    return RecipeError("\n".join(lines[:10]) + (f"\n... and {len(lines) - 10} more" if len(lines) > 10 else ""))


# --------------------------------------------------------------------------- semantic checks


def _find_cycle(names: list[str], deps: dict[str, tuple[str, ...]]) -> Optional[list[str]]:
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(names, WHITE)
    for start in names:
        if color[start] != WHITE:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                color[node] = GREY
                path.append(node)
            children = deps[node]
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if color[child] == GREY:
                    return path[path.index(child):] + [child]
                if color[child] == WHITE:
                    stack.append((child, 0))
            else:
                color[node] = BLACK
                path.pop()
    return None


def _check_entry(where: Callable[[], str], entry: EntryPoint, allow_external: bool, base_dirs: tuple[Path, ...],
                 sources: dict[Any, Any]) -> Optional[str]:
    """_find_entry once per distinct entry: large recipes run the same few scriptlets many times."""
    key = (entry.type, entry.cmd, entry.module, entry.function)
    if key not in sources:
        try:
            sources[key] = (_find_entry(entry, allow_external, base_dirs, sources), None)
        except RecipeError as exc:
            sources[key] = (None, str(exc))
    script, problem = sources[key]
    if problem:
        raise RecipeError(f"{where()}: {problem}")
    return script


def _find_entry(entry: EntryPoint, allow_external: bool, base_dirs: tuple[Path, ...],
                sources: dict[Any, Any]) -> Optional[str]:
    """The entry's script or module exists inside the allowed folders; returns a shell entry's script path
    (relative to the work folder when it is there, else absolute: a shipped scriptlet used elsewhere)."""
    if entry.type == "shell":
        assert entry.cmd is not None
        found = resolve_entry(base_dirs, entry.cmd)
        if found is None:
            hint = " (put arguments in 'args:', not in 'cmd')" if " " in entry.cmd.strip() else ""
            raise RecipeError(f"script {entry.cmd!r} not found under {base_dirs[0]}{hint}")
        if not allow_external and not inside_folders(found, base_dirs):
            raise RecipeError(f"script {entry.cmd!r} is outside {' and '.join(map(str, base_dirs))}; "
                              "move it inside, or set 'allow_external: true' at the top of the recipe")
        return entry.cmd if found.parent == base_dirs[0] / Path(entry.cmd).parent else str(found)
    assert entry.module is not None
    file = module_file(base_dirs, entry.module)
    if file is None:
        raise RecipeError(f"module {entry.module!r} not found (expected "
                          f"{entry.module.replace('.', '/')}.py under {base_dirs[0]})")
    if not allow_external and not inside_folders(file, base_dirs):
        raise RecipeError(f"module {entry.module!r} resolves outside {base_dirs[0]} (a symlink?); "
                          "set 'allow_external: true' to allow it")
    if entry.function:
        text = sources.get(file)
        if text is None:
            text = sources[file] = file.read_text(encoding="utf-8", errors="replace")
        if not re.search(rf"^class\s+{re.escape(entry.function)}\b", text, re.M):
            raise RecipeError(f"module {entry.module!r} has no class {entry.function!r}")
    return None


def _check_entry_points(path: Path, model: RecipeModel, index: _NodeIndex,
                        base_dirs: tuple[Path, ...]) -> dict[str, str]:
    """Every step's and hook's entry exists; returns the shell steps' resolved script paths by step name."""
    sources: dict[Any, Any] = {}  # memo of entry checks, and of module sources read
    scripts: dict[str, str] = {}
    def locate(loc: tuple[Any, ...], what: str) -> Callable[[], str]:
        return lambda: f"{path}:{index.line_of(loc)}: {what}"  # a line only when there is an error to show

    for i, step in enumerate(model.steps):
        script = _check_entry(locate(("steps", i), f"step {step.name!r}"), step, model.allow_external, base_dirs,
                              sources)
        if script:
            scripts[step.name] = script
    for event in HOOK_EVENTS:
        for i, hook in enumerate(getattr(model.hooks, event)):
            script = _check_entry(locate(("hooks", event, i), f"hook {event}[{i}]"), hook, model.allow_external,
                                  base_dirs, sources)
            if script:
                scripts[f"{event}[{i}]"] = script
    return scripts


def _check_graph(path: Path, model: RecipeModel, index: _NodeIndex, declared: dict[str, int]) -> None:
    names: dict[str, int] = {}
    for i, step in enumerate(model.steps):
        if step.name in names:
            raise RecipeError(f"{path}:{index.line_of(('steps', i))}: step {step.name!r}: the name is already "
                              f"used by step #{names[step.name] + 1}; names must be unique")
        names[step.name] = i
    for i, step in enumerate(model.steps):
        for dep in step.depends_on:
            if dep != step.name and dep in names:
                continue
            where = f"{path}:{index.line_of(('steps', i, 'depends_on'))}: step {step.name!r}"
            if dep == step.name:
                raise RecipeError(f"{where}: depends on itself; remove {dep!r} from depends_on")
            close = difflib.get_close_matches(dep, list(names), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check the spelling"
            raise RecipeError(f"{where}: depends_on names unknown step {dep!r}; {hint}")
    cycle = _find_cycle(list(names), {s.name: tuple(s.depends_on) for s in model.steps})
    if cycle:
        raise RecipeError(f"{path}: the steps form a cycle: {' -> '.join(cycle)}; remove one of these dependencies")


def _merge_policy(defaults: PolicyFields, step: StepModel) -> Policy:
    values: dict[str, Any] = {}
    for name in PolicyFields.model_fields:
        value = getattr(step, name)
        if value is None:
            value = getattr(defaults, name)
        if value is not None:
            values[name] = value
    if "limits" in values:
        values["limits"] = values["limits"].model_dump(exclude_none=True)
    if isinstance(values.get("expose_for_shell"), list):
        values["expose_for_shell"] = tuple(values["expose_for_shell"])
    for number in ("timeout", "retry_delay", "backoff"):
        if number in values:
            values[number] = float(values[number])
    return Policy(**values)


def _check_resources(path: Path, index: _NodeIndex, steps: tuple[Step, ...], declared: dict[str, int]) -> None:
    for step in steps:
        for name, units in step.policy.resources.items():
            where = f"{path}:{step.line}: step {step.name!r}"
            if name not in declared:
                raise RecipeError(f"{where}: resource {name!r} is not declared; add it under "
                                  f"'execution: resources: {{{name}: N}}'")
            if units > declared[name]:
                raise RecipeError(f"{where}: needs {units} units of {name!r} but only {declared[name]} exist; "
                                  "it could never start")


def build_recipe(path: Path, raw: bytes, text: str, base_dirs: tuple[Path, ...]) -> Recipe:
    """Validate a recipe's text and freeze it. Raises RecipeError with a message naming file and line."""
    data, index = _parse_yaml(path, text)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: the recipe must be a mapping with 'test_meta:' and 'steps:', "
                          f"not a {type(data).__name__}")
    try:
        model = RecipeModel.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, exc, data, index) from None
    _check_graph(path, model, index, model.execution.resources)
    scripts = _check_entry_points(path, model, index, base_dirs)
    for i, step in enumerate(model.steps):
        problem = check_templates(step.args or step.params or {}) or check_templates(step.env or {})
        if problem:
            raise RecipeError(f"{path}:{index.line_of(('steps', i))}: step {step.name!r}: {problem}")
    for event in HOOK_EVENTS:
        for i, hook in enumerate(getattr(model.hooks, event)):
            problem = check_templates(hook.args or hook.params or {}) or check_templates(hook.env)
            if problem:
                raise RecipeError(f"{path}:{index.line_of(('hooks', event, i))}: hook {event}[{i}]: {problem}")

    ordered = sorted(range(len(model.steps)),
                     key=lambda i: (model.steps[i].idx if model.steps[i].idx is not None else i + 1, i))
    steps = []
    for order, i in enumerate(ordered):
        sm = model.steps[i]
        steps.append(Step(
            name=sm.name, type=sm.type, order=order,
            idx=float(sm.idx if sm.idx is not None else i + 1),
            line=index.line_of(("steps", i)),
            cmd=scripts.get(sm.name), module=sm.module, function=sm.function, description=sm.description,
            flags=dict(sm.args or sm.params or {}),
            depends_on=tuple(sm.depends_on),
            files_exist=tuple(sm.success.files_exist), ctx_has_keys=tuple(sm.success.ctx_has_keys),
            policy=_merge_policy(model.defaults, sm), secrets=tuple(sm.secrets),
        ))
    frozen_steps = tuple(steps)
    _check_resources(path, index, frozen_steps, model.execution.resources)
    return Recipe(
        path=path, text=text, sha256=hashlib.sha256(raw).hexdigest(),
        test_meta=model.test_meta.model_dump(),
        mode=model.execution.mode,
        max_parallel=model.execution.max_parallel or (os.cpu_count() or 1),
        resources=dict(model.execution.resources),
        steps=frozen_steps, secrets=tuple(model.secrets),
        executor=model.execution.executor, scheduler=model.execution.scheduler,
        hooks=tuple(Hook(event=event, type=h.type, cmd=scripts.get(f"{event}[{i}]"), module=h.module,
                         function=h.function, flags=dict(h.args or h.params or {}), timeout=float(h.timeout),
                         env=dict(h.env))
                    for event in HOOK_EVENTS for i, h in enumerate(getattr(model.hooks, event))),
    )
