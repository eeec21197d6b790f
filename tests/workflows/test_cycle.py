"""The autonomous cycle end to end on the replay feed with a ManualClock (the real monitors and
decision engine): one test per decision outcome, stale data, dry run, verbose."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from peaktrade_daemon.alerts.model import AlertLevel
from tests.workflows.conftest import Stack


async def test_execute_runs_the_workflow_and_stores_everything(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-07-19T07:00")  # EUR/USD volume 2.3x its mean: unusual market
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle()
        assert (summary.workflow_type, summary.action) == ("market_scan", "EXECUTE")
        assert summary.selection_reason.startswith("EUR/USD: volume ratio 2.28")
        assert summary.executed and summary.success and summary.run_id
        report = json.loads(
            (
                Path(stack.settings.root) / "reports/workflows" / summary.run_id / "report.json"
            ).read_text()
        )
        # The scan covers every configured symbol; GOOG's sample ended in 2013, so it is unranked.
        assert {r["symbol"] for r in report["summary"]["ranked"]} == {
            "BTC/USD",
            "BTC/EUR",
            "EUR/USD",
        }
        assert [r["symbol"] for r in report["summary"]["unranked"]] == ["GOOG"]
        assert "stale data" in report["summary"]["unranked"][0]["missing"]["volatility"]
        [decision] = await stack.store.decisions(summary.cycle_id)
        assert decision.action == "EXECUTE" and decision.confidence == 1.0
        assert {c["metric_name"]: c["outcome"] for c in decision.criteria} == {
            "activity_level": "met",
            "volume_ratio": "met",
        }
        assert (
            decision.details["metrics"]["market.volume_ratio"]
            == decision.details["metrics"]["volume_ratio"]
        )
        [cycle_row] = await stack.store.cycles()
        assert (cycle_row.run_id, cycle_row.success, cycle_row.executed) == (
            summary.run_id,
            True,
            True,
        )
        [run_row] = await stack.store.runs()
        assert run_row.state == "completed" and run_row.trigger == "cycle"
        assert stack.output[-1] == summary.line()


async def test_act_false_decides_and_records_but_runs_no_workflow(stack: Stack) -> None:
    # Replay's way through the cycle: the same decision, stored, and no workflow run.
    async with asyncio.timeout(60):
        await stack.at("2017-07-19T07:00")  # the EXECUTE of the test above
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(act=False)
        assert (summary.workflow_type, summary.action) == ("market_scan", "EXECUTE")
        assert summary.success and not summary.executed and summary.run_id is None
        [cycle_row] = await stack.store.cycles()
        assert (cycle_row.action, cycle_row.executed, cycle_row.run_id) == ("EXECUTE", False, None)
        assert await stack.store.runs() == []
        assert not (Path(stack.settings.root) / "reports/workflows").exists()


async def test_alert_band_raises_a_warning(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-05-17T20:00")  # activity 0.32 > 0.3, volume ratio 0.51 < 1: half
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(workflow_type="market_scan")
        assert (summary.action, summary.confidence, summary.executed) == ("ALERT", 0.5, False)
        assert summary.success
        warning = [a for a in stack.alerts.alerts if a[0] is AlertLevel.WARNING]
        assert warning and warning[0][1] == "decision" and "market_scan" in warning[0][2]
        assert await stack.store.runs() == []


async def test_skip_is_recorded_with_its_reason(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-10-23T22:00")  # a quiet late-evening hour: neither criterion met
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(workflow_type="market_scan")
        assert (summary.action, summary.confidence, summary.executed) == ("SKIP", 0.0, False)
        [row] = await stack.store.cycles()
        assert row.action == "SKIP" and not row.executed
        assert stack.alerts.alerts == []


async def test_cycles_that_run_nothing_still_keep_retention(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.reconfigure({"state": {"retention": {"decisions": 2}}})
        await stack.at("2017-10-23T22:00")  # quiet: SKIP, so no workflow run prunes for the cycle
        async with asyncio.timeout(30):
            for _ in range(3):
                await stack.cycle.run_cycle(workflow_type="market_scan")
                await stack.clock.advance(300)  # the poll interval
        assert len(await stack.store.decisions()) == 2
        assert len(await stack.store.cycles()) == 2


async def test_wait_on_stale_data(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2018-06-01T00:00")  # the EUR/USD sample ends 2018-02-07: stale
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle()
        # Stale data makes the market monitor warn (rule 3), and its metrics are missing.
        assert summary.workflow_type == "market_scan"
        assert summary.action == "WAIT" and not summary.executed
        [decision] = await stack.store.decisions()
        assert decision.details["metadata"]["missing_metrics"] == ["activity_level", "volume_ratio"]
        assert {c["outcome"] for c in decision.criteria} == {"unknown"}
        # The monitors' reason (stale data) reaches the record, never a value of 0.
        assert all(c["value"] is None and "stale data" in c["note"] for c in decision.criteria)
        assert any(line.startswith("  reason: waiting for data") for line in stack.output)


async def test_critical_monitor_becomes_a_critical_alert(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.leverage_book()
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(symbols=["GOOG"])
        assert summary.workflow_type == "risk_check" and summary.action == "EXECUTE"
        assert summary.selection_reason == "GOOG: performance monitor critical"
        critical = [a for a in stack.alerts.alerts if a[0] is AlertLevel.CRITICAL]
        assert any(
            a[1] == "monitor.performance" and a[2].startswith("GOOG: daily_pnl_pct -4.1")
            for a in critical
        )


async def test_dry_run_writes_nothing_and_says_what_it_would_do(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.leverage_book()
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(symbols=["GOOG"], dry_run=True)
        assert summary.executed and summary.dry_run and summary.success
        assert summary.line().endswith("(dry run)")
        assert any(
            line.startswith("would alert [critical] [monitor.performance]") for line in stack.output
        )
        assert stack.alerts.alerts == []
        assert await stack.store.runs() == [] and await stack.store.cycles() == []
        assert not (Path(stack.settings.root) / "reports" / "workflows").exists()


async def test_verbose_prints_monitors_criteria_and_reason(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-11-15T03:00")  # a strong, consistent signal on EUR/USD
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(verbose=True)
        assert summary.workflow_type == "signal_analysis"
        text = "\n".join(stack.output)
        for role in ("market", "signals", "performance"):
            assert f"monitor {role} EUR/USD: ok" in text
        assert "selected signal_analysis (rule 2): EUR/USD: signal strength" in text
        assert "criterion: name=signal_strength" in text and "outcome=met" in text
        assert "reason: confidence" in text


async def test_a_failing_monitor_is_reported_not_fatal(stack: Stack) -> None:
    async with asyncio.timeout(60):

        async def broken(symbol: str) -> None:
            raise ConnectionError("feed down")

        stack.cycle._monitors.signals.check_conditions = broken  # type: ignore[method-assign]
        await stack.at("2017-07-19T07:00")
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle()
        assert summary.success and summary.monitor_errors == {
            "signals:EUR/USD": "ConnectionError: feed down"
        }
        assert ("monitor.signals", "EUR/USD: monitor failed: feed down") in [
            (a[1], a[2]) for a in stack.alerts.alerts
        ]
