"""The real samples as pandas frames (the independent side of the metric tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "samples"
NAMES = ("BTCUSD", "EURUSD", "GOOG")


def frame(name: str) -> pd.DataFrame:
    """One sample file, indexed by its UTC timestamps."""
    return pd.read_csv(SAMPLES_DIR / f"{name}.csv", index_col=0, parse_dates=True)


def wilder_pd(x: pd.Series, period: int) -> pd.Series:
    """Wilder smoothing the textbook way: SMA seed over the first full window, then an EWM with
    alpha = 1 / period (pandas' recursive form)."""
    valid = x.dropna()
    seeded = pd.Series(float("nan"), index=x.index)
    if len(valid) < period:
        return seeded
    seed_at = valid.index[period - 1]
    seeded[seed_at] = valid.iloc[:period].mean()
    after = valid.index[period:]
    seeded[after] = valid[after]
    return (
        seeded.ewm(alpha=1.0 / period, adjust=False, ignore_na=True)
        .mean()
        .where(seeded.index >= seed_at)
    )
