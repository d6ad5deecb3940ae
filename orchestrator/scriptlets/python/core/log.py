"""Logging for scriptlets: UTC timestamps on stderr (the step's log under the runner)."""
from __future__ import annotations

import logging
import sys
import time


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def get_logger(name: str, debug: bool = False) -> logging.Logger:
    """A logger writing `2026-01-01T00:00:00.000Z LEVEL name: message` lines to stderr."""
    logger = logging.getLogger(f"orch.{name}")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_UTCFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    return logger
