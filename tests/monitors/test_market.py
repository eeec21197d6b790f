"""MarketMonitor on the real samples: every metric against pandas, staleness, gaps, bad data."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.market.exchange_table import load_table
from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.monitors.result import MonitorResult
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.market.samples import frame, wilder_pd

WEEKS_PER_YEAR = 365.2425 / 7


def nasdaq_sessions_per_year() -> float:
    """NASDAQ sessions per 365.2425 days over the shipped table's range, as exchange_calendars
    counts them (holidays and closures excluded)."""
    import exchange_calendars

    table = load_table("XNAS")
    cal = exchange_calendars.get_calendar(
        "XNAS", start=table.first_day.isoformat(), end=table.last_day.isoformat()
    )
    return len(cal.sessions) / (((table.last_day - table.first_day).days + 1) / 365.2425)


# symbol, file, bars per year (monthly; FX 120 open hours a week; NASDAQ's sessions)
CASES = [
    ("BTC/EUR", "BTCUSD", lambda: 12.0),
    ("EUR/USD", "EURUSD", lambda: 120 * WEEKS_PER_YEAR),
    ("GOOG", "GOOG", nasdaq_sessions_per_year),
]


def expected_metrics(df: pd.DataFrame, bars_per_year: float) -> dict[str, float]:
    """The market metrics computed independently with pandas on the window the monitor sees."""
    c, h, lo, v = df.Close, df.High, df.Low, df.Volume
    r = np.log(c).diff()
    vol = r.tail(20).std() * np.sqrt(bars_per_year)
    vol_long = r.tail(100).std() * np.sqrt(bars_per_year)
    vratio = v.iloc[-1] / v.tail(20).mean()
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1, skipna=False)
    atr = wilder_pd(tr, 14).iloc[-1]
    activity = 0.5 * min(vratio / 2, 1) + 0.5 * min((h.iloc[-1] - lo.iloc[-1]) / atr / 2, 1)
    trend = abs(c.iloc[-1] - c.iloc[-21]) / c.diff().abs().tail(20).sum()
    if vol / vol_long >= 1.5:
        regime = 2.0
    elif trend >= 0.3:
        regime = float(np.sign(c.iloc[-1] - c.iloc[-21]))
    else:
        regime = 0.0
    return {
        "volatility": vol,
        "volume_ratio": vratio,
        "price_change_1h": c.iloc[-1] / c.iloc[-2] - 1,
        "activity_level": activity,
        "trend_strength": trend,
        "regime": regime,
    }


def settings_for(root: Path, **replay: Any) -> DaemonSettings:
    return load_settings(root, cli_overrides={"replay": replay} if replay else None)


async def check(settings: DaemonSettings, clock: ManualClock, symbol: str) -> MonitorResult:
    async with asyncio.timeout(10):
        return await MarketMonitor(settings, clock=clock).check_conditions(symbol)


@pytest.mark.parametrize(("symbol", "name", "bars_per_year"), CASES)
async def test_metrics_match_pandas_on_real_samples(
    project_root: Path, symbol: str, name: str, bars_per_year: Callable[[], float]
) -> None:
    settings = settings_for(project_root)
    result = await check(settings, ManualClock(datetime(2030, 1, 1, tzinfo=UTC)), symbol)
    expected = expected_metrics(frame(name).tail(500), bars_per_year())
    for metric, value in expected.items():
        assert result.metrics[metric] == pytest.approx(value, rel=1e-9, abs=0), metric
    assert result.labels["regime"] in {"ranging", "trending_up", "trending_down", "volatile"}
    assert result.missing == {"spread": "no ticker: the replay feed has none"}
    assert result.status == "ok"


@pytest.mark.parametrize(
    ("symbol", "open_now"), [("BTC/EUR", 1.0), ("EUR/USD", 1.0), ("GOOG", 0.0)]
)
async def test_market_hours_at_replay_time(
    project_root: Path, symbol: str, open_now: float
) -> None:
    # Replay time starts at each file's last bar: GOOG's is 2013-03-01 00:00 UTC (Thursday 19:00
    # in New York, closed); EURUSD's a Wednesday 15:00 UTC (open).
    result = await check(settings_for(project_root), ManualClock(), symbol)
    assert result.metrics["is_market_hours"] == open_now


async def test_data_goes_stale_as_replay_time_runs_past_the_file(project_root: Path) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    monitor = MarketMonitor(settings_for(project_root), clock=clock)
    async with asyncio.timeout(10):
        fresh = await monitor.check_conditions("EUR/USD")
        await clock.advance(3 * 86_400)  # Wednesday 15:00 -> Saturday 15:00: 55 open hours
        stale = await monitor.check_conditions("EUR/USD")
    assert "volatility" in fresh.metrics
    for metric in ("volatility", "volume_ratio", "price_change_1h", "activity_level", "regime"):
        assert metric not in stale.metrics
        assert stale.missing[metric].startswith("stale data: last bar 3d 0h old")
    assert stale.metrics["is_market_hours"] == 0.0
    assert stale.status == "warning"
    assert any("stale data" in alert for alert in stale.alerts)


@pytest.mark.parametrize(
    ("symbol", "start"),
    [
        ("EUR/USD", "2018-02-03T12:00:00"),  # Saturday: FX closed since Friday 22:00 UTC
        ("EUR/USD", "2017-11-05T21:30:00"),  # Sunday after the November DST change, pre-open
        ("GOOG", "2013-02-24T12:00:00"),  # Sunday
        ("GOOG", "2013-02-27T03:00:00"),  # Tuesday night in New York
    ],
)
async def test_closed_market_is_not_stale(project_root: Path, symbol: str, start: str) -> None:
    settings = settings_for(project_root, start=start)
    result = await check(settings, ManualClock(), symbol)
    assert result.metrics["is_market_hours"] == 0.0
    assert "volatility" in result.metrics, result.missing
    assert result.status == "ok"


async def test_replay_start_before_the_data_reports_no_data(project_root: Path) -> None:
    result = await check(
        settings_for(project_root, start="2000-01-01T00:00:00"), ManualClock(), "GOOG"
    )
    # 2000 is before the XNAS table (2004 on): market hours are unknown, not "closed".
    assert result.metrics == {}
    assert "XNAS table covers 2004-01-01" in result.missing["is_market_hours"]
    assert result.missing["volatility"].startswith("no data: no bar at or before 2000-01-01")
    assert result.status == "warning"


async def test_market_hours_follow_the_exchange_table(project_root: Path) -> None:
    # GOOG's replay time at a given data time: 2012-11-23 was the day after Thanksgiving, an
    # early close at 13:00 New York (18:00 UTC); 2012-12-25 a holiday; 2012-12-26 a session.
    cases = [
        ("2012-11-23T17:59:00", 1.0),
        ("2012-11-23T18:00:00", 0.0),
        ("2012-12-25T15:00:00", 0.0),
        ("2012-12-26T15:00:00", 1.0),
    ]
    for start, expected in cases:
        result = await check(settings_for(project_root, start=start), ManualClock(), "GOOG")
        assert result.metrics["is_market_hours"] == expected, start


async def test_short_history_names_what_is_missing(project_root: Path) -> None:
    # 2004-09-03 is GOOG's 12th bar: enough for a price change, not for a 20-bar volatility.
    result = await check(
        settings_for(project_root, start="2004-09-03T12:00:00"), ManualClock(), "GOOG"
    )
    assert "price_change_1h" in result.metrics
    assert result.missing["volatility"] == "not enough data: 12 bars, volatility needs 21"
    assert result.missing["regime"] == "not enough data: 12 bars, regime needs 101"


def _nan_on_line(path: Path, line: int) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = lines[line - 1].replace(lines[line - 1].split(",")[4], "nan", 1)
    path.write_text("\n".join(lines) + "\n")


async def test_invalid_file_is_critical_and_names_file_and_line(project_root: Path) -> None:
    path = project_root / "data/samples/GOOG.csv"
    line = len(path.read_text().splitlines()) - 10  # inside the 500-bar window
    _nan_on_line(path, line)
    result = await check(settings_for(project_root), ManualClock(), "GOOG")
    assert result.status == "critical"
    assert result.metrics == {}
    reason = result.missing["volatility"]
    assert f"GOOG.csv: line {line}:" in reason and "NaN" in reason
    assert result.alerts and f"GOOG.csv: line {line}" in result.alerts[0]


async def test_a_bad_line_is_refused_once_a_window_reaches_it(project_root: Path) -> None:
    # Line 6 is GOOG's 5th bar, far before the newest 500: a window of the newest bars does not
    # read it (nothing computed from the file depends on it); a replay starting in 2004 does.
    _nan_on_line(project_root / "data/samples/GOOG.csv", 6)
    newest = await check(settings_for(project_root), ManualClock(), "GOOG")
    assert newest.status != "critical" and "volatility" in newest.metrics
    early = await check(
        settings_for(project_root, start="2004-12-01T00:00:00"), ManualClock(), "GOOG"
    )
    assert early.status == "critical"
    assert "GOOG.csv: line 6:" in early.missing["volatility"]


async def test_thresholds_from_settings_raise_status(project_root: Path) -> None:
    settings = load_settings(
        project_root,
        cli_overrides={
            "monitors": {
                "market": {"thresholds": {"volatility": {"warning": 0.01, "critical": 0.05}}}
            }
        },
    )
    result = await check(settings, ManualClock(), "GOOG")
    assert result.status == "critical"
    vol = result.metrics["volatility"]
    assert result.alerts == [f"GOOG: volatility {vol:.6g} is at or above the critical level 0.05"]


async def test_unknown_symbol_is_a_config_error(project_root: Path) -> None:
    from peaktrade_daemon.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown symbol 'DOGE/USD'"):
        await check(settings_for(project_root), ManualClock(), "DOGE/USD")


async def test_no_argument_monitor_reads_the_current_root(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_root)
    async with asyncio.timeout(10):
        result = await MarketMonitor().check_conditions("BTC/EUR")
    assert result.monitor_name == "market"
    assert set(result.metrics) | set(result.missing) == {
        "volatility",
        "volume_ratio",
        "price_change_1h",
        "spread",
        "activity_level",
        "is_market_hours",
        "trend_strength",
        "regime",
    }
