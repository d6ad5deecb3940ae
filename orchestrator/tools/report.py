"""Reports of recorded runs: an Excel workbook, JUnit XML or a JSON summary of one run; or compare two runs.

Description:
    Reads the run database (Data/orchestrator.db) and the run's context file of the work folder. The Excel
    workbook has the sheets Summary, Steps, Failures (with the end of each failed step's log), Durations
    (with a chart), Context (final values) and Context history (every change). JUnit XML is for CI tools
    (Jenkins, GitLab); the JSON summary is for scripts. `compare` shows what changed between two runs of a
    recipe: step statuses, durations, context values.

Usage:
    python tools/report.py [--run ID|latest] [--format xlsx|json|junit] [--output PATH] [--workdir DIR]
    python tools/report.py compare RUN_A RUN_B [--format text|json|xlsx] [--output PATH] [--force] [--workdir DIR]
    (from orchestrator/; `python orchestrator/tools/report.py ...` from the repository root)

Arguments:
    --run ID        the run: a run id, an unambiguous start or end of one (`bd49`), or `latest` (the default)
    --format F      xlsx, json or junit; for compare: text, json or xlsx. Default: the format --output's
                    name says (x.json, x.junit.xml, ...), else xlsx (compare: text)
    --output PATH   where to write ('-' for standard output, text formats only). Default for a run:
                    <workdir>/Data/reports/<run id>.xlsx|.json|.junit.xml; for compare: standard output
                    (xlsx: <workdir>/Data/reports/compare_<A>_<B>.xlsx)
    --workdir DIR   the work folder holding Data/ (default: orchestrator/, or $ORCH_WORKDIR)
    --force         compare runs of different recipes

Examples:
    python tools/report.py                                   # Excel report of the latest run
    python tools/report.py --run latest --format junit --output results.xml
    python tools/report.py compare 20261121T232511Z-bd49 latest

Limitations:
    Exit codes: 0 written, 2 bad usage (unknown run, no runs, bad format, unwritable output),
    3 internal error (the traceback goes to Logs/ and is named). A file written is printed as its path.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

HOME = Path(__file__).resolve().parent.parent  # orchestrator/: engine, reports and context import from here
if str(HOME) not in sys.path:
    sys.path.insert(0, str(HOME))

from engine.errors import EXIT_OK, EXIT_USAGE, UserError  # noqa: E402
from engine.paths import Paths  # noqa: E402
from helpformat import OneLineParser  # noqa: E402
from reports import FORMATS, compare_target  # noqa: E402  (the package itself imports nothing)

PROG = "report.py"
COMPARE_FORMATS = ("text", "json", "xlsx")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", metavar="PATH", help="where to write ('-' for standard output)")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="work folder holding Data/ (default: orchestrator/, or $ORCH_WORKDIR)")


def run_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, help_command="python tools/report.py", description=__doc__.split("\n\n")[0],
                           allow_abbrev=False, epilog="Compare two runs: report.py compare --help. "
                                                      "Exit codes: 0 written, 2 bad usage, 3 internal error.")
    parser.add_argument("--run", default="latest", metavar="ID",
                        help="a run id, its start or end (e.g. bd49), or latest (default)")
    parser.add_argument("--format", choices=tuple(FORMATS),
                        help="report format (default: from --output's name, e.g. x.json; else xlsx)")
    parser.add_argument("--start-on-stdin", action="store_true",
                        help="load everything, then wait for a line on standard input before reading the run "
                             "(the runner starts its report with the run this way, so the imports overlap the "
                             "steps); if the input ends without a line, write nothing")
    _common(parser)
    return parser


def compare_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=f"{PROG} compare", help_command="python tools/report.py compare", allow_abbrev=False,
                     description="Compare two runs of a recipe: status changes, durations, context keys.")
    parser.add_argument("run_a", metavar="RUN_A", help="the reference run (id, start of one, or latest)")
    parser.add_argument("run_b", metavar="RUN_B", help="the run compared with it")
    parser.add_argument("--format", choices=COMPARE_FORMATS,
                        help="output format (default: from --output's name, e.g. x.xlsx; else text)")
    parser.add_argument("--force", action="store_true", help="compare runs of different recipes")
    _common(parser)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    is_compare, rest = _split_command(sys.argv[1:] if argv is None else argv)
    args = compare_parser().parse_args(rest) if is_compare else run_parser().parse_args(rest)
    try:
        return compare_runs(args) if is_compare else report_run(args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # an output that cannot be written: bad input, not a bug
        print(f"{PROG}: error: cannot write {exc.filename or args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # run with an interpreter that lacks the project's packages: not a bug
        print(f"{PROG}: error: the Python package {exc.name!r} is not installed for {sys.executable}; run it with "
              "the project's .venv/bin/python (make setup installs it)", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # noqa: BLE001 - the one boundary for bugs: short message, traceback to a file
        return _internal_error(args)


def _split_command(argv: list[str]) -> tuple[bool, list[str]]:
    """(is it `compare`, the other arguments): the word may come after options such as --workdir DIR."""
    takes_value = {"--run", "--format", "--output", "--workdir"}
    for i, token in enumerate(argv):
        if token == "compare" and (i == 0 or argv[i - 1] not in takes_value):
            return True, argv[:i] + argv[i + 1:]
        if not token.startswith("-") and (i == 0 or argv[i - 1] not in takes_value):
            break  # another positional word: not a compare command (the parser will say what is wrong)
    return False, argv


def report_run(args: argparse.Namespace) -> int:
    """Write one run's report in the chosen format; print where it went."""
    import reports
    from reports import model

    args.format = _check_output(args.output, args.format, tuple(FORMATS), "xlsx")
    if args.start_on_stdin:
        if args.format == "xlsx":
            from reports import excel  # noqa: F401 - imported now, while the run is still going
        if not sys.stdin.readline():
            return EXIT_OK  # the runner ended without finishing the run: nothing to write
    paths = Paths.for_workdir(args.workdir)
    db = model.open_db(paths)
    try:
        run_id = model.resolve_run_id(db, args.run)
        report = model.load_run(db, run_id, paths)
    finally:
        db.close()
    if args.output == "-":
        sys.stdout.write(reports.render(report, args.format))
        return EXIT_OK
    target = Path(args.output) if args.output else reports.default_target(paths.data, run_id, args.format)
    print(reports.write(report, args.format, target))
    return EXIT_OK


# file names that say their format (the longest suffix first: .junit.xml before .xml)
SUFFIX_FORMATS = ((".junit.xml", "junit"), (".xml", "junit"), (".xlsx", "xlsx"), (".json", "json"), (".txt", "text"))


def _check_output(output: Optional[str], fmt: Optional[str], formats: tuple[str, ...], default: str) -> str:
    """The format to write: --format, else the one --output's name says, else the default. Refuses an output
    whose name says another format, a folder, or a path through a file. (Missing folders are created, as
    pytest does for --junitxml.)"""
    named = next((f for suffix, f in SUFFIX_FORMATS if output and output.lower().endswith(suffix) and f in formats),
                 None)
    if fmt and named and fmt != named:
        raise UserError(f"--output {output} names a {named} file, but --format is {fmt}; give one that agrees")
    fmt = fmt or named or default
    if output == "-" and fmt == "xlsx":
        raise UserError("an xlsx workbook cannot go to standard output; give --output FILE.xlsx or another format")
    if output and output != "-":
        target = Path(output)
        if target.is_dir():
            raise UserError(f"--output {output} is a folder; give a file name")
        if target.parent.exists() and not target.parent.is_dir():
            raise UserError(f"--output {output}: {target.parent} is a file, not a folder")
    return fmt


def compare_runs(args: argparse.Namespace) -> int:
    """Compare two runs; text and JSON go to standard output unless --output names a file."""
    from reports import compare, model
    from reports.jsonsummary import write_text

    paths = Paths.for_workdir(args.workdir)
    args.format = _check_output(args.output, args.format, COMPARE_FORMATS, "text")
    db = model.open_db(paths)
    try:
        ids = [model.resolve_run_id(db, ref) for ref in (args.run_a, args.run_b)]
        a, b = (model.load_run(db, run_id, paths, with_history=False) for run_id in ids)
    finally:
        db.close()
    result = compare.compare(a, b, force=args.force)
    if args.format == "xlsx":
        target = Path(args.output) if args.output else compare_target(paths.data, ids[0], ids[1])
        print(compare.write_xlsx(result, target))
        return EXIT_OK
    import json

    text = compare.to_text(result) if args.format == "text" else json.dumps(compare.to_data(result), indent=2) + "\n"
    if args.output and args.output != "-":
        print(write_text(text, Path(args.output)))
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _internal_error(args: argparse.Namespace) -> int:
    from engine.errors import report_internal_error

    return report_internal_error(args.workdir, PROG, "report_crash")


if __name__ == "__main__":
    sys.exit(main())
