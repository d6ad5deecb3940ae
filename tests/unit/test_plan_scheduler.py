"""Planning (selection, order, waves) and the scheduler's policy, without processes."""
from __future__ import annotations


import pytest

from conftest import Workdir
from engine.errors import UserError
from engine.plan import BaseRun, Selection, build_plan
from engine.recipe import load_recipe
from engine.scheduler import Scheduler

DIAMOND = """
execution: {mode: parallel, max_parallel: 4, resources: {dut: 1}}
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
  - {name: b, type: shell, cmd: scripts/ok.sh, depends_on: [a], resources: {dut: 1}}
  - {name: c, type: shell, cmd: scripts/ok.sh, depends_on: [a], resources: {dut: 1}}
  - {name: d, type: shell, cmd: scripts/ok.sh, depends_on: [b, c]}
  - {name: e, type: shell, cmd: scripts/ok.sh}
"""


@pytest.fixture
def recipe(wd: Workdir):
    return load_recipe(wd.recipe(DIAMOND), (wd.path,))


def test_order_and_waves(recipe) -> None:
    plan = build_plan(recipe, Selection())
    assert plan.order == ("a", "b", "c", "d", "e")
    assert plan.waves == (("a", "e"), ("b", "c"), ("d",))


def test_idx_orders_independent_steps(wd: Workdir) -> None:
    r = load_recipe(wd.recipe("""
steps:
  - {idx: 3, name: x, type: shell, cmd: scripts/ok.sh}
  - {idx: 1, name: y, type: shell, cmd: scripts/ok.sh, depends_on: [x]}
  - {idx: 2, name: z, type: shell, cmd: scripts/ok.sh}
"""), (wd.path,))
    assert build_plan(r, Selection()).order == ("z", "x", "y")  # idx order, but never before a dependency


def test_resume_reruns_from_step_and_failed_earlier_ones(recipe) -> None:
    plan = build_plan(recipe, Selection(resume_from="c"), BaseRun("R0", frozenset({"a", "c", "d"})))
    assert plan.selected == {"b", "c", "d", "e"}  # b did not succeed before, so it runs too
    assert plan.reused == {"a"}
    assert "resumed from here" in plan.reasons["c"]


def test_only_needs_upstream_results(recipe) -> None:
    with pytest.raises(UserError, match="upstream step.* a did not succeed"):
        build_plan(recipe, Selection(only=("b",)))
    plan = build_plan(recipe, Selection(only=("b",)), BaseRun("R0", frozenset({"a"})))
    assert plan.selected == {"b"} and plan.reused == {"a"}


def test_unknown_names_are_refused_with_a_hint(recipe) -> None:
    with pytest.raises(UserError, match="--skip: no step 'bb'.*did you mean 'b'"):
        build_plan(recipe, Selection(skip=("bb",)))
    with pytest.raises(UserError, match="--resume-from: no step 'zz'"):
        build_plan(recipe, Selection(resume_from="zz"))


def test_a_step_both_selected_and_skipped_is_refused(recipe) -> None:
    """--only b --skip b used to plan an empty run that succeeded and became the base of the next resume."""
    with pytest.raises(UserError, match="--only and --skip both name b: .*drop it from one of them"):
        build_plan(recipe, Selection(only=("a", "b"), skip=("b",)), BaseRun("R0", frozenset({"a"})))


def test_scheduler_respects_resources_and_skips_dependents(recipe) -> None:
    s = Scheduler(build_plan(recipe, Selection()), slots=4, capacities={"dut": 1}, stop_on_failure=False)
    assert [x.name for x in s.take_ready()] == ["a", "e"]
    assert s.finished("a", ok=True) == []
    assert [x.name for x in s.take_ready()] == ["b"]  # c waits for the single dut
    assert s.blocked_on_resources() == ["c"]
    assert s.finished("b", ok=False) == [("d", "upstream step 'b' failed")]
    assert [x.name for x in s.take_ready()] == ["c"]
    s.finished("c", ok=True)
    s.finished("e", ok=True)
    assert s.done


def test_serial_scheduler_stops_after_a_failure(recipe) -> None:
    s = Scheduler(build_plan(recipe, Selection()), slots=1, capacities={"dut": 1}, stop_on_failure=True)
    assert [x.name for x in s.take_ready()] == ["a"]
    assert s.take_ready() == []  # one slot
    skipped = s.finished("a", ok=False)
    assert dict(skipped) == {"b": "upstream step 'a' failed", "c": "upstream step 'a' failed",
                             "d": "upstream step 'a' failed",
                             "e": "the run stopped after 'a' failed (serial mode)"}


def test_large_recipe_plans_fast_enough_to_not_matter(wd: Workdir) -> None:
    body = "steps:\n" + "".join(
        f"  - {{name: s{i}, type: shell, cmd: scripts/ok.sh{', depends_on: [s%d]' % (i - 1) if i else ''}}}\n"
        for i in range(2000))
    plan = build_plan(load_recipe(wd.recipe(body), (wd.path,)), Selection())
    assert len(plan.waves) == 2000
    assert plan.order[:3] == ("s0", "s1", "s2")
