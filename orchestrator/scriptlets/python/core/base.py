"""BaseScriptlet: a step written as a class, runnable on its own or by the runner.

The harness `cli()` parses the flags, opens the context (the run's, `--ctx FILE`, or an in-memory one),
calls `validate` (a refusal exits 2 with the message), calls `run`, prints the JSON result on stdout and
exits 0 (success), 1 (the step failed) or 2 (bad usage or input).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every step start; annotations are strings here anyway
    from typing import Any, Optional

from context import Context, ContextError, open_context
from helpformat import HelpFormatter, Parser

from .log import get_logger
from .resources import track_resources

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Raise from validate() or run() for bad input: the harness prints the message and exits 2."""


class StepFailed(Exception):
    """Raise from run() when the work itself failed: the harness prints the message and exits 1."""


class BaseScriptlet:
    """Subclass it, define add_arguments() and run(); optionally validate()."""

    #: set by the harness; a logger writing UTC-stamped lines to stderr (the step's log under the runner)
    log = get_logger("scriptlet")
    #: also record the peak Python allocation of run() (tracemalloc: slow, so off by default)
    track_memory = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the scriptlet's flags (argparse)."""

    def validate(self, ctx: Context, params: dict[str, Any]) -> None:
        """Refuse bad input before any work: raise UsageError (or ValueError) with a clear message."""

    def run(self, ctx: Context, params: dict[str, Any]) -> Any:
        """Do the work; return a JSON-serializable result (printed on stdout) or None."""
        raise UsageError(f"{type(self).__name__} defines no run(ctx, params)")

    # ------------------------------------------------------------------ the harness

    @classmethod
    def _target(cls) -> type["BaseScriptlet"]:
        """The class the recipe's `function:` names (ORCH_SCRIPTLET_CLASS), else cls."""
        wanted = os.environ.get("ORCH_SCRIPTLET_CLASS")
        if not wanted or wanted == cls.__name__:
            return cls
        found = getattr(sys.modules.get(cls.__module__), wanted, None)
        if not (isinstance(found, type) and issubclass(found, BaseScriptlet)):
            raise UsageError(f"{cls.__module__} has no BaseScriptlet class {wanted!r} (from the recipe's 'function:')")
        return found

    @classmethod
    def doc(cls) -> str:
        module = sys.modules.get(cls.__module__)
        return (getattr(module, "__doc__", None) or cls.__doc__ or "").strip()

    @classmethod
    def build_parser(cls, instance: "BaseScriptlet") -> argparse.ArgumentParser:
        doc = cls.doc()
        summary, _, rest = doc.partition("\n\n")
        module = cls.__module__
        if module == "__main__":  # run with -m: the spec knows the real name; run as a file: the file name
            spec = getattr(sys.modules["__main__"], "__spec__", None)
            prog = f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])
        else:
            prog = f"python -m {module}"
        parser = Parser(prog=prog, description=summary, epilog=rest or None, formatter_class=HelpFormatter)
        instance.add_arguments(parser)
        common = parser.add_argument_group("common options")
        common.add_argument("--ctx", metavar="FILE",
                            help="use this JSON context file (standalone); under the runner the run's context is used")
        common.add_argument("--debug", action="store_true", help="log at DEBUG level (also ORCH_DEBUG=1)")
        return parser

    @classmethod
    def cli(cls, argv: Optional[list[str]] = None) -> int:
        """Parse, build ctx, validate, run, print the JSON result; return the exit code."""
        name = cls.__name__
        try:
            target = cls._target()
            instance = target()
            parser = target.build_parser(instance)
            args = parser.parse_args(argv)  # argparse exits 2 itself on a bad flag
            debug = args.debug or os.environ.get("ORCH_DEBUG") in ("1", "true", "yes")
            target.log = get_logger(os.environ.get("ORCH_STEP") or target.__name__, debug=debug)
            params = {k: v for k, v in vars(args).items() if k not in ("ctx", "debug")}
            ctx = open_context(ctx_file=args.ctx)
            instance.validate(ctx, params)
        except (UsageError, ValueError, ContextError, OSError) as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            with track_resources("run", memory=target.track_memory, log=target.log):  # into the step's metadata
                result = instance.run(ctx, params)
        except UsageError as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (StepFailed, ContextError) as exc:
            ctx.flush()  # what a failing step recorded (a verdict, diagnostics) is kept, as under the runner
            print(f"{name}: failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except Exception:  # a bug in the scriptlet: the traceback is what its author needs, in the step log
            import traceback

            traceback.print_exc()
            return EXIT_FAILED
        ctx.flush()
        if result is not None:
            sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        return EXIT_OK
