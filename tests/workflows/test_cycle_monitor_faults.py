"""A monitor that raises or hangs (issue 8, item 2): the cycle reports it with a warning alert,
its metrics are absent, the other monitors still count and the cycle completes and is stored.
Before ``cycle.monitor_timeout_s`` a hanging monitor stalled the cycle, and with it every later
cycle of the daemon."""

from __future__ import annotations

import asyncio

import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.monitors.result import MonitorResult
from tests.workflows.conftest import Stack


async def _raises(symbol: str) -> MonitorResult:
    raise RuntimeError(f"feed exploded for {symbol}")


async def _hangs(symbol: str) -> MonitorResult:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("fault", "text"), [(_raises, "feed exploded"), (_hangs, "no result")])
async def test_a_failing_monitor_is_alerted_and_the_cycle_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, fault: object, text: str
) -> None:
    await stack.reconfigure({"cycle": {"monitor_timeout_s": 0.5}})
    monkeypatch.setattr(stack.components.signals, "check_conditions", fault)
    async with asyncio.timeout(30):
        summary = await stack.cycle.run_cycle()
    assert any("signals" in key for key in summary.monitor_errors), summary.monitor_errors
    assert text in " ".join(summary.monitor_errors.values())
    warnings = [a for a in stack.alerts.alerts if a[1] == "monitor.signals"]
    assert warnings, stack.alerts.alerts
    assert warnings[0][0] is AlertLevel.WARNING and text in warnings[0][2]
    [row] = await stack.store.cycles()
    assert row.cycle_id == summary.cycle_id
    assert summary.workflow_type  # the market and performance monitors still chose a workflow
