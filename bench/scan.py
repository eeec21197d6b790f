"""Benchmark: every market and signal metric for 1,000 symbols x 1,000 bars.

The vectorised numpy path (``monitors.scan.scan_metrics``: ``market_metrics`` + the three
strategies + ``signal_metrics``, many symbols at once) against a straightforward per-symbol
pandas implementation of the same formulas, on the same seeded synthetic prices, in the same
run; results are checked equal (1e-9 relative, directions exactly) before any figure is
printed. The process is pinned to one core (and one BLAS thread); the figures are CPU time,
medians. Targets: numpy <= 150 ms, >= 20x faster than pandas.

Run: ``python bench/scan.py`` (``main()`` returns the rows for bench/run_all.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# One core means one BLAS thread too (the Wilder smoothing uses small matrix products).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peaktrade_daemon.market.metrics import MarketParams
from peaktrade_daemon.monitors.scan import ScanParams, scan_metrics
from peaktrade_daemon.strategies.breakout import Breakout
from peaktrade_daemon.strategies.ma_crossover import MaCrossover
from peaktrade_daemon.strategies.rsi_reversion import RsiReversion
from peaktrade_daemon.strategies.signal_metrics import SignalParams

SYMBOLS, BARS, SEED = 1000, 1000, 20_240_601
BARS_PER_YEAR = 24 * 365.2425  # hourly crypto
NUMPY_RUNS, PANDAS_RUNS = 9, 3
MARKET = MarketParams()
SIGNALS = SignalParams()
STRATEGIES = (MaCrossover(), RsiReversion(), Breakout())


def synthetic(symbols: int = SYMBOLS, bars: int = BARS, seed: int = SEED) -> dict[str, np.ndarray]:
    """Seeded hourly OHLCV: GBM closes with per-symbol volatility, ranges around them."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.002, 0.02, size=(symbols, 1))
    drift = rng.normal(0, 0.0005, size=(symbols, 1))
    steps = drift + vol * rng.standard_normal((symbols, bars))
    close = 100.0 * np.exp(np.cumsum(steps, axis=1))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    spread = np.abs(rng.normal(0, 1, (symbols, bars))) * vol * close
    high = np.maximum(prev, close) + spread
    low = np.minimum(prev, close) - spread * rng.uniform(0.2, 1.0, (symbols, bars))
    volume = rng.lognormal(10, 0.5, (symbols, bars))
    stamps = (np.arange(bars, dtype=np.int64) + 1_700_000_000 // 3600) * 3600 * 1_000_000_000
    return {"high": high, "low": low, "close": close, "volume": volume, "timestamps": stamps}


def scan_numpy(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All metrics, all symbols at once (in cache-sized chunks of symbols)."""
    return scan_metrics(
        data["high"],
        data["low"],
        data["close"],
        data["volume"],
        data["timestamps"],
        STRATEGIES,
        ScanParams(timeframe_s=3600.0, bars_per_year=BARS_PER_YEAR, market=MARKET, signals=SIGNALS),
    )


# ---- the per-symbol pandas baseline (the formulas written the obvious way) ----


def _wilder(x: pd.Series, period: int) -> pd.Series:
    valid = x.dropna()
    seeded = pd.Series(np.nan, index=x.index)
    seeded.iloc[valid.index[0] + period - 1] = valid.iloc[:period].mean()
    seeded.iloc[valid.index[0] + period :] = valid.iloc[period:]
    return seeded.ewm(alpha=1 / period, adjust=False, ignore_na=True).mean()


def _finish(direction: pd.Series, strength: pd.Series) -> tuple[pd.Series, pd.Series]:
    valid = direction.notna() & strength.notna()
    d = np.sign(direction.where(valid, 0.0))
    return d, strength.where(valid, 0.0).clip(0, 1).where(d != 0, 0.0)


def _symbol_pandas(df: pd.DataFrame) -> dict[str, float]:
    c, h, lo, v = df.close, df.high, df.low, df.volume
    lb = MARKET.lookback
    r = np.log(c / c.shift(1))
    vol = r.tail(lb).std() * np.sqrt(BARS_PER_YEAR)
    vol_long = r.tail(MARKET.long_lookback).std() * np.sqrt(BARS_PER_YEAR)
    vratio = v.iloc[-1] / v.rolling(lb).mean().iloc[-1]
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1, skipna=False)
    atr = _wilder(tr, 14)
    activity = 0.5 * min(vratio / 2, 1) + 0.5 * min(
        (h.iloc[-1] - lo.iloc[-1]) / atr.iloc[-1] / 2, 1
    )
    er = abs(c.iloc[-1] - c.iloc[-1 - lb]) / c.diff().abs().tail(lb).sum()
    if vol / vol_long >= MARKET.volatile_ratio:
        regime = 2.0
    elif er >= MARKET.trend_threshold:
        regime = float(np.sign(c.iloc[-1] - c.iloc[-1 - lb]))
    else:
        regime = 0.0
    result = {
        "volatility": vol,
        "volume_ratio": vratio,
        "price_change_1h": c.iloc[-1] / c.iloc[-2] - 1,
        "activity_level": activity,
        "trend_strength": er,
        "regime": regime,
    }
    # strategies
    gap = c.rolling(10).mean() - c.rolling(30).mean()
    g = gap.abs() / atr
    ma = _finish(gap, g / (g + 1))
    change = c.diff()
    gain, loss = _wilder(change.clip(lower=0), 14), _wilder((-change).clip(lower=0), 14)
    rsi = (100 - 100 / (1 + gain / loss)).where(loss != 0, np.where(gain > 0, 100.0, 50.0))
    rsi = rsi.where(gain.notna())
    rdir = pd.Series(np.where(rsi < 30, 1.0, np.where(rsi > 70, -1.0, 0.0))).where(rsi.notna())
    rs = _finish(rdir, pd.Series(np.where(rdir > 0, (30 - rsi) / 30, (rsi - 70) / 30)))
    upper, lower = h.rolling(20).max().shift(1), lo.rolling(20).min().shift(1)
    bdir = pd.Series(np.where(c > upper, 1.0, np.where(c < lower, -1.0, 0.0))).where(upper.notna())
    beyond = pd.Series(np.where(bdir > 0, c - upper, lower - c)).clip(lower=0)
    gb = beyond / atr
    bo = _finish(bdir, gb / (gb + 1))
    outputs = [ma, rs, bo]
    # signal metrics
    last = [(s.iloc[-1], d.iloc[-1]) for d, s in outputs]
    best = max(range(3), key=lambda i: (last[i][0], -i))
    strength, direction = last[best]
    fwd = c.shift(-SIGNALS.forward_bars) / c - 1
    agree = recent = wrong = judged = count = 0
    for d, _ in outputs:
        events = (d != 0) & (d != d.shift(1, fill_value=0))
        idx = events[events].index
        tail = d[idx[-SIGNALS.consistency_window :]]
        recent += len(tail)
        agree += int((tail == direction).sum())
        f = fwd[idx].dropna()
        judged += len(f)
        wrong += int((d[f.index] * f < 0).sum())
        count += len(idx)
    result.update(
        signal_strength=float(strength),
        signal_direction=float(direction),
        signal_consistency=agree / recent if recent and direction != 0 else np.nan,
        false_signal_rate=wrong / judged if judged else np.nan,
        signal_frequency=count / len(c) * 100,
    )
    return result


def scan_pandas(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All metrics, one symbol at a time with pandas."""
    rows = []
    for i in range(data["close"].shape[0]):
        df = pd.DataFrame({k: data[k][i] for k in ("high", "low", "close", "volume")})
        rows.append(_symbol_pandas(df))
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def _timed(fn: Any, data: dict[str, np.ndarray], runs: int) -> tuple[float, float, Any]:
    """Median CPU time and median wall time (ms) of ``runs`` calls, and the last result.

    CPU time is the figure: the process is pinned to one core with one BLAS thread, so it is the
    time that core spent, and unlike wall time it does not grow when other processes share the
    machine."""
    cpu, wall, result = [], [], None
    for _ in range(runs):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        result = fn(data)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
        wall.append((time.perf_counter() - start_wall) * 1000.0)
    return statistics.median(cpu), statistics.median(wall), result


def main() -> list[dict[str, Any]]:
    """Run the benchmark; print and return the rows."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    data = synthetic()
    scan_numpy(data)  # warm-up
    numpy_ms, numpy_wall, fast = _timed(scan_numpy, data, NUMPY_RUNS)
    pandas_ms, pandas_wall, slow = _timed(scan_pandas, data, PANDAS_RUNS)
    for name, expected in slow.items():
        np.testing.assert_allclose(
            fast[name], expected, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name
        )
    assert np.isfinite(fast["volatility"]).all() and (fast["signal_direction"] != 0).any()
    speedup = pandas_ms / numpy_ms
    rows = [
        {
            "name": "scan 1000 symbols x 1000 bars (numpy, 1 core)",
            "value": round(numpy_ms, 2),
            "unit": "ms",
            "target": 150.0,
            "baseline": round(pandas_ms, 1),
        },
        {
            "name": "scan speed-up vs per-symbol pandas",
            "value": round(speedup, 1),
            "unit": "x",
            "target": 20.0,
            "baseline": 1.0,
        },
    ]
    print(f"metrics checked equal: {len(slow)} metrics x {SYMBOLS} symbols")
    for row in rows:
        print(
            f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}, "
            f"baseline {row['baseline']})"
        )
    print(
        f"CPU time on one core, median of {NUMPY_RUNS} numpy / {PANDAS_RUNS} pandas runs "
        f"(wall: numpy {numpy_wall:.1f} ms, pandas {pandas_wall:.0f} ms; "
        f"load average {os.getloadavg()[0]:.1f})"
    )
    return rows


if __name__ == "__main__":
    main()
