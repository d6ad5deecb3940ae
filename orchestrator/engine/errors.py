"""Exit codes and the errors that carry a message for the user."""
from __future__ import annotations

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class UserError(Exception):
    """Bad usage or bad input: printed as one message, exit code 2, never a traceback."""

    exit_code = EXIT_USAGE


class RecipeError(UserError):
    """A recipe that cannot be loaded; the message names the file, line and field."""
