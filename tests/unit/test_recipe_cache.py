"""The recipe load cache: a repeated load skips validation; any change to an input validates again."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import Workdir
from engine import recipe as recipe_module
from engine.errors import RecipeError
from engine.recipe import load_recipe

BODY = """
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh, args: {x: 1}, timeout: 5, expose_for_shell: [k]}
  - {name: b, type: python, module: scriptlets.python.steps.noop, depends_on: [a], secrets: [TOKEN]}
hooks:
  on_run_end: [{type: shell, cmd: scripts/ok.sh}]
"""


@pytest.fixture
def counting(monkeypatch):
    """Counts real validations."""
    from engine import recipe_build

    calls = []
    real = recipe_build.build_recipe

    def build(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(recipe_build, "build_recipe", build)
    return calls


def test_cached_load_equals_validated_load(wd: Workdir, counting, tmp_path: Path) -> None:
    path, cache = wd.recipe(BODY), tmp_path / "cache"
    first = load_recipe(path, (wd.path, recipe_module.Path(recipe_module.__file__).parents[1]), cache)
    second = load_recipe(path, (wd.path, recipe_module.Path(recipe_module.__file__).parents[1]), cache)
    assert first == second and len(counting) == 1
    assert second.steps[0].policy.expose_for_shell == ("k",) and second.hooks[0].event == "on_run_end"


def test_a_changed_scriptlet_or_recipe_validates_again(wd: Workdir, counting, tmp_path: Path) -> None:
    path, cache = wd.recipe(BODY), tmp_path / "cache"
    bases = (wd.path, recipe_module.Path(recipe_module.__file__).parents[1])
    load_recipe(path, bases, cache)
    script = wd.path / "scripts" / "ok.sh"
    os.utime(script, ns=(script.stat().st_atime_ns, script.stat().st_mtime_ns + 10**9))
    load_recipe(path, bases, cache)
    assert len(counting) == 2
    script.unlink()  # a vanished scriptlet is reported as at first sight, not served from the cache
    with pytest.raises(RecipeError, match="script 'scripts/ok.sh' not found"):
        load_recipe(path, bases, cache)


def test_unwritable_cache_only_costs_time(wd: Workdir, counting) -> None:
    path = wd.recipe(BODY)
    bases = (wd.path, recipe_module.Path(recipe_module.__file__).parents[1])
    assert load_recipe(path, bases, Path("/proc/no-such-cache")).steps[0].name == "a"


def test_the_cache_keeps_only_the_most_recent_entries(wd: Workdir, tmp_path: Path, monkeypatch) -> None:
    """One entry per recipe path and work folder: never pruned, the cache grew with every temporary folder a recipe
    ran from (3,152 entries, 43 MB, after a few test runs)."""
    monkeypatch.setattr(recipe_module, "CACHE_ENTRIES", 3)
    cache = tmp_path / "cache"
    bases = (wd.path, recipe_module.Path(recipe_module.__file__).parents[1])
    paths = [wd.recipe(BODY, name=f"r{i}.yaml") for i in range(5)]
    for i, path in enumerate(paths):
        load_recipe(path, bases, cache)
        newest = max(cache.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        os.utime(newest, ns=(10**18 + i, 10**18 + i))  # distinct times whatever the clock's resolution
    kept = sorted(p.name.split("-", 1)[1] for p in cache.glob("*.json"))
    assert kept == ["r2.json", "r3.json", "r4.json"]
