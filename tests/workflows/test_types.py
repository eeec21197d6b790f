"""The four in-process workflow types: real reports from real data windows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peaktrade_daemon.alerts.model import AlertLevel
from peaktrade_daemon.workflows.components import SnapshotEquity
from peaktrade_daemon.workflows.model import WorkflowResult, WorkflowState
from peaktrade_daemon.workflows.portfolio_analysis import curve_stats, drawdown_series
from tests.workflows.conftest import Stack


async def execute(stack: Stack, workflow_type: str, **parameters: Any) -> WorkflowResult:
    run_id = stack.engine.create_workflow(f"test-{workflow_type}", workflow_type, parameters)
    async with asyncio.timeout(60):
        return await stack.engine.execute_workflow(run_id)


def report(result: WorkflowResult) -> dict[str, Any]:
    assert result.report_dir is not None
    return dict(json.loads((result.report_dir / "report.json").read_text()))


async def test_signal_analysis_ranks_by_the_documented_score(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-04-24T17:00")
        result = await execute(stack, "signal_analysis", symbols=["EUR/USD", "BTC/USD", "GOOG"])
        assert result.state is WorkflowState.COMPLETED
        summary = report(result)["summary"]
        scores = [r["score"] for r in summary["ranked"]]
        assert (
            scores == sorted(scores, reverse=True)
            and summary["strongest"] == summary["ranked"][0]["symbol"]
        )
        for row in summary["ranked"]:
            expected = row["signal_strength"] * row["signal_consistency"]
            if row["false_signal_rate"] is not None:
                expected *= 1.0 - row["false_signal_rate"]
            else:
                assert row["unknown_factors"] == ["false_signal_rate"]
            assert row["score"] == expected
        assert [r["symbol"] for r in summary["unranked"]] == ["GOOG"]  # the sample ended in 2013
        assert "| rank | symbol |" in (result.report_dir / "summary.md").read_text()  # type: ignore[operator]


async def test_market_scan_covers_every_configured_symbol(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2013-02-15T00:00")  # GOOG trades; BTC has 13 monthly bars; no EUR/USD yet
        result = await execute(stack, "market_scan")
        summary = report(result)["summary"]
        assert summary["symbols"] == ["BTC/USD", "BTC/EUR", "EUR/USD", "GOOG"]
        assert [r["symbol"] for r in summary["ranked"]] == ["GOOG"]
        unranked = {r["symbol"]: r["missing"]["activity_level"] for r in summary["unranked"]}
        assert unranked["BTC/USD"].startswith("not enough data: 13 bars")
        assert unranked["BTC/EUR"] == unranked["BTC/USD"]
        assert "EUR/USD" in unranked  # the EUR/USD sample starts in 2017
        assert sum(len(v) for v in summary["regimes"].values()) == 4


async def test_risk_check_uses_live_overrides_and_alerts_on_breach(stack: Stack) -> None:
    async with asyncio.timeout(60):
        root = Path(stack.settings.root)
        config = root / "config" / "config.toml"
        await stack.leverage_book()  # base leverage 2.0, GOOG's book -4 % on the day
        config.write_text(config.read_text().replace('mode = "paper"', 'mode = "live"'))
        (root / "config/live_overrides/auto.toml").write_text(
            '[auto_applied]\n"portfolio.leverage" = 2.5\n'
        )
        result = await execute(stack, "risk_check", symbols=["GOOG"])
        summary = report(result)["summary"]
        assert summary["effective_leverage"] == 2.5 and summary["leverage_source"] == "live"
        checks = {(c["check"], c["scope"]): c for c in summary["checks"]}
        assert checks[("leverage", "portfolio")]["status"] == "breach"
        # The workflow judges what the performance monitor measures on the same book.
        measured = await stack.components.performance.check_conditions("GOOG")
        daily = checks[("daily_loss", "GOOG")]
        assert daily["value"] == -measured.metrics["daily_pnl_pct"] / 100
        assert daily["status"] == "breach" and daily["limit"] == 0.03
        drawdown = checks[("drawdown", "GOOG")]
        assert drawdown["value"] == measured.metrics["current_drawdown"]
        assert drawdown["limit"] == 0.20
        breached = {c["check"] for c in summary["checks"] if c["status"] == "breach"}
        critical = [a for a in stack.alerts.alerts if a[0] is AlertLevel.CRITICAL]
        assert {a[3]["check"] for a in critical} == breached >= {"leverage", "daily_loss"}
        # paper mode: the same override file is not even read, leverage is the base value
        config.write_text(config.read_text().replace('mode = "live"', 'mode = "paper"'))
        paper = report(await execute(stack, "risk_check", symbols=["GOOG"]))["summary"]
        assert paper["effective_leverage"] == 2.0 and paper["leverage_source"] == "base"


async def test_risk_check_unknown_metric_is_not_a_pass(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-04-26T17:00")
        summary = report(await execute(stack, "risk_check", symbols=["EUR/USD"]))["summary"]
        checks = {(c["check"], c["scope"]): c for c in summary["checks"]}
        assert checks[("daily_loss", "EUR/USD")]["status"] in ("ok", "breach")
        assert not summary["ok"] or summary["unknown"] == 0
        await stack.at("2018-06-01T00:00")  # stale: nothing can be checked
        stale = report(await execute(stack, "risk_check", symbols=["EUR/USD"]))["summary"]
        assert stale["unknown"] == 3 and stale["ok"] is False
        assert any(
            a[2].startswith("risk checks could not be evaluated") for a in stack.alerts.alerts
        )


async def test_portfolio_analysis_writes_chart_and_window_stats(stack: Stack) -> None:
    async with asyncio.timeout(60):
        await stack.at("2017-04-26T17:00")
        result = await execute(
            stack, "portfolio_analysis", symbols=["EUR/USD", "BTC/USD"], window_days=0
        )
        assert result.state is WorkflowState.COMPLETED
        assert result.report_dir is not None
        png = (result.report_dir / "equity_drawdown.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        document = report(result)
        assert "equity_drawdown.png" in document["files"]
        btc = next(p for p in document["summary"]["portfolios"] if p["symbol"] == "BTC/USD")
        # window_days=0: the whole equity curve of the paper book the monitor trades.
        book = await stack.components.performance.source.snapshot("BTC/USD")
        equity = book.equity
        assert btc["window"]["return_pct"] == (equity[-1] / equity[0] - 1) * 100
        assert btc["window"]["max_drawdown"] == max(
            1 - e / equity[: i + 1].max() for i, e in enumerate(equity)
        )


def test_drawdown_math() -> None:
    equity = np.array([100.0, 120.0, 90.0, 130.0, 117.0])
    assert drawdown_series(equity).tolist() == pytest.approx([0.0, 0.0, 0.25, 0.0, 0.1])
    assert curve_stats(equity)["max_drawdown"] == 0.25
    assert curve_stats(equity)["return_pct"] == pytest.approx(17.0)


async def test_snapshot_equity_adapter() -> None:
    """The paper portfolio/ledger snapshot shape (UTC ns timestamps, equity array) → a curve."""

    class Snapshot:
        timestamps = np.array(
            [1_700_000_000_000_000_000, 1_700_003_600_000_000_000], dtype=np.int64
        )
        equity = np.array([100_000.0, 100_250.5])

    class Source:
        async def snapshot(self, symbol: str) -> Snapshot:
            assert symbol == "GOOG"
            return Snapshot()

    class Monitor:
        source = Source()

    async with asyncio.timeout(5):
        curve = await SnapshotEquity(Monitor()).equity_curve("GOOG")  # type: ignore[arg-type]
    assert curve == [
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), 100_000.0),
        (datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC), 100_250.5),
    ]


async def test_workflow_types_follow_a_reload(stack: Stack) -> None:
    """The sources read the settings in force now, not the ones from start-up."""
    async with asyncio.timeout(60):
        await stack.at("2017-07-19T07:00")
        first = report(await execute(stack, "risk_check"))["summary"]
        assert first["symbols"] == ["EUR/USD"]
        await stack.reconfigure({"cycle": {"symbols": ["BTC/USD", "EUR/USD"]}})
        second = report(await execute(stack, "risk_check"))["summary"]
        assert second["symbols"] == ["BTC/USD", "EUR/USD"]
