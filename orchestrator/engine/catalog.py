"""The scriptlet registry: every shipped scriptlet with its documentation, read from its source.

Python scriptlets are the modules in `scriptlets/python/steps/` (not starting with `_`), documented by
their module docstring; shell scriptlets are `scriptlets/shell/*.sh` (not `lib/`), documented by the
comment block at the top of the file. Each documentation has five sections: Description, Usage,
Arguments, Examples, Limitations. The registry is read by `runner.py --list`, `tools/scriptlets.py`
(list, show, check, docs) and `tools/new_scriptlet.py`.

Nothing here imports a scriptlet, the SDK or a third-party library: the documentation is parsed from the
files' text, so the registry is cheap and works on a broken scriptlet too.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # recipe.py imports pydantic and yaml: only describe_steps needs it, and imports it late
    from .recipe import Recipe

HOME = Path(__file__).resolve().parent.parent  # the orchestrator/ folder
PYTHON_DIR = "scriptlets/python/steps"
SHELL_DIR = "scriptlets/shell"
SECTIONS = ("Description", "Usage", "Arguments", "Examples", "Limitations")
DOCS_FILE = "docs/scriptlets.md"  # relative to the repository root (the orchestrator folder's parent)
DOCS_COMMAND = "python orchestrator/tools/scriptlets.py docs"

_HEADING = re.compile(rf"^({'|'.join(SECTIONS)})[ \t]*:[ \t]*(.*)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_BULLET = re.compile(r"^\s*([-*\u2022]|--?\w|\d+[.)])")


# --------------------------------------------------------------------------- parsing documentation


def docstring(path: Path) -> str:
    """The scriptlet's documentation: a module docstring (else its first class docstring), or the leading
    comment block of a shell script. Cached per file version."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    return _read_doc(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read_doc(path: Path, _mtime_ns: int, _size: int) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        return _python_doc(text)
    lines = []
    for line in text.splitlines()[1:] if text.startswith("#!") else text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines).strip()


def _python_doc(text: str) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return ""
    found = ast.get_docstring(tree)
    if found:
        return found.strip()
    for node in tree.body:  # no module docstring: the first documented class (what BaseScriptlet.doc() shows)
        if isinstance(node, ast.ClassDef) and ast.get_docstring(node):
            return (ast.get_docstring(node) or "").strip()
    return ""


def split_sections(doc: str) -> tuple[str, dict[str, str]]:
    """(the text before the first section heading, {section: its text}) for the five sections present.

    A heading is a line starting (unindented) with `Description:`, `Usage:` ... in any case; text after the
    colon on the same line belongs to the section. A repeated heading adds to the same section."""
    lead: list[str] = []
    bodies: dict[str, list[str]] = {}
    current = lead
    for line in doc.splitlines():
        match = _HEADING.match(line)
        if match:
            name = next(s for s in SECTIONS if s.lower() == match.group(1).lower())
            current = bodies.setdefault(name, [])
            if match.group(2).strip():
                current.append(match.group(2))
            continue
        current.append(line)
    return ("\n".join(lead).strip(),
            {name: textwrap.dedent("\n".join(body)).strip() for name, body in bodies.items()})


def missing_sections(doc: str) -> tuple[str, ...]:
    """The required sections that are absent or empty, in the order of SECTIONS."""
    _, bodies = split_sections(doc)
    return tuple(name for name in SECTIONS if not bodies.get(name))


def first_sentence(text: str) -> str:
    """The first sentence of the first paragraph, on one line, without its final punctuation.

    The paragraph ends at a blank line, a more indented line or a list item, so a lead-in such as
    "Cleans a file:" followed by bullets gives "Cleans a file"."""
    lines = textwrap.dedent(text).splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    paragraph: list[str] = []
    for line in lines:
        if paragraph and (not line.strip() or line[:1].isspace() or _BULLET.match(line)):
            break
        paragraph.append(line.strip())
    joined = " ".join(paragraph)
    return _SENTENCE_END.split(joined, maxsplit=1)[0].rstrip(" .:;,") if joined else ""


def summary(doc: str) -> str:
    """One line saying what the scriptlet does: the first sentence before the sections, else of the
    Description section."""
    lead, bodies = split_sections(doc)
    return first_sentence(lead) or first_sentence(bodies.get("Description", ""))


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Scriptlet:
    """One scriptlet, as the registry knows it."""

    kind: str          # "python" or "shell"
    name: str          # the file name without .py/.sh
    file: Path         # absolute path
    path: str          # relative to the orchestrator folder, with /
    run: str           # how to run it from the orchestrator folder
    summary: str       # one line
    doc: str           # the full documentation
    missing: tuple[str, ...]  # required sections absent or empty

    @classmethod
    def from_file(cls, kind: str, file: Path, root: Path) -> "Scriptlet":
        rel = file.relative_to(root).as_posix()
        run = f"python -m {rel[:-3].replace('/', '.')}" if kind == "python" else f"bash {rel}"
        doc = docstring(file)
        return cls(kind=kind, name=file.stem, file=file, path=rel, run=run, summary=summary(doc), doc=doc,
                   missing=missing_sections(doc))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: kind, name, path, run, summary, doc, missing."""
        return {"kind": self.kind, "name": self.name, "path": self.path, "run": self.run,
                "summary": self.summary, "doc": self.doc, "missing": list(self.missing)}


def discover(root: Path = HOME) -> list[Scriptlet]:
    """Every scriptlet under `root` (an orchestrator folder): the Python ones, then the shell ones, by name."""
    root = root.resolve()
    python = sorted(p for p in (root / PYTHON_DIR).glob("*.py") if not p.name.startswith("_") and p.is_file())
    shell = sorted(p for p in (root / SHELL_DIR).glob("*.sh") if p.is_file())
    return ([Scriptlet.from_file("python", p, root) for p in python]
            + [Scriptlet.from_file("shell", p, root) for p in shell])


def find(name: str, root: Path = HOME) -> list[Scriptlet]:
    """The scriptlets a user means by `name`: `compute_metrics`, `compute_metrics.py`, its path relative to
    the orchestrator folder, its module (`scriptlets.python.steps.compute_metrics`), or KIND:NAME."""
    wanted = name.strip().rstrip("/")
    return [s for s in discover(root)
            if wanted in (s.name, Path(s.path).name, s.path, s.run.split()[-1], f"{s.kind}:{s.name}")]


def suggestions(name: str, root: Path = HOME) -> list[str]:
    """Names close to a mistyped one, best first."""
    import difflib

    stem = Path(name.strip()).stem.split(".")[-1]
    return difflib.get_close_matches(stem, sorted({s.name for s in discover(root)}), n=3, cutoff=0.5)


# --------------------------------------------------------------------------- the generated reference


def docs_path(root: Path = HOME) -> Path:
    """Where the generated reference lives: docs/scriptlets.md beside the orchestrator folder."""
    return root.resolve().parent / DOCS_FILE


def render_markdown(scriptlets: list[Scriptlet], root: Path = HOME) -> str:
    """The Markdown reference of these scriptlets. Deterministic: it depends only on the files' text."""
    base = root.resolve().name
    out = ["# Scriptlets", "",
           "<!-- Generated from the scriptlets' own documentation; do not edit. Edit the scriptlet's docstring",
           f"     or header comment, then run `{DOCS_COMMAND}` (`docs --check` tells whether",
           "     this file is up to date). -->", "",
           f"Every scriptlet is a standalone command, run from `{base}/` (the runner runs it the same way).",
           "`python tools/scriptlets.py list` lists them, `show NAME` prints one's documentation.", "",
           "| scriptlet | kind | what it does |", "|---|---|---|"]
    out += [f"| [{s.name}](#{_anchor(s.name)}) | {s.kind} | {_cell(s.summary)} |" for s in scriptlets]
    for kind, title in (("python", "Python scriptlets"), ("shell", "Shell scriptlets")):
        chosen = [s for s in scriptlets if s.kind == kind]
        if not chosen:
            continue
        out += ["", f"## {title}"]
        for s in chosen:
            fence = "`" * max(3, _longest_backtick_run(s.doc) + 1)
            out += ["", f"### {s.name}", "", f"`{s.run}` (source: `{base}/{s.path}`)", "",
                    f"{fence}text", s.doc or "(no documentation)", fence]
    return "\n".join(out) + "\n"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


# --------------------------------------------------------------------------- runner.py --list


def step_file(recipe: Recipe, name: str, search: tuple[Path, ...]) -> Optional[Path]:
    """The file a recipe step runs (its shell script or its Python module), if it exists."""
    from .recipe import module_file, resolve_entry

    step = recipe.by_name[name]
    if step.type == "shell":
        return resolve_entry(search, step.cmd or "")
    return module_file(search, step.module or "")


def describe_steps(recipe: Recipe, search: tuple[Path, ...]) -> str:
    """The recipe's steps, each with its entry point, dependencies and one-line description."""
    lines = [f"{recipe.path} ({recipe.test_meta.get('test_id')}): {recipe.test_meta.get('description')}"]
    for step in recipe.steps:
        file = step_file(recipe, step.name, search)
        text = step.description or (summary(docstring(file)) if file else "")
        entry = step.cmd if step.type == "shell" else step.module
        deps = f" (after {', '.join(step.depends_on)})" if step.depends_on else ""
        lines.append(f"  {step.name:<24} {step.type:<6} {entry}{deps}" + (f"\n      {text}" if text else ""))
    return "\n".join(lines)
