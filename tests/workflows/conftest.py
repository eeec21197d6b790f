"""Fixtures for the workflow side: a state database, the real monitors on the replay feed with a
ManualClock, the real decision engine, the workflow engine and the cycle runner.

``stack`` builds them with the same builder the daemon and ``jobs run`` use
(``workflows.components.build_components`` / ``workflows.runtime.build_runtime``); a test picks a market situation by
picking a data time (:meth:`Stack.at` re-anchors the replay feed there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.settings import DaemonSettings, load_settings
from peaktrade_daemon.storage.db import Database, open_database
from peaktrade_daemon.storage.runs import RunStore
from peaktrade_daemon.workflows.components import WorkflowComponents, build_components
from peaktrade_daemon.workflows.cycle import CycleRunner
from peaktrade_daemon.workflows.engine import WorkflowEngine
from peaktrade_daemon.workflows.runtime import build_runtime

# Small criteria sets (the real decision engine, comparison ``gt``, bands 0.6 / 0.4) whose
# outcomes the tests reach by picking data times.
CRITERIA: dict[str, list[dict[str, Any]]] = {
    "signal_analysis": [
        {"name": "signal_strength", "threshold": 0.6, "weight": 2.0},
        {"name": "signal_consistency", "threshold": 0.5},
    ],
    "risk_check": [{"name": "current_drawdown", "threshold": 0.02}],
    "market_scan": [
        {"name": "activity_level", "threshold": 0.3},
        {"name": "volume_ratio", "threshold": 1.0},
    ],
    "portfolio_analysis": [{"name": "sharpe_ratio", "threshold": -100.0}],
}


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
    clock: ManualClock
    database: Database
    store: RunStore
    alerts: RecordingAlerts
    components: WorkflowComponents
    engine: WorkflowEngine
    cycle: CycleRunner
    output: list[str]
    overrides: dict[str, Any] = field(default_factory=dict)

    async def at(self, when: str) -> None:
        """Make ``when`` (UTC) the replay feed's "now" at the current clock time."""
        start = datetime.fromisoformat(when).replace(tzinfo=UTC)
        await self.reconfigure({"replay": {"start": start}})

    async def leverage_book(self) -> None:
        """A paper book sized at all of equity with leverage 2, acting on the vote at once and
        without the regime filter (config.toml edited, reloaded), at 2005-06-13: GOOG's book
        then lost more than 4 % on the last session, a critical daily loss for the performance
        monitor."""
        config = Path(self.settings.root) / "config" / "config.toml"
        text = config.read_text()
        text = text.replace("max_position_pct = 0.25 ", "max_position_pct = 1.0 ")
        text = text.replace("regime_weight = 0.25 ", "regime_weight = 0.0 ")
        text = text.replace("trigger_delay = 10.0 ", "trigger_delay = 0.0 ")
        config.write_text(text.replace("leverage = 1.0 ", "leverage = 2.0 "))
        await self.at("2005-06-13T00:00")

    async def reconfigure(self, overrides: dict[str, dict[str, Any]] | None = None) -> None:
        """Reload settings (the stack's overrides plus these, by section) and the effective
        config from the root, and hand them to every part as a daemon reload does."""
        for key, value in (overrides or {}).items():
            self.overrides[key] = {**self.overrides.get(key, {}), **value}
        self.settings = stack_settings(self.settings.root, self.overrides)
        config = await asyncio.to_thread(trading_config, self.settings)
        decider = await self.components.reconfigure(self.settings, config)
        self.engine.reload(self.settings)
        self.cycle.reload(self.settings, decider)


def stack_settings(root: Path, overrides: dict[str, Any] | None = None) -> DaemonSettings:
    base: dict[str, Any] = {
        "cycle": {"symbols": ["EUR/USD"]},
        "decision": {t: {"criteria": c} for t, c in CRITERIA.items()},
    }
    for key, value in (overrides or {}).items():
        base[key] = {**base.get(key, {}), **value}
    return load_settings(root, cli_overrides=base)


@pytest.fixture
async def stack(project_root: Path) -> AsyncIterator[Stack]:
    overrides = {"replay": {"start": datetime(2017, 7, 19, 7, tzinfo=UTC)}}
    settings = stack_settings(project_root, overrides)
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    async with asyncio.timeout(30):
        database = await open_database(f"sqlite+aiosqlite:///{project_root / 'state' / 'pt.db'}")
    store = RunStore(database)
    alerts = RecordingAlerts()
    components = build_components(settings, clock=clock, config=trading_config(settings))
    output: list[str] = []
    holder: list[Stack] = []
    runtime = build_runtime(
        settings,
        clock=clock,
        store=store,
        alerts=alerts,
        components=components,
        out=output.append,
        current_settings=lambda: holder[0].settings,
    )
    assert runtime.cycle is not None
    stack = Stack(
        settings,
        clock,
        database,
        store,
        alerts,
        components,
        runtime.engine,
        runtime.cycle,
        output,
        dict(overrides),
    )
    holder.append(stack)
    yield stack
    async with asyncio.timeout(30):
        await components.close()
        await database.close()
