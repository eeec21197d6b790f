"""MarketMonitor: the market metrics of one symbol from its feed, calendar and ticker.

Metric formulas are in :mod:`peaktrade_daemon.market.metrics`; ``spread`` is (ask - bid) / mid
of the feed's ticker (missing for feeds without tickers, like replay, and for a ticker older
than ``ticker_max_age_s``) and ``is_market_hours`` is
the symbol's calendar at the feed's now (replay time for replayed symbols; missing beyond an
exchange calendar's table). When the bars are
stale (see :mod:`peaktrade_daemon.market.freshness`) every bar-derived metric is missing with
the staleness as its reason, and the status is at least ``stale_status``; the same when the
feed delivers nothing (a FeedError: unreachable, timed out), with the feed's error as reason.
"""

from __future__ import annotations

import logging

import numpy as np

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import DataError, FeedError
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.bars import Bars, timeframe_seconds
from peaktrade_daemon.market.calendars import CalendarRangeError
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.freshness import describe_age
from peaktrade_daemon.market.metrics import REGIME_NAMES, MarketParams, market_metrics
from peaktrade_daemon.market.stacks import stacks
from peaktrade_daemon.market.window_memo import WindowMemo
from peaktrade_daemon.monitors.defaults import close_feeds, resolve
from peaktrade_daemon.monitors.result import MonitorResult, ResultBuilder
from peaktrade_daemon.settings import DaemonSettings, MarketMonitorSettings

logger = logging.getLogger(__name__)

_Key = tuple[MarketParams, float, float]  # the metric parameters, bar length, bars per year

BAR_METRICS = (
    "volatility",
    "volume_ratio",
    "price_change_1h",
    "activity_level",
    "trend_strength",
    "regime",
)


def _needs(cfg: MarketMonitorSettings) -> dict[str, int]:
    """Bars each metric needs at least."""
    lb = cfg.lookback_bars
    return {
        "volatility": lb + 1,
        "volume_ratio": lb,
        "price_change_1h": 2,
        "activity_level": max(lb, cfg.atr_period + 1),
        "trend_strength": lb + 1,
        "regime": max(cfg.long_lookback_bars, lb) + 1,
    }


def market_params(cfg: MarketMonitorSettings) -> MarketParams:
    """The metric windows and regime thresholds of ``[monitors.market]`` (the paper book's
    regime filter reads the same ones)."""
    return MarketParams(
        lookback=cfg.lookback_bars,
        long_lookback=cfg.long_lookback_bars,
        atr_period=cfg.atr_period,
        volatile_ratio=cfg.volatile_ratio,
        trend_threshold=cfg.trend_threshold,
    )


class MarketMonitor:
    """Market conditions of a symbol. ``MarketMonitor()`` reads the current root. ``lane``:
    the thread its batches run on (the composition's compute lane), else the default executor."""

    name = "market"

    def __init__(
        self,
        settings: DaemonSettings | None = None,
        feeds: MarketSource | None = None,
        clock: Clock | None = None,
        lane: ComputeLane | None = None,
    ) -> None:
        self._owns_feeds = feeds is None
        self.settings, self.feeds, self.clock = resolve(settings, feeds, clock)
        # Cycles mostly see the window the previous one saw (a bar outlasts the poll interval).
        self._memo: WindowMemo[dict[str, float]] = WindowMemo()
        # Windows that are new are computed together, the symbols of a cycle in one thread call.
        self._batch: Batcher[tuple[Bars, _Key], dict[str, float]] = Batcher(
            self._compute_all, "market", lane
        )

    def reconfigure(self, settings: DaemonSettings) -> None:
        """Adopt new settings (lookbacks, thresholds) from the next check on."""
        self.settings = settings

    def _params(self, bars: Bars) -> _Key:
        tf_s = timeframe_seconds(bars.timeframe)
        params = market_params(self.settings.monitors.market)
        return params, tf_s, self.feeds.calendar(bars.symbol).bars_per_year(tf_s)

    def _compute(self, bars: Bars, key: _Key) -> dict[str, float]:
        params, tf_s, bars_per_year = key
        values = market_metrics(
            bars.high[None, :],
            bars.low[None, :],
            bars.close[None, :],
            bars.volume[None, :],
            bars.timestamps,
            timeframe_s=tf_s,
            bars_per_year=bars_per_year,
            params=params,
        )
        result = {name: float(array[0]) for name, array in values.items()}
        return self._memo.put(bars.symbol, bars, key, result)

    def _compute_all(self, jobs: list[tuple[Bars, _Key]]) -> list[dict[str, float] | Exception]:
        """The metrics of a batch's windows, stacked by length and parameters (the same numbers
        as one window at a time); should that fail, one window at a time, so that a failure
        fails its own window only."""
        try:
            return self._stacked(jobs)
        except Exception:
            return each(self._compute_job)(jobs)

    def _compute_job(self, job: tuple[Bars, _Key]) -> dict[str, float]:
        return self._compute(*job)

    def _stacked(self, jobs: list[tuple[Bars, _Key]]) -> list[dict[str, float] | Exception]:
        windows, keys = [bars for bars, _ in jobs], [key for _, key in jobs]
        results: list[dict[str, float] | Exception] = [{} for _ in jobs]
        for stack in stacks(windows, keys):
            params, tf_s, bars_per_year = keys[stack.members[0]]
            values = market_metrics(
                stack.column("high"),
                stack.column("low"),
                stack.column("close"),
                stack.column("volume"),
                stack.timestamps,
                timeframe_s=tf_s,
                bars_per_year=bars_per_year,
                params=params,
            )
            for row, i in enumerate(stack.members):
                result = {name: float(array[row]) for name, array in values.items()}
                results[i] = self._memo.put(windows[i].symbol, windows[i], keys[i], result)
        return results

    async def _metrics(self, bars: Bars) -> dict[str, float]:
        """The bar metrics of ``bars``: remembered when the window is the last one seen, else
        computed in a worker thread (with the other new windows of the moment)."""
        key = self._params(bars)
        values = self._memo.get(bars.symbol, bars, key)
        if values is None:
            values = await self._batch.submit((bars, key))
        return dict(values)

    async def close(self) -> None:
        """Close the market data feeds this monitor built itself (injected ones are the
        caller's to close)."""
        if self._owns_feeds:
            await close_feeds(self.feeds)

    async def check_conditions(self, symbol: str) -> MonitorResult:
        """Every market metric of ``symbol`` (missing ones with their reason) and the status."""
        cfg = self.settings.monitors.market
        out = ResultBuilder(self.name, symbol, self.clock.now())
        calendar = self.feeds.calendar(symbol)
        try:
            bars = await self.feeds.bars(symbol, cfg.history_bars)
        except DataError as exc:
            # No data from the feed (unreachable, timed out) is the stalest data of all;
            # bad data is critical.
            level = cfg.stale_status if isinstance(exc, FeedError) else "critical"
            out.lack((*BAR_METRICS, "is_market_hours", "spread"), f"no market data: {exc}")
            out.raise_status(level, f"{symbol}: no market data: {exc}")
            return out.build()
        try:
            out.put("is_market_hours", 1.0 if calendar.is_open(bars.as_of) else 0.0, "")
        except CalendarRangeError as exc:  # beyond the exchange's table: unknown, not a guess
            out.put("is_market_hours", None, str(exc))
        out.labels["data_as_of"] = bars.as_of.isoformat()
        freshness = self.feeds.freshness(bars)
        if bars.last_time is not None:
            out.labels["last_bar"] = bars.last_time.isoformat()
        if freshness.stale:
            out.lack(BAR_METRICS, freshness.reason)
            out.raise_status(cfg.stale_status, f"{symbol}: {freshness.reason}")
        else:
            values = await self._metrics(bars)
            needs = _needs(cfg)
            for name in BAR_METRICS:
                reason = (
                    f"not enough data: {len(bars)} bars, {name} needs {needs[name]}"
                    if len(bars) < needs[name]
                    else f"{name} undefined on this window (no volume or no price movement)"
                )
                out.put(name, values[name], reason)
            if "regime" in out.metrics:
                out.labels["regime"] = REGIME_NAMES[int(out.metrics["regime"])]
        await self._spread(symbol, out)
        out.check(cfg.thresholds)
        return out.build()

    async def _spread(self, symbol: str, out: ResultBuilder) -> None:
        try:
            ticker = await self.feeds.ticker(symbol)
        except FeedError as exc:
            out.put("spread", None, f"ticker unavailable: {exc}")
            return
        if ticker is None:
            out.put("spread", None, f"no ticker: the {self.feeds.spec(symbol).feed} feed has none")
            return
        age_s = (self.clock.now() - ticker.timestamp).total_seconds()
        limit_s = self.settings.monitors.market.ticker_max_age_s
        if age_s > limit_s:
            out.put("spread", None, f"stale ticker: {describe_age(age_s)} old (limit {limit_s:g}s)")
            return
        spread = ticker.spread
        out.put(
            "spread", spread, f"no valid bid/ask in the ticker (bid {ticker.bid}, ask {ticker.ask})"
        )
        if spread is not None and np.isfinite(spread):
            out.labels["ticker_time"] = ticker.timestamp.isoformat()
