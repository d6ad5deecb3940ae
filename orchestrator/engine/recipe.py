"""Recipes as frozen, typed objects, and loading them once: validated by recipe_build on first sight, then
served from a per-user cache (Paths.recipe_cache): one entry per recipe path and work folder, used only while the
recipe's text and the stats of every file the validation read (its scriptlets, the engine's schema) are unchanged,
so a repeated run skips YAML parsing and validation altogether.
"""
import json
import os
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

from .errors import RecipeError

HOOK_EVENTS = ("on_run_start", "on_step_start", "on_step_success", "on_step_failure", "on_run_end")
CACHE_FORMAT = 2
CACHE_ENTRIES = 200  # validated recipes kept per user (the most recently validated ones)


class Policy(NamedTuple):
    """A step's policy after `defaults:` are applied. (Policy, Step and Hook are NamedTuples: immutable and cheap
    to define at start-up; their dict fields are never mutated, so the shared `{}` defaults are safe.)"""

    timeout: Optional[float] = None
    retries: int = 0
    retry_delay: float = 0.0
    backoff: float = 1.0
    continue_on_error: bool = False
    resources: dict[str, int] = {}
    env: dict[str, str] = {}
    expose_for_shell: Union[bool, tuple[str, ...]] = False
    limits: dict[str, int] = {}


class Step(NamedTuple):
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


class Hook(NamedTuple):
    """A scriptlet the runner calls on a run or step event; it never changes the run's verdict."""

    event: str
    type: str
    cmd: Optional[str]  # resolved like a step's
    module: Optional[str]
    function: Optional[str]
    flags: dict[str, Any]
    timeout: float
    env: dict[str, str]


class Recipe:
    """A validated recipe. Read-only by convention (built once by recipe_build or the cache)."""

    __slots__ = ("path", "text", "sha256", "test_meta", "mode", "max_parallel", "resources", "steps", "secrets",
                 "hooks", "executor", "scheduler", "by_name")

    def __init__(self, path: Path, text: str, sha256: str, test_meta: dict[str, Any], mode: str, max_parallel: int,
                 resources: dict[str, int], steps: tuple[Step, ...], secrets: tuple[str, ...] = (),
                 hooks: tuple[Hook, ...] = (), executor: str = "local", scheduler: Optional[str] = None) -> None:
        self.path, self.text, self.sha256, self.test_meta = path, text, sha256, test_meta
        self.mode, self.max_parallel, self.resources, self.steps = mode, max_parallel, resources, steps
        self.secrets = secrets  # environment variables every step gets, masked in everything written
        self.hooks = hooks
        self.executor = executor  # local | dask
        self.scheduler = scheduler  # a Dask scheduler address; None with dask: a LocalCluster for the run
        self.by_name: dict[str, Step] = {s.name: s for s in steps}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Recipe({str(self.path)!r}, {len(self.steps)} steps)"

    @property
    def slug(self) -> str:
        return self.path.stem

    def step(self, name: str) -> Step:
        return self.by_name[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (the cache's format)."""
        data = {name: getattr(self, name) for name in self.__slots__ if name != "by_name"}
        data["path"] = str(self.path)
        data["steps"] = [{**s._asdict(), "policy": s.policy._asdict()} for s in self.steps]
        data["hooks"] = [h._asdict() for h in self.hooks]
        return data


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
        shipped = Path(__file__).resolve().parent.parent / "recipes"
        raise RecipeError(f"{path}: recipe file not found; list the shipped ones with 'ls {shipped}'") from None
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
    # one cache entry per recipe path and work folder; it is used only if it holds this very text (compared
    # whole, so no hash library is needed on this path) and every file its validation read is unchanged
    where = repr((str(path), [str(b) for b in base_dirs], CACHE_FORMAT))
    entry = cache_dir / f"{zlib.crc32(where.encode()):08x}-{path.stem[:40]}.json" if cache_dir else None
    cached = _from_cache(entry, where, text) if entry else None
    if cached is not None:
        return cached
    from .recipe_build import build_recipe

    recipe = build_recipe(path, raw, text, base_dirs)
    if entry:
        _to_cache(entry, where, recipe, base_dirs)
    return recipe


def _stats(paths: list[str]) -> Optional[list[list[Any]]]:
    try:
        return [[p, os.stat(p).st_mtime_ns, os.stat(p).st_size] for p in paths]
    except OSError:
        return None


def _dependencies(recipe: Recipe, base_dirs: tuple[Path, ...]) -> list[str]:
    """Every file whose change could change the validation: the engine's schema and every entry point."""
    here = Path(__file__).parent
    files = {str(here / name) for name in ("recipe.py", "recipe_yaml.py", "recipe_build.py", "recipe_check.py",
                                           "recipe_schema.py", "templating.py")}
    entries: tuple[Union[Step, Hook], ...] = (*recipe.steps, *recipe.hooks)
    for entry in entries:
        if entry.cmd:
            files.add(str(Path(entry.cmd) if os.path.isabs(entry.cmd) else base_dirs[0] / entry.cmd))
        elif entry.module:
            found = module_file(base_dirs, entry.module)
            if found:
                files.add(str(found))
    return sorted(files)


def _to_cache(target: Path, where: str, recipe: Recipe, base_dirs: tuple[Path, ...]) -> None:
    stats = _stats(_dependencies(recipe, base_dirs))
    if stats is None:
        return
    data = recipe.to_dict()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"where": where, "stats": stats, "recipe": data}), encoding="utf-8")
        os.replace(tmp, target)
        _prune_cache(target.parent)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _prune_cache(folder: Path) -> None:
    """Keep the CACHE_ENTRIES most recently written entries: one is written per recipe path and work folder, so a cache
    never pruned grows with every temporary folder a recipe was ever run from. Runs only after a cache miss."""
    entries = []
    for entry in os.scandir(folder):
        if entry.name.endswith(".json"):
            try:
                entries.append((entry.stat().st_mtime_ns, entry.path))
            except OSError:
                continue  # removed meanwhile by another runner
    for _, path in sorted(entries, reverse=True)[CACHE_ENTRIES:]:
        try:
            os.unlink(path)
        except OSError:
            pass


def _from_cache(source: Path, where: str, text: str) -> Optional[Recipe]:
    try:
        cached = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("where") != where or cached["recipe"]["text"] != text:
        return None  # another recipe or folder with the same name hash, or the recipe was edited
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
