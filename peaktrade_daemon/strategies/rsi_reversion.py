"""RSI mean reversion: long while RSI is below ``oversold``, short while above ``overbought``.

direction_t = +1 if RSI_t < oversold, -1 if RSI_t > overbought, else 0
strength_t  = (oversold - RSI_t) / oversold when long; (RSI_t - overbought) / (100 - overbought)
              when short (how deep into the zone, 1 at RSI 0 or 100)

Parameters (``[strategy.rsi_reversion]``): ``period`` (14), ``oversold`` (30), ``overbought``
(70), with 0 < oversold < overbought < 100.
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
    param_float,
    param_int,
)


@dataclass(frozen=True, slots=True)
class RsiReversion:
    """The RSI reversion strategy with its parameters."""

    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0
    name: str = "rsi_reversion"

    def __post_init__(self) -> None:
        if not 0 < self.oversold < self.overbought < 100:
            raise ConfigError(
                f"need 0 < oversold ({self.oversold}) < overbought ({self.overbought}) < 100",
                key="strategy.rsi_reversion",
            )

    @classmethod
    def from_config(cls, config: PeakConfig) -> RsiReversion:
        """Parameters from ``[strategy.rsi_reversion]``."""
        return cls(
            period=param_int(config, "rsi_reversion", "period", 14),
            oversold=param_float(config, "rsi_reversion", "oversold", 30.0),
            overbought=param_float(config, "rsi_reversion", "overbought", 70.0),
        )

    @property
    def warmup_bars(self) -> int:
        """RSI is first defined at bar ``period``."""
        return self.period + 1

    def evaluate(self, inputs: StrategyInputs) -> StrategyOutput:
        """Direction and strength per symbol and bar."""
        value = ind.rsi(inputs.close, self.period)
        direction = (value < self.oversold).view(np.int8) - (value > self.overbought).view(np.int8)
        # Outside a zone both depths are negative and finish() clips them to 0; NaN (RSI not
        # defined yet) compares False and is dropped the same way.
        long = (self.oversold - value) * (1.0 / self.oversold)
        short = (value - self.overbought) * (1.0 / (100.0 - self.overbought))
        return finish(direction, np.fmax(long, short, out=long))
