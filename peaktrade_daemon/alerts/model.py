"""The alert value type and the one interface every component uses to raise an alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class AlertLevel(StrEnum):
    """Severity; ``critical`` goes to stderr and usually pages someone."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as written to ``logs/autonomous_alerts.log`` and the outbox."""

    timestamp: datetime
    level: AlertLevel
    source: str
    message: str
    context: dict[str, Any] = field(default_factory=dict)


class AlertEmitter(Protocol):
    """What components call to raise an alert; the daemon injects the real dispatcher."""

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Record and deliver one alert; never raises because a sink is down."""
        ...
