"""Logging for scriptlets: `2026-01-01T00:00:00.000Z LEVEL name: message` lines on stderr (the step's log
under the runner). The interface of logging.Logger (debug/info/warning/error/exception with %-style
arguments), without importing the logging package: every step start pays for what the SDK imports."""
from __future__ import annotations

import sys
import time

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class StepLogger:
    def __init__(self, name: str, debug: bool = False) -> None:
        self.name = name
        self.threshold = LEVELS["DEBUG" if debug else "INFO"]

    def is_enabled_for(self, level: str) -> bool:
        return LEVELS[level] >= self.threshold

    def _log(self, level: str, message: str, args: tuple[object, ...]) -> None:
        if LEVELS[level] < self.threshold:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        if len(args) == 1 and isinstance(args[0], dict):  # logging's rule: one mapping fills %(name)s fields
            text = message % args[0]
        else:
            text = message % args if args else message
        sys.stderr.write(f"{stamp} {level} {self.name}: {text}\n")
        sys.stderr.flush()

    def debug(self, message: str, *args: object) -> None:
        self._log("DEBUG", message, args)

    def info(self, message: str, *args: object) -> None:
        self._log("INFO", message, args)

    def warning(self, message: str, *args: object) -> None:
        self._log("WARNING", message, args)

    def error(self, message: str, *args: object) -> None:
        self._log("ERROR", message, args)

    def exception(self, message: str, *args: object) -> None:
        """error() plus the traceback of the exception being handled."""
        import traceback

        self._log("ERROR", message + "\n" + traceback.format_exc().rstrip(), args)


def get_logger(name: str, debug: bool = False) -> StepLogger:
    """A logger for a scriptlet; DEBUG lines only with debug=True (--debug or ORCH_DEBUG=1)."""
    return StepLogger(name, debug)
