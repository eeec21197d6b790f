"""Windows stacked into rows: grouped by length and key, and every row computed exactly as the
same window alone (bit for bit) by the indicators, the market metrics, the regime series and
the strategies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.metrics import MarketParams, market_metrics
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.market.regime import regime_series
from peaktrade_daemon.market.stacks import stacks
from peaktrade_daemon.strategies.base import StrategyInputs
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion
from tests.market.samples import NAMES, SAMPLES_DIR

STRATEGIES = (MaCrossover(), RsiReversion(), Breakout(confirm_bars=2))


def sample_windows() -> list[Bars]:
    """Windows of every sample, of several lengths and ends (some of equal length)."""
    out = []
    for name in NAMES:
        full = read_ohlcv_csv(SAMPLES_DIR / f"{name}.csv", symbol=name, timeframe="1h")
        for stop, count in ((len(full), 150), (len(full) - 7, 150), (len(full) - 1, 120)):
            out.append(full.slice(max(0, stop - count), stop))
    return out


def test_grouped_by_length_and_key_in_first_seen_order() -> None:
    windows = sample_windows()
    keys = ["a" if i % 2 else "b" for i in range(len(windows))]
    found = stacks(windows, keys, rows=2)
    assert sorted(i for s in found for i in s.members) == list(range(len(windows)))
    for stack in found:
        assert 1 <= len(stack.members) <= 2
        assert len({(len(windows[i]), keys[i]) for i in stack.members}) == 1
        assert stack.windows == tuple(windows[i] for i in stack.members)
        np.testing.assert_array_equal(
            stack.column("close"), np.stack([windows[i].close for i in stack.members])
        )
        np.testing.assert_array_equal(
            stack.timestamps, np.stack([windows[i].timestamps for i in stack.members])
        )
        assert list(stack.members) == sorted(stack.members)
    assert stacks([]) == []


def assert_rows_equal(stacked: np.ndarray, row: int, alone: np.ndarray) -> None:
    np.testing.assert_array_equal(stacked[row], alone[0] if alone.ndim == 2 else alone)


@pytest.mark.parametrize("params", [MarketParams(), MarketParams(lookback=10, long_lookback=40)])
def test_every_row_is_the_window_alone(params: MarketParams) -> None:
    windows = sample_windows()
    for stack in stacks(windows):
        high, low, close = stack.column("high"), stack.column("low"), stack.column("close")
        outputs = [s.evaluate(StrategyInputs(high, low, close)) for s in STRATEGIES]
        metrics = market_metrics(
            high, low, close, stack.column("volume"), stack.timestamps,
            timeframe_s=900.0, bars_per_year=8760.0, params=params,
        )  # fmt: skip
        regimes = regime_series(close, params)
        for row, w in enumerate(stack.windows):
            inputs = StrategyInputs(w.high[None, :], w.low[None, :], w.close[None, :])
            for strategy, output in zip(STRATEGIES, outputs, strict=True):
                alone = strategy.evaluate(inputs)
                assert_rows_equal(output.direction, row, alone.direction)
                assert_rows_equal(output.strength, row, alone.strength)
            single = market_metrics(
                w.high[None, :], w.low[None, :], w.close[None, :], w.volume[None, :],
                w.timestamps, timeframe_s=900.0, bars_per_year=8760.0, params=params,
            )  # fmt: skip
            for name, values in metrics.items():
                assert_rows_equal(values, row, single[name])
            assert_rows_equal(regimes, row, regime_series(w.close[None, :], params))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 400), min_size=2, max_size=12),
    st.floats(0.5, 2.0),
)
def test_rows_of_any_windows_are_the_windows_alone(ends: list[int], scale: float) -> None:
    full = read_ohlcv_csv(SAMPLES_DIR / "EURUSD.csv", symbol="EUR/USD", timeframe="1h")
    windows = [full.slice(end, end + 200) for end in ends]
    windows[-1] = Bars(
        symbol="X", timeframe="1h", timestamps=windows[-1].timestamps,
        open=windows[-1].open * scale, high=windows[-1].high * scale,
        low=windows[-1].low * scale, close=windows[-1].close * scale,
        volume=windows[-1].volume, as_of=windows[-1].as_of,
    )  # fmt: skip
    for stack in stacks(windows, rows=5):
        inputs = StrategyInputs(stack.column("high"), stack.column("low"), stack.column("close"))
        regimes = regime_series(stack.column("close"), MarketParams())
        for row, w in enumerate(stack.windows):
            assert_rows_equal(regimes, row, regime_series(w.close[None, :], MarketParams()))
        for strategy in STRATEGIES:
            output = strategy.evaluate(inputs)
            for row, w in enumerate(stack.windows):
                alone = strategy.evaluate(StrategyInputs(w.high[None], w.low[None], w.close[None]))
                assert_rows_equal(output.strength, row, alone.strength)
                assert_rows_equal(output.direction, row, alone.direction)
