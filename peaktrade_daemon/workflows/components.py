"""The workflow side's collaborators: the real monitors over one shared :class:`Feeds` (so the
three monitors see the same replay time), their equity source and the decision engine, and the
in-process workflows over them. Apart from ``runtime.py`` (which binds them into the engine, the
cycle and the job runner) so that ``WorkflowEngine()`` can build its embedded workflows without
importing what imports the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from peaktrade_daemon.clock import Clock
from peaktrade_daemon.config.loader import PeakConfig
from peaktrade_daemon.decision.engine import DecisionEngine
from peaktrade_daemon.lane import ComputeLane
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.monitors.market import MarketMonitor
from peaktrade_daemon.monitors.performance import LiveChangeSource, PerformanceMonitor
from peaktrade_daemon.monitors.signals import SignalMonitor
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations
from peaktrade_daemon.workflows.catalog import build_workflows
from peaktrade_daemon.workflows.model import WorkflowFn
from peaktrade_daemon.workflows.ports import CycleMonitors
from peaktrade_daemon.workflows.sources import WorkflowSources, effective_config_loader


@dataclass(frozen=True, slots=True)
class WorkflowComponents:
    """The real monitors (over one shared feed router), their equity source and the decision
    engine: what in-process workflows and cycles need."""

    feeds: Feeds
    market: MarketMonitor
    signals: SignalMonitor
    performance: PerformanceMonitor
    decider: DecisionEngine
    lane: ComputeLane | None = None  # the thread the components' batches run on

    @property
    def monitors(self) -> CycleMonitors:
        """The three monitors as the cycle runs them."""
        return CycleMonitors(self.market, self.signals, self.performance)

    async def reconfigure(self, settings: DaemonSettings, config: PeakConfig) -> DecisionEngine:
        """Adopt a new snapshot (settings and effective config) everywhere; returns the decision
        engine rebuilt on the new criteria."""
        await self.feeds.reconfigure(settings)
        self.market.reconfigure(settings)
        self.signals.reconfigure(settings, config)
        self.performance.reconfigure(settings, config)
        return DecisionEngine(settings)

    async def close(self) -> None:
        """Close the feeds (exchange connections) and end the compute lane's thread."""
        await self.feeds.close()
        if self.lane is not None:
            self.lane.close()


class SnapshotEquity:
    """An :class:`EquitySource` over the performance monitor's portfolio source (the paper
    portfolio or the ledger), read through the monitor so a reload's new source is used."""

    def __init__(self, performance: PerformanceMonitor) -> None:
        self._performance = performance

    async def equity_curve(self, symbol: str) -> list[tuple[datetime, float]]:
        """``(UTC time, equity)`` points of ``symbol``'s portfolio, oldest first."""
        snapshot = await self._performance.source.snapshot(symbol)
        return [
            (datetime.fromtimestamp(int(ns) / 1e9, UTC), float(value))
            for ns, value in zip(snapshot.timestamps, snapshot.equity, strict=True)
        ]


def in_process_workflows(
    components: WorkflowComponents, current: Callable[[], DaemonSettings]
) -> dict[str, WorkflowFn]:
    sources = WorkflowSources(
        current_settings=current,
        market=components.market,
        signals=components.signals,
        performance=components.performance,
        equity=SnapshotEquity(components.performance),
        effective_config=effective_config_loader(current),
        feeds=components.feeds,
    )
    return build_workflows(sources)


def embedded_workflows(
    settings: DaemonSettings, clock: Clock
) -> tuple[dict[str, WorkflowFn], WorkflowComponents]:
    """The four in-process workflow types over real monitors of ``settings``' root and its
    effective trading config, the paper book told of live changes as the daemon's is (what
    ``WorkflowEngine()`` runs), and the components to close."""
    from peaktrade_daemon.promotion.live_changes import audited_live_changes  # the adapter

    components = build_components(
        settings,
        clock=clock,
        config=trading_config(settings),
        live_changes=audited_live_changes,
    )
    return in_process_workflows(components, lambda: settings), components


def build_components(
    settings: DaemonSettings,
    *,
    clock: Clock,
    config: PeakConfig,
    strategy: str | None = None,
    live_changes: LiveChangeSource | None = None,
) -> WorkflowComponents:
    """The real monitors over one new :class:`Feeds`, and the decision engine, for ``settings``
    and the effective ``config``. ``strategy`` restricts the signal monitor to one strategy;
    ``live_changes`` tells the paper book when live values changed (see PerformanceMonitor)."""
    # One thread for every CPU-bound batch of these components (peaktrade_daemon.lane).
    lane = ComputeLane()
    feeds = Feeds(settings, clock, lane)
    # The signal monitor and the paper book evaluate the same strategies over the same windows.
    evaluations = StrategyEvaluations()
    return WorkflowComponents(
        feeds=feeds,
        market=MarketMonitor(settings, feeds, clock, lane),
        signals=SignalMonitor(
            settings,
            feeds,
            config,
            clock,
            strategy=strategy,
            evaluations=evaluations,
            lane=lane,
        ),
        performance=PerformanceMonitor(
            settings,
            feeds,
            config,
            clock=clock,
            live_changes=live_changes,
            evaluations=evaluations,
            lane=lane,
        ),
        decider=DecisionEngine(settings),
        lane=lane,
    )
