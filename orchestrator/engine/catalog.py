"""Descriptions of scriptlets from their docstrings (Python) or header comments (shell), for --list."""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .recipe import Recipe, module_file, resolve_entry


@lru_cache(maxsize=None)
def docstring(path: Path) -> str:
    """The scriptlet's documentation: a module docstring, or the leading comment block of a shell script."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        try:
            return ast.get_docstring(ast.parse(text)) or ""
        except SyntaxError:
            return ""
    lines = []
    for line in text.splitlines()[1:] if text.startswith("#!") else text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines).strip()


def summary(doc: str) -> str:
    """The first sentence-line that is not a section heading."""
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped and not stripped.endswith(":"):
            return stripped
    return ""


def step_file(recipe: Recipe, name: str, search: tuple[Path, ...]) -> Optional[Path]:
    step = recipe.by_name[name]
    if step.type == "shell":
        return resolve_entry(search, step.cmd or "")
    return module_file(search, step.module or "")


def describe_steps(recipe: Recipe, search: tuple[Path, ...]) -> str:
    lines = [f"{recipe.path} ({recipe.test_meta.get('test_id')}): {recipe.test_meta.get('description')}"]
    for step in recipe.steps:
        file = step_file(recipe, step.name, search)
        text = step.description or (summary(docstring(file)) if file else "")
        entry = step.cmd if step.type == "shell" else step.module
        deps = f" (after {', '.join(step.depends_on)})" if step.depends_on else ""
        lines.append(f"  {step.name:<24} {step.type:<6} {entry}{deps}\n      {text}")
    return "\n".join(lines)
