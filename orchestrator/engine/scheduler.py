"""Which steps may start now: dependencies, slots and named resources. Pure policy, no processes or clocks."""
from __future__ import annotations

import heapq
from typing import Optional

from .plan import Plan
from .recipe import Step


class Scheduler:
    """Incremental ready-set over the plan. Serial mode is this with one slot and stop-on-failure."""

    def __init__(self, plan: Plan, slots: int, capacities: dict[str, int], stop_on_failure: bool) -> None:
        self.recipe = plan.recipe
        self.slots = slots
        self.free = dict(capacities)
        self.stop_on_failure = stop_on_failure
        self.running: set[str] = set()
        self.pending: set[str] = set(plan.selected)
        self._waiting: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {name: [] for name in plan.selected}
        self._ready: list[tuple[int, str]] = []
        for name in plan.selected:
            deps = [d for d in self.recipe.by_name[name].depends_on if d in plan.selected]
            self._waiting[name] = len(deps)
            for dep in deps:
                self._dependents[dep].append(name)
            if not deps:
                heapq.heappush(self._ready, (self.recipe.by_name[name].order, name))

    @property
    def done(self) -> bool:
        return not self.pending and not self.running

    def take_ready(self) -> list[Step]:
        """Steps to start now, in order, within free slots and resources (no head-of-line blocking)."""
        started: list[Step] = []
        blocked: list[tuple[int, str]] = []
        while self._ready and len(self.running) < self.slots:
            entry = heapq.heappop(self._ready)
            step = self.recipe.by_name[entry[1]]
            if not self._fits(step):
                blocked.append(entry)
                continue
            for name, units in step.policy.resources.items():
                self.free[name] -= units
            self.running.add(step.name)
            self.pending.discard(step.name)
            started.append(step)
        for entry in blocked:
            heapq.heappush(self._ready, entry)
        return started

    def blocked_on_resources(self) -> list[str]:
        return [name for _, name in self._ready if not self._fits(self.recipe.by_name[name])]

    def _fits(self, step: Step) -> bool:
        return all(self.free[name] >= units for name, units in step.policy.resources.items())

    def finished(self, name: str, ok: bool) -> list[tuple[str, str]]:
        """Record a finished step (ok includes tolerated failures). Returns the steps skipped because of it,
        each with its reason."""
        self.running.discard(name)
        for resource, units in self.recipe.by_name[name].policy.resources.items():
            self.free[resource] += units
        if not ok:
            skipped = self._skip_dependents(name)
            if self.stop_on_failure:
                skipped += self.stop(f"the run stopped after {name!r} failed (serial mode)")
            return skipped
        for child in self._dependents[name]:
            self._waiting[child] -= 1
            if self._waiting[child] == 0 and child in self.pending:
                heapq.heappush(self._ready, (self.recipe.by_name[child].order, child))
        return []

    def _skip_dependents(self, failed: str) -> list[tuple[str, str]]:
        skipped: list[tuple[str, str]] = []
        stack = [failed]
        while stack:
            for child in self._dependents[stack.pop()]:
                if child in self.pending:
                    self.pending.discard(child)
                    skipped.append((child, f"upstream step {failed!r} failed"))
                    stack.append(child)
        self._ready = [e for e in self._ready if e[1] in self.pending]
        heapq.heapify(self._ready)
        return skipped

    def stop(self, reason: str) -> list[tuple[str, str]]:
        """Start nothing more; every pending step is skipped with reason."""
        skipped = [(name, reason) for name in sorted(self.pending, key=lambda n: self.recipe.by_name[n].order)]
        self.pending.clear()
        self._ready.clear()
        return skipped

    def next_pending(self) -> Optional[str]:
        return self._ready[0][1] if self._ready else None
