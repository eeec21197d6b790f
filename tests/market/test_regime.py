"""The per-bar regime: at every bar the MarketMonitor's regime of the bars up to it, on the real
samples, and blind to later bars."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaktrade_daemon.market import regime
from peaktrade_daemon.market.bars import Bars
from peaktrade_daemon.market.metrics import MarketParams, market_metrics
from peaktrade_daemon.market.ohlcv_csv import read_ohlcv_csv
from peaktrade_daemon.market.regime import regime_series
from tests.market.samples import SAMPLES_DIR

SAMPLES = {
    "EURUSD": ("EUR/USD", "1h", 700),
    "GOOG": ("GOOG", "1d", 700),
    "BTCUSD": ("BTC/USD", "1M", 156),
}


def _bars(name: str) -> Bars:
    symbol, timeframe, count = SAMPLES[name]
    bars = read_ohlcv_csv(SAMPLES_DIR / f"{name}.csv", symbol=symbol, timeframe=timeframe)
    return bars.tail(count)


def _monitor_regime(bars: Bars, stop: int, params: MarketParams) -> float:
    """What market_metrics (the monitor's last-bar rule) says on bars[:stop]."""
    window = bars.slice(0, stop)
    values = market_metrics(
        window.high[None, :],
        window.low[None, :],
        window.close[None, :],
        window.volume[None, :],
        window.timestamps,
        timeframe_s=3600.0,
        bars_per_year=8760.0,
        params=params,
    )
    return float(values["regime"][0])


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize(
    "params",
    [MarketParams(), MarketParams(lookback=10, long_lookback=40, trend_threshold=0.2)],
    ids=["shipped", "short"],
)
def test_every_bar_is_the_monitors_regime_of_the_bars_up_to_it(
    name: str, params: MarketParams
) -> None:
    bars = _bars(name)
    series = regime_series(bars.close[None, :], params)[0]
    expected = np.array([_monitor_regime(bars, t + 1, params) for t in range(len(bars))])
    np.testing.assert_array_equal(series, expected)
    known = series[~np.isnan(series)]
    # The windows are real and varied: undefined only before the long window is full.
    assert np.isnan(series[: params.long_lookback]).all()
    assert len(known) == len(bars) - params.long_lookback
    if len(known) > 300:
        assert set(known.tolist()) == {-1.0, 0.0, 1.0, 2.0}


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(min_value=1, max_value=299), scale=st.floats(0.5, 2.0))
def test_later_bars_never_change_an_earlier_regime(cut: int, scale: float) -> None:
    close = _bars("EURUSD").close[-300:]
    changed = close.copy()
    changed[cut:] *= scale
    params = MarketParams()
    before = regime_series(close[None, :], params)[0]
    after = regime_series(changed[None, :], params)[0]
    np.testing.assert_array_equal(before[:cut], after[:cut])


def test_many_symbols_at_once_equal_one_at_a_time() -> None:
    rows = np.stack([_bars(n).close[-150:] for n in SAMPLES])
    together = regime_series(rows, MarketParams())
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(together[i], regime_series(row[None, :], MarketParams())[0])


@pytest.mark.parametrize("chunk", [1, 100, 1 << 40])
def test_the_std_in_chunks_of_windows_is_the_std_at_once(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounding the temporaries changes no bit: each window's arithmetic is its own."""
    close = np.stack([_bars("EURUSD").close[-600:], _bars("GOOG").close[-600:]])
    whole = regime_series(close, MarketParams())
    monkeypatch.setattr(regime, "STD_CHUNK", chunk)
    np.testing.assert_array_equal(regime_series(close, MarketParams()), whole)
    returns = np.full(close.shape, np.nan)
    returns[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    reference = np.full(close.shape, np.nan)
    reference[:, 20:] = np.lib.stride_tricks.sliding_window_view(returns[:, 1:], 20, axis=1).std(
        axis=2, ddof=1
    )
    np.testing.assert_array_equal(regime._rolling_std(returns, 20, close.shape[1]), reference)
