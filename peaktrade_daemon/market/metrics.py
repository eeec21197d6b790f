"""The market metrics of the metric contract, vectorised over many symbols at once.

Inputs are 2-D ``(symbols, bars)`` arrays (see :mod:`peaktrade_daemon.market.indicators`);
outputs are one value per symbol, NaN where the window is too short (callers report NaN as a
missing metric with a reason, never as 0). With ``L`` = ``lookback``:

- ``volatility``       annualised realised volatility of the last ``L`` log returns (fraction)
- ``volume_ratio``     last volume / mean volume of the last ``L`` bars
- ``price_change_1h``  c_last / c_ref - 1 where c_ref is the last close at or before one hour
                       before the last bar (across a gap: the last price traded before it); for
                       bars of one hour or coarser, the last bar's change c_last / c_prev - 1
- ``activity_level``   0.5 min(volume_ratio / 2, 1) + 0.5 min(range_ratio / 2, 1) with
                       range_ratio = (h_last - l_last) / ATR_last: 0.5 is an ordinary bar,
                       1.0 a bar with twice the usual volume and twice the usual range
- ``trend_strength``   Kaufman efficiency ratio over ``L`` changes, in [0, 1]
- ``regime``           2 (volatile) when vol(L) / vol(``long_lookback``) >= ``volatile_ratio``;
                       else +1 / -1 (trending up / down, by the sign of c_last - c_{last-L}) when
                       trend_strength >= ``trend_threshold``; else 0 (ranging)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.market import indicators as ind
from peaktrade_daemon.market.bars import NS_PER_S, FloatArray, IntArray

REGIME_NAMES: dict[int, str] = {0: "ranging", 1: "trending_up", -1: "trending_down", 2: "volatile"}
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class MarketParams:
    """Windows and regime thresholds (from ``[monitors.market]``)."""

    lookback: int = 20
    long_lookback: int = 100
    atr_period: int = 14
    volatile_ratio: float = 1.5
    trend_threshold: float = 0.3


def classify_regime(
    vol_ratio: FloatArray, trend: FloatArray, direction: FloatArray, params: MarketParams
) -> FloatArray:
    """The ``regime`` rule (module docstring) from vol(L) / vol(long_lookback), the trend
    strength and the sign of the L-bar change, element-wise; NaN where a ratio is undefined.
    Shared with the per-bar series of :mod:`peaktrade_daemon.market.regime`."""
    with np.errstate(invalid="ignore"):
        regime = np.where(
            vol_ratio >= params.volatile_ratio,
            2.0,
            np.where(trend >= params.trend_threshold, direction, 0.0),
        )
    return np.where(np.isnan(vol_ratio) | np.isnan(trend), np.nan, regime)


def price_change_1h(close: FloatArray, timestamps: IntArray, timeframe_s: float) -> FloatArray:
    """Close-to-close change over the last hour of data (see the module docstring)."""
    n_sym, n_bar = close.shape
    if n_bar < 2:
        return np.full(n_sym, np.nan)
    if timeframe_s >= HOUR_S:
        return np.asarray(close[:, -1] / close[:, -2] - 1.0, dtype=np.float64)
    stamps = np.broadcast_to(timestamps, close.shape)
    cutoff = stamps[:, -1] - int(HOUR_S * NS_PER_S)
    ref = (stamps <= cutoff[:, None]).sum(axis=1) - 1
    valid = ref >= 0
    ref_close = close[np.arange(n_sym), np.maximum(ref, 0)]
    return np.where(valid, close[:, -1] / ref_close - 1.0, np.nan)


def market_metrics(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    timestamps: IntArray,
    *,
    timeframe_s: float,
    bars_per_year: FloatArray | float,
    params: MarketParams,
    atr_series: FloatArray | None = None,
) -> dict[str, FloatArray]:
    """Every bar-derived market metric for each symbol (spread and market hours come from the
    ticker and the calendar, not from bars). ``atr_series``: the ATR of ``params.atr_period``
    when the caller already has it (the strategies use the same one)."""
    lookback = params.lookback
    vol = ind.realised_volatility(close, lookback, bars_per_year)
    vol_long = ind.realised_volatility(close, params.long_lookback, bars_per_year)
    vratio = ind.volume_ratio(volume, lookback)
    if atr_series is None:
        atr_series = ind.atr(high, low, close, params.atr_period)
    atr_last = atr_series[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        range_ratio = np.where(atr_last > 0, (high[:, -1] - low[:, -1]) / atr_last, np.nan)
        vol_ratio = np.where(vol_long > 0, vol / vol_long, np.nan)
    activity = 0.5 * np.minimum(vratio / 2.0, 1.0) + 0.5 * np.minimum(range_ratio / 2.0, 1.0)
    trend = ind.efficiency_ratio(close, lookback)
    if close.shape[1] > lookback:
        direction = np.sign(close[:, -1] - close[:, -1 - lookback])
    else:
        direction = np.full(close.shape[0], np.nan)
    return {
        "volatility": vol,
        "volume_ratio": vratio,
        "price_change_1h": price_change_1h(close, timestamps, timeframe_s),
        "activity_level": activity,
        "trend_strength": trend,
        "regime": classify_regime(vol_ratio, trend, direction, params),
    }
