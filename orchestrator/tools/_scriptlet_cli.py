"""What the tools share: argparse that fails in one line, and the `--root` orchestrator folder.

A tool script puts orchestrator/ first on `sys.path` and tools/ last (see the top of tools/scriptlets.py),
then imports this module as `_scriptlet_cli`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from engine.catalog import HOME, PYTHON_DIR, SHELL_DIR
from helpformat import OneLineParser as Parser  # noqa: F401 - the tools' parser: errors in one line, no usage

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Usage(Exception):
    """Bad usage or input found after parsing: printed as one line, exit 2."""


def add_root(parser: argparse.ArgumentParser, default: Optional[str] = None) -> None:
    """The --root option: the orchestrator folder to work on (default: this one)."""
    parser.add_argument("--root", metavar="DIR", default=default,
                        help="another checkout's orchestrator folder (holding scriptlets/) to work on instead "
                             "of this one; tests/ and docs/ are taken beside it (not a work folder: see the "
                             "README, Scriptlets)")


def root_dir(given: Optional[str]) -> Path:
    """The orchestrator folder to work on: --root DIR when given (checked), else the one holding this tool."""
    if not given:
        return HOME
    root = Path(given).expanduser().resolve()
    if not root.is_dir():
        raise Usage(f"--root {given}: no such folder")
    if not ((root / PYTHON_DIR).is_dir() or (root / SHELL_DIR).is_dir()):
        raise Usage(f"--root {given}: not an orchestrator folder (it has neither {PYTHON_DIR}/ nor {SHELL_DIR}/)")
    return root


def shown(path: Path, root: Path) -> str:
    """A path as users see it: relative to the repository root (the orchestrator folder's parent) if inside."""
    try:
        return path.resolve().relative_to(root.parent).as_posix()
    except ValueError:
        return str(path)

