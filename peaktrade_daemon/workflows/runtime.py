"""Assembling the workflow side (engine, cycle, job runner) from its collaborators.

The Daemon (the composition root) and the one-shot CLI commands (``jobs run``) both build the
workflow side here, handing in the database, alert emitter, clock and — for in-process work —
the monitors, equity source and decision engine. Without those components the engine still runs
external-command workflows and command jobs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from peaktrade_daemon.alerts.model import AlertEmitter, AlertLevel
from peaktrade_daemon.clock import Clock
from peaktrade_daemon.errors import WorkflowError
from peaktrade_daemon.events import Event
from peaktrade_daemon.scheduling.runner import JobRunner
from peaktrade_daemon.settings import DaemonSettings
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.catalog import build_workflows
from peaktrade_daemon.workflows.cycle import CycleMonitors, CycleRunner
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.ports import DecisionMaker, EquitySource
from peaktrade_daemon.workflows.sources import WorkflowSources, effective_config_loader


@dataclass(frozen=True, slots=True)
class WorkflowComponents:
    """What in-process workflows and cycles need from the monitors and decision packages."""

    monitors: CycleMonitors
    equity: EquitySource
    decider: DecisionMaker


@dataclass(frozen=True, slots=True)
class WorkflowRuntime:
    """The assembled workflow side."""

    engine: WorkflowEngine
    runner: JobRunner
    cycle: CycleRunner | None
    store: RunStore | None


class SnapshotEquity:
    """An :class:`EquitySource` over a portfolio source whose ``snapshot(symbol)`` has
    ``timestamps`` (UTC nanoseconds) and ``equity`` arrays (the paper portfolio, the ledger)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    async def equity_curve(self, symbol: str) -> list[tuple[datetime, float]]:
        """``(UTC time, equity)`` points of ``symbol``'s portfolio, oldest first."""
        snapshot = await self._source.snapshot(symbol)
        return [
            (datetime.fromtimestamp(int(ns) / 1e9, UTC), float(value))
            for ns, value in zip(snapshot.timestamps, snapshot.equity, strict=True)
        ]


def load_components(settings: DaemonSettings, clock: Clock | None = None) -> WorkflowComponents:
    """The real monitors, equity source and decision engine for ``settings``.

    Imported by name so the workflow side has no import-time dependency on packages that are
    assembled by the Daemon; a missing package is a WorkflowError naming it. The Daemon builds
    its own (sharing feeds with the monitor supervisor) and passes them to ``build_runtime``.
    """
    try:
        market = importlib.import_module("peaktrade_daemon.monitors.market")
        signals = importlib.import_module("peaktrade_daemon.monitors.signals")
        performance = importlib.import_module("peaktrade_daemon.monitors.performance")
        decision = importlib.import_module("peaktrade_daemon.decision.engine")
    except ImportError as exc:
        raise WorkflowError(
            f"in-process workflows need the monitors and decision packages: {exc}"
        ) from exc
    performance_monitor: Any = performance.PerformanceMonitor(settings=settings, clock=clock)
    return WorkflowComponents(
        monitors=CycleMonitors(
            market=market.MarketMonitor(settings=settings, clock=clock),
            signals=signals.SignalMonitor(settings=settings, clock=clock),
            performance=performance_monitor,
        ),
        equity=SnapshotEquity(performance_monitor.source),
        decider=decision.DecisionEngine(settings),
    )


def build_runtime(
    settings: DaemonSettings,
    *,
    clock: Clock,
    store: RunStore | None,
    alerts: AlertEmitter | None,
    components: WorkflowComponents | None,
    out: Callable[[str], None] = print,
    publish: Callable[[Event], object] | None = None,
) -> WorkflowRuntime:
    """Engine, cycle runner (when components are given) and job runner over one store."""
    workflows = {}
    if components is not None:
        sources = WorkflowSources(
            settings=settings,
            market=components.monitors.market,
            signals=components.monitors.signals,
            performance=components.monitors.performance,
            equity=components.equity,
            effective_config=effective_config_loader(settings),
        )
        workflows = build_workflows(sources)
    engine = WorkflowEngine(
        settings=settings,
        workflows=workflows,
        store=store,
        alerts=alerts,
        clock=clock,
        publish=publish,
    )
    cycle = None
    if components is not None:
        cycle = CycleRunner(
            settings=settings,
            monitors=components.monitors,
            decider=components.decider,
            engine=engine,
            clock=clock,
            store=store,
            alerts=alerts,
            out=out,
            publish=publish,
        )
    runner = JobRunner(engine=engine, clock=clock, cycle=cycle, store=store, alerts=alerts)
    return WorkflowRuntime(engine=engine, runner=runner, cycle=cycle, store=store)


class ConsoleAlerts:
    """Alerts printed in the §6 console format (critical to stderr), for one-shot commands run
    outside the daemon; the daemon injects its full dispatcher (log file, outbox, webhooks)."""

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        """Print one alert line: ``[ts] [LEVEL] [source] message``."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        stream = sys.stderr if level is AlertLevel.CRITICAL else sys.stdout
        print(f"[{stamp}] [{level.value.upper()}] [{source}] {message}", file=stream)
