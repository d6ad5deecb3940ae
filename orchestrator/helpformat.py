"""argparse's help formatters without their start-up cost, for the runner's and the scriptlets' command lines.

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
    from typing import Optional


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

    known = [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]
    for token in message[len(prefix):].split():
        close = difflib.get_close_matches(token.split("=", 1)[0], known, n=1) if token.startswith("-") else []
        if close:
            return f"{message} (did you mean {close[0]}?)"
    return message
