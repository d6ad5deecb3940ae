"""Flag mapping (a table, as nox does) and template references."""
from __future__ import annotations

import pytest

from engine.argv import to_argv
from engine.templating import TemplateError, check_templates, dig, render


@pytest.mark.parametrize("flags, argv", [
    ({"input": "a"}, ["--input", "a"]),
    ({"dry_run": True}, ["--dry-run"]),
    ({"dry_run": False}, []),
    ({"missing": None}, []),
    ({"tags": ["x", "y"]}, ["--tags", "x", "--tags", "y"]),
    ({"cfg": {"k": 1}}, ["--cfg", '{"k": 1}']),
    ({"n": 3, "ratio": 0.5}, ["--n", "3", "--ratio", "0.5"]),
    ({"text": "two words; rm -rf /"}, ["--text", "two words; rm -rf /"]),  # one argument, never a shell string
    ({"input": "a", "dry_run": True, "tags": ["x", "y"], "cfg": {"k": 1}},
     ["--input", "a", "--dry-run", "--tags", "x", "--tags", "y", "--cfg", '{"k": 1}']),
])
def test_to_argv(flags: dict, argv: list[str]) -> None:
    assert to_argv(flags) == argv


def lookup(root: str, path: list[str]):
    data = {"ctx": {"a": {"b": [10, 20]}, "name": "bench 3"}, "run": {"id": "R1"}}
    return dig(root, data[root], path)


def test_render_keeps_type_of_a_whole_reference() -> None:
    assert render("{{ ctx.a.b }}", lookup) == [10, 20]
    assert render("{{ctx.a.b.1}}", lookup) == 20


def test_render_inside_text_and_nested() -> None:
    assert render({"x": ["run {{ run.id }} on {{ ctx.name }}"]}, lookup) == {"x": ["run R1 on bench 3"]}
    assert render("{{ ctx.a }}!", lookup) == '{"b": [10, 20]}!'


def test_missing_reference_names_it() -> None:
    with pytest.raises(TemplateError, match="'ctx.a.c' does not exist"):
        render("{{ ctx.a.c }}", lookup)


def test_syntax_check() -> None:
    assert check_templates({"x": "{{ ctx.key }}"}) is None
    assert "not a reference" in check_templates({"x": ["{{ os.system }}"]})
