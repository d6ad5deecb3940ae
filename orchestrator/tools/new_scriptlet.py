"""Create a new scriptlet from a template, with its test, ready to run and to fill in.

Description:
    Writes a working scriptlet and a test for it from the templates in templates/scaffold/:
      --kind python   scriptlets/python/steps/NAME.py (class Step<CamelName>) and tests/scriptlets/test_NAME.py
      --kind shell    scriptlets/shell/NAME.sh (executable)                      and tests/bats/NAME.bats
    As generated, the scriptlet reads --input FILE, stores its line count in the context under --key
    (default line_count) and prints {"input", "key", "lines"} as JSON; the test runs it on its own as a
    process and checks exactly that, so `make test` passes before anything is edited. Its documentation
    has the five sections (Description, Usage, Arguments, Examples, Limitations), each saying what to
    write there ("Describe here ..."). docs/scriptlets.md is regenerated to include the new scriptlet.

Usage:
    python tools/new_scriptlet.py NAME --kind python|shell [--force] [--root DIR]
    (from orchestrator/; from the repository root: python orchestrator/tools/new_scriptlet.py ...)

Arguments:
    NAME            snake_case: a lower-case letter, then lower-case letters, digits and single
                    underscores (check_voltage, read_adc2); not a Python keyword
    --kind KIND     python or shell (required)
    --force         overwrite the scriptlet and its test if they exist
    --root DIR      create them in another checkout's orchestrator folder (tests/ and docs/ beside it);
                    not a work folder (README, Scriptlets: keep your own in a package of your work folder)

    Exit codes: 0 created; 1 a template is missing or a file cannot be written; 2 bad usage: a bad
    NAME, a NAME already taken (without --force; or taken by the other kind, which --force does not
    override), a test file of that name elsewhere under tests/, a bad flag or --root.

Examples:
    python tools/new_scriptlet.py read_adc --kind python
    python orchestrator/tools/new_scriptlet.py wait_for_dut --kind shell
    # then: edit every "Describe here", change the behaviour and its test, and run
    #   make test && python orchestrator/tools/scriptlets.py check && python orchestrator/tools/scriptlets.py docs

Limitations:
    One template per kind. The test assumes the usual layout (tests/ beside orchestrator/). Regenerating
    docs/scriptlets.md rewrites the whole file from the current tree.
"""
from __future__ import annotations

import sys
from pathlib import Path

_TOOLS = Path(__file__).resolve().parent
# orchestrator/ first, tools/ last: see the same lines in tools/scriptlets.py
sys.path[:] = [str(_TOOLS.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _TOOLS] + [str(_TOOLS)]

import argparse  # noqa: E402
import keyword  # noqa: E402
import re  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Optional  # noqa: E402

from engine.catalog import HOME, PYTHON_DIR, SHELL_DIR, discover, docs_path, render_markdown  # noqa: E402
from _scriptlet_cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Parser, Usage, add_root, root_dir, shown  # noqa: E402

PROG = "new_scriptlet.py"
TEMPLATES = HOME / "templates" / "scaffold"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_NAME = 64


@dataclass(frozen=True)
class Output:
    """One file to write: its template, where it goes, whether it is executable."""

    template: str
    target: Path
    executable: bool = False


def class_name(name: str) -> str:
    """check_voltage -> StepCheckVoltage."""
    return "Step" + "".join(part.capitalize() for part in name.split("_"))


def check_name(name: str) -> None:
    """Refuse a name that is not snake_case (or is a keyword, or too long)."""
    if not SNAKE.match(name):
        raise Usage(f"NAME {name!r} is not snake_case: start with a lower-case letter, then use lower-case "
                    f"letters, digits and single underscores (e.g. {_suggest(name)!r})")
    if keyword.iskeyword(name):
        raise Usage(f"NAME {name!r} is a Python keyword; choose another name")
    if len(name) > MAX_NAME:
        raise Usage(f"NAME is {len(name)} characters long; keep it to {MAX_NAME}")


def _suggest(name: str) -> str:
    """A snake_case version of a bad name, for the error message."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    snake = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    snake = re.sub(r"^[0-9_]+", "", snake)
    return snake or "my_step"


def outputs(name: str, kind: str, root: Path) -> list[Output]:
    """The scriptlet and its test, for this kind."""
    tests = root.parent / "tests"
    if kind == "python":
        return [Output("step.py.tmpl", root / PYTHON_DIR / f"{name}.py"),
                Output("test_step.py.tmpl", tests / "scriptlets" / f"test_{name}.py")]
    return [Output("step.sh.tmpl", root / SHELL_DIR / f"{name}.sh", executable=True),
            Output("step.bats.tmpl", tests / "bats" / f"{name}.bats")]


def check_free(name: str, kind: str, root: Path, files: list[Output], force: bool) -> None:
    """Refuse to overwrite without --force, to shadow a scriptlet of the other kind, or to clash with
    another test module of the same name (pytest needs unique test file names)."""
    other = [s for s in discover(root) if s.name == name and s.kind != kind]
    if other:
        raise Usage(f"a {other[0].kind} scriptlet {name!r} exists ({shown(other[0].file, root)}); "
                    "choose another name so that the name means one scriptlet")
    existing = [f.target for f in files if f.target.exists()]
    if existing and not force:
        verb = "exists" if len(existing) == 1 else "exist"
        raise Usage(f"{', '.join(shown(p, root) for p in existing)} already {verb}; "
                    "choose another name, or give --force to overwrite")
    test_file = files[1].target
    tests = root.parent / "tests"
    if test_file.suffix == ".py" and tests.is_dir():
        clash = [p for p in tests.rglob(test_file.name) if p.resolve() != test_file.resolve()]
        if clash:
            raise Usage(f"{shown(clash[0], root)} already exists and pytest needs unique test file names; "
                        "choose another name")


def render(template: str, name: str) -> str:
    """The template's text with {{name}} and {{class}} filled in."""
    path = TEMPLATES / template
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OSError(f"template {path} cannot be read ({exc.strerror or exc}); is the checkout complete?") from None
    return text.replace("{{name}}", name).replace("{{class}}", class_name(name))


def create(name: str, kind: str, root: Path, force: bool) -> list[Path]:
    """Write the scriptlet and its test (rendering everything first, so a bad template writes nothing)."""
    check_name(name)
    files = outputs(name, kind, root)
    check_free(name, kind, root, files, force)
    texts = [render(f.template, name) for f in files]
    for f, text in zip(files, texts):
        f.target.parent.mkdir(parents=True, exist_ok=True)
        with open(f.target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        if f.executable:
            f.target.chmod(0o755)
    return [f.target for f in files]


def update_docs(root: Path) -> Path:
    """Regenerate docs/scriptlets.md so that it lists the new scriptlet."""
    target = docs_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(render_markdown(discover(root), root))
    return target


def build_parser() -> Parser:
    summary, _, rest = (__doc__ or "").partition("\n\n")
    parser = Parser(prog=PROG, help_command="python tools/new_scriptlet.py", description=summary, epilog=rest,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", metavar="NAME", help="the scriptlet's snake_case name")
    parser.add_argument("--kind", required=True, choices=("python", "shell"), help="python or shell")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    add_root(parser)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = root_dir(args.root)
        written = create(args.name, args.kind, root, args.force)
    except Usage as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(f"created {shown(path, root)}")
    try:
        print(f"updated {shown(update_docs(root), root)}")
    except OSError as exc:
        print(f"{PROG}: warning: docs not updated: {exc}", file=sys.stderr)
    tool = "python orchestrator/tools/scriptlets.py" + ("" if root == HOME else f" --root {root}")
    print(f"next: replace every 'Describe here' in {shown(written[0], root)} and change its behaviour and its "
          f"test; then run: make test; {tool} check; {tool} docs")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
