"""`{{ ctx.key }}`-style references in args, params and env, resolved just before a step starts."""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
REFERENCE = re.compile(r"^(ctx|test_meta|run|step)((?:\.[A-Za-z0-9_-]+)+)$")
ROOTS = "ctx, test_meta, run, step"
# what {{ run.* }} and {{ step.* }} offer in a step's args/params/env (run.Run._lookup) and in a hook's (hooks.py)
STEP_FIELDS = {"run": ("id", "recipe", "workdir"), "step": ("name", "attempt")}
HOOK_FIELDS = {"run": ("id", "recipe", "verdict"), "step": ("name", "attempt", "status", "reason")}


class TemplateError(Exception):
    """A reference that cannot be resolved; the message names it."""


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def check_templates(value: Any, test_meta: Optional[dict[str, Any]] = None,
                    fields: dict[str, tuple[str, ...]] = STEP_FIELDS) -> Optional[str]:
    """A problem with any reference in value, or None. Run once when the recipe loads: the syntax, and the parts
    already known then (test_meta is in the recipe; run and step have fixed fields). Only ctx waits for the run."""
    for text in _walk(value):
        for match in TEMPLATE.finditer(text):
            reference = REFERENCE.match(match.group(1))
            if not reference:
                return (f"template {match.group(0)!r} is not a reference; use one of "
                        "{{ ctx.key }}, {{ ctx.a.b }}, {{ test_meta.test_id }}, {{ run.id }}")
            root, path = reference.group(1), reference.group(2)[1:].split(".")
            if root == "test_meta" and test_meta is not None:
                try:
                    dig(root, test_meta, path)
                except TemplateError:
                    return f"template {match.group(0)!r}: {_unknown(root, path, list(test_meta))}"
            elif root in fields and (len(path) != 1 or path[0] not in fields[root]):
                return f"template {match.group(0)!r}: {_unknown(root, path, list(fields[root]))}"
    return None


def _unknown(root: str, path: list[str], known: list[str]) -> str:
    """What is missing in a reference known at load time, with the closest name."""
    import difflib

    if path[0] in known:  # the first part exists, a deeper one does not
        return f"{root}.{path[0]} has no {'.'.join(path[1:])!r}"
    close = [k for k in known if k.lower() == path[0].lower()] or difflib.get_close_matches(path[0], known, n=1)
    hint = f"did you mean {{{{ {root}.{close[0]} }}}}?" if close else f"{root} has: {', '.join(known) or 'nothing'}"
    return f"{root} has no {path[0]!r}; {hint}"


def has_templates(value: Any) -> bool:
    return any("{{" in text for text in _walk(value))


Lookup = Callable[[str, list[str]], Any]


def _resolve(expr: str, lookup: Lookup) -> Any:
    match = REFERENCE.match(expr)
    if not match:
        raise TemplateError(f"{{{{ {expr} }}}} is not a reference (roots: {ROOTS})")
    root, path = match.group(1), match.group(2)[1:].split(".")
    return lookup(root, path)


def render(value: Any, lookup: Lookup) -> Any:
    """Substitute every reference. A string that is one whole reference keeps the value's JSON type."""
    if isinstance(value, dict):
        return {k: render(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, lookup) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = TEMPLATE.fullmatch(value)
    if whole:
        return _resolve(whole.group(1), lookup)

    def text(match: re.Match[str]) -> str:
        found = _resolve(match.group(1), lookup)
        return found if isinstance(found, str) else json.dumps(found)

    return TEMPLATE.sub(text, value)


def dig(root_name: str, data: Any, path: list[str]) -> Any:
    """Follow a.b.c through nested objects; a missing part raises TemplateError naming the reference."""
    current = data
    for i, part in enumerate(path):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            ref = ".".join([root_name, *path[: i + 1]])
            raise TemplateError(f"{{{{ {root_name}.{'.'.join(path)} }}}}: {ref!r} does not exist")
    return current
