"""Technical indicators, vectorised with numpy over many symbols at once.

Every function takes 2-D arrays shaped ``(symbols, bars)``, oldest bar first, and works along the
bar axis; one symbol is simply a ``(1, bars)`` array. Values that are not defined yet (too few
bars for the window) are NaN, never zero. Recursive indicators (Wilder smoothing) loop over time
but stay vectorised across symbols (in blocks of bars, see ``wilder``).

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
- rolling high/low  max/min of the last ``w`` values (sparse table, log2(w) + 1 array passes)
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


def smas(x: FloatArray, windows: tuple[int, ...]) -> list[FloatArray]:
    """Simple moving average series for several windows from one cumulative sum (of de-meaned
    values, so O(bars) and exact to ~1e-13 relative even for large price levels)."""
    centre = x.mean(axis=1, keepdims=True)
    csum = np.subtract(x, centre)
    np.cumsum(csum, axis=1, out=csum)
    result = []
    for window in windows:
        out = np.empty_like(x)
        out[:, : window - 1] = np.nan
        if x.shape[1] >= window:
            sums = out[:, window - 1 :]
            sums[:, 0] = csum[:, window - 1]
            np.subtract(csum[:, window:], csum[:, :-window], out=sums[:, 1:])
            sums *= 1.0 / window
            sums += centre
        result.append(out)
    return result


def sma(x: FloatArray, window: int) -> FloatArray:
    """Simple moving average series."""
    return smas(x, (window,))[0]


_BLOCK = 32


def wilder(x: FloatArray, period: int, start: int = 0) -> FloatArray:
    """Wilder smoothing of ``x`` from column ``start`` on (earlier columns are undefined).

    The recursion y_t = a y_{t-1} + b x_t (a = (p - 1) / p, b = 1 / p) is evaluated in blocks of
    32 bars: each block's own response (starting from 0) is one matrix product for every block of
    a symbol, x_blocks @ T with T[j, k] = b a^(k - j) for j <= k; then the value
    carried into each block (a^(k+1) y_before) is added block by block. All weights are positive
    and below 1, so this is as accurate as the step-by-step recursion and far faster than a
    Python step per bar.
    """
    out = _nan_like(x)
    first = start + period - 1
    n_sym, n_bar = x.shape
    if n_bar <= first:
        return out
    seed = x[:, start : first + 1].mean(axis=1)
    out[:, first] = seed
    rest = n_bar - first - 1
    if rest == 0:
        return out
    keep, weight = (period - 1) / period, 1.0 / period
    size = min(_BLOCK, rest)
    blocks = -(-rest // size)
    lag = np.arange(size)[None, :] - np.arange(size)[:, None]
    kernel = np.where(lag >= 0, weight * keep ** np.maximum(lag, 0), 0.0)
    decay = keep ** np.arange(1, size + 1)
    padded = np.zeros((n_sym, blocks * size))
    padded[:, :rest] = x[:, first + 1 :]
    # One product per symbol, of the shape the symbol alone has: BLAS results are only
    # guaranteed bit-identical for the same shapes, and a symbol's smoothing must not depend on
    # which symbols share its stack (market/stacks.py).
    blocked = padded.reshape(n_sym, blocks, size)
    local = np.empty_like(blocked)
    for row in range(n_sym):
        np.matmul(blocked[row], kernel, out=local[row])
    # The value carried into block b: c_b = local_end_{b-1} + a^size c_{b-1}, c_0 = the seed.
    carries = np.empty((n_sym, blocks))
    carries[:, 0] = seed
    ends = local[:, :, -1]
    for b in range(1, blocks):
        carries[:, b] = ends[:, b - 1] + decay[-1] * carries[:, b - 1]
    local += carries[:, :, None] * decay
    out[:, first + 1 :] = local.reshape(n_sym, blocks * size)[:, :rest]
    return out


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range series; column 0 is NaN (no previous close). Computed as
    max(h, c_prev) - min(l, c_prev), which is the same subtraction the three-way maximum picks
    (for h >= l), in two passes instead of six."""
    out = _nan_like(close)
    prev = close[:, :-1]
    tr = out[:, 1:]
    np.maximum(high[:, 1:], prev, out=tr)
    tr -= np.minimum(low[:, 1:], prev)
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range (Wilder), first defined at column ``period``."""
    return wilder(true_range(high, low, close), period, start=1)


def rsi(close: FloatArray, period: int) -> FloatArray:
    """Relative strength index (Wilder), first defined at column ``period``."""
    gain = np.zeros_like(close)
    loss = np.zeros_like(close)
    np.subtract(close[:, 1:], close[:, :-1], out=loss[:, 1:])  # the change, for now
    np.maximum(loss, 0.0, out=gain)
    np.subtract(gain, loss, out=loss)  # max(-change, 0) = max(change, 0) - change
    avg_gain = wilder(gain, period, start=1)
    avg_loss = wilder(loss, period, start=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # 100 - 100 / (1 + g / l) = 100 g / (g + l): 100 when l = 0 < g; NaN stays NaN.
        total = avg_gain + avg_loss
        value = np.divide(avg_gain, total, out=total)
    value *= 100.0
    flat = (avg_gain == 0) & (avg_loss == 0)
    if flat.any():
        value[flat] = 50.0
    return value


def _rolling_extreme(x: FloatArray, window: int, take_max: bool) -> FloatArray:
    """Rolling max/min by doubling (a sparse table): extremes of spans 1, 2, 4, ... are combined
    pairwise, then two overlapping spans cover the window. log2(window) + 1 array passes, between
    two buffers allocated once."""
    out = _nan_like(x)
    n_bar = x.shape[1]
    if n_bar < window:
        return out
    combine = np.maximum if take_max else np.minimum
    span, table = 1, x  # table[:, i] = extreme of x[:, i : i + span]
    spare = [np.empty_like(x), np.empty_like(x)]
    while span * 2 <= window:
        target = spare[0][:, : n_bar - span * 2 + 1]
        combine(table[:, : n_bar - span * 2 + 1], table[:, span : n_bar - span + 1], out=target)
        table = target
        spare.reverse()
        span *= 2
    count = n_bar - window + 1
    combine(
        table[:, :count], table[:, window - span : window - span + count], out=out[:, window - 1 :]
    )
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
