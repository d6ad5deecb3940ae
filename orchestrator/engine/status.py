"""Statuses of steps and runs: values, never bare strings."""
from __future__ import annotations

import enum


class StepStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABORTED = "aborted"
    REUSED = "reused"  # succeeded in the run this one resumes; not run again

    @property
    def ok(self) -> bool:
        """True when dependents may use this step's results."""
        return self in (StepStatus.SUCCEEDED, StepStatus.REUSED)


class Verdict(str, enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"
    CRASHED = "crashed"
