"""Moving-average crossover: long while the fast SMA is above the slow SMA, short while below.

direction_t = sign(SMA_fast_t - SMA_slow_t)
strength_t  = g / (g + 1) with g = |SMA_fast_t - SMA_slow_t| / ATR_t, the MA gap in average true
              ranges: 0.5 at a gap of one ATR, approaching 1 for wide gaps (it never saturates,
              so strong trends still rank against each other)

Parameters (``[strategy.ma_crossover]``): ``fast_window`` (10), ``slow_window`` (30, must be
larger), ``atr_period`` (14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaktrade_daemon.config import PeakConfig
from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.market import indicators as ind
from peaktrade_daemon.strategies.base import (
    StrategyInputs,
    StrategyOutput,
    finish,
    param_int,
    sign8,
)


@dataclass(frozen=True, slots=True)
class MaCrossover:
    """The moving-average crossover strategy with its parameters."""

    fast_window: int = 10
    slow_window: int = 30
    atr_period: int = 14
    name: str = "ma_crossover"

    def __post_init__(self) -> None:
        if self.fast_window >= self.slow_window:
            raise ConfigError(
                f"fast_window {self.fast_window} must be below slow_window {self.slow_window}",
                key="strategy.ma_crossover.fast_window",
            )

    @classmethod
    def from_config(cls, config: PeakConfig) -> MaCrossover:
        """Parameters from ``[strategy.ma_crossover]``."""
        return cls(
            fast_window=param_int(config, "ma_crossover", "fast_window", 10),
            slow_window=param_int(config, "ma_crossover", "slow_window", 30, minimum=2),
            atr_period=param_int(config, "ma_crossover", "atr_period", 14),
        )

    @property
    def warmup_bars(self) -> int:
        """The slow average and the ATR must both be defined."""
        return max(self.slow_window, self.atr_period + 1)

    def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
        """Direction and strength per symbol and bar."""
        fast, slow = ind.smas(inputs.close, (self.fast_window, self.slow_window))
        gap = np.subtract(fast, slow, out=fast)
        with np.errstate(divide="ignore", invalid="ignore"):
            in_atr = np.abs(gap, out=slow)
            in_atr /= inputs.atr(self.atr_period)
            strength = in_atr / (in_atr + 1.0)
        return finish(sign8(gap), strength)
