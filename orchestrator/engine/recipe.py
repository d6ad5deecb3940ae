"""Recipes as frozen, typed objects, and loading them once: validated by recipe_schema on first sight, then
served from a per-user cache (Paths.recipe_cache) keyed by the recipe's bytes and the stats of every file the validation
read (its scriptlets, the engine's schema), so a repeated run skips YAML parsing and pydantic altogether.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .errors import RecipeError

HOOK_EVENTS = ("on_run_start", "on_step_start", "on_step_success", "on_step_failure", "on_run_end")
CACHE_FORMAT = 1


@dataclass(frozen=True)
class Policy:
    """A step's policy after `defaults:` are applied."""

    timeout: Optional[float] = None
    retries: int = 0
    retry_delay: float = 0.0
    backoff: float = 1.0
    continue_on_error: bool = False
    resources: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    expose_for_shell: Union[bool, tuple[str, ...]] = False
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    order: int  # position in idx order, 0-based; ties keep list order
    idx: float
    line: int
    cmd: Optional[str]  # the script, resolved: relative to the work folder, or absolute for a shipped one
    module: Optional[str]
    function: Optional[str]
    description: Optional[str]
    flags: dict[str, Any]
    depends_on: tuple[str, ...]
    files_exist: tuple[str, ...]
    ctx_has_keys: tuple[str, ...]
    policy: Policy
    secrets: tuple[str, ...] = ()  # names of the environment variables this step gets (besides the recipe's)


@dataclass(frozen=True)
class Hook:
    """A scriptlet the runner calls on a run or step event; it never changes the run's verdict."""

    event: str
    type: str
    cmd: Optional[str]  # resolved like a step's
    module: Optional[str]
    function: Optional[str]
    flags: dict[str, Any]
    timeout: float
    env: dict[str, str]


@dataclass(frozen=True)
class Recipe:
    path: Path
    text: str
    sha256: str
    test_meta: dict[str, Any]
    mode: str
    max_parallel: int
    resources: dict[str, int]
    steps: tuple[Step, ...]
    secrets: tuple[str, ...] = ()  # environment variables every step gets, masked in everything written
    hooks: tuple[Hook, ...] = ()
    executor: str = "local"  # local | dask
    scheduler: Optional[str] = None  # a Dask scheduler address; None with dask: a LocalCluster for the run

    @property
    def slug(self) -> str:
        return self.path.stem

    def step(self, name: str) -> Step:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Step]:
        cached = self.__dict__.get("_by_name")
        if cached is None:
            cached = {s.name: s for s in self.steps}
            object.__setattr__(self, "_by_name", cached)
        return cached


def resolve_entry(base_dirs: tuple[Path, ...], relative: str) -> Optional[Path]:
    """The first existing file for a path relative to the work folder or the orchestrator folder."""
    for base in base_dirs:
        candidate = base / relative
        if candidate.is_file():
            return candidate
    return None


def inside_folders(path: Path, base_dirs: tuple[Path, ...]) -> bool:
    real = path.resolve()
    return any(real.is_relative_to(base.resolve()) for base in base_dirs)


def module_file(base_dirs: tuple[Path, ...], module: str) -> Optional[Path]:
    rel = module.replace(".", "/")
    return resolve_entry(base_dirs, rel + ".py") or resolve_entry(base_dirs, rel + "/__main__.py")


# --------------------------------------------------------------------------- loading, with a cache


def read_recipe(path: Path) -> tuple[bytes, str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found; list the shipped ones with 'ls recipes/'") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a folder; give the path of a .yaml recipe file") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc.strerror}") from None
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None


def load_recipe(path: Path, base_dirs: tuple[Path, ...], cache_dir: Optional[Path] = None) -> Recipe:
    """Read, validate and freeze a recipe. Raises RecipeError with a message naming file and line."""
    raw, text = read_recipe(path)
    key = hashlib.sha256(raw + repr((str(path), [str(b) for b in base_dirs], CACHE_FORMAT)).encode()).hexdigest()
    cached = _from_cache(cache_dir / f"{key}.json") if cache_dir else None
    if cached is not None:
        return cached
    from .recipe_schema import build_recipe

    recipe = build_recipe(path, raw, text, base_dirs)
    if cache_dir:
        _to_cache(cache_dir / f"{key}.json", recipe, base_dirs)
    return recipe


def _stats(paths: list[str]) -> Optional[list[list[Any]]]:
    try:
        return [[p, os.stat(p).st_mtime_ns, os.stat(p).st_size] for p in paths]
    except OSError:
        return None


def _dependencies(recipe: Recipe, base_dirs: tuple[Path, ...]) -> list[str]:
    """Every file whose change could change the validation: the engine's schema and every entry point."""
    here = Path(__file__).parent
    files = {str(here / name) for name in ("recipe.py", "recipe_schema.py", "templating.py")}
    entries: tuple[Union[Step, Hook], ...] = (*recipe.steps, *recipe.hooks)
    for entry in entries:
        if entry.cmd:
            files.add(str(Path(entry.cmd) if os.path.isabs(entry.cmd) else base_dirs[0] / entry.cmd))
        elif entry.module:
            found = module_file(base_dirs, entry.module)
            if found:
                files.add(str(found))
    return sorted(files)


def _to_cache(target: Path, recipe: Recipe, base_dirs: tuple[Path, ...]) -> None:
    stats = _stats(_dependencies(recipe, base_dirs))
    if stats is None:
        return
    data = asdict(recipe)
    data["path"] = str(recipe.path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stats": stats, "recipe": data}), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _from_cache(source: Path) -> Optional[Recipe]:
    try:
        cached = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if _stats([s[0] for s in cached["stats"]]) != cached["stats"]:
        return None  # a scriptlet or the schema changed since: validate again
    return _recipe_from_dict(cached["recipe"])


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _recipe_from_dict(d: dict[str, Any]) -> Recipe:
    steps = tuple(Step(**{**s, "depends_on": tuple(s["depends_on"]), "files_exist": tuple(s["files_exist"]),
                          "ctx_has_keys": tuple(s["ctx_has_keys"]), "secrets": tuple(s["secrets"]),
                          "policy": Policy(**{**s["policy"],
                                              "expose_for_shell": _tuple(s["policy"]["expose_for_shell"])})})
                  for s in d["steps"])
    return Recipe(**{**d, "path": Path(d["path"]), "steps": steps, "secrets": tuple(d["secrets"]),
                     "hooks": tuple(Hook(**h) for h in d["hooks"])})
