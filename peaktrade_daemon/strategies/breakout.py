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
from peaktrade_daemon.market.bars import FloatArray
from peaktrade_daemon.strategies.base import StrategyInputs, StrategyOutput, finish, param_int


def _shift(x: FloatArray) -> FloatArray:
    out = np.full(x.shape, np.nan)
    out[:, 1:] = x[:, :-1]
    return out


def _held(condition: FloatArray, bars: int) -> FloatArray:
    """1.0 where ``condition`` (0/1 floats) held for the last ``bars`` bars."""
    return condition if bars == 1 else ind.rolling_min(condition, bars)


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

    def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
        """Direction and strength per symbol and bar."""
        upper = _shift(ind.rolling_max(inputs.high, self.lookback))
        lower = _shift(ind.rolling_min(inputs.low, self.lookback))
        close = inputs.close
        up = _held((close > upper).astype(np.float64), self.confirm_bars)
        down = _held((close < lower).astype(np.float64), self.confirm_bars)
        direction = np.where(up == 1.0, 1.0, np.where(down == 1.0, -1.0, 0.0))
        direction = np.where(np.isnan(upper), np.nan, direction)
        atr = inputs.atr(self.atr_period)
        beyond = np.maximum(np.where(direction > 0, close - upper, lower - close), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            in_atr = np.where(atr > 0, beyond / atr, np.nan)
        strength = in_atr / (in_atr + 1.0)
        return finish(direction, strength)
