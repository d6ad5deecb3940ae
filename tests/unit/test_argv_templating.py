"""Flag mapping (a table, as nox does) and template references."""
from __future__ import annotations

import pytest

from engine.argv import to_argv
from engine.templating import HOOK_FIELDS, TemplateError, check_templates, dig, render


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


def test_references_known_when_the_recipe_loads_are_checked_then() -> None:
    """test_meta is in the recipe, run and step have fixed fields: a typo there used to pass --validate and fail
    the run as 'not started: ... a step before it must set it'."""
    meta = {"test_id": "T-1", "station": {"bench": 3}}
    assert check_templates({"x": "{{ test_meta.test_id }} {{ test_meta.station.bench }} {{ run.id }}"}, meta) is None
    assert check_templates({"x": "{{ step.attempt }} {{ ctx.anything.at_all }}"}, meta) is None
    assert check_templates({"x": "{{ test_meta.testid }}"}, meta) == (
        "template '{{ test_meta.testid }}': test_meta has no 'testid'; did you mean {{ test_meta.test_id }}?")
    assert check_templates({"x": "{{ test_meta.station.rack }}"}, meta) == (
        "template '{{ test_meta.station.rack }}': test_meta.station has no 'rack'")
    assert check_templates({"x": ["{{ run.ID }}"]}, meta) == (
        "template '{{ run.ID }}': run has no 'ID'; did you mean {{ run.id }}?")
    assert check_templates({"x": "{{ step.xyz }}"}, meta) == (
        "template '{{ step.xyz }}': step has no 'xyz'; step has: name, attempt")
    # hooks also see the run's verdict and the step's status and reason; a step does not
    assert check_templates({"x": "{{ run.verdict }} {{ step.reason }}"}, meta, HOOK_FIELDS) is None
    assert "run has no 'verdict'" in (check_templates({"x": "{{ run.verdict }}"}, meta) or "")
