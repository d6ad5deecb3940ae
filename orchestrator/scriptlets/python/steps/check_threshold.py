"""Check a number from the context against limits: pass, or fail the step (a test verdict).

Description:
    Looks up a value in the context by a dotted path (`metrics.voltage_v.max` is
    ctx["metrics"]["voltage_v"]["max"]; a number in the path indexes a list, `histogram.counts.0`),
    compares it with --min and/or --max (both inclusive) and records the verdict in the context.
    An out-of-limits value makes the step fail (exit 1) unless --warn-only, which logs a warning and
    exits 0; the recorded verdict says "passed": false either way.

    Keys that contain dots still resolve: at each level the longest matching key wins.

    Context written:  ctx[RESULT_KEY] = {"key", "value", "min", "max", "passed"}  (min/max null when not given)
    Result (stdout):  the same object.

Usage:
    python -m scriptlets.python.steps.check_threshold --key DOTTED.PATH [--min X] [--max X]
        [--result-key NAME] [--warn-only]

Arguments:
    --key PATH          dotted path of the value to check in the context (required)
    --min X             lowest allowed value (inclusive)
    --max X             highest allowed value (inclusive); give --min, --max or both
    --result-key NAME   context key for the verdict (default threshold_check); use one per check
                        when a recipe checks several values
    --warn-only         an out-of-limits value is logged as a warning; the step still succeeds

    Exit codes: 0 within limits (or --warn-only); 1 out of limits; 2 bad flags, or the path is missing
    from the context, or its value is not a number.

Examples:
    python -m scriptlets.python.steps.check_threshold --ctx /tmp/ctx.json --key metrics.voltage_v.max --max 3.45
    python -m scriptlets.python.steps.check_threshold --ctx /tmp/ctx.json --key metrics.temperature_c.mean \\
        --min 20 --max 30 --result-key temperature_check --warn-only
    # in a recipe, after compute_metrics:
    #   - name: check_voltage
    #     type: python
    #     module: scriptlets.python.steps.check_threshold
    #     params: {key: metrics.voltage_v.max, max: 3.45, result_key: voltage_check}
    #     depends_on: [compute_metrics]

Limitations:
    Numbers only (true/false and numeric strings are refused). Run on its own, the context is empty unless
    you pass --ctx FILE, so the key will be missing. When the check fails (exit 1) the verdict is still
    saved: to the --ctx FILE, or under the runner, which commits the last attempt's writes whatever its
    outcome (a retried attempt's writes are discarded).
"""
from __future__ import annotations

import os
import sys

if not __package__:  # run by path (python scriptlets/python/steps/x.py): put orchestrator/ on sys.path
    sys.path.insert(0, os.path.realpath(__file__).rsplit(os.sep, 4)[0])

import argparse
import math
from collections.abc import Mapping
from typing import Any, Optional, Union

from scriptlets.python.core.base import BaseScriptlet, StepFailed, UsageError

Key = Union[str, int]


class StepCheckThreshold(BaseScriptlet):
    """Compare ctx[<dotted path>] with --min/--max and record {key, value, min, max, passed}."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--key", required=True, metavar="PATH", help="dotted path into the context")
        parser.add_argument("--min", type=float, metavar="X", help="lowest allowed value (inclusive)")
        parser.add_argument("--max", type=float, metavar="X", help="highest allowed value (inclusive)")
        parser.add_argument("--result-key", default="threshold_check", metavar="NAME",
                            help="context key for the verdict (default threshold_check)")
        parser.add_argument("--warn-only", action="store_true", help="log a violation instead of failing")

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        # Flags first: a check needs at least one finite limit, in the right order.
        low, high = params["min"], params["max"]
        if low is None and high is None:
            raise UsageError("give --min X, --max X or both: there is nothing to check against")
        if any(limit is not None and not math.isfinite(limit) for limit in (low, high)):
            raise UsageError("--min and --max must be finite numbers")
        if low is not None and high is not None and low > high:
            raise UsageError(f"--min {low} is greater than --max {high}")
        # Then the value: it must exist and be a number.
        self.value = lookup(ctx, params["key"])
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise UsageError(f"--key {params['key']}: the value {self.value!r} is not a number")

    def run(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        # 1. Compare and record the verdict (before failing, so the record is in the step's journal).
        low, high = params["min"], params["max"]
        passed = (low is None or self.value >= low) and (high is None or self.value <= high)
        verdict = {"key": params["key"], "value": self.value, "min": low, "max": high, "passed": passed}
        ctx[params["result_key"]] = verdict
        if passed:
            self.log.info("%s = %s is within the limits (min %s, max %s)", params["key"], self.value, low, high)
            return verdict
        # 2. Out of limits: a warning, or the step's failure.
        message = f"{params['key']} = {self.value} is {describe_violation(self.value, low, high)}"
        if not params["warn_only"]:
            raise StepFailed(message)
        self.log.warning("%s (--warn-only: not failing)", message)
        return verdict


def describe_violation(value: float, low: Optional[float], high: Optional[float]) -> str:
    return f"below the minimum {low}" if low is not None and value < low else f"above the maximum {high}"


def lookup(ctx: Mapping[str, Any], path: str) -> Any:
    """Follow a dotted path through objects (and list indexes); UsageError names the part that is missing."""
    parts = path.split(".")
    node: Any = ctx
    walked: list[str] = []
    while parts:
        key, used = match(node, parts)
        if key is None:
            raise UsageError(missing_message(ctx, path, walked, parts[0], node))
        node = node[key]
        walked.append(".".join(parts[:used]))
        parts = parts[used:]
    return node


def match(node: Any, parts: list[str]) -> tuple[Optional[Key], int]:
    """The key of `node` that the next part(s) name and how many parts it used; (None, 0) if none does."""
    if isinstance(node, list):
        text = parts[0]
        if text.lstrip("-").isdigit() and -len(node) <= int(text) < len(node):
            return int(text), 1
        return None, 0
    if isinstance(node, Mapping):
        for used in range(len(parts), 0, -1):  # longest first: a key may itself contain dots
            candidate = ".".join(parts[:used])
            if candidate in node:
                return candidate, used
    return None, 0


def missing_message(ctx: Mapping[str, Any], path: str, walked: list[str], part: str, node: Any) -> str:
    """Which part is missing, what is there instead, and how to look."""
    where = "the context" if not walked else f"ctx {'.'.join(walked)}"
    if isinstance(node, Mapping):
        keys = list(node)
        there = f"its keys: {', '.join(keys[:20])}{' ...' if len(keys) > 20 else ''}" if keys else "it is empty"
    elif isinstance(node, list):
        there = f"it is a list of {len(node)} items"
    else:
        there = f"it is a {type(node).__name__}, not an object"
    hint = "see `python context.py keys`" + (f" and `python context.py get {walked[0]}`" if walked else "")
    if not len(ctx):
        hint += " (run on its own, a step sees an empty context unless you pass --ctx FILE)"
    return f"--key {path}: {where} has no {part!r} ({there}); {hint}"


if __name__ == "__main__":
    raise SystemExit(StepCheckThreshold.cli())
