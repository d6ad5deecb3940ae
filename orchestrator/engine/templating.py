"""`{{ ctx.key }}`-style references in args, params and env, resolved just before a step starts."""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
REFERENCE = re.compile(r"^(ctx|test_meta|run|step)((?:\.[A-Za-z0-9_-]+)+)$")
ROOTS = "ctx, test_meta, run, step"


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


def check_templates(value: Any) -> Optional[str]:
    """A problem with the syntax of any reference in value, or None. Run once when the recipe loads."""
    for text in _walk(value):
        for match in TEMPLATE.finditer(text):
            if not REFERENCE.match(match.group(1)):
                return (f"template {match.group(0)!r} is not a reference; use one of "
                        "{{ ctx.key }}, {{ ctx.a.b }}, {{ test_meta.test_id }}, {{ run.id }}")
    return None


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
