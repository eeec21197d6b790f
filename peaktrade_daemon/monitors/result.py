"""What every monitor returns: :class:`MonitorResult`, the metric contract's value type.

``metrics`` holds only known, finite floats. A metric that cannot be computed is absent from
``metrics`` and explained in ``missing`` (name -> reason); it is never 0 and never NaN.
``labels`` holds non-numeric facts (``{"regime": "trending_up", "direction": "long"}``).
``status`` is the worst of the threshold checks (and of the data's freshness); ``alerts`` are the
messages for the operator. Monitors return alerts; they never deliver them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from peaktrade_daemon.settings import ThresholdSettings


class MonitorStatus(StrEnum):
    """Severity of a monitor result, ordered ok < warning < critical."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0, 1, 2 for ok, warning, critical."""
        return ("ok", "warning", "critical").index(self.value)

    def worst(self, other: MonitorStatus) -> MonitorStatus:
        """The more severe of two statuses."""
        return self if self.rank >= other.rank else other


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One monitor's verdict on one symbol at ``timestamp``."""

    monitor_name: str
    timestamp: datetime
    status: MonitorStatus
    metrics: dict[str, float]
    alerts: list[str]
    missing: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [
            k for k, v in self.metrics.items() if not isinstance(v, float) or not math.isfinite(v)
        ]
        if bad:
            raise ValueError(f"{self.monitor_name}: metrics must be finite floats: {bad}")
        both = set(self.metrics) & set(self.missing)
        if both:
            raise ValueError(
                f"{self.monitor_name}: metric(s) both present and missing: {sorted(both)}"
            )
        object.__setattr__(self, "status", MonitorStatus(self.status))
        # Plain dicts (copied), so consumers can serialise them as they are.
        object.__setattr__(self, "metrics", dict(self.metrics))
        object.__setattr__(self, "missing", dict(self.missing))
        object.__setattr__(self, "labels", dict(self.labels))


class ResultBuilder:
    """Collects metrics (value or reason), statuses and alerts, then builds the result."""

    def __init__(self, monitor_name: str, symbol: str, timestamp: datetime) -> None:
        self.monitor_name = monitor_name
        self.symbol = symbol
        self.timestamp = timestamp
        self.metrics: dict[str, float] = {}
        self.missing: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.alerts: list[str] = []
        self.status = MonitorStatus.OK

    def put(self, name: str, value: float | None, reason: str) -> None:
        """Record ``value``, or ``reason`` as why it is missing when it is None or not finite."""
        if value is not None and math.isfinite(float(value)):
            self.metrics[name] = float(value)
        else:
            self.missing[name] = reason

    def lack(self, names: tuple[str, ...] | list[str], reason: str) -> None:
        """Mark every metric in ``names`` missing for ``reason``."""
        for name in names:
            self.missing.setdefault(name, reason)

    def raise_status(self, status: str, alert: str | None = None) -> None:
        """Lift the status to at least ``status`` and add ``alert`` if given."""
        self.status = self.status.worst(MonitorStatus(status))
        if alert:
            self.alerts.append(alert)

    def check(self, thresholds: Mapping[str, ThresholdSettings]) -> None:
        """Apply the warning/critical levels to the metrics present."""
        for name, levels in thresholds.items():
            value = self.metrics.get(name)
            if value is None:
                continue
            for status, level in (("critical", levels.critical), ("warning", levels.warning)):
                if level is None:
                    continue
                hit = value >= level if levels.when == "above" else value <= level
                if hit:
                    side = "at or above" if levels.when == "above" else "at or below"
                    self.raise_status(
                        status,
                        f"{self.symbol}: {name} {value:.6g} is {side} the {status} level {level:g}",
                    )
                    break

    def build(self) -> MonitorResult:
        """The frozen result."""
        return MonitorResult(
            monitor_name=self.monitor_name,
            timestamp=self.timestamp,
            status=self.status,
            metrics=self.metrics,
            alerts=list(self.alerts),
            missing=self.missing,
            labels=self.labels,
        )
