"""List, show, check and document the scriptlets (the scriptlet registry's command line).

Description:
    Every scriptlet documents itself: a Python scriptlet (scriptlets/python/steps/NAME.py) in its module
    docstring, a shell scriptlet (scriptlets/shell/NAME.sh) in the comment block at the top of the file,
    each with the sections Description, Usage, Arguments, Examples and Limitations. This tool reads that
    documentation through the registry (engine/catalog.py) without importing or running the scriptlets,
    except for `check`, which also runs each one with --help.

      list          every scriptlet with its one-line description (--json: everything, machine-readable)
      show NAME     the full documentation of one scriptlet, and how to run it
      check         compliance: all five sections present and filled, and `--help` exits 0 with output;
                    prints one line per problem naming the file, exits 1 if there is any
      docs          write docs/scriptlets.md (beside orchestrator/) from the documentation; deterministic
      docs --check  exit 1 if docs/scriptlets.md is missing or differs from what `docs` would write

Usage:
    python tools/scriptlets.py [--root DIR] list [--kind python|shell] [--json]
    python tools/scriptlets.py [--root DIR] show NAME [--json]
    python tools/scriptlets.py [--root DIR] check [--timeout S]
    python tools/scriptlets.py [--root DIR] docs [--check]
    (from orchestrator/; from the repository root: python orchestrator/tools/scriptlets.py ...)

Arguments:
    --root DIR      work on another orchestrator folder (one holding scriptlets/); its docs/ is DIR/../docs.
                    Default: the orchestrator folder this tool belongs to. Also accepted after the command.
    --kind KIND     list: only python or only shell scriptlets
    --json          list/show: print JSON (kind, name, path, run, summary, doc, missing sections)
    NAME            show: a name (compute_metrics), a file name (compute_metrics.py), a path relative to
                    orchestrator/, or a module (scriptlets.python.steps.compute_metrics)
    --timeout S     check: seconds each `--help` may take (default 30)
    --check         docs: compare instead of writing

    Exit codes: 0 done; 1 check found problems, or docs --check found the file stale; 2 bad usage
    (unknown command or flag, unknown scriptlet NAME with a did-you-mean, bad --root).

Examples:
    python tools/scriptlets.py list
    python tools/scriptlets.py show preprocess_csv
    python tools/scriptlets.py check
    python orchestrator/tools/scriptlets.py docs            # after changing a scriptlet's documentation
    python orchestrator/tools/scriptlets.py docs --check    # in CI: fails when someone forgot the line above

Limitations:
    `check` runs each scriptlet's --help as a process (from the orchestrator folder, with the interpreter
    running this tool, ORCH_* variables removed), so a scriptlet whose --help has side effects has them.
    Sections are found by their heading at the start of a line (`Usage:`), in any case; a section written
    differently (`USAGE` without a colon, an indented heading) counts as missing.
"""
from __future__ import annotations

import sys
from pathlib import Path

_TOOLS = Path(__file__).resolve().parent
# Run as a file, tools/ is sys.path[0], where this very file would shadow the `scriptlets` package: the
# orchestrator folder goes first, tools/ last (for the helpers in tools/_scriptlet_cli.py).
sys.path[:] = [str(_TOOLS.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _TOOLS] + [str(_TOOLS)]

import argparse  # noqa: E402
import difflib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Optional  # noqa: E402

from engine.catalog import (DOCS_COMMAND, HOME, SECTIONS, Scriptlet, discover, docs_path, find,  # noqa: E402
                            render_markdown, split_sections, suggestions)
from _scriptlet_cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Parser, Usage, add_root, root_dir, shown  # noqa: E402

PROG = "scriptlets.py"


# --------------------------------------------------------------------------- list / show


def cmd_list(root: Path, kind: Optional[str], as_json: bool) -> int:
    """Print every scriptlet (of one kind) with its one-line description."""
    found = [s for s in discover(root) if not kind or s.kind == kind]
    if as_json:
        print(json.dumps([s.to_dict() for s in found], indent=2, ensure_ascii=False))
        return EXIT_OK
    width = max((len(s.name) for s in found), default=0)
    for s in found:
        flag = f"  [missing: {', '.join(s.missing)}]" if s.missing else ""
        print(f"{s.name:<{width}}  {s.kind:<6}  {s.summary or '(no description)'}{flag}")
    return EXIT_OK


def cmd_show(root: Path, name: str, as_json: bool) -> int:
    """Print one scriptlet's full documentation (both, if a Python and a shell one share the name)."""
    found = find(name, root)
    if not found:
        close = suggestions(name, root)
        hint = (f"did you mean {' or '.join(map(repr, close))}?" if close else
                f"known: {', '.join(s.name for s in discover(root)) or 'none'}")
        raise Usage(f"no scriptlet {name!r}; {hint} ('{PROG} list' lists them)")
    if as_json:
        print(json.dumps([s.to_dict() for s in found], indent=2, ensure_ascii=False))
        return EXIT_OK
    for i, s in enumerate(found):
        print(("\n" if i else "") + f"{s.name} ({s.kind} scriptlet)\n  file: {shown(s.file, root)}\n"
              f"  run:  {s.run}   (from {root.name}/)\n")
        print(s.doc or "(no documentation)")
    return EXIT_OK


# --------------------------------------------------------------------------- check


def doc_problems(s: Scriptlet) -> list[str]:
    """What is wrong with a scriptlet's documentation."""
    where = "module docstring" if s.kind == "python" else "comment block at the top of the file"
    if not s.doc:
        return [f"no documentation: add a {where} with the sections {', '.join(f'{n}:' for n in SECTIONS)}"]
    _, bodies = split_sections(s.doc)
    return [f"missing section '{n}:' in the {where}" if n not in bodies else f"section '{n}:' is empty"
            for n in s.missing]


def help_problem(s: Scriptlet, root: Path, timeout: float) -> Optional[str]:
    """Run the scriptlet with --help from the orchestrator folder; say what is wrong, if anything."""
    command = s.run.split() + ["--help"]
    if s.kind == "python":
        command[0] = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "CTX_"))}
    env.update(PYTHONPATH=str(root), ORCH_PYTHON=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    try:
        proc = subprocess.run(command, cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`{s.run} --help` did not finish within {timeout:g} s"
    except OSError as exc:
        return f"`{s.run} --help` could not start: {exc}"
    if proc.returncode != 0:
        last = next((line.strip() for line in reversed(proc.stderr.splitlines()) if line.strip()), "")
        return f"`{s.run} --help` exits {proc.returncode}, not 0" + (f": {last}" if last else "")
    if not proc.stdout.strip():
        return f"`{s.run} --help` prints nothing on stdout"
    return None


def cmd_check(root: Path, timeout: float) -> int:
    """Report every scriptlet that misses a section or does not answer --help; exit 1 if any does."""
    found = discover(root)
    with ThreadPoolExecutor(max_workers=min(8, len(found) or 1)) as pool:
        helps = list(pool.map(lambda s: help_problem(s, root, timeout), found))
    problems = [(s, p) for s, h in zip(found, helps) for p in doc_problems(s) + ([h] if h else [])]
    for s, problem in problems:
        print(f"{shown(s.file, root)}: {problem}")
    if problems:
        bad = len({s.path for s, _ in problems})
        print(f"{len(problems)} problem(s) in {bad} of {len(found)} scriptlet(s)", file=sys.stderr)
        return EXIT_FAILED
    print(f"ok: {len(found)} scriptlet(s), each with {', '.join(SECTIONS)} and answering --help")
    return EXIT_OK


# --------------------------------------------------------------------------- docs


def cmd_docs(root: Path, check: bool) -> int:
    """Write docs/scriptlets.md, or (--check) say whether it is up to date."""
    target = docs_path(root)
    wanted = render_markdown(discover(root), root)
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    rerun = DOCS_COMMAND + ("" if root == HOME else f" --root {root}")
    if check:
        if current == wanted:
            print(f"{shown(target, root)} is up to date")
            return EXIT_OK
        state = "does not exist" if current is None else "is out of date with the scriptlets' documentation"
        print(f"{shown(target, root)} {state}; run: {rerun}", file=sys.stderr)
        diff = list(difflib.unified_diff((current or "").splitlines(), wanted.splitlines(), "committed",
                                         "generated", n=0, lineterm=""))
        for line in diff[2:14]:
            print(f"    {line}", file=sys.stderr)
        return EXIT_FAILED
    if current == wanted:
        print(f"{shown(target, root)} is already up to date")
        return EXIT_OK
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(wanted)
    print(f"wrote {shown(target, root)} ({len(discover(root))} scriptlets)")
    return EXIT_OK


# --------------------------------------------------------------------------- command line


def build_parser() -> Parser:
    summary, _, rest = (__doc__ or "").partition("\n\n")
    parser = Parser(prog=PROG, help_command="python tools/scriptlets.py", description=summary, epilog=rest,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    add_root(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = Parser(add_help=False)
    add_root(common, default=argparse.SUPPRESS)  # --root after the command too
    p = sub.add_parser("list", parents=[common], help="every scriptlet with its one-line description")
    p.add_argument("--kind", choices=("python", "shell"), help="only this kind")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("show", parents=[common], help="the full documentation of one scriptlet")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("check", parents=[common], help="all five sections, and --help exits 0")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds per --help (default 30)")
    p = sub.add_parser("docs", parents=[common], help="write docs/scriptlets.md from the documentation")
    p.add_argument("--check", action="store_true", help="exit 1 if the file is stale instead of writing it")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = root_dir(args.root)
        if args.command == "list":
            return cmd_list(root, args.kind, args.json)
        if args.command == "show":
            return cmd_show(root, args.name, args.json)
        if args.command == "check":
            if args.timeout <= 0:
                raise Usage(f"--timeout {args.timeout:g}: must be more than 0 seconds")
            return cmd_check(root, args.timeout)
        return cmd_docs(root, args.check)
    except Usage as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except OSError as exc:  # an unreadable file or folder: name it, no traceback
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # `list | head`: the reader stopped reading, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(EXIT_OK) from None
