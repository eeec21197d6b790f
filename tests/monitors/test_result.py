"""MonitorResult's contract (finite metrics only, missing with reasons) and threshold checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.monitors.result import MonitorResult, MonitorStatus, ResultBuilder
from peaktrade_daemon.settings import ThresholdSettings, load_settings

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_nan_or_non_float_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="finite floats"):
        MonitorResult("m", NOW, MonitorStatus.OK, {"x": math.nan}, [])
    with pytest.raises(ValueError, match="finite floats"):
        MonitorResult("m", NOW, MonitorStatus.OK, {"x": 1}, [])  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="both present and missing"):
        MonitorResult("m", NOW, "ok", {"x": 1.0}, [], missing={"x": "why"})  # type: ignore[arg-type]


@given(st.dictionaries(st.sampled_from("abcdef"), st.one_of(st.none(), st.floats(allow_nan=True))))
def test_builder_keeps_only_finite_values(values: dict[str, float | None]) -> None:
    out = ResultBuilder("m", "X", NOW)
    for name, value in values.items():
        out.put(name, value, f"{name} unknown")
    result = out.build()
    assert set(result.metrics) | set(result.missing) == set(values)
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert all(result.missing[k] == f"{k} unknown" for k in result.missing)


@pytest.mark.parametrize(
    ("value", "levels", "status"),
    [
        (0.5, ThresholdSettings(warning=1.0, critical=2.0), "ok"),
        (1.0, ThresholdSettings(warning=1.0, critical=2.0), "warning"),
        (2.5, ThresholdSettings(warning=1.0, critical=2.0), "critical"),
        (-2.5, ThresholdSettings(warning=-2.0, critical=-3.0, when="below"), "warning"),
        (-3.0, ThresholdSettings(warning=-2.0, critical=-3.0, when="below"), "critical"),
        (5.0, ThresholdSettings(critical=4.0), "critical"),
    ],
)
def test_thresholds(value: float, levels: ThresholdSettings, status: str) -> None:
    out = ResultBuilder("m", "X", NOW)
    out.put("x", value, "")
    out.check({"x": levels, "absent": ThresholdSettings(warning=0.0)})
    result = out.build()
    assert result.status == status
    assert len(result.alerts) == (status != "ok")


def test_status_only_gets_worse() -> None:
    out = ResultBuilder("m", "X", NOW)
    out.raise_status("critical", "bad")
    out.raise_status("warning", "less bad")
    assert out.build().status == MonitorStatus.CRITICAL
    assert out.build().alerts == ["bad", "less bad"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"market": {"thresholds": {"volatilty": {"warning": 1.0}}}}, "unknown metric"),
        (
            {"signals": {"thresholds": {"false_signal_rate": {"warning": 0.8, "critical": 0.5}}}},
            "less severe",
        ),
        ({"performance": {"source": "broker"}}, "monitors.performance.source"),
    ],
)
def test_invalid_monitor_settings_name_the_key(
    project_root: Path, override: dict, words: str
) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=words):
        load_settings(project_root, cli_overrides={"monitors": override})


def test_shipped_daemon_toml_equals_the_defaults(project_root: Path) -> None:
    from peaktrade_daemon.settings import DaemonSettings

    assert load_settings(project_root).monitors == DaemonSettings(root=project_root).monitors
