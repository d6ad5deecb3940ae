"""argparse for the runner's, the tools' and the scriptlets' command lines: help formatters without their start-up
cost, and a parser whose errors end in a "did you mean" and the command that prints the help.

argparse builds a formatter for every add_argument() (to check the metavar), and the stock formatter calls
shutil.get_terminal_size(), so merely building a parser imports shutil, which brings bz2, lzma and zlib:
~3 ms at the start of every step and of every runner call, for a width.
"""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: every step would pay for it
if TYPE_CHECKING:
    from typing import Any, NoReturn, Optional

EXIT_USAGE = 2  # engine.errors.EXIT_USAGE; not imported from there: scriptlets use this module without the engine


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns: COLUMNS, else the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, closed, detached, or not a terminal
        return 80


class WrappingHelpFormatter(argparse.HelpFormatter):
    """argparse's default formatter (descriptions re-wrapped), sized the same way without shutil."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         terminal_columns() - 2 if width is None else width)


class HelpFormatter(WrappingHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """RawDescriptionHelpFormatter (descriptions keep their line breaks: a scriptlet's docstring), same width."""


def with_suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's error message, plus "did you mean --dry-run?" when an unrecognized option is close to a known
    one (argparse suggests nothing before Python 3.14)."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    import difflib

    known = _long_options(parser)
    for token in message[len(prefix):].split():
        close = difflib.get_close_matches(token.split("=", 1)[0], known, n=1) if token.startswith("-") else []
        if close:
            return f"{message} (did you mean {close[0]}?)"
    return message


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    """The parser's --options and its subcommands' (the top parser reports a subcommand's unknown options)."""
    found: list[str] = []
    for action in parser._actions:
        found += [opt for opt in action.option_strings if opt.startswith("--") and opt not in found]
        for sub in (action.choices or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
            found += [opt for opt in _long_options(sub) if opt not in found]
    return found


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error is its usage and one line: argparse's message, a "did you mean" for a
    misspelled option, and the command that prints the help; exit 2, as for every other bad input."""

    show_usage = True

    def __init__(self, *args: Any, help_command: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_command = help_command or self.prog

    def error(self, message: str) -> NoReturn:
        if self.show_usage:
            self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {with_suggestion(self, message)}; see '{self.help_command} --help'",
              file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class OneLineParser(Parser):
    """A Parser whose error is the one line alone, without the usage (the tools' commands)."""

    show_usage = False
