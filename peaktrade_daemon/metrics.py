"""The daemon's metrics (§3.7, §11): recorded here, in plain Python; served by the HTTP face.

Every component records into one :class:`DaemonMetrics` built by the composition root, whether
the HTTP listener is on or not, so the numbers exist in-process (tests, a notebook, the health
view) and nothing has to ask "are there metrics?". The listener's ``/metrics`` turns them into
Prometheus metric families at scrape time (:mod:`peaktrade_daemon.http.exposition`), next to
prometheus_client's own process and platform collectors.

Why not prometheus_client's ``Counter``/``Gauge``/``Histogram`` objects here: importing
prometheus_client costs the daemon 1.55 MiB of RSS and 19 ms of start-up (41 modules, measured
after the daemon's own imports), and the default daemon runs without the listener, under an RSS
budget it meets with little room. The types below keep prometheus_client's recording interface
(``labels(...)``, ``inc``, ``set``, ``observe``) and its semantics (counters only go up, cumulative
histogram buckets with ``+Inf``); ``tests/http/test_exposition.py`` checks that the exposition of
random recordings equals prometheus_client's own for the same recordings.

The bus's queue depths and drop counters are not copied here: the exposition reads them from the
bus (:meth:`DaemonMetrics.watch_bus`) at scrape time, so they are never stale.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.events import RunState

DURATION_BUCKETS = (0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class CounterValue:
    """One labelled series of a counter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0: a counter never goes down)."""
        if amount < 0 or not math.isfinite(amount):
            raise ValueError(f"a counter can only grow by a finite amount >= 0, not {amount}")
        self.value += amount


class GaugeValue:
    """One labelled series of a gauge."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        """Make the gauge ``value``."""
        self.value = float(value)


class HistogramValue:
    """One labelled series of a histogram: per-bucket counts (not cumulative), sum and count."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Count one observation in the first bucket whose upper bound is >= ``value``."""
        index = len(self.bounds)
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                index = i
                break
        self.counts[index] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` per bucket, ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


V = TypeVar("V", CounterValue, GaugeValue, HistogramValue)


class Metric(ABC, Generic[V]):
    """A named metric with fixed label names; each label-value tuple is one series."""

    kind: ClassVar[str]

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], V] = {}
        if not self.labelnames:  # an unlabelled metric is exported from the start, like
            self._series[()] = self._new()  # prometheus_client's

    @abstractmethod
    def _new(self) -> V:
        """A new series at zero (each kind of metric makes its own)."""

    def labels(self, **values: object) -> V:
        """The series of these label values (created at zero on first use)."""
        if set(values) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(values)}")
        key = tuple(str(values[n]) for n in self.labelnames)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._new()
        return series

    def series(self) -> list[tuple[tuple[str, ...], V]]:
        """Every series as ``(label values, value)``, in creation order."""
        return list(self._series.items())

    def _only(self) -> V:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}: use labels(...)")
        return self._series[()]


class Counter(Metric[CounterValue]):
    """Counts that only go up (exported as ``<name>_total``)."""

    kind = "counter"

    def _new(self) -> CounterValue:
        return CounterValue()

    def inc(self, amount: float = 1.0) -> None:
        """Increment the unlabelled series."""
        self._only().inc(amount)


class Gauge(Metric[GaugeValue]):
    """A value that goes up and down."""

    kind = "gauge"

    def _new(self) -> GaugeValue:
        return GaugeValue()

    def set(self, value: float) -> None:
        """Set the unlabelled series."""
        self._only().set(value)


class Histogram(Metric[HistogramValue]):
    """Observations counted in buckets (exported as ``_bucket``, ``_sum``, ``_count``)."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        bounds = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct finite numbers")
        self.buckets = bounds
        super().__init__(name, documentation, labelnames)

    def _new(self) -> HistogramValue:
        return HistogramValue(self.buckets)

    def observe(self, value: float) -> None:
        """Observe into the unlabelled series."""
        self._only().observe(value)


AnyMetric = Counter | Gauge | Histogram


class DaemonMetrics:
    """Every metric the daemon exports, for one daemon (two daemons in one process never share
    a series). The build info is the exposition's: looking the version up in the package
    metadata costs 0.6 MiB of RSS, which a daemon without the listener does not pay."""

    def __init__(self) -> None:
        self.bus: EventBus | None = None
        self.run_state = Gauge(
            "peaktrade_run_state", "1 for the daemon's current run state", ["state"]
        )
        self.cycles = Counter("peaktrade_cycles", "Autonomous cycles by outcome", ["outcome"])
        self.cycle_duration = Histogram(
            "peaktrade_cycle_duration_seconds", "Duration of autonomous cycles"
        )
        self.last_success = Gauge(
            "peaktrade_last_successful_cycle_timestamp_seconds",
            "Unix time the last successful autonomous cycle finished (0: none yet)",
        )
        self.decisions = Counter(
            "peaktrade_decisions",
            "Decisions by workflow type and action",
            ["workflow_type", "action"],
        )
        self.workflows = Counter(
            "peaktrade_workflow_runs",
            "Workflow runs by type and outcome",
            ["workflow_type", "outcome"],
        )
        self.workflow_duration = Histogram(
            "peaktrade_workflow_duration_seconds", "Workflow run durations", ["workflow_type"]
        )
        self.alerts = Counter("peaktrade_alerts", "Alerts emitted by level", ["level"])
        self.alerts_suppressed = Counter(
            "peaktrade_alerts_suppressed",
            "Repeats suppressed by de-duplication, by level",
            ["level"],
        )
        self.alert_deliveries = Counter(
            "peaktrade_alert_deliveries",
            "Outbox delivery attempts by sink and outcome (delivered, failed, dead)",
            ["sink", "outcome"],
        )
        self.outbox_pending = Gauge(
            "peaktrade_alert_outbox_pending",
            "Alert deliveries waiting in the outbox, by sink",
            ["sink"],
        )
        self.overrides_applied = Counter(
            "peaktrade_overrides_applied", "Live override changes written, by key", ["key"]
        )
        self.component_restarts = Counter(
            "peaktrade_component_restarts",
            "Supervised component restarts after a failure",
            ["component"],
        )
        self.reloads = Counter("peaktrade_config_reloads", "SIGHUP reloads by outcome", ["outcome"])
        self.set_run_state(RunState.STARTING)

    def all_metrics(self) -> Iterator[AnyMetric]:
        """Every metric, in the order they are exported."""
        for value in vars(self).values():
            if isinstance(value, Counter | Gauge | Histogram):
                yield value

    def watch_bus(self, bus: EventBus) -> None:
        """Export the bus's per-subscriber queue depths, drops and errors (read at scrape time)."""
        self.bus = bus

    def set_run_state(self, state: RunState) -> None:
        """Make ``state`` the one run state with value 1."""
        for each in RunState:
            self.run_state.labels(state=str(each)).set(1 if each is state else 0)

    def record_cycle(self, *, success: bool, duration_s: float, finished_at: datetime) -> None:
        """One autonomous cycle finished at ``finished_at`` (the daemon's clock)."""
        self.cycles.labels(outcome="success" if success else "failure").inc()
        self.cycle_duration.observe(duration_s)
        if success:
            self.last_success.set(finished_at.timestamp())

    def record_decision(self, *, workflow_type: str, action: str) -> None:
        """The decision engine decided ``action`` for ``workflow_type``."""
        self.decisions.labels(workflow_type=workflow_type, action=action).inc()

    def record_workflow(self, *, workflow_type: str, outcome: str, duration_s: float) -> None:
        """A workflow run ended (completed, failed, cancelled, timed_out)."""
        self.workflows.labels(workflow_type=workflow_type, outcome=outcome).inc()
        self.workflow_duration.labels(workflow_type=workflow_type).observe(duration_s)

    def record_override_applied(self, *, key: str) -> None:
        """The promotion writer changed a live override."""
        self.overrides_applied.labels(key=key).inc()
