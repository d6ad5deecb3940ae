"""Every broken recipe in the corpus exits 2 with its one expected message and no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, Workdir

CORPUS = sorted((FIXTURES / "bad_recipes").glob("*.yaml"))


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


@pytest.mark.parametrize("recipe", CORPUS[::4], ids=lambda p: p.stem)
def test_cli_exits_2_without_traceback(recipe: Path, wd: Workdir) -> None:
    proc = wd.run(recipe, "--validate")
    assert proc.returncode == 2, proc.stderr
    assert expected(recipe) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
