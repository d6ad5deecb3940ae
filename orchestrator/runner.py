"""Run a YAML recipe: every step as its own supervised process, serially or in parallel.

    python runner.py --recipe recipes/demo.yaml            (from orchestrator/)
    python orchestrator/runner.py --recipe recipes/demo.yaml   (from the repository root)

Exit codes: 0 success, 1 a step failed, 2 bad usage or input, 130/143 interrupted (SIGINT/SIGTERM),
3 an internal error (its traceback is written to Logs/ and named).
"""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import NoReturn, Optional

from engine.errors import EXIT_OK, UserError, write_out
from helpformat import Parser, WrappingHelpFormatter


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="runner.py", help_command="python runner.py", description=__doc__.split("\n\n")[0],
                     epilog="Exit codes: 0 success, 1 a step failed, 2 bad usage or input, 130/143 interrupted.",
                     allow_abbrev=False, formatter_class=WrappingHelpFormatter)
    parser.add_argument("--recipe", required=True, type=Path, metavar="FILE", help="the recipe, e.g. recipes/demo.yaml")
    parser.add_argument("--only", type=_names, default=(), metavar="A,B",
                        help="run just these steps; their upstream results come from the latest run (or --run-id)")
    parser.add_argument("--skip", type=_names, default=[], metavar="C", action="extend",
                        help="do not run these steps (comma-separated; repeatable)")
    parser.add_argument("--resume-from", metavar="STEP",
                        help="re-run STEP and everything after it, keeping the earlier steps' results and context")
    parser.add_argument("--run-id", metavar="ID",
                        help="the run that --resume-from/--only builds on: its id, or the start or end of one "
                             "(e.g. bd49); default: the latest run of the recipe")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (order, waves, selection) and exit")
    parser.add_argument("--list", action="store_true", help="list the steps with their descriptions and exit")
    parser.add_argument("--validate", action="store_true", help="check the recipe and exit (0 valid, 2 invalid)")
    parser.add_argument("--parallel", type=int, metavar="N", help="run in parallel mode with N slots")
    parser.add_argument("--executor", choices=("local", "dask"),
                        help="where steps run: local processes (default) or a Dask cluster")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --executor dask; "
                             "without it, dask starts a local cluster for the run)")
    parser.add_argument("--debug", action="store_true",
                        help="stamp every captured output line with UTC time and stream")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="folder for Data/, Logs/ and steps' cwd (default: orchestrator/, or $ORCH_WORKDIR)")
    parser.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    parser.add_argument("--no-graph", action="store_true", help="do not draw Assets/step_sequence.png/.svg")
    parser.add_argument("--no-report", action="store_true", help="do not write the Excel report at the end")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args, list(sys.argv if argv is None else ["runner.py", *argv]))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the one boundary for bugs: short message, traceback to a file
        return _internal_error(args)


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    from engine import run
    from engine.console import format_plan, make_console
    from engine.plan import Selection

    options = run.RunOptions(
        recipe=args.recipe,
        selection=Selection(only=args.only, skip=tuple(args.skip), resume_from=args.resume_from),
        base_run_id=args.run_id, dry_run=args.dry_run or args.list or args.validate, parallel=args.parallel,
        debug=args.debug, workdir=args.workdir, executor=args.executor, scheduler=args.scheduler,
        graph=not args.no_graph, report=not args.no_report, argv=tuple(argv))
    if args.list or args.validate or args.dry_run:
        gc.disable()  # a short read-only command: the cyclic collector would only rescan the recipe's objects
        result = run.execute(options)
        recipe = result.plan.recipe
        if args.validate:
            write_out(f"{recipe.path}: valid ({len(recipe.steps)} steps)")
        elif args.list:
            from engine.catalog import describe_steps
            from engine.paths import Paths

            write_out(describe_steps(recipe, Paths.for_workdir(args.workdir).search))
        else:
            serial = recipe.mode == "serial" and args.parallel is None
            write_out(format_plan(result.plan, serial, 1 if serial else (args.parallel or recipe.max_parallel)))
            if not args.no_graph:
                from engine.graph import render_plan
                from engine.paths import Paths

                drawn = render_plan(recipe, result.plan, Paths.for_workdir(args.workdir).assets)
                write_out(f"graph: {drawn.files[-1]}" if drawn.files else "")
        return EXIT_OK
    options = options._replace(subscribers=(make_console(force_plain=args.plain),))
    gc.enable()  # paused for the imports (see _cli); a run can be long and must collect its garbage
    result = run.execute(options)
    outputs = [f"{name}: {path}" for name, path in (("report", result.report), ("graph", result.graph)) if path]
    if outputs:
        write_out("   ".join(outputs))
    return result.exit_code


def _internal_error(args: argparse.Namespace) -> int:
    from engine.errors import report_internal_error

    return report_internal_error(args.workdir, "runner.py", "crash")


def _cli() -> NoReturn:
    """The command itself. The cyclic collector is paused while the modules import (nothing they create is
    garbage; a dozen passes would cost ~4 ms). At the end the process exits without the interpreter's teardown,
    as mypy does: freeing every module and object of the run one by one costs ~11 ms and keeps nothing."""
    gc.disable()
    code = main()
    fast_exit(code)


def fast_exit(code: int) -> NoReturn:
    """Exit now: exit handlers run and the standard streams are flushed, then the process ends without tearing
    down the interpreter. Only when no other thread runs (the run has joined its own): else a normal exit."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone (`| head`): nothing left to deliver
            pass
    os._exit(code)


if __name__ == "__main__":
    _cli()
