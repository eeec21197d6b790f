"""The market regime of :mod:`peaktrade_daemon.market.metrics` as a series, one value per bar.

:func:`regime_series` gives the regime at every bar t from the bars up to t only (no look-ahead):
its value at the last bar is the MarketMonitor's ``regime`` of the same window. The annualising
factor of the volatilities cancels in their ratio, so no calendar is needed.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from peaktrade_daemon.market.bars import FloatArray
from peaktrade_daemon.market.metrics import MarketParams, classify_regime

#: Values (rows x windows x window) one ``std`` call takes at most (256 KiB of float64): numpy's
#: two-pass std makes a temporary of that size, and a worker thread's heap keeps its high-water
#: mark (a stack of 64 windows of 500 bars took 25 MiB at once; chunks of 1 MiB still left the
#: daemon 6 MiB larger after 26 cycles at 500 symbols, chunks of 256 KiB nothing measurable).
STD_CHUNK = 1 << 15


def _rolling_std(returns: FloatArray, window: int, n_bar: int) -> FloatArray:
    """Sample std (ddof 1) of the ``window`` returns ending at each bar; NaN before bar
    ``window`` (``returns[:, 0]`` is the undefined return of bar 0). Computed a chunk of
    windows at a time: each window's arithmetic is the same, only the temporaries are smaller."""
    out = np.full((returns.shape[0], n_bar), np.nan)
    if n_bar > window:
        views = sliding_window_view(returns[:, 1:], window, axis=1)
        step = max(1, STD_CHUNK // (returns.shape[0] * window))
        for start in range(0, views.shape[1], step):
            stop = start + step
            out[:, window + start : window + stop] = views[:, start:stop].std(axis=2, ddof=1)
    return out


def regime_series(close: FloatArray, params: MarketParams) -> FloatArray:
    """The regime at every bar of ``close`` (``(symbols, bars)``), from bars up to that bar."""
    n_bar = close.shape[1]
    lookback = params.lookback
    returns = np.full(close.shape, np.nan)
    returns[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    short = _rolling_std(returns, lookback, n_bar)
    long = _rolling_std(returns, params.long_lookback, n_bar)
    trend = np.full(close.shape, np.nan)
    direction = np.full(close.shape, np.nan)
    if n_bar > lookback:
        net = close[:, lookback:] - close[:, :-lookback]
        steps = np.abs(np.diff(close, axis=1))
        path = sliding_window_view(steps, lookback, axis=1).sum(axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            trend[:, lookback:] = np.where(path > 0, np.abs(net) / path, np.nan)
        direction[:, lookback:] = np.sign(net)
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_ratio = np.where(long > 0, short / long, np.nan)
    return classify_regime(vol_ratio, trend, direction, params)
