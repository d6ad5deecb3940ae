"""One attempt of a step as a supervised process: its own session, output straight into the log file,
timeout and tree kill (SIGTERM, a grace period, then SIGKILL), resource figures from wait4."""
import os
import re
import signal
import time
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from context import utc_now

from .errors import number_from_env
from .events import AttemptOutcome
from .secrets import Masker

if TYPE_CHECKING:
    import subprocess

KILL_GRACE = number_from_env("ORCH_KILL_GRACE", 5.0)
LINE_LIMIT = 64 * 1024  # a longer line is written in pieces so memory stays bounded
READ_SIZE = 1 << 20  # piped output is read in chunks this large
FIRST_SAMPLE = 0.05  # seconds after start of the first memory sample of a step's process tree
PAGE = os.sysconf("SC_PAGE_SIZE")
_DEVNULL = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # every step's stdin, shared


utc_stamp = utc_now  # one clock format for logs, events and the context


class Invocation(NamedTuple):
    """Everything needed to run one attempt of a step, as plain data (it can travel to another machine)."""

    step: str
    attempt: int
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    log_path: str
    timeout: Optional[float] = None
    stamp_lines: bool = False  # --debug: prefix every output line with its UTC time and stream
    secrets: tuple[str, ...] = ()  # values to mask in the output (never in repr, see below)
    limits: dict[str, int] = {}  # memory_mb, cpu_seconds, open_files (never mutated)
    pid_file: Optional[str] = None  # where the tree's pids are recorded, so a later runner can end orphans

    def __repr__(self) -> str:
        """Without env and secrets: a repr can end up in a log (Dask prints failed tasks' arguments)."""
        return f"Invocation(step={self.step!r}, attempt={self.attempt}, argv={self.argv!r})"

    @property
    def piped(self) -> bool:
        """Output passes through the runner (to stamp or mask it) instead of going straight to the log."""
        return self.stamp_lines or bool(self.secrets)


def _limiter(limits: dict[str, int]) -> Callable[[], None]:
    """A preexec function applying setrlimit in the child (only used for steps that declare limits)."""
    import resource

    table = {"memory_mb": (resource.RLIMIT_AS, 1048576), "cpu_seconds": (resource.RLIMIT_CPU, 1),
             "open_files": (resource.RLIMIT_NOFILE, 1)}

    def apply() -> None:
        for name, value in limits.items():
            kind, unit = table[name]
            # CPU: SIGXCPU at the soft limit, SIGKILL a second later if it is ignored
            hard = value + 1 if name == "cpu_seconds" else value
            resource.setrlimit(kind, (value * unit, hard * unit))
    return apply


LIMIT_SIGNS = {"memory_mb": (b"MemoryError", b"Cannot allocate memory", b"memory exhausted", b"std::bad_alloc",
                             b"out of memory"),
               "open_files": (b"Too many open files",)}


def log_tail(path: str, size: int = 8192) -> bytes:
    """The last `size` bytes of a step's log (b"" if it cannot be read); only read when an attempt failed."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - size))
            return fh.read()
    except OSError:
        return b""


LAST_LINE_LIMIT = 160  # characters of a failed step's last output line quoted in its reason
_STAMP = re.compile(rb"^\S+ (?:out|err)\| ")  # --debug's line prefix


def last_output_line(tail: bytes) -> Optional[str]:
    """The step's last non-empty output line (an error message, a traceback's last line), for its failure
    reason; None when the attempt printed nothing."""
    for raw in reversed(tail.splitlines()):
        line = _STAMP.sub(b"", raw).strip()
        if line.startswith(b"===== attempt "):
            return None  # the runner's own header: nothing after it
        if line:
            text = line.decode("utf-8", "replace")
            text = "".join(c if c.isprintable() else "?" for c in text)
            return text if len(text) <= LAST_LINE_LIMIT else text[:LAST_LINE_LIMIT - 3] + "..."
    return None


def limit_hit(inv: Invocation, code: int, cpu: float, tail: bytes) -> Optional[str]:
    """Which declared limit explains a failure: SIGXCPU or CPU time for cpu_seconds, the log's last lines for
    memory and open files (the process sees a failed allocation or open, not a signal)."""
    limits = inv.limits
    if "cpu_seconds" in limits and (code == -signal.SIGXCPU or cpu >= limits["cpu_seconds"] * 0.9):
        return f"cpu_seconds limit ({limits['cpu_seconds']} s) hit"
    for name, signs in LIMIT_SIGNS.items():
        if name in limits and any(sign in tail for sign in signs):
            unit = " MB" if name == "memory_mb" else ""
            return f"{name} limit ({limits[name]}{unit}) hit"
    return None


SIGNAL_HINTS = {signal.SIGXFSZ: " (file size limit reached: disk quota or ulimit -f)",
                signal.SIGSEGV: " (segmentation fault)", signal.SIGABRT: " (aborted)",
                signal.SIGKILL: " (from outside the runner: the kernel's OOM killer or an operator)",
                signal.SIGXCPU: " (CPU time limit reached)", signal.SIGPIPE: " (wrote to a closed pipe)"}


def _tree(root: int) -> list[int]:
    """root and all its descendants, from /proc/PID/task/TID/children (children that left the session too)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", "rb") as fh:
                    todo.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError):
            continue
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def start_ticks(pid: int) -> Optional[int]:
    """A process's start time in clock ticks since boot (/proc/PID/stat field 22): with the pid, an identity
    that a later process reusing the pid cannot have."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def rss_text(max_rss: int) -> str:
    """A tree's peak RSS for a log line; a step that ended before the first sample has none."""
    return f"peak rss {max_rss // 1024} KiB" if max_rss else f"peak rss not sampled: ended within {FIRST_SAMPLE:g} s"


def signal_name(number: int) -> str:
    try:
        known = signal.Signals(number)
        return known.name + SIGNAL_HINTS.get(known, "")
    except ValueError:
        return f"signal {number}"


class LogError(OSError):
    """The step's log cannot be opened or written (disk full, permissions): the attempt cannot start."""


class _LineWriter:
    """Writes a stream's output to the log line by line: secrets masked, optionally each line prefixed with
    `<UTC> <stream>| `. Holds at most LINE_LIMIT bytes of a partial line; when a longer line is cut, the last
    bytes are kept back so a secret split across the cut is still masked."""

    def __init__(self, log_fd: int, stream: str, stamp: bool, masker: Optional[Masker]) -> None:
        self.log_fd, self.stream, self.stamp, self.masker = log_fd, stream, stamp, masker
        self.partial = b""
        self.at_line_start = True
        self.error: Optional[str] = None

    def feed(self, data: bytes) -> None:
        data = self.partial + data
        end = data.rfind(b"\n") + 1  # complete lines end here; the rest waits for its newline
        self.partial = data[end:]
        complete = data[:end]
        if len(self.partial) > LINE_LIMIT:  # an endless line: write it in pieces, keep a tail for masking
            cut = len(self.partial) - (self.masker.longest if self.masker else 0)
            if self.masker:  # never through a secret (or the start of a longer form of one)
                cut = self.masker.safe_cut(self.partial, cut)
            complete += self.partial[:cut]
            self.partial = self.partial[cut:]
        if complete:
            self._write(complete)

    def _write(self, chunk: bytes) -> None:
        """Lines that arrived together share one time stamp: one replace per chunk, not a loop per line."""
        if self.masker:
            chunk = self.masker.bytes(chunk)
        if self.stamp:
            prefix = f"{utc_stamp()} {self.stream}| ".encode()
            starts_line = self.at_line_start
            chunk = (prefix if starts_line else b"") + chunk.replace(b"\n", b"\n" + prefix)
            if chunk.endswith(prefix):
                chunk = chunk[: -len(prefix)]
        self.at_line_start = chunk.endswith(b"\n")
        if self.error is None:
            try:
                os.write(self.log_fd, chunk)
            except OSError as exc:  # disk full: the output is lost, the step will say so
                self.error = f"could not write the step log: {exc.strerror}"

    def close(self) -> None:
        if self.partial:
            self._write(self.partial + b"\n")
            self.partial = b""


class StepProcess:
    """A running attempt. The executor watches `pidfd` (readable when the process ends) and any pipes."""

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.started = time.monotonic()
        self.started_at = utc_stamp()  # in the log's header and the run's records alike
        self.deadline = self.started + inv.timeout if inv.timeout else None
        self.kill_at: Optional[float] = None
        self.stop_reason: Optional[str] = None  # set when the runner ends the tree (timeout or abort)
        self.aborted = False
        self.pipes: dict[int, _LineWriter] = {}
        self._closed_writers: list[_LineWriter] = []
        self._popen: Optional[subprocess.Popen[bytes]] = None
        self.descendants: list[int] = []
        self.log_error: Optional[str] = None
        try:
            log_fd = os.open(inv.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LogError(f"cannot open the step log {inv.log_path}: {exc.strerror}") from None
        try:
            try:
                os.write(log_fd, f"===== attempt {inv.attempt} of step {inv.step} started {self.started_at} =====\n"
                         .encode())
            except OSError as exc:
                raise LogError(f"cannot write the step log {inv.log_path}: {exc.strerror}") from None
            self.pid, read_ends = self._start(inv, log_fd)
        except BaseException:
            os.close(log_fd)
            raise
        self.log_fd: Optional[int] = log_fd  # kept for the footer; the child has its own copy
        masker = Masker(inv.secrets) if inv.secrets else None
        for fd, stream in zip(read_ends, ("out", "err")):
            os.set_blocking(fd, False)
            self.pipes[fd] = _LineWriter(log_fd, stream, inv.stamp_lines, masker)
        self.pidfd = os.pidfd_open(self.pid)
        self.peak_rss = 0
        self.next_sample = self.started + FIRST_SAMPLE
        self._recorded: dict[int, str] = {}  # pid -> "pid create_time" line

    def _start(self, inv: Invocation, log_fd: int) -> tuple[int, list[int]]:
        """Start the process in its own session with stdin from /dev/null and output to the log (or to pipes
        the runner reads). posix_spawn (vfork + exec in C) is the fast path; Popen is used when the step
        needs setrlimit in the child or another working folder."""
        read_ends: list[int] = []
        outputs = [log_fd, log_fd]
        if inv.piped:
            pipes = [os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)]
            read_ends, outputs = [r for r, _ in pipes], [w for _, w in pipes]
        try:
            if not inv.limits and os.getcwd() == inv.cwd:
                actions = [(os.POSIX_SPAWN_DUP2, _DEVNULL, 0),
                           (os.POSIX_SPAWN_DUP2, outputs[0], 1), (os.POSIX_SPAWN_DUP2, outputs[1], 2)]
                pid = os.posix_spawn(inv.argv[0], list(inv.argv), inv.env, file_actions=actions, setsid=True,
                                     setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
            else:
                import subprocess  # only for steps with limits: its import costs every run otherwise

                self._popen = subprocess.Popen(inv.argv, cwd=inv.cwd, env=inv.env, stdin=subprocess.DEVNULL,
                                               stdout=outputs[0], stderr=outputs[1], start_new_session=True,
                                               preexec_fn=_limiter(inv.limits) if inv.limits else None)
                pid = self._popen.pid
        except BaseException:
            for fd in read_ends:
                os.close(fd)
            raise
        finally:
            if inv.piped:
                for fd in outputs:
                    os.close(fd)
        return pid, read_ends

    # ------------------------------------------------------------------ resource figures

    def _record_tree(self, tree: list[int]) -> None:
        """Write `pid start_ticks` of every process in the tree when it changes (setsid escapees included), so
        the next runner can end them if this one dies without hitting a reused pid."""
        new = [pid for pid in tree if pid not in self._recorded]
        if not self.inv.pid_file or not new:
            return
        for pid in new:
            ticks = start_ticks(pid)
            if ticks is not None:
                self._recorded[pid] = f"{pid} {ticks}\n"
        tmp = self.inv.pid_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.writelines(self._recorded.values())
        os.replace(tmp, self.inv.pid_file)

    def sample(self, now: float) -> None:
        """Add up the RSS of the whole tree and keep the peak. Sampling starts after FIRST_SAMPLE s and backs
        off to once a second, so short steps cost nothing. The tree is walked through /proc/PID/task/*/children
        (psutil's children() would scan every process on the machine). wait4's ru_maxrss cannot be used for
        memory: a child inherits the runner's own high-water mark across exec."""
        tree = _tree(self.pid)
        self._record_tree(tree)
        self.peak_rss = max(self.peak_rss, sum(_rss(pid) for pid in tree))
        self.next_sample = now + min(1.0, max(FIRST_SAMPLE, (now - self.started)))

    # ------------------------------------------------------------------ output (debug mode only)

    def read_pipe(self, fd: int, drain: bool = False) -> bool:
        """Copy one chunk into the log. False at end of file (or, when draining, when nothing is left)."""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return not drain
        if not data:
            writer = self.pipes.pop(fd)
            writer.close()
            os.close(fd)
            self._closed_writers.append(writer)
            return False
        self.pipes[fd].feed(data)
        return True

    # ------------------------------------------------------------------ ending the tree

    def _collect_descendants(self) -> None:
        """Remember the whole tree now, including children that left the process group with setsid."""
        self.descendants = sorted(set(self.descendants) | set(_tree(self.pid)[1:]))

    def _signal_tree(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in self.descendants:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def terminate(self, reason: str, aborted: bool = False) -> None:
        """SIGTERM the whole tree now, SIGKILL whatever is left after the grace period."""
        if self.stop_reason is None:
            self.stop_reason, self.aborted = reason, aborted
        self._collect_descendants()
        self._signal_tree(signal.SIGTERM)
        if self.kill_at is None:
            self.kill_at = time.monotonic() + KILL_GRACE

    def kill(self) -> None:
        self._collect_descendants()
        self._signal_tree(signal.SIGKILL)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    # ------------------------------------------------------------------ completion

    def reap(self) -> Optional[AttemptOutcome]:
        """The outcome if the process has ended, else None. Never blocks."""
        try:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        if self._popen is not None:
            self._popen.returncode = code  # reaped here; tells Popen not to wait or warn
        os.close(self.pidfd)
        for fd in list(self.pipes):
            while fd in self.pipes and self.read_pipe(fd, drain=True):
                pass
        for fd, writer in list(self.pipes.items()):
            writer.close()
            os.close(fd)
            self._closed_writers.append(writer)
        self.pipes.clear()
        for writer in self._closed_writers:
            self.log_error = self.log_error or writer.error
        stragglers = self._end_stragglers()
        outcome = self._outcome(code, usage, stragglers)
        self._write_footer(outcome)
        return outcome

    def _end_stragglers(self) -> int:
        """Background processes the step left in its group: ended, so no step outlives its run."""
        if not self.group_alive() and not self.descendants:
            return 0
        self._collect_descendants()
        self._signal_tree(signal.SIGKILL)
        return len(self.descendants) or 1

    def _outcome(self, code: int, usage: Any, stragglers: int) -> AttemptOutcome:
        duration = time.monotonic() - self.started
        figures = dict(duration=duration, cpu=usage.ru_utime + usage.ru_stime, max_rss=self.peak_rss,
                       stragglers=stragglers, ended=utc_stamp())
        if self.stop_reason:
            return AttemptOutcome(exit_code=code, signal=-code if code < 0 else None, timed_out=not self.aborted,
                                  aborted=self.aborted, reason=self.stop_reason, **figures)
        tail = log_tail(self.inv.log_path) if code != 0 else b""
        limit = limit_hit(self.inv, code, figures["cpu"], tail) if self.inv.limits and code != 0 else None
        said = last_output_line(tail) if code > 0 and not limit else None
        suffix = f": {limit}" if limit else f": {said}" if said else ""
        if code < 0:
            return AttemptOutcome(exit_code=None, signal=-code, reason=f"killed by {signal_name(-code)}{suffix}",
                                  **figures)
        if code != 0:
            return AttemptOutcome(exit_code=code, reason=f"exit code {code}{suffix}", **figures)
        return AttemptOutcome(exit_code=0, reason=self.log_error, **figures)

    def _write_footer(self, outcome: AttemptOutcome) -> None:
        verdict = "ok" if outcome.ok else outcome.reason
        line = (f"===== attempt {self.inv.attempt} ended {outcome.ended}: {verdict} "
                f"({outcome.duration:.3f} s, cpu {outcome.cpu:.3f} s, {rss_text(outcome.max_rss)}) =====\n")
        try:
            if self.log_fd is not None:
                os.write(self.log_fd, line.encode())
        except OSError:
            pass  # disk full: the outcome itself is recorded elsewhere
        finally:
            if self.log_fd is not None:
                os.close(self.log_fd)
                self.log_fd = None
