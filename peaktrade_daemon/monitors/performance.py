"""PerformanceMonitor: the performance metrics of the metric contract from a portfolio source,
the built-in paper portfolio (per symbol) or the external ledger (account-wide).

Formulas: :mod:`peaktrade_daemon.portfolio.performance`. When the source's data is stale, the
metrics about *now* (current drawdown, daily pnl, position size, exposure) are missing with the
staleness as reason; the ones about the recorded past stay. The paper book is path-dependent:
a live change (e.g. ``portfolio.leverage``) applies from the time it was made on
(:mod:`peaktrade_daemon.portfolio.timeline`), when the composition root passes the
``live_changes`` port; without it the whole window is traded with the effective config.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import DataError, FeedError
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.window_memo import same_values
from peaktrade_daemon.monitors.defaults import close_feeds, resolve, trading_config
from peaktrade_daemon.monitors.market import market_params
from peaktrade_daemon.monitors.result import MonitorResult, ResultBuilder
from peaktrade_daemon.portfolio.ledger import LedgerPortfolio
from peaktrade_daemon.portfolio.paper import PaperPortfolio
from peaktrade_daemon.portfolio.performance import performance_metrics
from peaktrade_daemon.portfolio.snapshot import PortfolioSnapshot, PortfolioSource
from peaktrade_daemon.portfolio.timeline import LiveChange
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations

CURRENT = ("current_drawdown", "daily_pnl_pct", "position_size_pct", "exposure")
HISTORICAL = ("max_drawdown", "win_rate", "sharpe_ratio", "sortino_ratio", "total_trades")
#: Where the paper book learns when live values changed: (settings, effective config) -> the
#: changes still in effect, oldest first (blocking). The composition root supplies it.
LiveChangeSource = Callable[[DaemonSettings, PeakConfig], Sequence[LiveChange]]
REASONS = {
    "win_rate": "no closed trades",
    "daily_pnl_pct": "the equity curve does not reach back 24 hours",
    "sharpe_ratio": "equity returns have no variance (or fewer than 3 points)",
    "sortino_ratio": "no losing equity step (downside deviation is 0)",
}


def _same_book(a: PortfolioSnapshot, b: PortfolioSnapshot) -> bool:
    """Both snapshots hold one unchanged book: the same read-only equity curve and trades, equal
    positions, timestamps and annualisation (the metrics are a function of these alone)."""
    return (
        a.equity is b.equity
        and not a.equity.flags.writeable
        and a.trades is b.trades
        and a.positions == b.positions
        and a.bars_per_year == b.bars_per_year
        and same_values(a.timestamps, b.timestamps, equal_nan=False)
    )


class PerformanceMonitor:
    """Portfolio performance. ``PerformanceMonitor()`` reads the current root.
    ``evaluations``: the strategy outputs the paper book shares with the signal monitor;
    ``lane``: the thread its and the paper book's batches run on (see MarketMonitor)."""

    name = "performance"

    def __init__(
        self,
        settings: DaemonSettings | None = None,
        feeds: MarketSource | None = None,
        config: PeakConfig | None = None,
        source: PortfolioSource | None = None,
        clock: Clock | None = None,
        live_changes: LiveChangeSource | None = None,
        evaluations: StrategyEvaluations | None = None,
        lane: ComputeLane | None = None,
    ) -> None:
        self._owns_feeds = feeds is None
        self._evaluations = evaluations
        self._lane = lane
        self._owns_source = source is None
        self._live_changes = live_changes
        self.settings, self.feeds, self.clock = resolve(settings, feeds, clock)
        self.source = source if source is not None else self._build_source(config)
        self._seen: dict[str, tuple[PortfolioSnapshot, dict[str, float]]] = {}
        self._batch: Batcher[PortfolioSnapshot, dict[str, float]] = Batcher(
            each(performance_metrics), "performance", lane
        )

    def _build_source(self, config: PeakConfig | None) -> PortfolioSource:
        cfg = self.settings.monitors.performance
        if cfg.source == "ledger":
            return LedgerPortfolio(self.settings, self.clock, cfg.ledger_stale_after_s)
        config = config if config is not None else trading_config(self.settings)
        port = self._live_changes
        return PaperPortfolio(
            self.feeds,
            config,
            cfg.history_bars,
            live_changes=None if port is None else functools.partial(port, self.settings, config),
            clock=self.clock,
            replay_speed=self.settings.replay.speed,
            market=market_params(self.settings.monitors.market),
            evaluations=self._evaluations,
            lane=self._lane,
        )

    def reconfigure(self, settings: DaemonSettings, config: PeakConfig) -> None:
        """Adopt new settings and the effective config (a reload, or live overrides changed
        ``portfolio.leverage``); a portfolio source built here is rebuilt on them, an injected
        one is the caller's."""
        self.settings = settings
        if self._owns_source:
            self.source = self._build_source(config)

    async def _metrics(self, symbol: str, snap: PortfolioSnapshot) -> dict[str, float]:
        """The metrics of ``snap``: the last ones of ``symbol`` when the book is the one they
        were computed from (the paper book's memo hands out the same read-only curve until a
        bar is added), else computed in a worker thread with the other new books of the moment."""
        seen = self._seen.get(symbol)
        if seen is not None and _same_book(seen[0], snap):
            return seen[1]
        values = await self._batch.submit(snap)
        self._seen[symbol] = (snap, values)
        return values

    async def close(self) -> None:
        """Close the market data feeds this monitor built itself (injected ones are the
        caller's to close)."""
        if self._owns_feeds:
            await close_feeds(self.feeds)

    async def check_conditions(self, symbol: str) -> MonitorResult:
        """Every performance metric (missing ones with their reason) and the status."""
        cfg = self.settings.monitors.performance
        out = ResultBuilder(self.name, symbol, self.clock.now())
        try:
            snap = await self.source.snapshot(symbol)
        except DataError as exc:
            level = "warning" if isinstance(exc, FeedError) else "critical"
            out.lack((*CURRENT, *HISTORICAL), f"no portfolio data: {exc}")
            out.raise_status(level, f"{symbol}: no portfolio data: {exc}")
            return out.build()
        out.labels.update(source=snap.source, scope=snap.scope)
        if len(snap.equity) == 0:
            out.lack((*CURRENT, *HISTORICAL), snap.stale_reason or snap.insufficient or "no equity")
            if snap.stale_reason:
                out.raise_status(cfg.stale_status, f"{symbol}: {snap.stale_reason}")
            return out.build()
        values = await self._metrics(symbol, snap)
        if snap.stale_reason:
            out.lack(CURRENT, snap.stale_reason)
            out.raise_status(cfg.stale_status, f"{symbol}: {snap.stale_reason}")
        blown = bool((snap.equity <= 0).any())
        for name in (*CURRENT, *HISTORICAL):
            if name not in out.missing:
                reason = (
                    "equity fell to or below 0 (the book was liquidated)"
                    if blown and name not in ("win_rate",)
                    else REASONS.get(name, "undefined")
                )
                out.put(name, values[name], reason)
        out.check(cfg.thresholds)
        return out.build()
