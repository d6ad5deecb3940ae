"""Events the engine publishes; the console, logs, run database and later graph/reports/hooks subscribe.

Events and outcomes are NamedTuples: immutable, cheap to build (one per step and attempt), and cheap to define
(dataclasses cost ~1.5 ms each at start-up, which every run pays)."""
import sys
from typing import Any, Callable, NamedTuple, Optional, Protocol

from .status import StepStatus, Verdict


class AttemptOutcome(NamedTuple):
    """How one attempt of a step ended: a value, never an exception."""

    exit_code: Optional[int]
    signal: Optional[int] = None
    timed_out: bool = False
    aborted: bool = False
    duration: float = 0.0
    cpu: float = 0.0
    max_rss: int = 0  # bytes, peak of the process tree that was waited for
    reason: Optional[str] = None  # None when the attempt succeeded
    stragglers: int = 0  # background processes left behind and ended by the runner
    ended: Optional[str] = None  # UTC ISO, when the end was seen (the log's footer shows the same time)

    @property
    def ok(self) -> bool:
        return self.reason is None


class StepResult(NamedTuple):
    name: str
    status: StepStatus
    attempts: int = 0
    started: Optional[str] = None  # UTC ISO
    ended: Optional[str] = None
    duration: float = 0.0
    cpu: float = 0.0
    max_rss: int = 0
    exit_code: Optional[int] = None
    reason: Optional[str] = None
    log_path: Optional[str] = None
    tolerated: bool = False  # failed with continue_on_error
    reused_from: Optional[str] = None
    metadata: dict[str, Any] = {}  # figures scriptlets recorded (never mutated: the default is shared)


class RunStarted(NamedTuple):
    run_id: str
    recipe: Any  # Recipe
    plan: Any  # Plan
    started: str
    argv: tuple[str, ...]
    log_prefix: str
    ctx_path: str


class Decision(NamedTuple):
    """Something the runner decided (a step selected, waiting on a resource, skipped...)."""

    text: str
    step: Optional[str] = None
    at: Optional[str] = None  # UTC ISO, when it was decided


class StepStarted(NamedTuple):
    step: str
    attempt: int
    pid: int
    log_path: str
    started: str


class StepOutput(NamedTuple):
    step: str
    stream: str
    data: bytes


class AttemptFinished(NamedTuple):
    step: str
    attempt: int
    outcome: AttemptOutcome
    retry_in: Optional[float]  # seconds until the next attempt, None when there is none
    at: Optional[str] = None  # UTC ISO, when the runner saw the attempt end


class ContextCommitted(NamedTuple):
    step: str
    attempt: int
    keys: tuple[str, ...]
    conflicts: tuple[str, ...]
    head: int
    at: Optional[str] = None  # UTC ISO, when the writes were committed


class StepFinished(NamedTuple):
    result: StepResult


class RunFinished(NamedTuple):
    run_id: str
    verdict: Verdict
    results: tuple[StepResult, ...]
    started: str
    ended: str
    duration: float
    conflicts: tuple[str, ...] = ()


class Subscriber(Protocol):
    def handle(self, event: object) -> None: ...


class Dispatching:
    """A subscriber whose `handle` routes each event to the method its `handlers` maps the event's exact type to.
    The bus hands every event to every subscriber, several events per step: one dict lookup each is cheaper than
    a chain of isinstance checks."""

    handlers: dict[type, Callable[[Any], None]] = {}

    def handle(self, event: object) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)


class EventBus:
    """Delivers each event to every subscriber in order. A subscriber that raises is detached with a warning,
    so a full disk under the database never stops the run itself.

    `post` queues an event and `deliver` hands the queue over, then lets subscribers that buffer (`flush`)
    write out: the run loop starts the next steps first and does the bookkeeping while they run."""

    def __init__(self, subscribers: Optional[list[Subscriber]] = None) -> None:
        self.subscribers: list[Subscriber] = list(subscribers or [])
        self.pending: list[object] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def post(self, event: object) -> None:
        self.pending.append(event)

    def deliver(self) -> None:
        if not self.pending:
            return
        events, self.pending = self.pending, []
        for subscriber in list(self.subscribers):
            try:
                for event in events:
                    subscriber.handle(event)
                flush = getattr(subscriber, "flush", None)
                if flush:
                    flush()
            except Exception as exc:  # noqa: BLE001 - a sink must never stop the run
                self.subscribers.remove(subscriber)
                print(f"warning: {type(subscriber).__name__} stopped after an error: {exc}", file=sys.stderr)

    def close(self) -> None:
        self.deliver()
        for subscriber in self.subscribers:
            close = getattr(subscriber, "close", None)
            if close:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001
                    print(f"warning: closing {type(subscriber).__name__} failed: {exc}", file=sys.stderr)


class Recorder:
    """Keeps every event: for tests that assert on what the engine published."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def handle(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
