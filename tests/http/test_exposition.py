"""``/metrics`` from a real listener on 127.0.0.1, read back with prometheus_client's own parsers
(classic text and OpenMetrics), and the exposition of random recordings compared with
prometheus_client's own metric objects fed the same recordings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import prometheus_client
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from peaktrade_daemon.bus import EventBus
from peaktrade_daemon.events import RunState
from peaktrade_daemon.http.app import HttpServer
from peaktrade_daemon.http.exposition import families
from peaktrade_daemon.http.health import HealthReport
from peaktrade_daemon.metrics import Counter, DaemonMetrics, Gauge, Histogram
from peaktrade_daemon.settings import HttpSection
from peaktrade_daemon.version import installed_version

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
FINISHED = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def samples(families: list[prometheus_client.Metric]) -> dict[tuple[str, frozenset[object]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in families
        for s in family.samples
    }


async def test_metrics_are_served_in_both_formats_with_the_new_series() -> None:
    metrics = DaemonMetrics()
    bus = EventBus()
    metrics.watch_bus(bus)
    metrics.set_run_state(RunState.RUNNING)
    metrics.record_cycle(success=True, duration_s=0.3, finished_at=FINISHED)
    metrics.record_cycle(success=False, duration_s=2.5, finished_at=datetime.now(UTC))
    metrics.record_decision(workflow_type="market_scan", action="EXECUTE")
    server = HttpServer(
        HttpSection(enabled=True, port=0),
        health_provider=lambda: HealthReport(True),
        metrics=metrics,
    )
    await server.start()
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as client:
            async with client.get(f"{server.url}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = await r.text()
            async with client.get(f"{server.url}/metrics", headers={"Accept": OPENMETRICS}) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("application/openmetrics-text")
                openmetrics = await r.text()
            query = f"{server.url}/metrics?name[]=peaktrade_cycles_total"
            async with client.get(query) as r:
                only = await r.text()
    finally:
        await server.stop()
        await bus.close()

    assert openmetrics.endswith("# EOF\n")
    for parsed in (
        list(text_string_to_metric_families(text)),
        list(openmetrics_parser.text_string_to_metric_families(openmetrics)),
    ):
        names = {f.name for f in parsed}
        values = samples(parsed)
        assert not [n for n in names if n.endswith("_created")]
        assert not [name for name, _ in values if name.endswith("_created")]
        build = ("peaktrade_build_info", frozenset({("version", installed_version())}))
        assert values[build] == 1
        last = ("peaktrade_last_successful_cycle_timestamp_seconds", frozenset())
        assert values[last] == FINISHED.timestamp()  # the failed cycle after it does not count
        assert values[("peaktrade_cycles_total", frozenset({("outcome", "failure")}))] == 1
        assert values[("peaktrade_run_state", frozenset({("state", "running")}))] == 1
        bucket = ("peaktrade_cycle_duration_seconds_bucket", frozenset({("le", "0.5")}))
        assert values[bucket] == 1
        assert values[("peaktrade_cycle_duration_seconds_count", frozenset())] == 2
        # prometheus_client's process and platform collectors, on this daemon's registry
        assert values[("process_open_fds", frozenset())] > 0
        start = values[("process_start_time_seconds", frozenset())]
        assert abs(start - _own_start_time()) < 2
        assert any(name == "python_info" for name, _ in values)
    assert "process_cpu_seconds_total" in text
    assert [line for line in only.splitlines() if not line.startswith("#")] == [
        'peaktrade_cycles_total{outcome="success"} 1.0',
        'peaktrade_cycles_total{outcome="failure"} 1.0',
    ]


def _own_start_time() -> float:
    """This process's start time from /proc, independently of prometheus_client."""
    stat = Path(f"/proc/{os.getpid()}/stat").read_text()
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    lines = Path("/proc/stat").read_text().splitlines()
    boot = next(float(line.split()[1]) for line in lines if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


# One recording: (metric index, label value, amount). Amounts are what the daemon records:
# counts >= 0, gauge values of any sign, durations >= 0.
_AMOUNT = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
_RECORDING = st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", 'q"u\\o\nte']), _AMOUNT)


@settings(max_examples=60, deadline=None)
@given(st.lists(_RECORDING, max_size=40))
def test_exposition_equals_prometheus_clients_own_for_the_same_recordings(
    recordings: list[tuple[int, str, float]],
) -> None:
    prometheus_client.disable_created_metrics()
    reference = CollectorRegistry()
    buckets = (0.1, 1.0, 10.0)
    counter, gauge = Counter("t_count", "c", ["k"]), Gauge("t_level", "g", ["k"])
    histogram = Histogram("t_seconds", "h", ["k"], buckets=buckets)
    plain = Histogram("t_plain_seconds", "h", buckets=buckets)
    ours = [counter, gauge, histogram, plain]
    their_counter = prometheus_client.Counter("t_count", "c", ["k"], registry=reference)
    their_gauge = prometheus_client.Gauge("t_level", "g", ["k"], registry=reference)
    their_histogram = prometheus_client.Histogram(
        "t_seconds", "h", ["k"], buckets=buckets, registry=reference
    )
    their_plain = prometheus_client.Histogram(
        "t_plain_seconds", "h", buckets=buckets, registry=reference
    )
    for index, label, amount in recordings:
        if index == 0:
            counter.labels(k=label).inc(abs(amount))
            their_counter.labels(k=label).inc(abs(amount))
        elif index == 1:
            gauge.labels(k=label).set(amount)
            their_gauge.labels(k=label).set(amount)
        elif index == 2:
            histogram.labels(k=label).observe(abs(amount))
            their_histogram.labels(k=label).observe(abs(amount))
        else:
            plain.observe(abs(amount))
            their_plain.observe(abs(amount))

    class Ours(Collector):
        def collect(self) -> Iterator[prometheus_client.Metric]:
            return families(ours)

    mine = CollectorRegistry()
    mine.register(Ours())
    assert _sorted_lines(generate_latest(mine)) == _sorted_lines(generate_latest(reference))


def _sorted_lines(exposition: bytes) -> list[str]:
    """Series may come in another order (label sets are created in recording order either way,
    but families may differ); the lines themselves must be identical."""
    return sorted(exposition.decode().splitlines())
