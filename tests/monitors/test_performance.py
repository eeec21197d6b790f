"""PerformanceMonitor: every metric against pandas, on the paper book and on a ledger."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.config import load_config
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.portfolio.paper import PaperPortfolio
from peaktrade_daemon.portfolio.snapshot import PortfolioSnapshot
from peaktrade_daemon.settings import load_settings
from tests.portfolio.test_ledger import ledger_source, write_ledger


def expected_pd(snap: PortfolioSnapshot) -> dict[str, float]:
    """The metrics with pandas from the snapshot's equity curve, trades and positions."""
    eq = pd.Series(snap.equity, index=pd.to_datetime(snap.timestamps, utc=True))
    peak = eq.cummax()
    r = eq.pct_change().dropna()
    ref = eq[: eq.index[-1] - pd.Timedelta(hours=24)]
    notionals = [abs(p.quantity * p.price) for p in snap.positions]
    wins = [t.pnl > 0 for t in snap.trades]
    downside = np.sqrt((r.clip(upper=0) ** 2).mean())
    return {
        "current_drawdown": (peak.iloc[-1] - eq.iloc[-1]) / peak.iloc[-1],
        "max_drawdown": ((peak - eq) / peak).max(),
        "win_rate": sum(wins) / len(wins) if wins else math.nan,
        "daily_pnl_pct": (eq.iloc[-1] / ref.iloc[-1] - 1) * 100 if len(ref) else math.nan,
        "sharpe_ratio": r.mean() / r.std() * np.sqrt(snap.bars_per_year),
        "sortino_ratio": r.mean() / downside * np.sqrt(snap.bars_per_year),
        "total_trades": float(len(snap.trades)),
        "position_size_pct": max(notionals, default=0.0) / eq.iloc[-1] * 100,
        "exposure": sum(notionals) / eq.iloc[-1],
    }


def assert_matches(
    metrics: dict[str, float], missing: dict[str, str], expected: dict[str, float]
) -> None:
    for name, value in expected.items():
        if math.isnan(value):
            assert name in missing, name
        else:
            assert metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("symbol", ["EUR/USD", "GOOG"])
async def test_paper_metrics_match_pandas(project_root: Path, symbol: str) -> None:
    settings = load_settings(project_root)
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    config = load_config(project_root / "config/config.toml")
    feeds = Feeds(settings, clock)
    source = PaperPortfolio(feeds, config, settings.monitors.performance.history_bars)
    monitor = PerformanceMonitor(settings, feeds, source=source, clock=clock)
    async with asyncio.timeout(10):
        result = await monitor.check_conditions(symbol)
        snap = await source.snapshot(symbol)
    assert len(snap.trades) > 5
    assert_matches(result.metrics, result.missing, expected_pd(snap))
    assert result.labels == {"source": "paper", "scope": symbol}


async def test_paper_uses_the_effective_leverage(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_root)
    settings = load_settings(project_root)
    async with asyncio.timeout(10):
        base = await PerformanceMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    # A live-like environment merges auto.toml: the live leverage reaches the paper book.
    config_file = project_root / "config/config.toml"
    config_file.write_text(config_file.read_text().replace('mode = "paper"', 'mode = "live"'))
    auto = project_root / "config/live_overrides/auto.toml"
    auto.write_text(auto.read_text() + '"portfolio.leverage" = 2.0\n')
    async with asyncio.timeout(10):
        live = await PerformanceMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    assert base.metrics["exposure"] > 0.2
    assert live.metrics["exposure"] > 1.5 * base.metrics["exposure"]


async def test_blown_paper_book_reports_drawdown_and_missing_ratios(project_root: Path) -> None:
    # Without a stop, shorting a quarter of the book into BTC's 2013 rally (+445 % in November)
    # loses more than everything.
    config = load_config(project_root / "config/config.toml").with_updates({"risk.stop_loss": 0.0})
    monitor = PerformanceMonitor(load_settings(project_root), config=config, clock=ManualClock())
    async with asyncio.timeout(10):
        result = await monitor.check_conditions("BTC/EUR")
    assert result.metrics["current_drawdown"] > 1.0
    assert result.status == "critical"
    assert result.missing["sharpe_ratio"] == "equity fell to or below 0 (the book was liquidated)"


async def test_shipped_stop_loss_keeps_the_btc_book_alive(project_root: Path) -> None:
    async with asyncio.timeout(10):
        result = await PerformanceMonitor(
            load_settings(project_root), clock=ManualClock()
        ).check_conditions("BTC/EUR")
    assert 0.0 <= result.metrics["max_drawdown"] < 1.0
    assert "sharpe_ratio" in result.metrics and result.metrics["total_trades"] > 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_ledger_metrics_match_pandas(project_root: Path, fmt: str) -> None:
    write_ledger(project_root, fmt)
    clock = ManualClock(datetime(2024, 3, 5, tzinfo=UTC))
    source = ledger_source(project_root, fmt, clock)
    monitor = PerformanceMonitor(load_settings(project_root), source=source, clock=clock)
    async with asyncio.timeout(10):
        result = await monitor.check_conditions("GOOG")
        snap = await source.snapshot("GOOG")
    assert_matches(result.metrics, result.missing, expected_pd(snap))
    assert result.metrics["win_rate"] == pytest.approx(1 / 3)
    assert result.labels["scope"] == "account"


async def test_stale_ledger_hides_current_metrics(project_root: Path) -> None:
    write_ledger(project_root, "csv")
    clock = ManualClock(datetime(2024, 4, 1, tzinfo=UTC))
    source = ledger_source(project_root, "csv", clock)
    monitor = PerformanceMonitor(load_settings(project_root), source=source, clock=clock)
    async with asyncio.timeout(10):
        result = await monitor.check_conditions("GOOG")
    for name in ("current_drawdown", "daily_pnl_pct", "position_size_pct", "exposure"):
        assert result.missing[name].startswith("stale data: last equity point")
    assert "max_drawdown" in result.metrics and result.status == "warning"


async def test_no_ledger_file_is_critical(project_root: Path) -> None:
    settings = load_settings(
        project_root, cli_overrides={"monitors": {"performance": {"source": "ledger"}}}
    )
    async with asyncio.timeout(10):
        result = await PerformanceMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    assert result.status == "critical" and result.metrics == {}
    assert "ledger file unreadable" in result.missing["win_rate"]


async def test_too_few_bars_for_a_paper_book(project_root: Path) -> None:
    settings = load_settings(
        project_root, cli_overrides={"replay": {"start": "2004-09-20T00:00:00"}}
    )
    async with asyncio.timeout(10):
        result = await PerformanceMonitor(settings, clock=ManualClock()).check_conditions("GOOG")
    assert result.metrics == {} and result.status == "ok"
    assert result.missing["total_trades"] == "not enough data: 22 bars, the strategies need 30"
