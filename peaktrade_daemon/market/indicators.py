"""Technical indicators, vectorised with numpy over many symbols at once.

Every function takes 2-D arrays shaped ``(symbols, bars)``, oldest bar first, and works along the
bar axis; one symbol is simply a ``(1, bars)`` array. Values that are not defined yet (too few
bars for the window) are NaN, never zero. Recursive indicators (Wilder smoothing) loop over time
but stay vectorised across symbols.

Formulas (``c`` close, ``h`` high, ``l`` low, ``v`` volume, ``t`` the bar index):

- log return        r_t = ln(c_t / c_{t-1})
- realised vol      sample std (ddof = 1) of the last ``L`` log returns x sqrt(bars per year)
- volume ratio      v_last / mean(v over the last ``L`` bars, the last bar included)
- SMA               mean of the last ``w`` values
- true range        TR_t = max(h_t - l_t, |h_t - c_{t-1}|, |l_t - c_{t-1}|) for t >= 1
- Wilder smoothing  y at the first full window = mean of its ``p`` values, then
                    y_t = (y_{t-1} (p - 1) + x_t) / p
- ATR               Wilder smoothing of TR (first value at t = p)
- RSI (Wilder)      gains/losses of c_t - c_{t-1}, each Wilder-smoothed (first value at t = p);
                    RSI = 100 - 100 / (1 + gain / loss); 100 when loss = 0 < gain; 50 when both 0
- rolling high/low  max/min of the last ``w`` values (van Herk / Gil-Werman, O(bars))
- efficiency ratio  |c_t - c_{t-L}| / sum of |c_i - c_{i-1}| over the last ``L`` changes
                    (Kaufman), in [0, 1]; NaN when the price did not move at all
"""

from __future__ import annotations

import numpy as np

from peaktrade_daemon.market.bars import FloatArray

NAN = float("nan")


def _nan_like(x: FloatArray) -> FloatArray:
    return np.full(x.shape, np.nan, dtype=np.float64)


def log_returns(close: FloatArray) -> FloatArray:
    """Bar-to-bar log returns; column 0 is NaN."""
    out = _nan_like(close)
    out[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    return out


def realised_volatility(
    close: FloatArray, lookback: int, bars_per_year: FloatArray | float
) -> FloatArray:
    """Annualised realised volatility of the last ``lookback`` log returns, per symbol."""
    if close.shape[1] < lookback + 1:
        return np.full(close.shape[0], np.nan)
    tail = close[:, -(lookback + 1) :]
    returns = np.log(tail[:, 1:] / tail[:, :-1])
    return np.asarray(np.std(returns, axis=1, ddof=1) * np.sqrt(bars_per_year), dtype=np.float64)


def volume_ratio(volume: FloatArray, lookback: int) -> FloatArray:
    """Last volume over the mean volume of the last ``lookback`` bars; NaN if that mean is 0."""
    if volume.shape[1] < lookback:
        return np.full(volume.shape[0], np.nan)
    mean = volume[:, -lookback:].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = volume[:, -1] / mean
    return np.where(mean > 0, ratio, np.nan)


def sma(x: FloatArray, window: int) -> FloatArray:
    """Simple moving average series (cumulative sums of de-meaned values, so O(bars) and exact
    to ~1e-13 relative even for large price levels)."""
    out = _nan_like(x)
    if x.shape[1] < window:
        return out
    centre = x.mean(axis=1, keepdims=True)
    csum = np.cumsum(x - centre, axis=1)
    sums = csum[:, window - 1 :].copy()
    sums[:, 1:] -= csum[:, :-window]
    out[:, window - 1 :] = sums / window + centre
    return out


def wilder(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Wilder smoothing of ``x`` from column ``start`` on (earlier columns are undefined)."""
    out = _nan_like(x)
    first = start + period - 1
    if x.shape[1] <= first:
        return out
    out[:, first] = x[:, start : first + 1].mean(axis=1)
    keep = (period - 1) / period
    weight = 1.0 / period
    prev = out[:, first]
    for t in range(first + 1, x.shape[1]):
        prev = prev * keep + x[:, t] * weight
        out[:, t] = prev
    return out


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range series; column 0 is NaN (no previous close)."""
    out = _nan_like(close)
    prev = close[:, :-1]
    out[:, 1:] = np.maximum(
        high[:, 1:] - low[:, 1:],
        np.maximum(np.abs(high[:, 1:] - prev), np.abs(low[:, 1:] - prev)),
    )
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range (Wilder), first defined at column ``period``."""
    return wilder(true_range(high, low, close), period, start=1)


def rsi(close: FloatArray, period: int) -> FloatArray:
    """Relative strength index (Wilder), first defined at column ``period``."""
    change = np.zeros_like(close)
    change[:, 1:] = np.diff(close, axis=1)
    gain = wilder(np.maximum(change, 0.0), period, start=1)
    loss = wilder(np.maximum(-change, 0.0), period, start=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = np.where(loss == 0, np.where(gain > 0, 100.0, 50.0), value)
    return np.where(np.isnan(gain), np.nan, value)


def _rolling_extreme(x: FloatArray, window: int, take_max: bool) -> FloatArray:
    out = _nan_like(x)
    n_sym, n_bar = x.shape
    if n_bar < window:
        return out
    fill = -np.inf if take_max else np.inf
    accumulate = np.maximum.accumulate if take_max else np.minimum.accumulate
    combine = np.maximum if take_max else np.minimum
    blocks = -(-n_bar // window)
    padded = np.full((n_sym, blocks * window), fill)
    padded[:, :n_bar] = x
    shaped = padded.reshape(n_sym, blocks, window)
    prefix = accumulate(shaped, axis=2).reshape(n_sym, -1)
    suffix = accumulate(shaped[:, :, ::-1], axis=2)[:, :, ::-1].reshape(n_sym, -1)
    # window [s, t] with t = s + window - 1: the suffix of s's block and the prefix of t's block.
    out[:, window - 1 :] = combine(suffix[:, : n_bar - window + 1], prefix[:, window - 1 : n_bar])
    return out


def rolling_max(x: FloatArray, window: int) -> FloatArray:
    """Max of the last ``window`` values (the current one included)."""
    return _rolling_extreme(x, window, take_max=True)


def rolling_min(x: FloatArray, window: int) -> FloatArray:
    """Min of the last ``window`` values (the current one included)."""
    return _rolling_extreme(x, window, take_max=False)


def efficiency_ratio(close: FloatArray, lookback: int) -> FloatArray:
    """Kaufman efficiency ratio of the last ``lookback`` changes, per symbol."""
    if close.shape[1] < lookback + 1:
        return np.full(close.shape[0], np.nan)
    tail = close[:, -(lookback + 1) :]
    path = np.abs(np.diff(tail, axis=1)).sum(axis=1)
    net = np.abs(tail[:, -1] - tail[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(path > 0, net / path, np.nan)
