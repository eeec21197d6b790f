"""Constructed hourly price series whose answer is known, for the walk-forward learner's tests.

- :func:`trending_legs`: up 5 % over 60 bars, back 1 % over 12, again and again. The shipped
  strategies ride the long legs (long once the vote has held ``trigger_delay`` hours), so the
  book earns and more leverage earns more, in any window.
- :func:`reversing_legs`: a triangle wave, 3 % up over 24 bars and 3 % down over the next 24.
  By the time the vote has persisted 10 hours the leg is half over, and the position is held
  into the next one: every trade loses, so less leverage loses less.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from peaktrade_daemon.market.bars import Bars, from_ns, to_ns

START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_NS = 3600 * 1_000_000_000
BARS_PER_YEAR = 8760.0


def bars_of(close: npt.ArrayLike, symbol: str = "SYN", start: datetime = START) -> Bars:
    """Hourly bars with these closes (open = the previous close, a 5 bp range around both),
    ``as_of`` at the last bar."""
    closes = np.asarray(close, dtype=np.float64)
    n = len(closes)
    stamps = to_ns(start) + np.arange(n, dtype=np.int64) * HOUR_NS
    opens = np.concatenate([closes[:1], closes[:-1]])
    return Bars(
        symbol=symbol,
        timeframe="1h",
        timestamps=stamps,
        open=opens,
        high=np.maximum(opens, closes) * 1.0005,
        low=np.minimum(opens, closes) * 0.9995,
        close=closes,
        volume=np.full(n, 1000.0),
        as_of=from_ns(int(stamps[-1])),
    )


def trending_legs(n: int) -> npt.NDArray[np.float64]:
    """Closes of a market trending up in long legs with short pullbacks."""
    steps = np.concatenate([np.full(60, 0.05 / 60), np.full(12, -0.01 / 12)])
    return np.asarray(100.0 * np.exp(np.cumsum(np.resize(steps, n))), dtype=np.float64)


def reversing_legs(n: int) -> npt.NDArray[np.float64]:
    """Closes of a market whose 24-bar legs reverse just as the strategies have confirmed them."""
    t = np.arange(n)
    return np.asarray(100.0 + 3.0 * (np.abs((t / 24.0) % 2.0 - 1.0) - 0.5), dtype=np.float64)
