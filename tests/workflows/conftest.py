"""Fixtures for the workflow side: a state database, data-backed sources, an engine, a cycle.

``stack`` is the one place that chooses the monitors and decision engine; switching to the real
monitors on the replay feed (with a ManualClock) is a change here only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.decision import DecisionEngine
from peaktrade_daemon.settings import DaemonSettings, DecisionSection, load_settings
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.catalog import build_workflows
from peaktrade_daemon.workflows.cycle import CycleMonitors, CycleRunner
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.sources import WorkflowSources, effective_config_loader
from tests.workflows.sample_sources import (
    DataWindow,
    SampleMarketMonitor,
    SamplePerformanceMonitor,
    SampleSignalMonitor,
)

FILES = {
    "BTC/USD": ("BTCUSD.csv", "1M"),
    "BTC/EUR": ("BTCUSD.csv", "1M"),
    "EUR/USD": ("EURUSD.csv", "1h"),
    "GOOG": ("GOOG.csv", "1d"),
}

# The real decision engine with small criteria sets that the sample windows reach.
CRITERIA: dict[str, list[dict[str, Any]]] = {
    "signal_analysis": [
        {"name": "signal_strength", "threshold": 0.6, "weight": 2.0},
        {"name": "signal_consistency", "threshold": 0.5},
    ],
    "risk_check": [{"name": "current_drawdown", "threshold": 0.1}],
    "market_scan": [
        {"name": "activity_level", "threshold": 0.3},
        {"name": "volume_ratio", "threshold": 1.0},
    ],
    "portfolio_analysis": [{"name": "sharpe_ratio", "threshold": -100.0}],
}


def decision_engine() -> DecisionEngine:
    """The real engine on :data:`CRITERIA` (comparison ``gt``, bands 0.6 / 0.4)."""
    return DecisionEngine(
        DecisionSection.model_validate({t: {"criteria": c} for t, c in CRITERIA.items()})
    )


Alert = tuple[AlertLevel, str, str, dict[str, Any]]


class RecordingAlerts:
    """An AlertEmitter that keeps every alert."""

    def __init__(self) -> None:
        self.alerts: list[tuple[AlertLevel, str, str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        self.alerts.append((level, source, message, dict(context or {})))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Alert]], bool]) -> None:
        """Return once ``predicate(alerts)`` holds; the caller bounds it with a timeout."""
        while not predicate(self.alerts):
            self._changed.clear()
            await self._changed.wait()

    def levels(self) -> list[AlertLevel]:
        return [a[0] for a in self.alerts]


@dataclass
class Stack:
    """Everything a workflow test touches."""

    settings: DaemonSettings
    window: DataWindow
    clock: ManualClock
    database: Database
    store: RunStore
    alerts: RecordingAlerts
    engine: WorkflowEngine
    cycle: CycleRunner
    output: list[str]

    def at(self, when: str) -> None:
        """Move the data window's "now" (UTC)."""
        self.window.now = datetime.fromisoformat(when).replace(tzinfo=UTC)


def stack_settings(root: Path) -> DaemonSettings:
    return load_settings(root, cli_overrides={"cycle": {"symbols": ["EUR/USD"]}})


@pytest.fixture
async def stack(project_root: Path) -> AsyncIterator[Stack]:
    settings = stack_settings(project_root)
    window = DataWindow(project_root, FILES, datetime(2017, 4, 26, 17, tzinfo=UTC))
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    async with asyncio.timeout(30):
        database = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'pt.db'}")
    store = RunStore(database)
    alerts = RecordingAlerts()
    performance = SamplePerformanceMonitor(window)
    sources = WorkflowSources(
        settings=settings,
        market=SampleMarketMonitor(window),
        signals=SampleSignalMonitor(window),
        performance=performance,
        equity=performance.equity,
        effective_config=effective_config_loader(settings),
    )
    engine = WorkflowEngine(
        settings=settings,
        workflows=build_workflows(sources),
        store=store,
        alerts=alerts,
        clock=clock,
    )
    output: list[str] = []
    cycle = CycleRunner(
        settings=settings,
        monitors=CycleMonitors(sources.market, sources.signals, sources.performance),
        decider=decision_engine(),
        engine=engine,
        clock=clock,
        store=store,
        alerts=alerts,
        out=output.append,
    )
    yield Stack(settings, window, clock, database, store, alerts, engine, cycle, output)
    async with asyncio.timeout(30):
        await database.close()
