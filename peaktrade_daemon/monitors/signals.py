"""SignalMonitor: the enabled strategies over a symbol's latest bars, the recorded signal history
and the signal metrics of the metric contract.

Formulas: :mod:`peaktrade_daemon.strategies.signal_metrics` (current signal) and
:mod:`peaktrade_daemon.strategies.history` (consistency, false-signal rate, frequency from the
bounded history, ``monitors.signals.history_limit`` signals per strategy and symbol). When the
bars are stale, the metrics about the *current* signal are missing (the stale last bar says
nothing about now); the history-based rates stay, since they describe the past.
"""

from __future__ import annotations

from dataclasses import dataclass

from peaktrade_daemon.batcher import Batcher, each
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError, DataError, FeedError
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.feeds import MarketSource
from peaktrade_daemon.market.window_memo import WindowMemo
from peaktrade_daemon.monitors.defaults import close_feeds, resolve, trading_config
from peaktrade_daemon.monitors.result import MonitorResult, ResultBuilder
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.strategies.base import Strategy, StrategyOutput, warmup
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations
from peaktrade_daemon.strategies.history import StrategyHistory, history_metrics
from peaktrade_daemon.strategies.registry import enabled_strategies
from peaktrade_daemon.strategies.signal_metrics import SignalParams, current_signal

CURRENT = ("signal_strength", "signal_direction", "signal_consistency")
HISTORICAL = ("false_signal_rate", "signal_frequency")
DIRECTION_NAMES = {-1: "short", 0: "flat", 1: "long"}


@dataclass(frozen=True, slots=True)
class _Scan:
    strength: float
    direction: float
    leader: str
    history: dict[str, float]
    recorded: int


def chosen_strategies(config: PeakConfig, only: str | None) -> tuple[Strategy, ...]:
    """The enabled strategies, or only ``only`` (``--strategy``) when one was named; a name that
    is not enabled is a configuration error, never an empty signal set."""
    strategies = enabled_strategies(config)
    if only is None:
        return strategies
    chosen = tuple(s for s in strategies if s.name == only)
    if not chosen:
        enabled = ", ".join(s.name for s in strategies) or "none"
        raise ConfigError(
            f"strategy {only!r} is not enabled (enabled: {enabled})", key=f"strategy.{only}"
        )
    return chosen


class SignalMonitor:
    """Strategy signals of a symbol. ``SignalMonitor()`` reads the current root.
    ``evaluations``: strategy outputs shared with the paper book (the composition root's), else
    the monitor's own. ``lane``: the thread its batches run on (see MarketMonitor)."""

    name = "signals"

    def __init__(
        self,
        settings: DaemonSettings | None = None,
        feeds: MarketSource | None = None,
        config: PeakConfig | None = None,
        clock: Clock | None = None,
        strategy: str | None = None,
        evaluations: StrategyEvaluations | None = None,
        lane: ComputeLane | None = None,
    ) -> None:
        self._owns_feeds = feeds is None
        self.settings, self.feeds, self.clock = resolve(settings, feeds, clock)
        self.config = config if config is not None else trading_config(self.settings)
        self.only = strategy
        self.strategies: tuple[Strategy, ...] = self._enabled(self.config)
        self._histories: dict[tuple[str, str], StrategyHistory] = {}
        # The strategies' output over a window the previous scan (or the paper book) saw is
        # the same again.
        self._outputs = evaluations if evaluations is not None else StrategyEvaluations()
        # Scans run in batches, one batch at a time: the histories they update need no lock.
        self._scans: Batcher[Bars, _Scan] = Batcher(self._scan_all, "signals", lane)
        # A scan of the window the symbol's last scan saw, with the same strategies and the
        # histories that scan left, records nothing and judges nothing new: the same result.
        self._last_scans: WindowMemo[_Scan] = WindowMemo()

    def reconfigure(self, settings: DaemonSettings, config: PeakConfig) -> None:
        """Adopt new settings and config; histories of strategies whose parameters changed (and
        all of them when the history bound changed) start again."""
        strategies = self._enabled(config)
        unchanged = {s.name for s in strategies if s in self.strategies}
        if settings.monitors.signals.history_limit != self.settings.monitors.signals.history_limit:
            unchanged = set()
        self._histories = {k: h for k, h in self._histories.items() if k[0] in unchanged}
        self.settings, self.config, self.strategies = settings, config, strategies

    def _enabled(self, config: PeakConfig) -> tuple[Strategy, ...]:
        return chosen_strategies(config, self.only)

    def history(self, strategy: str, symbol: str) -> StrategyHistory:
        """The recorded signal history of one strategy on one symbol."""
        key = (strategy, symbol)
        if key not in self._histories:
            self._histories[key] = StrategyHistory(self.settings.monitors.signals.history_limit)
        return self._histories[key]

    def _scan_key(self, symbol: str) -> tuple[object, ...]:
        cfg = self.settings.monitors.signals
        histories = tuple(self.history(s.name, symbol) for s in self.strategies)
        return (self.strategies, SignalParams(cfg.consistency_window, cfg.forward_bars), histories)

    def _scan_all(self, windows: list[Bars]) -> list[_Scan | Exception]:
        """The scans of a batch: the strategies' outputs over all of its windows first, stacked
        (the same numbers as one window at a time), then each scan (a failure fails its own
        window only)."""
        try:
            outputs = self._outputs.outputs_many(windows, self.strategies)
        except Exception:  # each scan then evaluates its own window and meets its own error
            return each(self._scan)(windows)
        return each(self._scan_job)(list(zip(windows, outputs, strict=True)))

    def _scan_job(self, job: tuple[Bars, list[StrategyOutput]]) -> _Scan:
        return self._scan(*job)

    def _scan(self, bars: Bars, outputs: list[StrategyOutput] | None = None) -> _Scan:
        key = self._scan_key(bars.symbol)
        cfg = self.settings.monitors.signals
        params = SignalParams(cfg.consistency_window, cfg.forward_bars)
        if outputs is None:
            outputs = self._outputs.outputs(bars, self.strategies)
        histories = [self.history(s.name, bars.symbol) for s in self.strategies]
        for history, out in zip(histories, outputs, strict=True):
            history.record(
                bars.timestamps, out.direction[0], out.strength[0], bars.close, cfg.forward_bars
            )
        strength, direction = current_signal(outputs)
        leader = max(
            zip(self.strategies, outputs, strict=True), key=lambda so: so[1].strength[0, -1]
        )[0].name
        scan = _Scan(
            strength=float(strength[0]),
            direction=float(direction[0]),
            leader=leader,
            history=history_metrics(histories, float(direction[0]), params),
            recorded=sum(len(h.records) for h in histories),
        )
        return self._last_scans.put(bars.symbol, bars, key, scan)

    async def close(self) -> None:
        """Close the market data feeds this monitor built itself (injected ones are the
        caller's to close)."""
        if self._owns_feeds:
            await close_feeds(self.feeds)

    async def check_conditions(self, symbol: str) -> MonitorResult:
        """Every signal metric of ``symbol`` (missing ones with their reason) and the status."""
        cfg = self.settings.monitors.signals
        out = ResultBuilder(self.name, symbol, self.clock.now())
        try:
            bars = await self.feeds.bars(symbol, cfg.history_bars)
        except DataError as exc:
            # No data from the feed (unreachable, timed out) is the stalest data of all;
            # bad data is critical.
            level = cfg.stale_status if isinstance(exc, FeedError) else "critical"
            out.lack((*CURRENT, *HISTORICAL), f"no market data: {exc}")
            out.raise_status(level, f"{symbol}: no market data: {exc}")
            return out.build()
        freshness = self.feeds.freshness(bars)
        if bars.empty:
            out.lack((*CURRENT, *HISTORICAL), freshness.reason)
            out.raise_status(cfg.stale_status, f"{symbol}: {freshness.reason}")
            return out.build()
        need = warmup(self.strategies)
        if len(bars) < need:
            reason = f"not enough data: {len(bars)} bars, the enabled strategies need {need}"
            out.lack((*CURRENT, *HISTORICAL), reason)
            return out.build()
        scan = self._last_scans.get(symbol, bars, self._scan_key(symbol))
        if scan is None:
            scan = await self._scans.submit(bars)
        if freshness.stale:
            out.lack(CURRENT, freshness.reason)
            out.raise_status(cfg.stale_status, f"{symbol}: {freshness.reason}")
        else:
            out.put("signal_strength", scan.strength, "")
            out.put("signal_direction", scan.direction, "")
            out.put(
                "signal_consistency",
                scan.history["signal_consistency"],
                "no current signal (all strategies flat)"
                if scan.direction == 0
                else "no recorded signals",
            )
            out.labels["direction"] = DIRECTION_NAMES[int(scan.direction)]
            if scan.direction != 0:
                out.labels["strategy"] = scan.leader
        out.put(
            "false_signal_rate",
            scan.history["false_signal_rate"],
            f"no recorded signal has {cfg.forward_bars} bars after it yet",
        )
        out.put("signal_frequency", scan.history["signal_frequency"], "no bars scanned")
        out.labels["signals_recorded"] = str(scan.recorded)
        out.check(cfg.thresholds)
        return out.build()
