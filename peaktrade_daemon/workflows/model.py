"""Value types of the workflow engine: states, run records, what a workflow returns, events."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.events import Event


class WorkflowState(StrEnum):
    """``pending → running → completed | failed | cancelled | timed_out``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        """True once the run can no longer change."""
        return self not in (WorkflowState.PENDING, WorkflowState.RUNNING)


@dataclass(frozen=True, slots=True)
class WorkflowAlert:
    """An alert a workflow wants raised (a risk limit breach, a failed scan)."""

    level: AlertLevel
    message: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkflowOutput:
    """What a workflow produced: a JSON-able summary, a short Markdown report, extra files
    (``name -> bytes``, e.g. a PNG chart) and alerts. The engine writes and raises them unless
    the run is a dry run."""

    summary: Mapping[str, Any]
    markdown: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    alerts: tuple[WorkflowAlert, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """Everything a workflow implementation gets for one run."""

    run_id: str
    name: str
    workflow_type: str
    parameters: Mapping[str, Any]
    dry_run: bool
    started_at: datetime


@dataclass(slots=True)
class WorkflowRecord:
    """The engine's live view of one run (mutable until final)."""

    run_id: str
    name: str
    workflow_type: str
    parameters: dict[str, Any]
    created_at: datetime
    trigger: str = "manual"
    tag: str | None = None
    timeout_s: float | None = None
    state: WorkflowState = WorkflowState.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    report_dir: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    cancel_reason: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowResult:
    """The outcome of ``execute_workflow``."""

    run_id: str
    workflow_type: str
    state: WorkflowState
    success: bool
    duration_s: float
    summary: Mapping[str, Any]
    error: str | None = None
    report_dir: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowFinished(Event):
    """Published when a run reaches a final state."""

    run_id: str
    workflow_type: str
    state: WorkflowState
    duration_s: float
    error: str | None = None


WorkflowFn = Callable[[WorkflowRun], Coroutine[Any, Any, WorkflowOutput]]
