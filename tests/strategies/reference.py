"""Independent pandas implementations of the strategies and signal metrics, one symbol at a time,
written from the formulas in the docstrings (the other side of the equality tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.market.samples import wilder_pd


def atr_pd(df: pd.DataFrame, period: int = 14) -> pd.Series:
    prev = df.Close.shift(1)
    tr = pd.concat([df.High - df.Low, (df.High - prev).abs(), (df.Low - prev).abs()], axis=1).max(
        axis=1, skipna=False
    )
    return wilder_pd(tr, period)


def rsi_pd(close: pd.Series, period: int) -> pd.Series:
    change = close.diff()
    gain = wilder_pd(change.clip(lower=0), period)
    loss = wilder_pd((-change).clip(lower=0), period)
    value = 100 - 100 / (1 + gain / loss)
    return value.where(loss != 0, np.where(gain > 0, 100.0, 50.0)).where(gain.notna())


def _finish(direction: pd.Series, strength: pd.Series) -> pd.DataFrame:
    valid = direction.notna() & strength.notna()
    d = np.sign(direction.where(valid, 0.0)).astype(int)
    s = strength.where(valid, 0.0).clip(0, 1).where(d != 0, 0.0)
    return pd.DataFrame({"direction": d, "strength": s})


def ma_crossover_pd(df: pd.DataFrame, fast: int = 10, slow: int = 30) -> pd.DataFrame:
    gap = df.Close.rolling(fast).mean() - df.Close.rolling(slow).mean()
    atr = atr_pd(df)
    g = (gap.abs() / atr).where(atr > 0)
    return _finish(gap, g / (g + 1))


def rsi_reversion_pd(
    df: pd.DataFrame, period: int = 14, lo: float = 30, hi: float = 70
) -> pd.DataFrame:
    rsi = rsi_pd(df.Close, period)
    direction = pd.Series(np.where(rsi < lo, 1.0, np.where(rsi > hi, -1.0, 0.0)), index=df.index)
    strength = pd.Series(
        np.where(direction > 0, (lo - rsi) / lo, (rsi - hi) / (100 - hi)), index=df.index
    )
    return _finish(direction.where(rsi.notna()), strength)


def breakout_pd(df: pd.DataFrame, lookback: int = 20, confirm: int = 1) -> pd.DataFrame:
    upper = df.High.rolling(lookback).max().shift(1)
    lower = df.Low.rolling(lookback).min().shift(1)
    up = (df.Close > upper).astype(float).rolling(confirm).min() == 1
    down = (df.Close < lower).astype(float).rolling(confirm).min() == 1
    direction = pd.Series(np.where(up, 1.0, np.where(down, -1.0, 0.0)), index=df.index)
    direction = direction.where(upper.notna())
    beyond = pd.Series(
        np.where(direction > 0, df.Close - upper, lower - df.Close), index=df.index
    ).clip(lower=0)
    atr = atr_pd(df)
    g = (beyond / atr).where(atr > 0)
    return _finish(direction, g / (g + 1))


def all_strategies_pd(df: pd.DataFrame) -> list[pd.DataFrame]:
    """The three shipped strategies with the shipped parameters, in the enabled order."""
    return [ma_crossover_pd(df), rsi_reversion_pd(df), breakout_pd(df)]


def signal_metrics_pd(
    outputs: list[pd.DataFrame], close: pd.Series, window: int = 10, horizon: int = 5
) -> dict[str, float]:
    """The signal metrics from the docstring of strategies/signal_metrics.py."""
    last = [(o.strength.iloc[-1], o.direction.iloc[-1]) for o in outputs]
    best = max(range(len(last)), key=lambda i: (last[i][0], -i))
    strength, direction = last[best]
    forward = close.shift(-horizon) / close - 1
    agree = recent = wrong = judged = count = 0
    for o in outputs:
        events = (o.direction != 0) & (o.direction != o.direction.shift(1, fill_value=0))
        idx = events[events].index
        tail = o.direction[idx[-window:]]
        recent += len(tail)
        agree += int((tail == direction).sum())
        fwd = forward[idx].dropna()
        judged += len(fwd)
        wrong += int((o.direction[fwd.index] * fwd < 0).sum())
        count += len(idx)
    return {
        "signal_strength": float(strength),
        "signal_direction": float(direction),
        "signal_consistency": agree / recent if recent and direction != 0 else float("nan"),
        "false_signal_rate": wrong / judged if judged else float("nan"),
        "signal_frequency": count / len(close) * 100,
    }
