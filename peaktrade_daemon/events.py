"""Events that cross stages on the bus. Every event is a frozen dataclass deriving from Event.

Subsystems declare their own event classes next to their value types (for example
``learning/models.py`` for published patches); the bus routes by class, so any module may define
them. Lifecycle events of the daemon itself live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from peaktrade_daemon.alerts.model import Alert


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event."""


class RunState(StrEnum):
    """The daemon's run state (§3.3); allowed moves are in :data:`RUN_STATE_TRANSITIONS`."""

    STARTING = "starting"
    RUNNING = "running"
    RELOADING = "reloading"
    STOPPING = "stopping"
    STOPPED = "stopped"


RUN_STATE_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.STARTING: frozenset({RunState.RUNNING, RunState.STOPPING}),
    RunState.RUNNING: frozenset({RunState.RELOADING, RunState.STOPPING}),
    RunState.RELOADING: frozenset({RunState.RUNNING, RunState.STOPPING}),
    RunState.STOPPING: frozenset({RunState.STOPPED}),
    RunState.STOPPED: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStateChanged(Event):
    """The daemon moved from ``previous`` to ``current``; ``reason`` says why (signal, error...)."""

    previous: RunState
    current: RunState
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReloaded(Event):
    """A SIGHUP reload validated and swapped in snapshot number ``generation``."""

    generation: int
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReloadFailed(Event):
    """A reload was refused; the previous snapshot stays in force."""

    error: str
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentFailed(Event):
    """A supervised component's ``run()`` raised; it is restarted after ``backoff_s``."""

    component: str
    error: str
    restarts: int
    backoff_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleFinished(Event):
    """One autonomous cycle ended (``--once`` or a continuous-mode poll)."""

    success: bool
    duration_s: float
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(Event):
    """An alert passed de-duplication and was recorded (log line written, outbox queued)."""

    alert: Alert
    alert_id: int | None = None
