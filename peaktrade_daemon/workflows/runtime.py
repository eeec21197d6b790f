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


def load_components(settings: DaemonSettings) -> WorkflowComponents:
    """The real monitors, equity source and decision engine for ``settings``.

    Imported by name so the workflow side has no import-time dependency on packages that are
    assembled by the Daemon; a missing package is a WorkflowError naming it.
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
    performance_monitor: Any = performance.PerformanceMonitor(settings=settings)
    return WorkflowComponents(
        monitors=CycleMonitors(
            market=market.MarketMonitor(settings=settings),
            signals=signals.SignalMonitor(settings=settings),
            performance=performance_monitor,
        ),
        equity=performance_monitor,
        decider=decision.DecisionEngine(settings=settings),
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
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        stream = sys.stderr if level is AlertLevel.CRITICAL else sys.stdout
        print(f"[{stamp}] [{level.value.upper()}] [{source}] {message}", file=stream)
