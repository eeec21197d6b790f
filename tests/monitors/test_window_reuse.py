"""Monitors reuse the work done over an unchanged window of bars (``market.window_memo``), and
that reuse never changes a result: long-lived monitors, checked again and again while replay
time moves across new bars and while it does not, report what freshly built ones report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.monitors.result import MonitorResult
from peaktrade_daemon.monitors.signals import SignalMonitor
from peaktrade_daemon.settings import load_settings

START = datetime(2017, 12, 1, 9, 0, tzinfo=UTC)  # inside EURUSD.csv (hourly, FX hours)
SIGNAL_NOW = ("signal_strength", "signal_direction")  # the rest is the monitor's own history


def same(a: MonitorResult, b: MonitorResult, names: tuple[str, ...] | None = None) -> bool:
    keys = names if names is not None else tuple(sorted(set(a.metrics) | set(b.metrics)))
    left = [a.metrics.get(k) for k in keys]
    right = [b.metrics.get(k) for k in keys]
    return left == right and a.status == b.status


async def test_reused_results_equal_fresh_ones_as_bars_arrive(project_root: Path) -> None:
    settings = load_settings(project_root, cli_overrides={"replay": {"start": START.isoformat()}})
    config = trading_config(settings)
    clock = ManualClock(START)
    feeds = Feeds(settings, clock)
    kept = (
        MarketMonitor(settings, feeds, clock),
        SignalMonitor(settings, feeds, config, clock),
        PerformanceMonitor(settings, feeds, config, clock=clock),
    )
    seen: set[float] = set()
    async with asyncio.timeout(60):
        # Every 20 minutes for 6 hours: three checks per bar, then a new bar.
        for _ in range(18):
            fresh = (  # over the same feeds: replay time starts when a feed is built
                MarketMonitor(settings, feeds, clock),
                SignalMonitor(settings, feeds, config, clock),
                PerformanceMonitor(settings, feeds, config, clock=clock),
            )
            for old, new in zip(kept, fresh, strict=True):
                a = await old.check_conditions("EUR/USD")
                b = await new.check_conditions("EUR/USD")
                assert same(a, b, SIGNAL_NOW if isinstance(old, SignalMonitor) else None)
                if isinstance(old, MarketMonitor):
                    seen.add(a.metrics["price_change_1h"])
            await clock.advance(1200)
    assert len(seen) >= 5, "replay time crossed new bars, so the metrics moved"
    assert kept[0]._memo.hits >= 10 and kept[0]._memo.misses >= 5


async def test_reused_scans_and_book_metrics_equal_recomputed_ones(project_root: Path) -> None:
    # A scan of the window the last scan saw is reused whole (histories included), and so are a
    # book's metrics while the book is unchanged: a twin that recomputes both before every check
    # must report the same, history-based metrics and labels included.
    settings = load_settings(project_root, cli_overrides={"replay": {"start": START.isoformat()}})
    config = trading_config(settings)
    clock = ManualClock(START)
    feeds = Feeds(settings, clock)
    signals = (
        SignalMonitor(settings, feeds, config, clock),
        SignalMonitor(settings, feeds, config, clock),
    )
    books = (PerformanceMonitor(settings, feeds, config, clock=clock),
             PerformanceMonitor(settings, feeds, config, clock=clock))  # fmt: skip
    async with asyncio.timeout(60):
        for _ in range(12):  # every 20 minutes for 4 hours: a new bar every third check
            signals[1]._last_scans.clear()
            books[1]._seen.clear()
            for pair in (signals, books):
                reused, recomputed = [await m.check_conditions("EUR/USD") for m in pair]
                assert same(reused, recomputed)
                assert reused.labels == recomputed.labels and reused.missing == recomputed.missing
            await clock.advance(1200)
    assert signals[0]._scans.batches < signals[1]._scans.batches
    assert books[0]._batch.batches < books[1]._batch.batches
