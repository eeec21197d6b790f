"""SignalMonitor on the real samples: metrics against pandas, history across checks, staleness."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.monitors.signals import SignalMonitor
from peaktrade_daemon.settings import load_settings
from tests.market.samples import frame
from tests.strategies.reference import all_strategies_pd, signal_metrics_pd


@pytest.mark.parametrize(
    ("symbol", "name"), [("BTC/EUR", "BTCUSD"), ("EUR/USD", "EURUSD"), ("GOOG", "GOOG")]
)
async def test_metrics_match_pandas_on_real_samples(
    project_root: Path, symbol: str, name: str
) -> None:
    monitor = SignalMonitor(load_settings(project_root), clock=ManualClock())
    async with asyncio.timeout(10):
        result = await monitor.check_conditions(symbol)
    window = frame(name).tail(500)
    expected = signal_metrics_pd(all_strategies_pd(window), window.Close)
    for metric, value in expected.items():
        if math.isnan(value):
            assert metric in result.missing, metric
        else:
            assert result.metrics[metric] == pytest.approx(value, rel=1e-9, abs=0), metric
    assert 0.0 <= result.metrics["signal_strength"] <= 1.0
    direction = {-1.0: "short", 0.0: "flat", 1.0: "long"}[result.metrics["signal_direction"]]
    assert result.labels["direction"] == direction


async def test_history_grows_across_checks_and_is_bounded(project_root: Path) -> None:
    settings = load_settings(
        project_root,
        cli_overrides={
            "replay": {"start": "2017-09-01T00:00:00", "speed": 3600.0},
            "monitors": {"signals": {"history_limit": 20, "history_bars": 300}},
        },
    )
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    monitor = SignalMonitor(settings, clock=clock)
    async with asyncio.timeout(10):
        first = await monitor.check_conditions("EUR/USD")
        for _ in range(10):
            await clock.advance(100)  # 100 replay hours per step
            last = await monitor.check_conditions("EUR/USD")
    histories = [monitor.history(s.name, "EUR/USD") for s in monitor.strategies]
    assert all(len(h.records) <= 20 for h in histories)
    assert any(len(h.records) == 20 for h in histories)
    assert int(last.labels["signals_recorded"]) > int(first.labels["signals_recorded"]) - 1
    assert 0.0 <= last.metrics["false_signal_rate"] <= 1.0
    assert last.metrics["signal_frequency"] > 0


async def test_stale_data_hides_the_current_signal_but_keeps_the_record(project_root: Path) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    monitor = SignalMonitor(load_settings(project_root), clock=clock)
    async with asyncio.timeout(10):
        await clock.advance(30 * 86_400)
        result = await monitor.check_conditions("GOOG")
    for metric in ("signal_strength", "signal_direction", "signal_consistency"):
        assert result.missing[metric].startswith("stale data: last bar 30d 0h old")
    assert "false_signal_rate" in result.metrics and "signal_frequency" in result.metrics
    assert result.status == "warning"


async def test_thresholds_from_settings(project_root: Path) -> None:
    settings = load_settings(
        project_root,
        cli_overrides={
            "monitors": {"signals": {"thresholds": {"signal_frequency": {"warning": 1.0}}}}
        },
    )
    async with asyncio.timeout(10):
        result = await SignalMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    assert result.status == "warning"
    assert result.alerts[0].startswith("GOOG: signal_frequency ")


async def test_too_few_bars_for_the_strategies_is_missing_not_flat(project_root: Path) -> None:
    # GOOG's 22nd bar: the slow average (30 bars) is not defined yet, so "no signal" is unknown.
    settings = load_settings(
        project_root, cli_overrides={"replay": {"start": "2004-09-20T00:00:00"}}
    )
    async with asyncio.timeout(10):
        result = await SignalMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    assert result.metrics == {}
    assert result.missing["signal_strength"] == (
        "not enough data: 22 bars, the enabled strategies need 30"
    )


async def test_strategy_restriction_uses_only_that_strategy(project_root: Path) -> None:
    settings = load_settings(project_root)
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    only = SignalMonitor(settings, clock=clock, strategy="breakout")
    assert [s.name for s in only.strategies] == ["breakout"]
    async with asyncio.timeout(10):
        result = await only.check_conditions("GOOG")
    assert result.labels.get("strategy", "breakout") == "breakout"
    assert set(only._histories) == {("breakout", "GOOG")}
    with pytest.raises(ConfigError, match="'nope' is not enabled"):
        SignalMonitor(settings, clock=clock, strategy="nope")
