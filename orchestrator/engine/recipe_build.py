"""A recipe's text -> a frozen Recipe: YAML, the schema, then the graph, the scriptlets and the templates.
Imported only when a recipe is not in the load cache (see recipe.py).

The schema check has a quick path: engine/recipe_check.py, compiled from the JSON Schema of the pydantic models
in recipe_schema.py, admits a valid recipe in milliseconds. Only a recipe it refuses (or data it could judge
differently from pydantic's strict mode) goes to the models, which have the final word and explain the problem;
importing pydantic costs more than validating a 5,000-step recipe.
"""
import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

from .errors import RecipeError
from .recipe import HOOK_EVENTS, Hook, Policy, Recipe, Step, inside_folders, module_file, resolve_entry
from .recipe_yaml import NodeIndex, parse_yaml
from .templating import HOOK_FIELDS, check_templates

Data = dict[str, Any]


def validated_data(path: Path, text: str) -> tuple[Data, NodeIndex]:
    """The recipe's data, valid against the schema, with every default filled in; RecipeError otherwise."""
    parsed = parse_yaml(path, text)
    if not isinstance(parsed.data, dict):
        raise RecipeError(f"{path}: the recipe must be a mapping with 'test_meta:' and 'steps:', "
                          f"not a {type(parsed.data).__name__}")
    if not parsed.exotic:
        from . import recipe_check

        try:
            return recipe_check.validate(parsed.data), parsed.lines
        except Exception:  # noqa: BLE001 - any refusal: the models below decide, and say why
            pass
    from .recipe_schema import explain

    # the quick check may have filled in defaults before it refused: the models see the recipe as written
    return explain(path, parse_yaml(path, text).data, parsed.lines), parsed.lines


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


def _check_entry(where: Callable[[], str], entry: Data, allow_external: bool, base_dirs: tuple[Path, ...],
                 sources: dict[Any, Any], recipe_dir: Path) -> Optional[str]:
    """_find_entry once per distinct entry: large recipes run the same few scriptlets many times."""
    key = (entry["type"], entry["cmd"], entry["module"], entry["function"])
    if key not in sources:
        try:
            sources[key] = (_find_entry(entry, allow_external, base_dirs, sources, recipe_dir), None)
        except RecipeError as exc:
            sources[key] = (None, str(exc))
    script, problem = sources[key]
    if problem:
        raise RecipeError(f"{where()}: {problem}")
    return script


def _searched(base_dirs: tuple[Path, ...], recipe_dir: Path, relative: str) -> str:
    """Where an entry was looked for, and a hint when it sits beside the recipe instead (a work folder that was
    not given)."""
    folders = " or ".join(str(d) for d in dict.fromkeys(base_dirs))
    if (recipe_dir / relative).exists() and recipe_dir not in base_dirs:
        return f"under {folders}; it is beside the recipe: run with --workdir {recipe_dir}"
    return f"under {folders} (paths are relative to the work folder, --workdir)"


def _find_entry(entry: Data, allow_external: bool, base_dirs: tuple[Path, ...], sources: dict[Any, Any],
                recipe_dir: Path) -> Optional[str]:
    """The entry's script or module exists inside the allowed folders; returns a shell entry's script path
    (relative to the work folder when it is there, else absolute: a shipped scriptlet used elsewhere)."""
    if entry["type"] == "shell":
        cmd: str = entry["cmd"]
        if cmd.strip().endswith(".py"):
            dotted = cmd.strip()[:-3].lstrip("./").replace("/", ".")
            raise RecipeError(f"cmd {cmd!r} is a Python file, and a shell step runs its cmd with bash; write "
                              f"type: python and module: {dotted}")
        found = resolve_entry(base_dirs, cmd)
        if found is None:
            hint = " (put arguments in 'args:', not in 'cmd')" if " " in cmd.strip() else ""
            raise RecipeError(f"script {cmd!r} not found {_searched(base_dirs, recipe_dir, cmd)}{hint}")
        if not allow_external and not inside_folders(found, base_dirs):
            raise RecipeError(f"script {cmd!r} is outside {' and '.join(map(str, base_dirs))}; "
                              "move it inside, or set 'allow_external: true' at the top of the recipe")
        return cmd if found.parent == base_dirs[0] / Path(cmd).parent else str(found)
    module: str = entry["module"]
    file = module_file(base_dirs, module)
    if file is None:
        relative = module.replace(".", "/") + ".py"
        raise RecipeError(f"module {module!r} not found: no {relative} {_searched(base_dirs, recipe_dir, relative)}")
    if not allow_external and not inside_folders(file, base_dirs):
        raise RecipeError(f"module {module!r} resolves outside {base_dirs[0]} (a symlink?); "
                          "set 'allow_external: true' to allow it")
    function = entry["function"]
    if function:
        text = sources.get(file)
        if text is None:
            text = sources[file] = file.read_text(encoding="utf-8", errors="replace")
        if not re.search(rf"^class\s+{re.escape(function)}\b", text, re.M):
            classes = re.findall(r"^class\s+([A-Za-z_]\w*)\s*\(\s*BaseScriptlet\b", text, re.M)
            hint = (f"; its scriptlet class is {', '.join(classes)}" if classes else
                    "; function names a BaseScriptlet subclass defined at the module's top level")
            raise RecipeError(f"module {module!r} has no class {function!r}{hint}")
    return None


def _check_entry_points(path: Path, data: Data, index: NodeIndex, base_dirs: tuple[Path, ...]) -> dict[str, str]:
    """Every step's and hook's entry exists; returns the shell steps' resolved script paths by step name."""
    sources: dict[Any, Any] = {}  # memo of entry checks, and of module sources read
    scripts: dict[str, str] = {}
    allow_external = data["allow_external"]

    def locate(loc: tuple[Any, ...], what: str) -> Callable[[], str]:
        return lambda: f"{path}:{index.line_of(loc)}: {what}"  # a line only when there is an error to show

    for i, step in enumerate(data["steps"]):
        script = _check_entry(locate(("steps", i), f"step {step['name']!r}"), step, allow_external, base_dirs,
                              sources, path.parent)
        if script:
            scripts[step["name"]] = script
    for event in HOOK_EVENTS:
        for i, hook in enumerate(data["hooks"][event]):
            script = _check_entry(locate(("hooks", event, i), f"hook {event}[{i}]"), hook, allow_external,
                                  base_dirs, sources, path.parent)
            if script:
                scripts[f"{event}[{i}]"] = script
    return scripts


def _check_graph(path: Path, steps: list[Data], index: NodeIndex) -> None:
    names: dict[str, int] = {}
    for i, step in enumerate(steps):
        if step["name"] in names:
            raise RecipeError(f"{path}:{index.line_of(('steps', i))}: step {step['name']!r}: the name is already "
                              f"used by step #{names[step['name']] + 1}; names must be unique")
        names[step["name"]] = i
    for i, step in enumerate(steps):
        for dep in step["depends_on"]:
            if dep != step["name"] and dep in names:
                continue
            where = f"{path}:{index.line_of(('steps', i, 'depends_on'))}: step {step['name']!r}"
            if dep == step["name"]:
                raise RecipeError(f"{where}: depends on itself; remove {dep!r} from depends_on")
            close = difflib.get_close_matches(dep, list(names), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check the spelling"
            raise RecipeError(f"{where}: depends_on names unknown step {dep!r}; {hint}")
    cycle = _find_cycle(list(names), {s["name"]: tuple(s["depends_on"]) for s in steps})
    if cycle:
        raise RecipeError(f"{path}: the steps form a cycle: {' -> '.join(cycle)}; remove one of these dependencies")


def _check_templates(path: Path, data: Data, index: NodeIndex) -> None:
    meta = data["test_meta"]
    for i, step in enumerate(data["steps"]):
        problem = (check_templates(step["args"] or step["params"] or {}, meta)
                   or check_templates(step["env"] or {}, meta))
        if problem:
            raise RecipeError(f"{path}:{index.line_of(('steps', i))}: step {step['name']!r}: {problem}")
    for event in HOOK_EVENTS:
        for i, hook in enumerate(data["hooks"][event]):
            problem = (check_templates(hook["args"] or hook["params"] or {}, meta, HOOK_FIELDS)
                       or check_templates(hook["env"], meta, HOOK_FIELDS))
            if problem:
                raise RecipeError(f"{path}:{index.line_of(('hooks', event, i))}: hook {event}[{i}]: {problem}")


def _check_resources(path: Path, steps: tuple[Step, ...], declared: dict[str, int]) -> None:
    for step in steps:
        for name, units in step.policy.resources.items():
            where = f"{path}:{step.line}: step {step.name!r}"
            if name not in declared:
                raise RecipeError(f"{where}: resource {name!r} is not declared; add it under "
                                  f"'execution: resources: {{{name}: N}}'")
            if units > declared[name]:
                raise RecipeError(f"{where}: needs {units} units of {name!r} but only {declared[name]} exist; "
                                  "it could never start")


# --------------------------------------------------------------------------- freezing


def _merge_policy(defaults: Data, step: Data) -> Policy:
    values: dict[str, Any] = {}
    for name in Policy._fields:
        value = step[name]
        if value is None:
            value = defaults[name]
        if value is not None:
            values[name] = value
    if "limits" in values:
        values["limits"] = {k: v for k, v in values["limits"].items() if v is not None}
    if isinstance(values.get("expose_for_shell"), list):
        values["expose_for_shell"] = tuple(values["expose_for_shell"])
    for number in ("timeout", "retry_delay", "backoff"):
        if number in values:
            values[number] = float(values[number])
    return Policy(**values)


def build_recipe(path: Path, raw: bytes, text: str, base_dirs: tuple[Path, ...]) -> Recipe:
    """Validate a recipe's text and freeze it. Raises RecipeError with a message naming file and line."""
    data, index = validated_data(path, text)
    step_data: list[Data] = data["steps"]
    execution = data["execution"]
    _check_graph(path, step_data, index)
    scripts = _check_entry_points(path, data, index, base_dirs)
    _check_templates(path, data, index)

    def idx(i: int) -> float:
        given = step_data[i]["idx"]
        return float(given if given is not None else i + 1)

    steps = []
    for order, i in enumerate(sorted(range(len(step_data)), key=lambda i: (idx(i), i))):
        sd = step_data[i]
        steps.append(Step(
            name=sd["name"], type=sd["type"], order=order, idx=idx(i), line=index.line_of(("steps", i)),
            cmd=scripts.get(sd["name"]), module=sd["module"], function=sd["function"], description=sd["description"],
            flags=dict(sd["args"] or sd["params"] or {}),
            depends_on=tuple(sd["depends_on"]),
            files_exist=tuple(sd["success"]["files_exist"]), ctx_has_keys=tuple(sd["success"]["ctx_has_keys"]),
            policy=_merge_policy(data["defaults"], sd), secrets=tuple(sd["secrets"]),
        ))
    frozen_steps = tuple(steps)
    _check_resources(path, frozen_steps, execution["resources"])
    return Recipe(
        path=path, text=text, sha256=hashlib.sha256(raw).hexdigest(),
        test_meta=dict(data["test_meta"]),
        mode=execution["mode"],
        max_parallel=execution["max_parallel"] or (os.cpu_count() or 1),
        resources=dict(execution["resources"]),
        steps=frozen_steps, secrets=tuple(data["secrets"]),
        executor=execution["executor"], scheduler=execution["scheduler"],
        hooks=tuple(Hook(event=event, type=h["type"], cmd=scripts.get(f"{event}[{i}]"), module=h["module"],
                         function=h["function"], flags=dict(h["args"] or h["params"] or {}),
                         timeout=float(h["timeout"]), env=dict(h["env"]))
                    for event in HOOK_EVENTS for i, h in enumerate(data["hooks"][event])),
    )
