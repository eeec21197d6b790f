"""The daemon's metrics as plain values: prometheus_client's recording rules, without importing
it, and no import arrow from the stages that record into the HTTP face that serves."""

from __future__ import annotations

import ast
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.events import RunState
from peaktrade_daemon.metrics import Counter, DaemonMetrics, Gauge, Histogram

PACKAGE = Path(__file__).resolve().parents[1] / "peaktrade_daemon"


def test_counters_only_grow_and_labels_must_match() -> None:
    counter = Counter("c", "doc", ["a", "b"])
    counter.labels(a="x", b=1).inc()
    counter.labels(b="1", a="x").inc(2.5)
    assert counter.series() == [(("x", "1"), counter.labels(a="x", b="1"))]
    assert counter.labels(a="x", b="1").value == 3.5
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite amount >= 0"):
            counter.labels(a="x", b="1").inc(bad)
    with pytest.raises(ValueError, match=r"takes labels \('a', 'b'\)"):
        counter.labels(a="x")
    with pytest.raises(ValueError, match="use labels"):
        counter.inc()
    assert counter.labels(a="x", b="1").value == 3.5


def test_unlabelled_metrics_exist_at_zero_and_gauges_go_both_ways() -> None:
    gauge = Gauge("g", "doc")
    assert [(k, v.value) for k, v in gauge.series()] == [((), 0.0)]
    gauge.set(-4)
    assert gauge.labels().value == -4.0
    assert Counter("c", "doc", ["a"]).series() == []  # a labelled series appears on first use


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    histogram = Histogram("h_seconds", "doc", buckets=(1, 0.1, 10))
    for value in (0.05, 0.1, 0.5, 3, 11, 1000):
        histogram.observe(value)
    series = histogram.labels()
    assert series.cumulative() == [(0.1, 2), (1.0, 3), (10.0, 4), (math.inf, 6)]
    assert (series.count, series.sum) == (6, pytest.approx(1014.65))
    with pytest.raises(ValueError, match="distinct finite"):
        Histogram("h", "doc", buckets=(1, 1))


def test_daemon_metrics_record_cycles_and_the_last_success() -> None:
    metrics = DaemonMetrics()
    assert metrics.run_state.labels(state="starting").value == 1
    metrics.set_run_state(RunState.RUNNING)
    states = {k[0]: v.value for k, v in metrics.run_state.series()}
    assert states["running"] == 1 and sum(states.values()) == 1
    ok = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    metrics.record_cycle(success=True, duration_s=0.2, finished_at=ok)
    metrics.record_cycle(success=False, duration_s=0.4, finished_at=datetime.now(UTC))
    assert metrics.last_success.labels().value == ok.timestamp()
    assert metrics.cycles.labels(outcome="failure").value == 1
    assert metrics.cycle_duration.labels().count == 2
    names = [m.name for m in metrics.all_metrics()]
    assert len(names) == len(set(names)) and all(n.startswith("peaktrade_") for n in names)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "module",
    ["metrics.py", *(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "alerts").glob("*.py"))],
)
def test_recording_side_imports_neither_the_http_face_nor_prometheus_client(module: str) -> None:
    imported = _imports(PACKAGE / module)
    against = [
        name
        for name in imported
        if name.startswith(("peaktrade_daemon.http", "prometheus_client", "aiohttp.web"))
    ]
    assert not against, f"{module} imports {against}"
