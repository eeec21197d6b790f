"""``GET /metrics``: the daemon's metrics in Prometheus exposition formats (§3.7, §11).

:func:`build_registry` makes one private ``CollectorRegistry`` per daemon (never the global one,
so two daemons in one test process never share series) holding:

- the :class:`~peaktrade_daemon.metrics.DaemonMetrics`, turned into metric families at scrape
  time by :class:`MetricsCollector`, with the bus's queue depths, drops and errors read from the
  bus at that moment;
- ``peaktrade_build_info{version=...} 1`` (a prometheus_client ``Info``);
- prometheus_client's own ``ProcessCollector`` (``process_*``: CPU, memory, open files, start
  time) and ``PlatformCollector`` (``python_info``).

``_created`` series are switched off (``disable_created_metrics``) before any metric is built:
they double the number of series and no alert or dashboard here uses them. The route handler is
prometheus_client's ``make_aiohttp_handler``: it negotiates the format from ``Accept`` (the
OpenMetrics text format when asked, else the classic text format) and honours ``name[]=``
filters, exactly as prometheus_client's own servers do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import prometheus_client
from aiohttp.typedefs import Handler
from prometheus_client import (
    CollectorRegistry,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.metrics import Counter, DaemonMetrics, Gauge, Histogram
from peaktrade_daemon.version import installed_version

__all__ = ["MetricsCollector", "build_registry", "families", "metrics_handler", "render"]


class MetricsCollector(Collector):
    """The daemon's metrics and its bus statistics as Prometheus metric families."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """One family per metric, read now (scrapes run on the event loop, as recording does)."""
        yield from families(self._metrics.all_metrics())
        if self._metrics.bus is not None:
            yield from _bus_families(self._metrics.bus)

    def describe(self) -> Iterator[Metric]:
        """The families without samples: the registry learns the names it serves, which
        ``?name[]=`` filtering and its duplicate check need."""
        yield from families(self._metrics.all_metrics(), with_series=False)
        yield from _bus_families(None)


def families(
    metrics: Iterable[Counter | Gauge | Histogram], *, with_series: bool = True
) -> Iterator[Metric]:
    """Each metric as a prometheus_client metric family (without samples unless
    ``with_series``)."""
    for metric in metrics:
        yield _family(metric, with_series=with_series)


def _family(metric: Counter | Gauge | Histogram, *, with_series: bool) -> Metric:
    labels = list(metric.labelnames)
    if isinstance(metric, Counter):
        counter = CounterMetricFamily(metric.name, metric.documentation, labels=labels)
        for values, count in metric.series() if with_series else ():
            counter.add_metric(list(values), count.value)
        return counter
    if isinstance(metric, Gauge):
        gauge = GaugeMetricFamily(metric.name, metric.documentation, labels=labels)
        for values, level in metric.series() if with_series else ():
            gauge.add_metric(list(values), level.value)
        return gauge
    histogram = HistogramMetricFamily(metric.name, metric.documentation, labels=labels)
    for values, series in metric.series() if with_series else ():
        # prometheus_client's own spelling of bounds ("0.5", "1.0", "+Inf")
        buckets = [(floatToGoString(b), n) for b, n in series.cumulative()]  # type: ignore[no-untyped-call]
        histogram.add_metric(list(values), buckets, series.sum)
    return histogram


def _bus_families(bus: EventBus | None) -> Iterator[Metric]:
    labels = ["subscriber", "event"]
    depth = GaugeMetricFamily(
        "peaktrade_bus_queue_depth", "Events queued per bus subscriber", labels=labels
    )
    dropped = CounterMetricFamily(
        "peaktrade_bus_dropped_events",
        "Events dropped by a full subscriber queue (overflow policy)",
        labels=labels,
    )
    handled = CounterMetricFamily(
        "peaktrade_bus_handled_events", "Events handled per subscriber", labels=labels
    )
    errors = CounterMetricFamily(
        "peaktrade_bus_handler_errors", "Handler exceptions per subscriber", labels=labels
    )
    for s in bus.stats() if bus is not None else ():
        values = [s.name, s.event_type]
        depth.add_metric(values, s.depth)
        dropped.add_metric(values, s.dropped)
        handled.add_metric(values, s.delivered)
        errors.add_metric(values, s.failed)
    yield from (depth, dropped, handled, errors)


def build_registry(metrics: DaemonMetrics, *, version: str | None = None) -> CollectorRegistry:
    """A private registry serving ``metrics``, the build info (``version``, by default the
    installed one) and the process and platform collectors."""
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    registry.register(MetricsCollector(metrics))
    build = Info("peaktrade_build", "The running peaktrade-daemon build", registry=registry)
    build.info({"version": version or installed_version()})
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def metrics_handler(metrics: DaemonMetrics) -> Handler:
    """The ``GET /metrics`` handler: prometheus_client's, over :func:`build_registry`."""
    return make_aiohttp_handler(build_registry(metrics))


def render(metrics: DaemonMetrics) -> str:
    """The classic Prometheus text exposition of ``metrics`` (what a plain scrape gets)."""
    return bytes(generate_latest(build_registry(metrics))).decode()
