"""Resource tracking for scriptlets: wall time, CPU, peak RSS and, when asked, peak Python allocation.

    with track_resources("load") as figures:      # a context manager...
        data = load(path)

    @tracked("fit", memory=True)                   # ...or a decorator
    def fit(data): ...

The figures go into the step's metadata (the run database's steps.metadata under the runner, the log when
standalone), never into the user's context keys. Peak RSS is the process's own high-water mark (VmHWM);
tracemalloc is off unless memory=True because it slows allocation-heavy code several times.
"""
from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])


def peak_rss_bytes() -> int:
    """This process's peak resident set size. (ru_maxrss would include the parent's memory inherited at exec.)"""
    try:  # bytes: a text read would import the ascii codec, ~0.3 ms of every step
        with open("/proc/self/status", "rb") as fh:
            for line in fh.read().splitlines():
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def record_metadata(label: str, figures: dict[str, Any], log: Any = None) -> None:
    """Attach figures to the current step: its journal under the runner, else a DEBUG line on log."""
    journal = os.environ.get("ORCH_CTX_JOURNAL")
    line = json.dumps({"op": "meta", "key": label, "value": figures})
    if journal:
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    elif log is not None:
        log.debug("resources %s: %s", label, json.dumps(figures))


@contextmanager
def track_resources(label: str = "run", memory: bool = False, log: Any = None) -> Iterator[dict[str, Any]]:
    """Measure the block; the yielded dict is filled in (and recorded) when the block ends."""
    figures: dict[str, Any] = {}
    if memory:
        import tracemalloc

        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield figures
    finally:
        figures.update(wall_s=round(time.perf_counter() - wall, 6), cpu_s=round(time.process_time() - cpu, 6),
                       peak_rss_mb=round(peak_rss_bytes() / 1048576, 2))
        if memory:
            figures["peak_python_alloc_mb"] = round(tracemalloc.get_traced_memory()[1] / 1048576, 3)
            tracemalloc.stop()
        record_metadata(label, figures, log)


def tracked(label: str | None = None, memory: bool = False) -> Callable[[F], F]:
    """Decorator form of track_resources; the label defaults to the function's name."""
    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with track_resources(label or func.__name__, memory=memory):
                return func(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap
