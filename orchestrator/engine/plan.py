"""From a recipe and the user's selection (--only, --skip, --resume-from) to a Plan: what runs, in what order,
and why each step is or is not selected. Pure: no processes, no files."""
import heapq
from typing import NamedTuple, Optional

from .errors import UserError
from .recipe import Recipe


class BaseRun(NamedTuple):
    """The earlier run a resume or --only builds on: its id and each step's final status."""

    run_id: str
    ok_steps: frozenset[str]


class Selection(NamedTuple):
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    resume_from: Optional[str] = None


class Plan(NamedTuple):
    recipe: Recipe
    order: tuple[str, ...]  # topological, ties broken by idx
    selected: frozenset[str]
    reused: frozenset[str]  # not run: succeeded in the base run
    user_skipped: frozenset[str]  # not run: --skip / outside --only; dependents may still run
    reasons: dict[str, str]
    base_run: Optional[str] = None

    @property
    def rerun(self) -> frozenset[str]:
        return self.selected

    @property
    def waves(self) -> tuple[tuple[str, ...], ...]:
        """The selected steps by depth: a step's wave is one past the deepest of its selected dependencies.
        Computed when asked (the --dry-run text), not for every run."""
        return _waves(self.recipe, self.order, self.selected)


def topological_order(recipe: Recipe) -> tuple[str, ...]:
    """Kahn's algorithm with a heap on idx order: a step never precedes its dependencies."""
    indegree = {s.name: len(s.depends_on) for s in recipe.steps}
    dependents: dict[str, list[str]] = {s.name: [] for s in recipe.steps}
    for step in recipe.steps:
        for dep in step.depends_on:
            dependents[dep].append(step.name)
    by_name = recipe.by_name
    heap = [(by_name[n].order, n) for n, d in indegree.items() if d == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, name = heapq.heappop(heap)
        order.append(name)
        for child in dependents[name]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(heap, (by_name[child].order, child))
    return tuple(order)


def _check_names(recipe: Recipe, flag: str, names: tuple[str, ...]) -> None:
    for name in names:
        if name not in recipe.by_name:
            import difflib

            close = difflib.get_close_matches(name, list(recipe.by_name), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see the steps with --list"
            raise UserError(f"{flag}: no step {name!r} in {recipe.path}; {hint}")


def _waves(recipe: Recipe, order: tuple[str, ...], selected: frozenset[str]) -> tuple[tuple[str, ...], ...]:
    level: dict[str, int] = {}
    for name in order:
        if name in selected:
            deps = [level[d] for d in recipe.by_name[name].depends_on if d in level]
            level[name] = 1 + max(deps, default=-1)
    waves: list[list[str]] = []
    for name in order:
        if name in level:
            while len(waves) <= level[name]:
                waves.append([])
            waves[level[name]].append(name)
    return tuple(tuple(w) for w in waves)


def build_plan(recipe: Recipe, selection: Selection, base: Optional[BaseRun] = None) -> Plan:
    """Decide what runs. Raises UserError for unknown names or an --only whose upstream results are missing."""
    _check_names(recipe, "--only", selection.only)
    _check_names(recipe, "--skip", selection.skip)
    if selection.resume_from:
        _check_names(recipe, "--resume-from", (selection.resume_from,))
    if selection.only and selection.resume_from:
        raise UserError("--only and --resume-from do not combine; use one of them")
    both = [name for name in selection.only if name in selection.skip]
    if both:
        raise UserError(f"--only and --skip both name {', '.join(both)}: a step is either selected or skipped; "
                        "drop it from one of them")
    order = topological_order(recipe)
    reasons: dict[str, str] = {}
    reused: set[str] = set()
    user_skipped: set[str] = set()

    if selection.resume_from:
        if base is None:
            raise UserError(f"--resume-from {selection.resume_from}: no earlier run of {recipe.path} to resume; "
                            "run the recipe first (or give --run-id)")
        start = order.index(selection.resume_from)
        selected = set()
        for pos, name in enumerate(order):
            if pos >= start:
                selected.add(name)
                reasons[name] = "resumed from here" if pos == start else f"after {selection.resume_from!r}"
            elif name in base.ok_steps:
                reused.add(name)
                reasons[name] = f"reused: succeeded in run {base.run_id}"
            else:
                selected.add(name)
                reasons[name] = f"did not succeed in run {base.run_id}"
    elif selection.only:
        selected = set(selection.only)
        for name in order:
            if name in selected:
                reasons[name] = "selected by --only"
            elif base is not None and name in base.ok_steps:
                reused.add(name)
                reasons[name] = f"not selected; results kept from run {base.run_id}"
            else:
                user_skipped.add(name)
                reasons[name] = "not selected by --only"
        missing = sorted({d for n in selected for d in recipe.by_name[n].depends_on
                          if d not in selected and d not in reused})
        if missing:
            source = f"run {base.run_id}" if base else "any earlier run of this recipe"
            raise UserError(f"--only {','.join(selection.only)}: upstream step(s) {', '.join(missing)} did not succeed "
                            f"in {source}; add them to --only, or run the whole recipe first")
    else:
        selected = set(order)
        for name in order:
            reasons[name] = "selected"

    for name in selection.skip:
        selected.discard(name)
        reused.discard(name)
        user_skipped.add(name)
        reasons[name] = "skipped by --skip"
    return Plan(recipe=recipe, order=order, selected=frozenset(selected), reused=frozenset(reused),
                user_skipped=frozenset(user_skipped), reasons=reasons, base_run=base.run_id if base else None)
