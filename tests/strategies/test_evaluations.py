"""Strategy outputs shared by the signal monitor and the paper book: computed once per window,
never a different result than evaluating the strategies afresh."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from peaktrade_daemon.clock import ManualClock
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.ohlcv_csv import parse_ohlcv_csv
from peaktrade_daemon.monitors.defaults import trading_config
from peaktrade_daemon.monitors.performance import PerformanceMonitor
from peaktrade_daemon.portfolio.paper import PaperPortfolio
from peaktrade_daemon.settings import load_settings
from peaktrade_daemon.strategies.base import StrategyInputs, StrategyOutput
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.evaluations import StrategyEvaluations
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion
from peaktrade_daemon.workflows.components import build_components

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "EURUSD.csv"
STRATEGIES = (MaCrossover(), RsiReversion(), Breakout())
START = datetime(2017, 12, 1, 9, 0, tzinfo=UTC)  # inside EURUSD.csv


def window(stop: int, count: int = 500) -> Bars:
    full = parse_ohlcv_csv(SAMPLE, SAMPLE.read_bytes(), symbol="EUR/USD", timeframe="1h")
    cut = slice(stop - count, stop)
    return dataclasses.replace(
        full,
        timestamps=full.timestamps[cut],
        open=full.open[cut],
        high=full.high[cut],
        low=full.low[cut],
        close=full.close[cut],
        volume=full.volume[cut],
    )


def fresh(bars: Bars, strategies: tuple[object, ...] = STRATEGIES) -> list[StrategyOutput]:
    inputs = StrategyInputs(bars.high[None, :], bars.low[None, :], bars.close[None, :])
    return [s.evaluate(inputs) for s in strategies]  # type: ignore[attr-defined]


def assert_same(left: list[StrategyOutput], right: list[StrategyOutput]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        np.testing.assert_array_equal(a.direction, b.direction)
        np.testing.assert_array_equal(a.strength, b.strength)


def test_a_window_is_evaluated_once_and_a_changed_one_again() -> None:
    evaluations = StrategyEvaluations()
    bars = window(1000)
    first = evaluations.outputs(bars, STRATEGIES)
    assert_same(first, fresh(bars))
    again = evaluations.outputs(window(1000), STRATEGIES)  # equal values, other arrays
    assert all(a is b for a, b in zip(first, again, strict=True))
    moved = window(1001)
    assert_same(evaluations.outputs(moved, STRATEGIES), fresh(moved))
    # Other parameters are other outputs; a subset of the strategies is served from the memo.
    slower = (MaCrossover(fast_window=5), RsiReversion(), Breakout())
    assert_same(evaluations.outputs(moved, slower), fresh(moved, slower))
    only = evaluations.outputs(moved, (RsiReversion(),))
    assert_same(only, fresh(moved, (RsiReversion(),)))


def test_readers_asking_at_once_wait_for_one_evaluation() -> None:
    calls: list[str] = []

    @dataclasses.dataclass(frozen=True)
    class Counted:
        name: str = "counted"
        warmup_bars: int = 15

        def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
            calls.append(threading.current_thread().name)
            return RsiReversion().evaluate(inputs)

    evaluations = StrategyEvaluations()
    bars = window(2000)
    results: list[list[StrategyOutput]] = []
    threads = [
        threading.Thread(target=lambda: results.append(evaluations.outputs(bars, (Counted(),))))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 4
    assert all(r[0] is results[0][0] for r in results)


async def test_the_composition_shares_them_and_the_book_is_unchanged(project_root: Path) -> None:
    settings = load_settings(project_root, cli_overrides={"replay": {"start": START.isoformat()}})
    clock = ManualClock(START)
    components = build_components(settings, clock=clock, config=trading_config(settings))
    source = components.performance.source
    assert isinstance(source, PaperPortfolio)
    assert source._evaluations is components.signals._outputs
    alone = PerformanceMonitor(settings, components.feeds, trading_config(settings), clock=clock)
    try:
        async with asyncio.timeout(60):
            for _ in range(3):
                await components.signals.check_conditions("EUR/USD")
                shared = await components.performance.check_conditions("EUR/USD")
                own = await alone.check_conditions("EUR/USD")
                assert shared.metrics == own.metrics and shared.status == own.status
                await clock.advance(3600)  # a new bar: evaluated afresh, once
    finally:
        await components.feeds.close()
    memos = components.signals._outputs._memos
    assert sorted(memos) == sorted(s.name for s in components.signals.strategies)
    assert all(m.misses == 3 and m.hits == 3 for m in memos.values())


def test_a_batch_is_served_as_window_by_window() -> None:
    ends = ((1000, 500), (1001, 500), (1200, 300), (1500, 500))  # two of them stacked together
    windows = [
        dataclasses.replace(window(stop, count), symbol=f"S{i}")
        for i, (stop, count) in enumerate(ends)
    ]
    evaluations = StrategyEvaluations()
    first = evaluations.outputs(windows[0], STRATEGIES)  # already known: served from the memo
    batch = evaluations.outputs_many(windows, STRATEGIES)
    assert all(a is b for a, b in zip(first, batch[0], strict=True))
    for bars, outputs in zip(windows, batch, strict=True):
        assert_same(outputs, fresh(bars))
        if bars is not windows[0]:  # copied out of its stack: holding no other window's rows
            assert all(o.direction.base is None and o.strength.base is None for o in outputs)
        # What the batch evaluated is in the memo for the readers that follow.
        again = evaluations.outputs(bars, STRATEGIES)
        assert all(a is b for a, b in zip(outputs, again, strict=True))
    memos = evaluations._memos.values()
    assert all(m.misses == len(windows) and m.hits == 1 + len(windows) for m in memos)
