"""Prometheus metrics of one daemon, in its own ``CollectorRegistry`` (never the global one).

A per-daemon registry keeps two daemons in one test process (or a daemon and a test) from
sharing counters, and makes ``/metrics`` show exactly this daemon. Components receive the
:class:`DaemonMetrics` object from the composition root and record through its methods; the bus's
queue depths and drop counters are read at scrape time by a collector, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.events import RunState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DURATION_BUCKETS = (0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class _BusCollector(Collector):
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "peaktrade_bus_queue_depth",
            "Events queued per bus subscriber",
            labels=["subscriber", "event"],
        )
        dropped = CounterMetricFamily(
            "peaktrade_bus_dropped_events",
            "Events dropped by a full subscriber queue (overflow policy)",
            labels=["subscriber", "event"],
        )
        handled = CounterMetricFamily(
            "peaktrade_bus_handled_events",
            "Events handled per subscriber",
            labels=["subscriber", "event"],
        )
        errors = CounterMetricFamily(
            "peaktrade_bus_handler_errors",
            "Handler exceptions per subscriber",
            labels=["subscriber", "event"],
        )
        for s in self._bus.stats():
            labels = [s.name, s.event_type]
            depth.add_metric(labels, s.depth)
            dropped.add_metric(labels, s.dropped)
            handled.add_metric(labels, s.delivered)
            errors.add_metric(labels, s.failed)
        yield from (depth, dropped, handled, errors)


class DaemonMetrics:
    """Every metric the daemon exports, registered in one private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.run_state = Gauge(
            "peaktrade_run_state", "1 for the daemon's current run state", ["state"], registry=r
        )
        self.cycles = Counter(
            "peaktrade_cycles", "Autonomous cycles by outcome", ["outcome"], registry=r
        )
        self.cycle_duration = Histogram(
            "peaktrade_cycle_duration_seconds",
            "Duration of autonomous cycles",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "peaktrade_decisions",
            "Decisions by workflow type and action",
            ["workflow_type", "action"],
            registry=r,
        )
        self.workflows = Counter(
            "peaktrade_workflow_runs",
            "Workflow runs by type and outcome",
            ["workflow_type", "outcome"],
            registry=r,
        )
        self.workflow_duration = Histogram(
            "peaktrade_workflow_duration_seconds",
            "Workflow run durations",
            ["workflow_type"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.alerts = Counter("peaktrade_alerts", "Alerts emitted by level", ["level"], registry=r)
        self.alerts_suppressed = Counter(
            "peaktrade_alerts_suppressed",
            "Repeats suppressed by de-duplication, by level",
            ["level"],
            registry=r,
        )
        self.alert_deliveries = Counter(
            "peaktrade_alert_deliveries",
            "Outbox delivery attempts by sink and outcome (delivered, failed, dead)",
            ["sink", "outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "peaktrade_alert_outbox_pending",
            "Alert deliveries waiting in the outbox, by sink",
            ["sink"],
            registry=r,
        )
        self.overrides_applied = Counter(
            "peaktrade_overrides_applied",
            "Live override changes written, by key",
            ["key"],
            registry=r,
        )
        self.component_restarts = Counter(
            "peaktrade_component_restarts",
            "Supervised component restarts after a failure",
            ["component"],
            registry=r,
        )
        self.reloads = Counter(
            "peaktrade_config_reloads", "SIGHUP reloads by outcome", ["outcome"], registry=r
        )
        self.set_run_state(RunState.STARTING)

    def watch_bus(self, bus: EventBus) -> None:
        """Export the bus's per-subscriber queue depths, drops and errors at scrape time."""
        self.registry.register(_BusCollector(bus))

    def set_run_state(self, state: RunState) -> None:
        """Make ``state`` the one run state with value 1."""
        for each in RunState:
            self.run_state.labels(state=str(each)).set(1 if each is state else 0)

    def record_cycle(self, *, success: bool, duration_s: float) -> None:
        """One autonomous cycle finished."""
        self.cycles.labels(outcome="success" if success else "failure").inc()
        self.cycle_duration.observe(duration_s)

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

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return bytes(generate_latest(self.registry))
