"""The ``auto`` selection rule: table-driven on metric dicts, then from real data windows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest

from peaktrade_daemon.settings import CycleSection
from peaktrade_daemon.workflows.selection import SymbolView, in_evening_window, select_workflow
from tests.workflows.conftest import Stack

RULES = CycleSection()
CALM = {
    "market": {"volume_ratio": 1.0, "price_change_1h": 0.001, "activity_level": 0.4, "regime": 0.0},
    "signals": {"signal_strength": 0.3, "signal_consistency": 0.9},
    "performance": {"current_drawdown": 0.02, "daily_pnl_pct": 0.1},
}


def view(**changes: dict[str, float]) -> SymbolView:
    metrics = {role: {**values, **changes.get(role, {})} for role, values in CALM.items()}
    return SymbolView(metrics, {role: "ok" for role in CALM})


@pytest.mark.parametrize(
    ("symbol_view", "expected", "rule"),
    [
        (view(performance={"current_drawdown": 0.15}), "risk_check", 1),
        (view(performance={"daily_pnl_pct": -3.5}), "risk_check", 1),
        (SymbolView(CALM, {"performance": "critical"}), "risk_check", 1),
        (view(signals={"signal_strength": 0.8}), "signal_analysis", 2),
        (view(signals={"signal_strength": 0.8, "signal_consistency": 0.2}), "market_scan", 5),
        (view(market={"volume_ratio": 2.5}), "market_scan", 3),
        (view(market={"price_change_1h": -0.03}), "market_scan", 3),
        (view(market={"regime": 2.0}), "market_scan", 3),
        (view(market={"activity_level": 0.9}), "market_scan", 3),
        (SymbolView(CALM, {"market": "warning"}), "market_scan", 3),
        (view(), "market_scan", 5),
        (SymbolView({}), "market_scan", 5),
    ],
)
def test_rule_table(symbol_view: SymbolView, expected: str, rule: int) -> None:
    selection = select_workflow({"X": symbol_view}, time(10, 0), RULES)
    assert (selection.workflow_type, selection.rule) == (expected, rule)


def test_priority_and_focus_symbol() -> None:
    views = {
        "A": view(signals={"signal_strength": 0.95}),
        "B": view(performance={"current_drawdown": 0.12}),
        "C": view(performance={"current_drawdown": 0.25}),
    }
    selection = select_workflow(views, time(21, 0), RULES)
    assert (selection.workflow_type, selection.symbol) == ("risk_check", "C")
    assert selection.reason == "C: drawdown 25.0% >= 10.0%"


def test_focus_ranks_a_zero_value_above_a_missing_one() -> None:
    # Both portfolios are critical; A's drawdown is a known 0.0, B's is unknown. Missing ranks last,
    # a real zero does not (0 is data, not "missing").
    critical = {role: "ok" for role in CALM} | {"performance": "critical"}
    zero = SymbolView({**CALM, "performance": {"current_drawdown": 0.0}}, critical)
    unknown = SymbolView({**CALM, "performance": {}}, critical)
    selection = select_workflow({"A": zero, "B": unknown}, time(10, 0), RULES)
    assert (selection.workflow_type, selection.symbol) == ("risk_check", "A")


def test_evening_review_only_when_nothing_is_urgent() -> None:
    assert select_workflow({"X": view()}, time(20, 30), RULES).workflow_type == "portfolio_analysis"
    assert select_workflow({"X": view()}, time(19, 59), RULES).workflow_type == "market_scan"
    urgent = view(market={"volume_ratio": 3.0})
    assert select_workflow({"X": urgent}, time(20, 30), RULES).workflow_type == "market_scan"


def test_evening_window_across_midnight() -> None:
    rules = CycleSection(evening_review_start="22:00", evening_review_end="01:00")
    assert in_evening_window(time(23, 30), rules) and in_evening_window(time(0, 30), rules)
    assert not in_evening_window(time(12, 0), rules)


def test_missing_metric_never_triggers_a_rule() -> None:
    no_drawdown = SymbolView({"performance": {"daily_pnl_pct": 0.0}}, {"performance": "ok"})
    assert select_workflow({"X": no_drawdown}, time(9, 0), RULES).rule == 5


@pytest.mark.parametrize(
    ("data_now", "symbol", "clock_hour", "expected"),
    [
        ("2005-06-13T00:00", "GOOG", 10, "risk_check"),  # leveraged book: -4.1 % on the day
        ("2017-11-15T03:00", "EUR/USD", 10, "signal_analysis"),  # strong, consistent signal
        ("2017-07-19T07:00", "EUR/USD", 10, "market_scan"),  # volume 2.3x its mean
        ("2017-10-23T22:00", "EUR/USD", 20, "portfolio_analysis"),  # calm, evening review
    ],
)
async def test_auto_reaches_every_type_from_real_data(
    stack: Stack, data_now: str, symbol: str, clock_hour: int, expected: str
) -> None:
    async with asyncio.timeout(60):
        async with asyncio.timeout(10):
            await stack.clock.set(datetime(2026, 3, 2, clock_hour, 30, tzinfo=UTC))
        if expected == "risk_check":
            await stack.leverage_book()
        await stack.at(data_now)
        async with asyncio.timeout(30):
            summary = await stack.cycle.run_cycle(symbols=[symbol], dry_run=True)
        assert summary.workflow_type == expected, summary.selection_reason
