"""Executors run step attempts. The run loop only submits invocations, waits for outcomes and cancels;
so a distributed executor (Dask) can replace the local one without touching scheduling."""
from __future__ import annotations

import os
import selectors
import time
from typing import Callable, Optional, Protocol

from .events import AttemptOutcome
from .process import Invocation, LogError, StepProcess

Finished = list[tuple[Invocation, AttemptOutcome]]


class Executor(Protocol):
    def submit(self, inv: Invocation) -> Optional[AttemptOutcome]:
        """Start an attempt; an outcome at once when it could not even start."""

    def wait(self, timeout: Optional[float]) -> Finished:
        """Block until an attempt ends, a signal arrives, or timeout; return the attempts that ended."""

    def cancel_all(self, reason: str) -> None:
        """End every running attempt's process tree (SIGTERM, grace, SIGKILL)."""

    def kill_all(self) -> None: ...

    @property
    def running(self) -> int: ...

    def wakeup_fd(self) -> int:
        """A file descriptor for signal.set_wakeup_fd: writing to it ends a wait()."""

    def close(self) -> None: ...


class LocalExecutor:
    """Runs attempts as local processes, watched with pidfds in one selector: no threads, no polling."""

    def __init__(self, on_start: Optional[Callable[[Invocation, int, Optional[str]], None]] = None) -> None:
        self.selector = selectors.DefaultSelector()
        self.procs: dict[str, StepProcess] = {}
        self.on_start = on_start
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)

    @property
    def running(self) -> int:
        return len(self.procs)

    def wakeup_fd(self) -> int:
        return self._wake_w

    def submit(self, inv: Invocation) -> Optional[AttemptOutcome]:
        """Start the attempt. Returns an outcome at once if the process could not even start."""
        try:
            proc = StepProcess(inv)
        except LogError as exc:
            return AttemptOutcome(exit_code=None, reason=str(exc))
        except OSError as exc:
            return AttemptOutcome(exit_code=None, reason=f"could not start {inv.argv[0]!r}: {exc.strerror or exc}")
        self.procs[inv.step] = proc
        self.selector.register(proc.pidfd, selectors.EVENT_READ, (proc, None))
        for fd in proc.pipes:
            self.selector.register(fd, selectors.EVENT_READ, (proc, fd))
        if self.on_start:
            self.on_start(inv, proc.pid, proc.started_at)
        return None

    def _next_deadline(self) -> Optional[float]:
        times = [t for p in self.procs.values()
                 for t in (p.deadline if p.stop_reason is None else None, p.kill_at, p.next_sample) if t is not None]
        return min(times) if times else None

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for proc in self.procs.values():
            if now >= proc.next_sample:
                proc.sample(now)
            if proc.stop_reason is None and proc.deadline is not None and now >= proc.deadline:
                proc.terminate(f"timed out after {proc.inv.timeout:g} s (process tree terminated)")
            elif proc.kill_at is not None and now >= proc.kill_at:
                proc.kill()
                proc.kill_at = None

    def wait(self, timeout: Optional[float]) -> Finished:
        deadline = self._next_deadline()
        if deadline is not None:
            until = max(0.0, deadline - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        finished: Finished = []
        ready = [key.data for key, _ in self.selector.select(timeout)]
        if None in ready:
            self._drain_wakeups()
        # pipes before exits: an exit closes its pipes, so their events in this batch would be stale
        ready.sort(key=lambda data: data is None or data[1] is None)
        for data in ready:
            if data is None:
                continue
            proc, pipe_fd = data
            if pipe_fd is not None:
                if pipe_fd in proc.pipes and not proc.read_pipe(pipe_fd):
                    self.selector.unregister(pipe_fd)
                continue
            outcome = self._reap(proc)
            if outcome is not None:
                finished.append((proc.inv, outcome))
        self._enforce_deadlines()
        return finished

    def _reap(self, proc: StepProcess) -> Optional[AttemptOutcome]:
        self.selector.unregister(proc.pidfd)
        for fd in proc.pipes:
            self.selector.unregister(fd)
        outcome = proc.reap()
        if outcome is None:  # pidfd said ready but wait4 found nothing: watch again
            self.selector.register(proc.pidfd, selectors.EVENT_READ, (proc, None))
            return None
        del self.procs[proc.inv.step]
        return outcome

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def cancel_all(self, reason: str) -> None:
        for proc in self.procs.values():
            proc.terminate(reason, aborted=True)

    def kill_all(self) -> None:
        for proc in self.procs.values():
            proc.kill()

    def close(self) -> None:
        self.kill_all()
        deadline = time.monotonic() + 5
        while self.procs and time.monotonic() < deadline:
            self.wait(0.1)
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
