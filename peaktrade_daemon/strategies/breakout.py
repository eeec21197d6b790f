"""Channel breakout: long when the close breaks above the highest high of the previous
``lookback`` bars, short when it breaks below the lowest low, for ``confirm_bars`` bars in a row.

upper_t = max(h_{t-lookback} .. h_{t-1}),  lower_t = min(l_{t-lookback} .. l_{t-1})
direction_t = +1 if c > upper for the last ``confirm_bars`` bars, -1 if c < lower for them, else 0
strength_t  = g / (g + 1) with g = (c_t - upper_t) / ATR_t when long, (lower_t - c_t) / ATR_t when
              short: how far beyond the channel, in average true ranges (0.5 at one ATR)

Parameters (``[strategy.breakout]``): ``lookback`` (20), ``confirm_bars`` (1), ``atr_period`` (14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.market import indicators as ind
from peaktrade_daemon.strategies.base import (
    BoolArray,
    StrategyInputs,
    StrategyOutput,
    finish,
    param_int,
)


def _held(condition: BoolArray, bars: int) -> BoolArray:
    """True where ``condition`` held for the last ``bars`` bars (the current one included)."""
    if bars == 1:
        return condition
    held = ind.rolling_min(condition.astype(np.float64), bars) == 1.0
    return np.asarray(held, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class Breakout:
    """The channel breakout strategy with its parameters."""

    lookback: int = 20
    confirm_bars: int = 1
    atr_period: int = 14
    name: str = "breakout"

    @classmethod
    def from_config(cls, config: PeakConfig) -> Breakout:
        """Parameters from ``[strategy.breakout]``."""
        return cls(
            lookback=param_int(config, "breakout", "lookback", 20),
            confirm_bars=param_int(config, "breakout", "confirm_bars", 1),
            atr_period=param_int(config, "breakout", "atr_period", 14),
        )

    @property
    def warmup_bars(self) -> int:
        """A full channel before the bar, confirmed, and the ATR defined."""
        return max(self.lookback + self.confirm_bars, self.atr_period + 1)

    def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
        """Direction and strength per symbol and bar."""
        close = inputs.close
        # The channel of the previous `lookback` bars is the rolling extreme one bar back; bar 0
        # has no channel and stays flat (NaN compares False).
        upper = ind.rolling_max(inputs.high, self.lookback)[:, :-1]
        lower = ind.rolling_min(inputs.low, self.lookback)[:, :-1]
        now = close[:, 1:]
        up = np.zeros(close.shape, dtype=np.bool_)
        down = np.zeros(close.shape, dtype=np.bool_)
        np.greater(now, upper, out=up[:, 1:])
        np.less(now, lower, out=down[:, 1:])
        up, down = _held(up, self.confirm_bars), _held(down, self.confirm_bars)
        direction = up.view(np.int8) - down.view(np.int8)
        beyond = np.zeros(close.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Only one of the two is non-zero at a bar; NaN from an undefined channel is dropped
            # by finish() (flat there anyway).
            np.subtract(now, upper, out=beyond[:, 1:])
            beyond *= up
            beyond[:, 1:] += (lower - now) * down[:, 1:]
            beyond /= inputs.atr(self.atr_period)
            strength = beyond / (beyond + 1.0)
        return finish(direction, strength)
