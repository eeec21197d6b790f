"""The rollback guard's rules (pure) and the worker acting on them with an injected clock."""

from __future__ import annotations

import asyncio
import math
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.events import Event
from peaktrade_daemon.governance.guard import Health, evaluate
from peaktrade_daemon.governance.policy import AutoApplyMode, RollbackGuardPolicy
from peaktrade_daemon.promotion.models import GuardTripped, OverridesChanged
from peaktrade_daemon.settings import load_settings
from tests.promotion.conftest import T0, make_patch, worker_on


@pytest.fixture(autouse=True)
def before_after_rule(project_root: Path) -> None:
    """These tests drive the before/after rule of §8.5 with a scripted performance series:
    evidence off, as the rule applies then (the canary is tested in test_guard_book.py)."""
    policy = project_root / "config" / "promotion.toml"
    policy.write_text(
        policy.read_text().replace("enabled = true\nlookback", "enabled = false\nlookback")
    )


GUARD = RollbackGuardPolicy(bake_window_minutes=60, max_drawdown_increase=0.02, max_sharpe_drop=0.5)
BASE = {"current_drawdown": 0.01, "max_drawdown": 0.05, "sharpe_ratio": 1.5}


@pytest.mark.parametrize(
    ("current", "health"),
    [
        ({"current_drawdown": 0.02, "max_drawdown": 0.05, "sharpe_ratio": 1.2}, Health.HEALTHY),
        ({"current_drawdown": 0.04, "max_drawdown": 0.05, "sharpe_ratio": 1.5}, Health.DEGRADED),
        ({"current_drawdown": 0.01, "max_drawdown": 0.08, "sharpe_ratio": 1.5}, Health.DEGRADED),
        ({"current_drawdown": 0.01, "sharpe_ratio": 0.9}, Health.DEGRADED),
        ({"current_drawdown": 0.01}, Health.UNKNOWN),
        ({"current_drawdown": math.nan, "sharpe_ratio": 1.5}, Health.UNKNOWN),
        ({"current_drawdown": 0.09}, Health.DEGRADED),  # degradation wins over unknown Sharpe
        ({}, Health.UNKNOWN),
    ],
)
def test_evaluate(current: Mapping[str, float], health: Health) -> None:
    assert evaluate(BASE, current, GUARD)[0] is health


class Series:
    """A scripted performance source: ``value`` is what the monitor reports right now."""

    def __init__(self, value: Mapping[str, float]) -> None:
        self.value = dict(value)

    async def performance_metrics(self) -> Mapping[str, float]:
        return dict(self.value)


class ParkingClock(ManualClock):
    """A ManualClock that signals when a task parks in ``sleep`` (so a test can advance time
    exactly when the worker waits on it, instead of polling)."""

    def __init__(self, start) -> None:
        super().__init__(start)
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.parked.set()
        await super().sleep(seconds)


class Recorder:
    """Alerts and bus events the worker raised, awaitable."""

    def __init__(self) -> None:
        self.alerts: list[tuple[AlertLevel, str, dict[str, Any]]] = []
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def emit(
        self, level: AlertLevel, source: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        self.alerts.append((level, message, context or {}))

    def publish(self, event: Event) -> None:
        self.events.put_nowait(event)

    async def next(self, kind: type[Event]) -> Event:
        async with asyncio.timeout(10):
            while True:
                event = await self.events.get()
                if isinstance(event, kind):
                    return event


def _live(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "config/live_overrides/auto.toml").read_text())


async def test_degrading_series_reverts_freezes_and_alerts(project_root: Path) -> None:
    clock, recorder, series = ManualClock(T0), Recorder(), Series(BASE)
    worker = worker_on(project_root, clock, series, recorder)
    await worker.start()
    await worker.process([make_patch("portfolio.leverage", 1.5)])
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25
    changed = await recorder.next(OverridesChanged)
    assert changed.changes == (("portfolio.leverage", 1.0, 1.25),)
    # Performance degrades step by step during the bake window.
    for minute, drawdown in enumerate([0.015, 0.025, 0.045], start=1):
        series.value = {"current_drawdown": drawdown, "max_drawdown": 0.05, "sharpe_ratio": 1.4}
        await clock.set(T0 + timedelta(minutes=minute))
        await worker.tick()
    tripped = await recorder.next(GuardTripped)
    assert tripped.key == "portfolio.leverage" and tripped.reverted_to is None
    live = _live(project_root)
    assert "portfolio.leverage" not in live["auto_applied"]
    assert "portfolio.leverage" in live["governance"]["frozen"]
    critical = [a for a in recorder.alerts if a[0] is AlertLevel.CRITICAL]
    assert critical and "reverted and froze portfolio.leverage" in critical[0][1]
    # Frozen: the next run does not touch the key even long after the cooldown.
    series.value = dict(BASE)
    await clock.set(T0 + timedelta(hours=5))
    run = await worker.process([make_patch("portfolio.leverage", 1.5)])
    assert run is not None and "frozen" in run.outcomes[0].reason
    assert "portfolio.leverage" not in _live(project_root)["auto_applied"]


async def test_unknown_baseline_holds_every_auto_apply(project_root: Path) -> None:
    clock, recorder = ManualClock(T0), Recorder()
    worker = worker_on(project_root, clock, Series({"current_drawdown": 0.01}), recorder)
    await worker.start()
    before = (project_root / "config/live_overrides/auto.toml").read_bytes()
    run = await worker.process([make_patch("portfolio.leverage", 1.5)])
    assert run is not None and run.outcomes[0].reason == "held: performance baseline unknown"
    assert (project_root / "config/live_overrides/auto.toml").read_bytes() == before


async def test_unknown_at_end_of_bake_window_reverts(project_root: Path) -> None:

    clock, recorder, series = ManualClock(T0), Recorder(), Series(BASE)
    worker = worker_on(project_root, clock, series, recorder)
    await worker.start()
    await worker.process([make_patch("macro.regime_weight", 0.35)])
    series.value = {}
    await clock.set(T0 + timedelta(minutes=30))
    await worker.tick()
    assert worker.guard.watches  # unknown mid-window: still watching, not reverted
    assert (
        worker.guard.hold_reason("strategy.trigger_delay") is not None
    )  # and nothing else applies
    await clock.set(T0 + timedelta(minutes=61))
    await worker.tick()
    tripped = await recorder.next(GuardTripped)
    assert "unknown" in tripped.reasons[0]
    assert "macro.regime_weight" not in _live(project_root)["auto_applied"]


async def test_run_loop_takes_the_next_step_after_a_healthy_bake(project_root: Path) -> None:

    clock, recorder, series = ParkingClock(T0), Recorder(), Series(BASE)
    worker = worker_on(project_root, clock, series, recorder)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        assert worker.submit([make_patch("portfolio.leverage", 1.5)])
        first = await recorder.next(OverridesChanged)
        assert first.changes == (("portfolio.leverage", 1.0, 1.25),)
        # Drive simulated time minute by minute until the second step lands (cooldown 60 min).
        async with asyncio.timeout(20):
            while _live(project_root)["auto_applied"]["portfolio.leverage"] != 1.5:
                await clock.parked.wait()
                clock.parked.clear()
                await clock.advance(60)
        second = await recorder.next(OverridesChanged)
        assert second.changes == (("portfolio.leverage", 1.25, 1.5),)
        assert clock.now() - T0 >= timedelta(minutes=60)
        assert not worker.pending
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_killswitch_drops_pending_steps(project_root: Path) -> None:
    clock, recorder, series = ManualClock(T0), Recorder(), Series(BASE)
    worker = worker_on(project_root, clock, series, recorder)
    await worker.start()
    await worker.process([make_patch("portfolio.leverage", 1.75)])
    assert "portfolio.leverage" in worker.pending
    policy_file = project_root / "config/promotion.toml"
    policy_file.write_text(
        policy_file.read_text().replace('mode = "manual_only"', 'mode = "disabled"')
    )
    worker._mode_override = None
    await worker.reload(load_settings(project_root))
    assert worker.mode is AutoApplyMode.DISABLED and not worker.pending

    await clock.set(T0 + timedelta(hours=3))
    await worker.tick()
    assert _live(project_root)["auto_applied"]["portfolio.leverage"] == 1.25


async def test_missing_policy_alerts_and_promotes_nothing(project_root: Path) -> None:
    (project_root / "config/promotion.toml").unlink()
    clock, recorder = ManualClock(T0), Recorder()
    worker = worker_on(project_root, clock, Series(BASE), recorder)
    await worker.start()
    assert worker.policy is None and worker.mode is AutoApplyMode.DISABLED
    assert await worker.process([make_patch("portfolio.leverage", 1.5)]) is None
    assert [a[0] for a in recorder.alerts] == [AlertLevel.CRITICAL, AlertLevel.CRITICAL]
    assert not (project_root / "reports/live_promotion").exists()


def test_worker_is_a_component(project_root: Path) -> None:
    from peaktrade_daemon.component import Component

    worker = worker_on(project_root, ManualClock(T0), None, Recorder())
    assert isinstance(worker, Component) and worker.name == "promotion"


async def test_without_a_performance_source_nothing_is_auto_applied(project_root: Path) -> None:
    worker = worker_on(project_root, ManualClock(T0), None, Recorder())
    await worker.start()
    run = await worker.process([make_patch("portfolio.leverage", 1.5)])
    assert run is not None and run.outcomes[0].reason.startswith("held: no performance source")
    assert run.proposals  # the proposal is still written for an operator


async def test_worker_mirrors_proposals_and_audit_into_the_database(project_root: Path) -> None:
    from peaktrade_daemon.storage.db import open_database
    from peaktrade_daemon.storage.promotion_store import key_history, list_proposals

    database = await open_database(f"sqlite+aiosqlite:///{project_root / 'state/peaktrade.db'}")
    try:
        recorder = Recorder()
        worker = worker_on(project_root, ManualClock(T0), Series(BASE), recorder, database)
        await worker.start()
        async with asyncio.timeout(10):
            run = await worker.process([make_patch("portfolio.leverage", 1.5)])
            assert run is not None
            [row] = await list_proposals(database)
            assert row.proposal_id == run.proposals[0].proposal_id and row.status == "pending"
            [change] = await key_history(database, "portfolio.leverage")
            assert (change.actor, change.after_json) == ("auto", "1.25")
    finally:
        await database.close()
