"""Every indicator on the real samples against an independent pandas computation (1e-9 rel)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peaktrade_daemon.market import indicators as ind
from tests.market.samples import NAMES, frame, wilder_pd

RTOL = 1e-9


def row(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.float64)[None, :]


def close_enough(actual: np.ndarray, expected: pd.Series | np.ndarray) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=RTOL, atol=0)


@pytest.fixture(params=NAMES)
def sample(request: pytest.FixtureRequest) -> pd.DataFrame:
    return frame(request.param)


def test_log_returns(sample: pd.DataFrame) -> None:
    expected = np.log(sample.Close).diff()
    close_enough(ind.log_returns(row(sample.Close))[0], expected)


@pytest.mark.parametrize("lookback", [5, 20, 60])
def test_realised_volatility(sample: pd.DataFrame, lookback: int) -> None:
    expected = np.log(sample.Close).diff().tail(lookback).std() * np.sqrt(252.0)
    close_enough(ind.realised_volatility(row(sample.Close), lookback, 252.0), [expected])


def test_volume_ratio(sample: pd.DataFrame) -> None:
    expected = (sample.Volume / sample.Volume.rolling(20).mean()).iloc[-1]
    close_enough(ind.volume_ratio(row(sample.Volume), 20), [expected])


@pytest.mark.parametrize("window", [1, 10, 30, 100])
def test_sma(sample: pd.DataFrame, window: int) -> None:
    close_enough(ind.sma(row(sample.Close), window)[0], sample.Close.rolling(window).mean())


@pytest.mark.parametrize("period", [5, 14])
def test_atr_wilder(sample: pd.DataFrame, period: int) -> None:
    prev = sample.Close.shift(1)
    tr = pd.concat(
        [sample.High - sample.Low, (sample.High - prev).abs(), (sample.Low - prev).abs()], axis=1
    ).max(axis=1, skipna=False)
    expected = wilder_pd(tr, period)
    actual = ind.atr(row(sample.High), row(sample.Low), row(sample.Close), period)[0]
    close_enough(actual, expected)


@pytest.mark.parametrize("period", [2, 14])
def test_rsi_wilder(sample: pd.DataFrame, period: int) -> None:
    change = sample.Close.diff()
    gain = wilder_pd(change.clip(lower=0), period)
    loss = wilder_pd((-change).clip(lower=0), period)
    expected = 100 - 100 / (1 + gain / loss)
    expected = expected.where(loss != 0, np.where(gain > 0, 100.0, 50.0)).where(gain.notna())
    close_enough(ind.rsi(row(sample.Close), period)[0], expected)


@pytest.mark.parametrize("window", [1, 3, 20, 55])
def test_rolling_high_low(sample: pd.DataFrame, window: int) -> None:
    close_enough(ind.rolling_max(row(sample.High), window)[0], sample.High.rolling(window).max())
    close_enough(ind.rolling_min(row(sample.Low), window)[0], sample.Low.rolling(window).min())


@pytest.mark.parametrize("lookback", [10, 20])
def test_efficiency_ratio(sample: pd.DataFrame, lookback: int) -> None:
    c = sample.Close
    expected = (c.iloc[-1] - c.iloc[-1 - lookback]).__abs__() / c.diff().abs().tail(lookback).sum()
    close_enough(ind.efficiency_ratio(row(c), lookback), [expected])


def test_many_symbols_at_once_equal_one_at_a_time() -> None:
    frames = [frame(name).tail(150) for name in NAMES]
    close = np.stack([f.Close.to_numpy() for f in frames])
    high = np.stack([f.High.to_numpy() for f in frames])
    low = np.stack([f.Low.to_numpy() for f in frames])
    together = {
        "rsi": ind.rsi(close, 14),
        "atr": ind.atr(high, low, close, 14),
        "sma": ind.sma(close, 30),
        "max": ind.rolling_max(high, 20),
    }
    for i in range(len(frames)):
        one = {
            "rsi": ind.rsi(close[i : i + 1], 14),
            "atr": ind.atr(high[i : i + 1], low[i : i + 1], close[i : i + 1], 14),
            "sma": ind.sma(close[i : i + 1], 30),
            "max": ind.rolling_max(high[i : i + 1], 20),
        }
        for name, values in one.items():
            np.testing.assert_allclose(together[name][i], values[0], rtol=1e-12, equal_nan=True)


def test_too_short_windows_are_nan_not_zero() -> None:
    close = np.array([[1.0, 1.1, 1.2]])
    assert np.isnan(ind.realised_volatility(close, 5, 252.0)).all()
    assert np.isnan(ind.volume_ratio(close, 5)).all()
    assert np.isnan(ind.sma(close, 5)).all()
    assert np.isnan(ind.rsi(close, 5)).all()
    assert np.isnan(ind.efficiency_ratio(close, 5)).all()
    assert np.isnan(ind.rolling_max(close, 5)).all()


def test_flat_price_has_undefined_trend_and_neutral_rsi() -> None:
    close = np.full((1, 40), 10.0)
    assert np.isnan(ind.efficiency_ratio(close, 20)[0])
    assert ind.rsi(close, 14)[0, -1] == 50.0
    assert np.isnan(ind.volume_ratio(np.zeros((1, 40)), 20)[0])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(2, 60), elements=st.floats(0.01, 1e6)),
    st.integers(1, 12),
)
def test_rolling_extremes_match_naive(values: np.ndarray, window: int) -> None:
    x = values[None, :]
    got_max = ind.rolling_max(x, window)[0]
    got_min = ind.rolling_min(x, window)[0]
    for t in range(len(values)):
        if t < window - 1:
            assert np.isnan(got_max[t]) and np.isnan(got_min[t])
        else:
            assert got_max[t] == values[t - window + 1 : t + 1].max()
            assert got_min[t] == values[t - window + 1 : t + 1].min()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(16, 80), elements=st.floats(0.5, 2.0)))
def test_rsi_and_efficiency_stay_in_range(values: np.ndarray) -> None:
    close = np.cumprod(values)[None, :]
    rsi = ind.rsi(close, 14)[0]
    defined = rsi[~np.isnan(rsi)]
    assert ((defined >= 0) & (defined <= 100)).all()
    er = ind.efficiency_ratio(close, 15)[0]
    assert np.isnan(er) or 0.0 <= er <= 1.0 + 1e-12


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 80), st.integers(0, 4000), st.integers(2, 40))
def test_wilder_smooths_each_row_of_a_stack_of_any_size_as_alone(
    rows: int, offset: int, period: int
) -> None:
    """Bit for bit, whatever the stack's size: its matrix products have a symbol's own shape."""
    close = frame("EURUSD").Close.to_numpy()
    stack = np.stack([close[offset + 7 * i : offset + 7 * i + 500] for i in range(rows)][:rows])
    stack = stack[:, : min(len(r) for r in stack)]
    together = ind.wilder(stack, period)
    for i in range(rows):
        np.testing.assert_array_equal(together[i], ind.wilder(stack[i : i + 1], period)[0])
