"""Small real monitors and equity history over data/samples, for tests.

They stand in for the monitors package built in parallel: every number is computed
from the real OHLCV files as of a movable "data now" (:class:`DataWindow`), following the
formulas of METRICS.md, so a test picks a market situation by picking a date. Swapping in the
real monitors later is a fixture change (``sources`` in conftest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

BARS_PER_YEAR = {"1M": 12.0, "1d": 252.0, "1h": 24.0 * 260.0}


@dataclass(frozen=True)
class SampleResult:
    """Shape of monitors/result.py's MonitorResult (METRICS.md)."""

    monitor_name: str
    timestamp: datetime
    status: str
    metrics: dict[str, float]
    alerts: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class DataWindow:
    """Which bars are visible: those at or before ``now`` (data time), ``lookback`` of them."""

    root: Path
    files: Mapping[str, tuple[str, str]]  # symbol -> (file name, timeframe)
    now: datetime
    lookback: int = 60
    stale_after: timedelta = timedelta(days=45)
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict)

    def frame(self, symbol: str) -> pd.DataFrame:
        name, _ = self.files[symbol]
        if name not in self._cache:
            df = pd.read_csv(self.root / "data" / "samples" / name, index_col=0, parse_dates=True)
            df.index = df.index.tz_localize(UTC)
            self._cache[name] = df
        df = self._cache[name]
        return df[df.index <= pd.Timestamp(self.now)].tail(self.lookback)

    def stale_reason(self, df: pd.DataFrame) -> str | None:
        if df.empty:
            return "no bars before now"
        age = self.now - df.index[-1].to_pydatetime()
        return f"stale data: last bar {age.days}d old" if age > self.stale_after else None

    def bars_per_year(self, symbol: str) -> float:
        return BARS_PER_YEAR[self.files[symbol][1]]


def _all_missing(names: Sequence[str], reason: str) -> dict[str, str]:
    return dict.fromkeys(names, reason)


MARKET = ("volatility", "volume_ratio", "price_change_1h", "activity_level", "regime")
SIGNALS = ("signal_strength", "signal_direction", "signal_consistency", "false_signal_rate")
PERFORMANCE = ("current_drawdown", "max_drawdown", "daily_pnl_pct", "sharpe_ratio")


class SampleMarketMonitor:
    """volatility, volume_ratio, price_change_1h (last bar), activity_level, regime."""

    def __init__(self, window: DataWindow) -> None:
        self.window = window

    async def check_conditions(self, symbol: str) -> SampleResult:
        df = self.window.frame(symbol)
        stale = self.window.stale_reason(df)
        if stale:
            return SampleResult(
                "market", self.window.now, "ok", {}, missing=_all_missing(MARKET, stale)
            )
        close = df["Close"].to_numpy(float)
        returns = np.diff(np.log(close))
        vol = float(returns.std(ddof=1) * math.sqrt(self.window.bars_per_year(symbol)))
        volume_ratio = float(df["Volume"].iloc[-1] / df["Volume"].mean())
        change = float(close[-1] / close[-2] - 1.0)
        ranges = (df["High"] - df["Low"]).to_numpy(float)
        range_ratio = float(ranges[-1] / ranges.mean())
        activity = 0.5 * min(volume_ratio / 2.0, 1.0) + 0.5 * min(range_ratio / 2.0, 1.0)
        slope = float(np.polyfit(np.arange(len(close)), np.log(close), 1)[0])
        per_bar_vol = float(returns.std(ddof=1))
        trend = min(abs(slope) / per_bar_vol * 10.0, 1.0) if per_bar_vol > 0 else 0.0
        if abs(change) > 3 * per_bar_vol:
            regime, name = 2.0, "volatile"
        elif trend > 0.5:
            regime, name = (1.0, "trending_up") if slope > 0 else (-1.0, "trending_down")
        else:
            regime, name = 0.0, "ranging"
        metrics = {
            "volatility": vol,
            "volume_ratio": volume_ratio,
            "price_change_1h": change,
            "activity_level": activity,
            "trend_strength": trend,
            "regime": regime,
        }
        status = "warning" if volume_ratio >= 3.0 else "ok"
        return SampleResult("market", self.window.now, status, metrics, labels={"regime": name})


class SampleSignalMonitor:
    """A 10/30 moving-average crossover: strength, direction, consistency, false-signal rate."""

    def __init__(self, window: DataWindow, fast: int = 10, slow: int = 30) -> None:
        self.window, self.fast, self.slow = window, fast, slow

    async def check_conditions(self, symbol: str) -> SampleResult:
        df = self.window.frame(symbol)
        stale = self.window.stale_reason(df)
        if stale:
            return SampleResult(
                "signals", self.window.now, "ok", {}, missing=_all_missing(SIGNALS, stale)
            )
        close = df["Close"]
        spread = (close.rolling(self.fast).mean() - close.rolling(self.slow).mean()).dropna()
        sign = np.sign(spread.to_numpy(float))
        vol = float(np.log(close).diff().std())
        strength = min(abs(float(spread.iloc[-1] / close.iloc[-1])) / (2 * vol), 1.0)
        direction = float(sign[-1])
        consistency = float(np.mean(sign[-20:] == direction))
        crosses = np.flatnonzero(np.diff(sign) != 0) + 1
        closes = close.loc[spread.index].to_numpy(float)
        judged = [c for c in crosses if c + 5 < len(closes)]
        wrong = [np.sign(closes[c + 5] - closes[c]) != sign[c] for c in judged]
        metrics = {
            "signal_strength": strength,
            "signal_direction": direction,
            "signal_consistency": consistency,
            "signal_frequency": 100.0 * len(crosses) / len(sign),
        }
        missing = {}
        if judged:
            metrics["false_signal_rate"] = float(np.mean(wrong))
        else:
            missing["false_signal_rate"] = "no judged crossovers in the window"
        label = {1.0: "long", -1.0: "short"}.get(direction, "flat")
        return SampleResult(
            "signals", self.window.now, "ok", metrics, missing=missing, labels={"direction": label}
        )


class SampleEquity:
    """Buy-and-hold of one unit of capital in the symbol over the visible window."""

    def __init__(self, window: DataWindow, capital: float = 100_000.0) -> None:
        self.window, self.capital = window, capital

    async def equity_curve(self, symbol: str) -> list[tuple[datetime, float]]:
        df = self.window.frame(symbol)
        close = df["Close"].to_numpy(float)
        equity = self.capital * close / close[0]
        return [(t.to_pydatetime(), float(e)) for t, e in zip(df.index, equity, strict=True)]


class SamplePerformanceMonitor:
    """Drawdowns, last-bar P&L and Sharpe of the buy-and-hold equity."""

    def __init__(self, window: DataWindow, critical_drawdown: float = 0.30) -> None:
        self.window, self.critical = window, critical_drawdown
        self.equity = SampleEquity(window)

    async def check_conditions(self, symbol: str) -> SampleResult:
        df = self.window.frame(symbol)
        stale = self.window.stale_reason(df)
        if stale:
            return SampleResult(
                "performance", self.window.now, "ok", {}, missing=_all_missing(PERFORMANCE, stale)
            )
        equity = np.array([e for _, e in await self.equity.equity_curve(symbol)])
        drawdowns = 1.0 - equity / np.maximum.accumulate(equity)
        returns = np.diff(equity) / equity[:-1]
        sharpe = float(
            returns.mean() / returns.std(ddof=1) * math.sqrt(self.window.bars_per_year(symbol))
        )
        metrics = {
            "current_drawdown": float(drawdowns[-1]),
            "max_drawdown": float(drawdowns.max()),
            "daily_pnl_pct": float(returns[-1] * 100.0),
            "sharpe_ratio": sharpe,
            "exposure": 1.0,
        }
        status = "critical" if drawdowns[-1] >= self.critical else "ok"
        alerts = [f"drawdown {drawdowns[-1]:.1%}"] if status == "critical" else []
        return SampleResult("performance", self.window.now, status, metrics, alerts=alerts)
