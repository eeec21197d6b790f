"""The rollback guard over the real paper book on the real GOOG samples, shipped policy.

The replay runs at 1440x (one clock minute is one data day), so the 60-minute bake window of the
shipped policy sees about 42 trading days of market after the change. The worker's
``OverridesChanged`` makes the performance monitor re-read the effective config (as the daemon's
workflow side does), and the book, told of live changes through the composition root's port over
the audit trail, applies the new leverage only from the change on.

With evidence on (the shipped policy) the guard is a canary (§9): live is judged against a
shadow book with the previous value on the same bars since the change, so the market's own
drawdown never reverts a key and a step that loses on its own does. With evidence off the
before/after rule of §8.5 holds.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.events import Event
from peaktrade_daemon.governance.plans import plan_approved_apply
from peaktrade_daemon.governance.policy import AutoApplyBounds, AutoApplyMode
from peaktrade_daemon.governance.verdicts import build_candidate, decide
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.market.feeds import Feeds
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.portfolio.paper import PaperPortfolio
from peaktrade_daemon.portfolio.performance import performance_metrics
from peaktrade_daemon.promotion.baseline import PortfolioMetrics
from peaktrade_daemon.promotion.evidence import EvidenceRunner
from peaktrade_daemon.promotion.live_changes import audited_live_changes
from peaktrade_daemon.promotion.models import GuardTripped, OverridesChanged
from peaktrade_daemon.promotion.worker import PromotionWorker
from peaktrade_daemon.promotion.workspace import PromotionWorkspace
from peaktrade_daemon.promotion.writer import GateContext
from peaktrade_daemon.settings import DaemonSettings, load_settings
from tests.daemon_harness import set_toml
from tests.promotion.conftest import T0, make_patch, write
from tests.promotion.test_rollback import Recorder

SPEED = 1440.0  # data seconds per clock second: one data day per clock minute


@dataclass
class Desk:
    """A worker guarding leverage steps with the real monitor, on a ManualClock."""

    settings: DaemonSettings
    clock: ManualClock
    monitor: PerformanceMonitor
    worker: PromotionWorker
    recorder: Recorder

    async def minutes(self, count: int) -> None:
        """Advance the clock minute by minute, the worker checking after each."""
        for _ in range(count):
            await self.clock.advance(60)
            async with asyncio.timeout(30):
                await self.worker.tick()

    def audit(self) -> list[dict[str, Any]]:
        path = self.settings.path(self.settings.paths.audit_log)
        return [json.loads(line) for line in path.read_text().splitlines()]


def _desk(root: Path, start: str, *, evidence: bool = True) -> Desk:
    set_toml(root / "config" / "config.toml", 'mode = "paper"', 'mode = "live"')
    if not evidence:
        set_toml(
            root / "config" / "promotion.toml",
            "enabled = true\nlookback",
            "enabled = false\nlookback",
        )
    overrides = {"replay": {"start": start, "speed": SPEED}, "cycle": {"symbols": ["GOOG"]}}
    settings = load_settings(root, cli_overrides=overrides)
    clock, recorder = ManualClock(T0), Recorder()
    monitor = PerformanceMonitor(
        settings, Feeds(settings, clock), clock=clock, live_changes=audited_live_changes
    )

    def publish(event: Event) -> None:
        if isinstance(event, OverridesChanged):  # the daemon's workflow side does this
            monitor.reconfigure(settings, trading_config(settings))
        recorder.publish(event)

    worker = PromotionWorker(
        settings,
        clock=clock,
        alerts=recorder,
        metrics=PortfolioMetrics(monitor),
        publish=publish,
        mode_override=AutoApplyMode.BOUNDED_AUTO,
        evidence=EvidenceRunner(lambda: settings, monitor.feeds),
    )
    return Desk(settings, clock, monitor, worker, recorder)


@pytest.fixture
def desk_factory(project_root: Path) -> Iterator[Any]:
    desks: list[Desk] = []

    def make(start: str, *, evidence: bool = True) -> Desk:
        desks.append(_desk(project_root, start, evidence=evidence))
        return desks[-1]

    yield make


async def _step(desk: Desk) -> dict[str, float]:
    await desk.worker.start()
    baseline = dict(await PortfolioMetrics(desk.monitor).performance_metrics())
    run = await desk.worker.process([make_patch("portfolio.leverage", 1.25)])
    assert run is not None and [(o.key, o.applied, o.after) for o in run.outcomes] == [
        ("portfolio.leverage", True, 1.25)
    ]
    return baseline


async def test_a_bounded_step_stands_when_the_market_after_it_does_not_degrade(
    desk_factory: Any,
) -> None:
    desk = desk_factory("2012-08-23T00:00:00Z")
    baseline = await _step(desk)
    # The replaying book of old re-traded the whole window at 1.25: max drawdown up by 0.019
    # at once (0.080 -> 0.099), nearly the shipped 0.02 limit before a single new bar.
    source = desk.monitor.source
    assert isinstance(source, PaperPortfolio) and source.params.leverage == 1.25
    whole = PaperPortfolio(Feeds(desk.settings, desk.clock), trading_config(desk.settings), 500)
    replayed = performance_metrics(await whole.snapshot("GOOG"))
    assert replayed["max_drawdown"] - baseline["max_drawdown"] > 0.015
    # The path-dependent book right after the step: the history, so the reading, is unchanged.
    assert await PortfolioMetrics(desk.monitor).performance_metrics() == baseline

    await desk.minutes(61)  # the whole bake window, checked every minute
    # Past the window the canary still wants min_periods new bars: watched and held till then.
    assert desk.worker.guard.hold_reason("portfolio.leverage") is not None
    await _until_judged(desk)

    assert not desk.worker.guard.watches  # judged: passed
    assert not [a for a in desk.recorder.alerts if "rollback guard" in a[1]]
    assert all(r.get("actor") != "rollback-guard" for r in desk.audit())
    live = tomllib.loads(desk.settings.path(desk.settings.paths.live_overrides_file).read_text())
    assert live["auto_applied"]["portfolio.leverage"] == 1.25
    # The market did move after the change (made at the replay start): 100 new bars and more,
    # traded at the new leverage.
    snap = await desk.monitor.source.snapshot("GOOG")
    assert desk.settings.replay.start is not None
    assert sum(int(t) > to_ns(desk.settings.replay.start) for t in snap.timestamps) >= 100
    now = await PortfolioMetrics(desk.monitor).performance_metrics()
    assert now != baseline


async def _until_judged(desk: Desk, limit_minutes: int = 400) -> None:
    """Advance until the canary has judged every watch (it needs ``min_periods`` new bars:
    about 145 clock minutes here, past the 60-minute window)."""
    for _ in range(limit_minutes // 10):
        await desk.minutes(10)
        if not desk.worker.guard.watches:
            return
    raise AssertionError(f"still watching after {limit_minutes} minutes")


async def test_a_market_wide_drawdown_after_a_step_does_not_revert_it(desk_factory: Any) -> None:
    """January 2012 on GOOG: the market falls after the change. The before/after rule reverted
    the step (drawdown up past 0.02); the shadow book at 1.0 loses nearly alike, so the canary
    keeps it."""
    desk = desk_factory("2012-01-05T00:00:00Z")
    await _step(desk)
    await _until_judged(desk)
    assert not desk.worker.guard.watches  # judged: passed
    assert all(r.get("actor") != "rollback-guard" for r in desk.audit())
    live = tomllib.loads(desk.settings.path(desk.settings.paths.live_overrides_file).read_text())
    assert live["auto_applied"]["portfolio.leverage"] == 1.25
    reading = await PortfolioMetrics(desk.monitor).performance_metrics()
    assert reading["current_drawdown"] > 0.02  # the market did draw down after the change


async def test_a_step_that_loses_on_its_own_is_reverted_by_the_canary(desk_factory: Any) -> None:
    """The same falling market, but an operator's approval doubled the leverage (approved past
    the evidence): live loses well beyond the shadow book, so the canary reverts and freezes."""
    desk = desk_factory("2012-01-05T00:00:00Z")
    workspace = PromotionWorkspace.from_settings(desk.settings)
    policy = workspace.policy().model_copy(
        update={"bounds": {"portfolio.leverage": AutoApplyBounds(1.0, 2.0, 1.0)}}
    )
    await desk.worker.start()
    decision = decide(
        build_candidate(make_patch("portfolio.leverage", 2.0), policy),
        policy,
        workspace.base(),
        None,
    )
    write(
        workspace.writer(),
        plan_approved_apply([decision], policy, workspace.base(), "alice", desk.clock.now()),
        actor="alice",
        now=desk.clock.now(),
        gate=GateContext(workspace.base(), policy),
    )
    await _until_judged(desk)
    tripped = await desk.recorder.next(GuardTripped)
    assert tripped.key == "portfolio.leverage" and tripped.reverted_to is None
    assert "canary FAIL" in tripped.reasons[0]
    live = tomllib.loads(workspace.overrides_file.read_text())
    assert "portfolio.leverage" not in live["auto_applied"]
    assert "portfolio.leverage" in live["governance"]["frozen"]
    critical = [a for a in desk.recorder.alerts if "reverted and froze" in a[1]]
    assert critical and str(critical[0][0]) == "critical"


async def test_with_evidence_off_a_degrading_market_reverts_by_the_before_after_rule(
    desk_factory: Any,
) -> None:
    desk = desk_factory("2012-01-05T00:00:00Z", evidence=False)
    await _step(desk)
    await desk.minutes(30)
    tripped = await desk.recorder.next(GuardTripped)
    assert tripped.key == "portfolio.leverage" and tripped.reverted_to is None
    assert "current_drawdown up" in tripped.reasons[0]
    live = tomllib.loads(desk.settings.path(desk.settings.paths.live_overrides_file).read_text())
    assert "portfolio.leverage" not in live["auto_applied"]
    assert "portfolio.leverage" in live["governance"]["frozen"]
    reverts = [r for r in desk.audit() if r.get("actor") == "rollback-guard"]
    assert [(r["event"], r["key"]) for r in reverts] == [
        ("change", "portfolio.leverage"),
        ("freeze", "portfolio.leverage"),
    ]
    # The revert reached the monitor too: the book trades at the base leverage again.
    source = desk.monitor.source
    assert isinstance(source, PaperPortfolio) and source.params.leverage == 1.0
    critical = [a for a in desk.recorder.alerts if "reverted and froze" in a[1]]
    assert critical and str(critical[0][0]) == "critical"
