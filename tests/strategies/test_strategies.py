"""Strategies, signal metrics and the signal history on the real samples, against pandas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peaktrade_daemon.config import PeakConfig, load_config
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market.bars import to_ns
from peaktrade_daemon.strategies.base import StrategyInputs
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.history import StrategyHistory, history_metrics
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.registry import enabled_strategies
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion
from peaktrade_daemon.strategies.signal_metrics import SignalParams, signal_metrics
from tests.conftest import PROJECT_ROOT
from tests.market.samples import NAMES, frame
from tests.strategies.reference import (
    all_strategies_pd,
    breakout_pd,
    ma_crossover_pd,
    rsi_reversion_pd,
    signal_metrics_pd,
)


def inputs(df: pd.DataFrame) -> StrategyInputs:
    return StrategyInputs(
        df.High.to_numpy()[None, :], df.Low.to_numpy()[None, :], df.Close.to_numpy()[None, :]
    )


def shipped() -> PeakConfig:
    return load_config(PROJECT_ROOT / "config/config.toml")


@pytest.fixture(params=NAMES)
def sample(request: pytest.FixtureRequest) -> pd.DataFrame:
    return frame(request.param)


@pytest.mark.parametrize(
    ("strategy", "reference"),
    [
        (MaCrossover(), ma_crossover_pd),
        (MaCrossover(fast_window=5, slow_window=50), lambda df: ma_crossover_pd(df, 5, 50)),
        (RsiReversion(), rsi_reversion_pd),
        (
            RsiReversion(period=7, oversold=20, overbought=75),
            lambda df: rsi_reversion_pd(df, 7, 20, 75),
        ),
        (Breakout(), breakout_pd),
        (Breakout(lookback=10, confirm_bars=3), lambda df: breakout_pd(df, 10, 3)),
    ],
)
def test_strategy_matches_pandas(sample: pd.DataFrame, strategy: object, reference: object) -> None:
    out = strategy.evaluate(inputs(sample))  # type: ignore[attr-defined]
    expected = reference(sample)  # type: ignore[operator]
    np.testing.assert_array_equal(out.direction[0], expected.direction.to_numpy())
    # Right at a crossover the MA gap is a difference of two almost equal averages: both sides
    # agree to the last bits of the prices (about 1e-16 absolute), which is more than 1e-9 of a
    # gap of 1e-7; hence the absolute floor of 1e-12 on a strength in [0, 1].
    np.testing.assert_allclose(out.strength[0], expected.strength.to_numpy(), rtol=1e-9, atol=1e-12)
    assert ((out.strength >= 0) & (out.strength <= 1)).all()
    assert (out.direction != 0).any(), "a strategy that never signals on real data tests nothing"


def test_signal_metrics_match_pandas(sample: pd.DataFrame) -> None:
    strategies = enabled_strategies(shipped())
    outputs = [s.evaluate(inputs(sample)) for s in strategies]
    got = signal_metrics(outputs, sample.Close.to_numpy()[None, :], SignalParams())
    expected = signal_metrics_pd(all_strategies_pd(sample), sample.Close)
    for name, value in expected.items():
        actual = float(got[name][0])
        if math.isnan(value):
            assert math.isnan(actual), name
        else:
            assert actual == pytest.approx(value, rel=1e-9, abs=0), name


def test_history_from_one_window_equals_window_metrics(sample: pd.DataFrame) -> None:
    strategies = enabled_strategies(shipped())
    outputs = [s.evaluate(inputs(sample)) for s in strategies]
    close = sample.Close.to_numpy()
    stamps = np.array([to_ns(t.to_pydatetime()) for t in sample.index], dtype=np.int64)
    histories = [StrategyHistory(1000) for _ in strategies]
    for history, out in zip(histories, outputs, strict=True):
        history.record(stamps, out.direction[0], out.strength[0], close, 5)
    window = signal_metrics(outputs, close[None, :], SignalParams())
    direction = float(window["signal_direction"][0])
    from_history = history_metrics(histories, direction, SignalParams())
    for name, value in from_history.items():
        np.testing.assert_allclose(value, window[name][0], rtol=1e-12, equal_nan=True, err_msg=name)


def test_incremental_scans_record_each_signal_once() -> None:
    df = frame("EURUSD")
    strategy = MaCrossover()
    stamps = np.array([to_ns(t.to_pydatetime()) for t in df.index], dtype=np.int64)
    full = strategy.evaluate(inputs(df))
    one_shot = StrategyHistory(10_000)
    one_shot.record(stamps, full.direction[0], full.strength[0], df.Close.to_numpy(), 5)
    rolling = StrategyHistory(10_000)
    for end in [*range(600, len(df), 250), len(df)]:
        win = df.iloc[end - 600 : end]
        out = strategy.evaluate(inputs(win))
        rolling.record(
            stamps[end - 600 : end], out.direction[0], out.strength[0], win.Close.to_numpy(), 5
        )
    tail_ts = stamps[599]
    expect = [r for r in one_shot.records if r.timestamp_ns > tail_ts]
    got = [r for r in rolling.records if r.timestamp_ns > tail_ts]
    assert [(r.timestamp_ns, r.direction) for r in got] == [
        (r.timestamp_ns, r.direction) for r in expect
    ]
    judged = [r for r in got if r.wrong is not None]
    assert len(judged) >= len(got) - 5


def test_history_is_bounded_and_frequency_follows_the_kept_span() -> None:
    history = StrategyHistory(3)
    direction = np.array([0, 1, 1, -1, -1, 1, 0, -1, 0, 0], dtype=np.int8)
    stamps = np.arange(10, dtype=np.int64)
    close = np.linspace(100, 109, 10)
    history.record(stamps, direction, np.full(10, 0.5), close, 2)
    assert [r.timestamp_ns for r in history.records] == [3, 5, 7]
    # The kept signals span bars 3..9 (7 bars): 3 signals per 7 bars.
    assert history.bars_covered == 7
    rates = history_metrics([history], 1.0, SignalParams(consistency_window=2, forward_bars=2))
    assert rates["signal_frequency"] == pytest.approx(3 / 7 * 100)
    # Rising prices: the short at 3 and 7 were wrong, the long at 5 right; 7 has no outcome yet
    # (bar 9 is its 2nd bar: judged), so 2 of 3 wrong.
    assert rates["false_signal_rate"] == pytest.approx(2 / 3)
    assert rates["signal_consistency"] == pytest.approx(1 / 2)


def test_parameters_come_from_config_and_are_validated() -> None:
    config = shipped().with_updates({"strategy.ma_crossover.fast_window": 7})
    names = [s.name for s in enabled_strategies(config)]
    assert names == ["ma_crossover", "rsi_reversion", "breakout"]
    assert enabled_strategies(config)[0] == MaCrossover(fast_window=7, slow_window=30)
    with pytest.raises(ConfigError, match=r"strategy\.ma_crossover\.fast_window"):
        enabled_strategies(shipped().with_updates({"strategy.ma_crossover.fast_window": 40}))
    with pytest.raises(ConfigError, match=r"strategy\.breakout\.lookback"):
        enabled_strategies(shipped().with_updates({"strategy.breakout.lookback": 0}))
    with pytest.raises(ConfigError, match="unknown strategy 'momo'"):
        enabled_strategies(shipped().with_updates({"strategy.enabled": ["momo"]}))


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 4), st.integers(2, 120)), elements=st.floats(-0.2, 0.2)
    ),
    st.integers(1, 40),
)
def test_outputs_and_metrics_stay_in_range(steps: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(steps, axis=1))
    high = close * (1 + rng.uniform(0, 0.05, close.shape))
    low = close * (1 - rng.uniform(0, 0.05, close.shape))
    inp = StrategyInputs(high, low, close)
    outputs = [s.evaluate(inp) for s in enabled_strategies(shipped())]
    for out in outputs:
        assert set(np.unique(out.direction)) <= {-1, 0, 1}
        assert ((out.strength > 0) == (out.direction != 0)).all()
        assert ((out.strength >= 0) & (out.strength <= 1)).all()
    metrics = signal_metrics(outputs, close, SignalParams())
    for name in ("signal_strength", "signal_consistency", "false_signal_rate"):
        values = metrics[name][~np.isnan(metrics[name])]
        assert ((values >= 0) & (values <= 1)).all(), name
    assert (metrics["signal_frequency"] >= 0).all()
